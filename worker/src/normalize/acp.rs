//! The Agent Client Protocol (JSON-RPC 2.0 over stdio), spoken by Gemini CLI
//! (`--experimental-acp`), Qwen Code and GitHub Copilot CLI.
//!
//! What the agent writes on stdout: responses to the client's requests (`session/new`
//! answers the `sessionId`; `session/prompt` answers the `stopReason` and, in recent
//! versions, `usage`), `session/update` notifications (`user_message_chunk`,
//! `agent_message_chunk`, `agent_thought_chunk`, `tool_call`, `tool_call_update`,
//! `plan`, `current_mode_update`, ...), and requests to the client: most importantly
//! `session/request_permission` (a tool call waiting for approval), plus the file and
//! terminal requests the executor serves.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, FileChange, ToolAction, ToolStatus, ToolUse};

use super::TokenTotals;
use super::entries::{EntryLog, Stream};
use super::json::{
    self, MAX_RESULT, clip, command_of, excerpt, first_count, first_str, int, str_of,
};
use super::tools::{self, Action, set_result, todo_items};

/// Normalizer for an ACP agent's stdout.
pub struct AcpNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
    /// The entry of the latest plan, replaced while nothing else came after it.
    plan_index: Option<usize>,
}

impl Default for AcpNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl AcpNormalizer {
    /// A normalizer for one ACP agent process.
    pub fn new() -> AcpNormalizer {
        AcpNormalizer {
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
            plan_index: None,
        }
    }

    fn set_session(&mut self, id: Option<&str>) {
        if self.session_id.is_none()
            && let Some(id) = id.filter(|s| !s.is_empty())
        {
            self.session_id = Some(id.to_owned());
        }
    }

    fn message(&mut self, v: &Value, raw: &str) {
        let at = json::event_time(v);
        let params = v.get("params").unwrap_or(&Value::Null);
        match (str_of(v, "method"), v.get("id").is_some()) {
            (Some("session/update"), _) => self.update(params, raw, at),
            (Some("session/request_permission"), _) => self.permission(params, at),
            // The executor serves file and terminal requests; the tool calls that caused
            // them already show.
            (Some(m), true) if m.starts_with("fs/") || m.starts_with("terminal/") => {}
            (Some(m), _) => self.log.system(
                &format!("Unrecognized ACP message `{m}`: {}", excerpt(raw)),
                at,
            ),
            (None, true) => self.response(v, at),
            (None, false) => self
                .log
                .system(&format!("Unrecognized ACP output: {}", excerpt(raw)), at),
        }
    }

    fn response(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        if let Some(error) = v.get("error").filter(|e| !e.is_null()) {
            let message = first_str(error, &["message"]).unwrap_or("request failed");
            let detail = error
                .get("data")
                .filter(|d| !d.is_null())
                .map(|d| format!(" ({})", excerpt(&json::as_text(d))))
                .unwrap_or_default();
            self.log.error(&format!("{message}{detail}"), at);
            return;
        }
        let result = v.get("result").unwrap_or(&Value::Null);
        self.set_session(str_of(result, "sessionId"));
        if let Some(usage) = result.get("usage").filter(|u| u.is_object()) {
            self.usage(usage, at);
        }
        match str_of(result, "stopReason") {
            Some("max_tokens") => self
                .log
                .system("The agent stopped: it reached its token limit", at),
            Some("max_turn_requests") => self
                .log
                .system("The agent stopped: it reached its turn limit", at),
            Some("refusal") => self.log.error("The agent refused to continue", at),
            Some("cancelled") => self.log.system("The turn was cancelled", at),
            _ => {}
        }
    }

