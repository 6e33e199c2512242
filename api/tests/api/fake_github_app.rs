//! The GitHub App side of the fake GitHub ([`crate::fake_github::FakeGithub`] serves
//! these routes on the same port): app JWTs checked with the App's public key,
//! installation access tokens (scoped, expiring), the installation's repositories, org
//! memberships, and the App's webhook delivery log with redelivery — which really sends
//! the stored delivery, signed, to the webhook URL the test names.
//!
//! Endpoints, as GitHub documents them:
//! - `POST /app/installations/{id}/access_tokens` (JWT): 201 `{token, expires_at, ...}`;
//!   `repository_ids` in the body scope the token, `permissions` narrow it (a permission
//!   the App lacks answers 422); a suspended installation answers 403.
//! - `GET /app/installations/{id}` (JWT).
//! - `GET /installation/repositories` (installation token): the token's repositories.
//! - `GET /orgs/{org}/memberships/{username}` (installation token on that org).
//! - `GET /app/hook/deliveries` (JWT): newest first, `cursor` pagination by `Link`.
//! - `POST /app/hook/deliveries/{id}/attempts` (JWT): 202, then the redelivery.
//!
//! Everything the test does not set up answers GitHub's 404 / 401 JSON.

#![expect(dead_code)]

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::Rng;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::config::GithubSettings;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The App id the fake knows.
pub const APP_ID: u64 = 29310;
/// The App's URL name.
pub const APP_SLUG: &str = "switchyard-test";
/// The secret the fake signs webhook deliveries with.
pub const WEBHOOK_SECRET: &str = "fake-github-webhook-secret-9f8e7d6c";

/// The App's private key (TEST ONLY, see `tests/fixtures/README.md`).
pub fn private_key_pem() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github-app-test-key.pem"
    ))
    .expect("test App key")
}

fn public_key_pem() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github-app-test-key.pub.pem"
    ))
    .expect("test App public key")
}

/// A repository an installation grants.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    pub id: i64,
    pub name: String,
    pub full_name: String,
    pub private: bool,
    pub default_branch: String,
}

impl FakeRepo {
    /// `owner/name` with id `id`, public, on `main`.
    pub fn new(id: i64, full_name: &str) -> FakeRepo {
        FakeRepo {
            id,
            name: full_name.rsplit('/').next().unwrap_or(full_name).to_owned(),
            full_name: full_name.to_owned(),
            private: false,
            default_branch: "main".into(),
        }
    }
}

/// What the App side has been asked, for assertions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppCounts {
    /// Installation tokens handed out.
    pub tokens_minted: usize,
    /// Requests refused for a bad, expired or missing app JWT.
    pub jwt_refused: usize,
    /// `GET /installation/repositories` requests.
    pub repository_lists: usize,
    /// `GET /app/hook/deliveries` requests.
    pub delivery_lists: usize,
}

/// One attempt at a webhook delivery, as the App's delivery log shows it.
#[derive(Debug, Clone)]
pub struct FakeDelivery {
    pub id: i64,
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    /// The payload, sent again on redelivery.
    pub body: Vec<u8>,
}

struct Installation {
    account_login: String,
    account_id: i64,
    account_type: String,
    repos: Vec<FakeRepo>,
    suspended: bool,
}

struct IssuedToken {
    installation_id: i64,
    /// `None`: every repository of the installation.
    repository_ids: Option<Vec<i64>>,
    /// What the request asked for; `None`: every permission of the App ([`APP_PERMISSIONS`]).
    permissions: Option<BTreeMap<String, String>>,
    expires_at: DateTime<Utc>,
}

