//! A local fake GitHub speaking GitHub's wire protocol over HTTP on 127.0.0.1: the OAuth
//! web flow (`/login/oauth/authorize`, `/login/oauth/access_token`), the device flow
//! (`/login/device/code`) and the two REST calls sign-in makes (`/user`, `/user/emails`).
//! One server stands for both `web_url` and `api_url`. The test plays the person: it adds
//! users, picks who is signed in to the browser, and approves or denies device codes.
//!
//! Errors are GitHub's: the token endpoint answers a refused grant with a 200 and an
//! `error` field, the REST API answers 401 `Bad credentials`, and a REST call without a
//! User-Agent is refused.
//!
//! The GitHub App's endpoints are served on the same port by [`crate::fake_github_app`]
//! (reach its state with [`FakeGithub::app`]).

#![expect(dead_code)]

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::config::GithubSettings;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use url::Url;

/// The one OAuth app the fake knows.
pub const CLIENT_ID: &str = "Iv1.fa4e0c11e47c0de5";
/// That app's client secret.
pub const CLIENT_SECRET: &str = "fake-github-client-secret-0123456789abcdef";

/// How long an authorization code lives (GitHub: ten minutes).
const CODE_TTL: Duration = Duration::from_secs(600);
/// How long a device code lives, in seconds (GitHub: fifteen minutes).
const DEVICE_TTL_SECS: u64 = 899;
/// GitHub's grant type for a device flow poll.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// REST API versions GitHub accepts in `X-GitHub-Api-Version`.
const API_VERSIONS: [&str; 2] = ["2022-11-28", "2026-03-10"];
/// The alphabet of GitHub's user codes (`WDJB-MJHT`).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const TROUBLESHOOTING: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/";

/// A running fake GitHub; it stops when dropped.
pub struct FakeGithub {
    inner: web::Data<Inner>,
    /// The GitHub App side (installations, tokens, webhook deliveries).
    app: web::Data<crate::fake_github_app::AppFake>,
    /// The repository side (git smart HTTP, comments, pull requests).
    repos: web::Data<crate::fake_github_repos::RepoFake>,
    handle: ServerHandle,
}

/// One email address of a fake user, as `GET /user/emails` lists it.
#[derive(Debug, Clone)]
pub struct FakeEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

impl FakeEmail {
    /// The account's primary address, verified.
    pub fn primary(email: &str) -> FakeEmail {
        FakeEmail {
            email: email.to_owned(),
            primary: true,
            verified: true,
        }
    }

    /// The account's primary address, not yet verified.
    pub fn primary_unverified(email: &str) -> FakeEmail {
        FakeEmail {
            verified: false,
            ..FakeEmail::primary(email)
        }
    }

    /// Another verified address.
    pub fn secondary(email: &str) -> FakeEmail {
        FakeEmail {
            primary: false,
            ..FakeEmail::primary(email)
        }
    }
}

/// What the fake has been asked, for assertions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `GET /login/oauth/authorize` requests.
    pub authorizations: usize,
    /// `POST /login/oauth/access_token` requests, of any grant, answered well or not.
    pub token_requests: usize,
    /// Access tokens handed out by the token endpoint.
    pub tokens_issued: usize,
    /// `POST /login/device/code` requests.
    pub device_codes: usize,
    /// `GET /user` requests.
    pub user_requests: usize,
    /// `GET /user/emails` requests.
    pub email_requests: usize,
}

struct Inner {
    base: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    users: Vec<User>,
    browser_user: Option<String>,
    /// Authorization codes not yet exchanged.
    codes: HashMap<String, Grant>,
    /// Device flows by device code.
    devices: HashMap<String, Device>,
    /// Access tokens handed out.
    tokens: HashMap<String, Token>,
    /// The poll interval new device codes get, in seconds.
    device_interval: u64,
    counts: Counts,
}

struct User {
    id: i64,
    login: String,
    name: Option<String>,
    public_email: Option<String>,
    emails: Vec<FakeEmail>,
}

struct Grant {
    login: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    scopes: Vec<String>,
    expires_at: Instant,
}

struct Device {
    user_code: String,
    scopes: Vec<String>,
    expires_at: Instant,
    interval: u64,
    last_poll: Instant,
    answer: DeviceAnswer,
}

enum DeviceAnswer {
    Waiting,
    Approved(String),
    Denied,
}

struct Token {
    login: String,
    scopes: Vec<String>,
}

