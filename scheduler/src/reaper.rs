//! Recovers from lost workers and a lost queue. Postgres is the source of truth:
//! - a running attempt whose lease expired goes back to queued (bounded retries) or fails;
//! - a scheduled attempt that the Redis queue no longer holds (flush, restart, a worker
//!   that died between reading and claiming) is enqueued again.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use redis::aio::ConnectionManager;
use shared::attempts::{self, Requeue};
use shared::bus;
use shared::db::Db;
use shared::db::models::{ExecutionProcess, NewExecutionProcess, TaskAttempt};
use shared::db::schema::{execution_processes, task_attempts};
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::keys::Keys;
use shared::logstore;
use shared::queue::{self, QueueEntry};
use shared::store::ObjectStore;
use shared::wire;
use shared::wire::OrgEvent;
use std::time::Duration;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

/// Why a process (and, once retries are spent, its attempt) failed when its worker vanished.
pub const LOST_WORKER_REASON: &str = "worker lost: lease expired";

/// What the reaper changed in one pass, for the events it publishes after commit.
struct Reaped {
    attempt: TaskAttempt,
    lost: Vec<ExecutionProcess>,
    created: Vec<ExecutionProcess>,
}

/// Handles every running attempt whose lease has expired; returns how many. A trace of
/// its own per pass.
#[tracing::instrument(name = "scheduler.reap", parent = None, skip_all, fields(expired = Empty))]
pub async fn reap_expired_leases(
    db: &Db,
    redis: &mut ConnectionManager,
    keys: &Keys,
    store: &ObjectStore,
) -> anyhow::Result<usize> {
    let mut conn = db.system().await?;
    let reaped: Vec<Reaped> = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let expired: Vec<TaskAttempt> = task_attempts::table
                .filter(task_attempts::status.eq(AttemptStatus::Running))
                .filter(task_attempts::lease_expires_at.lt(now))
                .select(TaskAttempt::as_select())
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            let mut out = Vec::with_capacity(expired.len());
            for attempt in expired {
                out.extend(requeue_or_fail(conn, attempt, LOST_WORKER_REASON, true).await?);
            }
            Ok(out)
        })
        .await?;
    tracing::Span::current().record("expired", reaped.len());
    for r in &reaped {
        tracing::warn!(
            attempt.id = %r.attempt.id, org.id = %r.attempt.org_id, status = %r.attempt.status,
            retry_count = r.attempt.retry_count, "lease expired"
        );
    }
    publish(&mut conn, redis, keys, store, &reaped).await;
    Ok(reaped.len())
}

/// An attempt its worker can no longer finish, and how to end it. Only an attempt
/// still in `status`, held by `worker_id` when given, is touched (so a run that moved on
/// to another worker, or recorded its own end meanwhile, is left alone).
#[derive(Debug, Clone, Copy)]
pub struct Lost<'a> {
    pub attempt_id: Uuid,
    pub status: AttemptStatus,
    pub worker_id: Option<&'a str>,
    /// The interrupted processes' (and a failed attempt's) `failure_reason`.
    pub reason: &'a str,
    /// Whether another try may go better (then it is retried while retries remain).
    pub retry: bool,
}

