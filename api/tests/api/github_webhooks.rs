//! `POST /api/v1/github/webhooks` against the fake GitHub: payloads from
//! `../shared/fixtures/github-webhooks/`, signed with the real algorithm. Intake checks
//! (size, signature, headers) store nothing when they refuse; accepted deliveries are
//! stored once and processed asynchronously, retried, taken back from a dead processor,
//! and redelivered by the sweeper when GitHub says they never arrived.

use chrono::TimeDelta;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use shared::db::models::WebhookDelivery;
use shared::db::schema::{github_installations, webhook_deliveries};
use shared::domain::DeliveryStatus;
use shared::wire::WebhookReceipt;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::fake_github::FakeGithub;
use crate::fake_github_app::{FakeRepo, WEBHOOK_SECRET};
use crate::helpers::{TestApp, assert_error, json_as};

/// GitHub's installation in the fixtures, on the user account Codertocat.
pub const INSTALLATION: i64 = 957387;
pub const CODERTOCAT_ID: i64 = 21031067;
pub const HELLO_WORLD: i64 = 186853002;
pub const SPACE: i64 = 186853007;

/// The bytes of a payload fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/fixtures/github-webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {path}: {e}"))
}

/// A fixture with changes, re-serialized (for actions the fixtures do not have).
pub fn fixture_with(name: &str, change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut json: serde_json::Value =
        serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    change(&mut json);
    serde_json::to_vec(&json).expect("encode")
}

/// A fake GitHub with the fixtures' installation (Hello-World granted) and an api using
/// its App, processing quickly.
pub async fn app_with_github() -> (FakeGithub, TestApp) {
    let fake = FakeGithub::start().await;
    fake.app().add_installation(
        INSTALLATION,
        "Codertocat",
        CODERTOCAT_ID,
        "User",
        vec![FakeRepo::new(HELLO_WORLD, "Codertocat/Hello-World")],
    );
    let settings = fake.app_settings();
    let app = TestApp::spawn_with(move |s| {
        s.github = settings;
        s.github.webhooks.poll_ms = 50;
        s.github.webhooks.retry_base_ms = 200;
        s.rate_limit.enabled = false;
    })
    .await;
    fake.app()
        .set_webhook_url(&app.url("/api/v1/github/webhooks"));
    (fake, app)
}

