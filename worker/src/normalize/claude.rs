//! Claude Code's stream-json (`claude -p --output-format stream-json --verbose`), and
//! Amp's `--stream-json`, which uses the same event shapes with Amp's own tools.
//!
//! Events: `system` (`init` carries the session id and model), `assistant` (content
//! blocks: text, thinking, tool_use), `user` (tool_result blocks; `is_error` marks a
//! failure), `result` (usage and cost for the run), `control_request` (`can_use_tool`:
//! the agent asks whether it may run a tool) and, with `--include-partial-messages`,
//! `stream_event` (text and thinking deltas). Events a sub-agent (Task) produced carry
//! `parent_tool_use_id`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, ToolAction, ToolStatus};
use std::collections::HashMap;

use super::entries::{EntryLog, Stream};
use super::json::{self, Line, at, excerpt, first_count, float, str_of};
use super::tools::{self, answer_text, classify, exit_code_in, failure_status, set_result};
use super::{EntryPatch, Normalizer, TokenTotals};

/// Normalizer for Claude Code (and Amp) stream-json.
pub struct ClaudeNormalizer {
    agent: &'static str,
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
    /// The message `stream_event` deltas currently belong to.
    streaming_message: Option<String>,
    /// Streamed (partial) text and thinking entries per message id, in block order,
    /// waiting for the complete `assistant` event that repeats them.
    streamed: HashMap<String, Vec<(Stream, usize)>>,
    /// Usage of each model message since the last `result`, by message id: a running
    /// estimate (budgets look at it mid-run) that the `result`'s exact figures replace.
    live: HashMap<String, TokenTotals>,
}

impl ClaudeNormalizer {
    /// For Claude Code.
    pub fn claude_code() -> ClaudeNormalizer {
        ClaudeNormalizer::named("claude")
    }

    /// For Amp's Claude-compatible stream-json.
    pub fn amp() -> ClaudeNormalizer {
        ClaudeNormalizer::named("amp")
    }

    fn named(agent: &'static str) -> ClaudeNormalizer {
        ClaudeNormalizer {
            agent,
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
            streaming_message: None,
            streamed: HashMap::new(),
            live: HashMap::new(),
        }
    }

    fn event(&mut self, v: &Value, raw: &str) {
        let at = json::event_time(v);
        if self.session_id.is_none()
            && let Some(id) = str_of(v, "session_id").filter(|s| !s.is_empty())
        {
            self.session_id = Some(id.to_owned());
        }
        match str_of(v, "type") {
            Some("system") => self.system(v, at),
            Some("assistant") => self.assistant(v, at),
            Some("user") => self.user(v, at),
            Some("result") => self.result(v, at),
            Some("control_request") => self.control_request(v, at),
            Some("stream_event") => self.stream_event(v, at),
            // Answers to our own control requests, keep-alives, cancellations of a
            // permission prompt: protocol plumbing, nothing to show.
            Some("control_response" | "control_cancel_request" | "keep_alive") => {}
            Some("error") => {
                let text = json::text_of(v.get("error").unwrap_or(v))
                    .or_else(|| str_of(v, "message").map(str::to_owned))
                    .unwrap_or_else(|| excerpt(raw));
                self.log.error(&text, at);
            }
            Some(other) => self.log.system(
                &format!(
                    "Unrecognized {} event `{other}`: {}",
                    self.agent,
                    excerpt(raw)
                ),
                at,
            ),
            None => self.log.system(
                &format!("Unrecognized {} output: {}", self.agent, excerpt(raw)),
                at,
            ),
        }
    }

