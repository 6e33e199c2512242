//! Claude Code's stream-json conversation over stdio: the worker opens it with an
//! `initialize` control request and the user's prompt, answers the CLI's `can_use_tool`
//! control requests with the team's decision, can interrupt the turn, and closes stdin
//! once the turn's `result` arrives so the CLI exits.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::driver::{AgentDriver, DriverEvent, Started, Stdin, ToolRequest, message_type};

/// The worker's side of one Claude Code process.
pub struct ClaudeDriver {
    stdin: Stdin,
    next_request: AtomicU64,
    /// Set when the turn's `result` reports an error.
    failure: std::sync::Mutex<Option<String>>,
    /// The turn's `result` arrived.
    ended: AtomicBool,
    /// A stop interrupted the turn.
    interrupted: AtomicBool,
}

impl ClaudeDriver {
    /// Opens the conversation with `prompt`.
    pub fn start(prompt: &str) -> Started {
        let (stdin, rx) = Stdin::open();
        let driver = ClaudeDriver {
            stdin,
            next_request: AtomicU64::new(0),
            failure: std::sync::Mutex::new(None),
            ended: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
        };
        driver.control_request(json!({ "subtype": "initialize" }));
        driver.stdin.send(&json!({
            "type": "user",
            "message": { "role": "user", "content": [{ "type": "text", "text": prompt }] },
        }));
        Started {
            driver: Arc::new(driver),
            stdin: rx,
        }
    }

    fn control_request(&self, request: Value) {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        self.stdin.send(&json!({
            "type": "control_request",
            "request_id": format!("sy-{n}"),
            "request": request,
        }));
    }
}

impl AgentDriver for ClaudeDriver {
    fn observe(&self, raw: &str) -> DriverEvent {
        if !matches!(
            message_type(raw).as_deref(),
            Some("control_request" | "result")
        ) {
            return DriverEvent::Other;
        }
        let Ok(v) = serde_json::from_str::<Value>(raw) else {
            return DriverEvent::Other;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("control_request") => {
                let request = &v["request"];
                if request.get("subtype").and_then(Value::as_str) != Some("can_use_tool") {
                    return DriverEvent::Other;
                }
                DriverEvent::Permission(ToolRequest {
                    request_id: v.get("request_id").cloned().unwrap_or(Value::Null),
                    tool_name: request
                        .get("tool_name")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_owned(),
                    tool_call_id: request
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    input: request.get("input").cloned().unwrap_or(Value::Null),
                })
            }
            Some("result") => {
                self.ended.store(true, Ordering::Relaxed);
                if v.get("is_error").and_then(Value::as_bool) == Some(true) {
                    // `errors` (the error subtypes) or `result` (an API error's text).
                    let errors: Vec<&str> = v
                        .get("errors")
                        .and_then(Value::as_array)
                        .map(|e| e.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let errors = errors.join("; ");
                    let why = v
                        .get("error")
                        .and_then(Value::as_str)
                        .or(Some(errors.as_str()))
                        .filter(|e| !e.is_empty())
                        .or_else(|| v.get("result").and_then(Value::as_str))
                        .filter(|e| !e.is_empty())
                        .or_else(|| v.get("subtype").and_then(Value::as_str))
                        .unwrap_or("the agent reported an error");
                    if let Ok(mut failure) = self.failure.lock() {
                        *failure = Some(format!("agent turn failed: {why}"));
                    }
                }
                DriverEvent::TurnEnded
            }
            _ => DriverEvent::Other,
        }
    }

    fn answer(&self, request: &ToolRequest, allow: bool, reason: &str) {
        let decision = if allow {
            json!({ "behavior": "allow", "updatedInput": request.input })
        } else {
            json!({ "behavior": "deny", "message": reason })
        };
        self.stdin.send(&json!({
            "type": "control_response",
            "response": { "subtype": "success", "request_id": request.request_id, "response": decision },
        }));
    }

    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
        self.control_request(json!({ "subtype": "interrupt" }));
    }

