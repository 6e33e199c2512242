//! Sign-in sessions: started after GitHub (or development) sign-in, kept alive by
//! rotating refresh tokens, ended by logout or by the replay of a used refresh token.
//!
//! A session row is the family of its refresh tokens. Each refresh token is used once:
//! exchanging it marks it used and issues the next. Presenting a used one again means
//! it was copied, so the whole session is revoked, which also ends every access token
//! minted for it (they name the session, and [`super::authenticate_person`] checks it).

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponseBuilder};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{RefreshToken, UserSession};
use shared::db::schema::{refresh_tokens, user_sessions};
use shared::domain::SessionMethod;
use uuid::Uuid;

use super::revocation::Revoked;
use super::{AuthCookie, CSRF_HEADER, cookie_secure};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Refresh tokens start with this, so they are told apart from API tokens where they leak.
pub const REFRESH_PREFIX: &str = "syr_";
/// Where the browser sends the refresh cookie: the auth routes only.
const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";
const MAX_USER_AGENT: usize = 512;

/// What a sign-in or a refresh hands the client.
pub struct Issued {
    pub session_id: Uuid,
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    pub session_expires_at: DateTime<Utc>,
    pub csrf_token: String,
}

/// Starts a session for `user_id` and issues its first tokens.
pub async fn start(
    state: &AppState,
    user_id: Uuid,
    method: SessionMethod,
    req: &HttpRequest,
) -> Result<Issued, ApiError> {
    let ttl = TimeDelta::seconds(i64::try_from(state.settings.auth.session_ttl_secs).unwrap_or(0));
    let now = Utc::now();
    let session = UserSession {
        id: Uuid::now_v7(),
        user_id,
        method,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        source_ip: state.trusted_proxies.client(req).map(|ip| ip.to_string()),
        expires_at: now + ttl,
        revoked_at: None,
        revoke_reason: None,
        created_at: now,
        updated_at: now,
    };
    let minted = crate::auth::tokens::mint_secret(REFRESH_PREFIX);
    let mut conn = state.db.untenanted().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        diesel::insert_into(user_sessions::table)
            .values(&session)
            .execute(conn)
            .await?;
        insert_refresh(conn, session.id, &minted.hash, session.expires_at).await
    })
    .await?;
    issue(
        state,
        user_id,
        session.id,
        minted.secret,
        session.expires_at,
    )
}

/// Why a refresh was refused.
enum Rotation {
    Rotated(Issued),
    /// The session (revoked) whose used refresh token came back.
    Replayed(Uuid),
}

/// Exchanges a refresh token for new tokens. `csrf` is checked against the session when
/// the token came from the cookie (`Some(header value)`).
pub async fn refresh(
    state: &AppState,
    secret: &str,
    csrf: Option<Option<&str>>,
) -> Result<Issued, ApiError> {
    let invalid = || {
        ApiError::auth_failed(
            ErrorCode::InvalidRefreshToken,
            "the refresh token is not valid",
        )
    };
    if !secret.starts_with(REFRESH_PREFIX) || secret.len() > 128 {
        return Err(invalid());
    }
    let hash = crate::auth::tokens::hash(secret);
    let minted = crate::auth::tokens::mint_secret(REFRESH_PREFIX);
    let mut conn = state.db.untenanted().await?;
    let outcome = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // The row locks make two racing uses of one token one rotation and one replay.
            let found: Option<(RefreshToken, UserSession)> = refresh_tokens::table
                .inner_join(user_sessions::table)
                .filter(refresh_tokens::token_hash.eq(&hash))
                .select((RefreshToken::as_select(), UserSession::as_select()))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let (token, session) = found.ok_or_else(invalid)?;
            if let Some(presented) = csrf
                && !presented.is_some_and(|p| state.signer.csrf_matches(session.id, p))
            {
                return Err(csrf_failed());
            }
            let now = Utc::now();
            if session.revoked_at.is_some() || session.expires_at <= now {
                return Err(ApiError::auth_failed(
                    ErrorCode::SessionRevoked,
                    "this session has ended: sign in again",
                ));
            }
            if token.used_at.is_some() {
                revoke_in(conn, session.id, "refresh token replayed").await?;
                return Ok(Rotation::Replayed(session.id));
            }
            if token.expires_at <= now {
                return Err(invalid());
            }
            diesel::update(refresh_tokens::table.find(token.id))
                .set(refresh_tokens::used_at.eq(diesel::dsl::now))
                .execute(conn)
                .await?;
            insert_refresh(conn, session.id, &minted.hash, session.expires_at).await?;
            let issued = issue(
                state,
                session.user_id,
                session.id,
                minted.secret.clone(),
                session.expires_at,
            )?;
            Ok(Rotation::Rotated(issued))
        })
        .await?;
    match outcome {
        Rotation::Rotated(issued) => Ok(issued),
        Rotation::Replayed(session_id) => {
            tracing::warn!("a used refresh token was presented again: session revoked");
            super::revocation::announce(state, &[Revoked::Session(session_id)]).await;
            Err(ApiError::auth_failed(
                ErrorCode::RefreshTokenReused,
                "this refresh token was already used; the session has been revoked for safety",
            ))
        }
    }
}