    fn system(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        match str_of(v, "subtype") {
            Some("init") => {
                if let Some(id) = str_of(v, "session_id").filter(|s| !s.is_empty()) {
                    self.session_id = Some(id.to_owned());
                }
                let mut text = String::from("Session started");
                if let Some(model) = str_of(v, "model") {
                    text.push_str(&format!(" with model {model}"));
                }
                if let Some(mode) = str_of(v, "permissionMode") {
                    text.push_str(&format!(" (permission mode {mode})"));
                }
                self.log.system(&text, at);
            }
            Some("compact_boundary") => self.log.system("Conversation compacted", at),
            Some(other) => {
                let detail = json::first_str(v, &["message", "text", "status"]).unwrap_or("");
                let text = if detail.is_empty() {
                    format!("System event `{other}`")
                } else {
                    format!("System event `{other}`: {detail}")
                };
                self.log.system(&text, at);
            }
            None => {}
        }
    }

    fn blocks(message: &Value) -> Vec<Value> {
        match message.get("content") {
            Some(Value::Array(blocks)) => blocks.clone(),
            Some(Value::String(s)) => vec![serde_json::json!({"type": "text", "text": s})],
            _ => Vec::new(),
        }
    }

    fn assistant(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let parent = str_of(v, "parent_tool_use_id");
        let message = v.get("message").unwrap_or(&Value::Null);
        let message_id = str_of(message, "id").map(str::to_owned);
        if let (Some(id), Some(usage)) = (&message_id, message.get("usage")) {
            // Every content block of a message repeats its usage: keep the largest.
            let seen = usage_of(usage, None);
            let slot = self.live.entry(id.clone()).or_default();
            slot.input_tokens = slot.input_tokens.max(seen.input_tokens);
            slot.output_tokens = slot.output_tokens.max(seen.output_tokens);
            slot.cached_input_tokens = slot.cached_input_tokens.max(seen.cached_input_tokens);
        }
        for block in Self::blocks(message) {
            match str_of(&block, "type") {
                Some("text") => {
                    let text = str_of(&block, "text").unwrap_or("");
                    self.complete_text(Stream::Assistant, message_id.as_deref(), text, at);
                }
                Some("thinking") => {
                    let text = str_of(&block, "thinking")
                        .or_else(|| str_of(&block, "text"))
                        .unwrap_or("");
                    self.complete_text(Stream::Thinking, message_id.as_deref(), text, at);
                }
                Some("tool_use" | "server_tool_use" | "mcp_tool_use") => {
                    self.tool_use(&block, parent, at);
                }
                Some(t) if t.ends_with("tool_result") => {
                    // Server tools (web search) answer inside the assistant message.
                    let id = str_of(&block, "tool_use_id").unwrap_or("");
                    let is_error = block.get("is_error").and_then(Value::as_bool) == Some(true);
                    let content = block.get("content").cloned().unwrap_or(Value::Null);
                    self.tool_result(id, &content, is_error, at);
                }
                _ => {}
            }
        }
        if let Some(error) = str_of(v, "error") {
            self.log
                .error(&format!("{} error: {error}", self.agent), at);
        }
    }

    /// A complete text or thinking block: it replaces the entry its streamed deltas
    /// built, if there was one, else it is a new entry.
    fn complete_text(
        &mut self,
        stream: Stream,
        message_id: Option<&str>,
        text: &str,
        at: Option<DateTime<Utc>>,
    ) {
        if let Some(pending) = message_id.and_then(|id| self.streamed.get_mut(id))
            && let Some(pos) = pending.iter().position(|(s, _)| *s == stream)
        {
            let (_, index) = pending.remove(pos);
            let content = match stream {
                Stream::Assistant => EntryContent::AssistantMessage { text: text.into() },
                Stream::Thinking => EntryContent::Thinking { text: text.into() },
                Stream::User => EntryContent::UserMessage { text: text.into() },
            };
            self.log.replace(index, content);
            return;
        }
        self.log.message(stream, text, at);
    }

