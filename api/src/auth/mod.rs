//! Who is calling: an org API token or a signed-in person, checked by extractors that
//! also enforce the route's permission.
//!
//! - `Authorization: Bearer sy_...` is an org API token, looked up by its SHA-256 hash.
//! - `Authorization: Bearer <jwt>` or the `sy_access` cookie is a person's access token
//!   (see [`jwt`]); its session must still be live, so logout takes effect at once.
//!   A write authenticated by the cookie must echo the session's CSRF token in
//!   `X-CSRF-Token` (see [`sessions::csrf_token`]).
//!
//! A missing, garbled, unknown, revoked or expired credential answers 401. A caller that
//! is not in the `{org}` of the path (a token of another org, a person who is not a
//! member) answers 404, never 403, so ids do not leak across orgs. A caller in the org
//! without the route's scope answers 403. People hold the scopes of their role
//! ([`MemberRole::scopes`]); the `admin` scope grants all.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::future::LocalBoxFuture;
use shared::db::models::{ApiToken, Organization, User};
use shared::db::schema::{api_tokens, memberships, organizations, user_sessions, users};
use shared::domain::{ActorType, MemberRole, TokenScope};
use std::marker::PhantomData;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub mod github;
pub mod jwt;
pub mod people;
pub mod revocation;
pub mod sessions;
pub mod tokens;

/// The cookies the api sets, by what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCookie {
    /// The dashboard's access token (HttpOnly).
    Access,
    /// The dashboard's refresh token (HttpOnly, sent to `/api/v1/auth` only).
    Refresh,
    /// The CSRF token the dashboard echoes in [`CSRF_HEADER`] (readable by the page).
    Csrf,
    /// The pending GitHub sign-in's state (HttpOnly, sent to `/api/v1/auth/github` only).
    OauthState,
}

impl AuthCookie {
    /// Its name in this deployment. Behind an https public URL the cookies on `/` carry
    /// `__Host-` (a browser takes them only over https, from this very host, with no
    /// `Domain`: a sibling subdomain cannot plant or overwrite one) and the path-scoped
    /// ones `__Secure-` (`__Host-` requires path `/`). Plain http, which only development
    /// on loopback serves, cannot carry either prefix.
    pub fn name(self, settings: &shared::config::Settings) -> &'static str {
        let prefixed = cookies_prefixed(settings);
        match (self, prefixed) {
            (AuthCookie::Access, false) => "sy_access",
            (AuthCookie::Access, true) => "__Host-sy_access",
            (AuthCookie::Refresh, false) => "sy_refresh",
            (AuthCookie::Refresh, true) => "__Secure-sy_refresh",
            (AuthCookie::Csrf, false) => "sy_csrf",
            (AuthCookie::Csrf, true) => "__Host-sy_csrf",
            (AuthCookie::OauthState, false) => "sy_oauth_state",
            (AuthCookie::OauthState, true) => "__Secure-sy_oauth_state",
        }
    }
}

/// Whether cookie names carry `__Host-` / `__Secure-`: an https public URL.
pub fn cookies_prefixed(settings: &shared::config::Settings) -> bool {
    settings
        .api
        .public_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// Whether cookies are marked `Secure`: as configured, and always when prefixed (a
/// browser refuses a prefixed cookie without it).
pub fn cookie_secure(settings: &shared::config::Settings) -> bool {
    settings.auth.cookie_secure || cookies_prefixed(settings)
}
/// Header a cookie-authenticated write must carry, equal to the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The credential a request presents, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An org API token (`Authorization: Bearer sy_...`).
    ApiToken(String),
    /// A person's access token (a JWT), from the bearer header or the session cookie.
    Access {
        token: String,
        from_cookie: bool,
    },
    None,
}

/// Reads the request's credential: the `Authorization` header wins over the cookie.
pub fn credential(req: &HttpRequest) -> Credential {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let Some((scheme, secret)) = value.trim().split_once(' ') else {
            return Credential::None;
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Credential::None;
        }
        let secret = secret.trim();
        if tokens::looks_valid(secret) {
            return Credential::ApiToken(secret.to_owned());
        }
        if secret.len() <= MAX_JWT_LEN && secret.split('.').count() == 3 {
            return Credential::Access {
                token: secret.to_owned(),
                from_cookie: false,
            };
        }
        return Credential::None;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Credential::None;
    };
    match req.cookie(AuthCookie::Access.name(&state.settings)) {
        Some(cookie) if cookie.value().len() <= MAX_JWT_LEN => Credential::Access {
            token: cookie.value().to_owned(),
            from_cookie: true,
        },
        _ => Credential::None,
    }
}

/// Our access tokens are a few hundred bytes; anything much longer is not one.
const MAX_JWT_LEN: usize = 4096;