/// The permissions the test App is granted, as its installations show them.
pub const APP_PERMISSIONS: &[(&str, &str)] = &[
    ("contents", "write"),
    ("issues", "write"),
    ("members", "read"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

/// Whether `held` covers `wanted` (`write` covers `read`).
fn level_covers(held: &str, wanted: &str) -> bool {
    held == "write" || held == wanted
}

struct Member {
    role: String,
    user_id: i64,
}

#[derive(Default)]
struct State {
    installations: BTreeMap<i64, Installation>,
    tokens: HashMap<String, IssuedToken>,
    /// Lifetime of new installation tokens (GitHub: an hour).
    token_lifetime: Option<Duration>,
    /// (org login, user login) → membership.
    members: HashMap<(String, String), Member>,
    deliveries: Vec<FakeDelivery>,
    next_delivery_id: i64,
    redeliveries: Vec<i64>,
    /// Where redeliveries are sent.
    webhook_url: Option<String>,
    /// While set, every App endpoint answers 503.
    unavailable: bool,
    counts: AppCounts,
}

/// The App side's state, shared with the server.
pub struct AppFake {
    state: Mutex<State>,
    decoding: DecodingKey,
}

impl Default for AppFake {
    fn default() -> Self {
        AppFake {
            state: Mutex::new(State {
                next_delivery_id: 12_000_000_000,
                ..State::default()
            }),
            decoding: DecodingKey::from_rsa_pem(&public_key_pem()).expect("public key"),
        }
    }
}

impl AppFake {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// GitHub settings for the App, on top of `base` (the fake's URLs and OAuth client).
    pub fn settings(base: GithubSettings) -> GithubSettings {
        GithubSettings {
            app_id: Some(APP_ID),
            app_slug: Some(APP_SLUG.into()),
            private_key: Some(SecretString::from(private_key_pem())),
            webhook_secret: Some(SecretString::from(WEBHOOK_SECRET.to_owned())),
            ..base
        }
    }

    /// Installs the App on an account (`kind`: `User` or `Organization`) with `repos`.
    pub fn add_installation(
        &self,
        id: i64,
        account_login: &str,
        account_id: i64,
        kind: &str,
        repos: Vec<FakeRepo>,
    ) {
        self.lock().installations.insert(
            id,
            Installation {
                account_login: account_login.into(),
                account_id,
                account_type: kind.into(),
                repos,
                suspended: false,
            },
        );
    }

    /// Grants one more repository to the installation.
    pub fn add_repo(&self, installation: i64, repo: FakeRepo) {
        self.installation(installation, |i| i.repos.push(repo));
    }

    /// Takes a repository away from the installation.
    pub fn remove_repo(&self, installation: i64, repo_id: i64) {
        self.installation(installation, |i| i.repos.retain(|r| r.id != repo_id));
    }

    /// Uninstalls the App: the installation and its tokens are gone.
    pub fn delete_installation(&self, installation: i64) {
        let mut state = self.lock();
        state.installations.remove(&installation);
        state
            .tokens
            .retain(|_, t| t.installation_id != installation);
    }

    /// Suspends (or unsuspends) the installation: its tokens stop working.
    pub fn suspend(&self, installation: i64, suspended: bool) {
        self.installation(installation, |i| i.suspended = suspended);
    }

    /// Makes `login` (GitHub id `user_id`) a member of the organization `org` with `role`.
    pub fn add_member(&self, org: &str, login: &str, user_id: i64, role: &str) {
        self.lock().members.insert(
            (org.into(), login.into()),
            Member {
                role: role.into(),
                user_id,
            },
        );
    }

    /// Makes every App endpoint answer 503 (or answer again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// Every installation token handed out and still known, to look for in logs.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.keys().cloned().collect()
    }

    /// How long installation tokens minted from now on live.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = Some(lifetime);
    }

    /// Revokes every installation token (GitHub answers 401 to them from now on).
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Where redeliveries are sent (the api's `/api/v1/github/webhooks`).
    pub fn set_webhook_url(&self, url: &str) {
        self.lock().webhook_url = Some(url.into());
    }

    /// Records an attempt at a delivery in the App's delivery log, as if GitHub had sent
    /// `body` and our endpoint had answered `status_code` (0: no answer).
    pub fn log_delivery(
        &self,
        guid: &str,
        event: &str,
        body: &[u8],
        status_code: u16,
        ago: chrono::TimeDelta,
    ) -> i64 {
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut state = self.lock();
        state.next_delivery_id += 1;
        let id = state.next_delivery_id;
        state.deliveries.push(FakeDelivery {
            id,
            guid: guid.into(),
            delivered_at: Utc::now() - ago,
            redelivery: false,
            status_code,
            event: event.into(),
            action: payload["action"].as_str().map(str::to_owned),
            installation_id: payload["installation"]["id"].as_i64(),
            body: body.to_vec(),
        });
        id
    }

    /// The delivery attempt ids a redelivery was asked for, in order.
    pub fn redeliveries(&self) -> Vec<i64> {
        self.lock().redeliveries.clone()
    }

    /// The App's delivery log, oldest first.
    pub fn deliveries(&self) -> Vec<FakeDelivery> {
        self.lock().deliveries.clone()
    }

    pub fn counts(&self) -> AppCounts {
        self.lock().counts.clone()
    }

    /// The repository ids a live token was scoped to (`None`: the whole installation).
    pub fn token_scope(&self, token: &str) -> Option<Option<Vec<i64>>> {
        self.lock()
            .tokens
            .get(token)
            .map(|t| t.repository_ids.clone())
    }

    /// The permissions a live token was minted with, as the request asked for them
    /// (`None`: the App's own, when the request named none).
    pub fn token_permissions(&self, token: &str) -> Option<Option<BTreeMap<String, String>>> {
        self.lock().tokens.get(token).map(|t| t.permissions.clone())
    }

    /// Whether a token holds `permission` at `level` (`read` or `write`): what GitHub
    /// checks after the token reaches the repository.
    pub fn token_permits(&self, token: &str, permission: &str, level: &str) -> bool {
        let state = self.lock();
        let Some(issued) = state.tokens.get(token) else {
            return false;
        };
        let held = match &issued.permissions {
            Some(asked) => asked.get(permission).map(String::as_str),
            None => APP_PERMISSIONS
                .iter()
                .find(|(p, _)| *p == permission)
                .map(|(_, l)| *l),
        };
        held.is_some_and(|held| level_covers(held, level))
    }

    /// The repository `owner/name` when `token` is a live installation token that reaches
    /// it (its installation grants the repository and the token's scope includes it).
    pub fn token_reaches(&self, token: &str, full_name: &str) -> Option<FakeRepo> {
        let state = self.lock();
        let issued = state.tokens.get(token)?;
        if issued.expires_at <= Utc::now() {
            return None;
        }
        let installation = state.installations.get(&issued.installation_id)?;
        if installation.suspended {
            return None;
        }
        let repo = installation
            .repos
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name))?;
        issued
            .repository_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&repo.id))
            .then(|| repo.clone())
    }

    /// Makes an issued token expire now: GitHub answers 401 to it from then on.
    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.lock().tokens.get_mut(token) {
            t.expires_at = Utc::now() - chrono::TimeDelta::seconds(1);
        }
    }

    fn installation(&self, id: i64, change: impl FnOnce(&mut Installation)) {
        let mut state = self.lock();
        let installation = state
            .installations
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no fake installation {id}"));
        change(installation);
    }

    /// Checks the app JWT of a request: RS256 under the App's key, `iss` the App id, `exp`
    /// in the future and at most ten minutes after `iat`.
    fn check_jwt(&self, req: &HttpRequest) -> Result<(), Box<HttpResponse>> {
        if self.lock().unavailable {
            return Err(Box::new(rest_error(503, "Service Unavailable")));
        }
        let refused = |message: &str| {
            self.lock().counts.jwt_refused += 1;
            Box::new(rest_error(401, message))
        };
        let Some(token) = bearer(req) else {
            return Err(refused("A JSON web token could not be decoded"));
        };
        #[derive(Deserialize)]
        struct Claims {
            iat: i64,
            exp: i64,
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[APP_ID.to_string()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        validation.leeway = 0;
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) else {
            return Err(refused("A JSON web token could not be decoded"));
        };
        let now = Utc::now().timestamp();
        if data.claims.exp - data.claims.iat > 600 || data.claims.iat > now + 60 {
            return Err(refused(
                "'Expiration time' claim ('exp') is too far in the future",
            ));
        }
        Ok(())
    }

    /// The live installation token of a request.
    fn check_token(&self, req: &HttpRequest) -> Result<(i64, Option<Vec<i64>>), Box<HttpResponse>> {
        let state = self.lock();
        if state.unavailable {
            return Err(Box::new(rest_error(503, "Service Unavailable")));
        }
        let issued = bearer(req).and_then(|t| state.tokens.get(t));
        match issued {
            Some(t) if t.expires_at > Utc::now() => {
                Ok((t.installation_id, t.repository_ids.clone()))
            }
            _ => Err(Box::new(rest_error(401, "Bad credentials"))),
        }
    }
}