impl FakeGithub {
    /// Starts a fake GitHub on a free port of 127.0.0.1, with no users and a device poll
    /// interval of 0 seconds.
    pub async fn start() -> FakeGithub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake GitHub");
        let addr = listener.local_addr().expect("fake GitHub address");
        let inner = web::Data::new(Inner {
            base: format!("http://{addr}"),
            state: Mutex::new(State::default()),
        });
        let app_inner = inner.clone();
        let app_side = web::Data::new(crate::fake_github_app::AppFake::default());
        let server_app_side = app_side.clone();
        let repo_side = web::Data::new(crate::fake_github_repos::RepoFake::default());
        let server_repo_side = repo_side.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_inner.clone())
                .app_data(server_app_side.clone())
                .app_data(server_repo_side.clone())
                // Git pushes carry whole packs.
                .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                .configure(crate::fake_github_app::routes)
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .route("/login/device/code", web::post().to(device_code))
                .route("/login/device", web::get().to(device_page))
                .route("/user", web::get().to(user))
                .route("/user/emails", web::get().to(user_emails))
                // Last: its git catch-all matches any three-segment path.
                .configure(crate::fake_github_repos::routes)
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen fake GitHub")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeGithub {
            inner,
            app: app_side,
            repos: repo_side,
            handle,
        }
    }

    /// The repository side of the fake.
    pub fn repos(&self) -> &crate::fake_github_repos::RepoFake {
        &self.repos
    }

    /// The GitHub App side of the fake.
    pub fn app(&self) -> &crate::fake_github_app::AppFake {
        &self.app
    }

    /// [`FakeGithub::settings`] plus the GitHub App: its id, slug, private key and
    /// webhook secret.
    pub fn app_settings(&self) -> GithubSettings {
        crate::fake_github_app::AppFake::settings(self.settings())
    }

    /// `http://127.0.0.1:<port>`: both the web and the API base.
    pub fn url(&self) -> String {
        self.inner.base.clone()
    }

    /// Settings pointing the production client at this fake, with its app's credentials.
    pub fn settings(&self) -> GithubSettings {
        GithubSettings {
            web_url: self.url(),
            api_url: self.url(),
            client_id: Some(CLIENT_ID.to_owned()),
            client_secret: Some(SecretString::from(CLIENT_SECRET.to_owned())),
            ..shared::config::Settings::default().github
        }
    }

    /// Adds a GitHub account and returns its numeric id. `public_email` is the profile's
    /// email (`GET /user` shows null without one); `emails` is what `/user/emails` lists.
    pub fn add_user(
        &self,
        login: &str,
        name: Option<&str>,
        public_email: Option<&str>,
        emails: Vec<FakeEmail>,
    ) -> i64 {
        let mut state = self.state();
        assert!(
            state.user(login).is_none(),
            "fake GitHub already has a user {login}"
        );
        let id = 1_000_001 + state.users.len() as i64;
        state.users.push(User {
            id,
            login: login.to_owned(),
            name: name.map(str::to_owned),
            public_email: public_email.map(str::to_owned),
            emails,
        });
        id
    }

    /// Signs `login` in to "the browser": the next authorize requests approve as them.
    pub fn set_browser_user(&self, login: &str) {
        let mut state = self.state();
        assert!(state.user(login).is_some(), "no fake GitHub user {login}");
        state.browser_user = Some(login.to_owned());
    }

    /// Signs the browser out: authorize requests show GitHub's sign-in page.
    pub fn sign_out_browser(&self) {
        self.state().browser_user = None;
    }

    /// The poll interval, in seconds, that device codes issued from now on ask for; a poll
    /// sooner than that after the previous one (or the code's issue) gets `slow_down`.
    pub fn set_device_interval(&self, secs: u64) {
        self.state().device_interval = secs;
    }

    /// `login` enters `user_code` at `/login/device` and authorizes the app.
    pub fn approve_device(&self, user_code: &str, login: &str) {
        let mut state = self.state();
        assert!(state.user(login).is_some(), "no fake GitHub user {login}");
        state.device(user_code).answer = DeviceAnswer::Approved(login.to_owned());
    }

    /// The person enters `user_code` and cancels.
    pub fn deny_device(&self, user_code: &str) {
        self.state().device(user_code).answer = DeviceAnswer::Denied;
    }

    /// Makes `user_code`'s device flow expire now, as if its fifteen minutes had passed.
    pub fn expire_device(&self, user_code: &str) {
        self.state().device(user_code).expires_at = Instant::now();
    }

    /// An access token for `login` with `scopes`, as if it had signed in earlier.
    pub fn issue_token(&self, login: &str, scopes: &[&str]) -> String {
        let mut state = self.state();
        assert!(state.user(login).is_some(), "no fake GitHub user {login}");
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        state.issue_token(login.to_owned(), scopes)
    }

    /// What has been asked so far.
    pub fn counts(&self) -> Counts {
        self.state().counts
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn user(&self, login: &str) -> Option<&User> {
        self.users.iter().find(|u| u.login == login)
    }

    fn device(&mut self, user_code: &str) -> &mut Device {
        self.devices
            .values_mut()
            .find(|d| d.user_code == user_code)
            .unwrap_or_else(|| panic!("no fake GitHub device flow with user code {user_code}"))
    }

    fn issue_token(&mut self, login: String, scopes: Vec<String>) -> String {
        let token = format!("gho_{}", random_alphanumeric(36));
        self.tokens.insert(token.clone(), Token { login, scopes });
        token
    }

    /// The authorization code grant: client credentials, then the code (spent on first use,
    /// right or wrong), its redirect URI and its PKCE challenge.
    fn code_grant(&mut self, params: &Params) -> Result<Value, Value> {
        if params.client_id() != Some(CLIENT_ID) || params.client_secret() != Some(CLIENT_SECRET) {
            return Err(oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            ));
        }
        let bad_code = || {
            oauth_error(
                "bad_verification_code",
                "The code passed is incorrect or expired.",
            )
        };
        let code = params.get("code").ok_or_else(bad_code)?;
        let grant = self.codes.remove(code).ok_or_else(bad_code)?;
        if grant.expires_at <= Instant::now() {
            return Err(bad_code());
        }
        if let Some(uri) = params.get("redirect_uri")
            && uri != grant.redirect_uri
        {
            return Err(oauth_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            ));
        }
        if let Some(challenge) = &grant.code_challenge {
            let verified = params
                .get("code_verifier")
                .is_some_and(|verifier| s256(verifier) == *challenge);
            if !verified {
                return Err(bad_code());
            }
        }
        Ok(self.token_answer(grant.login, grant.scopes))
    }

    /// One device flow poll.
    fn device_grant(&mut self, params: &Params) -> Result<Value, Value> {
        if params.client_id() != Some(CLIENT_ID) {
            return Err(oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            ));
        }
        let unknown = || {
            oauth_error(
                "incorrect_device_code",
                "The device_code provided is not valid.",
            )
        };
        let device_code = params.get("device_code").ok_or_else(unknown)?;
        let device = self.devices.get_mut(device_code).ok_or_else(unknown)?;
        let now = Instant::now();
        if device.expires_at <= now {
            return Err(oauth_error(
                "expired_token",
                "The `device_code` has expired.",
            ));
        }
        let too_soon = now.duration_since(device.last_poll) < Duration::from_secs(device.interval);
        device.last_poll = now;
        if too_soon {
            device.interval += 5;
            let mut answer = oauth_error(
                "slow_down",
                "Too many requests have been made in the same timeframe.",
            );
            answer["interval"] = json!(device.interval);
            return Err(answer);
        }
        let login = match &device.answer {
            DeviceAnswer::Waiting => {
                return Err(oauth_error(
                    "authorization_pending",
                    "The authorization request is still pending.",
                ));
            }
            DeviceAnswer::Denied => {
                return Err(oauth_error(
                    "access_denied",
                    "The authorization request was denied.",
                ));
            }
            DeviceAnswer::Approved(login) => login.clone(),
        };
        let scopes = device.scopes.clone();
        self.devices.remove(device_code);
        Ok(self.token_answer(login, scopes))
    }

    fn token_answer(&mut self, login: String, scopes: Vec<String>) -> Value {
        let scope = scopes.join(",");
        let token = self.issue_token(login, scopes);
        self.counts.tokens_issued += 1;
        json!({"access_token": token, "token_type": "bearer", "scope": scope})
    }

    /// The token behind a REST request's `Authorization` header, or GitHub's refusal.
    fn authenticate(&self, req: &HttpRequest) -> Result<&Token, Box<HttpResponse>> {
        if req.headers().get(header::USER_AGENT).is_none() {
            return Err(Box::new(HttpResponse::Forbidden().content_type("text/plain").body(
                "Request forbidden by administrative rules. Please make sure your request has \
                 a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
                 Check https://developer.github.com for other possible causes.\n",
            )));
        }
        if let Some(version) = header_str(req, "x-github-api-version")
            && !API_VERSIONS.contains(&version)
        {
            return Err(Box::new(rest_error(
                400,
                &format!("API version '{version}' is not supported."),
                "https://docs.github.com/rest/about-the-rest-api/api-versions",
            )));
        }
        let Some(authorization) = header_str(req, "authorization") else {
            return Err(Box::new(rest_error(
                401,
                "Requires authentication",
                "https://docs.github.com/rest/users/users#get-the-authenticated-user",
            )));
        };
        let token = authorization.split_once(' ').and_then(|(scheme, token)| {
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
                .then(|| token.trim())
        });
        token
            .and_then(|token| self.tokens.get(token))
            .ok_or_else(|| {
                Box::new(rest_error(
                    401,
                    "Bad credentials",
                    "https://docs.github.com/rest",
                ))
            })
    }
}

