//! Dispatch on wakes: with the fallback tick at an hour, only the writers' wakes over
//! Redis pub/sub can make the running scheduler dispatch.

use shared::attempts::{self, AttemptEnd};
use shared::config::{CapacityBackend, Settings};
use shared::domain::AttemptStatus;
use shared::shutdown::CancellationToken;
use shared::testing::{OwnRedis, fixtures};
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{Ctx, eventually, status_of};

/// Long enough that nothing in a test is ever dispatched by the fallback tick.
const NEVER_MS: u64 = 3_600_000;
/// How long a wait for the scheduler may take on a loaded machine.
const PATIENCE_SECS: u64 = 30;

/// A running scheduler (external capacity: no workers) that dispatches on wakes alone.
struct Scheduler {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Scheduler {
    fn start(ctx: &Ctx, redis_url: Option<&str>) -> Scheduler {
        let mut settings: Settings = ctx.env.settings.clone();
        if let Some(url) = redis_url {
            settings.redis.url = url.into();
        }
        settings.scheduler.backend = CapacityBackend::External;
        settings.scheduler.tick_ms = NEVER_MS;
        let stop = CancellationToken::new();
        let task = tokio::spawn(scheduler::run(
            settings,
            scheduler::WorkerPool::default(),
            stop.clone(),
        ));
        Scheduler { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the scheduler stops within 20 s")
            .expect("join")
            .expect("clean exit");
    }
}

/// Waits until the scheduler listens for wakes on `ctx.redis`'s server, so a wake
/// published next cannot go unheard.
async fn wait_listening(ctx: &Ctx) {
    let channel = ctx.keys.dispatch_wakes();
    eventually(
        "the scheduler subscribed to its wakes",
        PATIENCE_SECS,
        || {
            let (channel, mut redis) = (channel.clone(), ctx.redis.clone());
            async move {
                let (_, listeners): (String, i64) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(&channel)
                    .query_async(&mut redis)
                    .await
                    .ok()?;
                (listeners > 0).then_some(())
            }
        },
    )
    .await;
}

/// Queues an attempt the way a writer does: the row committed, then the wake.
async fn queue_attempt(ctx: &mut Ctx, org: Uuid, project: Uuid, number: i64) -> Uuid {
    let task = fixtures::task(&mut ctx.conn, org, project, number).await;
    let (attempt, _) =
        fixtures::attempt(&mut ctx.conn, org, task, AttemptStatus::Queued, "true").await;
    shared::bus::wake_dispatcher(&mut ctx.redis, &ctx.keys).await;
    attempt
}

async fn wait_status(ctx: &Ctx, attempt: Uuid, status: AttemptStatus) {
    let db = ctx.db.clone();
    eventually(
        &format!("attempt {attempt} {status}"),
        PATIENCE_SECS,
        || {
            let db = db.clone();
            async move {
                let mut conn = db.system().await.ok()?;
                (status_of(&mut conn, attempt).await == status).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_attempt_is_scheduled_on_its_wake_without_the_fallback_tick() {
    let mut ctx = Ctx::new(None).await;
    let org = fixtures::org(&mut ctx.conn, "woken", 4).await;
    let project = fixtures::project(&mut ctx.conn, org, "/nonexistent", None).await;
    let scheduler = Scheduler::start(&ctx, None);
    wait_listening(&ctx).await;

    let first = queue_attempt(&mut ctx, org, project, 1).await;
    wait_status(&ctx, first, AttemptStatus::Scheduled).await;
    // A second wake, once the first one's round is over, makes a round of its own.
    let second = queue_attempt(&mut ctx, org, project, 2).await;
    wait_status(&ctx, second, AttemptStatus::Scheduled).await;
    scheduler.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_waiting_for_its_orgs_only_slot_is_scheduled_when_the_running_one_finishes() {
    let mut ctx = Ctx::new(None).await;
    let org = fixtures::org(&mut ctx.conn, "one-slot", 1).await;
    let project = fixtures::project(&mut ctx.conn, org, "/nonexistent", None).await;
    let scheduler = Scheduler::start(&ctx, None);
    wait_listening(&ctx).await;

    let running = queue_attempt(&mut ctx, org, project, 1).await;
    wait_status(&ctx, running, AttemptStatus::Scheduled).await;
    attempts::claim(&mut ctx.conn, running, "worker-1", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("claimed");
    let waiting = queue_attempt(&mut ctx, org, project, 2).await;
    // Its wake finds the org's only slot taken.
    assert_eq!(
        status_of(&mut ctx.conn, waiting).await,
        AttemptStatus::Queued
    );

    // The worker's end, then its wake: the slot is free.
    let end = AttemptEnd {
        status: AttemptStatus::Succeeded,
        failure_reason: None,
        head_commit: None,
        diff_summary: None,
        diff_object_key: None,
    };
    attempts::finish(&mut ctx.conn, running, "worker-1", end)
        .await
        .unwrap()
        .expect("finished");
    shared::bus::wake_dispatcher(&mut ctx.redis, &ctx.keys).await;
    wait_status(&ctx, waiting, AttemptStatus::Scheduled).await;
    scheduler.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_still_wakes_after_redis_restarts_under_its_subscription() {
    let mut redis = OwnRedis::start();
    let mut ctx = Ctx::new(Some(&redis.url)).await;
    let org = fixtures::org(&mut ctx.conn, "restarted", 4).await;
    let project = fixtures::project(&mut ctx.conn, org, "/nonexistent", None).await;
    let scheduler = Scheduler::start(&ctx, Some(&redis.url));
    wait_listening(&ctx).await;
    let before = queue_attempt(&mut ctx, org, project, 1).await;
    wait_status(&ctx, before, AttemptStatus::Scheduled).await;

    // The pub/sub connection dies with the server; a fresh, empty one comes up.
    redis.restart();
    wait_listening(&ctx).await;
    let after = queue_attempt(&mut ctx, org, project, 2).await;
    wait_status(&ctx, after, AttemptStatus::Scheduled).await;
    scheduler.stop().await;
}
