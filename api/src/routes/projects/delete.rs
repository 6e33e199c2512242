//! `DELETE /orgs/{org}/projects/{id}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::schema::{projects, task_attempts, tasks};
use shared::wire::ErrorBody;
use shared::wire::{self, OrgEvent};

use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::{IdPath, emit};
use crate::runs;
use crate::state::AppState;

/// Deletes a project with its tasks and their finished attempts. Refused with 409
/// `project_busy` while any of its attempts is queued, scheduled or running.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{id}", tag = "projects",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
        (status = 409, description = "An attempt of the project is active", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn delete(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let id = path.id;
    let mut conn = state.db.org(auth.org_id()).await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        // Lock the project so no attempt starts on it while we check and delete.
        let found: Option<uuid::Uuid> = projects::table
            .filter(projects::id.eq(id))
            .filter(projects::org_id.eq(org_id))
            .select(projects::id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        if found.is_none() {
            return Err(ApiError::NotFound("project"));
        }
        let active: i64 = task_attempts::table
            .inner_join(tasks::table)
            .filter(tasks::project_id.eq(id))
            .filter(task_attempts::status.eq_any(runs::active_statuses()))
            .count()
            .get_result(conn)
            .await?;
        if active > 0 {
            return Err(ApiError::conflict(
                ErrorCode::ProjectBusy,
                format!("{active} attempt(s) of this project are still active; stop them first"),
            ));
        }
        diesel::delete(projects::table.filter(projects::id.eq(id)))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await?;
    drop(conn);
    emit(
        &state,
        org_id,
        OrgEvent::ProjectDeleted(wire::Deleted { id }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}