/// Ends a session: its refresh tokens and access tokens stop working at once, and the
/// event streams it holds open close at their next heartbeat.
pub async fn revoke(state: &AppState, session_id: Uuid, reason: &str) -> Result<(), ApiError> {
    let mut conn = state.db.untenanted().await?;
    revoke_in(&mut conn, session_id, reason).await?;
    drop(conn);
    super::revocation::announce(state, &[Revoked::Session(session_id)]).await;
    Ok(())
}

/// The session a refresh token belongs to, used or not (for logout by refresh token).
pub async fn session_of_refresh(state: &AppState, secret: &str) -> Result<Option<Uuid>, ApiError> {
    let mut conn = state.db.untenanted().await?;
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(crate::auth::tokens::hash(secret)))
        .select(refresh_tokens::session_id)
        .first(&mut conn)
        .await
        .optional()?)
}

async fn revoke_in(
    conn: &mut shared::db::Conn,
    session_id: Uuid,
    reason: &str,
) -> Result<(), ApiError> {
    diesel::update(user_sessions::table.find(session_id))
        .filter(user_sessions::revoked_at.is_null())
        .set((
            user_sessions::revoked_at.eq(diesel::dsl::now),
            user_sessions::revoke_reason.eq(reason),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_refresh(
    conn: &mut shared::db::Conn,
    session_id: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::now_v7()),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

fn issue(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    refresh_token: String,
    session_expires_at: DateTime<Utc>,
) -> Result<Issued, ApiError> {
    Ok(Issued {
        session_id,
        access_token: state.signer.mint(user_id, session_id)?,
        expires_in: state.signer.ttl_secs(),
        refresh_token,
        session_expires_at,
        csrf_token: state.signer.csrf_token(session_id),
    })
}

fn csrf_failed() -> ApiError {
    ApiError::refused(
        ErrorCode::CsrfFailed,
        format!(
            "a cookie-authenticated write must send the sy_csrf cookie's value in {CSRF_HEADER}"
        ),
    )
}

/// A cookie-authenticated write must carry the session's CSRF token in the header.
pub fn check_csrf(state: &AppState, req: &HttpRequest, session_id: Uuid) -> Result<(), ApiError> {
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match presented {
        Some(p) if state.signer.csrf_matches(session_id, p) => Ok(()),
        _ => Err(csrf_failed()),
    }
}

/// The CSRF header of a request, for checks made after the session is known.
pub fn csrf_header(req: &HttpRequest) -> Option<&str> {
    req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// Sets the dashboard's cookies: the access token (HttpOnly), the refresh token (HttpOnly,
/// auth routes only) and the CSRF token (readable by the page, to echo in the header).
pub fn set_cookies(response: &mut HttpResponseBuilder, state: &AppState, issued: &Issued) {
    let secure = cookie_secure(&state.settings);
    let session_left = (issued.session_expires_at - Utc::now())
        .num_seconds()
        .max(0);
    response.cookie(
        Cookie::build(
            AuthCookie::Access.name(&state.settings),
            issued.access_token.clone(),
        )
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(issued.expires_in))
        .finish(),
    );
    response.cookie(
        Cookie::build(
            AuthCookie::Refresh.name(&state.settings),
            issued.refresh_token.clone(),
        )
        .path(REFRESH_COOKIE_PATH)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(session_left))
        .finish(),
    );
    response.cookie(
        Cookie::build(
            AuthCookie::Csrf.name(&state.settings),
            issued.csrf_token.clone(),
        )
        .path("/")
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(session_left))
        .finish(),
    );
}

/// Expires the dashboard's cookies (logout).
pub fn clear_cookies(response: &mut HttpResponseBuilder, state: &AppState) {
    let secure = cookie_secure(&state.settings);
    for (which, path) in [
        (AuthCookie::Access, "/"),
        (AuthCookie::Refresh, REFRESH_COOKIE_PATH),
        (AuthCookie::Csrf, "/"),
    ] {
        let mut cookie = Cookie::build(which.name(&state.settings), "")
            .path(path)
            .secure(secure)
            .finish();
        cookie.make_removal();
        response.cookie(cookie);
    }
}
