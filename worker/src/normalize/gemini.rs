//! Gemini CLI's own output formats (its ACP mode goes through [`super::acp`]):
//!
//! - `--output-format stream-json`: one event per line — `init` (session id, model),
//!   `message` (user or assistant; assistant text arrives as `delta` chunks), `tool_use`
//!   (`tool_name`, `tool_id`, `parameters`), `tool_result` (`status`, `output` or
//!   `error`), `error`, and `result` (`stats` with token counts);
//! - `--output-format json`: a single object printed at the end (often pretty-printed
//!   over many lines) with `response`, `stats.models.*.tokens` and `stats.tools`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, ToolAction, ToolStatus};

use super::entries::{EntryLog, Stream};
use super::json::{self, excerpt, first_count, first_str, str_of};
use super::tools::{self, Action, answer_text, classify, failure_status, set_result};
use super::{EntryPatch, Normalizer, TokenTotals};

/// Normalizer for `gemini --output-format stream-json`.
pub struct GeminiStreamNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
}

impl Default for GeminiStreamNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl GeminiStreamNormalizer {
    /// A normalizer for one Gemini CLI process.
    pub fn new() -> GeminiStreamNormalizer {
        GeminiStreamNormalizer {
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
        }
    }

    fn event(&mut self, v: &Value, raw: &str) {
        let at = json::event_time(v);
        match str_of(v, "type") {
            Some("init") => {
                if let Some(id) = str_of(v, "session_id").filter(|s| !s.is_empty()) {
                    self.session_id = Some(id.to_owned());
                }
                let text = match str_of(v, "model") {
                    Some(model) => format!("Session started with model {model}"),
                    None => "Session started".to_owned(),
                };
                self.log.system(&text, at);
            }
            Some("message") => {
                let text = v.get("content").and_then(json::text_of).unwrap_or_default();
                match str_of(v, "role") {
                    Some("user") => self.log.message(Stream::User, text.trim_end(), at),
                    _ if v.get("delta").and_then(Value::as_bool) == Some(true) => {
                        self.log.stream(Stream::Assistant, None, &text, at)
                    }
                    _ => self.log.message(Stream::Assistant, &text, at),
                }
            }
            Some("thought" | "thinking") => {
                let text = first_str(v, &["content", "text", "subject"]).unwrap_or("");
                self.log.stream(Stream::Thinking, None, text, at);
            }
            Some("tool_use") => {
                let id = str_of(v, "tool_id");
                let name = str_of(v, "tool_name").unwrap_or("tool");
                let input = v.get("parameters").cloned().unwrap_or(Value::Null);
                let uses = classify(name, &input)
                    .into_iter()
                    .map(|a| tools::tool_use(id, name, a, ToolStatus::Created, None))
                    .collect();
                self.log
                    .push_tools(&format!("tool:{}", id.unwrap_or("")), uses, at);
            }
            Some("tool_result") => {
                let id = str_of(v, "tool_id").unwrap_or("");
                let error = v.get("error").filter(|e| !e.is_null());
                let failed = str_of(v, "status").is_some_and(|s| s != "success") || error.is_some();
                let text = match error {
                    Some(e) => answer_text(e),
                    None => v.get("output").map(answer_text).unwrap_or_default(),
                };
                let status = if failed {
                    failure_status(&text)
                } else {
                    ToolStatus::Success
                };
                let key = format!("tool:{id}");
                let found = self.log.update_tools(&key, |t| {
                    t.status = status;
                    set_result(t, &text);
                });
                if !found {
                    let mut t = tools::tool_use(
                        (!id.is_empty()).then_some(id),
                        "unknown",
                        Action::new(ToolAction::Other { arguments: None }),
                        status,
                        None,
                    );
                    set_result(&mut t, &text);
                    self.log.push_tools(&key, vec![t], at);
                }
            }
            Some("error") => {
                let text = first_str(v, &["message"])
                    .map(str::to_owned)
                    .or_else(|| v.get("error").and_then(json::text_of))
                    .unwrap_or_else(|| excerpt(raw));
                if str_of(v, "severity") == Some("warning") {
                    self.log.system(&text, at);
                } else {
                    self.log.error(&text, at);
                }
            }
            Some("result") => {
                let stats = v.get("stats").unwrap_or(&Value::Null);
                let input = first_count(stats, &["input_tokens", "input"]).unwrap_or(0);
                let output = first_count(stats, &["output_tokens", "output"]).unwrap_or(0);
                let cached = first_count(stats, &["cached", "cached_tokens"]).unwrap_or(0);
                if input + output > 0 {
                    let report = TokenTotals {
                        input_tokens: input,
                        output_tokens: output,
                        cached_input_tokens: cached,
                        cost_usd: None,
                    };
                    self.totals.add(&report);
                    self.log.push(
                        EntryContent::TokenUsage {
                            input_tokens: input,
                            output_tokens: output,
                            cached_input_tokens: (cached > 0).then_some(cached),
                            cost_usd: None,
                        },
                        at,
                    );
                }
                if str_of(v, "status").is_some_and(|s| s != "success") {
                    let text = v
                        .get("error")
                        .and_then(json::text_of)
                        .unwrap_or_else(|| "The run failed".to_owned());
                    self.log.error(&text, at);
                }
            }
            Some(other) => self.log.system(
                &format!("Unrecognized gemini event `{other}`: {}", excerpt(raw)),
                at,
            ),
            None => self
                .log
                .system(&format!("Unrecognized gemini output: {}", excerpt(raw)), at),
        }
    }
}

