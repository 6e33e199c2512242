//! Agent output normalizers (docs/EXECUTORS.md): each coding agent's wire protocol turned,
//! line by line, into the one entry list every viewer shows — user and assistant
//! messages, thinking, tool uses with their action and status, system messages, errors
//! and token usage.
//!
//! A normalizer is incremental and infallible: it is fed one raw line at a time (a
//! stdout line or protocol message, or a stderr line) and answers with patches against
//! its entry list — append a new entry, or replace entry `i` when, say, a tool call's
//! result arrives or a streamed message grows. Whatever it cannot understand (malformed
//! JSON, unknown event types, missing fields, banners) becomes an `output` or
//! `system_message` entry; it never panics and never stops the run.
//!
//! One module per protocol:
//! - [`claude`]: Claude Code stream-json (and Amp's Claude-compatible stream-json);
//! - [`codex`]: `codex exec --json` events and the app-server JSON-RPC notifications;
//! - [`acp`]: the Agent Client Protocol (Gemini `--experimental-acp`, Qwen Code, Copilot);
//! - [`gemini`]: Gemini CLI's own `--output-format stream-json` and `json`;
//! - [`opencode`]: `opencode run --format json` and its server's event stream;
//! - [`cursor`]: Cursor agent stream-json;
//! - [`droid`]: Factory Droid stream-json.
//!
//! Before a line reaches a normalizer (or an agent's driver), [`pieces`] puts back
//! together the long JSON lines the runner cut into pieces.

pub mod acp;
pub mod claude;
pub mod codex;
pub mod cursor;
pub mod droid;
pub mod gemini;
pub mod opencode;
pub mod pieces;

mod entries;
mod json;
mod tools;

use chrono::{DateTime, Utc};
use shared::logs::{LogEntry, LogPatch, PatchOp};
use std::fmt;
use std::str::FromStr;

/// One change to a normalizer's entry list, before the log shipper gives it a seq.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryPatch {
    /// A new entry at the end of the list.
    Append(LogEntry),
    /// Entry `index` (always an existing one) is now `entry`.
    Replace { index: usize, entry: LogEntry },
}

impl EntryPatch {
    /// The entry the patch carries.
    pub fn entry(&self) -> &LogEntry {
        match self {
            EntryPatch::Append(entry) | EntryPatch::Replace { entry, .. } => entry,
        }
    }

    /// The patch as it travels: `len` is the list's length before the patch and is
    /// advanced past an append, so a caller turns a run of patches into `LogPatch`es by
    /// threading one counter through them.
    pub fn into_log_patch(self, seq: u64, len: &mut u64) -> LogPatch {
        match self {
            EntryPatch::Append(entry) => {
                let index = *len;
                *len += 1;
                LogPatch {
                    seq,
                    op: PatchOp::Append,
                    index,
                    entry,
                }
            }
            EntryPatch::Replace { index, entry } => LogPatch {
                seq,
                op: PatchOp::Replace,
                index: index as u64,
                entry,
            },
        }
    }
}

/// Drops the patches a later one in the same batch supersedes: a replace of an entry
/// already appended or replaced earlier in `patches` is folded into that earlier patch.
/// Applying the result to a list of `len_before` entries gives the same list as applying
/// `patches`; a streamed message that grew a hundred times in one batch travels once.
pub fn coalesce(patches: Vec<EntryPatch>, len_before: usize) -> Vec<EntryPatch> {
    let mut out: Vec<EntryPatch> = Vec::with_capacity(patches.len());
    // Entry index → position in `out` of the patch that last wrote it.
    let mut written: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut len = len_before;
    for patch in patches {
        match patch {
            EntryPatch::Append(entry) => {
                written.insert(len, out.len());
                out.push(EntryPatch::Append(entry));
                len += 1;
            }
            EntryPatch::Replace { index, entry } => match written.get(&index) {
                Some(&at) => match &mut out[at] {
                    EntryPatch::Append(e) | EntryPatch::Replace { entry: e, .. } => *e = entry,
                },
                None => {
                    written.insert(index, out.len());
                    out.push(EntryPatch::Replace { index, entry });
                }
            },
        }
    }
    out
}