    /// `usage` of a prompt response: `inputTokens`, `outputTokens`, `totalTokens`,
    /// `thoughtTokens`, `cachedReadTokens`, `cachedWriteTokens`. When the total shows
    /// the cached counts come on top of `inputTokens`, they are added to it.
    fn usage(&mut self, usage: &Value, at: Option<DateTime<Utc>>) {
        let input = first_count(usage, &["inputTokens", "input_tokens"]).unwrap_or(0);
        let output = first_count(usage, &["outputTokens", "output_tokens"]).unwrap_or(0);
        let read = first_count(usage, &["cachedReadTokens", "cached_read_tokens"]).unwrap_or(0);
        let write = first_count(usage, &["cachedWriteTokens", "cached_write_tokens"]).unwrap_or(0);
        let thought = first_count(usage, &["thoughtTokens", "thought_tokens"]).unwrap_or(0);
        let total = first_count(usage, &["totalTokens", "total_tokens"]).unwrap_or(0);
        let cache_on_top = read + write > 0 && total >= input + output + read + write;
        let input = if cache_on_top {
            input + read + write
        } else {
            input
        };
        let thoughts_on_top = thought > 0 && total >= input + output + thought;
        let report = TokenTotals {
            input_tokens: input,
            output_tokens: if thoughts_on_top {
                output + thought
            } else {
                output
            },
            cached_input_tokens: read,
            cost_usd: None,
        };
        self.totals.add(&report);
        self.log.push(
            EntryContent::TokenUsage {
                input_tokens: report.input_tokens,
                output_tokens: report.output_tokens,
                cached_input_tokens: Some(read),
                cost_usd: None,
            },
            at,
        );
    }

    fn update(&mut self, params: &Value, raw: &str, at: Option<DateTime<Utc>>) {
        self.set_session(str_of(params, "sessionId"));
        let update = params.get("update").unwrap_or(&Value::Null);
        let content = update.get("content").unwrap_or(&Value::Null);
        match str_of(update, "sessionUpdate") {
            Some("user_message_chunk") => self.chunk(Stream::User, content, at),
            Some("agent_message_chunk") => self.chunk(Stream::Assistant, content, at),
            Some("agent_thought_chunk") => self.chunk(Stream::Thinking, content, at),
            Some("tool_call") => self.tool_call(update, None, at),
            Some("tool_call_update") => self.tool_call(update, None, at),
            Some("plan") => self.plan(update, at),
            Some("current_mode_update") => {
                let mode = first_str(update, &["currentModeId", "modeId"]).unwrap_or("unknown");
                self.log.system(&format!("Mode changed to {mode}"), at);
            }
            // Commands, config options, session titles and context-window meters are
            // for interactive clients.
            Some(
                "available_commands_update"
                | "config_option_update"
                | "session_info_update"
                | "usage_update",
            ) => {}
            Some(other) => self.log.system(
                &format!(
                    "Unrecognized ACP session update `{other}`: {}",
                    excerpt(raw)
                ),
                at,
            ),
            None => self.log.system(
                &format!("Unrecognized ACP session update: {}", excerpt(raw)),
                at,
            ),
        }
    }

    fn chunk(&mut self, stream: Stream, content: &Value, at: Option<DateTime<Utc>>) {
        if let Some(text) = json::text_of(content) {
            self.log.stream(stream, None, &text, at);
        }
    }

    fn plan(&mut self, update: &Value, at: Option<DateTime<Utc>>) {
        let items = todo_items(update.get("entries").unwrap_or(&Value::Null));
        let t = tools::tool_use(
            None,
            "plan",
            Action::new(ToolAction::TodoUpdate { items }),
            ToolStatus::Success,
            None,
        );
        // Each plan update is the whole plan: it replaces the previous one while that is
        // still the latest entry, and is a new entry once the agent moved on.
        match self
            .plan_index
            .filter(|i| Some(*i) == self.log.last_index())
        {
            Some(index) => self.log.replace(index, EntryContent::ToolUse(t)),
            None => self.plan_index = Some(self.log.push(EntryContent::ToolUse(t), at)),
        }
    }

    fn permission(&mut self, params: &Value, at: Option<DateTime<Utc>>) {
        self.set_session(str_of(params, "sessionId"));
        let call = params.get("toolCall").unwrap_or(&Value::Null);
        self.tool_call(call, Some(ToolStatus::PendingApproval), at);
    }

