//! GitHub OAuth sign-in: the authorization code flow with PKCE for the dashboard, the
//! device flow for command-line clients, and the two REST calls that say who signed in.
//!
//! The code flow and the device code request go through the `oauth2` crate; one device
//! poll is a plain form POST, because `oauth2`'s device exchange loops until it is done and
//! the api answers each poll of a command-line client with one poll of GitHub.
//!
//! GitHub departs from RFC 6749 in two ways handled here: its token endpoint reports a
//! refused grant (`bad_verification_code`, `incorrect_client_credentials`, ...) as a 200
//! whose JSON body has an `error` field, and it answers form-encoded unless asked for JSON.
//! Tokens and the client secret never reach an error message or a log line.

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::http;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, StandardDeviceAuthorizationResponse, TokenResponse,
    TokenUrl,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shared::config::GithubSettings;
use std::fmt;
use std::time::Duration;
use url::Url;

/// Scopes asked for at sign-in: the profile, and the email addresses when none is public.
const SCOPES: [&str; 2] = ["read:user", "user:email"];
/// The REST API version the user calls are written against.
const API_VERSION: &str = "2022-11-28";
/// GitHub refuses REST calls without a User-Agent.
const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));
/// Where GitHub sends the browser back to, under the api's public URL.
const CALLBACK_PATH: &str = "/api/v1/auth/github/callback";
/// The grant type of a device flow poll (RFC 8628).
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The poll interval to use after a `slow_down` that names none (GitHub always names one).
const FALLBACK_SLOW_DOWN_SECS: u64 = 10;

/// `oauth2`'s client with the endpoints GitHub sign-in uses: authorize, device code, token.
type OAuthClient =
    BasicClient<EndpointSet, EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Signs people in with GitHub; built once from configuration and shared by the routes.
#[derive(Debug, Clone)]
pub struct GithubOAuth {
    oauth: OAuthClient,
    http: reqwest::Client,
    client_id: String,
    token_url: Url,
    user_url: Url,
    emails_url: Url,
}

/// What the callback needs to finish a code flow the browser started: keep it server-side
/// or in an HttpOnly cookie, never in the URL.
#[derive(Clone)]
pub struct PendingLogin {
    /// The CSRF `state` GitHub must send back unchanged.
    pub state: String,
    /// The PKCE verifier whose S256 challenge went into the authorize URL.
    pub pkce_verifier: String,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("pkce_verifier", &"[REDACTED]")
            .finish()
    }
}

/// A GitHub user access token, good for the user calls; its Debug output is redacted.
#[derive(Debug, Clone)]
pub struct GithubAccess {
    pub token: SecretString,
}

impl GithubAccess {
    /// Wraps a token obtained elsewhere (tests, or a token a client presents).
    pub fn new(token: impl Into<String>) -> GithubAccess {
        GithubAccess {
            token: SecretString::from(token.into()),
        }
    }
}

/// The person who signed in, as GitHub describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubUser {
    /// GitHub's stable numeric id (a login can be renamed; this cannot).
    pub id: i64,
    pub login: String,
    pub name: Option<String>,
    /// The public profile email, else the primary verified one; None when neither exists.
    pub email: Option<String>,
    pub avatar_url: Option<String>,
}

/// The start of a device flow: show `user_code` and `verification_uri` to the person, keep
/// `device_code` to poll with. Its Debug output leaves the device code out.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("device_code", &"[REDACTED]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

/// The outcome of one device flow poll.
#[derive(Debug)]
pub enum DevicePoll {
    /// The person has not answered yet: poll again after the interval.
    Pending,
    /// Polled too fast: wait `interval` seconds between polls from now on.
    SlowDown { interval: u64 },
    /// The device code expired before the person answered: start again.
    Expired,
    /// The person declined.
    Denied,
    /// The person approved; the device code is spent.
    Authorized(GithubAccess),
}

/// Why a call to GitHub did not give what was asked. Messages never carry a token or secret.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// GitHub refused: a bad, spent or expired code, a wrong PKCE verifier, wrong client
    /// credentials, an unknown device code, or a bad access token (`bad_credentials`).
    #[error("GitHub refused the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// GitHub could not be reached or answered something unusable (5xx, rate limit, garbage).
    #[error("GitHub is unavailable: {0}")]
    Unavailable(String),
}