    fn end_input(&self) {
        self.stdin.close();
    }

    fn turn_failure(&self) -> Option<String> {
        let failure = self.failure.lock().ok().and_then(|f| f.clone());
        // Asked once the output is over: gone before its `result`, the turn did not
        // finish, whatever the exit code (a stop is told apart).
        let unfinished =
            !self.ended.load(Ordering::Relaxed) && !self.interrupted.load(Ordering::Relaxed);
        failure.or_else(|| unfinished.then(|| "the agent exited before its turn ended".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_conversation_opens_with_initialize_then_the_prompt() {
        let Started { driver, mut stdin } = ClaudeDriver::start("fix it");
        let next = async |rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>| -> Value {
            serde_json::from_slice(&rx.recv().await.expect("a line")).expect("json")
        };
        let first = next(&mut stdin).await;
        assert_eq!(first["type"], "control_request");
        assert_eq!(first["request"]["subtype"], "initialize");
        let second = next(&mut stdin).await;
        assert_eq!(second["message"]["content"][0]["text"], "fix it");
        let request = ToolRequest {
            request_id: json!("r1"),
            tool_name: "Bash".into(),
            tool_call_id: None,
            input: Value::Null,
        };
        driver.answer(&request, false, "not now");
        let denial = next(&mut stdin).await;
        assert_eq!(denial["response"]["request_id"], "r1");
        assert_eq!(denial["response"]["response"]["behavior"], "deny");
        assert_eq!(denial["response"]["response"]["message"], "not now");
        driver.end_input();
        assert!(stdin.recv().await.is_none(), "stdin closes");
    }

    #[test]
    fn permission_requests_and_results_are_recognised() {
        let Started { driver, .. } = ClaudeDriver::start("p");
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("the agent exited before its turn ended")
        );
        let ask = r#"{"type":"control_request","request_id":"q","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"},"tool_use_id":"t1"}}"#;
        assert_eq!(
            driver.observe(ask),
            DriverEvent::Permission(ToolRequest {
                request_id: json!("q"),
                tool_name: "Bash".into(),
                tool_call_id: Some("t1".into()),
                input: json!({"command": "ls"}),
            })
        );
        let done = r#"{"type":"result","subtype":"success","is_error":false,"session_id":"s"}"#;
        assert_eq!(driver.observe(done), DriverEvent::TurnEnded);
        assert_eq!(driver.turn_failure(), None);
        let failed = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"error":"rate limited"}"#;
        assert_eq!(driver.observe(failed), DriverEvent::TurnEnded);
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("agent turn failed: rate limited")
        );
        assert_eq!(driver.observe("not json"), DriverEvent::Other);
        assert_eq!(
            driver.observe(r#"{"type":"assistant"}"#),
            DriverEvent::Other
        );
    }

    #[test]
    fn an_error_result_fails_with_the_cli_s_own_words() {
        let failure = |line: &str| {
            let Started { driver, .. } = ClaudeDriver::start("p");
            assert_eq!(driver.observe(line), DriverEvent::TurnEnded);
            driver.turn_failure()
        };
        assert_eq!(
            failure(
                r#"{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["queryParams builder failed: x","second"]}"#
            )
            .as_deref(),
            Some("agent turn failed: queryParams builder failed: x; second")
        );
        assert_eq!(
            failure(
                r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"API Error: 401 invalid x-api-key"}"#
            )
            .as_deref(),
            Some("agent turn failed: API Error: 401 invalid x-api-key")
        );
        assert_eq!(
            failure(r#"{"type":"result","subtype":"error_max_turns","is_error":true,"errors":[]}"#)
                .as_deref(),
            Some("agent turn failed: error_max_turns")
        );
        // A stopped turn is the stop's, not a failure.
        let Started { driver, .. } = ClaudeDriver::start("p");
        driver.interrupt();
        assert_eq!(driver.turn_failure(), None);
    }
}
