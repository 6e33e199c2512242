//! Normalized log entries and the patches that carry them (docs/EXECUTORS.md).
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
    /// A tool the agent called: what it does, and how it went. Replaced in place as the
    /// call moves from created to its outcome.
    ToolUse(ToolUse),
    SystemMessage {
        text: String,
    },
    Error {
        text: String,
    },
    /// Tokens the agent reported for a turn (or a run). `input_tokens` counts every
    /// prompt token, cached ones included; `cached_input_tokens` is the cached share.
    TokenUsage {
        input_tokens: u64,
        output_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cached_input_tokens: Option<u64>,
        /// What the agent says the turn cost, in US dollars, when it says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// A raw line a process printed.
    Output {
        stream: OutputStream,
        text: String,
    },
}

/// Which pipe a raw line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One tool call of an agent, normalized across protocols.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolUse {
    /// The agent's id for the call; a result or an approval request names it.
    pub tool_call_id: Option<String>,
    /// The tool's name as the agent spells it (`Bash`, `run_shell_command`, ...).
    pub tool_name: String,
    pub action: ToolAction,
    pub status: ToolStatus,
    /// One line for a list view: the command, the path, the query.
    pub summary: String,
    /// Set when a sub-agent made the call: the id of the tool call that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_tool_call_id: Option<String>,
    /// What the tool answered, when the action has no field of its own for it (a
    /// command's output lives in `command_run`): an error message, a listing, a report.
    /// Clipped to a bounded size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// What a tool call does, so a viewer can show a command, a diff or a plan properly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolAction {
    FileRead {
        path: String,
    },
    /// One file changed; an agent's multi-file patch becomes one tool use per file.
    FileEdit {
        path: String,
        changes: Vec<FileChange>,
    },
    CommandRun {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i64>,
        /// The command's output (clipped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    /// A search of the workspace: a glob, a grep, a semantic search.
    Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    WebFetch {
        url: String,
    },
    WebSearch {
        query: String,
    },
    /// The agent's todo list or plan steps, as they stand after the call.
    TodoUpdate {
        items: Vec<TodoItem>,
    },
    /// A plan presented for approval before the agent edits anything (plan mode).
    PlanPresentation {
        plan: String,
    },
    /// A sub-agent started on part of the task.
    SubAgent {
        description: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_type: Option<String>,
    },
    /// The agent asks the user something.
    Question {
        questions: Vec<Question>,
    },
    /// Any other tool (MCP tools among them), with its arguments as the agent sent them.
    Other {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        arguments: Option<serde_json::Value>,
    },
}

/// One change to a file, as precise as the agent reported it. Named `EditChange` in the
/// OpenAPI document: `wire::FileChange` (a diff's per-file status) owns `FileChange`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
#[schema(as = EditChange)]
pub enum FileChange {
    /// The whole new content (a file written or created).
    Write {
        content: String,
    },
    /// A string replacement (`replace_all`: every occurrence).
    Replace {
        old_text: String,
        new_text: String,
        #[serde(default)]
        replace_all: bool,
    },
    /// A unified diff (or an agent's patch hunk) of the file.
    Diff {
        unified_diff: String,
    },
    /// A new file whose content the agent did not report.
    Create,
    /// A change whose content the agent did not report.
    Update,
    Delete,
    /// The file moved to `new_path`.
    Rename {
        new_path: String,
    },
}

/// One item of an agent's todo list or plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TodoItem {
    pub content: String,
    pub status: TodoStatus,
}

/// Where a todo item stands; agents' spellings (`in_progress`, `inProgress`,
/// `TODO_STATUS_COMPLETED`, ...) map onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TodoStatus {
    Pending,
    InProgress,
    Completed,
    Cancelled,
}