/// Ends an attempt its worker can no longer finish (its pod was OOM-killed, evicted,
/// deleted, ran out of time, or never got its image): with `retry` and retries left it
/// goes back to `queued` with a fresh copy of each interrupted process, otherwise it
/// fails with `reason`. The interrupted processes fail with `reason` either way and their
/// logs are sealed. Returns the attempt as it now stands, or `None` when it no longer
/// matched.
pub async fn end_lost_attempt(
    db: &Db,
    redis: &mut ConnectionManager,
    keys: &Keys,
    store: &ObjectStore,
    lost: Lost<'_>,
) -> anyhow::Result<Option<TaskAttempt>> {
    let mut conn = db.system().await?;
    let worker = lost.worker_id.map(str::to_owned);
    let (attempt_id, status, retry, reason) =
        (lost.attempt_id, lost.status, lost.retry, lost.reason);
    let reason_owned = reason.to_owned();
    let reaped: Option<Reaped> = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let query = task_attempts::table
                .filter(task_attempts::id.eq(attempt_id))
                .filter(task_attempts::status.eq(status))
                .select(TaskAttempt::as_select());
            let found = match &worker {
                Some(w) => {
                    query
                        .filter(task_attempts::worker_id.eq(w))
                        .for_update()
                        .first(conn)
                        .await
                }
                None => query.for_update().first(conn).await,
            };
            let Some(attempt) = found.optional()? else {
                return Ok(None);
            };
            requeue_or_fail(conn, attempt, &reason_owned, retry).await
        })
        .await?;
    let Some(reaped) = reaped else {
        return Ok(None);
    };
    tracing::warn!(
        attempt.id = %reaped.attempt.id, org.id = %reaped.attempt.org_id,
        status = %reaped.attempt.status, retry_count = reaped.attempt.retry_count,
        reason, "attempt's worker lost"
    );
    let attempt = reaped.attempt.clone();
    publish(&mut conn, redis, keys, store, std::slice::from_ref(&reaped)).await;
    Ok(Some(attempt))
}

/// After commit: seals the lost processes' logs, tells the org what changed, and wakes
/// the dispatcher (a retried attempt is queued again; a failed one freed its slot).
async fn publish(
    conn: &mut shared::db::Conn,
    redis: &mut ConnectionManager,
    keys: &Keys,
    store: &ObjectStore,
    reaped: &[Reaped],
) {
    for r in reaped {
        // In the trace of the request that queued the attempt, like its scheduling.
        let span = tracing::info_span!(
            "scheduler.lost_attempt",
            attempt.id = %r.attempt.id,
            org.id = %r.attempt.org_id,
        );
        if let Some(parent) = &r.attempt.trace_context {
            shared::telemetry::adopt_traceparent(&span, parent);
        }
        async {
            let org = r.attempt.org_id;
            for p in &r.lost {
                // Keep the dead run's log complete: whatever only the tail held becomes a segment.
                match logstore::seal_abandoned(store, redis, keys, org, p.id).await {
                    Ok(total) => {
                        let _ = diesel::update(execution_processes::table.find(p.id))
                            .set(execution_processes::entry_count.eq(total as i64))
                            .execute(conn)
                            .await;
                    }
                    Err(e) => {
                        tracing::warn!(process.id = %p.id, error = %e, "could not seal log of lost process")
                    }
                }
                bus::emit(
                    redis,
                    keys,
                    org,
                    OrgEvent::ProcessUpdated(wire::Process::from(p.clone())),
                )
                .await;
            }
            for p in &r.created {
                bus::emit(
                    redis,
                    keys,
                    org,
                    OrgEvent::ProcessCreated(wire::Process::from(p.clone())),
                )
                .await;
            }
            bus::emit(
                redis,
                keys,
                org,
                OrgEvent::AttemptUpdated(wire::Attempt::from(r.attempt.clone())),
            )
            .await;
        }
        .instrument(span)
        .await;
    }
    if !reaped.is_empty() {
        bus::wake_dispatcher(redis, keys).await;
    }
}

