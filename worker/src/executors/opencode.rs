//! OpenCode's local HTTP server (`opencode serve`): once the server prints the address it
//! listens on, the driver subscribes to its event stream (`GET /event`, server-sent
//! events), opens the session (`GET /session/{id}` to resume one, else `POST /session`,
//! carrying the permission policy as the session's ruleset), and sends the prompt with
//! `POST /session/{id}/prompt_async`. Every event payload is injected into the process's
//! output, so the normalizer reads the stream like stdout lines. Permission requests
//! (`permission.updated` / `permission.asked`) are answered with
//! `POST /session/{id}/permissions/{permissionID}`; a stop is `POST /session/{id}/abort`;
//! the turn is over at `session.idle` of the session, and since the server does not exit
//! by itself the driver then cancels `finished` so the worker stops it.

use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use shared::logs::OutputStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::driver::{AgentDriver, DriverEvent, Started, Stdin, ToolRequest};
use super::{DriverContext, PermissionPolicy};
use crate::runner::OutputLine;

/// What the server prints on stdout once it accepts connections.
const LISTENING: &str = "listening on ";

/// The worker's side of one OpenCode server.
pub struct OpenCodeDriver {
    inner: Arc<Inner>,
    stdin: Stdin,
}

/// What the driver and its HTTP task share.
struct Inner {
    http: reqwest::Client,
    prompt: String,
    /// The prompt with the earlier turns, for a new session on a follow-up.
    replayed: String,
    resume: Option<String>,
    model: Option<Value>,
    policy: PermissionPolicy,
    cwd: PathBuf,
    /// Held weakly, so a server that never listens does not keep the output open.
    inject: Mutex<Option<mpsc::WeakSender<OutputLine>>>,
    finished: CancellationToken,
    /// The server's base URL, once it listens.
    base: Mutex<Option<String>>,
    /// The sandbox's network, when the server runs in one.
    bridge: Mutex<Option<crate::sandbox::net::Bridge>>,
    /// The session this run works in, once opened.
    session: Mutex<Option<String>>,
    failure: Mutex<Option<String>>,
}

impl OpenCodeDriver {
    /// A driver waiting for the server to listen; the prompt goes out then.
    pub fn start(cx: &DriverContext<'_>) -> Started {
        let (driver, rx) = OpenCodeDriver::new(cx);
        Started {
            driver: Arc::new(driver),
            stdin: rx,
        }
    }

    fn new(cx: &DriverContext<'_>) -> (OpenCodeDriver, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (stdin, rx) = Stdin::open();
        // The server reads nothing from stdin.
        stdin.close();
        // OpenCode names a model `provider/model`; without a provider the server's own
        // default stands.
        let model = cx
            .options
            .model
            .as_deref()
            .and_then(|m| m.split_once('/'))
            .map(|(provider, model)| json!({ "providerID": provider, "modelID": model }));
        let inner = Inner {
            http: reqwest::Client::new(),
            prompt: cx.prompt.to_owned(),
            replayed: super::with_history(cx.prompt, cx.history),
            resume: cx.resume.map(str::to_owned),
            model,
            policy: cx.options.permission_policy,
            cwd: cx.cwd.to_path_buf(),
            inject: Mutex::new(Some(cx.inject.downgrade())),
            finished: cx.finished.clone(),
            base: Mutex::new(None),
            bridge: Mutex::new(None),
            session: Mutex::new(None),
            failure: Mutex::new(None),
        };
        let driver = OpenCodeDriver {
            inner: Arc::new(inner),
            stdin,
        };
        (driver, rx)
    }
}

