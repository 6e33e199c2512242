//! `POST /orgs/{org}/attempts/{id}/stop`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{ExecutionProcess, TaskAttempt};
use shared::db::schema::{execution_processes, task_attempts};
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::routes::{IdPath, emit, lookup, record_attempt};
use crate::state::AppState;

/// Stops an attempt. A queued or scheduled attempt is cancelled at once (its queued
/// processes killed; a worker's claim of it then fails). A running one gets
/// `stop_requested`, which its worker sees on its next heartbeat. Stopping a finished
/// attempt changes nothing and answers it as it is.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/stop", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "The attempt after the request", body = wire::Attempt),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn stop(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<wire::Attempt>> {
    let org_id = auth.org_id();
    let id = path.id;
    record_attempt(id);
    let mut conn = state.db.org(auth.org_id()).await?;
    let (attempt, killed, changed) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let current = lookup::attempt_for_update(conn, org_id, id).await?;
            match current.status {
                AttemptStatus::Queued | AttemptStatus::Scheduled => {
                    let attempt: TaskAttempt = diesel::update(task_attempts::table.find(id))
                        .set((
                            task_attempts::status.eq(AttemptStatus::Cancelled),
                            task_attempts::stop_requested.eq(true),
                            task_attempts::finished_at.eq(diesel::dsl::now),
                        ))
                        .returning(TaskAttempt::as_returning())
                        .get_result(conn)
                        .await?;
                    let killed: Vec<ExecutionProcess> = diesel::update(
                        execution_processes::table
                            .filter(execution_processes::attempt_id.eq(id))
                            .filter(execution_processes::status.eq(ProcessStatus::Queued)),
                    )
                    .set((
                        execution_processes::status.eq(ProcessStatus::Killed),
                        execution_processes::failure_reason.eq("stopped before it ran"),
                        execution_processes::finished_at.eq(diesel::dsl::now),
                    ))
                    .returning(ExecutionProcess::as_returning())
                    .get_results(conn)
                    .await?;
                    Ok((attempt, killed, true))
                }
                AttemptStatus::Running if !current.stop_requested => {
                    let attempt: TaskAttempt = diesel::update(task_attempts::table.find(id))
                        .set(task_attempts::stop_requested.eq(true))
                        .returning(TaskAttempt::as_returning())
                        .get_result(conn)
                        .await?;
                    Ok((attempt, Vec::new(), true))
                }
                _ => Ok((current, Vec::new(), false)),
            }
        })
        .await?;
    drop(conn);

    let attempt = wire::Attempt::from(attempt);
    if changed {
        emit(&state, org_id, "attempt.updated", &attempt).await;
        for process in killed {
            emit(
                &state,
                org_id,
                "process.updated",
                &wire::Process::from(process),
            )
            .await;
        }
        tracing::info!(status = %attempt.status, "attempt stop requested");
    }
    Ok(web::Json(attempt))
}
