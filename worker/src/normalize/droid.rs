//! Factory Droid stream-json (`droid exec --output-format stream-json`).
//!
//! Events: `system`/`init` (session id, model), `message` (user or assistant, whole
//! texts), `reasoning`, `tool_call` (`id`, `toolName`, `parameters`), `tool_result`
//! (`id`, `isError`, `value` or `error.message`; a call the autonomy level refuses
//! comes back as `tool execution cancelled`; a command's output ends with a
//! `[Process exited with code N]` line; an edit's is a JSON document with a `diff` or
//! `diffLines`), `completion` (final text, usage) and `error`. Timestamps are Unix
//! milliseconds.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, FileChange, ToolAction, ToolStatus};

use super::TokenTotals;
use super::entries::{EntryLog, Stream};
use super::json::{self, MAX_RESULT, clip, excerpt, first_count, first_str, str_of};
use super::tools::{self, Action, answer_text, classify, exit_code_in, failure_status, set_result};

/// Normalizer for Droid stream-json.
pub struct DroidNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
}

impl Default for DroidNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl DroidNormalizer {
    /// A normalizer for one Droid process.
    pub fn new() -> DroidNormalizer {
        DroidNormalizer {
            log: EntryLog::new(),
            session_id: None,
            totals: TokenTotals::default(),
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
            Some("system") => {
                if str_of(v, "subtype") == Some("init") {
                    let mut text = match str_of(v, "model") {
                        Some(model) => format!("Session started with model {model}"),
                        None => "Session started".to_owned(),
                    };
                    if let Some(effort) = str_of(v, "reasoning_effort") {
                        text.push_str(&format!(" (reasoning effort {effort})"));
                    }
                    self.log.system(&text, at);
                }
            }
            Some("message") => {
                let text = first_str(v, &["text", "content"]).unwrap_or("");
                let stream = match str_of(v, "role") {
                    Some("user") => Stream::User,
                    _ => Stream::Assistant,
                };
                match str_of(v, "id") {
                    Some(id) if !text.trim().is_empty() => {
                        let text = clip(text, json::MAX_TEXT);
                        let content = match stream {
                            Stream::User => EntryContent::UserMessage { text },
                            _ => EntryContent::AssistantMessage { text },
                        };
                        self.log.upsert(&format!("message:{id}"), content, at);
                    }
                    _ => self.log.message(stream, text, at),
                }
            }
            Some("reasoning") => {
                let text = first_str(v, &["text", "content"]).unwrap_or("");
                match str_of(v, "id") {
                    Some(id) if !text.trim().is_empty() => {
                        self.log.upsert(
                            &format!("reasoning:{id}"),
                            EntryContent::Thinking {
                                text: clip(text, json::MAX_TEXT),
                            },
                            at,
                        );
                    }
                    _ => self.log.message(Stream::Thinking, text, at),
                }
            }
            Some("tool_call") => {
                let id = str_of(v, "id");
                let name = first_str(v, &["toolName", "toolId"]).unwrap_or("tool");
                let input = v.get("parameters").cloned().unwrap_or(Value::Null);
                let uses = classify(name, &input)
                    .into_iter()
                    .map(|a| tools::tool_use(id, name, a, ToolStatus::Created, None))
                    .collect();
                self.log
                    .push_tools(&format!("tool:{}", id.unwrap_or("")), uses, at);
            }
            Some("tool_result") => self.tool_result(v, at),
            Some("completion") => {
                if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
                    self.usage(usage, at);
                }
            }
            Some("error") => {
                let text = first_str(v, &["message"])
                    .map(str::to_owned)
                    .or_else(|| v.get("error").and_then(json::text_of))
                    .unwrap_or_else(|| excerpt(raw));
                self.log.error(&text, at);
            }
            Some(other) => self.log.system(
                &format!("Unrecognized droid event `{other}`: {}", excerpt(raw)),
                at,
            ),
            None => self
                .log
                .system(&format!("Unrecognized droid output: {}", excerpt(raw)), at),
        }
    }

    fn tool_result(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let id = str_of(v, "id").unwrap_or("");
        let is_error = v.get("isError").and_then(Value::as_bool) == Some(true);
        let text = match v.get("error").filter(|e| !e.is_null()) {
            Some(e) => first_str(e, &["message"])
                .map(str::to_owned)
                .unwrap_or_else(|| answer_text(e)),
            None => v.get("value").map(answer_text).unwrap_or_default(),
        };
        // Edits answer a JSON document (as a string, or as it is) with what changed:
        // ApplyPatch a unified `diff`, Edit, MultiEdit and Create a list of `diffLines`.
        let structured: Option<Value> = match v.get("value") {
            Some(Value::String(s)) if s.trim_start().starts_with('{') => {
                serde_json::from_str(s).ok()
            }
            Some(doc @ Value::Object(_)) => Some(doc.clone()),
            _ => None,
        };
        let diff = structured.as_ref().and_then(|s| {
            str_of(s, "diff")
                .filter(|d| !d.trim().is_empty())
                .map(str::to_owned)
                .or_else(|| s.get("diffLines").and_then(tools::diff_of_lines))
        });
        let diff_path = structured
            .as_ref()
            .and_then(|s| first_str(s, &["file_path", "path", "filePath"]))
            .map(str::to_owned);
        let exit_code = exit_code_in(&text);
        let status = if is_error {
            failure_status(&text)
        } else if exit_code.is_some_and(|c| c != 0) {
            ToolStatus::Failed
        } else {
            ToolStatus::Success
        };
        let key = format!("tool:{id}");
        let found = self.log.update_tools(&key, |t| {
            t.status = status;
            if let Some(code) = exit_code {
                tools::set_exit_code(t, code);
            }
            match (&diff, &mut t.action) {
                (Some(diff), ToolAction::FileEdit { path, changes })
                    if diff_path.as_deref().is_none_or(|p| p == path) =>
                {
                    *changes = vec![FileChange::Diff {
                        unified_diff: clip(diff, MAX_RESULT),
                    }];
                    // The document repeats the whole file; the diff says it all.
                }
                // A diff for another tool, or another file: the diff, not its JSON.
                (Some(diff), _) => set_result(t, diff),
                // A command's output ends with its exit line: the code is kept apart.
                _ => set_result(t, tools::strip_exit_line(&text)),
            }
        });
        if !found {
            let mut t = tools::tool_use(
                (!id.is_empty()).then_some(id),
                "unknown",
                Action::new(ToolAction::Other { arguments: None }),
                status,
                None,
            );
            set_result(&mut t, diff.as_deref().unwrap_or(&text));
            self.log.push_tools(&key, vec![t], at);
        }
    }

    fn usage(&mut self, usage: &Value, at: Option<DateTime<Utc>>) {
        let input = first_count(usage, &["input_tokens", "inputTokens"]).unwrap_or(0);
        let output = first_count(usage, &["output_tokens", "outputTokens"]).unwrap_or(0);
        let read = first_count(
            usage,
            &[
                "cache_read_input_tokens",
                "cacheReadTokens",
                "cached_input_tokens",
            ],
        )
        .unwrap_or(0);
        let write =
            first_count(usage, &["cache_creation_input_tokens", "cacheWriteTokens"]).unwrap_or(0);
        let report = TokenTotals {
            input_tokens: input + read + write,
            output_tokens: output,
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
}

super::json_lines_normalizer!(DroidNormalizer, event);
