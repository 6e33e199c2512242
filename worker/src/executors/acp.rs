//! The Agent Client Protocol (JSON-RPC 2.0, one message a line over stdio) as spoken by
//! Gemini CLI (`--experimental-acp`), Qwen Code (`--experimental-acp`) and GitHub
//! Copilot CLI (`--acp`). The worker is the client: it sends `initialize`, then, when
//! there is a session to resume, `session/resume` (agents advertising
//! `sessionCapabilities.resume`: no history replay) or `session/load` (`loadSession`: the
//! agent replays the conversation as updates first), falling back to `session/new` when
//! the agent can do neither or lost the session; then one `session/prompt`, and the turn
//! ends with the prompt's response. When opening the session fails with ACP's
//! `auth_required` and the agent offers an API-key method (the org's key is in the
//! agent's environment), the worker calls `authenticate` with it once and tries again;
//! a browser login is never chosen. The agent's `session/request_permission` requests go to the approval broker
//! and are answered with one of the options the agent offered; an interrupt is the
//! `session/cancel` notification. The client advertises no file system or terminal, so
//! the agent works on the worktree itself; should an agent still ask, `fs/read_text_file`
//! and `fs/write_text_file` are served inside the worktree only, and any other request
//! gets a JSON-RPC error instead of hanging its turn.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::driver::{AgentDriver, DriverEvent, Started, Stdin, ToolRequest};

/// The ACP version the worker speaks.
const PROTOCOL_VERSION: u64 = 1;

/// Ids of the client's requests, one per step of the conversation.
const INITIALIZE: u64 = 1;
const LOAD: u64 = 2;
const RESUME: u64 = 3;
const NEW: u64 = 4;
const PROMPT: u64 = 5;
const AUTHENTICATE: u64 = 6;

/// ACP's `auth_required` error code.
const AUTH_REQUIRED: i64 = -32000;
/// JSON-RPC "method not found", for agent requests this client does not serve.
const METHOD_NOT_FOUND: i64 = -32601;

/// Where the conversation is.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for `initialize`'s response.
    Initializing,
    /// Waiting for `session/resume`, `session/load` or `session/new`.
    Opening,
    /// The prompt was sent to this session.
    Prompting(String),
    /// The turn is over (or could not start).
    Done,
}

struct State {
    phase: Phase,
    /// Permission requests waiting for a decision: their id's JSON text → their options.
    pending: HashMap<String, Vec<Value>>,
    /// A stop was asked before the session existed: cancel as soon as it does.
    cancel_requested: bool,
    /// The API-key authentication method the agent offered, until it is used.
    auth_method: Option<String>,
    /// The last session-opening request (id, method, params), to repeat after
    /// authenticating.
    opening: Option<(u64, &'static str, Value)>,
    /// Why the turn failed, in the agent's words: some agents exit 0 after it.
    failure: Option<String>,
}

/// The worker's side of one ACP agent process.
pub struct AcpDriver {
    stdin: Stdin,
    prompt: String,
    /// The prompt with the earlier turns replayed, for a session that is not the resumed one.
    replayed: String,
    resume: Option<String>,
    cwd: PathBuf,
    state: Mutex<State>,
}

impl AcpDriver {
    /// Opens the connection; the session and the prompt follow the agent's answers.
    pub fn start(prompt: &str, resume: Option<&str>, cwd: &Path) -> Started {
        Self::start_with_history(prompt, prompt, resume, cwd)
    }

