//! [`GithubApp`]: the REST client of the GitHub App. Calls to `/app/...` authenticate
//! with the app JWT; everything else with an installation token of the right
//! [`TokenScope`], minted on demand and cached (see [`super::tokens`]). A call answered
//! 401 with a cached token drops it and is sent once more with a fresh one.
//!
//! Part of the App other features build on: [`GithubApp::json`] and [`GithubApp::send`]
//! are the general entry points for endpoints this file has no method for yet.

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::jwt::AppKey;
use super::tokens::{InstallationToken, TokenCache, TokenScope};
use crate::config::GithubSettings;

/// The REST API version every call is written against.
pub const API_VERSION: &str = "2022-11-28";
/// GitHub refuses REST calls without a User-Agent.
const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));
/// Most pages read from a paginated list in one call (100 items each).
const MAX_PAGES: usize = 50;

/// Why a call to GitHub did not give what was asked. No variant ever carries a token, the
/// JWT or the private key: messages name the method, the path and GitHub's own message.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The App is not (or badly) configured.
    #[error("GitHub App configuration: {0}")]
    Config(String),
    /// GitHub answered with an error status.
    #[error("GitHub answered {method} {path} with {status}: {message}")]
    Api {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
    },
    /// GitHub could not be reached, or the connection failed mid-answer.
    #[error("GitHub could not be reached for {method} {path}: {reason}")]
    Unreachable {
        method: Method,
        path: String,
        reason: String,
    },
    /// GitHub answered 2xx with a body that is not what the endpoint documents.
    #[error("GitHub's answer to {method} {path} did not parse: {reason}")]
    BadAnswer {
        method: Method,
        path: String,
        reason: String,
    },
}

impl GithubError {
    /// The HTTP status GitHub answered with, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            GithubError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether trying again later may succeed: GitHub unreachable, failing (5xx), or
    /// rate limiting (429, or a 403 that says so).
    pub fn is_transient(&self) -> bool {
        match self {
            GithubError::Unreachable { .. } | GithubError::BadAnswer { .. } => true,
            GithubError::Api {
                status, message, ..
            } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || (*status == StatusCode::FORBIDDEN
                        && message.to_ascii_lowercase().contains("rate limit"))
            }
            GithubError::Config(_) => false,
        }
    }
}

/// How a call authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// As the App itself (the JWT): the `/app/...` endpoints.
    App,
    /// With an installation token of this scope.
    Installation(TokenScope),
}

/// `GET /app/installations/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installation {
    pub id: i64,
    pub account: Account,
    /// `all` or `selected`.
    pub repository_selection: String,
    #[serde(default)]
    pub suspended_at: Option<DateTime<Utc>>,
}

/// A GitHub user or organization, as installations and payloads name them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub login: String,
    /// `User`, `Organization` or `Enterprise`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// A repository as the REST API (and, partly, webhook payloads) describe it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GithubRepo {
    pub id: i64,
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    #[serde(default)]
    pub private: bool,
    /// Absent from the short form in webhook payloads.
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub clone_url: Option<String>,
}

/// `GET /orgs/{org}/memberships/{username}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgMembership {
    /// `active` or `pending`.
    pub state: String,
    /// `admin` or `member`.
    pub role: String,
    pub user: Account,
}

/// `GET /repos/{o}/{r}/collaborators/{user}/permission`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollaboratorPermission {
    /// `admin`, `write`, `read` or `none` (`maintain` shows as `write`, `triage` as
    /// `read`).
    pub permission: String,
}

impl CollaboratorPermission {
    /// Whether the person may push to the repository.
    pub fn can_write(&self) -> bool {
        matches!(self.permission.as_str(), "admin" | "maintain" | "write")
    }
}

/// A pull request, as `POST /repos/{o}/{r}/pulls` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: i64,
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub merged: bool,
}

/// One entry of `GET /repos/{o}/{r}/branches`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Branch {
    pub name: String,
    pub commit: BranchCommit,
    #[serde(default)]
    pub protected: bool,
}

/// The commit a branch points at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BranchCommit {
    pub sha: String,
}

