//! `GET /orgs/{org}/repositories`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::Repository;
use shared::db::schema::{github_installations, repositories};
use shared::wire::{ErrorBody, OrgRepository, Page};
use std::collections::HashSet;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::OrgPath;
use crate::state::AppState;

/// Query of the repository list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRepositories {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// The org's repositories, oldest first, with how each is reached on GitHub.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/repositories", tag = "repositories",
    params(("org" = String, Path, description = "Organization slug"), ListRepositories),
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
    query: web::Query<ListRepositories>,
) -> ApiResult<web::Json<Page<OrgRepository>>> {
    let limit = crate::routes::tasks::list::page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::InvalidQuery("invalid cursor".into())))
        .transpose()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = repositories::table
        .filter(repositories::org_id.eq(auth.org_id()))
        .select(Repository::as_select())
        .order(repositories::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(repositories::id.gt(after));
    }
    let mut rows: Vec<Repository> = q.load(&mut conn).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
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
