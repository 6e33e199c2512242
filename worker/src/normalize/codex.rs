//! Codex, in both of its machine-readable forms:
//!
//! - `codex exec --json`: `thread.started` (the thread id), `turn.started`,
//!   `turn.completed` (usage), `turn.failed`, `error`, and `item.started` /
//!   `item.updated` / `item.completed` carrying items (`agent_message`, `reasoning`,
//!   `command_execution`, `file_change`, `mcp_tool_call`, `web_search`, `todo_list`,
//!   `error`) in snake_case;
//! - `codex app-server` JSON-RPC: notifications (`thread/started`, `turn/completed`,
//!   `item/started`, `item/completed`, streamed deltas, `thread/tokenUsage/updated`,
//!   `turn/plan/updated`, `error`) carrying the same items in camelCase, server requests
//!   asking for approval (`item/commandExecution/requestApproval`,
//!   `item/fileChange/requestApproval`, and the older `execCommandApproval` /
//!   `applyPatchApproval`), and responses (`thread/start` answers the thread id).
//!
//! A line with `method`, `id` or `result` is JSON-RPC; one with `type` is an exec event.
//! Codex runs every command through a login shell (`bash -lc '…'`, `/bin/zsh -lc '…'`):
//! entries show the command inside.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, FileChange, ToolAction, ToolStatus, ToolUse};

use super::TokenTotals;
use super::entries::{EntryLog, Stream};
use super::json::{self, MAX_RESULT, clip, excerpt, first_count, first_str, int, str_of};
use super::tools::{self, Action, answer_text, set_result, todo_items};

/// Usage counters as Codex reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Usage {
    input: u64,
    cached: u64,
    output: u64,
}

impl Usage {
    fn of(v: &Value) -> Usage {
        Usage {
            input: first_count(v, &["input_tokens", "inputTokens"]).unwrap_or(0),
            cached: first_count(v, &["cached_input_tokens", "cachedInputTokens"]).unwrap_or(0),
            output: first_count(v, &["output_tokens", "outputTokens"]).unwrap_or(0),
        }
    }

    fn minus(self, other: Usage) -> Usage {
        Usage {
            input: self.input.saturating_sub(other.input),
            cached: self.cached.saturating_sub(other.cached),
            output: self.output.saturating_sub(other.output),
        }
    }

    fn is_zero(self) -> bool {
        self == Usage::default()
    }
}

/// Normalizer for Codex (exec events and app-server JSON-RPC).
pub struct CodexNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
    /// App-server usage: the thread's cumulative total before this process's first
    /// report (a resumed thread carries earlier turns), the latest total, and the
    /// total when the current turn began.
    usage_base: Option<Usage>,
    usage_now: Usage,
    usage_turn_start: Usage,
}

impl Default for CodexNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl CodexNormalizer {
    /// A normalizer for one Codex process.
    pub fn new() -> CodexNormalizer {
        CodexNormalizer {
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
            usage_base: None,
            usage_now: Usage::default(),
            usage_turn_start: Usage::default(),
        }
    }

    fn set_session(&mut self, id: Option<&str>) {
        if self.session_id.is_none()
            && let Some(id) = id.filter(|s| !s.is_empty())
        {
            self.session_id = Some(id.to_owned());
        }
    }

    fn line(&mut self, v: &Value, raw: &str) {
        let at = json::event_time(v);
        let rpc = v.get("method").is_some()
            || v.get("jsonrpc").is_some()
            || (v.get("id").is_some() && (v.get("result").is_some() || v.get("error").is_some()));
        if rpc {
            self.rpc(v, raw, at);
        } else {
            self.exec_event(v, raw, at);
        }
    }

    // ----- codex exec --json -------------------------------------------------------

