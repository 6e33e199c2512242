//! Ships one process's output as log patches: live to Redis (tail list + pub/sub, in
//! batches) and durably to the object store (segments of whole batches), trimming the
//! tail once a segment is stored. Seq numbers start at 0 and have no gaps.
//!
//! The shipper takes entry changes (append entry i, replace entry i) from the process's
//! normalizer and gives each its seq. Batching is natural: it waits for one change, takes
//! whatever else is already queued, and publishes that as one batch. A segment is written every `flush` interval
//! or when it would exceed `max_entries`, whichever comes first.
//!
//! A process's log is bounded: once its entries reach `max_bytes`, the shipper appends
//! one system message saying the rest was dropped, and drops every later change (still
//! draining the channel, so the process never blocks on its output).
//!
//! So is what waits for the object store: with more than `max_unstored_bytes` published
//! but not stored, the shipper stops taking output (the channel fills, then the process's
//! pipe) until the store takes it, and the log ends with a message saying how long
//! output waited. At the end it keeps retrying the store for up to `patience`.

use crate::patience::Patience;
use redis::aio::ConnectionManager;
use shared::bus;
use shared::keys::Keys;
use shared::logs::{EntryContent, LogEntry, LogPatch, PatchOp, segments};
use shared::store::ObjectStore;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

/// One change to a process's entry list, before it gets its seq.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryChange {
    pub op: PatchOp,
    pub index: u64,
    pub entry: LogEntry,
}

/// Most changes published in one batch.
const MAX_BATCH: usize = 500;
/// Lines waiting for the shipper before the process's output pipe blocks.
pub const CHANNEL_CAPACITY: usize = 4096;

/// Where and how one process's log is shipped.
#[derive(Clone)]
pub struct ShipTarget {
    pub redis: ConnectionManager,
    pub store: ObjectStore,
    pub keys: Keys,
    pub org_id: Uuid,
    pub process_id: Uuid,
    /// Most patches per stored segment.
    pub max_entries: usize,
    /// Longest time a published patch waits before it is stored.
    pub flush: Duration,
    /// Most bytes of entries (as JSON) kept for the process; the rest is dropped.
    pub max_bytes: u64,
    /// Most bytes of patches (as JSON) published but not yet stored before output waits.
    pub max_unstored_bytes: u64,
    /// How long the end of the output keeps retrying the store for what is left.
    pub patience: Duration,
}

/// What the shipper did once the output ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipSummary {
    /// Patches shipped: the next seq, and the process's entry count.
    pub total: u64,
    /// Every patch is in the object store. When false the rest is still in the Redis tail,
    /// which must then not be dropped.
    pub durable: bool,
    /// Output past `max_bytes` was dropped (the log ends with a message saying so).
    pub truncated: bool,
}

/// One published batch, kept until it is stored.
struct Batch {
    /// Its patches encoded once, as a segment's lines: the tail, the channel and the
    /// store all get these bytes.
    lines: Vec<u8>,
    first_seq: u64,
    entries: usize,
    /// Whether the batch made it into the Redis tail (and so must be trimmed later).
    in_tail: bool,
}

/// Starts the shipper; it ends once every sender of the returned channel is dropped.
pub fn spawn(target: ShipTarget) -> (mpsc::Sender<EntryChange>, JoinHandle<ShipSummary>) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let handle = tokio::spawn(Shipper::new(target).run(rx));
    (tx, handle)
}

struct Shipper {
    t: ShipTarget,
    next_seq: u64,
    /// Published, not yet stored, oldest first.
    pending: VecDeque<Batch>,
    pending_entries: usize,
    pending_bytes: u64,
    /// How long output waited for the store, in all.
    waited: Duration,
    /// When the oldest pending batch was published (or a failed store was last tried).
    pending_since: Option<Instant>,
    /// Stored batches still in the tail, to trim once Redis answers.
    untrimmed: usize,
    /// Bytes of entries shipped so far, against `max_bytes`.
    shipped_bytes: u64,
    /// Entries appended so far: where the truncation message goes.
    entries: u64,
    truncated: bool,
}

