//! OpenCode, in both of its forms:
//!
//! - `opencode run --format json`: one event per line — `step_start`, `text`,
//!   `reasoning`, `tool_use` (a `tool` part whose `state` carries status, input,
//!   output and metadata), `step_finish` (tokens and cost), `error` — each with the
//!   message `part` it is about;
//! - the OpenCode server's event stream (`/event`): `message.part.updated` with the same
//!   part shapes (`text`, `reasoning`, `tool`, `step-finish`; a part is re-sent whole
//!   as it grows), `message.updated` (tells a user message from an assistant one),
//!   `permission.updated` (a tool call waiting for approval), `todo.updated`,
//!   `session.error`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, FileChange, ToolAction, ToolStatus, ToolUse};
use std::collections::{HashMap, HashSet};

use super::entries::{EntryLog, Stream};
use super::json::{
    self, Line, MAX_RESULT, clip, excerpt, first_count, first_str, float, int, str_of,
};
use super::tools::{self, Action, answer_text, classify, failure_status, set_result, todo_items};
use super::{EntryPatch, Normalizer, TokenTotals};

/// Normalizer for OpenCode's JSON events.
pub struct OpenCodeNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
    /// Messages the server said are the user's.
    user_messages: HashSet<String>,
    /// Permission request id → tool call id, to resolve a reply.
    permissions: HashMap<String, String>,
    /// Step-finish parts already counted (the server may re-send a part).
    counted: HashSet<String>,
    /// The entry of the latest todo list, replaced while nothing else came after it.
    todo_index: Option<usize>,
}

impl Default for OpenCodeNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenCodeNormalizer {
    /// A normalizer for one OpenCode process (or session event stream).
    pub fn new() -> OpenCodeNormalizer {
        OpenCodeNormalizer {
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
            user_messages: HashSet::new(),
            permissions: HashMap::new(),
            counted: HashSet::new(),
            todo_index: None,
        }
    }

    fn set_session(&mut self, id: Option<&str>) {
        if self.session_id.is_none()
            && let Some(id) = id.filter(|s| !s.is_empty())
        {
            self.session_id = Some(id.to_owned());
        }
    }

    fn event(&mut self, v: &Value, raw: &str) {
        let at = json::event_time(v);
        let props = v.get("properties").unwrap_or(&Value::Null);
        self.set_session(
            first_str(v, &["sessionID", "sessionId"])
                .or_else(|| first_str(props, &["sessionID", "sessionId"])),
        );
        match str_of(v, "type") {
            // `opencode run --format json`
            Some("step_start" | "text" | "reasoning" | "tool_use" | "step_finish") => {
                if let Some(part) = v.get("part") {
                    self.part(part, at);
                }
            }
            Some("error") => {
                let e = v.get("error").unwrap_or(v);
                self.log.error(&error_text(e), at);
            }
            // The server's event stream.
            Some("message.part.updated") => {
                if let Some(part) = props.get("part") {
                    self.part(part, at);
                }
            }
            Some("message.updated") => {
                let info = props.get("info").unwrap_or(&Value::Null);
                self.set_session(str_of(info, "sessionID"));
                if str_of(info, "role") == Some("user")
                    && let Some(id) = str_of(info, "id")
                {
                    self.user_messages.insert(id.to_owned());
                }
            }
            Some("message.part.delta") => {
                let part = first_str(props, &["partID", "partId"]).unwrap_or("");
                let field = str_of(props, "field").unwrap_or("text");
                if let (Some(delta), "text") = (str_of(props, "delta"), field) {
                    let key = format!("part:{part}");
                    let stream = match self
                        .log
                        .indices(&key)
                        .first()
                        .and_then(|i| self.log.get(*i))
                    {
                        Some(e) if matches!(e.content, EntryContent::Thinking { .. }) => {
                            Stream::Thinking
                        }
                        Some(e) if matches!(e.content, EntryContent::UserMessage { .. }) => {
                            Stream::User
                        }
                        _ => Stream::Assistant,
                    };
                    self.log.stream(stream, Some(&key), delta, at);
                }
            }
            Some("session.error") => {
                let e = props.get("error").unwrap_or(props);
                self.log.error(&error_text(e), at);
            }
            Some("permission.updated" | "permission.asked") => {
                let call = first_str(props, &["callID", "callId"]).unwrap_or("");
                if let Some(id) = str_of(props, "id") {
                    self.permissions.insert(id.to_owned(), call.to_owned());
                }
                let key = format!("tool:{call}");
                let found = self
                    .log
                    .update_tools(&key, |t| t.status = ToolStatus::PendingApproval);
                if !found {
                    let name = first_str(props, &["type", "permission"]).unwrap_or("tool");
                    let mut t = tools::tool_use(
                        (!call.is_empty()).then_some(call),
                        name,
                        Action::new(ToolAction::Other {
                            arguments: props.get("metadata").cloned().filter(|m| !m.is_null()),
                        }),
                        ToolStatus::PendingApproval,
                        None,
                    );
                    if let Some(title) = first_str(props, &["title", "pattern"]) {
                        t.summary = json::one_line(title);
                    }
                    self.log.push_tools(&key, vec![t], at);
                }
            }
            Some("permission.replied") => {
                let id = first_str(props, &["permissionID", "permissionId", "requestID"]);
                let call = id.and_then(|id| self.permissions.get(id)).cloned();
                let response = first_str(props, &["response", "reply"]).unwrap_or("");
                if let Some(call) = call {
                    let status = if response == "reject" {
                        ToolStatus::Denied
                    } else {
                        ToolStatus::Created
                    };
                    self.log.update_tools(&format!("tool:{call}"), |t| {
                        if t.status == ToolStatus::PendingApproval {
                            t.status = status;
                        }
                    });
                }
            }
            Some("todo.updated") => {
                let items = todo_items(props.get("todos").unwrap_or(&Value::Null));
                let t = tools::tool_use(
                    None,
                    "todowrite",
                    Action::new(ToolAction::TodoUpdate { items }),
                    ToolStatus::Success,
                    None,
                );
                match self
                    .todo_index
                    .filter(|i| Some(*i) == self.log.last_index())
                {
                    Some(index) => self.log.replace(index, EntryContent::ToolUse(t)),
                    None => self.todo_index = Some(self.log.push(EntryContent::ToolUse(t), at)),
                }
            }
            Some(t) if is_quiet_server_event(t) => {}
            Some(other) => self.log.system(
                &format!("Unrecognized opencode event `{other}`: {}", excerpt(raw)),
                at,
            ),
            None => self.log.system(
                &format!("Unrecognized opencode output: {}", excerpt(raw)),
                at,
            ),
        }
    }