    fn exec_event(&mut self, v: &Value, raw: &str, at: Option<DateTime<Utc>>) {
        match str_of(v, "type") {
            Some("thread.started") => self.set_session(str_of(v, "thread_id")),
            Some("turn.started") => {}
            Some("turn.completed") => {
                let usage = Usage::of(v.get("usage").unwrap_or(&Value::Null));
                self.report_usage(usage, at);
            }
            Some("turn.failed") => {
                let text = json::at(v, &["error", "message"])
                    .and_then(Value::as_str)
                    .unwrap_or("turn failed");
                self.log.error(text, at);
            }
            Some("error") => {
                let text = first_str(v, &["message"]).unwrap_or("error");
                self.log.error(text, at);
            }
            Some("item.started") => self.item(v.get("item"), Phase::Started, at),
            Some("item.updated") => self.item(v.get("item"), Phase::Updated, at),
            Some("item.completed") => self.item(v.get("item"), Phase::Completed, at),
            Some(other) => self.log.system(
                &format!("Unrecognized codex event `{other}`: {}", excerpt(raw)),
                at,
            ),
            None => self
                .log
                .system(&format!("Unrecognized codex output: {}", excerpt(raw)), at),
        }
    }

    fn report_usage(&mut self, usage: Usage, at: Option<DateTime<Utc>>) {
        if usage.is_zero() {
            return;
        }
        let report = TokenTotals {
            input_tokens: usage.input,
            output_tokens: usage.output,
            cached_input_tokens: usage.cached,
            cost_usd: None,
        };
        self.totals.add(&report);
        self.log.push(
            EntryContent::TokenUsage {
                input_tokens: usage.input,
                output_tokens: usage.output,
                cached_input_tokens: Some(usage.cached),
                cost_usd: None,
            },
            at,
        );
    }

    // ----- items (both forms) ------------------------------------------------------

    fn item(&mut self, item: Option<&Value>, phase: Phase, at: Option<DateTime<Utc>>) {
        let Some(item) = item else { return };
        let id = str_of(item, "id").unwrap_or("");
        let kind: String = str_of(item, "type")
            .unwrap_or("")
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let key = format!("item:{id}");
        match kind.as_str() {
            "agentmessage" => {
                if let Some(text) = text_field(item) {
                    self.set_text(&key, Stream::Assistant, &text, at);
                }
            }
            "reasoning" => {
                if let Some(text) = text_field(item) {
                    self.set_text(&key, Stream::Thinking, &text, at);
                }
            }
            "usermessage" => {
                if let Some(text) = item.get("content").and_then(json::text_of) {
                    self.set_text(&key, Stream::User, &text, at);
                }
            }
            "commandexecution" => self.command(item, &key, phase, at),
            "filechange" => self.file_change(item, &key, phase, at),
            "mcptoolcall" => {
                let server = str_of(item, "server").unwrap_or("mcp");
                let tool = str_of(item, "tool").unwrap_or("tool");
                let name = format!("{server}/{tool}");
                let arguments = item.get("arguments").cloned().filter(|a| !a.is_null());
                let mut t = tools::tool_use(
                    Some(id),
                    &name,
                    Action::new(ToolAction::Other { arguments }),
                    item_status(item, phase),
                    None,
                );
                let error = json::at(item, &["error", "message"]).and_then(Value::as_str);
                if let Some(e) = error {
                    t.status = ToolStatus::Failed;
                    set_result(&mut t, e);
                } else if let Some(result) = item.get("result").filter(|r| !r.is_null()) {
                    set_result(
                        &mut t,
                        &answer_text(result.get("content").unwrap_or(result)),
                    );
                }
                self.upsert_tool(&key, t, at);
            }
            "websearch" => {
                let query = str_of(item, "query").unwrap_or("").to_owned();
                let t = tools::tool_use(
                    Some(id),
                    "web_search",
                    Action::new(ToolAction::WebSearch { query }),
                    item_status(item, phase),
                    None,
                );
                self.upsert_tool(&key, t, at);
            }
            "todolist" => {
                let items = todo_items(item.get("items").unwrap_or(&Value::Null));
                let t = tools::tool_use(
                    Some(id),
                    "todo_list",
                    Action::new(ToolAction::TodoUpdate { items }),
                    item_status(item, phase),
                    None,
                );
                self.upsert_tool(&key, t, at);
            }
            "plan" => {
                if let Some(text) = text_field(item) {
                    let t = tools::tool_use(
                        Some(id),
                        "plan",
                        Action::new(ToolAction::PlanPresentation {
                            plan: clip(&text, MAX_RESULT),
                        }),
                        item_status(item, phase),
                        None,
                    );
                    self.upsert_tool(&key, t, at);
                }
            }
            "collabtoolcall" => {
                let tool = str_of(item, "tool").unwrap_or("agent");
                let t = tools::tool_use(
                    Some(id),
                    tool,
                    Action::new(ToolAction::SubAgent {
                        description: tool.replace('_', " "),
                        prompt: str_of(item, "prompt").map(|p| clip(p, MAX_RESULT)),
                        agent_type: None,
                    }),
                    item_status(item, phase),
                    None,
                );
                self.upsert_tool(&key, t, at);
            }
            "imageview" => {
                let path = str_of(item, "path").unwrap_or("").to_owned();
                let t = tools::tool_use(
                    Some(id),
                    "view_image",
                    Action::new(ToolAction::FileRead { path }),
                    item_status(item, phase),
                    None,
                );
                self.upsert_tool(&key, t, at);
            }
            "error" => {
                let text = str_of(item, "message").unwrap_or("error");
                self.log.upsert(
                    &key,
                    EntryContent::Error {
                        text: text.to_owned(),
                    },
                    at,
                );
            }
            "enteredreviewmode" => {
                let review = str_of(item, "review").unwrap_or("");
                self.log.upsert(
                    &key,
                    EntryContent::SystemMessage {
                        text: format!("Review started: {review}"),
                    },
                    at,
                );
            }
            "exitedreviewmode" => {
                if let Some(review) = str_of(item, "review") {
                    self.set_text(&format!("{key}:review"), Stream::Assistant, review, at);
                }
            }
            "contextcompaction" => {
                if phase == Phase::Completed {
                    self.log.system("Conversation compacted", at);
                }
            }
            _ => {
                if phase != Phase::Updated {
                    self.log.system(
                        &format!(
                            "Unrecognized codex item `{}`: {}",
                            str_of(item, "type").unwrap_or(""),
                            excerpt(&json::compact(item))
                        ),
                        at,
                    );
                }
            }
        }
    }