/// The App routes, for the fake's `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/app/installations/{id}/access_tokens",
        web::post().to(access_tokens),
    )
    .route("/app/installations/{id}", web::get().to(installation))
    .route("/installation/repositories", web::get().to(repositories))
    .route(
        "/orgs/{org}/memberships/{username}",
        web::get().to(membership),
    )
    .route("/app/hook/deliveries", web::get().to(hook_deliveries))
    .route(
        "/app/hook/deliveries/{id}/attempts",
        web::post().to(redeliver),
    );
}

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

pub fn rest_error(status: u16, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).expect("a valid status");
    HttpResponse::build(status).json(json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    }))
}

fn repo_json(base: &str, r: &FakeRepo, owner: &str) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("R_{}", r.id),
        "name": r.name,
        "full_name": r.full_name,
        "private": r.private,
        "owner": {"login": owner},
        "html_url": format!("{base}/{}", r.full_name),
        "clone_url": format!("{base}/{}.git", r.full_name),
        "default_branch": r.default_branch,
    })
}

fn installation_json(id: i64, i: &Installation) -> Value {
    json!({
        "id": id,
        "account": {"login": i.account_login, "id": i.account_id, "type": i.account_type},
        "repository_selection": "selected",
        "app_id": APP_ID,
        "app_slug": APP_SLUG,
        "target_id": i.account_id,
        "target_type": i.account_type,
        "suspended_at": if i.suspended { json!("2026-11-24T00:00:00Z") } else { Value::Null },
    })
}

