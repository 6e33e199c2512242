//! Cursor agent stream-json (`cursor-agent --print --output-format stream-json`).
//!
//! Events: `system`/`init` (session id, model), `user`, `thinking` (`delta` chunks
//! then `completed`), `assistant` (text; consecutive assistant events are parts of one
//! reply), `tool_call` (`started` / `completed`, with one `<kind>ToolCall` object such
//! as `shellToolCall`, `readToolCall`, `editToolCall`, holding `args` and, once done,
//! `result` = `success | failure | error | rejected | ...`), and `result`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::logs::{EntryContent, FileChange, ToolAction, ToolStatus, ToolUse};

use super::TokenTotals;
use super::entries::{EntryLog, Stream};
use super::json::{
    self, MAX_RESULT, clip, command_of, excerpt, first_count, first_str, int, str_of,
};
use super::tools::{self, Action, classify, set_result, todo_items};

/// Normalizer for Cursor agent stream-json.
pub struct CursorNormalizer {
    log: EntryLog,
    session_id: Option<String>,
    totals: TokenTotals,
}

impl Default for CursorNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl CursorNormalizer {
    /// A normalizer for one Cursor agent process.
    pub fn new() -> CursorNormalizer {
        CursorNormalizer {
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
                    let text = match str_of(v, "model") {
                        Some(model) => format!("Session started with model {model}"),
                        None => "Session started".to_owned(),
                    };
                    self.log.system(&text, at);
                }
            }
            Some("user") => {
                let text = json::at(v, &["message", "content"])
                    .and_then(json::text_of)
                    .unwrap_or_default();
                self.log.message(Stream::User, &text, at);
            }
            Some("thinking") => match str_of(v, "subtype") {
                Some("completed") => self.log.close_stream(),
                _ => {
                    let text = str_of(v, "text").unwrap_or("");
                    self.log.stream(Stream::Thinking, None, text, at);
                }
            },
            Some("assistant") => {
                let text = json::at(v, &["message", "content"])
                    .and_then(json::text_of)
                    .unwrap_or_default();
                self.assistant(&text, at);
            }
            Some("tool_call") => self.tool_call(v, at),
            Some("result") => self.result(v, at),
            Some("error") => {
                let text = first_str(v, &["message", "error"])
                    .map(str::to_owned)
                    .unwrap_or_else(|| excerpt(raw));
                self.log.error(&text, at);
            }
            Some(other) => self.log.system(
                &format!("Unrecognized cursor event `{other}`: {}", excerpt(raw)),
                at,
            ),
            None => self
                .log
                .system(&format!("Unrecognized cursor output: {}", excerpt(raw)), at),
        }
    }

    /// Consecutive assistant events are one reply arriving in parts; an event that
    /// repeats the reply so far in full replaces it rather than doubling it.
    fn assistant(&mut self, text: &str, at: Option<DateTime<Utc>>) {
        if text.is_empty() {
            return;
        }
        match self.log.open_text(Stream::Assistant).map(str::to_owned) {
            Some(so_far) if text == so_far => {}
            Some(so_far) if text.starts_with(&so_far) => {
                self.log.stream_set(Stream::Assistant, text, at)
            }
            Some(_) => self.log.stream(Stream::Assistant, None, text, at),
            None => self.log.stream_set(Stream::Assistant, text, at),
        }
    }

    fn tool_call(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        let id = str_of(v, "call_id");
        let key = format!("tool:{}", id.unwrap_or(""));
        let call = v.get("tool_call").unwrap_or(&Value::Null);
        let Some((kind, body)) = call.as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        let args = body.get("args").unwrap_or(&Value::Null);
        let result = body.get("result").filter(|r| !r.is_null());
        let (name, actions) = actions_of(kind, body, args);
        let outcome = result.map(outcome_of);
        let status = match (&outcome, str_of(v, "subtype")) {
            (Some(o), _) => o.status,
            (None, Some("completed")) => ToolStatus::Success,
            _ => ToolStatus::Created,
        };
        let uses: Vec<ToolUse> = actions
            .into_iter()
            .map(|a| {
                let mut t = tools::tool_use(id, &name, a, status, None);
                if let Some(o) = &outcome {
                    if let Some(code) = o.exit_code {
                        tools::set_exit_code(&mut t, code);
                    }
                    if let Some(text) = &o.text {
                        set_result(&mut t, text);
                    }
                    if let (Some(diff), ToolAction::FileEdit { changes, .. }) =
                        (&o.diff, &mut t.action)
                    {
                        *changes = vec![FileChange::Diff {
                            unified_diff: clip(diff, MAX_RESULT),
                        }];
                    }
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

    fn result(&mut self, v: &Value, at: Option<DateTime<Utc>>) {
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            let input = first_count(usage, &["inputTokens", "input_tokens"]).unwrap_or(0);
            let output = first_count(usage, &["outputTokens", "output_tokens"]).unwrap_or(0);
            let read =
                first_count(usage, &["cacheReadTokens", "cache_read_input_tokens"]).unwrap_or(0);
            let write = first_count(usage, &["cacheWriteTokens", "cache_creation_input_tokens"])
                .unwrap_or(0);
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
        let failed = v.get("is_error").and_then(Value::as_bool) == Some(true)
            || str_of(v, "subtype").is_some_and(|s| s != "success");
        if failed {
            let text = first_str(v, &["result", "error", "subtype"]).unwrap_or("The run failed");
            self.log.error(text, at);
        }
    }
}

/// How a finished Cursor tool call went.
struct Outcome {
    status: ToolStatus,
    exit_code: Option<i64>,
    text: Option<String>,
    diff: Option<String>,
}

/// Reads `result`: `{success: {...}}`, `{failure: {...}}`, `{error: {message}}`,
/// `{rejected: {reason}}`, `{timeout: {...}}`, `{permissionDenied: {...}}`.
fn outcome_of(result: &Value) -> Outcome {
    let (variant, body) = result
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| !matches!(k.as_str(), "isBackground" | "is_background"))
        })
        .map(|(k, b)| (k.as_str(), b))
        .unwrap_or(("", &Value::Null));
    let exit_code = ["exitCode", "exit_code"]
        .iter()
        .find_map(|k| body.get(k).and_then(int));
    let status = match variant {
        "success" if exit_code.is_some_and(|c| c != 0) => ToolStatus::Failed,
        "success" => ToolStatus::Success,
        "rejected" | "permissionDenied" | "denied" => ToolStatus::Denied,
        "timeout" | "timedOut" => ToolStatus::TimedOut,
        _ => ToolStatus::Failed,
    };
    let text = match body {
        Value::String(s) => Some(s.clone()),
        _ => {
            let interleaved = str_of(body, "interleavedOutput").filter(|s| !s.is_empty());
            let streams = [str_of(body, "stdout"), str_of(body, "stderr")]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>();
            interleaved
                .map(str::to_owned)
                .or_else(|| (!streams.is_empty()).then(|| streams.join("\n")))
                .or_else(|| {
                    first_str(body, &["message", "error", "reason", "content"]).map(str::to_owned)
                })
        }
    };
    Outcome {
        status,
        exit_code,
        text,
        diff: first_str(body, &["diffString", "diff"]).map(str::to_owned),
    }
}