    /// An item's whole text: the entry under `key` is set to it (created if new).
    fn set_text(&mut self, key: &str, stream: Stream, text: &str, at: Option<DateTime<Utc>>) {
        if text.is_empty() && self.log.indices(key).is_empty() {
            return;
        }
        let text = clip(text, json::MAX_TEXT);
        let content = match stream {
            Stream::Assistant => EntryContent::AssistantMessage { text },
            Stream::Thinking => EntryContent::Thinking { text },
            Stream::User => EntryContent::UserMessage { text },
        };
        self.log.upsert(key, content, at);
    }

    /// Creates or updates the tool use under `key`, keeping a pending approval until
    /// the item reports an outcome.
    fn upsert_tool(&mut self, key: &str, mut t: ToolUse, at: Option<DateTime<Utc>>) {
        if t.status == ToolStatus::Created
            && self.log.tool_status(key) == Some(ToolStatus::PendingApproval)
        {
            t.status = ToolStatus::PendingApproval;
        }
        self.log.upsert(key, EntryContent::ToolUse(t), at);
    }

    fn command(&mut self, item: &Value, key: &str, phase: Phase, at: Option<DateTime<Utc>>) {
        let id = str_of(item, "id");
        let command = item
            .get("command")
            .and_then(tools::shell_command)
            .unwrap_or_default();
        let output = first_str(item, &["aggregated_output", "aggregatedOutput"]).unwrap_or("");
        let exit_code = ["exit_code", "exitCode"]
            .iter()
            .find_map(|k| item.get(k).and_then(int));
        let mut status = item_status(item, phase);
        if status == ToolStatus::Success && exit_code.is_some_and(|c| c != 0) {
            status = ToolStatus::Failed;
        }
        let mut t = tools::tool_use(
            id,
            "command_execution",
            Action::new(ToolAction::CommandRun {
                command,
                exit_code,
                output: None,
            }),
            status,
            None,
        );
        if output.is_empty() && phase != Phase::Completed {
            // Keep output streamed so far by outputDelta.
            if let Some(EntryContent::ToolUse(existing)) = self
                .log
                .indices(key)
                .first()
                .and_then(|i| self.log.get(*i))
                .map(|e| &e.content)
                && let ToolAction::CommandRun {
                    output: Some(o), ..
                } = &existing.action
            {
                set_result(&mut t, o);
            }
        } else {
            set_result(&mut t, output);
        }
        self.upsert_tool(key, t, at);
    }