    fn part(&mut self, part: &Value, event_at: Option<DateTime<Utc>>) {
        self.set_session(str_of(part, "sessionID"));
        let id = str_of(part, "id").unwrap_or("");
        let at = json::at(part, &["time", "start"])
            .and_then(json::time)
            .or(event_at);
        match str_of(part, "type") {
            Some("text") => {
                if part.get("synthetic").and_then(Value::as_bool) == Some(true) {
                    return;
                }
                let text = str_of(part, "text").unwrap_or("");
                let user =
                    str_of(part, "messageID").is_some_and(|m| self.user_messages.contains(m));
                let text = clip(text, json::MAX_TEXT);
                let content = if user {
                    EntryContent::UserMessage { text }
                } else {
                    EntryContent::AssistantMessage { text }
                };
                if !self.log.indices(&format!("part:{id}")).is_empty()
                    || !str_of(part, "text").unwrap_or("").trim().is_empty()
                {
                    self.log.upsert(&format!("part:{id}"), content, at);
                }
            }
            Some("reasoning") => {
                let text = str_of(part, "text").unwrap_or("");
                if !text.trim().is_empty() {
                    self.log.upsert(
                        &format!("part:{id}"),
                        EntryContent::Thinking {
                            text: clip(text, json::MAX_TEXT),
                        },
                        at,
                    );
                }
            }
            Some("tool") => self.tool(part, at),
            Some("step-finish") => {
                if !id.is_empty() && !self.counted.insert(id.to_owned()) {
                    return;
                }
                let tokens = part.get("tokens").unwrap_or(&Value::Null);
                let input = first_count(tokens, &["input"]).unwrap_or(0);
                let output = first_count(tokens, &["output"]).unwrap_or(0);
                let reasoning = first_count(tokens, &["reasoning"]).unwrap_or(0);
                let cache = tokens.get("cache").unwrap_or(&Value::Null);
                let read = first_count(cache, &["read"]).unwrap_or(0);
                let write = first_count(cache, &["write"]).unwrap_or(0);
                let cost = part.get("cost").and_then(float);
                let report = TokenTotals {
                    input_tokens: input + read + write,
                    output_tokens: output + reasoning,
                    cached_input_tokens: read,
                    cost_usd: cost,
                };
                self.totals.add(&report);
                self.log.push(
                    EntryContent::TokenUsage {
                        input_tokens: report.input_tokens,
                        output_tokens: report.output_tokens,
                        cached_input_tokens: Some(read),
                        cost_usd: cost,
                    },
                    event_at.or(at),
                );
            }
            // Step starts, snapshots, patches, files and agent markers carry nothing a
            // reader needs beyond what the other parts show.
            _ => {}
        }
    }