/// Tokens (and cost) an agent reported so far in one process, for budgets and the
/// attempt's cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenTotals {
    /// Every prompt token, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens (reasoning included where the agent reports it).
    pub output_tokens: u64,
    /// The cached share of `input_tokens`.
    pub cached_input_tokens: u64,
    /// What the agent says it cost, in US dollars, when it says.
    pub cost_usd: Option<f64>,
}

impl TokenTotals {
    /// Adds one report to the totals.
    pub fn add(&mut self, usage: &TokenTotals) {
        self.input_tokens = self.input_tokens.saturating_add(usage.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(usage.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(usage.cached_input_tokens);
        if let Some(cost) = usage.cost_usd {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + cost);
        }
    }
}

/// Turns one agent's raw output into normalized entries, incrementally.
pub trait Normalizer: Send {
    /// When the lines fed from now on were read. An entry gets its event's own time
    /// when the agent wrote one, else this one (else the time it was made), so a run
    /// normalized again from its raw output keeps its times.
    fn read_at(&mut self, at: DateTime<Utc>);
    /// One raw line of stdout (or one protocol message).
    fn stdout_line(&mut self, line: &str) -> Vec<EntryPatch>;
    /// One raw line of stderr: it becomes an `error` entry, or an `output` entry when it
    /// is a warning of the runtime the agent runs on (npm, Node).
    fn stderr_line(&mut self, line: &str) -> Vec<EntryPatch>;
    /// The output ended: flush anything buffered.
    fn finish(&mut self) -> Vec<EntryPatch>;
    /// A team member approved or denied the tool call `tool_call_id` that waits for
    /// approval (the `tool_call_id` of its `pending_approval` tool use): it shows as
    /// running or denied at once, before the agent reports anything.
    fn approval_decided(&mut self, tool_call_id: &str, approved: bool) -> Vec<EntryPatch>;
    /// The agent's session (thread) id once it reported one: follow-ups resume it.
    fn session_id(&self) -> Option<&str>;
    /// Tokens the agent reported so far.
    fn token_usage(&self) -> TokenTotals;
}

/// The wire protocols the worker's agents speak on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `claude -p --output-format stream-json --verbose` (with control requests).
    ClaudeCode,
    /// Amp's `--stream-json`: Claude Code's event shapes with Amp's tools.
    Amp,
    /// `codex exec --json` events, or `codex app-server` JSON-RPC: both are accepted.
    Codex,
    /// The Agent Client Protocol: Gemini `--experimental-acp`, Qwen Code, Copilot.
    Acp,
    /// `gemini --output-format stream-json`.
    GeminiStreamJson,
    /// `gemini --output-format json`: one (pretty-printed) object at the end.
    GeminiJson,
    /// `opencode run --format json`, or the OpenCode server's event stream.
    OpenCode,
    /// `cursor-agent --print --output-format stream-json`.
    CursorAgent,
    /// `droid exec --output-format stream-json`.
    Droid,
}

impl Protocol {
    /// Every protocol, for tests and listings.
    pub const ALL: [Protocol; 9] = [
        Protocol::ClaudeCode,
        Protocol::Amp,
        Protocol::Codex,
        Protocol::Acp,
        Protocol::GeminiStreamJson,
        Protocol::GeminiJson,
        Protocol::OpenCode,
        Protocol::CursorAgent,
        Protocol::Droid,
    ];

