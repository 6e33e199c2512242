//! Codex's app-server JSON-RPC over stdio (`codex app-server`): JSON lines without the
//! `"jsonrpc"` header. The worker opens the connection with `initialize` and the
//! `initialized` notification, then starts a thread (`thread/start`) or reopens the
//! attempt's earlier one (`thread/resume`, falling back to a new thread when the agent no
//! longer knows it), and sends the prompt with `turn/start`. Approvals arrive as server
//! requests (`item/commandExecution/requestApproval`, `item/fileChange/requestApproval`,
//! `item/permissions/requestApproval`, and the older `execCommandApproval` /
//! `applyPatchApproval`) and are answered with the team's decision. A stop sends
//! `turn/interrupt`; once `turn/completed` arrives the worker closes stdin and the
//! server exits.
//!
//! The thread id (the session a follow-up resumes) reaches the normalizer through the
//! `thread/start` or `thread/resume` response and the `thread/started` notification.

use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::driver::{AgentDriver, DriverEvent, Started, Stdin, ToolRequest};
use super::{PermissionPolicy, ProfileOptions};

/// JSON-RPC "method not found", for server requests this client does not handle.
const METHOD_NOT_FOUND: i64 = -32601;

/// The worker's side of one `codex app-server` process.
pub struct CodexDriver {
    stdin: Stdin,
    state: Mutex<State>,
}

/// Where the conversation is, and what it still needs.
struct State {
    next_id: u64,
    /// Requests of ours waiting for their response, by id.
    calls: HashMap<u64, Call>,
    /// Server requests waiting for a decision, by their id (as JSON text): the answer's
    /// shape depends on the request.
    asked: HashMap<String, Ask>,
    /// The changes of file-change items seen starting, so an approval request (which
    /// names only the item) shows the team what would be written.
    file_changes: HashMap<String, Value>,
    /// The thread (session) to resume, if any.
    resume: Option<String>,
    thread: Thread,
    /// The user's prompt, sent once the thread is open.
    prompt: String,
    /// The prompt with the earlier turns replayed, for a thread that is not the resumed one.
    replayed: String,
    effort: Option<&'static str>,
    thread_id: Option<String>,
    turn_id: Option<String>,
    turn_requested: bool,
    turn_over: bool,
    /// Why the turn failed, when `turn/completed` said so.
    failure: Option<String>,
    /// The last `error` notification of the turn that Codex would not retry: the reason
    /// of a failed turn whose completion names none.
    last_error: Option<String>,
    /// A stop was asked for: no turn starts, a running one is interrupted.
    interrupted: bool,
    interrupt_sent: bool,
}

/// The thread settings of a profile, sent on `thread/start` and `thread/resume`.
struct Thread {
    cwd: String,
    model: Option<String>,
    approval_policy: &'static str,
    sandbox: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Initialize,
    StartThread,
    ResumeThread,
    StartTurn,
    Interrupt,
}

/// The kind of approval a server request asks for.
#[derive(Debug, Clone, PartialEq)]
enum Ask {
    /// `item/*/requestApproval`: `accept` / `decline`.
    Item,
    /// `execCommandApproval` / `applyPatchApproval`: `approved` / `denied`.
    Legacy,
    /// `item/permissions/requestApproval`: the granted subset of these permissions.
    Permissions(Value),
}

impl CodexDriver {
    /// Opens the connection; the thread and the turn with `prompt` follow as the server
    /// answers. `resume` is the thread id of the attempt's earlier turn.
    pub fn start(
        prompt: &str,
        options: &ProfileOptions,
        resume: Option<&str>,
        cwd: &Path,
    ) -> Started {
        Self::start_with_history(prompt, prompt, options, resume, cwd)
    }

