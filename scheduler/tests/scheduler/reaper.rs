use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use scheduler::dispatch::dispatch_once;
use scheduler::reaper::{LOST_WORKER_REASON, reap_expired_leases, requeue_missing};
use shared::db::models::ExecutionProcess;
use shared::db::schema::{execution_processes, task_attempts};
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::logs::{EntryContent, LogEntry, LogPatch, OutputStream, PatchOp, segments};
use shared::metrics::Metrics;
use shared::testing::{OwnRedis, fixtures};
use shared::{bus, logstore, queue};
use std::time::Duration;
use uuid::Uuid;

use crate::{Ctx, status_of};

fn patch(seq: u64) -> LogPatch {
    LogPatch {
        seq,
        op: PatchOp::Append,
        index: seq,
        entry: LogEntry {
            timestamp: Utc::now(),
            content: EntryContent::Output {
                stream: OutputStream::Stdout,
                text: format!("line {seq}"),
            },
        },
    }
}

/// Puts the attempt in `running` with a lease that ran out a second ago, its process running.
async fn expire(conn: &mut shared::db::Conn, attempt: Uuid, process: Uuid, retry_count: i32) {
    shared::attempts::force_status(conn, attempt, AttemptStatus::Running)
        .await
        .unwrap();
    diesel::update(task_attempts::table.find(attempt))
        .set((
            task_attempts::worker_id.eq("gone-worker"),
            task_attempts::retry_count.eq(retry_count),
            task_attempts::lease_expires_at.eq(Utc::now() - chrono::Duration::seconds(1)),
        ))
        .execute(conn)
        .await
        .unwrap();
    diesel::update(execution_processes::table.find(process))
        .set(execution_processes::status.eq(ProcessStatus::Running))
        .execute(conn)
        .await
        .unwrap();
}