/// A request's parameters: the query string, then a form or JSON body, then HTTP Basic
/// client credentials (GitHub takes all of them).
struct Params(HashMap<String, String>);

impl Params {
    fn read(req: &HttpRequest, body: &[u8]) -> Params {
        let mut params: HashMap<String, String> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect();
        let json =
            header_str(req, "content-type").is_some_and(|ct| ct.starts_with("application/json"));
        if json {
            let object: serde_json::Map<String, Value> =
                serde_json::from_slice(body).unwrap_or_default();
            for (key, value) in object {
                let value = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                params.insert(key, value);
            }
        } else {
            params.extend(url::form_urlencoded::parse(body).into_owned());
        }
        if let Some((id, secret)) = header_str(req, "authorization")
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|b64| STANDARD.decode(b64.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|pair| {
                pair.split_once(':')
                    .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
            })
        {
            params.entry("client_id".into()).or_insert(id);
            params.entry("client_secret".into()).or_insert(secret);
        }
        Params(params)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn client_id(&self) -> Option<&str> {
        self.get("client_id")
    }

    fn client_secret(&self) -> Option<&str> {
        self.get("client_secret")
    }

    fn scopes(&self) -> Vec<String> {
        self.get("scope").map(split_scopes).unwrap_or_default()
    }
}

/// `GET /login/oauth/authorize`: the signed-in browser user approves at once and GitHub
/// redirects to the app's callback with a fresh code and the state.
async fn authorize(inner: web::Data<Inner>, req: HttpRequest) -> HttpResponse {
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let mut state = inner.lock();
    state.counts.authorizations += 1;
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return html(
            404,
            "Page not found · GitHub",
            "<h1>404</h1><p>This is not the web page you are looking for.</p>",
        );
    }
    // Kept as sent: the token request's redirect_uri must match it exactly.
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    let Ok(mut callback) = Url::parse(&redirect_uri) else {
        return html(
            400,
            "Redirect URI mismatch",
            "<p>The redirect_uri is not associated with this application.</p>",
        );
    };
    let challenge = query.get("code_challenge").cloned();
    if challenge.is_some() && query.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        callback
            .query_pairs_mut()
            .append_pair("error", "invalid_request")
            .append_pair("error_description", "code_challenge_method must be S256");
        return found(&callback);
    }
    let Some(login) = state.browser_user.clone() else {
        return html(
            200,
            "Sign in to GitHub · GitHub",
            "<form action=\"/session\" method=\"post\"></form>",
        );
    };
    let code = random_hex(10);
    state.codes.insert(
        code.clone(),
        Grant {
            login,
            redirect_uri,
            code_challenge: challenge,
            scopes: query
                .get("scope")
                .map(|s| split_scopes(s))
                .unwrap_or_default(),
            expires_at: Instant::now() + CODE_TTL,
        },
    );
    {
        let mut pairs = callback.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(csrf) = query.get("state") {
            pairs.append_pair("state", csrf);
        }
    }
    found(&callback)
}