/// A scope a route requires, as a type so each handler states it in its signature.
pub trait RequiredScope {
    const SCOPE: TokenScope;
}

/// Reading anything in the org.
pub struct Read;
/// Creating, changing and deleting projects and tasks.
pub struct Write;
/// Starting, stopping and following up attempts.
pub struct Runs;
/// Org administration: members, invitations, tokens, secrets, the audit log.
pub struct Admin;

impl RequiredScope for Read {
    const SCOPE: TokenScope = TokenScope::Read;
}
impl RequiredScope for Write {
    const SCOPE: TokenScope = TokenScope::Write;
}
impl RequiredScope for Runs {
    const SCOPE: TokenScope = TokenScope::Runs;
}
impl RequiredScope for Admin {
    const SCOPE: TokenScope = TokenScope::Admin;
}

/// `last_used_at` is refreshed at most this often per token.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// The caller behind a request.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A signed-in person, in one sign-in session.
    User {
        id: Uuid,
        login: String,
        session_id: Uuid,
    },
    /// An org API token.
    Token { id: Uuid, name: String },
}

impl Actor {
    pub fn kind(&self) -> ActorType {
        match self {
            Actor::User { .. } => ActorType::User,
            Actor::Token { .. } => ActorType::Token,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Actor::User { id, .. } | Actor::Token { id, .. } => *id,
        }
    }

    /// The user id, for a person.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::User { id, .. } => Some(*id),
            Actor::Token { .. } => None,
        }
    }

    /// How the audit log names the actor.
    pub fn label(&self) -> &str {
        match self {
            Actor::User { login, .. } => login,
            Actor::Token { name, .. } => name,
        }
    }
}

/// Who acted in which org: left in the request's extensions for the audit log.
#[derive(Debug, Clone)]
pub struct AuditActor {
    pub org_id: Uuid,
    pub actor: Actor,
}

/// An authenticated caller acting in the org of the request path, holding scope `S`.
pub struct OrgAuth<S: RequiredScope> {
    /// The org as authentication found it. Its id and slug never change; for a token its
    /// other fields may be up to `api.streams.access_cache_ms` old (the token cache), so
    /// a route that answers with them reads the row.
    pub org: Organization,
    pub actor: Actor,
    /// The person's role in the org (`None` for a token).
    pub role: Option<MemberRole>,
    /// Authenticated by the dashboard's session cookie (not a bearer header), so the
    /// request came from the web UI.
    pub from_dashboard: bool,
    /// When the credential stops working by itself: the token's expiry (`None`: until
    /// revoked), or for a person the earlier of the access token's and the session's.
    /// Long-lived responses (event streams) end then.
    pub expires_at: Option<DateTime<Utc>>,
    scopes: Vec<TokenScope>,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> OrgAuth<S> {
    /// The org every query of this request is scoped to.
    pub fn org_id(&self) -> Uuid {
        self.org.id
    }

    /// Whether the caller administers the org (an owner, an admin, or an `admin` token):
    /// what may see members' email addresses, for one.
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&TokenScope::Admin)
    }
}

impl<S: RequiredScope + 'static> FromRequest for OrgAuth<S> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let slug = req.match_info().get("org").map(str::to_owned);
        let credential = credential(req);
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no AppState")))?;
            let slug = slug.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("org auth on a route without {{org}}"))
            })?;
            let from_dashboard = matches!(
                credential,
                Credential::Access {
                    from_cookie: true,
                    ..
                }
            );
            let (org, actor, role, scopes, expires_at) = match credential {
                Credential::None => return Err(ApiError::Unauthorized),
                Credential::ApiToken(secret) => {
                    let (token, org) = authenticate_token(&state, &secret).await?;
                    if org.slug != slug {
                        return Err(ApiError::NotFound("organization"));
                    }
                    let scopes: Vec<TokenScope> = token
                        .scopes
                        .iter()
                        .flatten()
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    let expires_at = token.expires_at;
                    let actor = Actor::Token {
                        id: token.id,
                        name: token.name,
                    };
                    (org, actor, None, scopes, expires_at)
                }
                Credential::Access { token, from_cookie } => {
                    let person = authenticate_person(&state, &req, &token, from_cookie).await?;
                    let (org, role) = membership(&state, &slug, person.user.id).await?;
                    let actor = Actor::User {
                        id: person.user.id,
                        login: person.user.login,
                        session_id: person.session_id,
                    };
                    let expires_at = Some(person.expires_at);
                    (org, actor, Some(role), role.scopes().to_vec(), expires_at)
                }
            };
            if !(scopes.contains(&S::SCOPE) || scopes.contains(&TokenScope::Admin)) {
                return Err(ApiError::Forbidden(S::SCOPE));
            }
            tracing::Span::current().record("org.id", tracing::field::display(org.id));
            req.extensions_mut().insert(AuditActor {
                org_id: org.id,
                actor: actor.clone(),
            });
            Ok(OrgAuth {
                org,
                actor,
                role,
                from_dashboard,
                expires_at,
                scopes,
                _scope: PhantomData,
            })
        })
    }
}