impl Shipper {
    fn new(t: ShipTarget) -> Shipper {
        Shipper {
            t,
            next_seq: 0,
            pending: VecDeque::new(),
            pending_entries: 0,
            pending_bytes: 0,
            waited: Duration::ZERO,
            pending_since: None,
            untrimmed: 0,
            shipped_bytes: 0,
            entries: 0,
            truncated: false,
        }
    }

    /// Keeps the changes that fit in the byte budget; at the first that does not, puts
    /// the truncation message in its place and marks the log truncated.
    fn within_budget(&mut self, changes: Vec<EntryChange>) -> Vec<EntryChange> {
        let mut kept = Vec::with_capacity(changes.len());
        for change in changes {
            if self.truncated {
                break;
            }
            let size = json_size(&change.entry);
            if self.shipped_bytes + size > self.t.max_bytes {
                self.truncated = true;
                tracing::warn!(
                    process.id = %self.t.process_id,
                    max_bytes = self.t.max_bytes,
                    "process log truncated"
                );
                kept.push(EntryChange {
                    op: PatchOp::Append,
                    index: self.entries,
                    entry: LogEntry {
                        timestamp: chrono::Utc::now(),
                        content: EntryContent::SystemMessage {
                            text: format!(
                                "Log truncated: the output passed {} bytes (worker.max_log_bytes_per_process); the rest was not kept.",
                                self.t.max_bytes
                            ),
                        },
                    },
                });
                self.entries += 1;
                break;
            }
            self.shipped_bytes += size;
            if change.op == PatchOp::Append {
                self.entries = self.entries.max(change.index + 1);
            }
            kept.push(change);
        }
        kept
    }

