//! `GET /orgs/{org}/members`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::{Membership, User};
use shared::db::schema::{memberships, users};
use shared::wire::{self, ErrorBody, Page};
use utoipa::IntoParams;
use uuid::Uuid;

use super::member;
use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::OrgPath;
use crate::state::AppState;

/// Query of the member list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListMembers {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// The org's members with their roles, in the order they joined, a page at a time.
/// Anyone in the org may read it.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "Organization slug"), ListMembers),
    responses(
        (status = 200, description = "A page of members", body = Page<wire::Member>),
        (status = 400, description = "Malformed query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    query: web::Query<ListMembers>,
) -> ApiResult<web::Json<Page<wire::Member>>> {
    let limit = crate::routes::tasks::list::page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::InvalidQuery("invalid cursor".into())))
        .transpose()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(auth.org_id()))
        .select((Membership::as_select(), User::as_select()))
        .order(memberships::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(memberships::id.gt(after));
    }
    let mut rows: Vec<(Membership, User)> = q.load(&mut conn).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|(m, _)| m.id.to_string()))
        .flatten();
    Ok(web::Json(Page {
        items: rows.into_iter().map(|(m, u)| member(m, u)).collect(),
        next_cursor,
    }))
}
