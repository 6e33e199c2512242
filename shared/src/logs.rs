//! Normalized log entries and the patches that carry them (DESIGN.md §5).
//!
//! A process's log is a list of entries. Executors emit patches against that list
//! (append entry i, or replace entry i when, say, a tool call's result arrives). Each
//! patch has a per-process sequence number `seq`, starting at 0 with no gaps: it is the
//! SSE event id and the key that lets history (object store), the tail (Redis) and live
//! delivery (pub/sub) be merged without gap or duplicate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One normalized entry of an executor's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogEntry {
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub content: EntryContent,
}

/// What an entry says. Agents map their protocol onto these kinds; the `script`
/// executor produces `output` entries, one per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryContent {
    UserMessage {
        text: String,
    },
    AssistantMessage {
        text: String,
    },
    Thinking {
        text: String,
    },
    ToolUse {
        tool_name: String,
        status: ToolStatus,
        summary: String,
    },
    SystemMessage {
        text: String,
    },
    Error {
        text: String,
    },
    TokenUsage {
        input_tokens: u64,
        output_tokens: u64,
    },
    /// A raw line a process printed.
    Output {
        stream: OutputStream,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Created,
    Success,
    Failed,
    Denied,
    PendingApproval,
    TimedOut,
}

/// A change to a process's entry list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LogPatch {
    /// Per-process, gap-free sequence number; the SSE event id.
    pub seq: u64,
    pub op: PatchOp,
    /// The entry's position in the list.
    pub index: u64,
    pub entry: LogEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatchOp {
    Append,
    Replace,
}

/// What travels on a process's pub/sub channel: a batch of consecutive patches, or the
/// end marker once every patch is durable in the object store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum LogMessage {
    Patches { patches: Vec<LogPatch> },
    End { total: u64 },
}

/// Applies patches to an entry list: what a viewer does with the stream.
pub fn apply(entries: &mut Vec<LogEntry>, patch: &LogPatch) {
    let index = patch.index as usize;
    match patch.op {
        PatchOp::Append if index == entries.len() => entries.push(patch.entry.clone()),
        PatchOp::Append | PatchOp::Replace if index < entries.len() => {
            entries[index] = patch.entry.clone()
        }
        // A patch past the end means a gap upstream; keep what we can.
        _ => entries.push(patch.entry.clone()),
    }
}

/// Object-store layout for logs: segments named by their first and last seq, zero
/// padded so a listing comes back in order.
pub mod segments {
    use super::*;

    /// Prefix under which all of one process's segments live.
    pub fn prefix(org_id: Uuid, process_id: Uuid) -> String {
        format!("orgs/{org_id}/processes/{process_id}/logs/")
    }

    /// Key of the segment holding patches `first..=last`.
    pub fn key(org_id: Uuid, process_id: Uuid, first: u64, last: u64) -> String {
        format!("{}{first:012}-{last:012}.jsonl", prefix(org_id, process_id))
    }

    /// The `(first, last)` seq range a segment key covers.
    pub fn range(key: &str) -> Option<(u64, u64)> {
        let name = key.rsplit('/').next()?.strip_suffix(".jsonl")?;
        let (first, last) = name.split_once('-')?;
        Some((first.parse().ok()?, last.parse().ok()?))
    }

    /// One JSON patch per line.
    pub fn encode(patches: &[LogPatch]) -> Vec<u8> {
        let mut out = Vec::with_capacity(patches.len() * 128);
        for p in patches {
            // LogPatch holds only strings, numbers and enums: serialization cannot fail.
            if let Ok(line) = serde_json::to_vec(p) {
                out.extend_from_slice(&line);
                out.push(b'\n');
            }
        }
        out
    }

    /// Parses a segment; a corrupt line is an error, never silently skipped.
    pub fn decode(bytes: &[u8]) -> Result<Vec<LogPatch>, serde_json::Error> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(serde_json::from_slice)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_sort_and_round_trip() {
        let org = Uuid::nil();
        let p = Uuid::max();
        let a = segments::key(org, p, 0, 99);
        let b = segments::key(org, p, 100, 1999);
        assert!(a < b);
        assert_eq!(segments::range(&b), Some((100, 1999)));
        assert_eq!(segments::range("orgs/x/junk.jsonl"), None);
    }

    #[test]
    fn replace_updates_entry_in_place() {
        let entry = |t: &str| LogEntry {
            timestamp: Utc::now(),
            content: EntryContent::AssistantMessage { text: t.into() },
        };
        let mut list = Vec::new();
        apply(
            &mut list,
            &LogPatch {
                seq: 0,
                op: PatchOp::Append,
                index: 0,
                entry: entry("a"),
            },
        );
        apply(
            &mut list,
            &LogPatch {
                seq: 1,
                op: PatchOp::Replace,
                index: 0,
                entry: entry("b"),
            },
        );
        assert_eq!(
            list,
            vec![entry("b")]
                .into_iter()
                .map(|mut e| {
                    e.timestamp = list[0].timestamp;
                    e
                })
                .collect::<Vec<_>>()
        );
    }
}