/// One question an agent asks, with the answers it offers (if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Question {
    pub question: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Where a tool call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Called, not finished yet.
    Created,
    Success,
    Failed,
    /// Refused: by the user, a policy or the agent's permission level.
    Denied,
    /// Waiting for a team member's approval (supervised mode).
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

    /// Key of an agent process's raw output (JSON lines of stream, time and text), kept
    /// beside the normalized segments.
    pub fn raw_key(org_id: Uuid, process_id: Uuid) -> String {
        format!("orgs/{org_id}/processes/{process_id}/raw.jsonl")
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

    /// The JSON array of the patches of a segment (`encode`'s output): what the tail
    /// holds. Compact JSON escapes every newline inside a string, so the newlines of a
    /// segment are exactly the separators between its patches.
    pub fn as_array(lines: &[u8]) -> Vec<u8> {
        let body = lines.strip_suffix(b"\n").unwrap_or(lines);
        let mut out = Vec::with_capacity(body.len() + 2);
        out.push(b'[');
        out.extend(body.iter().map(|&b| if b == b'\n' { b',' } else { b }));
        out.push(b']');
        out
    }

    /// The channel message ([`LogMessage::Patches`]) carrying the patches of `array`
    /// (`as_array`'s output), without serializing them again.
    pub fn as_message(array: &[u8]) -> Vec<u8> {
        const HEAD: &[u8] = br#"{"t":"patches","patches":"#;
        let mut out = Vec::with_capacity(HEAD.len() + array.len() + 1);
        out.extend_from_slice(HEAD);
        out.extend_from_slice(array);
        out.push(b'}');
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
    fn a_segment_becomes_the_tail_array_and_channel_message_serde_would_write() {
        let patches: Vec<LogPatch> = ["one", "two\nlines, and \"quotes\"", "\u{1F600}\r\n"]
            .iter()
            .enumerate()
            .map(|(i, text)| LogPatch {
                seq: i as u64,
                op: PatchOp::Append,
                index: i as u64,
                entry: LogEntry {
                    timestamp: Utc::now(),
                    content: EntryContent::Output {
                        stream: OutputStream::Stdout,
                        text: (*text).to_owned(),
                    },
                },
            })
            .collect();
        let lines = segments::encode(&patches);
        let array = segments::as_array(&lines);
        assert_eq!(array, serde_json::to_vec(&patches).unwrap());
        let message = segments::as_message(&array);
        assert_eq!(
            serde_json::from_slice::<LogMessage>(&message).unwrap(),
            LogMessage::Patches { patches }
        );
        assert_eq!(segments::as_array(&segments::encode(&[])), b"[]");
    }

    #[test]
    fn tool_use_entries_serialize_flat_with_a_tagged_action() {
        let entry = LogEntry {
            timestamp: Utc::now(),
            content: EntryContent::ToolUse(ToolUse {
                tool_call_id: Some("toolu_1".into()),
                tool_name: "Bash".into(),
                action: ToolAction::CommandRun {
                    command: "ls".into(),
                    exit_code: Some(0),
                    output: Some("a\n".into()),
                },
                status: ToolStatus::Success,
                summary: "ls".into(),
                parent_tool_call_id: None,
                result: None,
            }),
        };
        let json = serde_json::to_value(&entry).expect("serialize");
        assert_eq!(json["type"], "tool_use");
        assert_eq!(json["tool_call_id"], "toolu_1");
        assert_eq!(json["status"], "success");
        assert_eq!(json["action"]["kind"], "command_run");
        assert_eq!(json["action"]["exit_code"], 0);
        assert!(json.get("parent_tool_call_id").is_none());
        let back: LogEntry = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, entry);
    }

    #[test]
    fn token_usage_without_the_optional_figures_still_parses() {
        let entry: LogEntry = serde_json::from_str(
            r#"{"timestamp":"2026-01-01T00:00:00Z","type":"token_usage","input_tokens":3,"output_tokens":4}"#,
        )
        .expect("parse");
        assert_eq!(
            entry.content,
            EntryContent::TokenUsage {
                input_tokens: 3,
                output_tokens: 4,
                cached_input_tokens: None,
                cost_usd: None
            }
        );
    }

    #[test]
    fn the_entry_schema_describes_tool_actions() {
        use utoipa::{PartialSchema, ToSchema};
        let mut nested = Vec::new();
        LogEntry::schemas(&mut nested);
        let names: Vec<_> = nested.iter().map(|(name, _)| name.clone()).collect();
        for name in [
            "ToolUse",
            "ToolAction",
            "EditChange",
            "TodoItem",
            "ToolStatus",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        let action = serde_json::to_string(&ToolAction::schema()).expect("schema");
        for kind in [
            "file_edit",
            "command_run",
            "todo_update",
            "sub_agent",
            "question",
        ] {
            assert!(
                action.contains(kind),
                "{kind} missing from the ToolAction schema"
            );
        }
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