/// Sends `attempt` back to `queued` (when `retry_allowed` and retries remain) or fails it,
/// failing its running processes with `reason` either way. `None` when the attempt is no
/// longer scheduled or running.
async fn requeue_or_fail(
    conn: &mut shared::db::Conn,
    attempt: TaskAttempt,
    reason: &str,
    retry_allowed: bool,
) -> Result<Option<Reaped>, diesel::result::Error> {
    let retry = retry_allowed && attempt.retry_count < attempt.max_retries;
    let moved = if retry {
        attempts::requeue(conn, attempt.id, Requeue::Retry).await?
    } else if retry_allowed {
        let reason = format!(
            "{reason}; no retries left after {} attempts",
            attempt.retry_count + 1
        );
        attempts::fail_lost(conn, attempt.id, &reason).await?
    } else {
        attempts::fail_lost(conn, attempt.id, reason).await?
    };
    let Some(attempt) = moved else {
        return Ok(None);
    };
    let lost: Vec<ExecutionProcess> = diesel::update(
        execution_processes::table
            .filter(execution_processes::attempt_id.eq(attempt.id))
            .filter(execution_processes::status.eq(ProcessStatus::Running)),
    )
    .set((
        execution_processes::status.eq(ProcessStatus::Failed),
        execution_processes::failure_reason.eq(reason),
        execution_processes::finished_at.eq(now),
    ))
    .returning(ExecutionProcess::as_returning())
    .get_results(conn)
    .await?;

    let mut created = Vec::new();
    if retry {
        // The retry runs the interrupted processes again, as new processes with logs of their own.
        for p in &lost {
            let copy = NewExecutionProcess {
                id: Uuid::now_v7(),
                org_id: p.org_id,
                attempt_id: p.attempt_id,
                run_reason: p.run_reason,
                status: ProcessStatus::Queued,
                prompt: &p.prompt,
            };
            created.push(
                diesel::insert_into(execution_processes::table)
                    .values(&copy)
                    .returning(ExecutionProcess::as_returning())
                    .get_result(conn)
                    .await?,
            );
        }
    } else {
        diesel::update(
            execution_processes::table
                .filter(execution_processes::attempt_id.eq(attempt.id))
                .filter(execution_processes::status.eq(ProcessStatus::Queued)),
        )
        .set((
            execution_processes::status.eq(ProcessStatus::Killed),
            execution_processes::failure_reason.eq("attempt failed before this process ran"),
            execution_processes::finished_at.eq(now),
        ))
        .execute(conn)
        .await?;
    }
    Ok(Some(Reaped {
        attempt,
        lost,
        created,
    }))
}

/// Enqueues again every scheduled attempt the Redis queue no longer holds. Entries stuck
/// with a consumer that never acknowledged them for `redeliver_after` are taken back first.
/// `grace` skips attempts scheduled moments ago, whose push may still be in flight.
#[tracing::instrument(name = "scheduler.reconcile_queue", parent = None, skip_all, fields(missing = Empty))]
pub async fn requeue_missing(
    db: &Db,
    redis: &mut ConnectionManager,
    keys: &Keys,
    redeliver_after: Duration,
    grace: Duration,
) -> anyhow::Result<usize> {
    let reclaimed =
        queue::reclaim_abandoned(redis, keys, redeliver_after.as_millis() as usize).await?;
    if !reclaimed.is_empty() {
        tracing::info!(
            count = reclaimed.len(),
            "took back queue entries a consumer abandoned"
        );
    }
    let members = queue::members(redis, keys).await?;
    let mut conn = db.system().await?;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(grace)?;
    let scheduled: Vec<(Uuid, Uuid, Option<String>)> = task_attempts::table
        .filter(task_attempts::status.eq(AttemptStatus::Scheduled))
        .filter(task_attempts::scheduled_at.lt(cutoff))
        .select((
            task_attempts::id,
            task_attempts::org_id,
            task_attempts::trace_context,
        ))
        .load(&mut conn)
        .await?;
    let missing: Vec<QueueEntry> = scheduled
        .into_iter()
        .filter(|(id, _, _)| !members.contains(id))
        .map(|(attempt_id, org_id, traceparent)| QueueEntry {
            attempt_id,
            org_id,
            traceparent,
        })
        .collect();
    tracing::Span::current().record("missing", missing.len());
    if !missing.is_empty() {
        tracing::warn!(
            count = missing.len(),
            "re-enqueueing scheduled attempts missing from the queue"
        );
        queue::enqueue(redis, keys, &missing).await?;
    }
    Ok(missing.len())
}