    /// As [`AcpDriver::start`]; a session that is not the resumed one (none to resume,
    /// or it is gone) gets `replayed`, the prompt with the earlier turns.
    pub fn start_with_history(
        prompt: &str,
        replayed: &str,
        resume: Option<&str>,
        cwd: &Path,
    ) -> Started {
        let (stdin, rx) = Stdin::open();
        let driver = AcpDriver {
            stdin,
            prompt: prompt.to_owned(),
            replayed: replayed.to_owned(),
            resume: resume.filter(|r| !r.is_empty()).map(str::to_owned),
            cwd: cwd.to_path_buf(),
            state: Mutex::new(State {
                phase: Phase::Initializing,
                pending: HashMap::new(),
                cancel_requested: false,
                auth_method: None,
                opening: None,
                failure: None,
            }),
        };
        driver.request(
            INITIALIZE,
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {
                    "fs": { "readTextFile": false, "writeTextFile": false },
                    "terminal": false,
                },
                "clientInfo": { "name": "switchyard-worker", "version": env!("CARGO_PKG_VERSION") },
            }),
        );
        Started {
            driver: Arc::new(driver),
            stdin: rx,
        }
    }

    fn request(&self, id: u64, method: &str, params: Value) {
        self.stdin.send(&json!({
            "jsonrpc": "2.0", "id": id, "method": method, "params": params,
        }));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a session-opening request, remembered to repeat it after authenticating.
    fn open(&self, state: &mut State, id: u64, method: &'static str, params: Value) {
        self.request(id, method, params.clone());
        state.opening = Some((id, method, params));
    }

    fn new_session(&self, state: &mut State) {
        let params = json!({ "cwd": self.cwd, "mcpServers": [] });
        self.open(state, NEW, "session/new", params);
    }

    /// Sends the prompt to `session`, or ends a turn that was stopped before it began.
    fn prompt(&self, state: &mut State, session: String) -> DriverEvent {
        if state.cancel_requested {
            state.phase = Phase::Done;
            return DriverEvent::TurnEnded;
        }
        let resumed = self.resume.as_deref() == Some(session.as_str());
        let text = if resumed {
            &self.prompt
        } else {
            &self.replayed
        };
        self.request(
            PROMPT,
            "session/prompt",
            json!({
                "sessionId": session,
                "prompt": [{ "type": "text", "text": text }],
            }),
        );
        state.phase = Phase::Prompting(session);
        DriverEvent::Other
    }

    /// A response to one of the client's requests.
    fn response(&self, v: &Value) -> DriverEvent {
        let id = v.get("id").and_then(Value::as_u64);
        let failed = v.get("error").is_some_and(|e| !e.is_null());
        let why = error_text(v);
        let result = v.get("result").unwrap_or(&Value::Null);
        let mut state = self.state();
        let auth_required = v.pointer("/error/code").and_then(Value::as_i64) == Some(AUTH_REQUIRED);
        if failed
            && auth_required
            && state.phase == Phase::Opening
            && let Some(method) = state.auth_method.take()
        {
            self.request(AUTHENTICATE, "authenticate", json!({ "methodId": method }));
            return DriverEvent::Other;
        }
        match (id, &state.phase) {
            (Some(AUTHENTICATE), Phase::Opening) => match state.opening.clone() {
                Some((id, method, params)) if !failed => {
                    self.request(id, method, params);
                    DriverEvent::Other
                }
                _ => end(
                    &mut state,
                    format!("the agent refused to authenticate: {why}"),
                ),
            },
            (Some(INITIALIZE), Phase::Initializing) => {
                if failed {
                    return end(&mut state, format!("the agent refused initialize: {why}"));
                }
                let caps = result.get("agentCapabilities").unwrap_or(&Value::Null);
                let can_resume = caps
                    .pointer("/sessionCapabilities/resume")
                    .is_some_and(|r| !r.is_null());
                let can_load = caps
                    .get("loadSession")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                state.auth_method = api_key_method(result);
                let open = json!({ "sessionId": self.resume, "cwd": self.cwd, "mcpServers": [] });
                match &self.resume {
                    Some(_) if can_resume => self.open(&mut state, RESUME, "session/resume", open),
                    Some(_) if can_load => self.open(&mut state, LOAD, "session/load", open),
                    // An agent that cannot load sessions starts a new one.
                    _ => self.new_session(&mut state),
                }
                state.phase = Phase::Opening;
                DriverEvent::Other
            }
            (Some(LOAD | RESUME), Phase::Opening) => match (&self.resume, failed) {
                (Some(id), false) => self.prompt(&mut state, id.clone()),
                // The session is gone (or unreadable): continue in a new one.
                _ => {
                    self.new_session(&mut state);
                    DriverEvent::Other
                }
            },
            (Some(NEW), Phase::Opening) => match result.get("sessionId").and_then(Value::as_str) {
                Some(session) if !failed => self.prompt(&mut state, session.to_owned()),
                _ if failed => end(
                    &mut state,
                    format!("the agent could not open a session: {why}"),
                ),
                _ => end(
                    &mut state,
                    "the agent opened a session without an id".to_owned(),
                ),
            },
            (Some(PROMPT), Phase::Prompting(_)) => {
                state.phase = Phase::Done;
                let stop = result.get("stopReason").and_then(Value::as_str);
                if failed {
                    state.failure = Some(format!("agent turn failed: {why}"));
                } else if stop == Some("refusal") {
                    state.failure = Some(
                        "agent turn failed: the agent refused to go on (stopReason refusal)"
                            .to_owned(),
                    );
                }
                DriverEvent::TurnEnded
            }
            _ => DriverEvent::Other,
        }
    }

    /// A request of the agent to the client.
    fn agent_request(&self, v: &Value, method: &str) -> DriverEvent {
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let params = v.get("params").unwrap_or(&Value::Null);
        let served = match method {
            "session/request_permission" => None,
            "fs/read_text_file" => Some(self.read_file(params)),
            "fs/write_text_file" => Some(self.write_file(params)),
            // Anything else (terminals, an agent's own extensions such as Qwen Code's
            // `craft/drainMidTurnQueue`, which then stops asking) is answered at once:
            // an unanswered request would stall the turn.
            _ => Some(Err((
                METHOD_NOT_FOUND,
                format!("method not found: {method}"),
            ))),
        };
        if let Some(outcome) = served {
            let message = match outcome {
                Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
                Err((code, message)) => json!({
                    "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message },
                }),
            };
            self.stdin.send(&message);
            return DriverEvent::Other;
        }
        let call = params.get("toolCall").unwrap_or(&Value::Null);
        let options = params
            .get("options")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        {
            let mut state = self.state();
            if state.cancel_requested || state.phase == Phase::Done {
                drop(state);
                self.respond_cancelled(&id);
                return DriverEvent::Other;
            }
            state.pending.insert(id.to_string(), options);
        }
        let text = |key: &str| call.get(key).and_then(Value::as_str);
        DriverEvent::Permission(ToolRequest {
            request_id: id,
            tool_name: text("kind")
                .or_else(|| text("title"))
                .unwrap_or("tool")
                .to_owned(),
            tool_call_id: text("toolCallId").map(str::to_owned),
            input: call.get("rawInput").cloned().unwrap_or(Value::Null),
        })
    }

    /// The path of an fs request, when it is absolute, has no `..` and stays inside the
    /// worktree (symbolic links included, as far as the path exists).
    fn worktree_path(&self, params: &Value) -> Result<PathBuf, (i64, String)> {
        let invalid = |why: &str| Err((-32602, why.to_owned()));
        let Some(path) = params
            .get("path")
            .and_then(Value::as_str)
            .map(PathBuf::from)
        else {
            return invalid("a path is required");
        };
        if !path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            || !path.starts_with(&self.cwd)
        {
            return invalid("the path is outside the working directory");
        }
        let root = self
            .cwd
            .canonicalize()
            .map_err(|e| (-32603, e.to_string()))?;
        // The deepest part of the path that exists (a dangling link included, which then
        // fails to resolve) decides where it really leads.
        let existing = path
            .ancestors()
            .find(|p| p.symlink_metadata().is_ok())
            .ok_or((-32603, "the working directory is gone".to_owned()))?;
        let real = existing
            .canonicalize()
            .map_err(|e| (-32603, e.to_string()))?;
        if !real.starts_with(&root) {
            return invalid("the path leads outside the working directory");
        }
        Ok(path)
    }

    /// `fs/read_text_file`: the file's text, from 1-based `line` for `limit` lines.
    fn read_file(&self, params: &Value) -> Result<Value, (i64, String)> {
        let path = self.worktree_path(params)?;
        let text = std::fs::read_to_string(&path).map_err(|e| (-32603, e.to_string()))?;
        let line = params.get("line").and_then(Value::as_u64);
        let limit = params.get("limit").and_then(Value::as_u64);
        let content = if line.is_some() || limit.is_some() {
            let skip = line.unwrap_or(1).saturating_sub(1) as usize;
            let take = limit.map_or(usize::MAX, |l| l as usize);
            text.split_inclusive('\n')
                .skip(skip)
                .take(take)
                .collect::<String>()
        } else {
            text
        };
        Ok(json!({ "content": content }))
    }

    /// `fs/write_text_file`: writes the whole file, creating its directories.
    fn write_file(&self, params: &Value) -> Result<Value, (i64, String)> {
        let path = self.worktree_path(params)?;
        let Some(content) = params.get("content").and_then(Value::as_str) else {
            return Err((-32602, "content is required".to_owned()));
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| (-32603, e.to_string()))?;
        }
        std::fs::write(&path, content).map_err(|e| (-32603, e.to_string()))?;
        Ok(Value::Null)
    }

    fn respond_cancelled(&self, id: &Value) {
        self.stdin.send(&json!({
            "jsonrpc": "2.0", "id": id, "result": { "outcome": { "outcome": "cancelled" } },
        }));
    }
}

