//! `GET /orgs/{org}/projects/{id}/executor-profiles`

use actix_web::web;
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::profiles::{merge, org_rows, project_rows};
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// Every profile in effect for the project: built-in, the org's over them, the
/// project's overrides over both; by name, each marked with its source and what it
/// hides. Always one complete page.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{id}/executor-profiles", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
    ),
    responses(
        (status = 200, description = "Every profile in effect for the project", body = Page<wire::ExecutorProfile>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<Page<wire::ExecutorProfile>>> {
    let org_id = auth.org_id();
    let mut conn = state.db.org(auth.org_id()).await?;
    lookup::project(&mut conn, org_id, path.id).await?;
    let org = org_rows(&mut conn, org_id).await?;
    let project = project_rows(&mut conn, org_id, path.id).await?;
    Ok(web::Json(Page {
        items: merge(&org, &project)?,
        next_cursor: None,
    }))
}
