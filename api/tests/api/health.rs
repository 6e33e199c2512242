//! Probes and request ids.

use reqwest::StatusCode;
use shared::wire::Readiness;

use crate::helpers::{TestApp, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_reports_every_dependency_ready() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET");
    let ready: Readiness = json_as(res, StatusCode::OK).await;
    assert!(ready.ready && ready.postgres && ready.redis && ready.s3);
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_answers_503_naming_the_dependency_that_is_down() {
    let app = TestApp::spawn_with(|s| s.s3.bucket = "no-such-bucket-for-readyz".into()).await;
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET");
    let ready: Readiness = json_as(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(!ready.ready);
    assert!(ready.postgres && ready.redis);
    assert!(!ready.s3);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id_and_echoes_a_given_one() {
    let app = TestApp::spawn().await;
    let res = app.get("projects").await;
    let generated = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a generated request id");
    assert!(uuid::Uuid::parse_str(generated).is_ok());

    let res = app
        .client
        .get(app.url("/api/v1/nowhere"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-123")
    );

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id\twith junk")
        .send()
        .await
        .expect("GET");
    let replaced = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id");
    assert_ne!(replaced, "bad id\twith junk");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_api_ends_open_streams_and_the_server() {
    let app = TestApp::spawn().await;
    let mut events = app.sse("events", None).await;
    app.handle.stop();
    assert!(
        events
            .closes_within(std::time::Duration::from_secs(10))
            .await
    );
    let addr = app.addr;
    app.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
