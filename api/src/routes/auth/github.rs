//! `GET /auth/github/login` and `GET /auth/github/callback`: sign-in with GitHub in a
//! browser (authorization code with PKCE).
//!
//! The login route draws a state and a PKCE verifier, keeps them in Redis for ten
//! minutes, binds the state to the browser with a short-lived cookie, and redirects to
//! GitHub. The callback accepts the code only with the same state in both the query and
//! the cookie, and only once (the Redis entry is taken with GETDEL).

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use shared::domain::SessionMethod;
use shared::wire::ErrorBody;
use utoipa::IntoParams;

use crate::auth::github::GithubError;
use crate::auth::{AuthCookie, cookie_secure, people, sessions};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Cookie binding a pending sign-in to the browser that started it.
const STATE_COOKIE_PATH: &str = "/api/v1/auth/github";
/// How long a person has to finish signing in at GitHub.
const PENDING_SECS: u64 = 600;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// A path of the dashboard to land on afterwards (default `/`).
    pub return_to: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    pkce_verifier: String,
    return_to: String,
}

/// Starts a GitHub sign-in: redirects the browser to GitHub's consent page.
#[utoipa::path(get, path = "/api/v1/auth/github/login", tag = "auth",
    params(LoginQuery),
    responses(
        (status = 302, description = "To GitHub"),
        (status = 404, description = "GitHub sign-in is not configured", body = ErrorBody),
    ),
)]
pub async fn login(
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> ApiResult<HttpResponse> {
    let github = state.github.as_ref().ok_or_else(not_configured)?;
    let return_to = safe_return_to(query.return_to.as_deref());
    let (url, pending) = github.authorize_url();
    let value = serde_json::to_string(&Pending {
        pkce_verifier: pending.pkce_verifier,
        return_to,
    })
    .map_err(anyhow::Error::from)?;
    let mut redis = state.redis();
    let _: () = redis
        .set_ex(state.keys.oauth_state(&pending.state), value, PENDING_SECS)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url.to_string()))
        .cookie(
            Cookie::build(AuthCookie::OauthState.name(&state.settings), pending.state)
                .path(STATE_COOKIE_PATH)
                .http_only(true)
                .secure(cookie_secure(&state.settings))
                // Lax: the cookie must come back on GitHub's top-level redirect.
                .same_site(SameSite::Lax)
                .max_age(time::Duration::seconds(PENDING_SECS as i64))
                .finish(),
        )
        .finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by GitHub when the person declined.
    pub error: Option<String>,
}

/// Where GitHub sends the browser back: checks the state, exchanges the code, signs the
/// person in (cookies) and redirects to the dashboard.
#[utoipa::path(get, path = "/api/v1/auth/github/callback", tag = "auth",
    params(CallbackQuery),
    responses(
        (status = 302, description = "Signed in: to the dashboard"),
        (status = 400, description = "State mismatch, expired or replayed sign-in, or declined", body = ErrorBody),
        (status = 404, description = "GitHub sign-in is not configured", body = ErrorBody),
        (status = 502, description = "GitHub failed", body = ErrorBody),
    ),
)]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> ApiResult<HttpResponse> {
    let github = state.github.as_ref().ok_or_else(not_configured)?;
    if let Some(error) = &query.error {
        return Err(ApiError::bad_request(
            ErrorCode::OauthDenied,
            format!("GitHub did not sign you in ({error})"),
        ));
    }
    let (Some(code), Some(oauth_state)) = (&query.code, &query.state) else {
        return Err(ApiError::bad_request(
            ErrorCode::OauthStateMismatch,
            "the callback lacks its code or state",
        ));
    };
    let cookie = req.cookie(AuthCookie::OauthState.name(&state.settings));
    let bound = cookie.as_ref().is_some_and(|c| {
        use subtle::ConstantTimeEq;
        bool::from(c.value().as_bytes().ct_eq(oauth_state.as_bytes()))
    });
    if !bound || oauth_state.len() > 128 {
        return Err(state_mismatch());
    }
    let mut redis = state.redis();
    let pending: Option<String> = redis
        .get_del(state.keys.oauth_state(oauth_state))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let pending: Pending = pending
        .and_then(|p| serde_json::from_str(&p).ok())
        .ok_or_else(state_mismatch)?;
    let access = github
        .exchange_code(code, &pending.pkce_verifier)
        .await
        .map_err(github_error)?;
    let gh_user = github.user(&access).await.map_err(github_error)?;
    let user = people::upsert_github_user(&state, &gh_user).await?;
    let issued = sessions::start(&state, user.id, SessionMethod::Web, &req).await?;
    let mut response = HttpResponse::Found();
    response.insert_header((header::LOCATION, pending.return_to));
    sessions::set_cookies(&mut response, &state, &issued);
    let mut gone = Cookie::build(AuthCookie::OauthState.name(&state.settings), "")
        .path(STATE_COOKIE_PATH)
        .secure(cookie_secure(&state.settings))
        .finish();
    gone.make_removal();
    response.cookie(gone);
    Ok(response.finish())
}

/// Only a path on this site: never another host (`//evil`, `https://...`).
fn safe_return_to(requested: Option<&str>) -> String {
    match requested {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && p.len() <= 2048
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".into(),
    }
}

fn state_mismatch() -> ApiError {
    ApiError::bad_request(
        ErrorCode::OauthStateMismatch,
        "this sign-in was not started by this browser, expired, or was already used: start again",
    )
}

pub(super) fn not_configured() -> ApiError {
    ApiError::NotFound("GitHub sign-in (not configured on this server)")
}

/// GitHub refusing a grant is the client's problem (400); GitHub failing is a 502.
pub(super) fn github_error(e: GithubError) -> ApiError {
    match e {
        GithubError::Rejected { code, message } => ApiError::bad_request(
            ErrorCode::GithubRejected,
            format!("GitHub refused the sign-in: {code}: {message}"),
        ),
        GithubError::Unavailable(cause) => ApiError::Upstream(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(safe_return_to(Some("/orgs/acme/board")), "/orgs/acme/board");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "board",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
