//! People's sessions: development sign-in, access tokens, rotating refresh tokens (and
//! what a replayed one does), logout, the dashboard's cookies and their CSRF check, and
//! every forged or stale credential.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::db::schema::{memberships, user_sessions};
use shared::domain::MemberRole;
use shared::wire;
use std::collections::HashMap;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

/// Signs `login` in through the development route and returns the full answer.
async fn dev_login(app: &TestApp, login: &str) -> (wire::SignedIn, Cookies) {
    let res = app
        .client
        .post(app.url("/api/v1/auth/dev/login"))
        .json(&json!({ "login": login }))
        .send()
        .await
        .expect("test helper");
    let cookies = Cookies::from_response(&res);
    (json_as(res, StatusCode::OK).await, cookies)
}

async fn join(app: &TestApp, user: Uuid, role: MemberRole) {
    let mut conn = app.db.system().await.expect("test setup");
    diesel::insert_into(memberships::table)
        .values((
            memberships::id.eq(Uuid::now_v7()),
            memberships::org_id.eq(app.org.id),
            memberships::user_id.eq(user),
            memberships::role.eq(role),
        ))
        .execute(&mut conn)
        .await
        .expect("test helper");
}

/// The cookies a response set, as a browser would keep them (name → value).
#[derive(Debug, Default, Clone)]
struct Cookies(HashMap<String, String>, Vec<String>);

impl Cookies {
    fn from_response(res: &reqwest::Response) -> Cookies {
        let mut jar = Cookies::default();
        for value in res.headers().get_all("set-cookie") {
            let raw = value.to_str().expect("test setup").to_owned();
            let (pair, _) = raw.split_once(';').unwrap_or((&raw, ""));
            let (name, value) = pair.split_once('=').expect("test setup");
            jar.0.insert(name.trim().into(), value.trim().into());
            jar.1.push(raw);
        }
        jar
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }

    /// The raw `Set-Cookie` line of `name`.
    fn attributes(&self, name: &str) -> &str {
        self.1
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
            .unwrap_or_default()
    }

