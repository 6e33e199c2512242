//! Holding a claimed attempt (the claim itself is `shared::attempts::claim`): the lease
//! every later write is checked against, and the heartbeat that renews the lease and
//! notices stop requests.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::attempts::lease_until;
use shared::db::Conn;
use shared::db::Db;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// One worker's hold on one attempt: which row, who holds it, for how long per renewal.
#[derive(Debug, Clone)]
pub struct Lease {
    pub attempt_id: Uuid,
    pub worker_id: String,
    pub duration: Duration,
}

impl Lease {
    /// Extends the lease if this worker still holds it, locking the row for the rest of
    /// the caller's transaction so the reaper cannot take the attempt midway. Returns the
    /// attempt's `stop_requested`, or `None` when the lease is lost.
    pub async fn renew(&self, conn: &mut Conn) -> QueryResult<Option<bool>> {
        diesel::update(
            task_attempts::table
                .filter(task_attempts::id.eq(self.attempt_id))
                .filter(task_attempts::worker_id.eq(&self.worker_id))
                .filter(task_attempts::status.eq(AttemptStatus::Running)),
        )
        .set(task_attempts::lease_expires_at.eq(lease_until(self.duration)))
        .returning(task_attempts::stop_requested)
        .get_result(conn)
        .await
        .optional()
    }

    /// Lets the lease run out now, if this worker still holds it: the reaper's next pass
    /// retries the attempt (or fails it when no retry is left). Returns whether it did.
    pub async fn release(&self, conn: &mut Conn) -> QueryResult<bool> {
        let released = diesel::update(
            task_attempts::table
                .filter(task_attempts::id.eq(self.attempt_id))
                .filter(task_attempts::worker_id.eq(&self.worker_id))
                .filter(task_attempts::status.eq(AttemptStatus::Running)),
        )
        .set(task_attempts::lease_expires_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
        Ok(released == 1)
    }
}

/// Renews the lease every `every` in the background. Cancels `stop` when someone asks the
/// attempt to stop, and `lost` when the lease is gone (taken back, or not renewable before
/// it runs out), after which the worker must write nothing more for the attempt.
pub struct Heartbeat {
    stop: CancellationToken,
    done: CancellationToken,
    handle: JoinHandle<()>,
}

impl Heartbeat {
    /// Starts renewing; the lease was taken (claimed or renewed) just now.
    pub fn spawn(db: Db, lease: Lease, every: Duration, lost: CancellationToken) -> Heartbeat {
        let stop = CancellationToken::new();
        let done = CancellationToken::new();
        let handle = tokio::spawn(beat(db, lease, every, stop.clone(), lost, done.clone()));
        Heartbeat { stop, done, handle }
    }

    /// Cancelled once a stop request has been seen.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops renewing and waits for the task to end.
    pub async fn finish(self) {
        self.done.cancel();
        let _ = self.handle.await;
    }
}

async fn beat(
    db: Db,
    lease: Lease,
    every: Duration,
    stop: CancellationToken,
    lost: CancellationToken,
    done: CancellationToken,
) {
    let mut valid_until = Instant::now() + lease.duration;
    let margin = every.min(lease.duration / 2);
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = lost.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let sent = Instant::now();
        // A try may take as long as the lease still allows: after a database restart a
        // new connection (and its role check) can take seconds on a busy host, and a try
        // cut off at each beat would never get one.
        let allowed = valid_until
            .saturating_duration_since(sent + margin)
            .max(every.max(Duration::from_secs(1)));
        let renewed = tokio::time::timeout(allowed, async {
            let mut conn = db.system().await?;
            Ok::<_, anyhow::Error>(lease.renew(&mut conn).await?)
        })
        .await;
        match renewed {
            Ok(Ok(Some(stop_requested))) => {
                valid_until = sent + lease.duration;
                if stop_requested && !stop.is_cancelled() {
                    tracing::info!(attempt.id = %lease.attempt_id, "stop requested");
                    stop.cancel();
                }
            }
            Ok(Ok(None)) => {
                tracing::warn!(attempt.id = %lease.attempt_id, "lease lost: the attempt is no longer ours");
                lost.cancel();
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(attempt.id = %lease.attempt_id, error = %e, "lease not renewed")
            }
            Err(_) => tracing::warn!(attempt.id = %lease.attempt_id, "lease renewal timed out"),
        }
        // Give up a beat before the lease runs out, so a retry elsewhere never overlaps
        // with this run.
        if Instant::now() + margin >= valid_until && !lost.is_cancelled() {
            tracing::warn!(attempt.id = %lease.attempt_id, "lease about to expire unrenewed; giving the attempt up");
            lost.cancel();
            return;
        }
    }
}
