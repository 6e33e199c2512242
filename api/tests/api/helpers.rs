//! `TestApp`: the real api on port 0 against this test's own database, Redis prefix and
//! bucket, with an org and a full-scope token, and typed helpers to drive it over HTTP.
//! Reusable by end-to-end tests (they add the scheduler and workers beside it).

#![expect(dead_code)]

use api::{ApiHandle, RunningApi};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::config::Settings;
use shared::db::Db;
use shared::db::models::Organization;
use shared::domain::{MemberRole, TokenScope};
use shared::keys::Keys;
use shared::store::ObjectStore;
use shared::testing::TestEnv;
use shared::wire;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;
use uuid::Uuid;

/// One running api and everything a test needs to talk to it and to its backends.
pub struct TestApp {
    pub env: TestEnv,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub org: Organization,
    /// A token with every scope for `org`.
    pub token: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub keys: Keys,
    pub store: ObjectStore,
    pub handle: ApiHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The api's own settings, kept to start it again (and to start more replicas).
    pub api_settings: Settings,
}

impl TestApp {
    /// A fresh environment, org `acme` and a running api.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// As [`TestApp::spawn`], with `configure` adjusting the api's settings (only the
    /// api's: the test itself keeps talking to the real services directly).
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_in(TestEnv::new().await, configure).await
    }

    /// As [`TestApp::spawn_with`], in `env` (on a server of the test's own, say).
    pub async fn spawn_in(env: TestEnv, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut api_settings = env.settings.clone();
        configure(&mut api_settings);
        let db = Db::new(&env.settings.database).expect("database pool");
        let boot = api::bootstrap::bootstrap_org(&db, "acme", "Acme", Some(4))
            .await
            .expect("bootstrap org");
        let RunningApi {
            addr,
            handle,
            server,
        } = api::spawn(api_settings.clone()).await.expect("spawn api");
        let server = tokio::spawn(server);
        let keys = Keys::new(env.settings.redis.prefix.clone());
        let store = ObjectStore::new(&env.settings.s3);
        TestApp {
            base: format!("http://{addr}"),
            addr,
            org: boot.org,
            token: boot.token,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            db,
            keys,
            store,
            handle,
            server,
            api_settings,
            env,
        }
    }

    /// Stops the api and starts a new one on the same database, Redis and bucket (on a
    /// new port): what a deploy or crash of the api process looks like to clients.
    pub async fn restart(&mut self) {
        self.handle.stop();
        let old = std::mem::replace(&mut self.server, tokio::spawn(async { Ok(()) }));
        let _ = tokio::time::timeout(Duration::from_secs(15), old).await;
        let RunningApi {
            addr,
            handle,
            server,
        } = api::spawn(self.api_settings.clone())
            .await
            .expect("respawn api");
        self.addr = addr;
        self.base = format!("http://{addr}");
        self.handle = handle;
        self.server = tokio::spawn(server);
    }

    /// Stops the api gracefully and waits until it has.
    pub async fn stop(self) {
        self.handle.stop();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.server).await;
    }

    /// An absolute URL for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An absolute URL for a path below this org (`projects`, `tasks/<id>`, ...).
    pub fn org_url(&self, rel: &str) -> String {
        format!("{}/api/v1/orgs/{}/{rel}", self.base, self.org.slug)
    }

    /// A request below this org carrying `token`.
    pub fn request_as(&self, token: &str, method: Method, rel: &str) -> RequestBuilder {
        self.client
            .request(method, self.org_url(rel))
            .bearer_auth(token)
    }

    /// A request below this org carrying the full-scope token.
    pub fn request(&self, method: Method, rel: &str) -> RequestBuilder {
        self.request_as(&self.token, method, rel)
    }

    pub async fn get(&self, rel: &str) -> Response {
        self.request(Method::GET, rel).send().await.expect("GET")
    }

    pub async fn post<T: Serialize + ?Sized>(&self, rel: &str, body: &T) -> Response {
        self.request(Method::POST, rel)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn patch<T: Serialize + ?Sized>(&self, rel: &str, body: &T) -> Response {
        self.request(Method::PATCH, rel)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    pub async fn delete(&self, rel: &str) -> Response {
        self.request(Method::DELETE, rel)
            .send()
            .await
            .expect("DELETE")
    }

    /// Mints another token for this org.
    pub async fn mint_token(
        &self,
        scopes: &[TokenScope],
        expires_at: Option<DateTime<Utc>>,
    ) -> String {
        api::bootstrap::mint_token(&self.db, self.org.id, "test", scopes, expires_at)
            .await
            .expect("mint token")
    }

    /// Signs `login` in through the development sign-in (creating the person on first
    /// use) and returns their id and a bearer access token.
    pub async fn sign_in(&self, login: &str) -> Person {
        let res = self
            .client
            .post(self.url("/api/v1/auth/dev/login"))
            .json(&serde_json::json!({ "login": login }))
            .send()
            .await
            .expect("POST /auth/dev/login");
        let signed_in: wire::SignedIn = json_as(res, StatusCode::OK).await;
        Person {
            user_id: signed_in.user.id,
            login: signed_in.user.login,
            access_token: signed_in.access_token,
        }
    }

    /// Makes a person a member of an org with `role`, directly in the database.
    pub async fn add_member(&self, org_id: Uuid, user_id: Uuid, role: MemberRole) {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::memberships;
        let mut conn = self.db.system().await.expect("conn");
        diesel::insert_into(memberships::table)
            .values((
                memberships::id.eq(Uuid::now_v7()),
                memberships::org_id.eq(org_id),
                memberships::user_id.eq(user_id),
                memberships::role.eq(role),
            ))
            .execute(&mut conn)
            .await
            .expect("insert membership");
    }

    /// A request to any path (`/api/v1/...`) carrying `token` (an org API token or a
    /// person's access token).
    pub fn request_path_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// Another org with its own full-scope token.
    pub async fn other_org(&self, slug: &str) -> (Organization, String) {
        let boot = api::bootstrap::bootstrap_org(&self.db, slug, slug, None)
            .await
            .expect("bootstrap other org");
        (boot.org, boot.token)
    }

    /// A git repository with one commit on `main`, in the test's scratch dir.
    pub fn git_repo(&self, name: &str) -> PathBuf {
        let path = self.env.dir.join("repos").join(name);
        init_repo(&path);
        path
    }

    /// Creates a project on a fresh repository (with `setup_script`, if given).
    pub async fn create_project(&self, name: &str, setup_script: Option<&str>) -> wire::Project {
        let repo = self.git_repo(&format!("{name}-{}", Uuid::new_v4().simple()));
        let res = self
            .post(
                "projects",
                &serde_json::json!({
                    "name": name,
                    "repository_url": repo.to_string_lossy(),
                    "setup_script": setup_script,
                }),
            )
            .await;
        json_as(res, StatusCode::CREATED).await
    }

    /// Creates a task titled `title` on `project`.
    pub async fn create_task(&self, project: Uuid, title: &str) -> wire::Task {
        let res = self
            .post(
                &format!("projects/{project}/tasks"),
                &serde_json::json!({ "title": title }),
            )
            .await;
        json_as(res, StatusCode::CREATED).await
    }

    /// Starts a `script` attempt on `task`.
    pub async fn start_attempt(&self, task: Uuid, script: &str) -> wire::Attempt {
        let res = self
            .post(
                &format!("tasks/{task}/attempts"),
                &serde_json::json!({ "prompt": script }),
            )
            .await;
        json_as(res, StatusCode::CREATED).await
    }

    /// Opens an SSE stream below this org.
    pub async fn sse(&self, rel: &str, last_event_id: Option<&str>) -> SseClient {
        self.sse_as(&self.token, rel, last_event_id).await
    }

    /// Opens an SSE stream below this org as `token` (an org API token or a person's
    /// access token).
    pub async fn sse_as(&self, token: &str, rel: &str, last_event_id: Option<&str>) -> SseClient {
        let mut req = self
            .request_as(token, Method::GET, rel)
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(300));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.expect("open SSE stream");
        assert_eq!(res.status(), StatusCode::OK, "SSE stream refused");
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        SseClient::new(res)
    }

    /// A Redis connection for publishing as a worker would.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.env.settings.redis.url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }
}