/// Ends a conversation that could not get to its prompt, with the reason.
fn end(state: &mut State, failure: String) -> DriverEvent {
    state.phase = Phase::Done;
    state.failure = Some(failure);
    DriverEvent::TurnEnded
}

/// The agent's own words for an error response: its message, with the details it gave
/// (`data`, a string or `data.details` / `data.message`) when they say more.
fn error_text(response: &Value) -> String {
    let Some(error) = response.get("error").filter(|e| !e.is_null()) else {
        return String::new();
    };
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or("the request failed");
    let data = error.get("data").unwrap_or(&Value::Null);
    let details = data
        .as_str()
        .or_else(|| data.get("details").and_then(Value::as_str))
        .or_else(|| data.get("message").and_then(Value::as_str))
        .filter(|d| !d.is_empty() && !message.contains(d));
    match details {
        Some(details) => format!("{message}: {details}"),
        None => message.to_owned(),
    }
}

/// The id of an authentication method of `initialize`'s result that takes an API key
/// from the environment (Gemini's `gemini-api-key`, say): the only kind a worker can use.
fn api_key_method(initialized: &Value) -> Option<String> {
    initialized
        .get("authMethods")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str))
        .find(|id| {
            let id = id.to_ascii_lowercase().replace('_', "-");
            id.contains("api-key") || id.contains("apikey")
        })
        .map(str::to_owned)
}