#[derive(Deserialize, Default)]
struct TokenRequest {
    #[serde(default)]
    repository_ids: Option<Vec<i64>>,
    #[serde(default)]
    permissions: Option<BTreeMap<String, String>>,
}

/// `POST /app/installations/{id}/access_tokens`
async fn access_tokens(
    fake: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(refusal) = fake.check_jwt(&req) {
        return *refusal;
    }
    let id = path.into_inner();
    let request: TokenRequest = if body.is_empty() {
        TokenRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(_) => return rest_error(400, "Problems parsing JSON"),
        }
    };
    let mut state = fake.lock();
    let Some(installation) = state.installations.get(&id) else {
        return rest_error(404, "Not Found");
    };
    if installation.suspended {
        return rest_error(403, "This installation has been suspended");
    }
    if let Some(ids) = &request.repository_ids
        && ids
            .iter()
            .any(|want| !installation.repos.iter().any(|r| r.id == *want))
    {
        return rest_error(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        );
    }
    if let Some(asked) = &request.permissions {
        let granted = asked.iter().all(|(permission, level)| {
            ["read", "write"].contains(&level.as_str())
                && APP_PERMISSIONS
                    .iter()
                    .any(|(p, held)| p == permission && level_covers(held, level))
        });
        if !granted {
            return rest_error(
                422,
                "The permissions requested are not granted to this installation.",
            );
        }
    }
    let lifetime = state.token_lifetime.unwrap_or(Duration::from_secs(3600));
    let expires_at = Utc::now() + chrono::TimeDelta::from_std(lifetime).expect("lifetime");
    let token = format!(
        "ghs_{}",
        rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(36)
            .map(char::from)
            .collect::<String>()
    );
    state.tokens.insert(
        token.clone(),
        IssuedToken {
            installation_id: id,
            repository_ids: request.repository_ids.clone(),
            permissions: request.permissions.clone(),
            expires_at,
        },
    );
    state.counts.tokens_minted += 1;
    // GitHub answers with what the token holds: what was asked for (metadata read comes
    // with every token), else the App's permissions.
    let permissions: BTreeMap<String, String> = match &request.permissions {
        Some(asked) => {
            let mut held = asked.clone();
            held.entry("metadata".into())
                .or_insert_with(|| "read".into());
            held
        }
        None => APP_PERMISSIONS
            .iter()
            .map(|(p, l)| ((*p).to_owned(), (*l).to_owned()))
            .collect(),
    };
    HttpResponse::Created().json(json!({
        "token": token,
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "permissions": permissions,
        "repository_selection": "selected",
    }))
}

