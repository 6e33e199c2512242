//! `GET /orgs/{org}/tasks/{id}`

use actix_web::web;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// One task.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tasks/{id}", tag = "tasks",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
    ),
    responses(
        (status = 200, description = "The task", body = wire::Task),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn get(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<wire::Task>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, key_prefix) = lookup::task(&mut conn, auth.org_id(), path.id).await?;
    Ok(web::Json(wire::Task::from_row(task, &key_prefix)))
}
