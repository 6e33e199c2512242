//! Moves queued attempts to scheduled, within each org's concurrency limit and fairly
//! across orgs, then hands them to the Redis queue.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use redis::aio::ConnectionManager;
use shared::attempts;
use shared::bus;
use shared::db::Db;
use shared::db::models::TaskAttempt;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;
use shared::keys::Keys;
use shared::metrics::Metrics;
use shared::queue::{self, QueueEntry};
use shared::telemetry;
use shared::wire;
use std::collections::HashMap;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

diesel::define_sql_function! {
    /// Transaction-scoped advisory lock: one dispatcher at a time across replicas, so two
    /// schedulers can never both fill the same org's last slot.
    fn pg_try_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

/// Advisory-lock key of the dispatcher ("SYDISPAT" in ASCII).
const DISPATCH_LOCK: i64 = 0x5359_4449_5350_4154;

/// Queued attempts that fit their org's free slots, round-robin across orgs: every org's
/// oldest first, then every org's second, and so on. Ranking inside SQL means a big
/// org's backlog can never fill the batch with attempts that have no slot to go to.
const FAIR_CANDIDATES: &str = "
    WITH active AS (
        SELECT org_id, count(*) AS n FROM task_attempts
        WHERE status IN ('scheduled', 'running') GROUP BY org_id
    ), ranked AS (
        SELECT id, org_id, queued_at,
               row_number() OVER (PARTITION BY org_id ORDER BY queued_at, id) AS rank
        FROM task_attempts WHERE status = 'queued'
    )
    SELECT r.id
    FROM ranked r
    JOIN organizations o ON o.id = r.org_id
    LEFT JOIN active a ON a.org_id = r.org_id
    WHERE r.rank <= o.max_concurrent_attempts - coalesce(a.n, 0)
    ORDER BY r.rank, r.queued_at, r.id
    LIMIT $1";

/// A queued attempt that has a slot.
#[derive(Debug, QueryableByName)]
struct Candidate {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// One dispatch round; returns how many attempts were scheduled. The pass is a trace of
/// its own (not a child of the long-lived loop span); each attempt it schedules gets a
/// `scheduler.schedule` span in the trace of the request that queued it.
#[tracing::instrument(name = "scheduler.dispatch", parent = None, skip_all, fields(scheduled = Empty))]
pub async fn dispatch_once(
    db: &Db,
    redis: &mut ConnectionManager,
    keys: &Keys,
    batch: i64,
    metrics: &Metrics,
) -> anyhow::Result<usize> {
    let mut conn = db.system().await?;
    let picked: Vec<(QueueEntry, TaskAttempt)> = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let locked: bool = diesel::select(pg_try_advisory_xact_lock(DISPATCH_LOCK))
                .get_result(conn)
                .await?;
            if !locked {
                return Ok(Vec::new());
            }
            let candidates: Vec<Candidate> = diesel::sql_query(FAIR_CANDIDATES)
                .bind::<diesel::sql_types::BigInt, _>(batch)
                .load(conn)
                .await?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            // Lock them, re-checking the status: a stop may have cancelled one meanwhile.
            let ids: Vec<Uuid> = candidates.iter().map(|c| c.id).collect();
            let locked: Vec<Uuid> = task_attempts::table
                .filter(task_attempts::id.eq_any(&ids))
                .filter(task_attempts::status.eq(AttemptStatus::Queued))
                .select(task_attempts::id)
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            let mut scheduled: HashMap<Uuid, TaskAttempt> = attempts::schedule(conn, &locked)
                .await?
                .into_iter()
                .map(|a| (a.id, a))
                .collect();
            // In the fair order the candidates came in.
            Ok(candidates
                .iter()
                .filter_map(|c| scheduled.remove(&c.id))
                .map(|a| {
                    let entry = QueueEntry {
                        attempt_id: a.id,
                        org_id: a.org_id,
                        traceparent: a.trace_context.clone(),
                    };
                    (entry, a)
                })
                .collect())
        })
        .await?;
    tracing::Span::current().record("scheduled", picked.len());
    if picked.is_empty() {
        return Ok(0);
    }
    // After commit, the dashboards first: no worker can have the attempt yet, so no
    // board hears of it running before it hears of it scheduled.
    let mut entries = Vec::with_capacity(picked.len());
    for (entry, row) in picked {
        let waited = row
            .scheduled_at
            .map(|at| (at - row.queued_at).num_milliseconds().max(0))
            .unwrap_or(0);
        metrics.observe_queue_wait(waited as f64 / 1_000.0);
        let span = tracing::info_span!(
            "scheduler.schedule",
            attempt.id = %entry.attempt_id,
            org.id = %entry.org_id,
            queue_wait_ms = waited,
        );
        if let Some(parent) = &entry.traceparent {
            telemetry::adopt_traceparent(&span, parent);
        }
        async {
            tracing::debug!("attempt scheduled");
            bus::emit(
                redis,
                keys,
                entry.org_id,
                wire::OrgEvent::AttemptUpdated(wire::Attempt::from(row)),
            )
            .await;
        }
        .instrument(span)
        .await;
        entries.push(entry);
    }
    // Keyed by attempt id: if this push fails, the reconciler re-enqueues.
    queue::enqueue(redis, keys, &entries).await?;
    Ok(entries.len())
}