    /// As [`CodexDriver::start`]; a thread that is not the resumed one (none to resume, or
    /// it is gone) gets `replayed`, the prompt with the earlier turns.
    pub fn start_with_history(
        prompt: &str,
        replayed: &str,
        options: &ProfileOptions,
        resume: Option<&str>,
        cwd: &Path,
    ) -> Started {
        let (stdin, rx) = Stdin::open();
        // Codex's own sandbox needs kernel features a worker pod may lack, and the
        // worktree's git metadata lives outside it: the worker is the sandbox. What
        // changes with the policy is whether Codex asks before acting.
        let approval_policy = match options.permission_policy {
            PermissionPolicy::Auto => "never",
            PermissionPolicy::Supervised | PermissionPolicy::Plan => "untrusted",
        };
        let driver = CodexDriver {
            stdin,
            state: Mutex::new(State {
                next_id: 0,
                calls: HashMap::new(),
                asked: HashMap::new(),
                file_changes: HashMap::new(),
                resume: resume.filter(|r| !r.is_empty()).map(str::to_owned),
                thread: Thread {
                    cwd: cwd.display().to_string(),
                    model: options.model.clone(),
                    approval_policy,
                    sandbox: "danger-full-access",
                },
                prompt: if resume.is_some() {
                    prompt.to_owned()
                } else {
                    replayed.to_owned()
                },
                replayed: replayed.to_owned(),
                effort: options.reasoning_effort.map(|e| e.as_str()),
                thread_id: None,
                turn_id: None,
                turn_requested: false,
                turn_over: false,
                failure: None,
                last_error: None,
                interrupted: false,
                interrupt_sent: false,
            }),
        };
        {
            let mut state = driver.lock();
            driver.call(
                &mut state,
                Call::Initialize,
                "initialize",
                json!({
                    "clientInfo": {
                        "name": "switchyard",
                        "title": "Switchyard",
                        "version": env!("CARGO_PKG_VERSION"),
                    },
                }),
            );
        }
        Started {
            driver: Arc::new(driver),
            stdin: rx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-written in a way that matters
        // more than stopping the conversation would.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call(&self, state: &mut State, call: Call, method: &str, params: Value) {
        state.next_id += 1;
        let id = state.next_id;
        state.calls.insert(id, call);
        self.stdin
            .send(&json!({ "method": method, "id": id, "params": params }));
    }

    fn reply(&self, id: &Value, result: Value) {
        self.stdin.send(&json!({ "id": id, "result": result }));
    }

    /// Starts a new thread, or resumes the earlier one when there is one to resume.
    fn open_thread(&self, state: &mut State) {
        let mut params = Map::new();
        params.insert("cwd".into(), json!(state.thread.cwd));
        params.insert("approvalPolicy".into(), json!(state.thread.approval_policy));
        params.insert("sandbox".into(), json!(state.thread.sandbox));
        if let Some(model) = &state.thread.model {
            params.insert("model".into(), json!(model));
        }
        match state.resume.take() {
            Some(thread_id) => {
                params.insert("threadId".into(), json!(thread_id));
                self.call(
                    state,
                    Call::ResumeThread,
                    "thread/resume",
                    Value::Object(params),
                );
            }
            None => self.call(
                state,
                Call::StartThread,
                "thread/start",
                Value::Object(params),
            ),
        }
    }

    /// The thread is open: sends the prompt, unless a stop came first.
    fn start_turn(&self, state: &mut State) -> DriverEvent {
        if state.interrupted {
            state.turn_over = true;
            return DriverEvent::TurnEnded;
        }
        let Some(thread_id) = state.thread_id.clone() else {
            return DriverEvent::TurnEnded;
        };
        let mut params = Map::new();
        params.insert("threadId".into(), json!(thread_id));
        params.insert(
            "input".into(),
            json!([{ "type": "text", "text": state.prompt }]),
        );
        if let Some(effort) = state.effort {
            params.insert("effort".into(), json!(effort));
        }
        state.turn_requested = true;
        self.call(state, Call::StartTurn, "turn/start", Value::Object(params));
        DriverEvent::Other
    }

    /// Sends `turn/interrupt` once a stop was asked for and the running turn is known.
    fn interrupt_if_asked(&self, state: &mut State) {
        if !state.interrupted || state.interrupt_sent || state.turn_over {
            return;
        }
        if let (Some(thread_id), Some(turn_id)) = (state.thread_id.clone(), state.turn_id.clone()) {
            state.interrupt_sent = true;
            self.call(
                state,
                Call::Interrupt,
                "turn/interrupt",
                json!({ "threadId": thread_id, "turnId": turn_id }),
            );
        }
    }

    fn response(&self, id: &Value, message: &Value) -> DriverEvent {
        let mut state = self.lock();
        let Some(call) = id.as_u64().and_then(|id| state.calls.remove(&id)) else {
            return DriverEvent::Other;
        };
        let error = message.get("error").filter(|e| !e.is_null());
        let result = message.get("result").unwrap_or(&Value::Null);
        let failure = error.map(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("request failed")
                .to_owned()
        });
        match (call, failure) {
            (Call::Initialize, Some(error)) => {
                tracing::warn!(%error, "codex app-server refused initialize");
                state.turn_over = true;
                state.failure = Some(format!("codex app-server refused initialize: {error}"));
                DriverEvent::TurnEnded
            }
            (Call::Initialize, None) => {
                self.stdin.send(&json!({ "method": "initialized" }));
                self.open_thread(&mut state);
                DriverEvent::Other
            }
            (Call::ResumeThread, Some(error)) => {
                // Its session files are gone (or were never saved): the follow-up goes
                // on in a new thread rather than not at all.
                tracing::warn!(%error, "codex could not resume its thread; starting a new one");
                state.prompt = state.replayed.clone();
                self.open_thread(&mut state);
                DriverEvent::Other
            }
            (Call::StartThread, Some(error)) => {
                tracing::warn!(%error, "codex could not start a thread");
                state.turn_over = true;
                state.failure = Some(format!("codex could not start a thread: {error}"));
                DriverEvent::TurnEnded
            }
            (Call::StartThread | Call::ResumeThread, None) => {
                match result
                    .pointer("/thread/id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                {
                    Some(thread_id) => {
                        state.thread_id = Some(thread_id.to_owned());
                        self.start_turn(&mut state)
                    }
                    None => {
                        tracing::warn!("codex answered a thread request without a thread id");
                        state.turn_over = true;
                        state.failure =
                            Some("codex answered a thread request without a thread id".to_owned());
                        DriverEvent::TurnEnded
                    }
                }
            }
            (Call::StartTurn, Some(error)) => {
                tracing::warn!(%error, "codex refused the turn");
                state.turn_over = true;
                state.failure = Some(format!("codex refused the turn: {error}"));
                DriverEvent::TurnEnded
            }
            (Call::StartTurn, None) => {
                if state.turn_id.is_none()
                    && let Some(turn_id) = result.pointer("/turn/id").and_then(Value::as_str)
                {
                    state.turn_id = Some(turn_id.to_owned());
                }
                self.interrupt_if_asked(&mut state);
                DriverEvent::Other
            }
            (Call::Interrupt, failure) => {
                if let Some(error) = failure {
                    tracing::info!(%error, "codex did not interrupt the turn (it may have ended)");
                }
                DriverEvent::Other
            }
        }
    }

