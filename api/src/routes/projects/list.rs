//! `GET /orgs/{org}/projects`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::{Project, Repository};
use shared::db::schema::{projects, repositories};
use shared::wire::{self, ErrorBody, Page};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::OrgPath;
use crate::state::AppState;

/// Query of the project list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProjects {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The org's projects, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects", tag = "projects",
    params(("org" = String, Path, description = "Organization slug"), ListProjects),
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
    query: web::Query<ListProjects>,
) -> ApiResult<web::Json<Page<wire::Project>>> {
    let limit = crate::routes::tasks::list::page_limit(query.limit)?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => {
            Some(Uuid::parse_str(c).map_err(|_| ApiError::InvalidQuery("invalid cursor".into()))?)
        }
    };
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = projects::table
        .inner_join(repositories::table)
        .filter(projects::org_id.eq(auth.org_id()))
        .select((Project::as_select(), Repository::as_select()))
        .order(projects::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(projects::id.gt(after));
    }
    let mut rows: Vec<(Project, Repository)> = q.load(&mut conn).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|(p, _)| p.id.to_string()))
        .flatten();
    Ok(web::Json(Page {
        items: rows
            .into_iter()
            .map(|(p, r)| wire::Project::from_rows(p, r))
            .collect(),
        next_cursor,
    }))
}
