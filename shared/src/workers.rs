//! The live worker registry: each worker announces, every few seconds, which executors
//! it can run, so the api can refuse an attempt no worker could ever run instead of
//! leaving it queued for good. Entries not refreshed within [`STALE_AFTER`] are ignored.

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionLike;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

use crate::keys::Keys;

/// How often a worker refreshes its entry.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);
/// An entry older than this belongs to a worker that is gone.
pub const STALE_AFTER: Duration = Duration::from_secs(35);

/// What one worker can run, as of `seen_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerInfo {
    pub worker_id: String,
    pub executors: Vec<String>,
    pub seen_at: DateTime<Utc>,
}

/// Writes (or refreshes) this worker's entry.
pub async fn announce<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    info: &WorkerInfo,
) -> redis::RedisResult<()> {
    let body = serde_json::to_string(info).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::Client, "worker info", e.to_string()))
    })?;
    conn.hset(keys.workers(), &info.worker_id, body).await
}

/// Removes this worker's entry (on shutdown).
pub async fn withdraw<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    worker_id: &str,
) -> redis::RedisResult<()> {
    conn.hdel(keys.workers(), worker_id).await
}

/// The workers seen recently, and drops the stale entries it finds.
pub async fn live<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<Vec<WorkerInfo>> {
    let all: BTreeMap<String, String> = conn.hgetall(keys.workers()).await?;
    let cutoff = Utc::now() - chrono::Duration::from_std(STALE_AFTER).unwrap_or_default();
    let mut live = Vec::new();
    for (id, body) in all {
        match serde_json::from_str::<WorkerInfo>(&body) {
            Ok(info) if info.seen_at >= cutoff => live.push(info),
            _ => {
                let _: () = conn.hdel(keys.workers(), &id).await?;
            }
        }
    }
    Ok(live)
}