super::json_lines_normalizer!(GeminiStreamNormalizer, event);

/// Most bytes buffered while waiting for the JSON object to close; past this the
/// buffer is shown as raw output rather than held.
const MAX_BUFFER: usize = 16 * 1024 * 1024;

/// Normalizer for `gemini --output-format json`: buffers lines until they form the
/// result object (or the output ends).
pub struct GeminiJsonNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
    buffer: Vec<String>,
    buffered: usize,
}

impl Default for GeminiJsonNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl GeminiJsonNormalizer {
    /// A normalizer for one Gemini CLI process in json mode.
    pub fn new() -> GeminiJsonNormalizer {
        GeminiJsonNormalizer {
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
            buffer: Vec::new(),
            buffered: 0,
        }
    }

    /// Tries the buffer as one JSON object; on success it is consumed.
    fn try_parse(&mut self) -> bool {
        let text = self.buffer.join("\n");
        match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) => {
                self.buffer.clear();
                self.buffered = 0;
                self.result(&v);
                true
            }
            _ => false,
        }
    }

    /// Shows what was buffered as raw output lines.
    fn flush_raw(&mut self) {
        for line in std::mem::take(&mut self.buffer) {
            if !line.trim().is_empty() {
                self.log.output(&line);
            }
        }
        self.buffered = 0;
    }

    fn result(&mut self, v: &Value) {
        if ["response", "stats", "error"]
            .iter()
            .all(|k| v.get(k).is_none())
        {
            let text = excerpt(&json::compact(v));
            self.log
                .system(&format!("Unrecognized gemini output: {text}"), None);
            return;
        }
        if let Some(id) = first_str(v, &["session_id", "sessionId"]) {
            self.session_id = Some(id.to_owned());
        }
        if let Some(response) = str_of(v, "response") {
            self.log.message(Stream::Assistant, response, None);
        }
        let stats = v.get("stats").unwrap_or(&Value::Null);
        if let Some(tools) = stats.get("tools").filter(|t| t.is_object()) {
            let calls = first_count(tools, &["totalCalls"]).unwrap_or(0);
            if calls > 0 {
                let names: Vec<String> = tools
                    .get("byName")
                    .and_then(Value::as_object)
                    .map(|by| {
                        by.iter()
                            .map(|(name, s)| {
                                let n = first_count(s, &["count"]).unwrap_or(0);
                                let failed = first_count(s, &["fail"]).unwrap_or(0);
                                if failed > 0 {
                                    format!("{name} ×{n} ({failed} failed)")
                                } else {
                                    format!("{name} ×{n}")
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let plural = if calls == 1 { "" } else { "s" };
                self.log.system(
                    &format!("{calls} tool call{plural}: {}", names.join(", ")),
                    None,
                );
            }
        }
        // Per model: prompt tokens in, candidates and thoughts out.
        let mut report = TokenTotals::default();
        if let Some(models) = stats.get("models").and_then(Value::as_object) {
            for model in models.values() {
                let tokens = model.get("tokens").unwrap_or(&Value::Null);
                report.input_tokens += first_count(tokens, &["prompt", "input"]).unwrap_or(0);
                report.output_tokens += first_count(tokens, &["candidates", "output"]).unwrap_or(0)
                    + first_count(tokens, &["thoughts"]).unwrap_or(0);
                report.cached_input_tokens += first_count(tokens, &["cached"]).unwrap_or(0);
            }
        }
        if report.input_tokens + report.output_tokens > 0 {
            self.totals.add(&report);
            self.log.push(
                EntryContent::TokenUsage {
                    input_tokens: report.input_tokens,
                    output_tokens: report.output_tokens,
                    cached_input_tokens: Some(report.cached_input_tokens),
                    cost_usd: None,
                },
                None,
            );
        }
        if let Some(error) = v.get("error").filter(|e| !e.is_null()) {
            let text = json::text_of(error).unwrap_or_else(|| json::as_text(error));
            self.log.error(&text, None);
        }
    }
}

impl Normalizer for GeminiJsonNormalizer {
    fn read_at(&mut self, at: DateTime<Utc>) {
        self.log.set_read_time(at);
    }

    fn stdout_line(&mut self, line: &str) -> Vec<EntryPatch> {
        let line = line.trim_end_matches(['\r', '\n']);
        if self.buffer.is_empty() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                return self.log.take();
            }
            if !trimmed.starts_with('{') {
                self.log.output(line);
                return self.log.take();
            }
        }
        self.buffered += line.len() + 1;
        self.buffer.push(line.to_owned());
        // The object may close on this line: a one-line object, or the pretty-printed
        // object's last (unindented) brace.
        let single = self.buffer.len() == 1;
        let closing = line.trim_end() == "}";
        if (single || closing) && self.try_parse() {
            // Consumed.
        } else if (closing && !single) || self.buffered > MAX_BUFFER {
            // The top-level brace closed something that is not JSON: show it as it is.
            self.flush_raw();
        }
        self.log.take()
    }

    fn stderr_line(&mut self, line: &str) -> Vec<EntryPatch> {
        self.log.stderr(line);
        self.log.take()
    }

    fn finish(&mut self) -> Vec<EntryPatch> {
        if !self.buffer.is_empty() && !self.try_parse() {
            self.flush_raw();
        }
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
