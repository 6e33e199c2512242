//! Reading a process's log back: durable segments in the object store plus the Redis
//! tail of patches not yet uploaded, merged by seq. Also seals the log of a process
//! whose worker died, so its history stays complete.

use redis::aio::ConnectionLike;
use uuid::Uuid;

use crate::bus;
use crate::keys::Keys;
use crate::logs::{LogPatch, segments};
use crate::store::{ObjectStore, StoreError};

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("corrupt log segment {key}: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
}

/// Patches with seq ≥ `from` from the object store, in order.
pub async fn stored_patches(
    store: &ObjectStore,
    org_id: Uuid,
    process_id: Uuid,
    from: u64,
) -> Result<Vec<LogPatch>, LogReadError> {
    let mut out = Vec::new();
    for key in store.list(&segments::prefix(org_id, process_id)).await? {
        match segments::range(&key) {
            Some((_, last)) if last < from => continue,
            Some(_) => {}
            None => continue,
        }
        let Some(bytes) = store.get(&key).await? else {
            continue;
        };
        let patches = segments::decode(&bytes).map_err(|source| LogReadError::Corrupt {
            key: key.clone(),
            source,
        })?;
        out.extend(patches.into_iter().filter(|p| p.seq >= from));
    }
    Ok(out)
}

/// Every patch with seq ≥ `from` known so far, in order without duplicates. Reads the tail
/// before the store: a patch leaves the tail only after it is durable, so whatever was
/// trimmed between the two reads is already in the store.
pub async fn history<C: ConnectionLike + Send + Sync>(
    store: &ObjectStore,
    redis: &mut C,
    keys: &Keys,
    org_id: Uuid,
    process_id: Uuid,
    from: u64,
) -> Result<Vec<LogPatch>, LogReadError> {
    let tail = bus::read_tail(redis, keys, process_id).await?;
    let stored = stored_patches(store, org_id, process_id, from).await?;
    Ok(merge(
        stored,
        tail.into_iter().filter(|p| p.seq >= from).collect(),
    ))
}

/// Merges two runs of patches by seq, dropping duplicates.
pub fn merge(mut a: Vec<LogPatch>, b: Vec<LogPatch>) -> Vec<LogPatch> {
    a.extend(b);
    a.sort_by_key(|p| p.seq);
    a.dedup_by_key(|p| p.seq);
    a
}

/// For a process whose worker is gone: uploads whatever only the tail still holds as a
/// final segment, announces the end, and returns the number of patches in the log.
pub async fn seal_abandoned<C: ConnectionLike + Send + Sync>(
    store: &ObjectStore,
    redis: &mut C,
    keys: &Keys,
    org_id: Uuid,
    process_id: Uuid,
) -> Result<u64, LogReadError> {
    let stored = stored_patches(store, org_id, process_id, 0).await?;
    let next = stored.last().map(|p| p.seq + 1).unwrap_or(0);
    let tail: Vec<LogPatch> = bus::read_tail(redis, keys, process_id)
        .await?
        .into_iter()
        .filter(|p| p.seq >= next)
        .collect();
    let mut total = next;
    if let (Some(first), Some(last)) = (tail.first(), tail.last()) {
        let key = segments::key(org_id, process_id, first.seq, last.seq);
        store
            .put(&key, segments::encode(&tail), "application/x-ndjson")
            .await?;
        total = last.seq + 1;
    }
    bus::publish_log_end(redis, keys, process_id, total).await?;
    Ok(total)
}
