//! `GET /orgs/{org}/projects/{id}`

use actix_web::web;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// One project with its repository.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{id}", tag = "projects",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
    ),
    responses(
        (status = 200, description = "The project", body = wire::Project),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn get(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<wire::Project>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let (project, repository) = lookup::project(&mut conn, auth.org_id(), path.id).await?;
    Ok(web::Json(wire::Project::from_rows(project, repository)))
}
