//! `GET /orgs/{org}/members`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::{Membership, User};
use shared::db::schema::{memberships, users};
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::members::member;
use crate::routes::OrgPath;
use crate::routes::paging::IdPageQuery;
use crate::state::AppState;

/// The org's members with their roles, in the order they joined, a page at a time.
/// Anyone in the org may read it; email addresses are shown to the org's admins, and to
/// each person for themselves.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "Organization slug"), IdPageQuery),
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
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<wire::Member>>> {
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(auth.org_id()))
        .select((Membership::as_select(), User::as_select()))
        .order(memberships::id.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(memberships::id.gt(after));
    }
    let rows: Vec<(Membership, User)> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |(m, _)| m.id);
    let (admin, me) = (auth.is_admin(), auth.actor.user_id());
    Ok(web::Json(Page {
        items: rows
            .into_iter()
            .map(|(m, u)| {
                let show_email = admin || me == Some(u.id);
                member(m, u, show_email)
            })
            .collect(),
        next_cursor,
    }))
}