/// One entry of `GET /app/hook/deliveries`: one attempt GitHub made at a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookDelivery {
    /// The attempt's id (what a redelivery is requested by).
    pub id: i64,
    /// The delivery's `X-GitHub-Delivery`, the same for every attempt at it.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    #[serde(default)]
    pub redelivery: bool,
    /// `OK`, or what went wrong.
    pub status: String,
    /// The HTTP status our endpoint answered (0 when it did not answer).
    #[serde(default)]
    pub status_code: i64,
    pub event: String,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub installation_id: Option<i64>,
}

impl HookDelivery {
    /// Whether our endpoint accepted this attempt.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// `POST /app/installations/{id}/access_tokens`.
#[derive(Deserialize)]
struct AccessTokenAnswer {
    token: SecretString,
    expires_at: DateTime<Utc>,
}

/// The body of an access token request: scoped to the listed repository ids, if any,
/// and to the listed permissions, if any (else the App's own).
#[derive(Serialize)]
struct AccessTokenRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    repository_ids: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<TokenPermissions>,
}

/// The permissions a token asks for, narrower than the App's.
#[derive(Serialize)]
struct TokenPermissions {
    contents: &'static str,
}

/// `GET /installation/repositories`.
#[derive(Deserialize)]
struct RepositoryPage {
    total_count: usize,
    repositories: Vec<GithubRepo>,
}

/// GitHub's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
}

/// A successful answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// The GitHub App: its identity, its HTTP client and its cached installation tokens.
/// Build one per process and share it.
pub struct GithubApp {
    key: AppKey,
    api_url: String,
    web_url: String,
    slug: Option<String>,
    http: reqwest::Client,
    tokens: TokenCache,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.key.app_id())
            .field("api_url", &self.api_url)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

