//! The org event stream.

use reqwest::StatusCode;
use shared::wire;
use std::time::Duration;

use crate::helpers::{CuttableProxy, TestApp, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_task_emits_task_created_on_the_org_stream() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let mut stream = app.sse("events", None).await;
    let task = app.create_task(project.id, "Watch me").await;
    let event = stream.next().await;
    assert_eq!(event.event, "task.created");
    assert!(event.id.is_some());
    let wire::OrgEvent::TaskCreated(sent) = event.json() else {
        panic!("a task.created event: {}", event.data);
    };
    assert_eq!(sent.id, task.id);
    assert_eq!(sent.key, "DEMO-1");

    // Every resource kind shows up.
    app.start_attempt(task.id, "echo").await;
    let kinds: Vec<String> = [
        stream.next().await,
        stream.next().await,
        stream.next().await,
    ]
    .into_iter()
    .map(|e| e.event)
    .collect();
    assert_eq!(
        kinds,
        ["attempt.created", "process.created", "task.updated"]
    );
    let res = app.delete(&format!("projects/{}", project.id)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_with_last_event_id_gets_only_later_events() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let mut stream = app.sse("events", None).await;
    let a = app.create_task(project.id, "a").await;
    let first = stream.next().await;
    let b = app.create_task(project.id, "b").await;
    let second = stream.next().await;
    drop(stream);
    let c = app.create_task(project.id, "c").await;

    let mut resumed = app.sse("events", first.id.as_deref()).await;
    let ids: Vec<uuid::Uuid> = [resumed.next().await, resumed.next().await]
        .iter()
        .map(|e| {
            e.json::<serde_json::Value>()["data"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid")
        })
        .collect();
    assert_eq!(ids, vec![b.id, c.id]);
    assert!(resumed.is_quiet_for(Duration::from_millis(300)).await);
    let d = app.create_task(project.id, "d").await;
    let live = resumed.next().await;
    assert_eq!(
        live.json::<serde_json::Value>()["data"]["id"].as_str(),
        Some(d.id.to_string().as_str())
    );
    assert_ne!(first.id, second.id);
    let _ = a;

    // A fresh subscriber gets no history, only what happens next.
    let mut fresh = app.sse("events", None).await;
    assert!(fresh.is_quiet_for(Duration::from_millis(300)).await);
    app.patch(
        &format!("tasks/{}", a.id),
        &serde_json::json!({"title": "a2"}),
    )
    .await;
    assert_eq!(fresh.next().await.event, "task.updated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_stream_names_its_resume_point_before_any_event() {
    let app = TestApp::spawn().await;
    // An org that has never had an event: the stream still tells where it starts, so
    // a reconnect before the first event misses nothing.
    let mut quiet = app.sse("events", None).await;
    assert!(quiet.is_quiet_for(Duration::from_millis(300)).await);
    let start = quiet.last_event_id.clone().expect("an id on open");
    assert_eq!(start, "0-0");
    drop(quiet);
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "while away").await;
    let mut resumed = app.sse("events", Some(&start)).await;
    let first = resumed.next().await;
    assert_eq!(
        first.event, "project.created",
        "no reset: nothing was trimmed"
    );
    let second = resumed.next().await;
    assert_eq!(
        second.json::<serde_json::Value>()["data"]["id"].as_str(),
        Some(task.id.to_string().as_str())
    );

    // With events stored, a fresh stream starts at the newest one.
    let mut fresh = app.sse("events", None).await;
    assert!(fresh.is_quiet_for(Duration::from_millis(300)).await);
    assert_eq!(fresh.last_event_id, second.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn resuming_past_trimmed_history_asks_for_a_reset() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let mut stream = app.sse("events", None).await;
    app.create_task(project.id, "a").await;
    let first = stream.next().await;
    drop(stream);
    app.create_task(project.id, "b").await;
    app.create_task(project.id, "c").await;
    // Trim everything but the newest event, as MAXLEN does under load.
    let mut redis = app.redis().await;
    let _: i64 = redis::cmd("XTRIM")
        .arg(app.keys.org_events(app.org.id))
        .arg("MAXLEN")
        .arg(1)
        .query_async(&mut redis)
        .await
        .expect("XTRIM");
    let mut resumed = app.sse("events", first.id.as_deref()).await;
    assert_eq!(resumed.next().await.event, "reset");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_last_event_id_is_refused() {
    let app = TestApp::spawn().await;
    let res = app
        .request(reqwest::Method::GET, "events")
        .header("last-event-id", "yesterday")
        .send()
        .await
        .expect("GET");
    crate::helpers::assert_error(res, StatusCode::BAD_REQUEST, "invalid_header").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_org_stream_never_shows_another_orgs_events() {
    let app = TestApp::spawn().await;
    let (other, other_token) = app.other_org("globex").await;
    let mut stream = app.sse("events", None).await;
    let res = app
        .client
        .post(format!("{}/api/v1/orgs/{}/projects", app.base, other.slug))
        .bearer_auth(&other_token)
        .json(&serde_json::json!({"name": "Theirs", "repository_url": app.git_repo("theirs").to_string_lossy()}))
        .send()
        .await
        .expect("POST");
    let _: wire::Project = json_as(res, StatusCode::CREATED).await;
    assert!(stream.is_quiet_for(Duration::from_millis(500)).await);
    app.create_project("Ours", None).await;
    assert_eq!(stream.next().await.event, "project.created");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_streams_get_heartbeat_comments() {
    let app = TestApp::spawn_with(|s| s.api.streams.heartbeat_ms = 1_000).await;
    let mut stream = app.sse("events", None).await;
    assert!(stream.is_quiet_for(Duration::from_millis(2_500)).await);
    assert!(stream.comments >= 1, "no heartbeat in 2.5 s");
    assert!(!stream.closed);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_org_stream_loses_nothing_when_the_pubsub_connection_drops() {
    let proxy = CuttableProxy::start(CuttableProxy::redis_target()).await;
    let proxy_url = format!("redis://{}/", proxy.addr);
    let app = TestApp::spawn_with(|s| s.redis.url = proxy_url).await;
    let project = app.create_project("Demo", None).await;
    let mut stream = app.sse("events", None).await;
    let mut expected = Vec::new();
    expected.push(app.create_task(project.id, "before").await.id);
    assert_eq!(stream.next().await.event, "task.created");

    proxy.go_down().await;
    // Published straight to Redis while the api's pub/sub connection is down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut redis = app.redis().await;
    for _ in 0..2 {
        let id = uuid::Uuid::now_v7();
        shared::bus::emit(
            &mut redis,
            &app.keys,
            app.org.id,
            wire::OrgEvent::TaskDeleted(wire::Deleted { id }),
        )
        .await;
        expected.push(id);
    }
    assert!(stream.is_quiet_for(Duration::from_millis(300)).await);
    proxy.come_back();
    let mut got = Vec::new();
    while got.len() < 2 {
        let event = stream.next().await;
        got.push(
            event.json::<serde_json::Value>()["data"]["id"]
                .as_str()
                .expect("id")
                .parse::<uuid::Uuid>()
                .expect("uuid"),
        );
    }
    assert_eq!(got, expected[1..]);

    // And live delivery works again, without duplicates.
    let after = loop {
        let res = app
            .post(
                &format!("projects/{}/tasks", project.id),
                &serde_json::json!({"title": "after"}),
            )
            .await;
        if res.status() == StatusCode::CREATED {
            break res.json::<wire::Task>().await.expect("task");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let next = stream.next().await;
    assert_eq!(
        next.json::<serde_json::Value>()["data"]["id"].as_str(),
        Some(after.id.to_string().as_str())
    );
    assert!(stream.is_quiet_for(Duration::from_millis(300)).await);
}
