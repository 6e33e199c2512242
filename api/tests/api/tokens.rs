//! Org API tokens through the API: created with scopes (secret shown once), used,
//! listed without secrets, revoked (401 at once), isolated between orgs.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::db::schema::api_tokens;
use shared::domain::{MemberRole, TokenScope};
use shared::wire::{self, CreatedApiToken, Page};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn a_created_token_works_until_revoked() {
    let app = TestApp::spawn().await;
    let alice = app.sign_in("alice").await;
    app.add_member(app.org.id, alice.user_id, MemberRole::Admin)
        .await;

    let res = app
        .request_as(&alice.access_token, Method::POST, "tokens")
        .json(&json!({ "name": "ci", "scopes": ["write", "read", "write"] }))
        .send()
        .await
        .expect("POST token");
    let created: CreatedApiToken = json_as(res, StatusCode::CREATED).await;
    assert!(created.token.starts_with("sy_"));
    assert!(created.token.starts_with(&created.api_token.prefix));
    assert_eq!(created.api_token.name, "ci");
    assert_eq!(
        created.api_token.scopes,
        vec![TokenScope::Read, TokenScope::Write]
    );
    assert_eq!(created.api_token.created_by, Some(alice.user_id));
    let expires = created.api_token.expires_at.expect("the default expiry");
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.0).contains(&days), "expires in {days} days");
    assert!(created.api_token.revoked_at.is_none());

    let res = app
        .request_as(&created.token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);

    let rel = format!("tokens/{}", created.api_token.id);
    let res = app
        .request_as(&alice.access_token, Method::DELETE, &rel)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .request_as(&created.token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.delete(&rel).await.status(),
        StatusCode::NO_CONTENT,
        "revoking twice is harmless"
    );

    let page: Page<wire::ApiTokenInfo> = json_as(app.get("tokens").await, StatusCode::OK).await;
    let listed = page
        .items
        .iter()
        .find(|t| t.id == created.api_token.id)
        .expect("revoked tokens stay listed");
    assert!(listed.revoked_at.is_some());
    assert!(listed.last_used_at.is_some(), "it was used once");
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_are_enforced_on_created_tokens() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "tokens",
            &json!({ "name": "dashboard reader", "scopes": ["read"], "expires_in_days": 30 }),
        )
        .await;
    let created: CreatedApiToken = json_as(res, StatusCode::CREATED).await;
    assert!(created.api_token.created_by.is_none(), "made by a token");
    let expires = created.api_token.expires_at.expect("expiry");
    assert!(
        (expires - (Utc::now() + Duration::days(30)))
            .num_seconds()
            .abs()
            < 60
    );

    let read = created.token;
    let res = app
        .request_as(&read, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .request_as(&read, Method::POST, "projects")
        .json(&json!({ "name": "x", "repository_url": "/nowhere" }))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .request_as(&read, Method::GET, "tokens")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .request_as(&read, Method::POST, "tokens")
        .json(&json!({ "name": "escalate", "scopes": ["admin"] }))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_listings_never_contain_secrets() {
    let app = TestApp::spawn().await;
    let res = app
        .post("tokens", &json!({ "name": "deploy", "scopes": ["runs"] }))
        .await;
    let created: CreatedApiToken = json_as(res, StatusCode::CREATED).await;

    let text = app.get("tokens").await.text().await.expect("body");
    assert!(!text.contains(&created.token), "secret in listing: {text}");
    assert!(
        !text.contains(&app.token),
        "bootstrap secret in listing: {text}"
    );
    assert!(!text.contains("hash"), "hash in listing: {text}");
    let page: Page<wire::ApiTokenInfo> = serde_json::from_str(&text).expect("page");
    let names: Vec<&str> = page.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["bootstrap", "deploy"]);
    assert_eq!(page.items[1].prefix, created.api_token.prefix);
    assert_eq!(page.items[1].prefix.len(), api::auth::tokens::VISIBLE_LEN);

    let first: Page<wire::ApiTokenInfo> =
        json_as(app.get("tokens?limit=1").await, StatusCode::OK).await;
    let cursor = first.next_cursor.expect("second page");
    let second: Page<wire::ApiTokenInfo> = json_as(
        app.get(&format!("tokens?limit=1&cursor={cursor}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second.items[0].id, created.api_token.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_token_is_not_found() {
    let app = TestApp::spawn().await;
    let (globex, globex_token) = app.other_org("globex").await;
    let mut conn = app.db.system().await.expect("conn");
    let globex_token_id: Uuid = api_tokens::table
        .filter(api_tokens::org_id.eq(globex.id))
        .select(api_tokens::id)
        .first(&mut conn)
        .await
        .expect("globex token");
    drop(conn);

    let res = app.delete(&format!("tokens/{globex_token_id}")).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .request_as(&globex_token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .request_path_as(&globex_token, Method::GET, "/api/v1/orgs/globex/projects")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK, "globex's token still works");

    let res = app.delete(&format!("tokens/{}", Uuid::now_v7())).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.delete("tokens/nope").await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_id").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_input_is_checked() {
    let app = TestApp::spawn().await;
    let long_name = "n".repeat(101);
    for body in [
        json!({ "name": "ci", "scopes": [] }),
        json!({ "name": "", "scopes": ["read"] }),
        json!({ "name": "   ", "scopes": ["read"] }),
        json!({ "name": long_name, "scopes": ["read"] }),
        json!({ "name": "ci", "scopes": ["read"], "expires_in_days": 0 }),
        json!({ "name": "ci", "scopes": ["read"], "expires_in_days": 3651 }),
        json!({ "name": "ci", "scopes": ["read"], "expires_in_days": -3 }),
    ] {
        let res = app.post("tokens", &body).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    for body in [
        json!({ "name": "ci", "scopes": ["root"] }),
        json!({ "name": "ci" }),
        json!({ "name": "ci", "scopes": ["read"], "secret": "mine" }),
    ] {
        let res = app.post("tokens", &body).await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    let res = app
        .post(
            "tokens",
            &json!({ "name": "n".repeat(100), "scopes": ["admin"], "expires_in_days": 3650 }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_may_let_tokens_without_an_expiry_live_until_revoked() {
    let app = TestApp::spawn_with(|s| s.api.token_expiry_days = 0).await;
    let created: CreatedApiToken = json_as(
        app.post("tokens", &json!({ "name": "forever", "scopes": ["read"] }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(created.api_token.expires_at.is_none());
    let chosen: CreatedApiToken = json_as(
        app.post(
            "tokens",
            &json!({ "name": "week", "scopes": ["read"], "expires_in_days": 7 }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(
        chosen.api_token.expires_at.is_some(),
        "a chosen expiry still holds"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_member_revokes_the_tokens_they_made_in_that_org() {
    let app = TestApp::spawn().await;
    let alice = app.sign_in("alice").await;
    app.add_member(app.org.id, alice.user_id, MemberRole::Admin)
        .await;
    let made = |name: &'static str| {
        let app = &app;
        let token = alice.access_token.clone();
        async move {
            let res = app
                .request_as(&token, Method::POST, "tokens")
                .json(&json!({ "name": name, "scopes": ["read"] }))
                .send()
                .await
                .expect("POST token");
            json_as::<CreatedApiToken>(res, StatusCode::CREATED).await
        }
    };
    let hers = made("hers").await;
    let other = app.mint_token(&[TokenScope::Read], None).await;
    let works = |token: String| {
        let app = &app;
        async move {
            app.request_as(&token, Method::GET, "projects")
                .send()
                .await
                .expect("GET")
                .status()
        }
    };
    assert_eq!(works(hers.token.clone()).await, StatusCode::OK);

    let res = app.delete(&format!("members/{}", alice.user_id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(works(hers.token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(works(other).await, StatusCode::OK, "others' tokens stay");
    let page: Page<wire::ApiTokenInfo> = json_as(app.get("tokens").await, StatusCode::OK).await;
    let listed = page
        .items
        .iter()
        .find(|t| t.id == hers.api_token.id)
        .expect("still listed");
    assert!(listed.revoked_at.is_some());
}

/// Each replica remembers the tokens it found (for `api.streams.access_cache_ms`, here
/// longer than the test): a revocation on one replica must still end the token on every
/// other at once, through the revocation channel, and an org's changes must not be
/// answered from the remembered copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_on_one_replica_is_refused_by_another_that_remembered_it() {
    let long_cache = |s: &mut shared::config::Settings| s.api.streams.access_cache_ms = 600_000;
    let app = TestApp::spawn_with(long_cache).await;
    let mut settings = app.env.settings.clone();
    long_cache(&mut settings);
    let other = api::spawn(settings).await.expect("second replica");
    let other_server = tokio::spawn(other.server);
    let org_path = format!("/api/v1/orgs/{}", app.org.slug);
    let there = |token: &str, rel: &str| {
        let req = app
            .client
            .get(format!("http://{}{org_path}{rel}", other.addr))
            .bearer_auth(token);
        async move { req.send().await.expect("GET on the second replica") }
    };
    let token = app.mint_token(&[TokenScope::Read], None).await;
    assert_eq!(there(&token, "/projects").await.status(), StatusCode::OK);

    // A rename on the first replica shows on the second, which remembers the org with
    // the token.
    let res = app
        .client
        .patch(app.url(&org_path))
        .bearer_auth(&app.token)
        .json(&json!({ "name": "Renamed" }))
        .send()
        .await
        .expect("PATCH org");
    assert_eq!(res.status(), StatusCode::OK);
    let org: wire::Organization = json_as(there(&token, "").await, StatusCode::OK).await;
    assert_eq!(org.name, "Renamed");

    let id: Uuid = api_tokens::table
        .filter(api_tokens::token_hash.eq(api::auth::tokens::hash(&token)))
        .select(api_tokens::id)
        .first(&mut app.db.system().await.expect("conn"))
        .await
        .expect("the token's id");
    let res = app.delete(&format!("tokens/{id}")).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The revocation travels by Redis pub/sub: wait for it to arrive, never for long.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = there(&token, "/projects").await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second replica still takes the revoked token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other.handle.stop();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), other_server).await;
}