    /// A stable name, for configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::ClaudeCode => "claude_code",
            Protocol::Amp => "amp",
            Protocol::Codex => "codex",
            Protocol::Acp => "acp",
            Protocol::GeminiStreamJson => "gemini_stream_json",
            Protocol::GeminiJson => "gemini_json",
            Protocol::OpenCode => "opencode",
            Protocol::CursorAgent => "cursor_agent",
            Protocol::Droid => "droid",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name that is not one of [`Protocol::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent protocol `{0}`")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProtocol(s.to_owned()))
    }
}

/// Implements [`Normalizer`] for a protocol that prints one JSON event per line:
/// `$event(&mut self, &Value, raw: &str)` turns an event into changes of `self.log`,
/// other lines become `output` entries, and `self.session_id` / `self.totals` hold what
/// the agent reported. One body, so every such protocol treats banners, stderr, the end
/// of output and approval decisions the same way.
macro_rules! json_lines_normalizer {
    ($ty:ty, $event:ident) => {
        impl $crate::normalize::Normalizer for $ty {
            fn read_at(&mut self, at: chrono::DateTime<chrono::Utc>) {
                self.log.set_read_time(at);
            }

            fn stdout_line(&mut self, line: &str) -> Vec<$crate::normalize::EntryPatch> {
                match $crate::normalize::json::parse_line(line) {
                    $crate::normalize::json::Line::Empty => {}
                    $crate::normalize::json::Line::Event(v) => self.$event(&v, line.trim()),
                    $crate::normalize::json::Line::Raw(text) => self.log.output(&text),
                }
                self.log.take()
            }

            fn stderr_line(&mut self, line: &str) -> Vec<$crate::normalize::EntryPatch> {
                self.log.stderr(line);
                self.log.take()
            }

            fn finish(&mut self) -> Vec<$crate::normalize::EntryPatch> {
                self.log.close_stream();
                self.log.take()
            }

            fn approval_decided(
                &mut self,
                tool_call_id: &str,
                approved: bool,
            ) -> Vec<$crate::normalize::EntryPatch> {
                self.log.resolve_approval(tool_call_id, approved);
                self.log.take()
            }

            fn session_id(&self) -> Option<&str> {
                self.session_id.as_deref()
            }

            fn token_usage(&self) -> $crate::normalize::TokenTotals {
                self.totals
            }
        }
    };
}
pub(crate) use json_lines_normalizer;

/// A fresh normalizer for one process speaking `protocol`.
pub fn for_protocol(protocol: Protocol) -> Box<dyn Normalizer> {
    match protocol {
        Protocol::ClaudeCode => Box::new(claude::ClaudeNormalizer::claude_code()),
        Protocol::Amp => Box::new(claude::ClaudeNormalizer::amp()),
        Protocol::Codex => Box::new(codex::CodexNormalizer::new()),
        Protocol::Acp => Box::new(acp::AcpNormalizer::new()),
        Protocol::GeminiStreamJson => Box::new(gemini::GeminiStreamNormalizer::new()),
        Protocol::GeminiJson => Box::new(gemini::GeminiJsonNormalizer::new()),
        Protocol::OpenCode => Box::new(opencode::OpenCodeNormalizer::new()),
        Protocol::CursorAgent => Box::new(cursor::CursorNormalizer::new()),
        Protocol::Droid => Box::new(droid::DroidNormalizer::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::logs::{EntryContent, apply};

    fn entry(text: &str) -> LogEntry {
        LogEntry {
            timestamp: Utc::now(),
            content: EntryContent::AssistantMessage { text: text.into() },
        }
    }

    fn applied(patches: Vec<EntryPatch>, mut list: Vec<LogEntry>) -> Vec<LogEntry> {
        let mut len = list.len() as u64;
        for (seq, p) in patches.into_iter().enumerate() {
            apply(&mut list, &p.into_log_patch(seq as u64, &mut len));
        }
        list
    }

    #[test]
    fn coalescing_keeps_the_final_list_and_drops_superseded_replaces() {
        let start = vec![entry("old")];
        let patches = vec![
            EntryPatch::Replace {
                index: 0,
                entry: entry("a"),
            },
            EntryPatch::Append(entry("b")),
            EntryPatch::Replace {
                index: 1,
                entry: entry("bc"),
            },
            EntryPatch::Replace {
                index: 0,
                entry: entry("ab"),
            },
            EntryPatch::Append(entry("d")),
        ];
        let merged = coalesce(patches.clone(), 1);
        assert_eq!(merged.len(), 3);
        assert_eq!(
            applied(merged, start.clone()),
            applied(patches, start.clone())
        );
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(p.as_str().parse::<Protocol>(), Ok(p));
        }
        assert!("telnet".parse::<Protocol>().is_err());
    }
}