/// GitHub's error body on its OAuth endpoints (sent with a 200 or a 4xx).
#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// One device poll's answer: a token, or an error code (with a new interval on `slow_down`).
#[derive(Deserialize)]
struct DevicePollBody {
    #[serde(default)]
    access_token: Option<SecretString>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    interval: Option<u64>,
}

/// The REST API's error body.
#[derive(Deserialize)]
struct ApiErrorBody {
    #[serde(default)]
    message: Option<String>,
}

/// One entry of `GET /user/emails`.
#[derive(Deserialize)]
struct EmailEntry {
    email: String,
    primary: bool,
    verified: bool,
}

impl GithubOAuth {
    /// The client for `settings`, or None when sign-in with GitHub is not configured (no
    /// `client_id`). GitHub sends browsers back to `{public_url}/api/v1/auth/github/callback`.
    pub fn new(settings: &GithubSettings, public_url: &str) -> anyhow::Result<Option<GithubOAuth>> {
        use anyhow::Context;
        let Some(client_id) = settings
            .client_id
            .as_deref()
            .filter(|id| !id.trim().is_empty())
        else {
            return Ok(None);
        };
        let secret = settings
            .client_secret
            .as_ref()
            .context("github.client_id is set without github.client_secret: sign-in needs both")?;
        let web = settings.web_url.trim_end_matches('/');
        let api = settings.api_url.trim_end_matches('/');
        let token_url = parse_url("github.web_url", &format!("{web}/login/oauth/access_token"))?;
        let redirect = format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'));
        let oauth = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
            // GitHub documents the client credentials as form fields, not HTTP Basic.
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::from_url(parse_url(
                "github.web_url",
                &format!("{web}/login/oauth/authorize"),
            )?))
            .set_device_authorization_url(DeviceAuthorizationUrl::from_url(parse_url(
                "github.web_url",
                &format!("{web}/login/device/code"),
            )?))
            .set_token_uri(TokenUrl::from_url(token_url.clone()))
            .set_redirect_uri(RedirectUrl::from_url(parse_url("public_url", &redirect)?));
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // A token endpoint that redirects is not one to follow with a client secret.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .context("building the GitHub HTTP client")?;
        Ok(Some(GithubOAuth {
            oauth,
            http,
            client_id: client_id.to_owned(),
            token_url,
            user_url: parse_url("github.api_url", &format!("{api}/user"))?,
            emails_url: parse_url("github.api_url", &format!("{api}/user/emails"))?,
        }))
    }

    /// Where to send the browser to sign in, and what its callback must be checked against.
    pub fn authorize_url(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(SCOPES.map(|s| Scope::new(s.to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingLogin {
            state: state.into_secret(),
            pkce_verifier: verifier.into_secret(),
        };
        (url, pending)
    }

    /// Trades the code the callback received for an access token.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<GithubAccess, GithubError> {
        let http = self.http.clone();
        let send = move |request| send_oauth(http.clone(), request);
        let token: BasicTokenResponse = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&send)
            .await
            .map_err(|err| oauth_error(err, "token"))?;
        Ok(GithubAccess::new(token.access_token().secret().as_str()))
    }

    /// Who the token belongs to: `GET /user`, then `GET /user/emails` for the primary
    /// verified address when the profile shows no public one.
    pub async fn user(&self, access: &GithubAccess) -> Result<GithubUser, GithubError> {
        let mut user: GithubUser = self.get_json(&self.user_url, access).await?;
        if user.email.is_none() {
            user.email = self.primary_email(access).await?;
        }
        Ok(user)
    }

    /// Starts a device flow (`POST /login/device/code`).
    pub async fn device_code(&self) -> Result<DeviceCode, GithubError> {
        let http = self.http.clone();
        let send = move |request| send_oauth(http.clone(), request);
        let answer: StandardDeviceAuthorizationResponse = self
            .oauth
            .exchange_device_code()
            .add_scopes(SCOPES.map(|s| Scope::new(s.to_owned())))
            .request_async(&send)
            .await
            .map_err(|err| oauth_error(err, "device code"))?;
        Ok(DeviceCode {
            device_code: answer.device_code().secret().clone(),
            user_code: answer.user_code().secret().clone(),
            verification_uri: answer.verification_uri().to_string(),
            expires_in: answer.expires_in().as_secs(),
            interval: answer.interval().as_secs(),
        })
    }

    /// Polls the token endpoint once for a device flow's outcome.
    pub async fn poll_device(&self, device_code: &str) -> Result<DevicePoll, GithubError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("device_code", device_code)
            .append_pair("grant_type", DEVICE_GRANT)
            .finish();
        let response = self
            .http
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|err| unavailable("polling the device flow", &err))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| unavailable("reading a device flow poll", &err))?;
        // Parse before judging the status: GitHub sends its error codes with a 200.
        let Ok(answer) = serde_json::from_slice::<DevicePollBody>(&bytes) else {
            return Err(GithubError::Unavailable(format!(
                "GitHub answered a device flow poll with {status} and no usable JSON"
            )));
        };
        if let Some(token) = answer.access_token.filter(|_| status.is_success()) {
            return Ok(DevicePoll::Authorized(GithubAccess { token }));
        }
        match answer.error.as_deref() {
            Some("authorization_pending") => Ok(DevicePoll::Pending),
            Some("slow_down") => Ok(DevicePoll::SlowDown {
                interval: answer.interval.unwrap_or(FALLBACK_SLOW_DOWN_SECS),
            }),
            Some("expired_token") => Ok(DevicePoll::Expired),
            Some("access_denied") => Ok(DevicePoll::Denied),
            Some(code) if !status.is_server_error() => Err(GithubError::Rejected {
                code: code.to_owned(),
                message: answer.error_description.unwrap_or_default(),
            }),
            _ => Err(GithubError::Unavailable(format!(
                "GitHub answered a device flow poll with {status} and neither a token nor an error"
            ))),
        }
    }

    /// The primary verified address from `GET /user/emails`; None when there is none, or
    /// when the token may not read addresses (a GitHub App without that permission).
    async fn primary_email(&self, access: &GithubAccess) -> Result<Option<String>, GithubError> {
        let emails: Vec<EmailEntry> = match self.get_json(&self.emails_url, access).await {
            Ok(emails) => emails,
            Err(GithubError::Rejected { code, .. })
                if code == "forbidden" || code == "not_found" =>
            {
                tracing::warn!(%code, "GitHub did not list the user's email addresses");
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        Ok(emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .map(|e| e.email))
    }

    /// An authenticated REST GET, its JSON answer decoded into `T`.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        access: &GithubAccess,
    ) -> Result<T, GithubError> {
        let path = url.path();
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(access.token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .send()
            .await
            .map_err(|err| unavailable(&format!("GET {path}"), &err))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| unavailable(&format!("reading GET {path}"), &err))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| {
                GithubError::Unavailable(format!("GitHub's answer to GET {path} did not parse"))
            });
        }
        let message = serde_json::from_slice::<ApiErrorBody>(&bytes)
            .ok()
            .and_then(|body| body.message)
            .unwrap_or_default();
        // A rate limit is a 403 or 429 too, but it passes: report it as unavailable.
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || message.to_ascii_lowercase().contains("rate limit");
        let code = match status {
            StatusCode::UNAUTHORIZED => "bad_credentials",
            StatusCode::FORBIDDEN if !rate_limited => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            _ => {
                return Err(GithubError::Unavailable(format!(
                    "GitHub answered GET {path} with {status}: {message}"
                )));
            }
        };
        Err(GithubError::Rejected {
            code: code.to_owned(),
            message,
        })
    }
}

