//! `GET /orgs/{org}/tasks/{id}/attempts`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::TaskAttempt;
use shared::db::schema::task_attempts;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// A task's attempts, oldest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tasks/{id}/attempts", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
    ),
    responses(
        (status = 200, description = "The task's attempts", body = Vec<wire::Attempt>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<Vec<wire::Attempt>>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, _) = lookup::task(&mut conn, auth.org_id(), path.id).await?;
    let attempts: Vec<TaskAttempt> = task_attempts::table
        .filter(task_attempts::task_id.eq(task.id))
        .filter(task_attempts::org_id.eq(auth.org_id()))
        .select(TaskAttempt::as_select())
        .order((task_attempts::created_at.asc(), task_attempts::id.asc()))
        .load(&mut conn)
        .await?;
    Ok(web::Json(attempts.into_iter().map(Into::into).collect()))
}
