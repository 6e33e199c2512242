//! Local fakes of the model vendors' HTTP APIs, so the real agent CLIs run in tests
//! without a model: Anthropic Messages, OpenAI Responses, OpenAI Chat Completions and
//! Gemini's `generateContent`, each close enough to the wire protocol that the CLI cannot
//! tell. One [`FakeModelApi`] serves all four on one loopback port (their paths differ).
//!
//! A test scripts the model's turns as a queue ([`FakeModelApi::script`]): each request
//! that is an agent's turn (by default: it offers tools) takes the next [`Turn`], and
//! every other request (title generation, memory extraction, token counting, a turn past
//! the script) gets the default turn, a short final text. Every request is recorded
//! ([`FakeModelApi::requests`]) so a test can assert what the agent sent: its history on
//! resume, the results of its tool calls.
//!
//! A stalled turn ([`Turn::stalled`]) streams its first part and then waits until the test
//! calls [`FakeModelApi::release`] (or the client goes away), for tests that stop an agent
//! in the middle of a turn.

mod anthropic;
mod gemini;
mod openai;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Which vendor API a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/messages` (and `/v1/messages/count_tokens`).
    Anthropic,
    /// `POST /v1/responses`.
    OpenAiResponses,
    /// `POST /v1/chat/completions` (and `GET /v1/models`).
    OpenAiChat,
    /// `POST /v1beta/models/{model}:generateContent` and friends.
    Gemini,
    /// Anything else: answered 404 and recorded.
    Other,
}

/// One tool call the model makes.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool's name as the agent offered it (`Bash`, `shell`, `run_shell_command`).
    pub name: String,
    /// Its arguments (for a freeform tool, a JSON string: the raw input).
    pub input: Value,
    /// A Responses API custom (freeform) tool call, whose input is plain text.
    pub custom: bool,
}

/// Token counts a turn reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            input_tokens: 1200,
            output_tokens: 34,
            cached_tokens: 0,
        }
    }
}

/// One answer of the model: optional reasoning, text, then tool calls. Without tool calls
/// it ends the agent's turn (`end_turn` / `stop`); with them the agent runs the tools and
/// asks again.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub thinking: Option<String>,
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// Stream the first part, then wait for [`FakeModelApi::release`].
    pub stall: bool,
    /// Answer with this HTTP status and JSON body instead.
    pub error: Option<(u16, Value)>,
}

impl Turn {
    fn empty() -> Turn {
        Turn {
            thinking: None,
            text: None,
            tool_calls: Vec::new(),
            usage: Usage::default(),
            stall: false,
            error: None,
        }
    }

    /// A final answer.
    pub fn text(text: impl Into<String>) -> Turn {
        Turn {
            text: Some(text.into()),
            ..Turn::empty()
        }
    }

    /// One call of a JSON-argument tool.
    pub fn tool(name: impl Into<String>, input: Value) -> Turn {
        Turn::tools([(name.into(), input)])
    }

    /// Several tool calls in one answer.
    pub fn tools(calls: impl IntoIterator<Item = (String, Value)>) -> Turn {
        Turn {
            tool_calls: calls
                .into_iter()
                .map(|(name, input)| ToolCall {
                    name,
                    input,
                    custom: false,
                })
                .collect(),
            ..Turn::empty()
        }
    }

    /// One call of a Responses API freeform tool (Codex's `apply_patch`), `input` verbatim.
    pub fn custom_tool(name: impl Into<String>, input: impl Into<String>) -> Turn {
        Turn {
            tool_calls: vec![ToolCall {
                name: name.into(),
                input: Value::String(input.into()),
                custom: true,
            }],
            ..Turn::empty()
        }
    }

    /// An HTTP error instead of an answer.
    pub fn error(status: u16, body: Value) -> Turn {
        Turn {
            error: Some((status, body)),
            ..Turn::empty()
        }
    }

    /// Reasoning shown before the rest.
    pub fn with_thinking(mut self, thinking: impl Into<String>) -> Turn {
        self.thinking = Some(thinking.into());
        self
    }

    /// Text said before the tool calls.
    pub fn with_text(mut self, text: impl Into<String>) -> Turn {
        self.text = Some(text.into());
        self
    }

    /// The token counts reported.
    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Turn {
        self.usage.input_tokens = input_tokens;
        self.usage.output_tokens = output_tokens;
        self
    }

    /// Streams the start (and the first piece of text) and then waits for
    /// [`FakeModelApi::release`] or for the client to hang up.
    pub fn stalled(mut self) -> Turn {
        self.stall = true;
        self
    }

    /// Why the model stopped, in Anthropic's words.
    fn stops_for_tools(&self) -> bool {
        !self.tool_calls.is_empty()
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub api: Api,
    pub method: String,
    /// Without the query.
    pub path: String,
    pub query: String,
    /// Names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `Null` when there was none or it was not JSON.
    pub body: Value,
    /// The index in the script of the turn it was answered with (`None`: the default, or
    /// no turn at all).
    pub turn: Option<usize>,
    /// Whether the answer was streamed.
    pub streamed: bool,
    /// The client hung up before the answer was complete.
    pub aborted: bool,
}

impl RecordedRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON text, for `contains` checks on what the agent sent.
    pub fn body_text(&self) -> String {
        self.body.to_string()
    }

    /// Whether this was a model call (not token counting or a model listing).
    pub fn is_generation(&self) -> bool {
        match self.api {
            Api::Anthropic => self.path.ends_with("/messages"),
            Api::OpenAiResponses => true,
            Api::OpenAiChat => self.path.ends_with("/chat/completions"),
            Api::Gemini => {
                self.path.contains(":generateContent")
                    || self.path.contains(":streamGenerateContent")
            }
            Api::Other => false,
        }
    }

    /// Whether the request offered the model tools (what an agent's own turn does, and
    /// its side calls mostly do not).
    pub fn offers_tools(&self) -> bool {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty())
    }

    /// The names of the tools offered (Gemini's function declarations included).
    pub fn tool_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for tool in self
            .body
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(decls) = tool.get("functionDeclarations").and_then(Value::as_array) {
                names.extend(
                    decls
                        .iter()
                        .filter_map(|d| d.get("name").and_then(Value::as_str))
                        .map(str::to_owned),
                );
            } else if let Some(name) = tool
                .get("name")
                .or_else(|| tool.get("function").and_then(|f| f.get("name")))
                .and_then(Value::as_str)
            {
                names.push(name.to_owned());
            }
        }
        names
    }
}

/// Decides which requests take the next scripted turn.
type Consume = Box<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

struct Inner {
    script: VecDeque<Turn>,
    /// Turns taken from the script so far (the next one's index).
    served: usize,
    default: Turn,
    consume: Consume,
    requests: Vec<RecordedRequest>,
    /// Stalled streams waiting now.
    stalled: usize,
    /// Tool call ids handed out so far.
    next_id: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Bumped on every change a test may wait for.
    changed: tokio::sync::watch::Sender<u64>,
    /// One permit per [`FakeModelApi::release`].
    releases: tokio::sync::Semaphore,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// A fake of the vendors' model APIs on `127.0.0.1:<port>`, stopped when dropped.
pub struct FakeModelApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl FakeModelApi {
    /// Starts the fake on a free loopback port, in a thread of its own (so it serves
    /// whatever runtime the test uses). Panics when it cannot listen: tests need it.
    pub fn start() -> FakeModelApi {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                script: VecDeque::new(),
                served: 0,
                default: Turn::text("Done."),
                consume: Box::new(|r| r.is_generation() && r.offers_tools()),
                requests: Vec::new(),
                stalled: 0,
                next_id: 0,
            }),
            changed: tokio::sync::watch::channel(0).0,
            releases: tokio::sync::Semaphore::new(0),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let for_server = shared.clone();
        std::thread::Builder::new()
            .name("fake-model-api".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let data = web::Data::from(for_server);
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .default_service(web::to(handle))
                    })
                    .workers(2)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(("127.0.0.1", 0));
                    let server = match server {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let addr = server.addrs()[0];
                    let server = server.run();
                    let _ = tx.send(Ok((addr, server.handle())));
                    let _ = server.await;
                });
            })
            .expect("start the fake model API's thread");
        let (addr, handle) = rx
            .recv()
            .expect("the fake model API's thread answers")
            .expect("the fake model API listens on loopback");
        FakeModelApi {
            shared,
            addr,
            handle,
        }
    }

    /// The port it listens on (for `worker.sandbox.loopback_ports`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Appends turns to the script.
    pub fn script(&self, turns: impl IntoIterator<Item = Turn>) {
        self.shared.lock().script.extend(turns);
        self.shared.bump();
    }

    /// The answer to requests that take no scripted turn, or come after the script.
    pub fn set_default(&self, turn: Turn) {
        self.shared.lock().default = turn;
    }

    /// Which requests take the next scripted turn (default: model calls that offer
    /// tools). The rest get the default turn.
    pub fn consume_when(&self, consume: impl Fn(&RecordedRequest) -> bool + Send + Sync + 'static) {
        self.shared.lock().consume = Box::new(consume);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The requests that took scripted turns, in order.
    pub fn turn_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.turn.is_some())
            .collect()
    }

    /// Scripted turns not yet taken.
    pub fn remaining(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Turns taken from the script so far.
    pub fn served(&self) -> usize {
        self.shared.lock().served
    }

    /// Lets one stalled stream (the one stalled now, or the next one) go on.
    pub fn release(&self) {
        self.shared.releases.add_permits(1);
    }

    /// Waits until `done` holds for the recorded requests, failing the test after
    /// `timeout` with `what` and what was received.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[RecordedRequest]) -> bool,
    ) {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if done(&self.shared.lock().requests) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            let seen: Vec<String> = self
                .requests()
                .iter()
                .map(|r| {
                    format!(
                        "{} {} turn={:?} aborted={}",
                        r.method, r.path, r.turn, r.aborted
                    )
                })
                .collect();
            panic!("the fake model API never saw {what} within {timeout:?}; it saw {seen:#?}");
        }
    }

    /// Waits until a stalled stream is waiting.
    pub async fn wait_stalled(&self, timeout: Duration) {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            while self.shared.lock().stalled == 0 {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            panic!(
                "no stream stalled within {timeout:?}; requests: {:#?}",
                self.requests()
                    .iter()
                    .map(|r| (r.path.clone(), r.turn))
                    .collect::<Vec<_>>()
            );
        }
    }
}

impl Drop for FakeModelApi {
    fn drop(&mut self) {
        // Sends the stop at once; the server's thread ends when it is done.
        drop(self.handle.stop(false));
    }
}

/// One piece of a streamed answer.
enum Frame {
    Data(String),
    /// Wait here for a release.
    Stall,
}

/// What an encoder makes of a turn.
enum Answer {
    Json(Value),
    /// Server-sent events, and what to send every so often while stalled (so the server
    /// notices a client that hung up), if the vendor's clients accept something.
    Stream(Vec<Frame>, Option<&'static str>),
}

/// The per-answer facts an encoder needs beside the turn.
struct Context {
    model: String,
    /// A fresh number for ids.
    serial: u64,
}

impl Context {
    fn id(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}{:06}{n:02}", self.serial)
    }
}

fn classify(method: &str, path: &str) -> Api {
    let post = method == "POST";
    if post && (path.ends_with("/messages") || path.ends_with("/messages/count_tokens")) {
        Api::Anthropic
    } else if post && path.ends_with("/responses") {
        Api::OpenAiResponses
    } else if (post && path.ends_with("/chat/completions"))
        || (method == "GET" && path.ends_with("/models") && !path.contains("v1beta"))
    {
        Api::OpenAiChat
    } else if path.contains("/models/") && path.contains(':') {
        Api::Gemini
    } else {
        Api::Other
    }
}

async fn handle(
    req: HttpRequest,
    mut payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let mut raw = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => raw.extend_from_slice(&chunk),
            Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
        }
    }
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let api = classify(&method, &path);
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut record = RecordedRequest {
        api,
        method,
        path: path.clone(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        turn: None,
        streamed: false,
        aborted: false,
    };
    let model = record
        .body
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| gemini::model_of(&path))
        .unwrap_or_else(|| "fake-model".into());

    // Requests that are not generations get their fixed answers.
    if !record.is_generation() {
        let answer = match api {
            Api::Anthropic => HttpResponse::Ok().json(json!({ "input_tokens": estimate_tokens(&record.body) })),
            Api::OpenAiChat => HttpResponse::Ok().json(openai::models(&model)),
            Api::Gemini if path.ends_with(":countTokens") => {
                HttpResponse::Ok().json(json!({ "totalTokens": estimate_tokens(&record.body) }))
            }
            _ => HttpResponse::NotFound().json(json!({
                "error": { "type": "not_found_error", "message": format!("the fake model API has no {path}") }
            })),
        };
        shared.lock().requests.push(record);
        shared.bump();
        return answer;
    }

    let (turn, serial, index) = {
        let mut inner = shared.lock();
        let take = (inner.consume)(&record) && !inner.script.is_empty();
        let turn = if take {
            record.turn = Some(inner.served);
            inner.served += 1;
            inner
                .script
                .pop_front()
                .unwrap_or_else(|| inner.default.clone())
        } else {
            inner.default.clone()
        };
        inner.next_id += 1;
        let serial = inner.next_id;
        record.streamed = wants_stream(api, &record);
        inner.requests.push(record.clone());
        (turn, serial, inner.requests.len() - 1)
    };
    shared.bump();

    if let Some((status, body)) = &turn.error {
        let status = actix_web::http::StatusCode::from_u16(*status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
        return HttpResponse::build(status).json(body);
    }
    let cx = Context { model, serial };
    let answer = match api {
        Api::Anthropic => anthropic::answer(&turn, &cx, record.streamed),
        Api::OpenAiResponses => openai::responses_answer(&turn, &cx, record.streamed),
        Api::OpenAiChat => openai::chat_answer(&turn, &cx, record.streamed, &record.body),
        Api::Gemini => gemini::answer(&turn, &cx, record.streamed),
        Api::Other => Answer::Json(Value::Null),
    };
    match answer {
        Answer::Json(value) => HttpResponse::Ok().json(value),
        Answer::Stream(frames, keepalive) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
            let shared = shared.into_inner();
            actix_web::rt::spawn(stream_frames(frames, keepalive, tx, shared, index));
            let body = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
            });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .insert_header(("cache-control", "no-cache"))
                .insert_header(("x-request-id", format!("req_fake_{serial}")))
                .streaming(body)
        }
    }
}

/// Sends the frames, waiting at a stall for a release; marks the request aborted when the
/// client hangs up first.
async fn stream_frames(
    frames: Vec<Frame>,
    keepalive: Option<&'static str>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    index: usize,
) {
    let aborted = |shared: &Shared| {
        if let Some(r) = shared.lock().requests.get_mut(index) {
            r.aborted = true;
        }
        shared.bump();
    };
    for frame in frames {
        match frame {
            Frame::Data(text) => {
                if tx.send(Bytes::from(text)).await.is_err() {
                    aborted(&shared);
                    return;
                }
            }
            Frame::Stall => {
                shared.lock().stalled += 1;
                shared.bump();
                let released = loop {
                    tokio::select! {
                        permit = shared.releases.acquire() => {
                            if let Ok(p) = permit { p.forget(); }
                            break true;
                        }
                        _ = tx.closed() => break false,
                        // A write is what tells the server that the client is gone.
                        _ = tokio::time::sleep(Duration::from_millis(200)), if keepalive.is_some() => {
                            let ping = Bytes::from_static(keepalive.unwrap_or_default().as_bytes());
                            if tx.send(ping).await.is_err() {
                                break false;
                            }
                        }
                    }
                };
                shared.lock().stalled -= 1;
                shared.bump();
                if !released {
                    aborted(&shared);
                    return;
                }
            }
        }
    }
}

fn wants_stream(api: Api, record: &RecordedRequest) -> bool {
    match api {
        Api::Gemini => record.path.contains(":streamGenerateContent"),
        _ => record.body.get("stream").and_then(Value::as_bool) == Some(true),
    }
}

/// About four characters a token, like the vendors' rough guides.
fn estimate_tokens(body: &Value) -> u64 {
    (body.to_string().len() as u64 / 4).max(1)
}

/// `text` in up to three pieces, split at spaces where there are any, so clients join
/// deltas as they must.
fn pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    if words.len() < 2 {
        return vec![text.to_owned()];
    }
    let per = words.len().div_ceil(3);
    words.chunks(per).map(|c| c.concat()).collect()
}

/// A tool call's arguments as the JSON text a model streams.
fn arguments_text(call: &ToolCall) -> String {
    match (&call.input, call.custom) {
        (Value::String(s), true) => s.clone(),
        (input, _) => input.to_string(),
    }
}

#[cfg(test)]
mod tests;