/// A signed-in person, outside any org (their profile, their orgs, sign-out).
pub struct UserAuth {
    pub user: User,
    pub session_id: Uuid,
    /// The earlier of the access token's expiry and the session's.
    pub expires_at: DateTime<Utc>,
}

impl FromRequest for UserAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credential = credential(req);
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no AppState")))?;
            match credential {
                Credential::None => Err(ApiError::Unauthorized),
                Credential::ApiToken(_) => Err(ApiError::refused(
                    ErrorCode::PersonRequired,
                    "this route is for signed-in people; org API tokens cannot use it",
                )),
                Credential::Access { token, from_cookie } => {
                    authenticate_person(&state, &req, &token, from_cookie).await
                }
            }
        })
    }
}

/// Checks an access token, its session, and for a cookie-authenticated write the CSRF
/// header.
async fn authenticate_person(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    from_cookie: bool,
) -> Result<UserAuth, ApiError> {
    let claims = state.signer.verify(token).ok_or(ApiError::Unauthorized)?;
    if from_cookie && !req.method().is_safe() {
        sessions::check_csrf(state, req, claims.sid)?;
    }
    let mut conn = state.db.untenanted().await?;
    let found: Option<(User, DateTime<Utc>)> = user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::id.eq(claims.sid))
        .filter(user_sessions::user_id.eq(claims.sub))
        .filter(user_sessions::revoked_at.is_null())
        .filter(user_sessions::expires_at.gt(diesel::dsl::now))
        .select((User::as_select(), user_sessions::expires_at))
        .first(&mut conn)
        .await
        .optional()?;
    let (user, session_expires_at) = found.ok_or(ApiError::Unauthorized)?;
    let token_expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(session_expires_at);
    Ok(UserAuth {
        user,
        session_id: claims.sid,
        expires_at: token_expires_at.min(session_expires_at),
    })
}

/// The org named `slug` and the person's role in it; not a member answers 404.
async fn membership(
    state: &AppState,
    slug: &str,
    user_id: Uuid,
) -> Result<(Organization, MemberRole), ApiError> {
    let mut conn = state.db.system().await?;
    let found: Option<(Organization, MemberRole)> = organizations::table
        .inner_join(memberships::table)
        .filter(organizations::slug.eq(slug))
        .filter(memberships::user_id.eq(user_id))
        .select((Organization::as_select(), memberships::role))
        .first(&mut conn)
        .await
        .optional()?;
    found.ok_or(ApiError::NotFound("organization"))
}

/// Finds the live token and its org (from this replica's recent reads while they last,
/// see [`revocation::AccessCache`]); refreshes `last_used_at` when it is stale.
async fn authenticate_token(
    state: &AppState,
    secret: &str,
) -> Result<(ApiToken, Organization), ApiError> {
    let hash = tokens::hash(secret);
    let (token, org) = match state.access.token(&hash) {
        Some(found) => found,
        None => {
            let generation = state.access.current_generation();
            let found = read_token(state, &hash)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            state.access.put_token(hash, found.clone(), generation);
            found
        }
    };
    if !is_live(&token, Utc::now()) {
        return Err(ApiError::Unauthorized);
    }
    Ok((token, org))
}

/// Neither revoked nor expired at `now`.
fn is_live(token: &ApiToken, now: DateTime<Utc>) -> bool {
    token.revoked_at.is_none_or(|at| at > now) && token.expires_at.is_none_or(|at| at > now)
}

/// The token with this hash and its org, from the database; touches `last_used_at`
/// when it is stale.
async fn read_token(
    state: &AppState,
    hash: &[u8],
) -> Result<Option<(ApiToken, Organization)>, ApiError> {
    let mut conn = state.db.system().await?;
    let found: Option<(ApiToken, Organization)> = api_tokens::table
        .inner_join(organizations::table)
        .filter(api_tokens::token_hash.eq(hash))
        .select((ApiToken::as_select(), Organization::as_select()))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((token, _)) = &found else {
        return Ok(None);
    };
    let now = Utc::now();
    if is_live(token, now) && token.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        // Best effort: a failed touch must not fail the request it accompanies.
        let touched = diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await;
        if let Err(e) = touched {
            tracing::warn!(token.id = %token.id, error = %e, "could not record token use");
        }
    }
    Ok(found)
}
