//! The scheduler: moves queued attempts into the Redis queue within each org's limits,
//! recovers from lost workers and a lost queue, and (with the local backend) keeps worker
//! processes alive.

pub mod capacity;
pub mod dispatch;
pub mod reaper;

use shared::config::{CapacityBackend, Settings};
use shared::db::Db;
use shared::keys::Keys;
use shared::shutdown::CancellationToken;
use shared::store::ObjectStore;
use std::time::Duration;

pub use capacity::local::WorkerPool;

/// How often the reaper looks for expired leases and lost queue entries.
const REAP_EVERY: Duration = Duration::from_millis(1_000);
/// A just-scheduled attempt's push may still be in flight; the reconciler leaves it alone this long.
const ENQUEUE_GRACE: Duration = Duration::from_secs(2);

/// Runs dispatch, reaping and the capacity backend until `shutdown`.
pub async fn run(
    settings: Settings,
    workers: WorkerPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = Db::new(&settings.database)?;
    let redis = shared::redis_conn::manager(&settings.redis.url).await?;
    let keys = Keys::new(settings.redis.prefix.clone());
    let store = ObjectStore::new(&settings.s3);

    let capacity = match settings.scheduler.backend {
        CapacityBackend::Local => {
            let settings = settings.clone();
            let shutdown = shutdown.clone();
            Some(tokio::spawn(capacity::local::run(
                settings, workers, shutdown,
            )))
        }
        CapacityBackend::External => None,
    };

    let dispatcher = {
        let (db, mut redis, keys, shutdown) =
            (db.clone(), redis.clone(), keys.clone(), shutdown.clone());
        let tick = Duration::from_millis(settings.scheduler.tick_ms);
        let batch = settings.scheduler.batch_size;
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                let scheduled = match dispatch::dispatch_once(&db, &mut redis, &keys, batch).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "dispatch failed; retrying");
                        0
                    }
                };
                // A full batch means more may be waiting: go again at once.
                if scheduled < batch as usize {
                    tokio::select! {
                        _ = tokio::time::sleep(tick) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
            }
        })
    };

    let reaper = {
        let (mut redis, keys, shutdown) = (redis.clone(), keys.clone(), shutdown.clone());
        let redeliver = Duration::from_millis(settings.scheduler.redeliver_after_ms);
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                if let Err(e) = reaper::reap_expired_leases(&db, &mut redis, &keys, &store).await {
                    tracing::warn!(error = %e, "lease reaping failed; retrying");
                }
                if let Err(e) =
                    reaper::requeue_missing(&db, &mut redis, &keys, redeliver, ENQUEUE_GRACE).await
                {
                    tracing::warn!(error = %e, "queue reconciliation failed; retrying");
                }
                tokio::select! {
                    _ = tokio::time::sleep(REAP_EVERY) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        })
    };

    dispatcher.await?;
    reaper.await?;
    if let Some(c) = capacity {
        c.await??;
    }
    Ok(())
}