    /// A `tool_call`, a `tool_call_update` (only the fields it carries change), or the
    /// tool call of a permission request.
    fn tool_call(&mut self, u: &Value, forced: Option<ToolStatus>, at: Option<DateTime<Utc>>) {
        let id = str_of(u, "toolCallId");
        let key = format!("tool:{}", id.unwrap_or(""));
        let raw_status = str_of(u, "status");
        let status = forced.or_else(|| raw_status.map(acp_status));
        let existing: Option<ToolUse> =
            self.log
                .indices(&key)
                .first()
                .and_then(|i| match &self.log.get(*i)?.content {
                    EntryContent::ToolUse(t) => Some(t.clone()),
                    _ => None,
                });
        let kind = str_of(u, "kind");
        let has_shape = kind.is_some()
            || u.get("rawInput").is_some()
            || u.get("locations").is_some()
            || content_has_diff(u);
        match existing {
            Some(_) => {
                let new_actions = has_shape.then(|| actions_of(u));
                let title = str_of(u, "title").map(str::to_owned);
                let text = result_text(u);
                let mut actions = new_actions.map(Vec::into_iter);
                self.log.update_tools(&key, |t| {
                    if let Some(next) = actions.as_mut().and_then(Iterator::next) {
                        merge_action(&mut t.action, next.action);
                    }
                    if let Some(k) = kind {
                        t.tool_name = k.to_owned();
                    }
                    if let Some(title) = &title {
                        t.summary = json::one_line(title);
                    }
                    if let Some(s) = status {
                        // "pending" (not started yet) does not undo an approval request;
                        // "in_progress" after one means it was approved.
                        let keeps_pending = forced.is_none()
                            && raw_status == Some("pending")
                            && t.status == ToolStatus::PendingApproval;
                        if !keeps_pending {
                            t.status = s;
                        }
                    }
                    if let Some(text) = &text {
                        set_result(t, text);
                    }
                    apply_raw_output(t, u);
                });
            }
            None => {
                let name = kind.unwrap_or("tool");
                let title = str_of(u, "title");
                let text = result_text(u);
                let uses = actions_of(u)
                    .into_iter()
                    .map(|a| {
                        let mut t = tools::tool_use(
                            id,
                            name,
                            a,
                            status.unwrap_or(ToolStatus::Created),
                            None,
                        );
                        if let Some(title) = title {
                            t.summary = json::one_line(title);
                        }
                        if let Some(text) = &text {
                            set_result(&mut t, text);
                        }
                        apply_raw_output(&mut t, u);
                        t
                    })
                    .collect();
                self.log.push_tools(&key, uses, at);
            }
        }
    }
}

/// ACP's `pending | in_progress | completed | failed`.
fn acp_status(s: &str) -> ToolStatus {
    match s {
        "completed" => ToolStatus::Success,
        "failed" => ToolStatus::Failed,
        _ => ToolStatus::Created,
    }
}

fn content_items(u: &Value) -> Vec<&Value> {
    u.get("content")
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
        .unwrap_or_default()
}

fn content_has_diff(u: &Value) -> bool {
    content_items(u)
        .iter()
        .any(|c| str_of(c, "type") == Some("diff"))
}