    fn tool_use(&mut self, block: &Value, parent: Option<&str>, at: Option<DateTime<Utc>>) {
        let id = str_of(block, "id");
        let name = str_of(block, "name").unwrap_or("tool");
        let input = block.get("input").cloned().unwrap_or(Value::Null);
        let actions = classify(name, &input);
        let key = id.map(|id| format!("tool:{id}"));
        if let Some(key) = &key {
            // A permission request may have announced the call already: complete it.
            if !self.log.indices(key).is_empty() {
                let mut actions = actions.into_iter();
                self.log.update_tools(key, |t| {
                    if let Some(a) = actions.next() {
                        t.action = a.action;
                        if !a.summary.is_empty() {
                            t.summary = a.summary;
                        }
                    }
                    t.tool_name = name.to_owned();
                    t.parent_tool_call_id = parent.map(str::to_owned);
                });
                return;
            }
        }
        let uses = actions
            .into_iter()
            .map(|a| tools::tool_use(id, name, a, ToolStatus::Created, parent))
            .collect();
        match key {
            Some(key) => self.log.push_tools(&key, uses, at),
            None => {
                for u in uses {
                    self.log.push(EntryContent::ToolUse(u), at);
                }
            }
        }
    }

    fn user(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let parent = str_of(v, "parent_tool_use_id");
        let message = v.get("message").unwrap_or(&Value::Null);
        for block in Self::blocks(message) {
            match str_of(&block, "type") {
                Some("tool_result") => {
                    let id = str_of(&block, "tool_use_id").unwrap_or("");
                    let is_error = block.get("is_error").and_then(Value::as_bool) == Some(true);
                    let content = block.get("content").cloned().unwrap_or(Value::Null);
                    self.tool_result(id, &content, is_error, at);
                }
                // A sub-agent's prompt already shows in its Task tool use.
                Some("text") if parent.is_none() => {
                    let text = str_of(&block, "text").unwrap_or("");
                    self.log.message(Stream::User, text, at);
                }
                _ => {}
            }
        }
    }

    fn tool_result(
        &mut self,
        id: &str,
        content: &Value,
        is_error: bool,
        at: Option<DateTime<Utc>>,
    ) {
        let text = answer_text(content);
        let status = if is_error {
            failure_status(&text)
        } else {
            ToolStatus::Success
        };
        let key = format!("tool:{id}");
        let found = self.log.update_tools(&key, |t| {
            t.status = status;
            set_result(t, &text);
            if let Some(code) = exit_code_in(&text) {
                tools::set_exit_code(t, code);
            }
        });
        if !found {
            // A result whose call we never saw (the stream started mid-way).
            let mut t = tools::tool_use(
                (!id.is_empty()).then_some(id),
                "unknown",
                tools::Action::new(ToolAction::Other { arguments: None }),
                status,
                None,
            );
            set_result(&mut t, &text);
            self.log.push_tools(&key, vec![t], at);
        }
    }

    fn result(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let usage = v.get("usage").unwrap_or(&Value::Null);
        let cost = ["total_cost_usd", "cost_usd", "total_cost"]
            .iter()
            .find_map(|k| v.get(k).and_then(float));
        if !usage.is_null() || cost.is_some() {
            let report = usage_of(usage, cost);
            self.totals.add(&report);
            self.live.clear();
            self.log.push(
                EntryContent::TokenUsage {
                    input_tokens: report.input_tokens,
                    output_tokens: report.output_tokens,
                    cached_input_tokens: Some(report.cached_input_tokens),
                    cost_usd: cost,
                },
                at,
            );
        }
        // Calls the permission mode refused, listed at the end of the run.
        if let Some(denials) = v.get("permission_denials").and_then(Value::as_array) {
            for denial in denials {
                if let Some(id) = str_of(denial, "tool_use_id") {
                    self.log.update_tools(&format!("tool:{id}"), |t| {
                        t.status = ToolStatus::Denied;
                    });
                }
            }
        }
        let subtype = str_of(v, "subtype").unwrap_or("");
        let is_error = v.get("is_error").and_then(Value::as_bool) == Some(true)
            || subtype.starts_with("error");
        if is_error {
            let detail = str_of(v, "result")
                .map(str::to_owned)
                .or_else(|| v.get("errors").and_then(json::text_of))
                .unwrap_or_else(|| subtype.replace('_', " "));
            self.log.error(&detail, at);
        }
    }

