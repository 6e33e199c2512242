//! Claude Code's stream-json (`claude -p --output-format stream-json --verbose`), and
//! Amp's `--stream-json`, which uses the same event shapes with Amp's own tools.
//!
//! Events: `system` (`init` carries the session id and model, and comes again with every
//! turn of a stream-json conversation; `compact_boundary` and `status` report a
//! compaction of the conversation), `assistant` (content blocks: text, thinking,
//! tool_use), `user` (tool_result blocks, `is_error` marking a failure; text that is
//! `isSynthetic`, like a compaction's summary, or `isReplay`, an echo of input such as a
//! local command, is not a prompt), `result` (the turn's usage, and the process's running
//! totals: `total_cost_usd` and the per-model `modelUsage`), `rate_limit_event`,
//! `control_request` (`can_use_tool`: the agent asks whether it may run a tool) and, with
//! `--include-partial-messages`, `stream_event` (text and thinking deltas). Events a
//! sub-agent (Task) produced carry `parent_tool_use_id`.

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
    /// The process's running totals as of the last `result`: its cost, and its tokens
    /// summed over `modelUsage` (which alone counts calls outside the turn's own loop,
    /// like a compaction's). A turn is the difference to the next ones.
    cost_so_far: Option<f64>,
    model_usage_so_far: Option<TokenTotals>,
    /// Model and permission mode the session started with (`init` repeats every turn;
    /// only a change is news).
    model: Option<String>,
    permission_mode: Option<String>,
    started: bool,
    /// The entry of the compaction in progress (`status: compacting` came, its
    /// `compact_boundary` not yet), and of the latest compaction.
    compacting: Option<usize>,
    last_compaction: Option<usize>,
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
            cost_so_far: None,
            model_usage_so_far: None,
            model: None,
            permission_mode: None,
            started: false,
            compacting: None,
            last_compaction: None,
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
            Some("rate_limit_event") => self.rate_limit(v, at),
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
                let model = str_of(v, "model").filter(|m| !m.is_empty());
                let mode = str_of(v, "permissionMode").filter(|m| !m.is_empty());
                if !self.started {
                    self.started = true;
                    let mut text = String::from("Session started");
                    if let Some(model) = model {
                        text.push_str(&format!(" with model {model}"));
                    }
                    if let Some(mode) = mode {
                        text.push_str(&format!(" (permission mode {mode})"));
                    }
                    self.log.system(&text, at);
                } else if let Some(model) = model.filter(|m| self.model.as_deref() != Some(*m)) {
                    self.log.system(&format!("Model changed to {model}"), at);
                }
                if let Some(model) = model {
                    self.model = Some(model.to_owned());
                }
                if let Some(mode) = mode {
                    self.permission_mode_is(mode, at);
                }
            }
            Some("compact_boundary") => {
                let text = compaction_text(v.get("compact_metadata").unwrap_or(&Value::Null));
                let content = EntryContent::SystemMessage { text };
                match self.compacting.take() {
                    Some(index) => {
                        self.log.replace(index, content);
                        self.last_compaction = Some(index);
                    }
                    None => self.last_compaction = Some(self.log.push(content, at)),
                }
            }
            Some("status") => self.status(v, at),
            // A count of thinking tokens as they are spent: nothing a reader can use.
            Some("thinking_tokens") => {}
            Some("api_retry") => {
                let attempt = first_count(v, &["attempt"]);
                let max = first_count(v, &["max_retries"]);
                let why = json::first_str(v, &["error"])
                    .map(|e| e.replace('_', " "))
                    .or_else(|| first_count(v, &["error_status"]).map(|s| format!("HTTP {s}")));
                let mut text = String::from("API request failed");
                if let Some(why) = why {
                    text.push_str(&format!(" ({why})"));
                }
                text.push_str("; retrying");
                match (attempt, max) {
                    (Some(a), Some(m)) => text.push_str(&format!(" (attempt {a} of {m})")),
                    (Some(a), None) => text.push_str(&format!(" (attempt {a})")),
                    _ => {}
                }
                self.log.system(&text, at);
            }
            Some(other) => {
                let detail =
                    json::first_str(v, &["message", "text", "content", "status"]).unwrap_or("");
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

    /// A `status` event: the start (`compacting`) or end (`compact_result`) of a
    /// compaction, or a new permission mode. The compaction shows as one entry, which
    /// its `compact_boundary` completes; the rest of the status says nothing new.
    fn status(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        if str_of(v, "status") == Some("compacting") && self.compacting.is_none() {
            self.compacting = Some(self.log.push(
                EntryContent::SystemMessage {
                    text: "Compacting the conversation…".to_owned(),
                },
                at,
            ));
        }
        if let Some(result) = str_of(v, "compact_result").filter(|r| *r != "success") {
            let mut text = format!("Conversation compaction {}", result.replace('_', " "));
            if let Some(error) = json::first_str(v, &["compact_error", "error"]) {
                text.push_str(&format!(": {error}"));
            }
            let content = EntryContent::SystemMessage { text };
            match self.compacting.take().or(self.last_compaction) {
                Some(index) => self.log.replace(index, content),
                None => {
                    self.log.push(content, at);
                }
            }
        }
        if let Some(mode) = str_of(v, "permissionMode").filter(|m| !m.is_empty()) {
            self.permission_mode_is(mode, at);
        }
    }

    /// Records the permission mode, saying so when it changed.
    fn permission_mode_is(&mut self, mode: &str, at: Option<DateTime<Utc>>) {
        if let Some(old) = self.permission_mode.as_deref()
            && old != mode
        {
            self.log
                .system(&format!("Permission mode changed to {mode}"), at);
        }
        self.permission_mode = Some(mode.to_owned());
    }

    /// `rate_limit_event`: quiet while the limit allows requests; a warning as it nears,
    /// and the limit reached, are worth a line.
    fn rate_limit(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let info = v.get("rate_limit_info").unwrap_or(&Value::Null);
        let limit = str_of(info, "rateLimitType")
            .map(|t| format!("{} limit", t.replace('_', "-")))
            .unwrap_or_else(|| "rate limit".to_owned());
        let resets = info
            .get("resetsAt")
            .and_then(json::time)
            .map(|t| format!(" (resets {})", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        let text = match str_of(info, "status") {
            Some("allowed_warning") => {
                let used = info
                    .get("utilization")
                    .and_then(float)
                    .map(|u| if u <= 1.0 { u * 100.0 } else { u })
                    .map(|p| format!(": {p:.0}% used"))
                    .unwrap_or_default();
                format!("Nearing the {limit}{used}{resets}")
            }
            Some("rejected") => format!("Reached the {limit}{resets}"),
            _ => return,
        };
        self.log.system(&text, at);
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
        // Text the CLI wrote itself (a compaction's summary, a hook's note) or echoed
        // back (a local command such as `/compact` and its output) is no prompt.
        let not_a_prompt = ["isSynthetic", "isReplay"]
            .iter()
            .any(|k| v.get(k).and_then(Value::as_bool) == Some(true));
        for block in Self::blocks(message) {
            match str_of(&block, "type") {
                Some("tool_result") => {
                    let id = str_of(&block, "tool_use_id").unwrap_or("");
                    let is_error = block.get("is_error").and_then(Value::as_bool) == Some(true);
                    let content = block.get("content").cloned().unwrap_or(Value::Null);
                    self.tool_result(id, &content, is_error, at);
                }
                // A sub-agent's prompt already shows in its Task tool use.
                Some("text") if parent.is_none() && !not_a_prompt => {
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

    /// A `result` ends a turn. Its `usage` is the turn's own loop; `total_cost_usd` and
    /// `modelUsage` are the process's running totals, restated by every turn of a
    /// stream-json conversation, so the turn's share is what they grew by (and
    /// `modelUsage` alone counts a compaction's call).
    fn result(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let usage = v.get("usage").unwrap_or(&Value::Null);
        let total_cost = ["total_cost_usd", "total_cost", "cost_usd"]
            .iter()
            .find_map(|k| v.get(k).and_then(float));
        let cost = total_cost.map(|total| {
            let before = self.cost_so_far.unwrap_or(0.0);
            self.cost_so_far = Some(total);
            // A total that shrank is a fresh count (never seen; safer than negative).
            if total >= before {
                total - before
            } else {
                total
            }
        });
        let model_usage = v
            .get("modelUsage")
            .and_then(Value::as_object)
            .filter(|m| !m.is_empty())
            .map(|models| {
                models.values().fold(TokenTotals::default(), |mut sum, m| {
                    sum.add(&model_usage_of(m));
                    sum
                })
            });
        let turn = match model_usage {
            Some(total) => {
                let before = self.model_usage_so_far.unwrap_or_default();
                self.model_usage_so_far = Some(total);
                Some(growth(before, total))
            }
            None => (!usage.is_null()).then(|| usage_of(usage, None)),
        };
        if turn.is_some() || cost.is_some() {
            let mut report = turn.unwrap_or_default();
            report.cost_usd = cost;
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

/// One model's entry of `modelUsage` (camelCase counts), read like [`usage_of`].
fn model_usage_of(m: &Value) -> TokenTotals {
    let fresh = first_count(m, &["inputTokens", "input_tokens"]).unwrap_or(0);
    let created = first_count(
        m,
        &["cacheCreationInputTokens", "cache_creation_input_tokens"],
    )
    .unwrap_or(0);
    let read = first_count(m, &["cacheReadInputTokens", "cache_read_input_tokens"]).unwrap_or(0);
    TokenTotals {
        input_tokens: fresh.saturating_add(created).saturating_add(read),
        output_tokens: first_count(m, &["outputTokens", "output_tokens"]).unwrap_or(0),
        cached_input_tokens: read,
        cost_usd: None,
    }
}

/// What running totals grew by from `before` to `now`; totals that shrank are a fresh
/// count, taken whole.
fn growth(before: TokenTotals, now: TokenTotals) -> TokenTotals {
    if now.input_tokens < before.input_tokens
        || now.output_tokens < before.output_tokens
        || now.cached_input_tokens < before.cached_input_tokens
    {
        return now;
    }
    TokenTotals {
        input_tokens: now.input_tokens - before.input_tokens,
        output_tokens: now.output_tokens - before.output_tokens,
        cached_input_tokens: now.cached_input_tokens - before.cached_input_tokens,
        cost_usd: None,
    }
}

/// The one line a compaction shows: what triggered it and the context's size before
/// and after (`compact_metadata`: `trigger`, `pre_tokens`, `post_tokens`).
fn compaction_text(meta: &Value) -> String {
    let mut text = String::from("Conversation compacted");
    if let Some(trigger) = str_of(meta, "trigger").filter(|t| !t.is_empty()) {
        let how = match trigger {
            "auto" => "automatically".to_owned(),
            "manual" => "on request (/compact)".to_owned(),
            other => format!("({other})"),
        };
        text.push_str(&format!(" {how}"));
    }
    let pre = first_count(meta, &["pre_tokens", "preTokens"]);
    let post = first_count(meta, &["post_tokens", "postTokens"]);
    match (pre, post) {
        (Some(pre), Some(post)) => text.push_str(&format!(
            ": {} → {} tokens of context",
            thousands(pre),
            thousands(post)
        )),
        (Some(pre), None) => {
            text.push_str(&format!(": {} tokens of context before", thousands(pre)))
        }
        (None, Some(post)) => {
            text.push_str(&format!(": {} tokens of context after", thousands(post)))
        }
        (None, None) => {}
    }
    text
}

/// `152000` → `152,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn at_str(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path).and_then(Value::as_str).map(str::to_owned)
}

impl Normalizer for ClaudeNormalizer {
    fn read_at(&mut self, at: DateTime<Utc>) {
        self.log.set_read_time(at);
    }

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
