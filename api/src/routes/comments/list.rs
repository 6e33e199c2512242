//! `GET /orgs/{org}/tasks/{id}/comments`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::TaskComment;
use shared::db::schema::task_comments;
use shared::wire::{self, ErrorBody};

use super::MAX_LISTED;
use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// A task's comments, oldest first (the first 1,000).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tasks/{id}/comments", tag = "tasks",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
    ),
    responses(
        (status = 200, description = "The task's comments", body = Vec<wire::Comment>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<Vec<wire::Comment>>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, _) = lookup::task(&mut conn, auth.org_id(), path.id).await?;
    let rows: Vec<TaskComment> = task_comments::table
        .filter(task_comments::task_id.eq(task.id))
        .filter(task_comments::org_id.eq(auth.org_id()))
        .order((task_comments::created_at, task_comments::id))
        .limit(MAX_LISTED)
        .select(TaskComment::as_select())
        .load(&mut conn)
        .await?;
    Ok(web::Json(
        rows.into_iter().map(wire::Comment::from).collect(),
    ))
}