async fn processes(conn: &mut shared::db::Conn, attempt: Uuid) -> Vec<ExecutionProcess> {
    execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt))
        .order(execution_processes::created_at.asc())
        .select(ExecutionProcess::as_select())
        .load(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_lease_requeues_attempt_and_reruns_its_process() {
    let Ctx {
        env: _env,
        db,
        mut conn,
        mut redis,
        keys,
        store,
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "reaped", 4).await;
    let project = fixtures::project(&mut conn, org, "/x", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (attempt, process) =
        fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "echo hi").await;
    expire(&mut conn, attempt, process, 0).await;

    // The dead worker had uploaded patches 0..=1 and left 2..=3 only in the tail.
    store
        .put(
            &segments::key(org, process, 0, 1),
            segments::encode(&[patch(0), patch(1)]),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let tail = segments::encode(&[patch(1), patch(2), patch(3)]);
    bus::publish_segment(&mut redis, &keys, process, &tail)
        .await
        .unwrap();

    assert_eq!(
        reap_expired_leases(&db, &mut redis, &keys, &store)
            .await
            .unwrap(),
        1
    );
    assert_eq!(status_of(&mut conn, attempt).await, AttemptStatus::Queued);
    let procs = processes(&mut conn, attempt).await;
    assert_eq!(procs.len(), 2);
    assert_eq!(procs[0].status, ProcessStatus::Failed);
    assert_eq!(procs[0].failure_reason.as_deref(), Some(LOST_WORKER_REASON));
    assert_eq!(
        procs[0].entry_count, 4,
        "the sealed log holds what only the tail had"
    );
    assert_eq!(
        (procs[1].status, procs[1].prompt.as_str()),
        (ProcessStatus::Queued, "echo hi")
    );

    let log = logstore::stored_patches(&store, org, process, 0)
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(
        bus::read_tail(&mut redis, &keys, process)
            .await
            .unwrap()
            .is_empty()
    );

    let retry_count: i32 = task_attempts::table
        .find(attempt)
        .select(task_attempts::retry_count)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(retry_count, 1);
    // Nothing left to reap.
    assert_eq!(
        reap_expired_leases(&db, &mut redis, &keys, &store)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_lease_with_no_retries_left_fails_with_a_reason() {
    let Ctx {
        env: _env,
        db,
        mut conn,
        mut redis,
        keys,
        store,
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "exhausted", 4).await;
    let project = fixtures::project(&mut conn, org, "/x", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (attempt, process) =
        fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "echo hi").await;
    expire(&mut conn, attempt, process, 2).await;

    reap_expired_leases(&db, &mut redis, &keys, &store)
        .await
        .unwrap();
    let (status, reason, finished): (AttemptStatus, Option<String>, Option<chrono::DateTime<Utc>>) =
        task_attempts::table
            .find(attempt)
            .select((
                task_attempts::status,
                task_attempts::failure_reason,
                task_attempts::finished_at,
            ))
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(status, AttemptStatus::Failed);
    let reason = reason.unwrap();
    assert!(
        reason.contains(LOST_WORKER_REASON) && reason.contains("no retries left"),
        "{reason}"
    );
    assert!(finished.is_some());
    assert_eq!(
        processes(&mut conn, attempt).await.len(),
        1,
        "no rerun is created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_attempts_lost_in_a_redis_flush_are_enqueued_again() {
    let own = OwnRedis::start();
    let Ctx {
        env: _env,
        db,
        mut conn,
        mut redis,
        keys,
        store: _,
    } = Ctx::new(Some(&own.url)).await;
    let org = fixtures::org(&mut conn, "flushed", 10).await;
    let project = fixtures::project(&mut conn, org, "/x", None).await;
    let mut attempts = Vec::new();
    for n in 1..=5 {
        let task = fixtures::task(&mut conn, org, project, n).await;
        attempts.push(
            fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true")
                .await
                .0,
        );
    }
    assert_eq!(
        dispatch_once(&db, &mut redis, &keys, 100, &Metrics::new().unwrap())
            .await
            .unwrap(),
        5
    );

    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(queue::members(&mut redis, &keys).await.unwrap().is_empty());

    // Attempts scheduled moments ago are left alone (their push may be in flight) ...
    assert_eq!(
        requeue_missing(
            &db,
            &mut redis,
            &keys,
            Duration::from_secs(30),
            Duration::from_secs(60)
        )
        .await
        .unwrap(),
        0
    );
    // ... and re-enqueued once past the grace period; a second pass finds nothing missing.
    assert_eq!(
        requeue_missing(
            &db,
            &mut redis,
            &keys,
            Duration::from_secs(30),
            Duration::ZERO
        )
        .await
        .unwrap(),
        5
    );
    assert_eq!(
        requeue_missing(
            &db,
            &mut redis,
            &keys,
            Duration::from_secs(30),
            Duration::ZERO
        )
        .await
        .unwrap(),
        0
    );

    // Every one of them can be read from the rebuilt queue (the group was recreated).
    let mut reader = shared::redis_conn::dedicated(&own.url).await.unwrap();
    let mut seen = Vec::new();
    while let Some(d) = queue::next(&mut reader, &keys, "w1", 200).await.unwrap() {
        seen.push(d.entry.attempt_id);
    }
    seen.sort();
    attempts.sort();
    assert_eq!(seen, attempts);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_abandoned_by_a_dead_consumer_are_delivered_again() {
    let Ctx {
        env,
        db,
        mut conn,
        mut redis,
        keys,
        store: _,
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "abandoned", 10).await;
    let project = fixtures::project(&mut conn, org, "/x", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (attempt, _) = fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;
    dispatch_once(&db, &mut redis, &keys, 10, &Metrics::new().unwrap())
        .await
        .unwrap();

    // A consumer reads the entry and dies before claiming the attempt.
    let mut dead = shared::redis_conn::dedicated(&env.settings.redis.url)
        .await
        .unwrap();
    assert!(
        queue::next(&mut dead, &keys, "dead", 500)
            .await
            .unwrap()
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;

    assert_eq!(
        requeue_missing(
            &db,
            &mut redis,
            &keys,
            Duration::from_millis(10),
            Duration::ZERO
        )
        .await
        .unwrap(),
        1
    );
    let mut alive = shared::redis_conn::dedicated(&env.settings.redis.url)
        .await
        .unwrap();
    let d = queue::next(&mut alive, &keys, "alive", 500)
        .await
        .unwrap()
        .expect("redelivered");
    assert_eq!(d.entry.attempt_id, attempt);
}
