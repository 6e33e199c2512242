//! Redis restarted, then flushed, during a busy period (20 attempts, 10 live log
//! viewers): every accepted attempt runs, and every viewer, resuming with
//! `Last-Event-ID` whenever its stream breaks, ends with the whole log exactly once.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::organizations;
use shared::domain::AttemptStatus;
use shared::logs::LogPatch;
use shared::testing::OwnRedis;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::cluster::Cluster;
use super::{printing, report};
use crate::attempt_views::assert_gap_free;
use crate::helpers::{SseClient, TestApp};

const ATTEMPTS: usize = 20;
const VIEWERS: usize = 10;
const LINES: u32 = 40;

/// Follows one process's log to its end across broken streams, reconnecting to
/// `bases` in turn with `Last-Event-ID`; returns every patch received.
async fn follow(
    app_token: String,
    bases: Vec<String>,
    org: String,
    process: Uuid,
) -> (Vec<LogPatch>, usize) {
    let client = reqwest::Client::new();
    let mut patches: Vec<LogPatch> = Vec::new();
    let mut reconnects = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    for turn in 0.. {
        assert!(Instant::now() < deadline, "log {process} never ended");
        let base = &bases[turn % bases.len()];
        let mut req = client
            .get(format!(
                "{base}/api/v1/orgs/{org}/processes/{process}/logs/stream"
            ))
            .bearer_auth(&app_token)
            .header("accept", "text/event-stream");
        if let Some(last) = patches.last() {
            req = req.header("last-event-id", last.seq.to_string());
        }
        let Ok(res) = req.send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if !res.status().is_success() {
            // 503 while a backing service is away: retry, as a client would.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if turn > 0 {
            reconnects += 1;
        }
        let mut sse = SseClient::new(res);
        loop {
            match sse.next_within(Duration::from_secs(20)).await {
                Some(e) if e.event == "patch" => patches.push(e.json()),
                Some(e) if e.event == "end" => return (patches, reconnects),
                Some(_) => {}
                None => break,
            }
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_restarted_then_flushed_in_a_busy_period_loses_no_attempt_and_no_entry() {
    let mut redis = OwnRedis::start();
    let url = redis.url.clone();
    let app = TestApp::spawn_with(|s| s.redis.url = url.clone()).await;
    {
        let mut conn = app.db.system().await.expect("db");
        diesel::update(organizations::table.find(app.org.id))
            .set(organizations::max_concurrent_attempts.eq(4))
            .execute(&mut conn)
            .await
            .expect("org limit");
    }
    let url = redis.url.clone();
    let cluster = Cluster::start(app, 2, 4, |s| {
        s.redis.url = url;
        s.api.streams.max_per_credential = 100;
    })
    .await;
    let app = &cluster.app;
    let bases: Vec<String> = cluster.apis.iter().filter_map(|a| a.base.clone()).collect();
    let project = app.create_project("Busy", None).await;
    let mut attempts = Vec::new();
    for n in 0..ATTEMPTS {
        let task = app.create_task(project.id, &format!("Task {n}")).await;
        attempts.push(
            app.start_attempt(task.id, &printing(LINES, "0.05"))
                .await
                .id,
        );
    }
    // A viewer on each of the first ten attempts' logs, from their first entry.
    let mut viewers = Vec::new();
    for id in attempts.iter().take(VIEWERS) {
        let running = app
            .wait_attempt(*id, Duration::from_secs(120), |a| {
                a.status != AttemptStatus::Queued && a.status != AttemptStatus::Scheduled
            })
            .await;
        let process = loop {
            if let Some(p) = app.processes(running.id).await.into_iter().next() {
                break p.id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        viewers.push((
            process,
            tokio::spawn(follow(
                app.token.clone(),
                bases.clone(),
                app.org.slug.clone(),
                process,
            )),
        ));
        if viewers.len() == 3 {
            // Mid-run: Redis restarts empty (queue, log tails, pub/sub all gone).
            redis.restart();
        }
    }
    let restarted_at = Instant::now();
    // Later in the busy period: everything in it flushed.
    let client = redis::Client::open(redis.url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut conn)
        .await
        .expect("flush");
    let mut recovery = Duration::ZERO;
    for id in &attempts {
        cluster.wait_succeeded(*id).await;
        recovery = recovery.max(restarted_at.elapsed());
    }
    let mut reconnects = 0;
    for (process, viewer) in viewers {
        let (patches, again) = viewer.await.expect("viewer");
        reconnects += again;
        assert_gap_free(&patches);
        let stored = app.logs(process).await;
        let stored = stored["entries"].as_array().expect("entries").len();
        assert_eq!(patches.len(), stored, "viewer of {process}");
        assert_eq!(stored, LINES as usize);
    }
    report(
        "Redis restarted, then flushed, in a busy period (20 attempts, 10 viewers)",
        &format!(
            "all 20 attempts succeed; 10 viewers ({reconnects} reconnects) gap-free and equal to the stored logs"
        ),
        "nothing lost or doubled",
        Some(recovery),
    );
    cluster.stop().await;
}