/// The option of a permission request that carries the decision: a one-time grant or
/// refusal first, else the lasting one.
fn choose(options: &[Value], allow: bool) -> Option<&str> {
    let kinds: [&str; 2] = if allow {
        ["allow_once", "allow_always"]
    } else {
        ["reject_once", "reject_always"]
    };
    kinds.iter().find_map(|kind| {
        options
            .iter()
            .find(|o| o.get("kind").and_then(Value::as_str) == Some(kind))
            .and_then(|o| o.get("optionId").and_then(Value::as_str))
    })
}

impl AgentDriver for AcpDriver {
    fn observe(&self, raw: &str) -> DriverEvent {
        let Ok(v) = serde_json::from_str::<Value>(raw) else {
            return DriverEvent::Other;
        };
        match (
            v.get("method").and_then(Value::as_str),
            v.get("id").is_some(),
        ) {
            (Some(method), true) => self.agent_request(&v, method),
            (None, true) => self.response(&v),
            // Notifications (`session/update`) are the normalizer's.
            _ => DriverEvent::Other,
        }
    }

    fn answer(&self, request: &ToolRequest, allow: bool, _reason: &str) {
        // ACP's answer is one of the offered options; it has no room for a reason (the
        // normalizer shows the team's decision on the card).
        let Some(options) = self.state().pending.remove(&request.request_id.to_string()) else {
            // Already answered (cancelled by a stop).
            return;
        };
        match choose(&options, allow) {
            Some(option) => self.stdin.send(&json!({
                "jsonrpc": "2.0", "id": request.request_id,
                "result": { "outcome": { "outcome": "selected", "optionId": option } },
            })),
            // No option says what was decided: refusing to pick is the safe answer.
            None => self.respond_cancelled(&request.request_id),
        }
    }