/// The text content of a tool call (its `content` items of type `content`).
fn result_text(u: &Value) -> Option<String> {
    let parts: Vec<String> = content_items(u)
        .into_iter()
        .filter(|c| str_of(c, "type") == Some("content"))
        .filter_map(|c| c.get("content").and_then(json::text_of))
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Exit code and output from `rawOutput`, when the agent reports them there.
fn apply_raw_output(t: &mut ToolUse, u: &Value) {
    let Some(raw) = u.get("rawOutput").filter(|r| !r.is_null()) else {
        return;
    };
    if let Some(code) = ["exitCode", "exit_code", "code"]
        .iter()
        .find_map(|k| raw.get(k).and_then(int))
    {
        tools::set_exit_code(t, code);
        if code != 0 && t.status == ToolStatus::Success {
            t.status = ToolStatus::Failed;
        }
    }
    let out = match raw {
        Value::String(s) => Some(s.clone()),
        _ => first_str(
            raw,
            &["output", "stdout", "formatted_output", "aggregated_output"],
        )
        .map(str::to_owned),
    };
    if let (Some(out), ToolAction::CommandRun { output: None, .. }) = (out, &t.action) {
        set_result(t, &out);
    }
}

/// What a tool call does, from its `kind`, `locations`, `rawInput` and diff content.
fn actions_of(u: &Value) -> Vec<Action> {
    let raw = u.get("rawInput").cloned().unwrap_or(Value::Null);
    let title = str_of(u, "title").unwrap_or("");
    let location = u
        .get("locations")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|l| str_of(l, "path"))
        .map(str::to_owned);
    let path = || {
        location
            .clone()
            .or_else(|| tools::path_of(&raw))
            .unwrap_or_default()
    };
    let diffs: Vec<(String, FileChange)> = content_items(u)
        .into_iter()
        .filter(|c| str_of(c, "type") == Some("diff"))
        .map(|c| {
            let path = str_of(c, "path").unwrap_or("").to_owned();
            let new = str_of(c, "newText").unwrap_or("");
            let change = match str_of(c, "oldText") {
                Some(old) => FileChange::Replace {
                    old_text: clip(old, MAX_RESULT),
                    new_text: clip(new, MAX_RESULT),
                    replace_all: false,
                },
                None => FileChange::Write {
                    content: clip(new, MAX_RESULT),
                },
            };
            (path, change)
        })
        .collect();
    if !diffs.is_empty() {
        return diffs
            .into_iter()
            .map(|(path, change)| {
                Action::new(ToolAction::FileEdit {
                    path,
                    changes: vec![change],
                })
            })
            .collect();
    }
    let action = match str_of(u, "kind") {
        Some("execute") => ToolAction::CommandRun {
            command: ["command", "cmd"]
                .iter()
                .find_map(|k| raw.get(k).and_then(command_of))
                .unwrap_or_else(|| title.to_owned()),
            exit_code: None,
            output: None,
        },
        Some("read") => ToolAction::FileRead { path: path() },
        Some("edit") => ToolAction::FileEdit {
            path: path(),
            changes: vec![FileChange::Update],
        },
        Some("delete") => ToolAction::FileEdit {
            path: path(),
            changes: vec![FileChange::Delete],
        },
        Some("move") => {
            let to = first_str(&raw, &["destination", "new_path", "newPath", "to"]);
            ToolAction::FileEdit {
                path: path(),
                changes: vec![match to {
                    Some(to) => FileChange::Rename {
                        new_path: to.to_owned(),
                    },
                    None => FileChange::Update,
                }],
            }
        }
        Some("search") => ToolAction::Search {
            query: first_str(&raw, &["pattern", "query", "glob"])
                .unwrap_or(title)
                .to_owned(),
            path: location.clone().or_else(|| tools::path_of(&raw)),
        },
        Some("fetch") => match first_str(&raw, &["url", "uri"]) {
            Some(url) => ToolAction::WebFetch {
                url: url.to_owned(),
            },
            None => ToolAction::WebSearch {
                query: first_str(&raw, &["query", "prompt"])
                    .unwrap_or(title)
                    .to_owned(),
            },
        },
        _ => {
            // No kind (or think/switch_mode/other): the raw input may still name a tool.
            return match first_str(&raw, &["tool", "toolName", "name"]) {
                Some(name) => tools::classify(name, &raw),
                None => vec![Action::new(ToolAction::Other {
                    arguments: (!raw.is_null()).then_some(raw),
                })],
            };
        }
    };
    vec![Action::new(action)]
}

/// Takes a newer action, keeping what the older one knew and the newer one does not
/// (an update often carries only the output, or only the locations).
fn merge_action(old: &mut ToolAction, new: ToolAction) {
    match (&*old, new) {
        (
            ToolAction::CommandRun {
                command: old_cmd,
                exit_code,
                output,
            },
            ToolAction::CommandRun {
                command,
                exit_code: new_code,
                output: new_output,
            },
        ) => {
            *old = ToolAction::CommandRun {
                command: if command.is_empty() {
                    old_cmd.clone()
                } else {
                    command
                },
                exit_code: new_code.or(*exit_code),
                output: new_output.or_else(|| output.clone()),
            }
        }
        (_, ToolAction::Other { arguments: None }) => {}
        (_, new) => *old = new,
    }
}

super::json_lines_normalizer!(AcpNormalizer, message);