/// `oauth2`'s HTTP client: one request through reqwest, the answer handed back whole.
async fn send_oauth(
    client: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let response = client.execute(reqwest::Request::try_from(request)?).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut answer = http::Response::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// Maps an `oauth2` failure on the `endpoint` ("token", "device code") to a [`GithubError`].
fn oauth_error(
    err: RequestTokenError<reqwest::Error, BasicErrorResponse>,
    endpoint: &str,
) -> GithubError {
    match err {
        RequestTokenError::ServerResponse(answer) => GithubError::Rejected {
            code: answer.error().as_ref().to_owned(),
            message: answer.error_description().cloned().unwrap_or_default(),
        },
        RequestTokenError::Request(err) => {
            unavailable(&format!("calling the {endpoint} endpoint"), &err)
        }
        // GitHub's 200-with-`error` lands here, as a token response that did not parse. The
        // parse error and body are never shown: they may hold a token.
        RequestTokenError::Parse(_, body) => {
            match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(refusal) => GithubError::Rejected {
                    code: refusal.error,
                    message: refusal.error_description.unwrap_or_default(),
                },
                Err(_) => GithubError::Unavailable(format!(
                    "GitHub's {endpoint} endpoint answered something unparseable"
                )),
            }
        }
        RequestTokenError::Other(reason) => {
            GithubError::Unavailable(format!("GitHub's {endpoint} endpoint: {reason}"))
        }
    }
}