    fn interrupt(&self) {
        let (session, waiting) = {
            let mut state = self.state();
            state.cancel_requested = true;
            let session = match &state.phase {
                Phase::Prompting(s) => Some(s.clone()),
                _ => None,
            };
            let waiting: Vec<String> = state.pending.drain().map(|(id, _)| id).collect();
            (session, waiting)
        };
        if let Some(session) = session {
            self.stdin.send(&json!({
                "jsonrpc": "2.0", "method": "session/cancel", "params": { "sessionId": session },
            }));
        }
        // The spec has the client answer every pending permission request `cancelled`.
        for id in waiting {
            if let Ok(id) = serde_json::from_str::<Value>(&id) {
                self.respond_cancelled(&id);
            }
        }
    }

    fn end_input(&self) {
        self.stdin.close();
    }

    fn turn_failure(&self) -> Option<String> {
        let state = self.state();
        match (&state.failure, &state.phase) {
            (Some(failure), _) => Some(failure.clone()),
            // Asked once the output is over: an agent gone before answering the prompt
            // did not finish its turn, whatever its exit code (a stop is told apart).
            (None, Phase::Done) => None,
            (None, _) if state.cancel_requested => None,
            (None, _) => Some("the agent exited before its turn ended".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::UnboundedReceiver;

    fn next(rx: &mut UnboundedReceiver<Vec<u8>>) -> Value {
        serde_json::from_slice(&rx.try_recv().expect("a line")).expect("json")
    }

    fn reply(id: u64, result: Value) -> String {
        json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()
    }

    #[test]
    fn a_new_session_opens_after_initialize_and_the_prompt_response_ends_the_turn() {
        let Started { driver, mut stdin } = AcpDriver::start("fix it", None, Path::new("/w"));
        let init = next(&mut stdin);
        assert_eq!(init["method"], "initialize");
        assert_eq!(init["params"]["protocolVersion"], 1);
        assert_eq!(
            init["params"]["clientCapabilities"]["fs"]["readTextFile"],
            false
        );
        let caps = json!({ "protocolVersion": 1, "agentCapabilities": { "loadSession": true } });
        assert_eq!(driver.observe(&reply(INITIALIZE, caps)), DriverEvent::Other);
        let new = next(&mut stdin);
        assert_eq!(new["method"], "session/new");
        assert_eq!(new["params"], json!({ "cwd": "/w", "mcpServers": [] }));
        let opened = reply(NEW, json!({ "sessionId": "s1" }));
        assert_eq!(driver.observe(&opened), DriverEvent::Other);
        let prompt = next(&mut stdin);
        assert_eq!(prompt["method"], "session/prompt");
        assert_eq!(prompt["params"]["sessionId"], "s1");
        assert_eq!(prompt["params"]["prompt"][0]["text"], "fix it");
        let update = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#;
        assert_eq!(driver.observe(update), DriverEvent::Other);
        let done = reply(PROMPT, json!({ "stopReason": "end_turn" }));
        assert_eq!(driver.observe(&done), DriverEvent::TurnEnded);
        assert_eq!(driver.observe("not json"), DriverEvent::Other);
    }

    #[test]
    fn a_resume_loads_the_session_and_falls_back_to_a_new_one_when_it_cannot() {
        let caps = |load: bool| {
            reply(
                INITIALIZE,
                json!({ "protocolVersion": 1, "agentCapabilities": { "loadSession": load } }),
            )
        };
        let Started { driver, mut stdin } = AcpDriver::start("p", Some("old"), Path::new("/w"));
        next(&mut stdin);
        driver.observe(&caps(true));
        let load = next(&mut stdin);
        assert_eq!(load["method"], "session/load");
        assert_eq!(load["params"]["sessionId"], "old");
        driver.observe(&reply(LOAD, Value::Null));
        assert_eq!(next(&mut stdin)["params"]["sessionId"], "old");

        // The agent lost the session: a new one carries the prompt.
        let Started { driver, mut stdin } = AcpDriver::start("p", Some("old"), Path::new("/w"));
        next(&mut stdin);
        driver.observe(&caps(true));
        next(&mut stdin);
        let lost =
            json!({"jsonrpc":"2.0","id":LOAD,"error":{"code":-32603,"message":"no session"}});
        driver.observe(&lost.to_string());
        assert_eq!(next(&mut stdin)["method"], "session/new");

        // An agent that can resume without a replay is asked to.
        let Started { driver, mut stdin } = AcpDriver::start("p", Some("old"), Path::new("/w"));
        next(&mut stdin);
        let both = json!({ "protocolVersion": 1, "agentCapabilities": {
            "loadSession": true, "sessionCapabilities": { "resume": {} } } });
        driver.observe(&reply(INITIALIZE, both));
        let resume = next(&mut stdin);
        assert_eq!(resume["method"], "session/resume");
        assert_eq!(
            resume["params"],
            json!({ "sessionId": "old", "cwd": "/w", "mcpServers": [] })
        );
        driver.observe(&reply(RESUME, json!({})));
        assert_eq!(next(&mut stdin)["method"], "session/prompt");

        // An agent that cannot load sessions gets a new one straight away.
        let Started { driver, mut stdin } = AcpDriver::start("p", Some("old"), Path::new("/w"));
        next(&mut stdin);
        driver.observe(&caps(false));
        assert_eq!(next(&mut stdin)["method"], "session/new");
    }

    #[test]
    fn auth_required_authenticates_with_the_api_key_method_once_and_retries() {
        let Started { driver, mut stdin } = AcpDriver::start("p", None, Path::new("/w"));
        next(&mut stdin);
        let init = json!({ "protocolVersion": 1, "authMethods": [
            { "id": "oauth-personal", "name": "Log in with Google" },
            { "id": "gemini-api-key", "name": "Use Gemini API key" },
        ] });
        driver.observe(&reply(INITIALIZE, init));
        assert_eq!(next(&mut stdin)["method"], "session/new");
        let needs_auth =
            json!({"jsonrpc":"2.0","id":NEW,"error":{"code":-32000,"message":"Authentication required"}})
                .to_string();
        assert_eq!(driver.observe(&needs_auth), DriverEvent::Other);
        let auth = next(&mut stdin);
        assert_eq!(auth["method"], "authenticate");
        assert_eq!(auth["params"]["methodId"], "gemini-api-key");
        driver.observe(&reply(AUTHENTICATE, json!({})));
        assert_eq!(next(&mut stdin)["method"], "session/new");
        // A second refusal is final: the turn ends instead of looping.
        assert_eq!(driver.observe(&needs_auth), DriverEvent::TurnEnded);
        assert!(stdin.try_recv().is_err());
    }

    fn prompting() -> (Arc<dyn AgentDriver>, UnboundedReceiver<Vec<u8>>) {
        let Started { driver, mut stdin } = AcpDriver::start("p", None, Path::new("/w"));
        driver.observe(&reply(INITIALIZE, json!({ "protocolVersion": 1 })));
        driver.observe(&reply(NEW, json!({ "sessionId": "s1" })));
        for _ in 0..3 {
            next(&mut stdin);
        }
        (driver, stdin)
    }

    const ASK: &str = r#"{"jsonrpc":"2.0","id":7,"method":"session/request_permission","params":{"sessionId":"s1","toolCall":{"toolCallId":"t1","title":"Write a.txt","kind":"edit","rawInput":{"file_path":"a.txt"}},"options":[{"optionId":"yes","name":"Allow","kind":"allow_once"},{"optionId":"always","name":"Always","kind":"allow_always"},{"optionId":"no","name":"Reject","kind":"reject_once"}]}}"#;

    #[test]
    fn permission_requests_are_answered_with_the_offered_option() {
        let (driver, mut stdin) = prompting();
        let DriverEvent::Permission(request) = driver.observe(ASK) else {
            panic!("a permission request");
        };
        assert_eq!(request.request_id, json!(7));
        assert_eq!(request.tool_name, "edit");
        assert_eq!(request.tool_call_id.as_deref(), Some("t1"));
        assert_eq!(request.input, json!({"file_path": "a.txt"}));
        driver.answer(&request, false, "no");
        let answer = next(&mut stdin);
        assert_eq!(answer["id"], 7);
        assert_eq!(
            answer["result"]["outcome"],
            json!({"outcome": "selected", "optionId": "no"})
        );
        let DriverEvent::Permission(again) = driver.observe(ASK) else {
            panic!("a permission request");
        };
        driver.answer(&again, true, "");
        assert_eq!(next(&mut stdin)["result"]["outcome"]["optionId"], "yes");
    }

    #[test]
    fn an_interrupt_cancels_the_turn_and_every_pending_permission() {
        let (driver, mut stdin) = prompting();
        let DriverEvent::Permission(request) = driver.observe(ASK) else {
            panic!("a permission request");
        };
        driver.interrupt();
        let cancel = next(&mut stdin);
        assert_eq!(cancel["method"], "session/cancel");
        assert_eq!(cancel["params"]["sessionId"], "s1");
        assert!(cancel.get("id").is_none(), "a notification");
        let cancelled = next(&mut stdin);
        assert_eq!(cancelled["id"], 7);
        assert_eq!(cancelled["result"]["outcome"]["outcome"], "cancelled");
        // The broker's late decision is not sent twice.
        driver.answer(&request, true, "");
        assert!(stdin.try_recv().is_err());
        let done = reply(PROMPT, json!({ "stopReason": "cancelled" }));
        assert_eq!(driver.observe(&done), DriverEvent::TurnEnded);
    }

    #[test]
    fn other_agent_requests_get_method_not_found() {
        let (driver, mut stdin) = prompting();
        let shell = r#"{"jsonrpc":"2.0","id":"r9","method":"terminal/create","params":{"sessionId":"s1","command":"ls"}}"#;
        assert_eq!(driver.observe(shell), DriverEvent::Other);
        let answer = next(&mut stdin);
        assert_eq!(answer["id"], "r9");
        assert_eq!(answer["error"]["code"], -32601);
    }

    #[test]
    fn an_error_answer_to_the_prompt_fails_the_turn_with_the_agents_message() {
        let (driver, _stdin) = prompting();
        let failed = json!({"jsonrpc":"2.0","id":PROMPT,"error":{"code":-32603,
            "message":"Internal error","data":{"details":"[API Error: 401 invalid api key]"}}});
        assert_eq!(driver.observe(&failed.to_string()), DriverEvent::TurnEnded);
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("agent turn failed: Internal error: [API Error: 401 invalid api key]")
        );

        let (driver, _stdin) = prompting();
        let refused = reply(PROMPT, json!({ "stopReason": "refusal" }));
        assert_eq!(driver.observe(&refused), DriverEvent::TurnEnded);
        let why = driver.turn_failure().expect("a refusal fails the turn");
        assert!(why.contains("refusal"), "{why}");

        let (driver, _stdin) = prompting();
        driver.observe(&reply(PROMPT, json!({ "stopReason": "end_turn" })));
        assert_eq!(driver.turn_failure(), None);
    }

    #[test]
    fn a_conversation_that_never_reaches_its_prompt_fails() {
        let Started { driver, .. } = AcpDriver::start("p", None, Path::new("/w"));
        let refused = json!({"jsonrpc":"2.0","id":INITIALIZE,"error":{"code":-32600,"message":"bad version"}});
        assert_eq!(driver.observe(&refused.to_string()), DriverEvent::TurnEnded);
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("the agent refused initialize: bad version")
        );

        // No API-key method to authenticate with: the refusal is the failure.
        let Started { driver, .. } = AcpDriver::start("p", None, Path::new("/w"));
        driver.observe(&reply(INITIALIZE, json!({ "protocolVersion": 1 })));
        let needs_auth = json!({"jsonrpc":"2.0","id":NEW,"error":{"code":-32000,"message":"Authentication required"}});
        assert_eq!(
            driver.observe(&needs_auth.to_string()),
            DriverEvent::TurnEnded
        );
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("the agent could not open a session: Authentication required")
        );

        // Gone before answering the prompt (exit code 0 or not).
        let (driver, _stdin) = prompting();
        assert_eq!(
            driver.turn_failure().as_deref(),
            Some("the agent exited before its turn ended")
        );
        // ...unless it was stopped.
        driver.interrupt();
        assert_eq!(driver.turn_failure(), None);
    }

