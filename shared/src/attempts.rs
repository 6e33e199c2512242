//! Every move of an attempt's status, in one place. Each move is one guarded `UPDATE`:
//! its `WHERE` names the statuses the move may start from ([`Move::from`]), so of two
//! writers racing for the same row only one wins, and each learns from the `Option` it
//! gets back whether its move applied. The scheduler, the workers and the api all call
//! these functions; none of them writes `task_attempts.status` itself.

use crate::db::Conn;
use diesel::dsl::{now, sql};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamptz};
use diesel_async::RunQueryDsl;
use std::time::Duration;
use uuid::Uuid;

use crate::db::models::TaskAttempt;
use crate::db::schema::task_attempts;
use crate::domain::AttemptStatus;

type Instant = chrono::DateTime<chrono::Utc>;

/// The moves an attempt makes, each done by one function of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The dispatcher gives a queued attempt a slot ([`schedule`]).
    Schedule,
    /// A worker takes a scheduled attempt ([`claim`]).
    Claim,
    /// The worker records how its run ended ([`finish`]).
    Finish(AttemptStatus),
    /// A stop before any worker took the attempt ([`cancel_unstarted`]).
    CancelUnstarted,
    /// A lost worker's attempt goes back to the queue ([`requeue`] with [`Requeue::Retry`]).
    Retry,
    /// A finished attempt is continued ([`requeue`] with [`Requeue::FollowUp`]).
    FollowUp,
    /// A lost worker's attempt with no retry left fails ([`fail_lost`]).
    FailLost,
}

impl Move {
    /// Every move, for tests that walk them all.
    pub const ALL: &'static [Move] = &[
        Move::Schedule,
        Move::Claim,
        Move::Finish(AttemptStatus::Succeeded),
        Move::Finish(AttemptStatus::Failed),
        Move::Finish(AttemptStatus::Cancelled),
        Move::CancelUnstarted,
        Move::Retry,
        Move::FollowUp,
        Move::FailLost,
    ];

    /// The statuses the move starts from: its guard.
    pub fn from(self) -> &'static [AttemptStatus] {
        use AttemptStatus::*;
        match self {
            Move::Schedule => &[Queued],
            Move::Claim => &[Scheduled],
            Move::Finish(_) => &[Running],
            Move::CancelUnstarted => &[Queued, Scheduled],
            Move::Retry | Move::FailLost => &[Scheduled, Running],
            Move::FollowUp => &[Succeeded, Failed],
        }
    }

    /// The status the move ends in.
    pub fn to(self) -> AttemptStatus {
        match self {
            Move::Schedule => AttemptStatus::Scheduled,
            Move::Claim => AttemptStatus::Running,
            Move::Finish(status) => status,
            Move::CancelUnstarted => AttemptStatus::Cancelled,
            Move::Retry | Move::FollowUp => AttemptStatus::Queued,
            Move::FailLost => AttemptStatus::Failed,
        }
    }
}

/// `now() + lease`, on the database's clock (the reaper compares against the same clock).
pub fn lease_until(lease: Duration) -> diesel::expression::SqlLiteral<Nullable<Timestamptz>> {
    // The number comes from our own configuration, never from a request.
    sql::<Nullable<Timestamptz>>(&format!(
        "now() + make_interval(secs => {:.3})",
        lease.as_secs_f64()
    ))
}

/// Moves those of `ids` that are still queued to scheduled; returns the rows it moved.
/// The caller picks the ids (fairness, org limits) and locks them.
pub async fn schedule(conn: &mut Conn, ids: &[Uuid]) -> QueryResult<Vec<TaskAttempt>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        task_attempts::table
            .filter(task_attempts::id.eq_any(ids))
            .filter(task_attempts::status.eq_any(Move::Schedule.from())),
    )
    .set((
        task_attempts::status.eq(Move::Schedule.to()),
        task_attempts::scheduled_at.eq(now),
    ))
    .returning(TaskAttempt::as_returning())
    .get_results(conn)
    .await
}

