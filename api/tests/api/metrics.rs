//! `/metrics`: the Prometheus text format, requests by route pattern (never a raw path),
//! open SSE streams, the queue depth and attempts by status.

use reqwest::StatusCode;
use shared::queue::{self, QueueEntry};
use std::time::Duration;
use uuid::Uuid;

use crate::helpers::TestApp;

/// The scraped text, with no credential.
async fn scrape(app: &TestApp) -> String {
    let res = reqwest::get(app.url("/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    res.text().await.expect("metrics body")
}

/// The value of one series, written as rendered (`name{label="value",…}`).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_counted_by_route_pattern_with_no_ids_in_labels() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    for _ in 0..2 {
        let res = app.get(&format!("projects/{}", project.id)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let missing = app.get(&format!("projects/{}", Uuid::now_v7())).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    let route = "/api/v1/orgs/{org}/projects/{id}";
    assert_eq!(
        value(
            &text,
            &format!(
                "switchyard_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}}"
            )
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            &format!(
                "switchyard_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"404\"}}"
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            &format!(
                "switchyard_http_request_duration_seconds_count{{method=\"GET\",route=\"{route}\"}}"
            )
        ),
        Some(3.0)
    );
    for id in [
        app.org.id.to_string(),
        format!("/orgs/{}/", app.org.slug),
        format!("\"{}\"", app.org.slug),
        project.id.to_string(),
    ] {
        assert!(!text.contains(&id), "{id} appears in /metrics:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_sse_stream_is_counted_until_it_closes() {
    // The server notices a client that left at its next write: a heartbeat each second.
    let app = TestApp::spawn_with(|s| s.api.streams.heartbeat_ms = 1_000).await;
    let series = "switchyard_sse_connections{stream=\"events\"}";
    let stream = app.sse("events", None).await;
    assert_eq!(value(&scrape(&app).await, series), Some(1.0));

    drop(stream);
    let mut open = Some(1.0);
    for _ in 0..300 {
        open = value(&scrape(&app).await, series);
        if open == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, Some(0.0), "the closed stream is still counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_depth_and_attempts_are_read_when_scraped() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "queued").await;
    app.start_attempt(task.id, "true").await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "switchyard_queue_depth"), Some(0.0));
    assert_eq!(
        value(&text, "switchyard_attempts{status=\"queued\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "switchyard_attempts{status=\"running\"}"),
        Some(0.0)
    );

    let entries: Vec<QueueEntry> = (0..3)
        .map(|_| QueueEntry {
            attempt_id: Uuid::now_v7(),
            org_id: app.org.id,
            traceparent: None,
        })
        .collect();
    queue::enqueue(&mut app.redis().await, &app.keys, &entries)
        .await
        .expect("enqueue");
    assert_eq!(
        value(&scrape(&app).await, "switchyard_queue_depth"),
        Some(3.0)
    );
}