/// `POST /login/oauth/access_token`: the code grant and device polls.
async fn access_token(inner: web::Data<Inner>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params = Params::read(&req, &body);
    let mut state = inner.lock();
    state.counts.token_requests += 1;
    let answer = match params.get("grant_type") {
        None | Some("authorization_code") => state.code_grant(&params),
        Some(DEVICE_GRANT) => state.device_grant(&params),
        Some(_) => Err(oauth_error(
            "unsupported_grant_type",
            "The grant type is not supported.",
        )),
    };
    oauth_answer(&req, answer.unwrap_or_else(|refusal| refusal))
}

/// `POST /login/device/code`: starts a device flow.
async fn device_code(inner: web::Data<Inner>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params = Params::read(&req, &body);
    let mut state = inner.lock();
    state.counts.device_codes += 1;
    if params.client_id() != Some(CLIENT_ID) {
        return oauth_answer(
            &req,
            oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            ),
        );
    }
    let device_code = random_hex(20);
    let user_code = random_user_code();
    let now = Instant::now();
    let interval = state.device_interval;
    state.devices.insert(
        device_code.clone(),
        Device {
            user_code: user_code.clone(),
            scopes: params.scopes(),
            expires_at: now + Duration::from_secs(DEVICE_TTL_SECS),
            interval,
            last_poll: now,
            answer: DeviceAnswer::Waiting,
        },
    );
    oauth_answer(
        &req,
        json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": format!("{}/login/device", inner.base),
            "expires_in": DEVICE_TTL_SECS,
            "interval": interval,
        }),
    )
}