    async fn run(mut self, mut rx: mpsc::Receiver<EntryChange>) -> ShipSummary {
        let batch_cap = MAX_BATCH.min(self.t.max_entries.max(1));
        loop {
            if self.pending_bytes > self.t.max_unstored_bytes {
                self.catch_up().await;
            }
            let deadline = self.pending_since.map(|t| t + self.t.flush);
            let first = tokio::select! {
                line = rx.recv() => line,
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.store_pending().await;
                    continue;
                }
            };
            let Some(first) = first else { break };
            if self.truncated {
                continue;
            }
            let mut changes = vec![first];
            while changes.len() < batch_cap {
                match rx.try_recv() {
                    Ok(change) => changes.push(change),
                    Err(_) => break,
                }
            }
            let changes = self.within_budget(changes);
            if self.pending_entries + changes.len() > self.t.max_entries {
                self.store_pending().await;
            }
            self.publish(changes).await;
            if self.pending_entries >= self.t.max_entries {
                self.store_pending().await;
            }
        }
        if !self.waited.is_zero() {
            self.say_how_long_output_waited().await;
        }
        let mut patience = Patience::lasting(self.t.patience);
        loop {
            self.store_pending().await;
            if self.pending.is_empty() || !patience.pause().await {
                break;
            }
        }
        let durable = self.pending.is_empty();
        if !durable {
            tracing::error!(
                process.id = %self.t.process_id,
                entries = self.pending_entries,
                "log segments could not be stored; they stay in the Redis tail"
            );
        }
        ShipSummary {
            total: self.next_seq,
            durable,
            truncated: self.truncated,
        }
    }

    /// Too much waits for the store: takes no more output until it has caught up.
    async fn catch_up(&mut self) {
        let started = Instant::now();
        tracing::warn!(
            process.id = %self.t.process_id,
            unstored_bytes = self.pending_bytes,
            "object store behind; the process's output waits"
        );
        let mut patience = Patience::endless();
        loop {
            self.store_pending().await;
            if self.pending_bytes <= self.t.max_unstored_bytes {
                break;
            }
            patience.pause().await;
        }
        self.waited += started.elapsed();
    }

    /// Ends the log with a message saying output waited for the store, and how long.
    async fn say_how_long_output_waited(&mut self) {
        let text = format!(
            "The log store was unreachable: output waited {:.1} s in all while {} bytes were unstored (worker.max_unstored_log_bytes). Nothing was dropped.",
            self.waited.as_secs_f64(),
            self.t.max_unstored_bytes
        );
        let index = self.entries;
        self.entries += 1;
        self.publish(vec![EntryChange {
            op: PatchOp::Append,
            index,
            entry: LogEntry {
                timestamp: chrono::Utc::now(),
                content: EntryContent::SystemMessage { text },
            },
        }])
        .await;
    }

    /// Numbers the changes and publishes them as one batch.
    async fn publish(&mut self, changes: Vec<EntryChange>) {
        if changes.is_empty() {
            return;
        }
        let first_seq = self.next_seq;
        let patches: Vec<LogPatch> = changes
            .into_iter()
            .map(|change| {
                let seq = self.next_seq;
                self.next_seq += 1;
                LogPatch {
                    seq,
                    op: change.op,
                    index: change.index,
                    entry: change.entry,
                }
            })
            .collect();
        let lines = segments::encode(&patches);
        let in_tail = match bus::publish_segment(
            &mut self.t.redis,
            &self.t.keys,
            self.t.process_id,
            &lines,
        )
        .await
        {
            Ok(()) => true,
            Err(e) => {
                // Live viewers miss this batch, but it still goes to the store.
                tracing::warn!(process.id = %self.t.process_id, error = %e, "log batch not published");
                false
            }
        };
        self.pending_entries += patches.len();
        self.pending_bytes += lines.len() as u64;
        self.pending.push_back(Batch {
            lines,
            first_seq,
            entries: patches.len(),
            in_tail,
        });
        self.pending_since.get_or_insert_with(Instant::now);
    }

    /// Stores pending batches as segments of at most `max_entries` (whole batches), then
    /// trims what is stored from the tail. On a store error keeps the rest for the next try.
    async fn store_pending(&mut self) {
        while let Some(oldest) = self.pending.front() {
            let first_seq = oldest.first_seq;
            let mut take = 0;
            let mut entries = 0;
            let mut bytes = 0;
            for b in &self.pending {
                if take > 0 && entries + b.entries > self.t.max_entries {
                    break;
                }
                entries += b.entries;
                bytes += b.lines.len();
                take += 1;
            }
            let last_seq = first_seq + entries as u64 - 1;
            let mut segment = Vec::with_capacity(bytes);
            for b in self.pending.iter().take(take) {
                segment.extend_from_slice(&b.lines);
            }
            let key = segments::key(self.t.org_id, self.t.process_id, first_seq, last_seq);
            if let Err(e) = self
                .t
                .store
                .put(&key, segment, "application/x-ndjson")
                .await
            {
                tracing::warn!(process.id = %self.t.process_id, error = %e, "log segment not stored; will retry");
                self.pending_since = Some(Instant::now());
                return;
            }
            for b in self.pending.drain(..take) {
                self.pending_entries -= b.entries;
                self.pending_bytes -= b.lines.len() as u64;
                if b.in_tail {
                    self.untrimmed += 1;
                }
            }
        }
        self.pending_since = None;
        if self.untrimmed > 0 {
            match bus::trim_tail(
                &mut self.t.redis,
                &self.t.keys,
                self.t.process_id,
                self.untrimmed,
            )
            .await
            {
                Ok(()) => self.untrimmed = 0,
                Err(e) => {
                    tracing::warn!(process.id = %self.t.process_id, error = %e, "log tail not trimmed")
                }
            }
        }
    }
}

/// The bytes `entry` takes as JSON, counted without building the text.
fn json_size(entry: &LogEntry) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Entries hold only strings, numbers and enums: serialization cannot fail.
    let _ = serde_json::to_writer(&mut count, entry);
    count.0
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