impl Inner {
    /// The server's URL as the worker reaches it: in a sandbox, through a port on the
    /// host's loopback that leads to the sandbox's.
    fn reachable(&self, url: &str) -> std::io::Result<String> {
        let Some(bridge) = self.bridge.lock().ok().and_then(|b| b.clone()) else {
            return Ok(url.to_owned());
        };
        let port = url
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("no port in {url}")))?;
        let host_port = bridge.expose(port)?;
        Ok(format!("http://127.0.0.1:{host_port}"))
    }

    fn session(&self) -> Option<String> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    fn base(&self) -> Option<String> {
        self.base.lock().ok().and_then(|b| b.clone())
    }

    fn fail(&self, why: String) {
        if let Ok(mut f) = self.failure.lock()
            && f.is_none()
        {
            *f = Some(why);
        }
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let base = self.base().unwrap_or_default();
        self.http
            .post(format!("{base}{path}"))
            .header("x-opencode-directory", self.cwd.display().to_string())
            .json(body)
    }

    /// The session ruleset the profile's policy asks for: everything allowed, or every
    /// tool call asked for.
    fn ruleset(&self) -> Value {
        let action = match self.policy {
            PermissionPolicy::Auto => "allow",
            PermissionPolicy::Supervised | PermissionPolicy::Plan => "ask",
        };
        json!([{ "permission": "*", "pattern": "*", "action": action }])
    }

    /// Opens the session: the one to resume if the server knows it, else a new one; the
    /// prompt to send with it (the earlier turns replayed in a new session).
    async fn open_session(&self, base: &str) -> anyhow::Result<(String, String)> {
        if let Some(id) = &self.resume {
            let found = self
                .http
                .get(format!("{base}/session/{id}"))
                .header("x-opencode-directory", self.cwd.display().to_string())
                .send()
                .await?;
            if found.status().is_success() {
                return Ok((id.clone(), self.prompt.clone()));
            }
            tracing::warn!(session = %id, status = %found.status(), "opencode session not found; starting a new one");
        }
        let created = self
            .post("/session", &json!({ "permission": self.ruleset() }))
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("the new session has no id: {created}"))?;
        Ok((id.to_owned(), self.replayed.clone()))
    }

    /// Subscribes to the events, opens the session, sends the prompt, then injects every
    /// event until the session is idle (or the stream ends with the server).
    async fn converse(self: Arc<Self>, base: String, inject: mpsc::Sender<OutputLine>) {
        let result = async {
            let events = self
                .http
                .get(format!("{base}/event"))
                .header("x-opencode-directory", self.cwd.display().to_string())
                .header("accept", "text/event-stream")
                .send()
                .await?
                .error_for_status()?;
            let mut stream = events.bytes_stream();
            let mut buffer: Vec<u8> = Vec::new();
            let mut prompted = false;
            // The first event (`server.connected`) says the subscription is in place, so
            // nothing the prompt causes can be missed.
            while let Some(chunk) = stream.next().await {
                buffer.extend_from_slice(&chunk?);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let raw: Vec<u8> = buffer.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&raw);
                    let Some(data) = line.trim_end().strip_prefix("data:") else {
                        continue;
                    };
                    let data = data.trim().to_owned();
                    if data.is_empty() {
                        continue;
                    }
                    let event: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                    let ends = self.ends_turn(&event);
                    let line = OutputLine {
                        stream: OutputStream::Stdout,
                        text: data,
                        at: Utc::now(),
                    };
                    if inject.send(line).await.is_err() {
                        return Ok(());
                    }
                    if !prompted {
                        prompted = true;
                        self.prompt(&base).await?;
                    } else if ends {
                        return Ok(());
                    }
                }
            }
            anyhow::bail!("the event stream ended before the turn did")
        }
        .await;
        if let Err(e) = result {
            self.fail(format!("opencode server: {e:#}"));
        }
        self.finished.cancel();
    }

    async fn prompt(&self, base: &str) -> anyhow::Result<()> {
        let (id, text) = self.open_session(base).await?;
        if let Ok(mut s) = self.session.lock() {
            *s = Some(id.clone());
        }
        let mut body = json!({ "parts": [{ "type": "text", "text": text }] });
        if let Some(model) = &self.model {
            body["model"] = model.clone();
        }
        self.post(&format!("/session/{id}/prompt_async"), &body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Whether an event ends the turn of this run's session; a session error is the
    /// turn's failure.
    fn ends_turn(&self, event: &Value) -> bool {
        let props = event.get("properties").unwrap_or(&Value::Null);
        let ours = |props: &Value| {
            let id = props.get("sessionID").and_then(Value::as_str);
            id.is_some() && id.map(str::to_owned) == self.session()
        };
        match event.get("type").and_then(Value::as_str) {
            Some("session.idle") => ours(props),
            Some("session.status") => {
                ours(props) && props["status"].get("type").and_then(Value::as_str) == Some("idle")
            }
            Some("session.error") => {
                // An error without a session is the server's, for the session at work.
                if props.get("sessionID").is_none() || ours(props) {
                    let e = props.get("error").unwrap_or(&Value::Null);
                    let name = e.get("name").and_then(Value::as_str).unwrap_or("error");
                    let message = e
                        .pointer("/data/message")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    self.fail(format!("agent turn failed: {name}: {message}"));
                }
                false
            }
            _ => false,
        }
    }
}

impl AgentDriver for OpenCodeDriver {
    fn attach_sandbox(&self, bridge: crate::sandbox::net::Bridge) {
        if let Ok(mut slot) = self.inner.bridge.lock() {
            *slot = Some(bridge);
        }
    }

    fn observe(&self, line: &str) -> DriverEvent {
        let inner = &self.inner;
        if let Some(at) = line.find(LISTENING)
            && inner.base().is_none()
        {
            let url = line[at + LISTENING.len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_owned();
            if !url.starts_with("http://") {
                return DriverEvent::Other;
            }
            let inject = inner
                .inject
                .lock()
                .ok()
                .and_then(|mut i| i.take())
                .and_then(|weak| weak.upgrade());
            let url = match inner.reachable(&url) {
                Ok(url) => url,
                Err(e) => {
                    inner.fail(format!("the agent's server is out of reach: {e}"));
                    return DriverEvent::Other;
                }
            };
            if let (Ok(mut base), Some(inject)) = (inner.base.lock(), inject) {
                *base = Some(url.clone());
                tokio::spawn(inner.clone().converse(url, inject));
            }
            return DriverEvent::Other;
        }
        let payload = line.trim_start().strip_prefix("data:").unwrap_or(line);
        let Ok(event) = serde_json::from_str::<Value>(payload.trim()) else {
            return DriverEvent::Other;
        };
        let props = event.get("properties").unwrap_or(&Value::Null);
        let session = inner.session();
        let ours = props.get("sessionID").and_then(Value::as_str) == session.as_deref();
        match event.get("type").and_then(Value::as_str) {
            Some("permission.updated" | "permission.asked") if ours => {
                let Some(id) = props.get("id").and_then(Value::as_str) else {
                    return DriverEvent::Other;
                };
                // `permission.updated` names the call at the top; `permission.asked` in `tool`.
                let call = props
                    .get("callID")
                    .or_else(|| props.pointer("/tool/callID"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let tool = props
                    .get("type")
                    .or_else(|| props.get("permission"))
                    .and_then(Value::as_str)
                    .unwrap_or("tool");
                let mut input = props.get("metadata").cloned().unwrap_or(json!({}));
                if let (Some(title), Some(map)) = (
                    props.get("title").or_else(|| props.get("patterns")),
                    input.as_object_mut(),
                ) {
                    map.insert("title".to_owned(), title.clone());
                }
                DriverEvent::Permission(ToolRequest {
                    request_id: json!({ "session": session, "permission": id }),
                    tool_name: tool.to_owned(),
                    tool_call_id: call,
                    input,
                })
            }
            Some("session.idle") if ours => DriverEvent::TurnEnded,
            _ => DriverEvent::Other,
        }
    }

    fn answer(&self, request: &ToolRequest, allow: bool, reason: &str) {
        let inner = self.inner.clone();
        let session = request.request_id["session"].as_str().map(str::to_owned);
        let permission = request.request_id["permission"].as_str().map(str::to_owned);
        let (Some(session), Some(permission)) = (session, permission) else {
            return;
        };
        let response = if allow { "once" } else { "reject" };
        let reason = reason.to_owned();
        tokio::spawn(async move {
            let sent = inner
                .post(
                    &format!("/session/{session}/permissions/{permission}"),
                    &json!({ "response": response }),
                )
                .send()
                .await;
            let sent = match sent {
                // Newer servers answer permissions under `/permission/{id}/reply`.
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                    let mut body = json!({ "reply": response });
                    if !allow && !reason.is_empty() {
                        body["message"] = json!(reason);
                    }
                    inner
                        .post(&format!("/permission/{permission}/reply"), &body)
                        .send()
                        .await
                }
                other => other,
            };
            if let Err(e) = sent.and_then(|r| r.error_for_status()) {
                tracing::warn!(error = %e, "answering an opencode permission failed");
            }
        });
    }

    fn interrupt(&self) {
        let inner = self.inner.clone();
        let Some(session) = inner.session() else {
            // Nothing started yet: ending the run is the whole stop.
            inner.finished.cancel();
            return;
        };
        tokio::spawn(async move {
            let sent = inner
                .post(&format!("/session/{session}/abort"), &json!({}))
                .send()
                .await
                .and_then(|r| r.error_for_status());
            if let Err(e) = sent {
                tracing::warn!(error = %e, "aborting the opencode session failed");
                inner.finished.cancel();
            }
        });
    }

    fn end_input(&self) {
        self.stdin.close();
    }

    fn turn_failure(&self) -> Option<String> {
        self.inner.failure.lock().ok().and_then(|f| f.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executors::ProfileOptions;

    fn driver(tx: &mpsc::Sender<OutputLine>) -> OpenCodeDriver {
        let finished = CancellationToken::new();
        let options = ProfileOptions::default();
        let cx = DriverContext {
            prompt: "say hi",
            options: &options,
            resume: None,
            cwd: std::path::Path::new("/tmp"),
            history: &[],
            inject: tx.clone(),
            finished: finished.clone(),
        };
        OpenCodeDriver::new(&cx).0
    }

    #[tokio::test]
    async fn permission_requests_of_the_session_in_both_shapes_become_tool_requests() {
        let (tx, _rx) = mpsc::channel(4);
        let d = driver(&tx);
        let inner = &d.inner;
        if let Ok(mut s) = inner.session.lock() {
            *s = Some("ses_1".into());
        }
        let old = r#"data: {"type":"permission.updated","properties":{"id":"per_1","type":"bash","sessionID":"ses_1","callID":"call_1","title":"ls","metadata":{"command":"ls"}}}"#;
        let DriverEvent::Permission(r) = d.observe(old) else {
            panic!("a permission request");
        };
        assert_eq!(r.tool_name, "bash");
        assert_eq!(r.tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(r.request_id["permission"], "per_1");
        assert_eq!(r.input["command"], "ls");
        let new = r#"{"type":"permission.asked","properties":{"id":"per_2","permission":"edit","sessionID":"ses_1","patterns":["a.txt"],"metadata":{},"tool":{"messageID":"m","callID":"call_2"}}}"#;
        let DriverEvent::Permission(r) = d.observe(new) else {
            panic!("a permission request");
        };
        assert_eq!(r.tool_name, "edit");
        assert_eq!(r.tool_call_id.as_deref(), Some("call_2"));
        let other = r#"{"type":"permission.asked","properties":{"id":"per_3","permission":"edit","sessionID":"ses_other"}}"#;
        assert_eq!(d.observe(other), DriverEvent::Other, "another session's");
        assert_eq!(
            d.observe(r#"{"type":"session.idle","properties":{"sessionID":"ses_1"}}"#),
            DriverEvent::TurnEnded
        );
    }

    #[tokio::test]
    async fn a_session_error_of_the_session_is_the_turns_failure() {
        let (tx, _rx) = mpsc::channel(4);
        let d = driver(&tx);
        let inner = &d.inner;
        if let Ok(mut s) = inner.session.lock() {
            *s = Some("ses_1".into());
        }
        let error = serde_json::json!({"type": "session.error", "properties": {"sessionID": "ses_1",
            "error": {"name": "ProviderAuthError", "data": {"message": "bad key"}}}});
        assert!(!inner.ends_turn(&error));
        assert!(inner.ends_turn(
            &serde_json::json!({"type": "session.status", "properties": {"sessionID": "ses_1", "status": {"type": "idle"}}})
        ));
        assert_eq!(
            d.turn_failure().as_deref(),
            Some("agent turn failed: ProviderAuthError: bad key")
        );
    }
}
