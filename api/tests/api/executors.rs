//! Executor availability: what live workers announce decides what may start.

use reqwest::StatusCode;
use shared::workers::{self, WorkerInfo};

use crate::helpers::{TestApp, assert_error, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn attempts_need_a_worker_that_can_run_their_executor_once_workers_run() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Available", None).await;
    let task = app.create_task(project.id, "Pick an agent").await;
    let start = |executor: &'static str| {
        let app = &app;
        let task = task.id;
        async move {
            app.post(
                &format!("tasks/{task}/attempts"),
                &serde_json::json!({ "prompt": "go", "executor": executor }),
            )
            .await
        }
    };

    // No worker has announced itself: attempts queue and wait for capacity.
    assert_eq!(start("codex").await.status(), StatusCode::CREATED);

    let mut redis = app.redis().await;
    let info = WorkerInfo {
        worker_id: "w1".into(),
        executors: vec!["script".into(), "claude-code".into()],
        seen_at: chrono::Utc::now(),
    };
    workers::announce(&mut redis, &app.keys, &info)
        .await
        .expect("announce");
    let listed: Vec<serde_json::Value> = json_as(app.get("executors").await, StatusCode::OK).await;
    let count = |name: &str| {
        listed
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["workers"].clone())
    };
    assert_eq!(count("claude-code"), Some(serde_json::json!(1)));
    assert_eq!(count("codex"), Some(serde_json::json!(0)));

    assert_eq!(start("claude-code").await.status(), StatusCode::CREATED);
    let message = assert_error(
        start("codex").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "executor_unavailable",
    )
    .await;
    assert!(message.contains("codex"), "{message}");

    // A worker that stopped announcing no longer counts.
    let stale = WorkerInfo {
        seen_at: chrono::Utc::now() - chrono::Duration::minutes(5),
        ..info
    };
    workers::announce(&mut redis, &app.keys, &stale)
        .await
        .expect("announce");
    assert_eq!(start("codex").await.status(), StatusCode::CREATED);
}