/// `GET /app/installations/{id}`
async fn installation(
    fake: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<i64>,
) -> HttpResponse {
    if let Err(refusal) = fake.check_jwt(&req) {
        return *refusal;
    }
    let id = path.into_inner();
    let state = fake.lock();
    match state.installations.get(&id) {
        Some(i) => HttpResponse::Ok().json(installation_json(id, i)),
        None => rest_error(404, "Not Found"),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    per_page: Option<usize>,
    page: Option<usize>,
}

/// `GET /installation/repositories`
async fn repositories(
    fake: web::Data<AppFake>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let (id, scope) = match fake.check_token(&req) {
        Ok(t) => t,
        Err(refusal) => return *refusal,
    };
    let base = format!("http://{}", req.connection_info().host());
    let mut state = fake.lock();
    state.counts.repository_lists += 1;
    let Some(installation) = state.installations.get(&id) else {
        return rest_error(401, "Bad credentials");
    };
    let visible: Vec<&FakeRepo> = installation
        .repos
        .iter()
        .filter(|r| scope.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .collect();
    let per_page = query.per_page.unwrap_or(30).clamp(1, 100);
    let page = query.page.unwrap_or(1).max(1);
    let items: Vec<Value> = visible
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|r| repo_json(&base, r, &installation.account_login))
        .collect();
    HttpResponse::Ok().json(json!({
        "total_count": visible.len(),
        "repository_selection": "selected",
        "repositories": items,
    }))
}

/// `GET /orgs/{org}/memberships/{username}`
async fn membership(
    fake: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, _) = match fake.check_token(&req) {
        Ok(t) => t,
        Err(refusal) => return *refusal,
    };
    let (org, username) = path.into_inner();
    let state = fake.lock();
    let on_org = state
        .installations
        .get(&id)
        .is_some_and(|i| i.account_login.eq_ignore_ascii_case(&org));
    if !on_org {
        return rest_error(403, "Resource not accessible by integration");
    }
    match state.members.get(&(org.clone(), username.clone())) {
        Some(m) => HttpResponse::Ok().json(json!({
            "state": "active",
            "role": m.role,
            "organization": {"login": org},
            "user": {"login": username, "id": m.user_id, "type": "User"},
        })),
        None => rest_error(404, "Not Found"),
    }
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    per_page: Option<usize>,
    cursor: Option<String>,
}

