//! `GET /orgs/{org}/tokens`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::ApiToken;
use shared::db::schema::api_tokens;
use shared::wire::{self, ErrorBody, Page};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::routes::OrgPath;
use crate::state::AppState;

/// Query of the token list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTokens {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// The org's API tokens, revoked and expired ones included, oldest first: names,
/// prefixes, scopes and dates, never the secrets.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "Organization slug"), ListTokens),
    responses(
        (status = 200, description = "A page of tokens, without secrets", body = Page<wire::ApiTokenInfo>),
        (status = 400, description = "Malformed query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn list(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    query: web::Query<ListTokens>,
) -> ApiResult<web::Json<Page<wire::ApiTokenInfo>>> {
    let limit = crate::routes::tasks::list::page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::InvalidQuery("invalid cursor".into())))
        .transpose()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = api_tokens::table
        .filter(api_tokens::org_id.eq(auth.org_id()))
        .select(ApiToken::as_select())
        .order(api_tokens::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(api_tokens::id.gt(after));
    }
    let mut rows: Vec<ApiToken> = q.load(&mut conn).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(web::Json(Page {
        items: rows.into_iter().map(wire::ApiTokenInfo::from).collect(),
        next_cursor,
    }))
}
