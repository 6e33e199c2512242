//! `GET /orgs/{org}/tokens`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::ApiToken;
use shared::db::schema::api_tokens;
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{Admin, OrgAuth};
use crate::error::ApiResult;
use crate::routes::OrgPath;
use crate::routes::paging::IdPageQuery;
use crate::state::AppState;

/// The org's API tokens, revoked and expired ones included, oldest first: names,
/// prefixes, scopes and dates, never the secrets.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "Organization slug"), IdPageQuery),
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
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<wire::ApiTokenInfo>>> {
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = api_tokens::table
        .filter(api_tokens::org_id.eq(auth.org_id()))
        .select(ApiToken::as_select())
        .order(api_tokens::id.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(api_tokens::id.gt(after));
    }
    let rows: Vec<ApiToken> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |t| t.id);
    Ok(web::Json(Page {
        items: rows.into_iter().map(wire::ApiTokenInfo::from).collect(),
        next_cursor,
    }))
}