    fn file_change(&mut self, item: &Value, key: &str, phase: Phase, at: Option<DateTime<Utc>>) {
        let id = str_of(item, "id");
        let status = item_status(item, phase);
        let pending = self.log.tool_status(key) == Some(ToolStatus::PendingApproval);
        let uses: Vec<ToolUse> = item
            .get("changes")
            .and_then(Value::as_array)
            .map(|changes| {
                changes
                    .iter()
                    .map(|c| {
                        let path = str_of(c, "path").unwrap_or("").to_owned();
                        let changes = file_changes(c);
                        let mut t = tools::tool_use(
                            id,
                            "file_change",
                            Action::new(ToolAction::FileEdit { path, changes }),
                            status,
                            None,
                        );
                        if pending && status == ToolStatus::Created {
                            t.status = ToolStatus::PendingApproval;
                        }
                        t
                    })
                    .collect()
            })
            .unwrap_or_default();
        if uses.is_empty() {
            // A change without its list: only its status moved.
            self.log.update_tools(key, |t| t.status = status);
            return;
        }
        self.log.upsert_all(
            key,
            uses.into_iter().map(EntryContent::ToolUse).collect(),
            at,
        );
    }

    // ----- app-server JSON-RPC -----------------------------------------------------

    fn rpc(&mut self, v: &Value, raw: &str, at: Option<DateTime<Utc>>) {
        let params = v.get("params").unwrap_or(&Value::Null);
        match (str_of(v, "method"), v.get("id").is_some()) {
            (Some(method), true) => self.server_request(method, params, raw, at),
            (Some(method), false) => self.notification(method, params, raw, at),
            (None, _) => self.response(v, at),
        }
    }

    fn response(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        if let Some(error) = v.get("error").filter(|e| !e.is_null()) {
            let message = first_str(error, &["message"]).unwrap_or("request failed");
            self.log
                .error(&format!("codex app-server error: {message}"), at);
            return;
        }
        let result = v.get("result").unwrap_or(&Value::Null);
        let thread = json::at(result, &["thread", "id"]).and_then(Value::as_str);
        let conversation = first_str(result, &["conversationId", "threadId", "sessionId"]);
        self.set_session(thread.or(conversation));
    }