/// A signed-in person: send `access_token` as a bearer token.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: Uuid,
    pub login: String,
    pub access_token: String,
}

/// Asserts the status and decodes the body.
pub async fn json_as<T: DeserializeOwned>(res: Response, status: StatusCode) -> T {
    let got = res.status();
    let text = res.text().await.expect("response body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("body is not the expected JSON ({e}): {text}"))
}

/// Asserts an error envelope with `status` and `code`; returns its message.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> String {
    let got = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.text().await.expect("response body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "error is not JSON ({content_type}): {text}"
    );
    let body: wire::ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not an error envelope ({e}): {text}"));
    assert_eq!(
        body.error.code.as_str(),
        code,
        "unexpected code; body: {text}"
    );
    assert!(!body.error.message.is_empty());
    body.error.message
}

/// `git init` with one commit on `main`.
pub fn init_repo(path: &Path) {
    std::fs::create_dir_all(path).expect("create repo dir");
    let repo = git2::Repository::init(path).expect("git init");
    repo.set_head("refs/heads/main").expect("HEAD to main");
    std::fs::write(path.join("README.md"), "# test repo\n").expect("write README");
    let mut index = repo.index().expect("index");
    index.add_path(Path::new("README.md")).expect("add README");
    index.write().expect("write index");
    let tree_id = index.write_tree().expect("write tree");
    let tree = repo.find_tree(tree_id).expect("tree");
    let sig = git2::Signature::now("Test", "test@example.com").expect("signature");
    repo.commit(Some("HEAD"), &sig, &sig, "initial", &tree, &[])
        .expect("commit");
}

