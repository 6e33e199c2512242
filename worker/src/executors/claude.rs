//! Claude Code's stream-json conversation over stdio: the worker opens it with an
//! `initialize` control request and the user's prompt, answers the CLI's `can_use_tool`
//! control requests with the team's decision, can interrupt the turn, and closes stdin
//! once the turn's `result` arrives so the CLI exits.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What a stdout line means for the conversation (the normalizer handles the rest).
#[derive(Debug, Clone, PartialEq)]
pub enum ClaudeEvent {
    /// Nothing the driver acts on.
    Other,
    /// The CLI asks whether a tool call may run.
    PermissionRequest {
        request_id: String,
        tool_name: String,
        tool_use_id: Option<String>,
        input: Value,
    },
    /// The turn is over.
    TurnEnded {
        session_id: Option<String>,
        is_error: bool,
    },
}

/// The worker's side of one Claude Code process. Clones share the one stdin, so an
/// approval answered from another task and the end of input reach the same process.
#[derive(Clone)]
pub struct ClaudeSession {
    stdin: Arc<Mutex<Option<mpsc::Sender<Vec<u8>>>>>,
    next_request: Arc<AtomicU64>,
}

/// Lines the worker may queue before the CLI reads them.
const STDIN_CAPACITY: usize = 64;

impl ClaudeSession {
    /// Opens the conversation with `prompt`; the receiver is the process's stdin.
    pub fn open(prompt: &str) -> (ClaudeSession, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(STDIN_CAPACITY);
        let session = ClaudeSession {
            stdin: Arc::new(Mutex::new(Some(tx.clone()))),
            next_request: Arc::new(AtomicU64::new(0)),
        };
        let init = session.control_request(json!({ "subtype": "initialize" }));
        let user = json!({
            "type": "user",
            "message": { "role": "user", "content": [{ "type": "text", "text": prompt }] },
        });
        // The channel is empty and larger than two: these cannot fail.
        let _ = tx.try_send(line(&init));
        let _ = tx.try_send(line(&user));
        (session, rx)
    }

    /// Reads what a stdout line asks of the driver.
    pub fn observe(raw: &str) -> ClaudeEvent {
        let Ok(v) = serde_json::from_str::<Value>(raw) else {
            return ClaudeEvent::Other;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("control_request") => {
                let request = &v["request"];
                if request.get("subtype").and_then(Value::as_str) != Some("can_use_tool") {
                    return ClaudeEvent::Other;
                }
                ClaudeEvent::PermissionRequest {
                    request_id: v
                        .get("request_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    tool_name: request
                        .get("tool_name")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_owned(),
                    tool_use_id: request
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    input: request.get("input").cloned().unwrap_or(Value::Null),
                }
            }
            Some("result") => ClaudeEvent::TurnEnded {
                session_id: v
                    .get("session_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                is_error: v.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            },
            _ => ClaudeEvent::Other,
        }
    }

    /// Answers a permission request: allow (with the input unchanged) or deny with a reason.
    pub async fn answer(&self, request_id: &str, allow: bool, reason: &str, input: &Value) {
        let decision = if allow {
            json!({ "behavior": "allow", "updatedInput": input })
        } else {
            json!({ "behavior": "deny", "message": reason })
        };
        let response = json!({
            "type": "control_response",
            "response": { "subtype": "success", "request_id": request_id, "response": decision },
        });
        self.send(&response).await;
    }

    /// Asks the CLI to stop the current turn (the graceful first step of a stop).
    pub async fn interrupt(&self) {
        let request = self.control_request(json!({ "subtype": "interrupt" }));
        self.send(&request).await;
    }

    /// Closes stdin: the CLI exits once it has finished the turn.
    pub fn end_input(&self) {
        if let Ok(mut stdin) = self.stdin.lock() {
            *stdin = None;
        }
    }

    fn control_request(&self, request: Value) -> Value {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        json!({ "type": "control_request", "request_id": format!("sy-{n}"), "request": request })
    }

    async fn send(&self, message: &Value) {
        let tx = self.stdin.lock().ok().and_then(|s| s.clone());
        if let Some(tx) = tx {
            // A closed stdin means the process is gone; its exit is handled elsewhere.
            let _ = tx.send(line(message)).await;
        }
    }
}

fn line(v: &Value) -> Vec<u8> {
    let mut bytes = v.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_conversation_opens_with_initialize_then_the_prompt() {
        let (session, mut stdin) = ClaudeSession::open("fix it");
        let first: Value = serde_json::from_slice(&stdin.recv().await.unwrap()).unwrap();
        assert_eq!(first["type"], "control_request");
        assert_eq!(first["request"]["subtype"], "initialize");
        let second: Value = serde_json::from_slice(&stdin.recv().await.unwrap()).unwrap();
        assert_eq!(second["message"]["content"][0]["text"], "fix it");
        session.answer("r1", false, "not now", &Value::Null).await;
        let denial: Value = serde_json::from_slice(&stdin.recv().await.unwrap()).unwrap();
        assert_eq!(denial["response"]["request_id"], "r1");
        assert_eq!(denial["response"]["response"]["behavior"], "deny");
        session.end_input();
        assert!(stdin.recv().await.is_none(), "stdin closes");
    }

    #[test]
    fn permission_requests_and_results_are_recognised() {
        let ask = r#"{"type":"control_request","request_id":"q","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"},"tool_use_id":"t1"}}"#;
        assert_eq!(
            ClaudeSession::observe(ask),
            ClaudeEvent::PermissionRequest {
                request_id: "q".into(),
                tool_name: "Bash".into(),
                tool_use_id: Some("t1".into()),
                input: json!({"command": "ls"}),
            }
        );
        let done = r#"{"type":"result","subtype":"success","is_error":false,"session_id":"s"}"#;
        assert_eq!(
            ClaudeSession::observe(done),
            ClaudeEvent::TurnEnded {
                session_id: Some("s".into()),
                is_error: false
            }
        );
        assert_eq!(ClaudeSession::observe("not json"), ClaudeEvent::Other);
        assert_eq!(
            ClaudeSession::observe(r#"{"type":"assistant"}"#),
            ClaudeEvent::Other
        );
    }
}
