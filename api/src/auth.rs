//! Org API token authentication, as an extractor that also checks the route's scope.
//!
//! `Authorization: Bearer sy_...` is looked up by its SHA-256 hash. A missing, garbled,
//! unknown, revoked or expired token answers 401. A valid token for another org than the
//! `{org}` in the path answers 404 (never 403: ids must not leak across orgs). A token of
//! the right org without the route's scope answers 403. The `admin` scope grants all.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::future::LocalBoxFuture;
use shared::db::models::{ApiToken, Organization};
use shared::db::schema::{api_tokens, organizations};
use shared::domain::TokenScope;
use std::marker::PhantomData;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

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
/// Org administration: secrets (whose names alone say which services the org uses).
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

/// An authenticated caller acting in the org of the request path, holding scope `S`.
pub struct OrgAuth<S: RequiredScope> {
    pub org: Organization,
    pub token_id: Uuid,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> OrgAuth<S> {
    /// The org every query of this request is scoped to.
    pub fn org_id(&self) -> Uuid {
        self.org.id
    }
}

impl<S: RequiredScope + 'static> FromRequest for OrgAuth<S> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let slug = req.match_info().get("org").map(str::to_owned);
        let secret = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no AppState")))?;
            let slug = slug.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("org auth on a route without {{org}}"))
            })?;
            let secret = secret.ok_or(ApiError::Unauthorized)?;
            let (token, org) = authenticate(&state, &secret).await?;
            if org.slug != slug {
                return Err(ApiError::NotFound("organization"));
            }
            let scopes: Vec<&str> = token.scopes.iter().flatten().map(String::as_str).collect();
            let allowed =
                scopes.contains(&S::SCOPE.as_str()) || scopes.contains(&TokenScope::Admin.as_str());
            if !allowed {
                return Err(ApiError::Forbidden(S::SCOPE));
            }
            tracing::Span::current().record("org.id", tracing::field::display(org.id));
            Ok(OrgAuth {
                org,
                token_id: token.id,
                _scope: PhantomData,
            })
        })
    }
}

/// The bearer token of the request, if it is shaped like one of ours.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let secret = secret.trim();
    shared::tokens::looks_valid(secret).then(|| secret.to_owned())
}

/// Finds the live token and its org; refreshes `last_used_at` when it is stale.
async fn authenticate(
    state: &AppState,
    secret: &str,
) -> Result<(ApiToken, Organization), ApiError> {
    let hash = shared::tokens::hash(secret);
    let mut conn = state.db.conn().await?;
    let found: Option<(ApiToken, Organization)> = api_tokens::table
        .inner_join(organizations::table)
        .filter(api_tokens::token_hash.eq(&hash))
        .select((ApiToken::as_select(), Organization::as_select()))
        .first(&mut conn)
        .await
        .optional()?;
    let (token, org) = found.ok_or(ApiError::Unauthorized)?;
    let now = Utc::now();
    if token.revoked_at.is_some_and(|at| at <= now) || token.expires_at.is_some_and(|at| at <= now)
    {
        return Err(ApiError::Unauthorized);
    }
    if token.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        // Best effort: a failed touch must not fail the request it accompanies.
        let touched = diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(diesel::dsl::now))
            .execute(&mut conn)
            .await;
        if let Err(e) = touched {
            tracing::warn!(token.id = %token.id, error = %e, "could not record token use");
        }
    }
    Ok((token, org))
}
