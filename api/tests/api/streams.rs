//! Event streams after they opened: a stream holds access only while its credential
//! does (revoked tokens, ended sessions and removed members close it at the next
//! heartbeat, on every replica), lives no longer than its credential, and each
//! credential and org may hold only so many open at once.

use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::config::Settings;
use shared::domain::{MemberRole, TokenScope};
use shared::wire;
use std::time::Duration;

use crate::helpers::{SseClient, TestApp, assert_error, json_as};

/// How long a test waits for a stream to close before it fails. Only a failing test
/// waits this long: a passing one sees the close a heartbeat or two after the change.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// Short heartbeats, and an access cache that outlives every test: only a revocation
/// message can make a replica look again before it expires.
fn quick_streams(s: &mut Settings) {
    s.api.streams.heartbeat_ms = 100;
    s.api.streams.access_cache_ms = 600_000;
    s.rate_limit.enabled = false;
}

/// Waits until the stream has sent a heartbeat: it is open and its access was checked
/// once (and cached as valid).
async fn wait_for_heartbeat(stream: &mut SseClient) {
    let deadline = tokio::time::Instant::now() + CLOSE_WITHIN;
    while stream.comments == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no heartbeat within {CLOSE_WITHIN:?}"
        );
        let _ = stream.next_within(Duration::from_millis(50)).await;
        assert!(
            !stream.closed,
            "the stream closed before its first heartbeat"
        );
    }
}

/// Whether the server closes the stream within [`CLOSE_WITHIN`], whatever events it
/// sends first.
async fn closes_after_any_events(stream: &mut SseClient) -> bool {
    let deadline = tokio::time::Instant::now() + CLOSE_WITHIN;
    while !stream.closed && tokio::time::Instant::now() < deadline {
        let _ = stream.next_within(Duration::from_millis(100)).await;
    }
    stream.closed
}