/// `GET /app/hook/deliveries`: newest first; `cursor` is the id to continue below.
async fn hook_deliveries(
    fake: web::Data<AppFake>,
    req: HttpRequest,
    query: web::Query<DeliveriesQuery>,
) -> HttpResponse {
    if let Err(refusal) = fake.check_jwt(&req) {
        return *refusal;
    }
    let base = format!("http://{}", req.connection_info().host());
    let mut state = fake.lock();
    state.counts.delivery_lists += 1;
    let per_page = query.per_page.unwrap_or(30).clamp(1, 100);
    let below: Option<i64> = query
        .cursor
        .as_deref()
        .and_then(|c| c.strip_prefix("v1_"))
        .and_then(|c| c.parse().ok());
    let mut all: Vec<&FakeDelivery> = state
        .deliveries
        .iter()
        .filter(|d| below.is_none_or(|b| d.id < b))
        .collect();
    all.sort_by_key(|d| std::cmp::Reverse(d.id));
    let page: Vec<Value> = all
        .iter()
        .take(per_page)
        .map(|d| {
            json!({
                "id": d.id,
                "guid": d.guid,
                "delivered_at": d.delivered_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "redelivery": d.redelivery,
                "duration": 0.27,
                "status": if (200..300).contains(&d.status_code) { "OK".to_owned() } else if d.status_code == 0 { "failed to connect".to_owned() } else { format!("Invalid HTTP Response: {}", d.status_code) },
                "status_code": d.status_code,
                "event": d.event,
                "action": d.action,
                "installation_id": d.installation_id,
                "repository_id": null,
            })
        })
        .collect();
    let mut response = HttpResponse::Ok();
    if all.len() > per_page
        && let Some(last) = all.get(per_page - 1)
    {
        response.insert_header((
            header::LINK,
            format!(
                "<{base}/app/hook/deliveries?per_page={per_page}&cursor=v1_{}>; rel=\"next\"",
                last.id
            ),
        ));
    }
    response.json(Value::Array(page))
}

/// `POST /app/hook/deliveries/{id}/attempts`: 202, then the delivery is sent again (same
/// GUID, event and body, signed) to the webhook URL, and the attempt logged.
async fn redeliver(
    fake: web::Data<AppFake>,
    req: HttpRequest,
    path: web::Path<i64>,
) -> HttpResponse {
    if let Err(refusal) = fake.check_jwt(&req) {
        return *refusal;
    }
    let id = path.into_inner();
    let (original, url) = {
        let mut state = fake.lock();
        let Some(original) = state.deliveries.iter().find(|d| d.id == id).cloned() else {
            return rest_error(404, "Not Found");
        };
        state.redeliveries.push(id);
        (original, state.webhook_url.clone())
    };
    if let Some(url) = url {
        let fake = fake.clone();
        tokio::spawn(async move {
            let status = send_delivery(
                &reqwest::Client::new(),
                &url,
                &original.event,
                &original.guid,
                &original.body,
            )
            .await
            .map(|s| s.as_u16())
            .unwrap_or(0);
            let mut state = fake.lock();
            state.next_delivery_id += 1;
            let next = state.next_delivery_id;
            state.deliveries.push(FakeDelivery {
                id: next,
                delivered_at: Utc::now(),
                redelivery: true,
                status_code: status,
                ..original
            });
        });
    }
    HttpResponse::Accepted().json(json!({}))
}

/// Sends a delivery as GitHub does: the event and delivery headers and the signature of
/// `body` under [`WEBHOOK_SECRET`].
pub async fn send_delivery(
    client: &reqwest::Client,
    url: &str,
    event: &str,
    guid: &str,
    body: &[u8],
) -> reqwest::Result<reqwest::StatusCode> {
    let signature = shared::github::webhook::sign(WEBHOOK_SECRET.as_bytes(), body);
    client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/fake")
        .header("x-github-event", event)
        .header("x-github-delivery", guid)
        .header("x-github-hook-id", "1")
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .map(|r| r.status())
}