impl GithubApp {
    /// The App of `settings`, or `None` when it is not configured (no `app_id`). An App id
    /// without a usable private key is an error.
    pub fn from_settings(settings: &GithubSettings) -> Result<Option<GithubApp>, GithubError> {
        let Some(app_id) = settings.app_id else {
            return Ok(None);
        };
        let pem: Vec<u8> = match (&settings.private_key, &settings.private_key_file) {
            (Some(pem), _) => pem.expose_secret().as_bytes().to_vec(),
            (None, Some(path)) => std::fs::read(path).map_err(|e| {
                GithubError::Config(format!(
                    "reading github.private_key_file {}: {}",
                    path.display(),
                    e.kind()
                ))
            })?,
            (None, None) => {
                return Err(GithubError::Config(
                    "github.app_id is set without github.private_key or private_key_file".into(),
                ));
            }
        };
        let key = AppKey::from_pem(app_id, &pem)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Never follow a redirect with a token or JWT attached.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|_| GithubError::Config("building the HTTP client failed".into()))?;
        Ok(Some(GithubApp {
            key,
            api_url: settings.api_url.trim_end_matches('/').to_owned(),
            web_url: settings.web_url.trim_end_matches('/').to_owned(),
            slug: settings
                .app_slug
                .clone()
                .filter(|slug| !slug.trim().is_empty()),
            http,
            tokens: TokenCache::default(),
        }))
    }

    pub fn app_id(&self) -> u64 {
        self.key.app_id()
    }

    /// The App's URL name, when configured.
    pub fn slug(&self) -> Option<&str> {
        self.slug.as_deref()
    }

    /// Where a person installs the App, carrying `state` back to the setup callback.
    pub fn install_url(&self, state: &str) -> Option<String> {
        let slug = self.slug.as_deref()?;
        let mut url =
            url::Url::parse(&format!("{}/apps/{slug}/installations/new", self.web_url)).ok()?;
        url.query_pairs_mut().append_pair("state", state);
        Some(url.into())
    }

    /// The HTTPS clone URL of `owner/name` (what is stored for a GitHub repository; the
    /// token goes in a credential callback, never into this URL).
    pub fn clone_url(&self, full_name: &str) -> String {
        format!("{}/{full_name}.git", self.web_url)
    }

    /// A fresh app JWT.
    pub fn app_jwt(&self) -> Result<SecretString, GithubError> {
        self.key.jwt()
    }

    /// A token for every repository of the installation.
    pub async fn installation_token(
        &self,
        installation_id: i64,
    ) -> Result<InstallationToken, GithubError> {
        self.token(TokenScope::Installation(installation_id)).await
    }

    /// A token for one repository of the installation with only `contents: write`: what
    /// the worker clones, fetches and pushes with.
    pub async fn repository_token(
        &self,
        installation_id: i64,
        repository_id: i64,
    ) -> Result<InstallationToken, GithubError> {
        self.token(TokenScope::Repository {
            installation_id,
            repository_id,
        })
        .await
    }

    /// The cached token of `scope`, minted when there is none or it has under five
    /// minutes left.
    pub async fn token(&self, scope: TokenScope) -> Result<InstallationToken, GithubError> {
        let slot = self.tokens.slot(scope);
        let mut held = slot.lock().await;
        if let Some(token) = held.as_ref().filter(|t| t.fresh_at(Utc::now())) {
            return Ok(token.clone());
        }
        let token = self.mint(scope).await?;
        *held = Some(token.clone());
        Ok(token)
    }

    /// Drops the cached token of `scope`, so the next call mints a new one: for callers
    /// outside this client (git over HTTPS) that saw GitHub refuse it.
    pub async fn forget_token(&self, scope: TokenScope) {
        *self.tokens.slot(scope).lock().await = None;
    }

    /// Drops the cached tokens of an installation (deleted, suspended, or refused).
    pub fn forget_installation(&self, installation_id: i64) {
        self.tokens.forget_installation(installation_id);
    }

    /// `POST /app/installations/{id}/access_tokens`, scoped to the repository if any, and
    /// for git to `contents: write` alone.
    async fn mint(&self, scope: TokenScope) -> Result<InstallationToken, GithubError> {
        let installation_id = scope.installation_id();
        let body = match scope {
            TokenScope::Installation(_) => AccessTokenRequest {
                repository_ids: Vec::new(),
                permissions: None,
            },
            TokenScope::Repository { repository_id, .. } => AccessTokenRequest {
                repository_ids: vec![repository_id],
                permissions: Some(TokenPermissions { contents: "write" }),
            },
            TokenScope::RepositoryApi { repository_id, .. } => AccessTokenRequest {
                repository_ids: vec![repository_id],
                permissions: None,
            },
        };
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let answer = self
            .execute(&self.app_jwt()?, Method::POST, &path, Some(&body))
            .await?;
        let minted: AccessTokenAnswer = parse(&Method::POST, &path, &answer.body)?;
        tracing::debug!(
            installation.id = installation_id,
            expires_at = %minted.expires_at,
            "minted a GitHub installation token"
        );
        Ok(InstallationToken::new(minted.token, minted.expires_at))
    }

    /// `GET /app/installations/{id}`.
    pub async fn installation(&self, installation_id: i64) -> Result<Installation, GithubError> {
        self.json(
            Auth::App,
            Method::GET,
            &format!("/app/installations/{installation_id}"),
            None::<&()>,
        )
        .await
    }

    /// Every repository the installation grants, from `GET /installation/repositories`
    /// (read page by page, at most 5,000).
    pub async fn installation_repositories(
        &self,
        installation_id: i64,
    ) -> Result<Vec<GithubRepo>, GithubError> {
        let auth = Auth::Installation(TokenScope::Installation(installation_id));
        let mut repos = Vec::new();
        for page in 1..=MAX_PAGES {
            let answer: RepositoryPage = self
                .json(
                    auth,
                    Method::GET,
                    &format!("/installation/repositories?per_page=100&page={page}"),
                    None::<&()>,
                )
                .await?;
            let empty = answer.repositories.is_empty();
            repos.extend(answer.repositories);
            if empty || repos.len() >= answer.total_count {
                break;
            }
        }
        Ok(repos)
    }

    /// The membership of `username` in the GitHub organization `org`, with a token of an
    /// installation on that organization (the App needs the "Members: read" permission).
    /// `None` when they are not a member.
    pub async fn org_membership(
        &self,
        installation_id: i64,
        org: &str,
        username: &str,
    ) -> Result<Option<OrgMembership>, GithubError> {
        let path = format!("/orgs/{org}/memberships/{username}");
        let auth = Auth::Installation(TokenScope::Installation(installation_id));
        match self.json(auth, Method::GET, &path, None::<&()>).await {
            Ok(membership) => Ok(Some(membership)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The permission of `login` on the repository `full_name` (id `repository_id`);
    /// `None` when GitHub does not know the user.
    pub async fn collaborator_permission(
        &self,
        installation_id: i64,
        repository_id: i64,
        full_name: &str,
        login: &str,
    ) -> Result<Option<CollaboratorPermission>, GithubError> {
        let path = format!(
            "/repos/{full_name}/collaborators/{}/permission",
            segment(login)
        );
        match self
            .json(
                repo_auth(installation_id, repository_id),
                Method::GET,
                &path,
                None::<&()>,
            )
            .await
        {
            Ok(permission) => Ok(Some(permission)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Comments on an issue or pull request of the repository.
    pub async fn comment(
        &self,
        installation_id: i64,
        repository_id: i64,
        full_name: &str,
        issue_number: i64,
        body: &str,
    ) -> Result<(), GithubError> {
        self.send(
            repo_auth(installation_id, repository_id),
            Method::POST,
            &format!("/repos/{full_name}/issues/{issue_number}/comments"),
            Some(&serde_json::json!({ "body": body })),
        )
        .await
        .map(|_| ())
    }

    /// Opens a pull request from `head` into `base`.
    #[expect(clippy::too_many_arguments)]
    pub async fn create_pull(
        &self,
        installation_id: i64,
        repository_id: i64,
        full_name: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, GithubError> {
        self.json(
            repo_auth(installation_id, repository_id),
            Method::POST,
            &format!("/repos/{full_name}/pulls"),
            Some(&serde_json::json!({
                "title": title, "body": body, "head": head, "base": base,
            })),
        )
        .await
    }

    /// Merges a pull request with `method` (`merge`, `squash` or `rebase`).
    pub async fn merge_pull(
        &self,
        installation_id: i64,
        repository_id: i64,
        full_name: &str,
        number: i64,
        method: &str,
    ) -> Result<(), GithubError> {
        self.send(
            repo_auth(installation_id, repository_id),
            Method::PUT,
            &format!("/repos/{full_name}/pulls/{number}/merge"),
            Some(&serde_json::json!({ "merge_method": method })),
        )
        .await
        .map(|_| ())
    }

    /// The repository's branches (at most 5,000).
    pub async fn branches(
        &self,
        installation_id: i64,
        repository_id: i64,
        full_name: &str,
    ) -> Result<Vec<Branch>, GithubError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let batch: Vec<Branch> = self
                .json(
                    repo_auth(installation_id, repository_id),
                    Method::GET,
                    &format!("/repos/{full_name}/branches?per_page=100&page={page}"),
                    None::<&()>,
                )
                .await?;
            let done = batch.len() < 100;
            all.extend(batch);
            if done {
                break;
            }
        }
        Ok(all)
    }

    /// One page of the App's recent webhook delivery attempts, newest first, and the
    /// cursor of the next page.
    pub async fn hook_deliveries(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<HookDelivery>, Option<String>), GithubError> {
        let mut path = "/app/hook/deliveries?per_page=100".to_owned();
        if let Some(cursor) = cursor {
            path.push_str("&cursor=");
            path.push_str(
                &url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>(),
            );
        }
        let answer = self
            .send(Auth::App, Method::GET, &path, None::<&()>)
            .await?;
        let deliveries = parse(&Method::GET, "/app/hook/deliveries", &answer.body)?;
        Ok((deliveries, next_cursor(&answer.headers)))
    }

    /// Asks GitHub to send a delivery attempt again
    /// (`POST /app/hook/deliveries/{id}/attempts`).
    pub async fn redeliver(&self, attempt_id: i64) -> Result<(), GithubError> {
        self.send(
            Auth::App,
            Method::POST,
            &format!("/app/hook/deliveries/{attempt_id}/attempts"),
            None::<&()>,
        )
        .await
        .map(|_| ())
    }

    /// Any REST call, its 2xx JSON answer decoded into `T`. `path` starts with `/` and
    /// may carry a query string.
    pub async fn json<T: DeserializeOwned>(
        &self,
        auth: Auth,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, GithubError> {
        let answer = self.send(auth, method.clone(), path, body).await?;
        parse(&method, path, &answer.body)
    }

    /// Any REST call; a non-2xx answer is a [`GithubError::Api`]. With an installation
    /// token, a 401 drops the cached token and the call is sent once more with a new one.
    pub async fn send(
        &self,
        auth: Auth,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Answer, GithubError> {
        match self.send_once(auth, method.clone(), path, body).await {
            Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
                let Auth::Installation(scope) = auth else {
                    return Err(e);
                };
                *self.tokens.slot(scope).lock().await = None;
                self.send_once(auth, method, path, body).await
            }
            other => other,
        }
    }

    async fn send_once(
        &self,
        auth: Auth,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Answer, GithubError> {
        let bearer = match auth {
            Auth::App => self.app_jwt()?,
            Auth::Installation(scope) => SecretString::from(self.token(scope).await?.expose()),
        };
        self.execute(&bearer, method, path, body).await
    }

    /// One request with `bearer` as the credential.
    async fn execute(
        &self,
        bearer: &SecretString,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Answer, GithubError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api_url))
            .bearer_auth(bearer.expose_secret())
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION);
        if let Some(body) = body {
            request = request.json(body);
        }
        let short = short_path(path);
        let unreachable = |e: reqwest::Error| GithubError::Unreachable {
            method: method.clone(),
            path: short.clone(),
            reason: e.without_url().to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(Answer {
                status,
                headers,
                body: bytes,
            });
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .and_then(|b| b.message)
            .unwrap_or_default();
        Err(GithubError::Api {
            method,
            path: short,
            status,
            message: message.chars().take(300).collect(),
        })
    }
}

/// Authentication with the App's token of one repository (not git's contents-only one).
fn repo_auth(installation_id: i64, repository_id: i64) -> Auth {
    Auth::Installation(TokenScope::RepositoryApi {
        installation_id,
        repository_id,
    })
}

/// A value percent-encoded for one path segment.
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Decodes a 2xx body.
fn parse<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, GithubError> {
    serde_json::from_slice(body).map_err(|e| GithubError::BadAnswer {
        method: method.clone(),
        path: short_path(path),
        reason: e.to_string(),
    })
}

/// The path without its query string, for error messages.
fn short_path(path: &str) -> String {
    path.split('?').next().unwrap_or(path).to_owned()
}

/// The `cursor` of the `rel="next"` link, if there is a next page.
fn next_cursor(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let url = url::Url::parse(target).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_next_cursor_comes_from_the_link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_12077215967>; rel=\"next\", \
                 <https://api.github.com/app/hook/deliveries?per_page=2>; rel=\"first\"",
            ),
        );
        assert_eq!(next_cursor(&headers).as_deref(), Some("v1_12077215967"));
        headers.insert(
            LINK,
            HeaderValue::from_static("<https://api.github.com/x?per_page=2>; rel=\"first\""),
        );
        assert_eq!(next_cursor(&headers), None);
    }

    #[test]
    fn rate_limits_and_server_errors_are_transient() {
        let api = |status: u16, message: &str| GithubError::Api {
            method: Method::GET,
            path: "/x".into(),
            status: StatusCode::from_u16(status).expect("status"),
            message: message.into(),
        };
        assert!(api(502, "").is_transient());
        assert!(api(429, "").is_transient());
        assert!(api(403, "API rate limit exceeded for installation").is_transient());
        assert!(!api(403, "Resource not accessible by integration").is_transient());
        assert!(!api(404, "Not Found").is_transient());
    }
}