/// A full-scope token created through the API (its id and secret).
async fn create_token(app: &TestApp, name: &str) -> wire::CreatedApiToken {
    let res = app
        .post(
            "tokens",
            &json!({ "name": name, "scopes": ["read"], "expires_in_days": 30 }),
        )
        .await;
    json_as(res, StatusCode::CREATED).await
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_token_closes_its_streams_on_every_replica() {
    let app = TestApp::spawn_with(quick_streams).await;
    let created = create_token(&app, "dashboard-wall").await;

    // A second replica on the same database and Redis: the stream lives there, the
    // revocation happens on the first, and only the revocation message can tell it.
    let mut settings = app.env.settings.clone();
    quick_streams(&mut settings);
    let other = api::spawn(settings).await.expect("second replica");
    let other_server = tokio::spawn(other.server);
    let other_url = format!("http://{}/api/v1/orgs/{}/events", other.addr, app.org.slug);

    let mut here = app.sse_as(&created.token, "events", None).await;
    let res = app
        .client
        .get(&other_url)
        .bearer_auth(&created.token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream on the second replica");
    assert_eq!(res.status(), StatusCode::OK);
    let mut there = SseClient::new(res);
    wait_for_heartbeat(&mut here).await;
    wait_for_heartbeat(&mut there).await;

    let res = app
        .delete(&format!("tokens/{}", created.api_token.id))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        here.closes_within(CLOSE_WITHIN).await,
        "stream on the revoking replica"
    );
    assert!(
        there.closes_within(CLOSE_WITHIN).await,
        "stream on the other replica"
    );

    // And it cannot come back.
    let res = app
        .request_as(&created.token, Method::GET, "events")
        .send()
        .await
        .expect("reopen");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    other.handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(15), other_server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_session_closes_its_streams() {
    let app = TestApp::spawn_with(quick_streams).await;

    // Logout.
    let alice = app.sign_in("alice").await;
    app.add_member(app.org.id, alice.user_id, MemberRole::Member)
        .await;
    let mut stream = app.sse_as(&alice.access_token, "events", None).await;
    wait_for_heartbeat(&mut stream).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(stream.closes_within(CLOSE_WITHIN).await, "after logout");

    // A replayed refresh token revokes its session.
    let res = app
        .client
        .post(app.url("/api/v1/auth/dev/login"))
        .json(&json!({ "login": "alice" }))
        .send()
        .await
        .expect("sign in again");
    let signed_in: wire::SignedIn = json_as(res, StatusCode::OK).await;
    let mut stream = app.sse_as(&signed_in.access_token, "events", None).await;
    wait_for_heartbeat(&mut stream).await;
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let res = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": signed_in.refresh_token }))
            .send()
            .await
            .expect("refresh");
        assert_eq!(res.status(), expected);
    }
    assert!(
        stream.closes_within(CLOSE_WITHIN).await,
        "after the session was revoked for a replayed refresh token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_member_closes_their_streams() {
    let app = TestApp::spawn_with(quick_streams).await;
    let bob = app.sign_in("bob").await;
    app.add_member(app.org.id, bob.user_id, MemberRole::Member)
        .await;
    let mut events = app.sse_as(&bob.access_token, "events", None).await;
    wait_for_heartbeat(&mut events).await;

    let res = app.delete(&format!("members/{}", bob.user_id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The stream may carry the `member.deleted` event first; then it closes.
    assert!(closes_after_any_events(&mut events).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_ends_when_its_token_expires() {
    let app = TestApp::spawn_with(quick_streams).await;
    let token = app
        .mint_token(
            &[TokenScope::Read],
            Some(Utc::now() + TimeDelta::seconds(2)),
        )
        .await;
    let mut stream = app.sse_as(&token, "events", None).await;
    wait_for_heartbeat(&mut stream).await;
    assert!(stream.closes_within(CLOSE_WITHIN).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_stream_ends_when_their_access_token_expires() {
    let app = TestApp::spawn_with(|s| {
        quick_streams(s);
        s.auth.access_ttl_secs = 2;
    })
    .await;
    let carol = app.sign_in("carol").await;
    app.add_member(app.org.id, carol.user_id, MemberRole::Member)
        .await;
    let mut stream = app.sse_as(&carol.access_token, "events", None).await;
    wait_for_heartbeat(&mut stream).await;
    assert!(stream.closes_within(CLOSE_WITHIN).await);
}

/// Opens `events` as `token` and returns the response, whatever its status.
async fn open(app: &TestApp, token: &str) -> reqwest::Response {
    app.request_as(token, Method::GET, "events")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("open stream")
}

#[tokio::test(flavor = "multi_thread")]
async fn open_streams_are_limited_per_credential_and_per_org() {
    let app = TestApp::spawn_with(|s| {
        quick_streams(s);
        s.api.streams.max_per_credential = 2;
        s.api.streams.max_per_org = 3;
    })
    .await;
    let other_token = app.mint_token(&[TokenScope::Read], None).await;

    let first = app.sse("events", None).await;
    let _second = app.sse("events", None).await;
    let res = open(&app, &app.token).await;
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "Retry-After: {retry_after:?}"
    );
    let message = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_streams").await;
    assert!(message.contains("credential"), "{message}");

    // Another credential of the same org gets the org's last slot, then no more.
    let _third = app.sse_as(&other_token, "events", None).await;
    let res = open(&app, &other_token).await;
    let message = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "too_many_streams").await;
    assert!(message.contains("org"), "{message}");

    // A stream that closes gives its slot back.
    drop(first);
    let deadline = tokio::time::Instant::now() + CLOSE_WITHIN;
    loop {
        let res = open(&app, &app.token).await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stream_documents_its_refusals_for_too_many_streams() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET openapi.json");
    let doc: serde_json::Value = json_as(res, StatusCode::OK).await;
    for path in [
        "/api/v1/orgs/{org}/events",
        "/api/v1/orgs/{org}/processes/{id}/logs/stream",
        "/api/v1/orgs/{org}/attempts/{id}/diff/stream",
    ] {
        let responses = &doc["paths"][path]["get"]["responses"];
        assert!(
            responses["429"].is_object(),
            "{path} does not document 429: {responses}"
        );
    }
    let webhook = &doc["paths"]["/api/v1/github/webhooks"]["post"]["responses"];
    for status in ["408", "413", "503"] {
        assert!(
            webhook[status].is_object(),
            "webhooks lack {status}: {webhook}"
        );
    }
}