    fn notification(&self, method: &str, params: &Value) -> DriverEvent {
        let mut state = self.lock();
        // Sub-agents run threads of their own on the same connection.
        let ours = match (
            params.get("threadId").and_then(Value::as_str),
            &state.thread_id,
        ) {
            (Some(thread), Some(mine)) => thread == mine,
            _ => true,
        };
        match method {
            "turn/started" if ours => {
                if state.turn_id.is_none()
                    && let Some(turn_id) = params.pointer("/turn/id").and_then(Value::as_str)
                {
                    state.turn_id = Some(turn_id.to_owned());
                }
                self.interrupt_if_asked(&mut state);
                DriverEvent::Other
            }
            "turn/completed" if ours && state.turn_requested => {
                let turn = params.pointer("/turn/id").and_then(Value::as_str);
                let mine = match (turn, &state.turn_id) {
                    (Some(turn), Some(mine)) => turn == mine,
                    _ => true,
                };
                if !mine {
                    return DriverEvent::Other;
                }
                state.turn_over = true;
                if params.pointer("/turn/status").and_then(Value::as_str) == Some("failed") {
                    let why = params
                        .pointer("/turn/error/message")
                        .and_then(Value::as_str)
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .or_else(|| state.last_error.clone())
                        .unwrap_or_else(|| "the turn failed".to_owned());
                    state.failure = Some(format!("agent turn failed: {why}"));
                }
                DriverEvent::TurnEnded
            }
            // A retried error (a dropped stream Codex reconnects) is not the turn's end.
            "error" if ours && params.get("willRetry").and_then(Value::as_bool) != Some(true) => {
                if let Some(message) = params.pointer("/error/message").and_then(Value::as_str) {
                    state.last_error = Some(message.to_owned());
                }
                DriverEvent::Other
            }
            "item/started" => {
                let item = params.get("item").unwrap_or(&Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("fileChange")
                    && let (Some(id), Some(changes)) =
                        (item.get("id").and_then(Value::as_str), item.get("changes"))
                {
                    state.file_changes.insert(id.to_owned(), changes.clone());
                }
                DriverEvent::Other
            }
            "item/completed" => {
                if let Some(id) = params.pointer("/item/id").and_then(Value::as_str) {
                    state.file_changes.remove(id);
                }
                DriverEvent::Other
            }
            _ => DriverEvent::Other,
        }
    }

    fn server_request(&self, method: &str, id: &Value, params: &Value) -> DriverEvent {
        let mut state = self.lock();
        let str_param = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
        let (tool_name, tool_call_id, ask) = match method {
            "item/commandExecution/requestApproval" => {
                ("command_execution", str_param("itemId"), Ask::Item)
            }
            "item/fileChange/requestApproval" => ("file_change", str_param("itemId"), Ask::Item),
            "item/permissions/requestApproval" => (
                "request_permissions",
                str_param("itemId"),
                Ask::Permissions(params.get("permissions").cloned().unwrap_or(json!({}))),
            ),
            "execCommandApproval" => ("exec_command", str_param("callId"), Ask::Legacy),
            "applyPatchApproval" => ("apply_patch", str_param("callId"), Ask::Legacy),
            "mcpServer/elicitation/request" => {
                // Nobody is at a keyboard to fill in an MCP server's form.
                drop(state);
                self.reply(id, json!({ "action": "decline", "content": null }));
                return DriverEvent::Other;
            }
            other => {
                drop(state);
                self.stdin.send(&json!({
                    "id": id,
                    "error": {
                        "code": METHOD_NOT_FOUND,
                        "message": format!("{other} is not supported by this client"),
                    },
                }));
                return DriverEvent::Other;
            }
        };
        let mut input = params.clone();
        if let (Some(item), Value::Object(fields)) = (&tool_call_id, &mut input)
            && method == "item/fileChange/requestApproval"
            && let Some(changes) = state.file_changes.get(item)
        {
            fields.entry("changes").or_insert_with(|| changes.clone());
        }
        state.asked.insert(id.to_string(), ask);
        DriverEvent::Permission(ToolRequest {
            request_id: id.clone(),
            tool_name: tool_name.to_owned(),
            tool_call_id,
            input,
        })
    }
}

impl AgentDriver for CodexDriver {
    fn observe(&self, line: &str) -> DriverEvent {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            return DriverEvent::Other;
        };
        let params = message.get("params").unwrap_or(&Value::Null);
        match (
            message.get("method").and_then(Value::as_str),
            message.get("id"),
        ) {
            (Some(method), Some(id)) => self.server_request(method, id, params),
            (Some(method), None) => self.notification(method, params),
            (None, Some(id)) => self.response(id, &message),
            (None, None) => DriverEvent::Other,
        }
    }