    fn control_request(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let request = v.get("request").unwrap_or(&Value::Null);
        if str_of(request, "subtype") != Some("can_use_tool") {
            // Hook callbacks and MCP messages are answered by the executor.
            return;
        }
        let name = str_of(request, "tool_name").unwrap_or("tool");
        let input = request.get("input").cloned().unwrap_or(Value::Null);
        let id = str_of(request, "tool_use_id");
        let key = match id {
            Some(id) => format!("tool:{id}"),
            None => match self.latest_unfinished(name) {
                Some(key) => key,
                None => format!("request:{}", str_of(v, "request_id").unwrap_or("")),
            },
        };
        let found = self
            .log
            .update_tools(&key, |t| t.status = ToolStatus::PendingApproval);
        if !found {
            let uses = classify(name, &input)
                .into_iter()
                .map(|a| tools::tool_use(id, name, a, ToolStatus::PendingApproval, None))
                .collect();
            self.log.push_tools(&key, uses, at);
        }
    }

    /// The key of the latest tool use of `name` still running: older Claude Code
    /// versions ask permission without naming the call.
    fn latest_unfinished(&self, name: &str) -> Option<String> {
        (0..self.log.len())
            .rev()
            .find_map(|i| match &self.log.get(i)?.content {
                EntryContent::ToolUse(t)
                    if t.tool_name == name && t.status == ToolStatus::Created =>
                {
                    t.tool_call_id.as_ref().map(|id| format!("tool:{id}"))
                }
                _ => None,
            })
    }

    fn stream_event(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let event = v.get("event").unwrap_or(&Value::Null);
        match str_of(event, "type") {
            Some("message_start") => {
                self.streaming_message = at_str(event, &["message", "id"]);
            }
            Some("content_block_delta") => {
                let Some(message) = self.streaming_message.clone() else {
                    return;
                };
                let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = event.get("delta").unwrap_or(&Value::Null);
                let (stream, text) = match str_of(delta, "type") {
                    Some("text_delta") => (Stream::Assistant, str_of(delta, "text")),
                    Some("thinking_delta") => (Stream::Thinking, str_of(delta, "thinking")),
                    _ => return,
                };
                let Some(text) = text else { return };
                let key = format!("partial:{message}:{index}");
                let fresh = self.log.indices(&key).is_empty();
                self.log.stream(stream, Some(&key), text, at);
                if fresh && let Some(&entry) = self.log.indices(&key).first() {
                    self.streamed
                        .entry(message)
                        .or_default()
                        .push((stream, entry));
                }
            }
            Some("message_stop") => self.streaming_message = None,
            _ => {}
        }
    }
}

/// Anthropic usage: every prompt token (fresh, cache writes, cache reads) is input;
/// cache reads are the cached share.
fn usage_of(usage: &Value, cost: Option<f64>) -> TokenTotals {
    let fresh = first_count(usage, &["input_tokens"]).unwrap_or(0);
    let created = first_count(usage, &["cache_creation_input_tokens"]).unwrap_or(0);
    let read = first_count(usage, &["cache_read_input_tokens"]).unwrap_or(0);
    TokenTotals {
        input_tokens: fresh.saturating_add(created).saturating_add(read),
        output_tokens: first_count(usage, &["output_tokens"]).unwrap_or(0),
        cached_input_tokens: read,
        cost_usd: cost,
    }
}

fn at_str(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path).and_then(Value::as_str).map(str::to_owned)
}

impl Normalizer for ClaudeNormalizer {
    fn stdout_line(&mut self, line: &str) -> Vec<EntryPatch> {
        match json::parse_line(line) {
            Line::Empty => {}
            Line::Event(v) => self.event(&v, line.trim()),
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
        let mut totals = self.totals;
        for usage in self.live.values() {
            totals.add(usage);
        }
        totals
    }
}
