//! Reading a process's log back: durable segments in the object store plus the Redis
//! tail of patches not yet uploaded, merged by seq, whole or a page at a time. Also seals
//! the log of a process whose worker died, so its history stays complete.

use redis::aio::ConnectionLike;
use tokio::io::AsyncBufReadExt;
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
    #[error("reading log segment {key}: {source}")]
    Read { key: String, source: std::io::Error },
}

/// One page of a log: consecutive patches from a seq on, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    pub patches: Vec<LogPatch>,
    /// Patches after the page are known already (the page stopped at its limits).
    pub more: bool,
}

/// What one page may hold: at most `patches` patches and about `bytes` bytes of them
/// (always at least one patch, however large).
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub patches: usize,
    pub bytes: usize,
}

/// Fills a page from patches offered in seq order, stopping at the first gap.
struct PageBuilder {
    limits: PageLimits,
    next: u64,
    bytes: usize,
    page: LogPage,
}

impl PageBuilder {
    /// Offers the next patch (`size`: its bytes); false once the page is full or broken.
    fn offer(&mut self, patch: LogPatch, size: usize) -> bool {
        if patch.seq < self.next {
            return true;
        }
        if patch.seq > self.next {
            // A gap: part of the log is not readable yet. Stop before it so the next
            // page (or the stream) starts at the missing seq.
            return false;
        }
        let full = self.page.patches.len() >= self.limits.patches
            || (!self.page.patches.is_empty() && self.bytes + size > self.limits.bytes);
        if full {
            self.page.more = true;
            return false;
        }
        self.bytes += size;
        self.next += 1;
        self.page.patches.push(patch);
        true
    }
}

/// The patches with seq ≥ `from`, a page of at most `limits`. Reads the tail first (as
/// [`history`]), then only the segments the page reaches, each line by line as it
/// arrives from the store, so the work per page is bounded by the page and one segment,
/// never by the whole log.
pub async fn page<C: ConnectionLike + Send + Sync>(
    store: &ObjectStore,
    redis: &mut C,
    keys: &Keys,
    org_id: Uuid,
    process_id: Uuid,
    from: u64,
    limits: PageLimits,
) -> Result<LogPage, LogReadError> {
    let tail = bus::read_tail(redis, keys, process_id).await?;
    let mut builder = PageBuilder {
        limits,
        next: from,
        bytes: 0,
        page: LogPage {
            patches: Vec::new(),
            more: false,
        },
    };
    let tail_first = tail.first().map(|p| p.seq);
    'segments: for key in store.list(&segments::prefix(org_id, process_id)).await? {
        let Some((first, last)) = segments::range(&key) else {
            continue;
        };
        if last < builder.next {
            continue;
        }
        // What the tail still holds is read from there.
        if tail_first.is_some_and(|t| t <= builder.next) || first > builder.next {
            break;
        }
        let Some(reader) = store.get_reader(&key).await? else {
            continue;
        };
        let mut lines = reader.lines();
        loop {
            let line = lines
                .next_line()
                .await
                .map_err(|source| LogReadError::Read {
                    key: key.clone(),
                    source,
                })?;
            let Some(line) = line else { break };
            if line.is_empty() {
                continue;
            }
            let patch: LogPatch =
                serde_json::from_str(&line).map_err(|source| LogReadError::Corrupt {
                    key: key.clone(),
                    source,
                })?;
            if !builder.offer(patch, line.len()) {
                break 'segments;
            }
        }
    }
    for patch in tail {
        let size = serde_json::to_vec(&patch).map_or(0, |b| b.len());
        if !builder.offer(patch, size) {
            break;
        }
    }
    Ok(builder.page)
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
    // Segments are named by their seq range: the listing says where the store ends.
    let next = store
        .list(&segments::prefix(org_id, process_id))
        .await?
        .iter()
        .filter_map(|key| segments::range(key))
        .map(|(_, last)| last + 1)
        .max()
        .unwrap_or(0);
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