    #[test]
    fn qwen_codes_mid_turn_queue_drain_is_answered_at_once_with_method_not_found() {
        let (driver, mut stdin) = prompting();
        let drain = r#"{"jsonrpc":"2.0","id":0,"method":"craft/drainMidTurnQueue","params":{"sessionId":"s1","promptId":"p1"}}"#;
        assert_eq!(driver.observe(drain), DriverEvent::Other);
        let answer = next(&mut stdin);
        assert_eq!(answer["id"], 0);
        assert_eq!(answer["error"]["code"], METHOD_NOT_FOUND);
        assert!(answer.get("result").is_none(), "{answer}");
        // The turn goes on and ends normally.
        let done = reply(PROMPT, json!({ "stopReason": "end_turn" }));
        assert_eq!(driver.observe(&done), DriverEvent::TurnEnded);
        assert_eq!(driver.turn_failure(), None);
    }

    #[test]
    fn file_requests_are_served_inside_the_worktree_only() {
        let root = std::env::temp_dir().join(format!("acp-fs-{}", uuid::Uuid::now_v7()));
        let worktree = root.join("wt");
        std::fs::create_dir_all(&worktree).expect("mkdir");
        std::fs::write(root.join("secret.txt"), "outside\n").expect("write");
        std::os::unix::fs::symlink(&root, worktree.join("escape")).expect("symlink");
        let Started { driver, mut stdin } = AcpDriver::start("p", None, &worktree);
        next(&mut stdin);
        let ask = |id: u64, method: &str, params: Value| {
            let request = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
            assert_eq!(driver.observe(&request.to_string()), DriverEvent::Other);
        };
        let file = worktree.join("dir/a.txt");
        ask(
            1,
            "fs/write_text_file",
            json!({"sessionId":"s","path":file,"content":"one\ntwo\nthree\n"}),
        );
        let written = next(&mut stdin);
        assert!(written.get("error").is_none(), "{written}");
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "one\ntwo\nthree\n"
        );
        ask(
            2,
            "fs/read_text_file",
            json!({"sessionId":"s","path":file,"line":2,"limit":1}),
        );
        assert_eq!(next(&mut stdin)["result"]["content"], "two\n");
        ask(3, "fs/read_text_file", json!({"sessionId":"s","path":file}));
        assert_eq!(next(&mut stdin)["result"]["content"], "one\ntwo\nthree\n");
        for (id, path) in [
            (4, root.join("secret.txt")),
            (5, worktree.join("../secret.txt")),
            (6, worktree.join("escape/secret.txt")),
            (7, PathBuf::from("dir/a.txt")),
        ] {
            ask(
                id,
                "fs/read_text_file",
                json!({"sessionId":"s","path":path}),
            );
            let refused = next(&mut stdin);
            assert_eq!(refused["error"]["code"], -32602, "{path:?}: {refused}");
        }
        ask(
            8,
            "fs/write_text_file",
            json!({"sessionId":"s","path":worktree.join("escape/new.txt"),"content":"x"}),
        );
        assert_eq!(next(&mut stdin)["error"]["code"], -32602);
        assert!(!root.join("new.txt").exists(), "nothing written outside");
        std::os::unix::fs::symlink(root.join("later.txt"), worktree.join("dangling"))
            .expect("symlink");
        let dangling = json!({"sessionId":"s","path":worktree.join("dangling"),"content":"x"});
        ask(9, "fs/write_text_file", dangling);
        assert!(next(&mut stdin).get("error").is_some());
        assert!(
            !root.join("later.txt").exists(),
            "a dangling link is not followed"
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