/// Sends a delivery signed with the App's webhook secret.
pub async fn deliver(app: &TestApp, event: &str, guid: &str, body: &[u8]) -> reqwest::Response {
    let signature = shared::github::webhook::sign(WEBHOOK_SECRET.as_bytes(), body);
    app.client
        .post(app.url("/api/v1/github/webhooks"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", guid)
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("POST /github/webhooks")
}

/// Delivers and expects it accepted.
pub async fn deliver_ok(app: &TestApp, event: &str, body: &[u8]) -> String {
    let guid = Uuid::new_v4().to_string();
    let res = deliver(app, event, &guid, body).await;
    let receipt: WebhookReceipt = json_as(res, StatusCode::ACCEPTED).await;
    assert_eq!(receipt.delivery_id, guid);
    guid
}

pub async fn delivery(app: &TestApp, guid: &str) -> Option<WebhookDelivery> {
    let mut conn = app.db.system().await.expect("db");
    webhook_deliveries::table
        .filter(webhook_deliveries::delivery_id.eq(guid))
        .select(WebhookDelivery::as_select())
        .first(&mut conn)
        .await
        .optional()
        .expect("query")
}

/// Waits until the delivery has `status` (10 s at most).
pub async fn wait_for(app: &TestApp, guid: &str, status: DeliveryStatus) -> WebhookDelivery {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = delivery(app, guid).await;
        if let Some(row) = &row
            && row.status == status
        {
            return row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "delivery {guid} never became {status}: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored(app: &TestApp) -> i64 {
    let mut conn = app.db.system().await.expect("db");
    webhook_deliveries::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count")
}

/// Links the fixtures' installation to the test org directly (the setup callback's
/// effect; `github_install` tests the callback itself).
pub async fn link_installation(app: &TestApp) {
    let mut conn = app.db.system().await.expect("db");
    diesel::insert_into(github_installations::table)
        .values((
            github_installations::id.eq(Uuid::now_v7()),
            github_installations::org_id.eq(app.org.id),
            github_installations::installation_id.eq(INSTALLATION),
            github_installations::account_id.eq(CODERTOCAT_ID),
            github_installations::account_login.eq("Codertocat"),
            github_installations::account_type.eq("User"),
        ))
        .execute(&mut conn)
        .await
        .expect("link installation");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_delivery_is_processed_once_even_when_replayed() {
    let (_fake, app) = app_with_github().await;
    let body = fixture("installation.created.json");
    let guid = Uuid::new_v4().to_string();

    let res = deliver(&app, "installation", &guid, &body).await;
    let receipt: WebhookReceipt = json_as(res, StatusCode::ACCEPTED).await;
    assert_eq!(receipt.status, "accepted");
    let row = wait_for(&app, &guid, DeliveryStatus::Processed).await;
    assert_eq!(row.attempts, 1);
    assert_eq!(row.event, "installation");
    assert_eq!(row.action.as_deref(), Some("created"));
    assert_eq!(row.installation_id, Some(INSTALLATION));
    assert!(row.processed_at.is_some());

    // GitHub redelivers the same delivery (same GUID): acknowledged, nothing more.
    for _ in 0..2 {
        let res = deliver(&app, "installation", &guid, &body).await;
        let receipt: WebhookReceipt = json_as(res, StatusCode::OK).await;
        assert_eq!(receipt.status, "duplicate");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored(&app).await, 1);
    let row = wait_for(&app, &guid, DeliveryStatus::Processed).await;
    assert_eq!(row.attempts, 1, "processed exactly once");

    // The installation is recorded, not yet linked to any org, with who installed it.
    let mut conn = app.db.system().await.expect("db");
    let (org, installed_by): (Option<Uuid>, Option<i64>) = github_installations::table
        .filter(github_installations::installation_id.eq(INSTALLATION))
        .select((
            github_installations::org_id,
            github_installations::installed_by_github_id,
        ))
        .first(&mut conn)
        .await
        .expect("installation recorded");
    assert_eq!(org, None);
    assert_eq!(installed_by, Some(CODERTOCAT_ID));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_or_missing_signature_is_refused_and_nothing_is_stored() {
    let (_fake, app) = app_with_github().await;
    let body = fixture("installation.created.json");
    let url = app.url("/api/v1/github/webhooks");
    let send = |signature: Option<String>, body: Vec<u8>| {
        let mut req = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "installation")
            .header("x-github-delivery", Uuid::new_v4().to_string())
            .body(body);
        if let Some(signature) = signature {
            req = req.header("x-hub-signature-256", signature);
        }
        req.send()
    };

    let res = send(None, body.clone()).await.expect("send");
    assert_error(res, StatusCode::UNAUTHORIZED, "missing_signature").await;

    let wrong_secret = shared::github::webhook::sign(b"not-the-secret", &body);
    let res = send(Some(wrong_secret), body.clone()).await.expect("send");
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // Signed right, then the body changed on the way.
    let signature = shared::github::webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let res = send(Some(signature.clone()), tampered).await.expect("send");
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // Garbage and the old SHA-1 form.
    for header in ["sha256=nothex", "sha1=0123456789abcdef", ""] {
        let res = send(Some(header.into()), body.clone()).await.expect("send");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header:?}");
    }
    assert_eq!(stored(&app).await, 0);

    // A well-signed delivery without its event or delivery header is refused too.
    let res = app
        .client
        .post(&url)
        .header("x-hub-signature-256", signature)
        .header("x-github-delivery", Uuid::new_v4().to_string())
        .body(body)
        .send()
        .await
        .expect("send");
    assert_error(res, StatusCode::BAD_REQUEST, "missing_event").await;
    assert_eq!(stored(&app).await, 0);
}

/// Found by the `webhook` fuzz target (api/fuzz): PostgreSQL's `jsonb` cannot hold
/// U+0000, so a signed payload with `\u0000` in any string failed its insert with a 500,
/// which GitHub retries. It is refused with 400, and nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_payload_holding_a_nul_character_is_refused_with_400_and_nothing_is_stored() {
    let (_fake, app) = app_with_github().await;
    let body = br#"{"action":"created","comment":{"id":1,"body":"run\u0000 it"}}"#;
    let res = deliver(&app, "issue_comment", &Uuid::new_v4().to_string(), body).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(stored(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_delivery_is_refused_with_413_and_nothing_is_stored() {
    let fake = FakeGithub::start().await;
    let settings = fake.app_settings();
    let app = TestApp::spawn_with(move |s| {
        s.github = settings;
        s.github.webhooks.max_body_bytes = 4096;
    })
    .await;
    let body = fixture("issues.labeled.json");
    assert!(body.len() > 4096);

    // Declared too big: refused by its Content-Length (and signed right, so the size is
    // what is refused).
    let res = deliver(&app, "issues", &Uuid::new_v4().to_string(), &body).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Streamed without a length: refused once the stream passes the limit.
    let signature = shared::github::webhook::sign(WEBHOOK_SECRET.as_bytes(), &body);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let res = app
        .client
        .post(app.url("/api/v1/github/webhooks"))
        .header("x-github-event", "issues")
        .header("x-github-delivery", Uuid::new_v4().to_string())
        .header("x-hub-signature-256", signature)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("send");
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(stored(&app).await, 0);

    // A small one still goes through.
    let small = fixture("installation.created.json");
    assert!(small.len() < 4096);
    deliver_ok(&app, "installation", &small).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_event_is_acknowledged_and_stored_as_ignored() {
    let (_fake, app) = app_with_github().await;
    let body = br#"{"action":"created","starred_at":"2026-11-24T10:00:00Z","repository":{"id":186853002}}"#;
    let guid = Uuid::new_v4().to_string();
    let res = deliver(&app, "star", &guid, body).await;
    let receipt: WebhookReceipt = json_as(res, StatusCode::ACCEPTED).await;
    assert_eq!(receipt.status, "ignored");
    let row = delivery(&app, &guid).await.expect("stored");
    assert_eq!(row.status, DeliveryStatus::Ignored);
    assert_eq!(row.attempts, 0, "never dispatched");
    assert!(row.error.as_deref().is_some_and(|e| e.contains("star")));

    // A handled event with an action nothing needs is ignored by its handler.
    let body = fixture_with("installation.created.json", |p| {
        p["action"] = "renamed_somehow".into();
    });
    let guid = deliver_ok(&app, "installation", &body).await;
    wait_for(&app, &guid, DeliveryStatus::Ignored).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_delivery_is_retried_with_backoff_until_it_succeeds() {
    let (fake, app) = app_with_github().await;
    link_installation(&app).await;
    fake.app()
        .add_repo(INSTALLATION, FakeRepo::new(SPACE, "Codertocat/Space"));
    fake.app().set_unavailable(true);

    let guid = deliver_ok(
        &app,
        "installation_repositories",
        &fixture("installation_repositories.added.json"),
    )
    .await;
    let failed = wait_for(&app, &guid, DeliveryStatus::Failed).await;
    assert!(failed.next_attempt_at.is_some(), "scheduled for a retry");
    let error = failed.error.clone().unwrap_or_default();
    assert!(error.contains("503"), "{error}");
    for token in fake.app().issued_tokens() {
        assert!(!error.contains(&token), "a token in a stored error");
    }

    fake.app().set_unavailable(false);
    let done = wait_for(&app, &guid, DeliveryStatus::Processed).await;
    assert!(done.attempts >= 2, "{done:?}");
    assert_eq!(done.org_id, Some(app.org.id), "resolved to the linked org");
    assert_eq!(done.error, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_payload_fails_for_good_without_retries() {
    let (_fake, app) = app_with_github().await;
    let guid = deliver_ok(
        &app,
        "installation",
        br#"{"action":"created","installation":7}"#,
    )
    .await;
    let row = wait_for(&app, &guid, DeliveryStatus::Failed).await;
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, None, "dead: no retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_left_processing_by_a_dead_replica_is_taken_back() {
    let (_fake, app) = app_with_github().await;
    let guid = Uuid::new_v4().to_string();
    let payload: serde_json::Value =
        serde_json::from_slice(&fixture("installation.created.json")).expect("json");
    let mut conn = app.db.system().await.expect("db");
    // Claimed by a replica that died: still `processing`, its lease run out.
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(Uuid::now_v7()),
            webhook_deliveries::delivery_id.eq(&guid),
            webhook_deliveries::event.eq("installation"),
            webhook_deliveries::action.eq("created"),
            webhook_deliveries::installation_id.eq(INSTALLATION),
            webhook_deliveries::payload.eq(payload),
            webhook_deliveries::status.eq(DeliveryStatus::Processing),
            webhook_deliveries::attempts.eq(1),
            webhook_deliveries::locked_until.eq(chrono::Utc::now() - TimeDelta::seconds(5)),
        ))
        .execute(&mut conn)
        .await
        .expect("insert");
    let row = wait_for(&app, &guid, DeliveryStatus::Processed).await;
    assert_eq!(row.attempts, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweeper_asks_github_to_redeliver_a_failed_delivery_it_never_stored() {
    let fake = FakeGithub::start().await;
    fake.app().add_installation(
        INSTALLATION,
        "Codertocat",
        CODERTOCAT_ID,
        "User",
        vec![FakeRepo::new(HELLO_WORLD, "Codertocat/Hello-World")],
    );
    let body = fixture("installation.created.json");
    let gh = fake.app();
    // Missed while the api was down: never reached us.
    let missed = gh.log_delivery("missed-1", "installation", &body, 0, TimeDelta::minutes(10));
    // Answered 502 by a proxy, but we have it (it arrived on a later attempt).
    let stored_guid = Uuid::new_v4().to_string();
    gh.log_delivery(
        &stored_guid,
        "installation",
        &body,
        502,
        TimeDelta::minutes(9),
    );
    // Delivered fine.
    gh.log_delivery("fine-1", "installation", &body, 202, TimeDelta::minutes(8));
    // Failed, but older than the sweeper looks back.
    gh.log_delivery("ancient-1", "installation", &body, 0, TimeDelta::hours(30));
    // Failed on every one of its attempts: the sweeper has given up on it.
    for minutes in [7, 6, 5, 4] {
        gh.log_delivery(
            "hopeless-1",
            "installation",
            &body,
            500,
            TimeDelta::minutes(minutes),
        );
    }

    let settings = fake.app_settings();
    let app = TestApp::spawn_with(move |s| {
        s.github = settings;
        s.github.webhooks.poll_ms = 50;
        s.github.webhooks.redelivery_interval_secs = 1;
        s.github.webhooks.redelivery_lookback_secs = 6 * 3600;
    })
    .await;
    fake.app()
        .set_webhook_url(&app.url("/api/v1/github/webhooks"));
    deliver_ok(&app, "installation", &body).await; // some other delivery
    let res = deliver(&app, "installation", &stored_guid, &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // The sweeper asks for the missed one; GitHub sends it; it is processed.
    let row = wait_for(&app, "missed-1", DeliveryStatus::Processed).await;
    assert_eq!(row.event, "installation");
    // Two more rounds ask for nothing else.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fake.app().redeliveries(), vec![missed]);
    assert!(fake.app().counts().delivery_lists >= 2);
}