    fn notification(&mut self, method: &str, p: &Value, raw: &str, at: Option<DateTime<Utc>>) {
        match method {
            "thread/started" => {
                self.set_session(json::at(p, &["thread", "id"]).and_then(Value::as_str))
            }
            "sessionConfigured" => self.set_session(first_str(p, &["sessionId", "session_id"])),
            "turn/started" => self.usage_turn_start = self.usage_now,
            "turn/completed" => self.turn_completed(p, at),
            "item/started" => self.item(p.get("item"), Phase::Started, at),
            "item/updated" => self.item(p.get("item"), Phase::Updated, at),
            "item/completed" => self.item(p.get("item"), Phase::Completed, at),
            "item/agentMessage/delta" => self.delta(p, Stream::Assistant, at),
            "item/reasoning/summaryTextDelta" | "item/reasoning/textDelta" => {
                self.delta(p, Stream::Thinking, at)
            }
            "item/reasoning/summaryPartAdded" => {
                if let Some(item) = str_of(p, "itemId") {
                    let key = format!("item:{item}");
                    if !self.log.indices(&key).is_empty() {
                        self.log.stream(Stream::Thinking, Some(&key), "\n\n", at);
                    }
                }
            }
            "item/commandExecution/outputDelta" => {
                if let (Some(item), Some(delta)) = (str_of(p, "itemId"), str_of(p, "delta")) {
                    self.log
                        .update_tools(&format!("item:{item}"), |t| tools::append_output(t, delta));
                }
            }
            "thread/tokenUsage/updated" => {
                let usage = p
                    .get("tokenUsage")
                    .or_else(|| p.get("usage"))
                    .unwrap_or(&Value::Null);
                let total = Usage::of(usage.get("total").unwrap_or(usage));
                let last = Usage::of(usage.get("last").unwrap_or(&Value::Null));
                let base = *self.usage_base.get_or_insert(total.minus(last));
                self.usage_now = total.minus(base);
                self.totals = TokenTotals {
                    input_tokens: self.usage_now.input,
                    output_tokens: self.usage_now.output,
                    cached_input_tokens: self.usage_now.cached,
                    cost_usd: None,
                };
            }
            "turn/plan/updated" => {
                let items = todo_items(p.get("plan").unwrap_or(&Value::Null));
                let turn = str_of(p, "turnId").unwrap_or("");
                let mut t = tools::tool_use(
                    None,
                    "update_plan",
                    Action::new(ToolAction::TodoUpdate { items }),
                    ToolStatus::Success,
                    None,
                );
                if let Some(explanation) = str_of(p, "explanation") {
                    set_result(&mut t, explanation);
                }
                self.log
                    .upsert(&format!("plan:{turn}"), EntryContent::ToolUse(t), at);
            }
            "error" => {
                let message = json::at(p, &["error", "message"])
                    .and_then(Value::as_str)
                    .or_else(|| str_of(p, "error"))
                    .unwrap_or("error");
                if p.get("willRetry").and_then(Value::as_bool) == Some(true) {
                    self.log.system(&format!("{message} (retrying)"), at);
                } else {
                    self.log.error(message, at);
                }
            }
            "configWarning" | "deprecationNotice" => {
                let text = first_str(p, &["summary", "message", "details"]).unwrap_or(method);
                self.log.system(text, at);
            }
            // Diffs are computed by the worker itself; the rest is account, thread and
            // server bookkeeping, and the legacy event stream duplicating the above.
            m if m.starts_with("codex/event")
                || m.starts_with("account/")
                || m.starts_with("thread/")
                || m.starts_with("mcpServer/")
                || m.starts_with("app/")
                || m.starts_with("skills/")
                || m.starts_with("serverRequest/")
                || m.starts_with("model/")
                || m.starts_with("windows/")
                || m.starts_with("item/")
                || m.starts_with("turn/")
                || m == "authStatusChange"
                || m == "loginChatGptComplete"
                || m == "rawResponseItem/completed" => {}
            other => self.log.system(
                &format!(
                    "Unrecognized codex notification `{other}`: {}",
                    excerpt(raw)
                ),
                at,
            ),
        }
    }

    fn delta(&mut self, p: &Value, stream: Stream, at: Option<DateTime<Utc>>) {
        if let (Some(item), Some(delta)) = (str_of(p, "itemId"), str_of(p, "delta")) {
            self.log
                .stream(stream, Some(&format!("item:{item}")), delta, at);
        }
    }

    fn turn_completed(&mut self, p: &Value, at: Option<DateTime<Utc>>) {
        let turn = p.get("turn").unwrap_or(&Value::Null);
        match str_of(turn, "status") {
            Some("failed") => {
                let message = json::at(turn, &["error", "message"])
                    .and_then(Value::as_str)
                    .unwrap_or("turn failed");
                self.log.error(message, at);
            }
            Some("interrupted") => self.log.system("Turn interrupted", at),
            _ => {}
        }
        let turn_usage = self.usage_now.minus(self.usage_turn_start);
        self.usage_turn_start = self.usage_now;
        if !turn_usage.is_zero() {
            self.log.push(
                EntryContent::TokenUsage {
                    input_tokens: turn_usage.input,
                    output_tokens: turn_usage.output,
                    cached_input_tokens: Some(turn_usage.cached),
                    cost_usd: None,
                },
                at,
            );
        }
    }

