//! Tokens, scopes and org isolation.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use shared::db::schema::api_tokens;
use shared::domain::TokenScope;
use shared::wire;

use crate::helpers::{TestApp, assert_error, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.org_url("projects"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbled_or_unknown_tokens_are_unauthorized() {
    let app = TestApp::spawn().await;
    let unknown = api::auth::tokens::mint().secret;
    for header in [
        "Bearer nonsense".to_owned(),
        format!("Basic {}", app.token),
        "Bearer".to_owned(),
        format!("Bearer {unknown}"),
        format!("Bearer {}x", app.token),
    ] {
        let res = app
            .client
            .get(app.org_url("projects"))
            .header("authorization", header)
            .send()
            .await
            .expect("GET");
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_token_is_unauthorized() {
    // Revoked straight in the database, behind the api's back: no announcement tells the
    // access cache, so it is off here and every request reads the token.
    let app = TestApp::spawn_with(|s| s.api.streams.access_cache_ms = 0).await;
    let token = app.mint_token(&[TokenScope::Read], None).await;
    let res = app
        .request_as(&token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);

    let mut conn = app.db.system().await.expect("conn");
    diesel::update(
        api_tokens::table.filter(api_tokens::token_hash.eq(api::auth::tokens::hash(&token))),
    )
    .set(api_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(&mut conn)
    .await
    .expect("revoke");
    let res = app
        .request_as(&token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let token = app
        .mint_token(&[TokenScope::Read], Some(Utc::now() - Duration::minutes(1)))
        .await;
    let res = app
        .request_as(&token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let fresh = app
        .mint_token(&[TokenScope::Read], Some(Utc::now() + Duration::hours(1)))
        .await;
    let res = app
        .request_as(&fresh, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_used_on_another_orgs_path_gets_not_found() {
    let app = TestApp::spawn().await;
    let (_other, other_token) = app.other_org("globex").await;
    let res = app
        .request_as(&other_token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_resources_are_not_found_never_forbidden() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "Secret work").await;
    let attempt = app.start_attempt(task.id, "echo hi").await;
    let (other, other_token) = app.other_org("globex").await;
    let base = format!("{}/api/v1/orgs/{}", app.base, other.slug);
    for path in [
        format!("projects/{}", project.id),
        format!("projects/{}/tasks", project.id),
        format!("tasks/{}", task.id),
        format!("tasks/{}/attempts", task.id),
        format!("attempts/{}", attempt.id),
        format!("attempts/{}/processes", attempt.id),
        format!("attempts/{}/diff", attempt.id),
    ] {
        let res = app
            .client
            .get(format!("{base}/{path}"))
            .bearer_auth(&other_token)
            .send()
            .await
            .expect("GET");
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    for (method, path) in [
        (Method::PATCH, format!("tasks/{}", task.id)),
        (Method::DELETE, format!("tasks/{}", task.id)),
        (Method::DELETE, format!("projects/{}", project.id)),
        (Method::POST, format!("attempts/{}/stop", attempt.id)),
    ] {
        let res = app
            .client
            .request(method, format!("{base}/{path}"))
            .bearer_auth(&other_token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("request");
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Nothing changed for the owner.
    let still: wire::Task =
        json_as(app.get(&format!("tasks/{}", task.id)).await, StatusCode::OK).await;
    assert_eq!(still.title, "Secret work");
    let list: wire::Page<wire::Project> = json_as(
        app.client
            .get(format!("{base}/projects"))
            .bearer_auth(&other_token)
            .send()
            .await
            .expect("GET"),
        StatusCode::OK,
    )
    .await;
    assert!(list.items.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_lacking_the_routes_scope_is_forbidden() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "Scoped").await;
    let read_only = app.mint_token(&[TokenScope::Read], None).await;
    let write_only = app.mint_token(&[TokenScope::Write], None).await;
    let runs_only = app.mint_token(&[TokenScope::Runs], None).await;

    let res = app
        .request_as(&read_only, Method::POST, "projects")
        .json(&serde_json::json!({"name": "x", "repository_url": "/tmp"}))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = app
        .request_as(
            &write_only,
            Method::POST,
            &format!("tasks/{}/attempts", task.id),
        )
        .json(&serde_json::json!({"prompt": "echo"}))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = app
        .request_as(&runs_only, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = app
        .request_as(&write_only, Method::PATCH, &format!("tasks/{}", task.id))
        .json(&serde_json::json!({"title": "renamed"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .request_as(
            &runs_only,
            Method::POST,
            &format!("tasks/{}/attempts", task.id),
        )
        .json(&serde_json::json!({"prompt": "echo"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_use_is_recorded() {
    let app = TestApp::spawn().await;
    let token = app.mint_token(&[TokenScope::Read], None).await;
    assert_eq!(last_used(&app, &token).await, None);
    let res = app
        .request_as(&token, Method::GET, "projects")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(last_used(&app, &token).await.is_some());
}

async fn last_used(app: &TestApp, token: &str) -> Option<chrono::DateTime<Utc>> {
    let mut conn = app.db.system().await.expect("conn");
    api_tokens::table
        .filter(api_tokens::token_hash.eq(api::auth::tokens::hash(token)))
        .select(api_tokens::last_used_at)
        .first(&mut conn)
        .await
        .expect("token row")
}
