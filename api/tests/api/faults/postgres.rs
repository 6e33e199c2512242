//! PostgreSQL crashed and restarted under running attempts (a server of the test's own):
//! while it is down the api answers 503 `unavailable` and nothing panics; the agents
//! keep running; afterwards every acknowledged write is there and the attempts finish.

use shared::testing::{OwnPostgres, TestEnv};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{printing, report};
use crate::helpers::{TestApp, assert_error};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_under_running_attempts_loses_no_acknowledged_write() {
    let pg = OwnPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    let env = TestEnv::on_postgres(pg.admin_url()).await;
    let app = TestApp::spawn_in(env, |_| {}).await;
    // A lease longer than the outage: the workers' runs outlast it.
    let cluster = Cluster::start(app, 1, 2, |s| {
        s.worker.lease_ms = 30_000;
        s.worker.heartbeat_ms = 1_000;
    })
    .await;
    let app = &cluster.app;
    let project = app.create_project("Outage", None).await;
    let mut acknowledged = Vec::new();
    let mut attempts = Vec::new();
    for n in 0..2 {
        let task = app.create_task(project.id, &format!("Task {n}")).await;
        acknowledged.push(task.id);
        attempts.push(app.start_attempt(task.id, &printing(60, "0.1")).await.id);
    }
    for id in &attempts {
        app.wait_running(*id).await;
    }
    let agents_before = cluster
        .workers
        .iter()
        .map(|w| super::process_tree(w.pid()).len())
        .collect::<Vec<_>>();

    pg.crash().expect("crash postgres");
    // Down: a clear 503 with a stable code, for reads and writes alike.
    let res = app.get("projects").await;
    assert_error(res, reqwest::StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let res = app
        .post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({ "title": "during the outage" }),
        )
        .await;
    assert_error(res, reqwest::StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // The agents go on meanwhile (every worker still has its agent's processes).
    for (w, before) in cluster.workers.iter().zip(&agents_before) {
        let now = super::process_tree(w.pid()).len();
        assert!(
            now >= *before.min(&2),
            "a worker lost its agent during the outage"
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start_again().expect("restart postgres");
    let back = Instant::now();
    // Recovered at the first successful answer.
    loop {
        if app.get("projects").await.status().is_success() {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovery = back.elapsed();
    for id in &acknowledged {
        let res = app.get(&format!("tasks/{id}")).await;
        assert!(res.status().is_success(), "acknowledged task {id} is gone");
    }
    for id in &attempts {
        let done = cluster.wait_succeeded(*id).await;
        assert_eq!(
            done.retry_count,
            0,
            "the runs outlasted the outage: {done:?}\n{}",
            cluster.logs()
        );
        let process = app.processes(*id).await.remove(0);
        let log = app.logs(process.id).await;
        assert_eq!(log["entries"].as_array().map(Vec::len), Some(60));
    }
    // The write refused during the outage did not half-happen.
    let page: serde_json::Value = app
        .get(&format!("projects/{}/tasks?limit=100", project.id))
        .await
        .json()
        .await
        .expect("tasks");
    let titles: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert!(!titles.contains(&"during the outage"), "{titles:?}");
    for s in &cluster.apis {
        assert!(!s.log_tail().contains("panicked"), "{}", s.log_tail());
    }
    report(
        "PostgreSQL crashed for ~3 s under 2 running attempts",
        "503 `unavailable` while down (read and write); agents keep running; acknowledged writes kept; attempts finish without a retry",
        "nothing lost",
        Some(recovery),
    );
    cluster.stop().await;
}
