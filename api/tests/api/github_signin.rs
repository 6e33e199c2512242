//! Signing in with GitHub through the api: the browser flow (state bound to the browser,
//! PKCE, single use) and the device flow, against the local fake GitHub.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use shared::wire;

use crate::fake_github::{FakeEmail, FakeGithub};
use crate::helpers::{TestApp, assert_error, json_as};

/// An http client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn cookie_value(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let raw = v.to_str().ok()?;
        let pair = raw.split(';').next()?;
        let (n, value) = pair.split_once('=')?;
        (n == name).then(|| value.to_owned())
    })
}

fn location(res: &reqwest::Response) -> url::Url {
    url::Url::parse(res.headers()[LOCATION].to_str().expect("location")).expect("absolute url")
}

fn query(url: &url::Url, key: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Starts a sign-in at the api and lets the fake GitHub approve it: returns the state
/// cookie and the callback query GitHub sends the browser back with.
async fn start_browser_sign_in(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let res = client
        .get(app.url("/api/v1/auth/github/login?return_to=/orgs/acme"))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::FOUND);
    let state_cookie = cookie_value(&res, "sy_oauth_state").expect("state cookie");
    let to_github = location(&res);
    assert!(
        !query(&to_github, "code_challenge").is_empty(),
        "PKCE challenge sent"
    );
    assert_eq!(query(&to_github, "state"), state_cookie);
    let res = client.get(to_github).send().await.expect("authorize");
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = location(&res);
    (state_cookie, back.query().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_browser_flow_signs_a_person_in_once() {
    let fake = FakeGithub::start().await;
    let gh_id = fake.add_user(
        "octocat",
        Some("The Octocat"),
        None,
        vec![FakeEmail::primary("octo@example.com")],
    );
    fake.set_browser_user("octocat");
    let app = TestApp::spawn_with(|s| s.github = fake.settings()).await;
    let client = no_redirects();

    let (state_cookie, callback_query) = start_browser_sign_in(&app, &client).await;
    let callback = app.url(&format!("/api/v1/auth/github/callback?{callback_query}"));
    let res = client
        .get(&callback)
        .header(COOKIE, format!("sy_oauth_state={state_cookie}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()[LOCATION], "/orgs/acme");
    let access = cookie_value(&res, "sy_access").expect("session cookie");

    let res = client
        .get(app.url("/api/v1/me"))
        .header(COOKIE, format!("sy_access={access}"))
        .send()
        .await
        .expect("me");
    let me: wire::Me = json_as(res, StatusCode::OK).await;
    assert_eq!(me.user.login, "octocat");
    assert_eq!(me.user.name.as_deref(), Some("The Octocat"));
    // The private email came from /user/emails.
    assert_eq!(me.user.email.as_deref(), Some("octo@example.com"));

    // The same callback again: the pending sign-in was used up.
    let res = client
        .get(&callback)
        .header(COOKIE, format!("sy_oauth_state={state_cookie}"))
        .send()
        .await
        .expect("replayed callback");
    assert_error(res, StatusCode::BAD_REQUEST, "oauth_state_mismatch").await;

    // Signing in again (GitHub login renamed) keeps the same person, keyed by GitHub id.
    let (state_cookie, callback_query) = start_browser_sign_in(&app, &client).await;
    let res = client
        .get(app.url(&format!("/api/v1/auth/github/callback?{callback_query}")))
        .header(COOKIE, format!("sy_oauth_state={state_cookie}"))
        .send()
        .await
        .expect("second sign-in");
    assert_eq!(res.status(), StatusCode::FOUND);
    let mut conn = app.db.untenanted().await.expect("db");
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let users: i64 = shared::db::schema::users::table
        .filter(shared::db::schema::users::github_id.eq(gh_id))
        .count()
        .get_result(&mut conn)
        .await
        .expect("count users");
    assert_eq!(users, 1);
}

#[tokio::test]
async fn a_callback_without_the_browsers_state_is_refused() {
    let fake = FakeGithub::start().await;
    fake.add_user("octocat", None, Some("o@example.com"), vec![]);
    fake.set_browser_user("octocat");
    let app = TestApp::spawn_with(|s| s.github = fake.settings()).await;
    let client = no_redirects();

    // A login CSRF: the attacker's callback URL opened in the victim's browser, which
    // holds a different (or no) state cookie.
    let (_, attacker_query) = start_browser_sign_in(&app, &client).await;
    let (victim_cookie, _) = start_browser_sign_in(&app, &client).await;
    let callback = app.url(&format!("/api/v1/auth/github/callback?{attacker_query}"));
    let res = client
        .get(&callback)
        .header(COOKIE, format!("sy_oauth_state={victim_cookie}"))
        .send()
        .await
        .expect("callback");
    assert_error(res, StatusCode::BAD_REQUEST, "oauth_state_mismatch").await;
    let res = client.get(&callback).send().await.expect("callback");
    assert_error(res, StatusCode::BAD_REQUEST, "oauth_state_mismatch").await;
    // A state nobody issued, matching its own cookie.
    let res = client
        .get(app.url("/api/v1/auth/github/callback?code=x&state=forged"))
        .header(COOKIE, "sy_oauth_state=forged")
        .send()
        .await
        .expect("callback");
    assert_error(res, StatusCode::BAD_REQUEST, "oauth_state_mismatch").await;
    // The person declined at GitHub.
    let res = client
        .get(app.url("/api/v1/auth/github/callback?error=access_denied&state=s"))
        .send()
        .await
        .expect("callback");
    assert_error(res, StatusCode::BAD_REQUEST, "oauth_denied").await;
    // No token exchange happened for any of these.
    assert_eq!(fake.counts().token_requests, 0);
}

#[tokio::test]
async fn the_device_flow_gives_a_cli_tokens_once_the_person_approves() {
    let fake = FakeGithub::start().await;
    fake.add_user("cli-user", None, Some("cli@example.com"), vec![]);
    let app = TestApp::spawn_with(|s| s.github = fake.settings()).await;

    let res = app
        .client
        .post(app.url("/api/v1/auth/device/code"))
        .send()
        .await
        .expect("code");
    let code: wire::DeviceCode = json_as(res, StatusCode::OK).await;
    assert!(code.verification_uri.starts_with(&fake.url()));
    let poll = || async {
        app.client
            .post(app.url("/api/v1/auth/device/token"))
            .json(&json!({ "device_code": code.device_code }))
            .send()
            .await
            .expect("poll")
    };
    assert_error(
        poll().await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    )
    .await;
    fake.approve_device(&code.user_code, "cli-user");
    let signed: wire::SignedIn = json_as(poll().await, StatusCode::OK).await;
    assert_eq!(signed.user.login, "cli-user");
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&signed.access_token)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), StatusCode::OK);

    // A declined and an expired code.
    for (act, expected) in [("deny", "access_denied"), ("expire", "expired_token")] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/device/code"))
            .send()
            .await
            .expect("code");
        let code: wire::DeviceCode = json_as(res, StatusCode::OK).await;
        match act {
            "deny" => fake.deny_device(&code.user_code),
            _ => fake.expire_device(&code.user_code),
        }
        let res = app
            .client
            .post(app.url("/api/v1/auth/device/token"))
            .json(&json!({ "device_code": code.device_code }))
            .send()
            .await
            .expect("poll");
        assert_error(res, StatusCode::BAD_REQUEST, expected).await;
    }
}

#[tokio::test]
async fn github_sign_in_is_absent_when_not_configured_and_502_when_github_is_down() {
    let app = TestApp::spawn().await;
    let res = no_redirects()
        .get(app.url("/api/v1/auth/github/login"))
        .send()
        .await
        .expect("login");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let mut settings = FakeGithub::start().await.settings();
    let closed = format!("http://127.0.0.1:{}", shared::testing::free_port());
    settings.web_url = closed.clone();
    settings.api_url = closed;
    let app = TestApp::spawn_with(|s| s.github = settings).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/device/code"))
        .send()
        .await
        .expect("code");
    assert_error(res, StatusCode::BAD_GATEWAY, "upstream_unavailable").await;
}