/// `GET /login/device`: where people type the user code (the test approves directly).
async fn device_page() -> HttpResponse {
    html(
        200,
        "Device Activation · GitHub",
        "<p>Enter the code displayed on your device</p>",
    )
}

/// `GET /user`: the authenticated user.
async fn user(inner: web::Data<Inner>, req: HttpRequest) -> HttpResponse {
    let mut state = inner.lock();
    state.counts.user_requests += 1;
    let token = match state.authenticate(&req) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    let scopes = token.scopes.join(", ");
    let Some(user) = state.user(&token.login) else {
        return rest_error(401, "Bad credentials", "https://docs.github.com/rest");
    };
    let base = &inner.base;
    let body = json!({
        "login": user.login,
        "id": user.id,
        "node_id": format!("MDQ6VXNlcj{}", user.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", user.id),
        "gravatar_id": "",
        "url": format!("{base}/users/{}", user.login),
        "html_url": format!("{base}/{}", user.login),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false,
        "name": user.name,
        "company": null,
        "blog": "",
        "location": null,
        "email": user.public_email,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
    });
    rest_ok(&scopes, body)
}

/// `GET /user/emails`: the user's addresses; needs the `user:email` or `user` scope.
async fn user_emails(inner: web::Data<Inner>, req: HttpRequest) -> HttpResponse {
    let mut state = inner.lock();
    state.counts.email_requests += 1;
    let token = match state.authenticate(&req) {
        Ok(token) => token,
        Err(refusal) => return *refusal,
    };
    if !token
        .scopes
        .iter()
        .any(|s| s == "user:email" || s == "user")
    {
        return rest_error(
            404,
            "Not Found",
            "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user",
        );
    }
    let scopes = token.scopes.join(", ");
    let Some(user) = state.user(&token.login) else {
        return rest_error(401, "Bad credentials", "https://docs.github.com/rest");
    };
    let emails: Vec<Value> = user
        .emails
        .iter()
        .map(|e| {
            let public = user.public_email.as_deref() == Some(e.email.as_str());
            json!({
                "email": e.email,
                "primary": e.primary,
                "verified": e.verified,
                "visibility": if public { json!("public") } else if e.primary { json!("private") } else { Value::Null },
            })
        })
        .collect();
    rest_ok(&scopes, Value::Array(emails))
}

/// The token endpoint's answer, JSON when asked for it and form-encoded otherwise; GitHub
/// sends refusals with a 200 too.
fn oauth_answer(req: &HttpRequest, body: Value) -> HttpResponse {
    let wants_json = header_str(req, "accept").is_some_and(|accept| accept.contains("json"));
    if wants_json {
        return HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .body(body.to_string());
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    if let Value::Object(fields) = &body {
        for (key, value) in fields {
            match value {
                Value::String(s) => form.append_pair(key, s),
                other => form.append_pair(key, &other.to_string()),
            };
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-www-form-urlencoded; charset=utf-8")
        .body(form.finish())
}

fn oauth_error(code: &str, description: &str) -> Value {
    json!({
        "error": code,
        "error_description": description,
        "error_uri": format!("{TROUBLESHOOTING}#{}", code.replace('_', "-")),
    })
}

fn rest_ok(scopes: &str, body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header(("x-oauth-scopes", scopes))
        .insert_header(("x-github-media-type", "github.v3; format=json"))
        .body(body.to_string())
}

fn rest_error(status: u16, message: &str, documentation_url: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("a valid status");
    HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .body(
            json!({
                "message": message,
                "documentation_url": documentation_url,
                "status": status.as_u16().to_string(),
            })
            .to_string(),
        )
}

fn html(status: u16, title: &str, body: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("a valid status");
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>"
        ))
}

fn found(location: &Url) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location.as_str()))
        .finish()
}

fn header_str<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// GitHub takes scopes separated by spaces or commas.
fn split_scopes(scope: &str) -> Vec<String> {
    scope
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The PKCE S256 challenge of `verifier`.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill(raw.as_mut_slice());
    hex::encode(raw)
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `WDJB-MJHT`.
fn random_user_code() -> String {
    let mut rng = rand::rng();
    let mut pick = || USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())] as char;
    let first: String = (0..4).map(|_| pick()).collect();
    let second: String = (0..4).map(|_| pick()).collect();
    format!("{first}-{second}")
}
