//! `GET /orgs/{org}/repositories`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Repository;
use shared::db::schema::{github_installations, repositories};
use shared::wire::{ErrorBody, OrgRepository, Page};
use std::collections::HashSet;

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::OrgPath;
use crate::routes::paging::IdPageQuery;
use crate::state::AppState;

/// The org's repositories, oldest first, with how each is reached on GitHub.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/repositories", tag = "repositories",
    params(("org" = String, Path, description = "Organization slug"), IdPageQuery),
    responses(
        (status = 200, description = "A page of repositories", body = Page<OrgRepository>),
        (status = 400, description = "Malformed query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<OrgRepository>>> {
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = repositories::table
        .filter(repositories::org_id.eq(auth.org_id()))
        .select(Repository::as_select())
        .order(repositories::id.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(repositories::id.gt(after));
    }
    let rows: Vec<Repository> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |r| r.id);
    let suspended: HashSet<i64> = github_installations::table
        .filter(github_installations::org_id.eq(auth.org_id()))
        .filter(github_installations::suspended_at.is_not_null())
        .select(github_installations::installation_id)
        .load::<i64>(&mut conn)
        .await?
        .into_iter()
        .collect();
    let items = rows
        .into_iter()
        .map(|r| {
            let off = r
                .github_installation_id
                .is_some_and(|id| suspended.contains(&id));
            OrgRepository::from_row(r, off)
        })
        .collect();
    Ok(web::Json(Page { items, next_cursor }))
}
