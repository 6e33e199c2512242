//! SIGTERM on each service: it drains what is in flight within its grace and exits
//! cleanly; an attempt a worker's shutdown interrupts finishes there or is handed back
//! for a retry at once, and never stays `running`.

use shared::domain::{AttemptStatus, ProcessStatus};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{printing, report};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_the_api_ends_its_streams_and_exits_cleanly() {
    let app = TestApp::spawn().await;
    let mut cluster = Cluster::start(app, 2, 0, |_| {}).await;
    let mut streams = Vec::new();
    for _ in 0..10 {
        streams.push(cluster.app.sse("events", None).await);
    }
    let (status, took) = cluster.apis[0].terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}\n{}", cluster.logs());
    for s in &mut streams {
        while s.next_within(Duration::from_secs(5)).await.is_some() {}
        assert!(s.closed, "a stream outlived its replica");
    }
    // Its clients carry on at the other replica.
    cluster.use_api(1);
    let mut again = cluster.app.sse("events", None).await;
    assert!(!again.closed);
    again.is_quiet_for(Duration::from_millis(100)).await;
    report(
        "api SIGTERM with 10 SSE clients",
        "streams end (clients reconnect elsewhere), exit status 0",
        "clean exit",
        Some(took),
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_the_scheduler_exits_cleanly_and_a_new_one_carries_on() {
    let app = TestApp::spawn().await;
    let mut cluster = Cluster::start(app, 1, 1, |_| {}).await;
    let project = cluster.app.create_project("Sched", None).await;
    let task = cluster.app.create_task(project.id, "Before").await;
    let before = cluster.app.start_attempt(task.id, "echo before").await;
    cluster.app.wait_finished(before.id).await;
    let scheduler = cluster.scheduler.as_mut().expect("scheduler");
    let (status, took) = scheduler.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}\n{}", cluster.logs());
    // Accepted while no scheduler runs: it waits, and runs once one is back.
    let task = cluster.app.create_task(project.id, "During").await;
    let during = cluster.app.start_attempt(task.id, "echo during").await;
    cluster.start_scheduler();
    cluster.wait_succeeded(during.id).await;
    report(
        "scheduler SIGTERM",
        "exit status 0; an attempt accepted while it was down runs once it is back",
        "clean exit, nothing lost",
        Some(took),
    );
    cluster.stop().await;
}

/// A worker asked to stop while an attempt runs: with a drain long enough the attempt
/// ends there; with a short one it is handed back and retried on the other worker well
/// before its (long) lease could have run out.
async fn sigterm_on_a_busy_worker(
    drain_secs: u64,
) -> (
    AttemptStatus,
    Vec<shared::wire::Process>,
    Duration,
    Duration,
) {
    let app = TestApp::spawn().await;
    let mut cluster = Cluster::start(app, 1, 1, |s| {
        s.worker.drain_secs = drain_secs;
        // Only a hand-back explains a retry before this.
        s.worker.lease_ms = 60_000;
        s.worker.heartbeat_ms = 1_000;
    })
    .await;
    let project = cluster.app.create_project("Drain", None).await;
    let task = cluster.app.create_task(project.id, "Interrupted").await;
    let attempt = cluster
        .app
        .start_attempt(task.id, &printing(30, "0.1"))
        .await;
    cluster.app.wait_running(attempt.id).await;
    // The second worker starts only now, so the first one holds the attempt.
    cluster.start_worker();
    let stopping = Instant::now();
    let (status, took) = cluster.workers[0]
        .terminate(Duration::from_secs(drain_secs + 20))
        .await;
    assert!(status.success(), "{status}\n{}", cluster.logs());
    let done = cluster.app.wait_finished(attempt.id).await;
    let settled = stopping.elapsed();
    let processes = cluster.app.processes(attempt.id).await;
    cluster.stop().await;
    (done.status, processes, took, settled)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_a_worker_lets_its_attempt_finish_within_the_drain() {
    let (status, processes, took, _) = sigterm_on_a_busy_worker(30).await;
    assert_eq!(status, AttemptStatus::Succeeded);
    assert_eq!(processes.len(), 1, "finished where it ran: {processes:?}");
    assert_eq!(processes[0].status, ProcessStatus::Succeeded);
    report(
        "worker SIGTERM, attempt shorter than the drain",
        "the attempt finishes on the stopping worker, which then exits 0",
        "nothing lost",
        Some(took),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_a_worker_hands_back_an_attempt_longer_than_the_drain() {
    let (status, processes, took, settled) = sigterm_on_a_busy_worker(1).await;
    assert_eq!(status, AttemptStatus::Succeeded);
    assert_eq!(processes.len(), 2, "{processes:?}");
    assert_eq!(processes[0].status, ProcessStatus::Failed);
    assert_eq!(processes[1].status, ProcessStatus::Succeeded);
    assert!(
        settled < Duration::from_secs(50),
        "retried after a hand-back, not after the 60 s lease ran out ({settled:?})"
    );
    report(
        "worker SIGTERM, attempt longer than the drain (1 s)",
        "aborted after the drain, handed back, retried on the other worker; no wait for the 60 s lease",
        "nothing lost",
        Some(took),
    );
}