    fn header(&self, names: &[&str]) -> String {
        names
            .iter()
            .map(|n| format!("{n}={}", self.get(n)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

async fn me(app: &TestApp, access: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("test helper")
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .expect("test helper")
}

#[tokio::test]
async fn a_signed_in_person_acts_in_their_org_with_their_roles_rights() {
    let app = TestApp::spawn().await;
    let (alice, _) = dev_login(&app, "alice").await;
    assert_eq!(alice.token_type, "Bearer");
    assert!(alice.refresh_token.starts_with("syr_"));

    // Not a member yet: the org does not exist for her.
    let res = app
        .request_as(&alice.access_token, Method::GET, "projects")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    join(&app, alice.user.id, MemberRole::Viewer).await;
    let me: wire::Me = json_as(me(&app, &alice.access_token).await, StatusCode::OK).await;
    assert_eq!(me.user.login, "alice");
    assert_eq!(me.orgs.len(), 1);
    assert_eq!(me.orgs[0].slug, "acme");
    assert_eq!(me.orgs[0].role, MemberRole::Viewer);

    let res = app
        .request_as(&alice.access_token, Method::GET, "projects")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A viewer cannot write.
    let res = app
        .request_as(&alice.access_token, Method::POST, "projects")
        .json(&json!({ "name": "x", "repository_url": "/nowhere", "key_prefix": "X" }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Signing in again finds the same person.
    let (again, _) = dev_login(&app, "alice").await;
    assert_eq!(again.user.id, alice.user.id);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_the_session() {
    let app = TestApp::spawn().await;
    let (first, _) = dev_login(&app, "bob").await;

    let second: wire::SignedIn =
        json_as(refresh(&app, &first.refresh_token).await, StatusCode::OK).await;
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        me(&app, &second.access_token).await.status(),
        StatusCode::OK
    );
    let third: wire::SignedIn =
        json_as(refresh(&app, &second.refresh_token).await, StatusCode::OK).await;

    // Someone replays the first (spent) token: the whole session ends.
    let res = refresh(&app, &first.refresh_token).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let res = refresh(&app, &third.refresh_token).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "session_revoked").await;
    for access in [
        &first.access_token,
        &second.access_token,
        &third.access_token,
    ] {
        assert_error(
            me(&app, access).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let mut conn = app.db.untenanted().await.unwrap();
    let reason: Option<String> = user_sessions::table
        .select(user_sessions::revoke_reason)
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("refresh token replayed"));

    // Another session of the same person is unaffected.
    let (other, _) = dev_login(&app, "bob").await;
    assert_eq!(me(&app, &other.access_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn two_racing_uses_of_one_refresh_token_give_one_rotation_at_most() {
    let app = TestApp::spawn().await;
    let (signed, _) = dev_login(&app, "racer").await;
    let (a, b) = tokio::join!(
        refresh(&app, &signed.refresh_token),
        refresh(&app, &signed.refresh_token)
    );
    let statuses = [a.status(), b.status()];
    assert!(
        statuses.contains(&StatusCode::UNAUTHORIZED),
        "both racing refreshes succeeded: {statuses:?}"
    );
}

#[tokio::test]
async fn bad_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    for bad in ["", "syr_nope", "sy_notarefreshtoken", &"syr_x".repeat(100)] {
        let res = refresh(&app, bad).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let (signed, _) = dev_login(&app, "carol").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&signed.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        me(&app, &signed.access_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = refresh(&app, &signed.refresh_token).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "session_revoked").await;

    // A CLI that lost its access token can still log out with its refresh token.
    let (cli, _) = dev_login(&app, "carol").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": cli.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        me(&app, &cli.access_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Logging out with nothing names no session.
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn the_dashboards_cookies_are_httponly_and_writes_need_the_csrf_header() {
    let app = TestApp::spawn().await;
    let (signed, cookies) = dev_login(&app, "dana").await;
    join(&app, signed.user.id, MemberRole::Member).await;
    let access = cookies.attributes("sy_access");
    assert!(
        access.contains("HttpOnly") && access.contains("Secure"),
        "{access}"
    );
    assert!(access.contains("SameSite=Lax"), "{access}");
    let refresh_cookie = cookies.attributes("sy_refresh");
    assert!(refresh_cookie.contains("HttpOnly") && refresh_cookie.contains("Path=/api/v1/auth"));
    assert!(!cookies.attributes("sy_csrf").contains("HttpOnly"));
    let csrf = cookies.get("sy_csrf").to_owned();

    let send = |method: Method, rel: &str, cookie: String, csrf: Option<&str>| {
        let mut req = app
            .client
            .request(method, app.org_url(rel))
            .header("cookie", cookie);
        if let Some(csrf) = csrf {
            req = req.header("x-csrf-token", csrf);
        }
        req
    };
    let jar = cookies.header(&["sy_access", "sy_csrf"]);
    // Reads need no CSRF header.
    let res = send(Method::GET, "projects", jar.clone(), None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let body = json!({ "name": "Board", "repository_url": app.git_repo("csrf").to_string_lossy(), "key_prefix": "CS" });
    let res = send(Method::POST, "projects", jar.clone(), None)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = send(
        Method::POST,
        "projects",
        jar.clone(),
        Some("0".repeat(64).as_str()),
    )
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    // Another session's CSRF token does not fit this one.
    let (_, other) = dev_login(&app, "dana").await;
    let res = send(
        Method::POST,
        "projects",
        jar.clone(),
        Some(other.get("sy_csrf")),
    )
    .json(&body)
    .send()
    .await
    .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = send(Method::POST, "projects", jar.clone(), Some(&csrf))
        .json(&body)
        .send()
        .await
        .unwrap();

    // A task made through the cookie session is recorded as made in the dashboard.
    let project: wire::Project = json_as(res, StatusCode::CREATED).await;
    let res = send(
        Method::POST,
        &format!("projects/{}/tasks", project.id),
        jar.clone(),
        Some(&csrf),
    )
    .json(&json!({ "title": "From the board" }))
    .send()
    .await
    .unwrap();
    let task: wire::Task = json_as(res, StatusCode::CREATED).await;
    assert_eq!(task.origin, shared::domain::TaskOrigin::Ui);

    // A bearer header needs no CSRF token: a cross-site form cannot set one.
    let res = app
        .request_as(&signed.access_token, Method::POST, "projects")
        .json(&json!({ "name": "Board 2", "repository_url": app.git_repo("csrf2").to_string_lossy(), "key_prefix": "CT" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // A tampered access cookie is refused.
    let mut tampered = cookies.get("sy_access").to_owned();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let res = send(
        Method::GET,
        "projects",
        format!("sy_access={tampered}"),
        None,
    )
    .send()
    .await
    .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Cookie refresh: needs the CSRF header too, and sets new cookies.
    let refresh_jar = cookies.header(&["sy_refresh", "sy_csrf"]);
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", refresh_jar.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", refresh_jar)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    let renewed = Cookies::from_response(&res);
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!renewed.get("sy_access").is_empty());
    assert_ne!(renewed.get("sy_refresh"), cookies.get("sy_refresh"));

    // Cookie logout clears the cookies.
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", renewed.header(&["sy_access", "sy_csrf"]))
        .header("x-csrf-token", renewed.get("sy_csrf"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = Cookies::from_response(&res);
    assert!(cleared.attributes("sy_access").contains("Max-Age=0"));
}

#[tokio::test]
async fn forged_expired_and_foreign_access_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (signed, _) = dev_login(&app, "erin").await;
    join(&app, signed.user.id, MemberRole::Owner).await;
    let parts: Vec<&str> = signed.access_token.split('.').collect();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // alg: none with the real claims and no signature.
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"test"}"#);
    // The real header and signature over claims naming someone else.
    let mut other = claims.clone();
    other["sub"] = json!(Uuid::new_v4());
    let swapped = URL_SAFE_NO_PAD.encode(other.to_string());
    // Expired, signed with the real key.
    let key = app.env.settings.auth.signing_keys.get("test").unwrap();
    let mut stale = claims.clone();
    stale["exp"] = json!(chrono::Utc::now().timestamp() - 5);
    let mut header = jsonwebtoken_header();
    header.kid = Some("test".into());
    let expired = jsonwebtoken::encode(
        &header,
        &stale,
        &jsonwebtoken::EncodingKey::from_secret(
            secrecy::ExposeSecret::expose_secret(key).as_bytes(),
        ),
    )
    .unwrap();
    // HS384 with the real key: only HS256 is accepted.
    let mut hs384 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384);
    hs384.kid = Some("test".into());
    let wrong_alg = jsonwebtoken::encode(
        &hs384,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(
            secrecy::ExposeSecret::expose_secret(key).as_bytes(),
        ),
    )
    .unwrap();

    for (what, token) in [
        ("alg none", format!("{none}.{}.", parts[1])),
        (
            "swapped claims",
            format!("{}.{swapped}.{}", parts[0], parts[2]),
        ),
        ("expired", expired),
        ("HS384", wrong_alg),
        ("garbage", "a.b.c".to_owned()),
    ] {
        let res = app
            .request_as(&token, Method::GET, "projects")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_error(
            me(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }

    // An org API token cannot use person-only routes.
    let res = me(&app, &app.token).await;
    assert_error(res, StatusCode::FORBIDDEN, "person_required").await;
}

fn jsonwebtoken_header() -> jsonwebtoken::Header {
    jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
}

#[tokio::test]
async fn development_sign_in_is_refused_unless_enabled() {
    let app = TestApp::spawn_with(|s| s.auth.dev_login = false).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/dev/login"))
        .json(&json!({ "login": "mallory" }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "dev_login_disabled").await;

    let app = TestApp::spawn().await;
    for bad in ["", "-lead", "has space", &"x".repeat(40)] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/dev/login"))
            .json(&json!({ "login": bad }))
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
}

#[tokio::test]
async fn sessions_survive_an_api_restart_with_configured_keys() {
    let mut app = TestApp::spawn().await;
    let (signed, _) = dev_login(&app, "frank").await;
    app.restart().await;
    assert_eq!(
        me(&app, &signed.access_token).await.status(),
        StatusCode::OK
    );
    let res = refresh(&app, &signed.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn behind_an_https_public_url_the_cookies_carry_host_and_secure_prefixes() {
    // https on loopback: still a developer's machine, so the development sign-in works.
    let app = TestApp::spawn_with(|s| {
        s.api.public_url = "https://localhost:8443".into();
        s.auth.cookie_secure = false; // prefixed cookies are Secure regardless
    })
    .await;
    let (signed, cookies) = dev_login(&app, "hana").await;
    join(&app, signed.user.id, MemberRole::Member).await;
    for name in ["__Host-sy_access", "__Host-sy_csrf"] {
        let line = cookies.attributes(name);
        assert!(line.contains("Secure") && line.contains("Path=/"), "{line}");
        assert!(
            !line.contains("Domain"),
            "a __Host- cookie names no domain: {line}"
        );
    }
    let refresh_line = cookies.attributes("__Secure-sy_refresh");
    assert!(
        refresh_line.contains("Secure") && refresh_line.contains("Path=/api/v1/auth"),
        "{refresh_line}"
    );
    assert!(
        cookies.get("sy_access").is_empty(),
        "no unprefixed cookie is set"
    );

    // The api reads the prefixed cookies, and only those.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", cookies.header(&["__Host-sy_access"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header(
            "cookie",
            format!("sy_access={}", cookies.get("__Host-sy_access")),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header(
            "cookie",
            cookies.header(&["__Secure-sy_refresh", "__Host-sy_csrf"]),
        )
        .header("x-csrf-token", cookies.get("__Host-sy_csrf"))
        .send()
        .await
        .unwrap();
    let renewed = Cookies::from_response(&res);
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!renewed.get("__Host-sy_access").is_empty());
}