    fn answer(&self, request: &ToolRequest, allow: bool, reason: &str) {
        let ask = self.lock().asked.remove(&request.request_id.to_string());
        let result = match ask {
            Some(Ask::Item) => json!({ "decision": if allow { "accept" } else { "decline" } }),
            Some(Ask::Legacy) => json!({ "decision": if allow { "approved" } else { "denied" } }),
            Some(Ask::Permissions(requested)) => {
                let granted = if allow { requested } else { json!({}) };
                json!({ "permissions": granted, "scope": "turn" })
            }
            None => {
                tracing::warn!(request = %request.request_id, "no codex request waits for this answer");
                return;
            }
        };
        if !allow && !reason.is_empty() {
            // The protocol's decisions carry no message; the reason stays in the log.
            tracing::info!(tool = %request.tool_name, %reason, "codex tool call declined");
        }
        self.reply(&request.request_id, result);
    }

    fn interrupt(&self) {
        let mut state = self.lock();
        if state.turn_over || state.interrupted {
            return;
        }
        state.interrupted = true;
        if state.turn_requested {
            // Sent now if the turn is known, else as soon as the server names it.
            self.interrupt_if_asked(&mut state);
        } else {
            // No turn started and none will: the server exits at the end of input.
            state.turn_over = true;
            drop(state);
            self.stdin.close();
        }
    }