    fn tool(&mut self, part: &Value, at: Option<DateTime<Utc>>) {
        let call = first_str(part, &["callID", "callId", "id"]).unwrap_or("");
        let name = str_of(part, "tool").unwrap_or("tool");
        let state = part.get("state").unwrap_or(&Value::Null);
        let input = state.get("input").cloned().unwrap_or(Value::Null);
        let metadata = state.get("metadata").unwrap_or(&Value::Null);
        let key = format!("tool:{call}");
        let mut status = match str_of(state, "status") {
            Some("completed") => ToolStatus::Success,
            Some("error") => {
                let e = state.get("error").map(answer_text).unwrap_or_default();
                failure_status(&e)
            }
            _ => ToolStatus::Created,
        };
        if status == ToolStatus::Created
            && self.log.tool_status(&key) == Some(ToolStatus::PendingApproval)
        {
            status = ToolStatus::PendingApproval;
        }
        let exit = metadata.get("exit").and_then(int);
        if status == ToolStatus::Success && exit.is_some_and(|c| c != 0) {
            status = ToolStatus::Failed;
        }
        let output = match str_of(state, "status") {
            Some("error") => state.get("error").map(answer_text),
            _ => state.get("output").map(answer_text),
        };
        let diff = str_of(metadata, "diff");
        let title = str_of(state, "title");
        let uses: Vec<ToolUse> = classify(name, &input)
            .into_iter()
            .map(|a| {
                let mut t =
                    tools::tool_use((!call.is_empty()).then_some(call), name, a, status, None);
                if let Some(code) = exit {
                    tools::set_exit_code(&mut t, code);
                }
                if let (Some(diff), ToolAction::FileEdit { changes, .. }) = (diff, &mut t.action)
                    && !diff.trim().is_empty()
                {
                    *changes = vec![FileChange::Diff {
                        unified_diff: clip(diff, MAX_RESULT),
                    }];
                }
                if let Some(out) = &output {
                    set_result(&mut t, out);
                }
                if let (Some(title), ToolAction::Other { .. }) = (title, &t.action) {
                    t.summary = json::one_line(title);
                }
                t
            })
            .collect();
        self.log.upsert_all(
            &key,
            uses.into_iter().map(EntryContent::ToolUse).collect(),
            at,
        );
    }
}

/// The message of an OpenCode error: `{name, data: {message}}` or a plain message.
fn error_text(e: &Value) -> String {
    let message = json::at(e, &["data", "message"])
        .and_then(Value::as_str)
        .or_else(|| str_of(e, "message"));
    match (str_of(e, "name"), message) {
        (Some(name), Some(m)) => format!("{name}: {m}"),
        (None, Some(m)) => m.to_owned(),
        (Some(name), None) => name.to_owned(),
        (None, None) => json::text_of(e).unwrap_or_else(|| json::as_text(e)),
    }
}

/// Server events about the session's bookkeeping, files, LSP and the server itself.
fn is_quiet_server_event(t: &str) -> bool {
    t.starts_with("session.")
        || t.starts_with("server.")
        || t.starts_with("lsp.")
        || t.starts_with("file.")
        || t.starts_with("storage.")
        || t.starts_with("installation.")
        || t.starts_with("ide.")
        || t.starts_with("tui.")
        || t.starts_with("pty.")
        || t.starts_with("mcp.")
        || t.starts_with("vcs.")
        || t.starts_with("command.")
        || t.starts_with("project.")
        || t == "message.removed"
        || t == "message.part.removed"
}

impl Normalizer for OpenCodeNormalizer {
    fn read_at(&mut self, at: DateTime<Utc>) {
        self.log.set_read_time(at);
    }

    fn stdout_line(&mut self, line: &str) -> Vec<EntryPatch> {
        // The server announcing its address is the worker's business, not the team's.
        if line.starts_with("opencode server listening") {
            return Vec::new();
        }
        // The server's stream is SSE: accept its `data:` lines as they are.
        let payload = line.trim_start().strip_prefix("data:").unwrap_or(line);
        match json::parse_line(payload) {
            Line::Empty => {}
            Line::Event(v) => self.event(&v, payload.trim()),
            Line::Raw(text) => self.log.output(&text),
        }
        self.log.take()
    }

    fn stderr_line(&mut self, line: &str) -> Vec<EntryPatch> {
        self.log.stderr(line);
        self.log.take()
    }

    fn finish(&mut self) -> Vec<EntryPatch> {
        self.log.close_stream();
        self.log.take()
    }

    fn approval_decided(&mut self, tool_call_id: &str, approved: bool) -> Vec<EntryPatch> {
        self.log.resolve_approval(tool_call_id, approved);
        self.log.take()
    }

    fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    fn token_usage(&self) -> TokenTotals {
        self.totals
    }
}
