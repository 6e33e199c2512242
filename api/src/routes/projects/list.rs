//! `GET /orgs/{org}/projects`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::{Project, Repository};
use shared::db::schema::{projects, repositories};
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::OrgPath;
use crate::routes::paging::IdPageQuery;
use crate::state::AppState;

/// The org's projects, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects", tag = "projects",
    params(("org" = String, Path, description = "Organization slug"), IdPageQuery),
    responses(
        (status = 200, description = "A page of projects", body = Page<wire::Project>),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<wire::Project>>> {
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = projects::table
        .inner_join(repositories::table)
        .filter(projects::org_id.eq(auth.org_id()))
        .select((Project::as_select(), Repository::as_select()))
        .order(projects::id.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(projects::id.gt(after));
    }
    let rows: Vec<(Project, Repository)> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |(p, _)| p.id);
    Ok(web::Json(Page {
        items: rows
            .into_iter()
            .map(|(p, r)| wire::Project::from_rows(p, r))
            .collect(),
        next_cursor,
    }))
}