    fn server_request(&mut self, method: &str, p: &Value, raw: &str, at: Option<DateTime<Utc>>) {
        match method {
            "item/commandExecution/requestApproval" => {
                let key = format!("item:{}", str_of(p, "itemId").unwrap_or(""));
                let command = p.get("command").and_then(tools::shell_command);
                self.pending(
                    &key,
                    "command_execution",
                    || ToolAction::CommandRun {
                        command: command.clone().unwrap_or_default(),
                        exit_code: None,
                        output: None,
                    },
                    str_of(p, "itemId"),
                    str_of(p, "reason"),
                    at,
                );
            }
            "item/fileChange/requestApproval" => {
                let key = format!("item:{}", str_of(p, "itemId").unwrap_or(""));
                self.pending(
                    &key,
                    "file_change",
                    || ToolAction::Other { arguments: None },
                    str_of(p, "itemId"),
                    str_of(p, "reason"),
                    at,
                );
            }
            "execCommandApproval" => {
                let id = first_str(p, &["callId", "call_id"]);
                let key = format!("call:{}", id.unwrap_or(""));
                let command = p
                    .get("command")
                    .and_then(tools::shell_command)
                    .unwrap_or_default();
                self.pending(
                    &key,
                    "exec_command",
                    || ToolAction::CommandRun {
                        command: command.clone(),
                        exit_code: None,
                        output: None,
                    },
                    id,
                    str_of(p, "reason"),
                    at,
                );
            }
            "applyPatchApproval" => {
                let id = first_str(p, &["callId", "call_id"]);
                let key = format!("call:{}", id.unwrap_or(""));
                if !self.log.indices(&key).is_empty() {
                    self.log
                        .update_tools(&key, |t| t.status = ToolStatus::PendingApproval);
                    return;
                }
                let files = p
                    .get("fileChanges")
                    .or_else(|| p.get("changes"))
                    .and_then(Value::as_object);
                let mut uses = Vec::new();
                for (path, change) in files.into_iter().flatten() {
                    let mut t = tools::tool_use(
                        id,
                        "apply_patch",
                        Action::new(ToolAction::FileEdit {
                            path: path.clone(),
                            changes: legacy_file_change(change),
                        }),
                        ToolStatus::PendingApproval,
                        None,
                    );
                    if let Some(reason) = str_of(p, "reason") {
                        set_result(&mut t, reason);
                    }
                    uses.push(t);
                }
                if uses.is_empty() {
                    uses.push(tools::tool_use(
                        id,
                        "apply_patch",
                        Action::new(ToolAction::Other { arguments: None }),
                        ToolStatus::PendingApproval,
                        None,
                    ));
                }
                self.log.push_tools(&key, uses, at);
            }
            "item/tool/requestUserInput" | "tool/requestUserInput" => {
                let text = json::text_of(p).unwrap_or_default();
                let t = tools::tool_use(
                    first_str(p, &["itemId", "callId"]),
                    "request_user_input",
                    Action::new(ToolAction::Question {
                        questions: vec![shared::logs::Question {
                            question: text,
                            options: Vec::new(),
                        }],
                    }),
                    ToolStatus::PendingApproval,
                    None,
                );
                self.log.push(EntryContent::ToolUse(t), at);
            }
            "item/tool/call" => {
                let id = first_str(p, &["callId", "itemId"]);
                let name = str_of(p, "tool").unwrap_or("tool");
                let input = p.get("arguments").cloned().unwrap_or(Value::Null);
                let uses = tools::classify(name, &input)
                    .into_iter()
                    .map(|a| tools::tool_use(id, name, a, ToolStatus::Created, None))
                    .collect();
                self.log
                    .push_tools(&format!("call:{}", id.unwrap_or("")), uses, at);
            }
            other => self.log.system(
                &format!("Unrecognized codex request `{other}`: {}", excerpt(raw)),
                at,
            ),
        }
    }