/// The tool's name and actions from a `<kind>ToolCall` object.
fn actions_of(kind: &str, body: &Value, args: &Value) -> (String, Vec<Action>) {
    let name = kind.strip_suffix("ToolCall").unwrap_or(kind).to_owned();
    let path = || {
        first_str(args, &["path", "filePath", "file_path", "targetFile"])
            .unwrap_or("")
            .to_owned()
    };
    let action = match name.as_str() {
        "shell" | "terminal" | "runTerminalCommand" => ToolAction::CommandRun {
            command: args.get("command").and_then(command_of).unwrap_or_default(),
            exit_code: None,
            output: None,
        },
        "read" | "ls" | "readLints" => ToolAction::FileRead { path: path() },
        "edit" => {
            let replace = args
                .get("strReplace")
                .or_else(|| args.get("str_replace"))
                .unwrap_or(args);
            let change = match (
                first_str(replace, &["oldText", "old_string", "oldString"]),
                first_str(replace, &["newText", "new_string", "newString"]),
            ) {
                (Some(old), Some(new)) => FileChange::Replace {
                    old_text: clip(old, MAX_RESULT),
                    new_text: clip(new, MAX_RESULT),
                    replace_all: false,
                },
                _ => match first_str(args, &["streamContent", "fileText", "content"]) {
                    Some(content) => FileChange::Write {
                        content: clip(content, MAX_RESULT),
                    },
                    None => FileChange::Update,
                },
            };
            ToolAction::FileEdit {
                path: path(),
                changes: vec![change],
            }
        }
        "write" => ToolAction::FileEdit {
            path: path(),
            changes: vec![FileChange::Write {
                content: clip(
                    first_str(args, &["fileText", "contents", "content"]).unwrap_or(""),
                    MAX_RESULT,
                ),
            }],
        },
        "delete" => ToolAction::FileEdit {
            path: path(),
            changes: vec![FileChange::Delete],
        },
        "glob" => ToolAction::Search {
            query: first_str(args, &["globPattern", "pattern", "glob"])
                .unwrap_or("")
                .to_owned(),
            path: first_str(args, &["targetDirectory", "path"]).map(str::to_owned),
        },
        "grep" | "semSearch" | "codebaseSearch" | "search" => ToolAction::Search {
            query: first_str(args, &["pattern", "query", "searchTerm"])
                .unwrap_or("")
                .to_owned(),
            path: first_str(args, &["path", "targetDirectory"])
                .map(str::to_owned)
                .or_else(|| {
                    args.get("targetDirectories")
                        .and_then(Value::as_array)
                        .map(|d| {
                            d.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .filter(|s| !s.is_empty())
                }),
        },
        "updateTodos" | "todo" | "todoWrite" => ToolAction::TodoUpdate {
            items: todo_items(args.get("todos").unwrap_or(&Value::Null)),
        },
        "webFetch" | "fetch" => ToolAction::WebFetch {
            url: first_str(args, &["url", "uri"]).unwrap_or("").to_owned(),
        },
        "webSearch" => ToolAction::WebSearch {
            query: first_str(args, &["searchTerm", "query"])
                .unwrap_or("")
                .to_owned(),
        },
        "mcp" => {
            let tool = first_str(args, &["toolName", "name"]).unwrap_or("mcp");
            return (
                tool.to_owned(),
                vec![Action::new(ToolAction::Other {
                    arguments: args
                        .get("args")
                        .or_else(|| args.get("arguments"))
                        .cloned()
                        .filter(|a| !a.is_null()),
                })],
            );
        }
        "function" => {
            // `{name, arguments}` with arguments as a JSON string.
            let fname = first_str(body, &["name"]).unwrap_or("function").to_owned();
            let input = match body.get("arguments") {
                Some(Value::String(s)) => {
                    serde_json::from_str(s).unwrap_or(Value::String(s.clone()))
                }
                Some(other) => other.clone(),
                None => Value::Null,
            };
            return (fname.clone(), classify(&fname, &input));
        }
        _ => {
            let found = classify(&name, args);
            return (name, found);
        }
    };
    (name, vec![Action::new(action)])
}

super::json_lines_normalizer!(CursorNormalizer, event);