    fn end_input(&self) {
        self.stdin.close();
    }

    fn turn_failure(&self) -> Option<String> {
        let state = self.lock();
        if state.failure.is_some() || state.interrupted {
            return state.failure.clone();
        }
        // Asked once the output is over: a server gone before its turn completed did not
        // finish it, whatever its exit code.
        (!state.turn_over).then(|| "the agent exited before its turn ended".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::executors::{ExecutorKind, ReasoningEffort};
    use tokio::sync::mpsc::UnboundedReceiver;

    fn sent(rx: &mut UnboundedReceiver<Vec<u8>>) -> Value {
        let bytes = rx.try_recv().expect("a message was sent");
        serde_json::from_slice(&bytes).expect("json")
    }

    fn supervised() -> ProfileOptions {
        ProfileOptions {
            model: Some("gpt-5-codex".into()),
            reasoning_effort: Some(ReasoningEffort::High),
            permission_policy: PermissionPolicy::Supervised,
            ..ProfileOptions::default()
        }
    }

    /// Plays the server's side of the handshake; returns the thread request.
    fn handshake(driver: &dyn AgentDriver, rx: &mut UnboundedReceiver<Vec<u8>>) -> Value {
        let init = sent(rx);
        assert_eq!(init["method"], "initialize");
        assert_eq!(init["params"]["clientInfo"]["name"], "switchyard");
        assert!(init.get("jsonrpc").is_none(), "the header is omitted");
        let answer = json!({ "id": init["id"], "result": { "userAgent": "codex" } });
        assert_eq!(driver.observe(&answer.to_string()), DriverEvent::Other);
        assert_eq!(sent(rx), json!({ "method": "initialized" }));
        sent(rx)
    }

    #[test]
    fn a_new_thread_opens_after_the_handshake_then_the_prompt_starts_a_turn() {
        let Started { driver, mut stdin } =
            CodexDriver::start("fix it", &supervised(), None, Path::new("/work/tree"));
        let thread = handshake(&*driver, &mut stdin);
        assert_eq!(thread["method"], "thread/start");
        assert_eq!(thread["params"]["cwd"], "/work/tree");
        assert_eq!(thread["params"]["model"], "gpt-5-codex");
        assert_eq!(thread["params"]["approvalPolicy"], "untrusted");
        assert_eq!(thread["params"]["sandbox"], "danger-full-access");
        let started = json!({ "id": thread["id"], "result": { "thread": { "id": "thr_1" } } });
        assert_eq!(driver.observe(&started.to_string()), DriverEvent::Other);
        let turn = sent(&mut stdin);
        assert_eq!(turn["method"], "turn/start");
        assert_eq!(turn["params"]["threadId"], "thr_1");
        assert_eq!(
            turn["params"]["input"],
            json!([{ "type": "text", "text": "fix it" }])
        );
        assert_eq!(turn["params"]["effort"], "high");
        let ids: Vec<&Value> = [&thread["id"], &turn["id"]].into();
        assert_ne!(ids[0], ids[1], "every request has an id of its own");
    }

    #[test]
    fn auto_never_asks_and_a_resume_falls_back_to_a_new_thread_when_unknown() {
        let Started { driver, mut stdin } = CodexDriver::start(
            "again",
            &ProfileOptions::default(),
            Some("thr_old"),
            Path::new("/w"),
        );
        let resume = handshake(&*driver, &mut stdin);
        assert_eq!(resume["method"], "thread/resume");
        assert_eq!(resume["params"]["threadId"], "thr_old");
        assert_eq!(resume["params"]["approvalPolicy"], "never");
        let refused = json!({ "id": resume["id"], "error": { "code": -32600, "message": "no rollout found for thread id thr_old" } });
        assert_eq!(driver.observe(&refused.to_string()), DriverEvent::Other);
        let start = sent(&mut stdin);
        assert_eq!(start["method"], "thread/start");
        assert!(start["params"].get("threadId").is_none());
        let started = json!({ "id": start["id"], "result": { "thread": { "id": "thr_new" } } });
        driver.observe(&started.to_string());
        let turn = sent(&mut stdin);
        assert_eq!(turn["params"]["threadId"], "thr_new");
        assert!(turn["params"].get("effort").is_none());
    }

    #[test]
    fn approval_requests_become_permissions_answered_in_their_own_shape() {
        let Started { driver, mut stdin } =
            CodexDriver::start("p", &supervised(), None, Path::new("/w"));
        let _ = sent(&mut stdin);
        let item = r#"{"method":"item/started","params":{"threadId":"t","turnId":"u","item":{"type":"fileChange","id":"call_9","changes":[{"path":"a.txt","kind":{"type":"add"},"diff":"hi\n"}],"status":"inProgress"}}}"#;
        assert_eq!(driver.observe(item), DriverEvent::Other);
        let ask = r#"{"method":"item/fileChange/requestApproval","id":0,"params":{"threadId":"t","turnId":"u","itemId":"call_9","reason":null}}"#;
        let DriverEvent::Permission(request) = driver.observe(ask) else {
            panic!("a permission request");
        };
        assert_eq!(request.request_id, json!(0));
        assert_eq!(request.tool_name, "file_change");
        assert_eq!(request.tool_call_id.as_deref(), Some("call_9"));
        assert_eq!(request.input["changes"][0]["path"], "a.txt");
        driver.answer(&request, false, "not that file");
        assert_eq!(
            sent(&mut stdin),
            json!({ "id": 0, "result": { "decision": "decline" } })
        );

        let legacy = r#"{"method":"execCommandApproval","id":"7","params":{"conversationId":"t","callId":"c1","command":["ls"],"cwd":"/w"}}"#;
        let DriverEvent::Permission(request) = driver.observe(legacy) else {
            panic!("a permission request");
        };
        assert_eq!(request.tool_call_id.as_deref(), Some("c1"));
        driver.answer(&request, true, "");
        assert_eq!(
            sent(&mut stdin),
            json!({ "id": "7", "result": { "decision": "approved" } })
        );

        let perms = r#"{"method":"item/permissions/requestApproval","id":8,"params":{"threadId":"t","turnId":"u","itemId":"c2","permissions":{"network":{"enabled":true}}}}"#;
        let DriverEvent::Permission(request) = driver.observe(perms) else {
            panic!("a permission request");
        };
        driver.answer(&request, true, "");
        assert_eq!(
            sent(&mut stdin)["result"]["permissions"],
            json!({ "network": { "enabled": true } })
        );

        let command = r#"{"method":"item/commandExecution/requestApproval","id":9,"params":{"threadId":"t","turnId":"u","itemId":"c3","command":"rm -rf x"}}"#;
        let DriverEvent::Permission(request) = driver.observe(command) else {
            panic!("a permission request");
        };
        driver.answer(&request, true, "");
        assert_eq!(sent(&mut stdin)["result"]["decision"], "accept");
        // Answered once only.
        driver.answer(&request, true, "");
        assert!(stdin.try_recv().is_err());

        let unknown = r#"{"method":"item/tool/requestUserInput","id":10,"params":{}}"#;
        assert_eq!(driver.observe(unknown), DriverEvent::Other);
        let refusal = sent(&mut stdin);
        assert_eq!(refusal["id"], 10);
        assert_eq!(refusal["error"]["code"], METHOD_NOT_FOUND);
    }

    #[test]
    fn the_turn_ends_on_its_completion_and_a_stop_interrupts_it() {
        let Started { driver, mut stdin } =
            CodexDriver::start("p", &ProfileOptions::default(), None, Path::new("/w"));
        let thread = handshake(&*driver, &mut stdin);
        driver.observe(
            &json!({ "id": thread["id"], "result": { "thread": { "id": "thr" } } }).to_string(),
        );
        let turn = sent(&mut stdin);
        // A stop before the server named the turn: the interrupt waits for its id.
        driver.interrupt();
        assert!(stdin.try_recv().is_err());
        driver.observe(
            &json!({ "id": turn["id"], "result": { "turn": { "id": "turn_1", "status": "inProgress" } } })
                .to_string(),
        );
        let interrupt = sent(&mut stdin);
        assert_eq!(interrupt["method"], "turn/interrupt");
        assert_eq!(
            interrupt["params"],
            json!({ "threadId": "thr", "turnId": "turn_1" })
        );
        // Another thread's turn (a sub-agent's) does not end ours.
        let other = r#"{"method":"turn/completed","params":{"threadId":"sub","turn":{"id":"x","status":"completed"}}}"#;
        assert_eq!(driver.observe(other), DriverEvent::Other);
        let done = r#"{"method":"turn/completed","params":{"threadId":"thr","turn":{"id":"turn_1","status":"interrupted"}}}"#;
        assert_eq!(driver.observe(done), DriverEvent::TurnEnded);
        assert_eq!(driver.observe("not json"), DriverEvent::Other);
        driver.end_input();
        assert!(matches!(
            stdin.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn a_failed_turn_fails_with_codexs_own_message() {
        let running = || {
            let Started { driver, mut stdin } =
                CodexDriver::start("p", &ProfileOptions::default(), None, Path::new("/w"));
            let thread = handshake(&*driver, &mut stdin);
            driver.observe(
                &json!({ "id": thread["id"], "result": { "thread": { "id": "thr" } } }).to_string(),
            );
            let turn = sent(&mut stdin);
            driver.observe(
                &json!({ "id": turn["id"], "result": { "turn": { "id": "t1", "status": "inProgress" } } })
                    .to_string(),
            );
            driver
        };
        let driver = running();
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("the agent exited before its turn ended")
        );
        let retried = r#"{"method":"error","params":{"threadId":"thr","turnId":"t1","willRetry":true,"error":{"message":"stream disconnected; retrying"}}}"#;
        let fatal = r#"{"method":"error","params":{"threadId":"thr","turnId":"t1","willRetry":false,"error":{"message":"unexpected status 401 Unauthorized","codexErrorInfo":"unauthorized"}}}"#;
        let failed = r#"{"method":"turn/completed","params":{"threadId":"thr","turn":{"id":"t1","status":"failed","error":null}}}"#;
        driver.observe(fatal);
        driver.observe(retried);
        assert_eq!(driver.observe(failed), DriverEvent::TurnEnded);
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("agent turn failed: unexpected status 401 Unauthorized")
        );
        // The completion's own error wins when it has one.
        let driver = running();
        driver.observe(fatal);
        let named = r#"{"method":"turn/completed","params":{"threadId":"thr","turn":{"id":"t1","status":"failed","error":{"message":"Quota exceeded"}}}}"#;
        driver.observe(named);
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("agent turn failed: Quota exceeded")
        );
        // A retried error on a turn that then completes is no failure.
        let driver = running();
        driver.observe(retried);
        driver.observe(r#"{"method":"turn/completed","params":{"threadId":"thr","turn":{"id":"t1","status":"completed"}}}"#);
        assert_eq!(driver.turn_failure(), None);
    }

    #[test]
    fn a_stop_before_any_turn_ends_the_input_and_no_turn_starts() {
        let Started { driver, mut stdin } =
            CodexDriver::start("p", &ProfileOptions::default(), None, Path::new("/w"));
        let _ = sent(&mut stdin);
        driver.interrupt();
        assert!(matches!(
            stdin.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn codex_runs_as_an_app_server_and_its_options_travel_in_the_protocol() {
        let opts = ProfileOptions {
            extra_args: vec!["-c".into(), "model_verbosity=low".into()],
            ..supervised()
        };
        assert_eq!(
            super::super::Agent::of(ExecutorKind::Codex).unwrap().args(
                &opts,
                "the prompt",
                Some("thr_1")
            ),
            ["app-server", "-c", "model_verbosity=low"]
        );
    }

    #[test]
    fn a_refused_thread_ends_the_turn() {
        let Started { driver, mut stdin } =
            CodexDriver::start("p", &ProfileOptions::default(), None, Path::new("/w"));
        let thread = handshake(&*driver, &mut stdin);
        let refused =
            json!({ "id": thread["id"], "error": { "code": -32603, "message": "not logged in" } });
        assert_eq!(driver.observe(&refused.to_string()), DriverEvent::TurnEnded);
    }
}
