//! The scheduler killed mid-backlog and started again: every attempt runs exactly once,
//! none is forgotten or scheduled twice. (Two replicas with the leader killed are in the
//! scheduler's own suite, against the fake Kubernetes API: `leader_killed_…`.)

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::organizations;
use shared::domain::{AttemptStatus, ProcessStatus};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::report;
use crate::helpers::TestApp;

const ATTEMPTS: usize = 12;

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduler_killed_mid_backlog_forgets_nothing_and_schedules_nothing_twice() {
    let app = TestApp::spawn().await;
    {
        // Two at a time, so most of the backlog waits on the scheduler.
        let mut conn = app.db.system().await.expect("db");
        diesel::update(organizations::table.find(app.org.id))
            .set(organizations::max_concurrent_attempts.eq(2))
            .execute(&mut conn)
            .await
            .expect("org limit");
    }
    let mut cluster = Cluster::start(app, 1, 2, |_| {}).await;
    let app = &cluster.app;
    let project = app.create_project("Backlog", None).await;
    let mut attempts = Vec::new();
    for n in 0..ATTEMPTS {
        let task = app.create_task(project.id, &format!("Task {n}")).await;
        attempts.push(
            app.start_attempt(task.id, &format!("sleep 0.5; echo ran {n}"))
                .await
                .id,
        );
    }
    // Kill it once some have run and most still wait.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut finished = 0;
        for id in &attempts {
            if !app.attempt(*id).await.status.is_active() {
                finished += 1;
            }
        }
        if finished >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing ran\n{}", cluster.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.scheduler.as_mut().expect("scheduler").kill();
    let killed_at = Instant::now();
    cluster.start_scheduler();
    let app = &cluster.app;
    // Recovered once an attempt queued before the kill is scheduled by the new one.
    let mut recovery = None;
    for id in &attempts {
        let a = app.attempt(*id).await;
        if a.status == AttemptStatus::Queued {
            app.wait_attempt(*id, Duration::from_secs(60), |a| {
                a.status != AttemptStatus::Queued
            })
            .await;
            recovery = Some(killed_at.elapsed());
            break;
        }
    }
    for id in &attempts {
        let done = cluster.wait_succeeded(*id).await;
        assert_eq!(done.retry_count, 0, "run once: {done:?}");
        let processes = app.processes(*id).await;
        assert_eq!(processes.len(), 1, "one run per attempt: {processes:?}");
        assert_eq!(processes[0].status, ProcessStatus::Succeeded);
    }
    report(
        "scheduler SIGKILL mid-backlog, restarted",
        "12 attempts at 2 at a time: each ran exactly once, none forgotten",
        "nothing lost or doubled",
        recovery,
    );
    cluster.stop().await;
}