/// One parsed server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not the expected JSON ({e}): {}", self.data))
    }
}

/// Reads events from an SSE response.
pub struct SseClient {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    /// Comments seen (heartbeats).
    pub comments: usize,
    pub closed: bool,
    /// The last `id:` the server sent, with or without an event: where a browser's
    /// reconnect resumes.
    pub last_event_id: Option<String>,
}

impl SseClient {
    /// Reads the events of a stream already opened (and checked) by the caller.
    pub fn new(res: Response) -> SseClient {
        SseClient {
            stream: res.bytes_stream().boxed(),
            buffer: String::new(),
            comments: 0,
            closed: false,
            last_event_id: None,
        }
    }

    /// The next event within `wait`, or `None` on timeout or end of stream.
    pub async fn next_within(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            if self.closed {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => self.closed = true,
                Ok(Some(Ok(chunk))) => {
                    self.buffer
                        .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
                }
            }
        }
    }

    /// Whether no event arrives within `wait` (the stream stays open or closes quietly).
    pub async fn is_quiet_for(&mut self, wait: Duration) -> bool {
        self.next_within(wait).await.is_none()
    }

    /// The next event, failing the test if none comes within 10 s.
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an SSE event within 10 s")
    }

    /// Events until one named `name` (inclusive), failing after 10 s.
    pub async fn until(&mut self, name: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        loop {
            let event = self.next().await;
            let done = event.event == name;
            out.push(event);
            if done {
                return out;
            }
        }
    }

    /// Whether the server closed the stream within `wait` (no event in between).
    pub async fn closes_within(&mut self, wait: Duration) -> bool {
        match self.next_within(wait).await {
            Some(event) => panic!("expected the stream to close, got {event:?}"),
            None => self.closed,
        }
    }

    fn parse_one(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            let mut comment = false;
            for line in block.lines() {
                if let Some(c) = line.strip_prefix(':') {
                    let _ = c;
                    comment = true;
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if id.is_some() {
                self.last_event_id.clone_from(&id);
            }
            if comment && event.is_none() && data.is_empty() {
                self.comments += 1;
                continue;
            }
            if event.is_none() && data.is_empty() {
                // `retry:`, `id:` and other field-only blocks dispatch nothing.
                continue;
            }
            return Some(SseEvent {
                id,
                event: event.unwrap_or_else(|| "message".to_owned()),
                data: data.join("\n"),
            });
        }
    }
}

/// A TCP proxy in front of Redis that a test can take down (cutting every connection
/// and refusing new ones) and bring back, to see the api survive a lost pub/sub
/// connection.
pub struct CuttableProxy {
    pub addr: SocketAddr,
    cut: tokio::sync::watch::Sender<u64>,
    down: Arc<AtomicBool>,
    /// Connections being proxied, and a wake-up each time one ends.
    open: Arc<(AtomicUsize, tokio::sync::Notify)>,
}

impl CuttableProxy {
    /// Proxies to `target` (`host:port`).
    pub async fn start(target: String) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, watch) = tokio::sync::watch::channel(0u64);
        let down = Arc::new(AtomicBool::new(false));
        let open = Arc::new((AtomicUsize::new(0), tokio::sync::Notify::new()));
        let (refusing, counted) = (down.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refusing.load(SeqCst) {
                    continue;
                }
                let target = target.clone();
                let mut cut = watch.clone();
                cut.mark_unchanged();
                let (refusing, counted) = (refusing.clone(), counted.clone());
                counted.0.fetch_add(1, SeqCst);
                tokio::spawn(async move {
                    // Accepted just as the proxy went down, after the cut was sent: this
                    // connection would never hear it.
                    if !refusing.load(SeqCst)
                        && let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await
                    {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut.changed() => {}
                        }
                    }
                    counted.0.fetch_sub(1, SeqCst);
                    counted.1.notify_waiters();
                });
            }
        });
        CuttableProxy {
            addr,
            cut,
            down,
            open,
        }
    }

    /// The Redis address tests use (`SWITCHYARD_TEST_REDIS_URL`'s host and port).
    pub fn redis_target() -> String {
        let url = std::env::var("SWITCHYARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
        let rest = url.trim_start_matches("redis://");
        let host_port = rest.split('/').next().unwrap_or(rest);
        host_port.rsplit('@').next().unwrap_or(host_port).to_owned()
    }

    /// Cuts every open connection and refuses new ones until [`CuttableProxy::come_back`];
    /// returns once every connection is closed, so what the test does next cannot slip
    /// through one still open.
    pub async fn go_down(&self) {
        self.down.store(true, SeqCst);
        self.cut.send_modify(|n| *n += 1);
        loop {
            let closed = self.open.1.notified();
            if self.open.0.load(SeqCst) == 0 {
                return;
            }
            closed.await;
        }
    }

    /// Accepts connections again.
    pub fn come_back(&self) {
        self.down.store(false, SeqCst);
    }
}