    /// Marks the tool use under `key` as waiting for approval, creating it when the
    /// request came before (or without) the item.
    fn pending(
        &mut self,
        key: &str,
        name: &str,
        action: impl Fn() -> ToolAction,
        id: Option<&str>,
        reason: Option<&str>,
        at: Option<DateTime<Utc>>,
    ) {
        let found = self.log.update_tools(key, |t| {
            t.status = ToolStatus::PendingApproval;
            if let (Some(reason), None) = (reason, &t.result) {
                t.result = Some(reason.to_owned());
            }
        });
        if !found {
            let mut t = tools::tool_use(
                id,
                name,
                Action::new(action()),
                ToolStatus::PendingApproval,
                None,
            );
            if let Some(reason) = reason {
                t.result = Some(reason.to_owned());
            }
            if t.summary == name {
                t.summary = format!("{name} awaiting approval");
            }
            self.log.push_tools(key, vec![t], at);
        }
    }
}

/// Where an item is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Started,
    Updated,
    Completed,
}

/// An item's text: `text`, or (app-server reasoning) its `summary` and `content` parts.
fn text_field(item: &Value) -> Option<String> {
    if let Some(t) = str_of(item, "text") {
        return Some(t.to_owned());
    }
    let parts: Vec<String> = ["summary", "content"]
        .iter()
        .filter_map(|k| item.get(k).and_then(Value::as_array))
        .flatten()
        .filter_map(json::text_of)
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// An item's status: its own `status` field when it has one, else its phase.
fn item_status(item: &Value, phase: Phase) -> ToolStatus {
    let folded: Option<String> = str_of(item, "status").map(|s| {
        s.chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    });
    match folded.as_deref() {
        Some("completed" | "success" | "succeeded") => ToolStatus::Success,
        Some("failed" | "error") => ToolStatus::Failed,
        Some("declined" | "rejected" | "denied") => ToolStatus::Denied,
        Some("inprogress" | "pending" | "running") => ToolStatus::Created,
        _ => match phase {
            Phase::Completed => ToolStatus::Success,
            Phase::Started | Phase::Updated => ToolStatus::Created,
        },
    }
}

/// The changes of one entry of a file_change item: `kind` is `add|delete|update` (a
/// string in exec events, `{type, move_path}` in the app-server), `diff` when reported.
fn file_changes(c: &Value) -> Vec<FileChange> {
    let kind = c.get("kind").unwrap_or(&Value::Null);
    let kind_name = kind.as_str().or_else(|| str_of(kind, "type")).unwrap_or("");
    let moved = first_str(kind, &["move_path", "movePath"])
        .or_else(|| first_str(c, &["move_path", "movePath"]));
    let mut changes = Vec::new();
    match (kind_name, first_str(c, &["diff", "unified_diff"])) {
        ("delete", _) => changes.push(FileChange::Delete),
        (_, Some(diff)) => changes.push(FileChange::Diff {
            unified_diff: clip(diff, MAX_RESULT),
        }),
        ("add", None) => changes.push(FileChange::Create),
        _ => changes.push(FileChange::Update),
    }
    if let Some(new_path) = moved {
        changes.push(FileChange::Rename {
            new_path: new_path.to_owned(),
        });
    }
    changes
}

/// A change of the older approval requests: `{add:{content}}`, `{delete:{}}`,
/// `{update:{unified_diff, move_path}}`, or the same with a `type` tag.
fn legacy_file_change(change: &Value) -> Vec<FileChange> {
    let (kind, body) = match str_of(change, "type") {
        Some(kind) => (kind.to_owned(), change),
        None => match change.as_object().and_then(|o| o.iter().next()) {
            Some((k, body)) => (k.clone(), body),
            None => (String::new(), change),
        },
    };
    let mut changes = match kind.as_str() {
        "add" => vec![match str_of(body, "content") {
            Some(content) => FileChange::Write {
                content: clip(content, MAX_RESULT),
            },
            None => FileChange::Create,
        }],
        "delete" => vec![FileChange::Delete],
        _ => vec![match first_str(body, &["unified_diff", "diff"]) {
            Some(diff) => FileChange::Diff {
                unified_diff: clip(diff, MAX_RESULT),
            },
            None => FileChange::Update,
        }],
    };
    if let Some(new_path) = first_str(body, &["move_path", "movePath"]) {
        changes.push(FileChange::Rename {
            new_path: new_path.to_owned(),
        });
    }
    changes
}

super::json_lines_normalizer!(CodexNormalizer, line);