/// Moves a scheduled attempt to running under `worker_id`, holding a lease of `lease`.
/// `None` when it is not (or no longer) scheduled: another worker has it, it was
/// stopped, or the queue entry was a duplicate.
pub async fn claim(
    conn: &mut Conn,
    id: Uuid,
    worker_id: &str,
    lease: Duration,
) -> QueryResult<Option<TaskAttempt>> {
    diesel::update(
        task_attempts::table
            .filter(task_attempts::id.eq(id))
            .filter(task_attempts::status.eq_any(Move::Claim.from())),
    )
    .set((
        task_attempts::status.eq(Move::Claim.to()),
        task_attempts::worker_id.eq(worker_id),
        task_attempts::lease_expires_at.eq(lease_until(lease)),
        task_attempts::started_at.eq(sql::<Nullable<Timestamptz>>("coalesce(started_at, now())")),
    ))
    .returning(TaskAttempt::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// How a worker's run of an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptEnd {
    /// Succeeded, failed or cancelled.
    pub status: AttemptStatus,
    pub failure_reason: Option<String>,
    pub head_commit: Option<String>,
    pub diff_summary: Option<serde_json::Value>,
    pub diff_object_key: Option<String>,
}

/// Records how the run of `worker_id` ended and releases its lease. `None` when the
/// attempt is not running under that worker, or `end.status` is not an end.
pub async fn finish(
    conn: &mut Conn,
    id: Uuid,
    worker_id: &str,
    end: AttemptEnd,
) -> QueryResult<Option<TaskAttempt>> {
    if end.status.is_active() {
        return Ok(None);
    }
    let step = Move::Finish(end.status);
    diesel::update(
        task_attempts::table
            .filter(task_attempts::id.eq(id))
            .filter(task_attempts::worker_id.eq(worker_id))
            .filter(task_attempts::status.eq_any(step.from())),
    )
    .set((
        task_attempts::status.eq(step.to()),
        task_attempts::failure_reason.eq(end.failure_reason),
        task_attempts::head_commit.eq(end.head_commit),
        task_attempts::diff_summary.eq(end.diff_summary),
        task_attempts::diff_object_key.eq(end.diff_object_key),
        task_attempts::finished_at.eq(now),
        task_attempts::lease_expires_at.eq(None::<Instant>),
    ))
    .returning(TaskAttempt::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Cancels an attempt no worker has started (queued or scheduled); a worker's claim of
/// it then fails. `None` when it is in any other state.
pub async fn cancel_unstarted(conn: &mut Conn, id: Uuid) -> QueryResult<Option<TaskAttempt>> {
    diesel::update(
        task_attempts::table
            .filter(task_attempts::id.eq(id))
            .filter(task_attempts::status.eq_any(Move::CancelUnstarted.from())),
    )
    .set((
        task_attempts::status.eq(Move::CancelUnstarted.to()),
        task_attempts::stop_requested.eq(true),
        task_attempts::finished_at.eq(now),
    ))
    .returning(TaskAttempt::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Asks the worker of a running attempt to stop it (it sees the flag on its next
/// heartbeat and records the attempt cancelled). Leaves the status alone. `None` when
/// the attempt is not running, or a stop was already asked for.
pub async fn request_stop(conn: &mut Conn, id: Uuid) -> QueryResult<Option<TaskAttempt>> {
    diesel::update(
        task_attempts::table
            .filter(task_attempts::id.eq(id))
            .filter(task_attempts::status.eq(AttemptStatus::Running))
            .filter(task_attempts::stop_requested.eq(false)),
    )
    .set(task_attempts::stop_requested.eq(true))
    .returning(TaskAttempt::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Why an attempt goes back to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// Its worker was lost and a retry is left: one more retry spent. A stop asked for
    /// earlier still holds, so the next worker cancels it at once.
    Retry,
    /// Someone continues a finished attempt: a fresh retry budget, no stop request, and
    /// the trace of the request that asked.
    FollowUp { trace_context: Option<String> },
}

impl Requeue {
    fn step(&self) -> Move {
        match self {
            Requeue::Retry => Move::Retry,
            Requeue::FollowUp { .. } => Move::FollowUp,
        }
    }
}

/// Sends an attempt back to `queued`, looking like a fresh one: no worker, lease,
/// schedule time, end or failure. `None` when it is not in a state `why` starts from
/// (scheduled or running for a retry, succeeded or failed for a follow-up).
pub async fn requeue(conn: &mut Conn, id: Uuid, why: Requeue) -> QueryResult<Option<TaskAttempt>> {
    let step = why.step();
    let target = task_attempts::table
        .filter(task_attempts::id.eq(id))
        .filter(task_attempts::status.eq_any(step.from()));
    let fresh = (
        task_attempts::status.eq(step.to()),
        task_attempts::worker_id.eq(None::<String>),
        task_attempts::lease_expires_at.eq(None::<Instant>),
        task_attempts::queued_at.eq(now),
        task_attempts::scheduled_at.eq(None::<Instant>),
        task_attempts::finished_at.eq(None::<Instant>),
        task_attempts::failure_reason.eq(None::<String>),
    );
    let query = match why {
        Requeue::Retry => {
            diesel::update(target)
                .set((
                    fresh,
                    task_attempts::retry_count.eq(task_attempts::retry_count + 1),
                ))
                .returning(TaskAttempt::as_returning())
                .get_result(conn)
                .await
        }
        Requeue::FollowUp { trace_context } => {
            diesel::update(target)
                .set((
                    fresh,
                    task_attempts::retry_count.eq(0),
                    task_attempts::stop_requested.eq(false),
                    task_attempts::trace_context.eq(trace_context),
                ))
                .returning(TaskAttempt::as_returning())
                .get_result(conn)
                .await
        }
    };
    query.optional()
}

/// Fails an attempt whose worker was lost (or never came) when no retry is left or a
/// retry cannot help, releasing its worker and lease. `None` when it is not scheduled
/// or running.
pub async fn fail_lost(
    conn: &mut Conn,
    id: Uuid,
    reason: &str,
) -> QueryResult<Option<TaskAttempt>> {
    diesel::update(
        task_attempts::table
            .filter(task_attempts::id.eq(id))
            .filter(task_attempts::status.eq_any(Move::FailLost.from())),
    )
    .set((
        task_attempts::status.eq(Move::FailLost.to()),
        task_attempts::failure_reason.eq(reason),
        task_attempts::worker_id.eq(None::<String>),
        task_attempts::lease_expires_at.eq(None::<Instant>),
        task_attempts::finished_at.eq(now),
    ))
    .returning(TaskAttempt::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Puts an attempt in any status, bypassing every guard: for tests that need a row in a
/// state its real moves would take a whole run to reach.
#[cfg(feature = "test-support")]
pub async fn force_status(
    conn: &mut Conn,
    id: Uuid,
    status: AttemptStatus,
) -> QueryResult<TaskAttempt> {
    diesel::update(task_attempts::table.find(id))
        .set(task_attempts::status.eq(status))
        .returning(TaskAttempt::as_returning())
        .get_result(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::Move;
    use crate::domain::AttemptStatus;

    #[test]
    fn every_move_starts_only_from_states_that_may_move_to_its_end() {
        for step in Move::ALL {
            for from in step.from() {
                assert!(
                    from.can_move_to(step.to()),
                    "{step:?} moves {from} to {}, which is not a legal move",
                    step.to()
                );
            }
        }
    }

    #[test]
    fn every_legal_move_has_a_function_that_makes_it() {
        for &from in AttemptStatus::ALL {
            for &to in AttemptStatus::ALL {
                if from.can_move_to(to) {
                    assert!(
                        Move::ALL
                            .iter()
                            .any(|m| m.to() == to && m.from().contains(&from)),
                        "nothing moves {from} to {to}"
                    );
                }
            }
        }
    }
}