/// An unavailable error naming what was being done and the transport's chain of causes.
fn unavailable(doing: &str, err: &(dyn std::error::Error + 'static)) -> GithubError {
    let mut message = format!("{doing}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    GithubError::Unavailable(message)
}

/// Parses a URL built from the setting named `setting`, saying which one is wrong.
fn parse_url(setting: &str, url: &str) -> anyhow::Result<Url> {
    use anyhow::Context;
    Url::parse(url).with_context(|| format!("{setting} gives an invalid URL: {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;

    fn settings(client_id: Option<&str>) -> GithubSettings {
        GithubSettings {
            web_url: "https://github.example/".into(),
            api_url: "https://api.github.example".into(),
            client_id: client_id.map(str::to_owned),
            client_secret: Some(SecretString::from("shh".to_owned())),
            ..shared::config::Settings::default().github
        }
    }

    fn client() -> GithubOAuth {
        GithubOAuth::new(&settings(Some("Iv1.abc")), "https://switchyard.example/")
            .expect("valid settings")
            .expect("configured")
    }

    fn query(url: &Url) -> HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn no_client_id_means_sign_in_is_off() {
        let off = GithubOAuth::new(&settings(None), "https://switchyard.example")
            .expect("valid settings");
        assert!(off.is_none());
    }

    #[test]
    fn client_id_without_secret_is_a_configuration_error() {
        let mut settings = settings(Some("Iv1.abc"));
        settings.client_secret = None;
        assert!(GithubOAuth::new(&settings, "https://switchyard.example").is_err());
    }

    #[test]
    fn authorize_url_asks_for_a_code_with_pkce_state_scopes_and_callback() {
        let (url, pending) = client().authorize_url();
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://github.example/login/oauth/authorize")
        );
        let query = query(&url);
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "Iv1.abc");
        assert_eq!(
            query["redirect_uri"],
            "https://switchyard.example/api/v1/auth/github/callback"
        );
        assert_eq!(query["scope"], "read:user user:email");
        assert_eq!(query["state"], pending.state);
        assert!(pending.state.len() >= 16);
        assert_eq!(query["code_challenge_method"], "S256");
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.pkce_verifier.as_bytes()));
        assert_eq!(query["code_challenge"], challenge);
        assert!(!url.as_str().contains(&pending.pkce_verifier));
        assert!(!url.as_str().contains("shh"));
    }

    #[test]
    fn each_authorize_url_has_its_own_state_and_verifier() {
        let client = client();
        let (_, first) = client.authorize_url();
        let (_, second) = client.authorize_url();
        assert_ne!(first.state, second.state);
        assert_ne!(first.pkce_verifier, second.pkce_verifier);
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let client = client();
        let (_, pending) = client.authorize_url();
        assert!(!format!("{pending:?}").contains(&pending.pkce_verifier));
        assert!(!format!("{:?}", GithubAccess::new("gho_secret")).contains("gho_secret"));
        assert!(!format!("{client:?}").contains("shh"));
    }
}
