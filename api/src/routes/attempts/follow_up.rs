//! `POST /orgs/{org}/attempts/{id}/follow-up`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{ExecutionProcess, TaskAttempt};
use shared::db::schema::{projects, task_attempts, tasks};
use shared::domain::{AttemptStatus, RunReason};
use shared::wire::{self, ErrorBody, FollowUp};

use super::{check_prompt, insert_process, set_task_in_progress};
use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::routes::{IdPath, emit, lookup, record_attempt};
use crate::state::AppState;

/// Continues a finished (succeeded or failed) attempt on its branch: a queued follow-up
/// process, and the attempt back to queued with a fresh retry budget. Any other state
/// answers 409 `attempt_busy`. Returns the new process.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/follow-up", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    request_body = FollowUp,
    responses(
        (status = 201, description = "The queued follow-up process", body = wire::Process),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 409, description = "The attempt is not finished (or was cancelled)", body = ErrorBody),
        (status = 422, description = "Invalid prompt", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn follow_up(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: web::Json<FollowUp>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let id = path.id;
    record_attempt(id);
    check_prompt(&body.prompt)?;
    let trace_context = shared::telemetry::current_traceparent();
    let mut conn = state.db.org(auth.org_id()).await?;
    let (attempt, process, moved) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            queue_follow_up(conn, org_id, id, &body.prompt, trace_context).await
        })
        .await?;
    drop(conn);

    let process = wire::Process::from(process);
    emit(
        &state,
        org_id,
        "attempt.updated",
        &wire::Attempt::from(attempt),
    )
    .await;
    emit(&state, org_id, "process.created", &process).await;
    if let Some(task) = moved {
        emit(&state, org_id, "task.updated", &task).await;
    }
    Ok(HttpResponse::Created().json(process))
}

/// Queues a follow-up process on a finished (succeeded or failed) attempt and puts the
/// attempt back in the queue with a fresh retry budget, inside the caller's transaction;
/// any other state is 409 `attempt_busy`. Shared with `/switchyard follow-up` comments.
pub async fn queue_follow_up(
    conn: &mut diesel_async::AsyncPgConnection,
    org_id: uuid::Uuid,
    id: uuid::Uuid,
    prompt: &str,
    trace_context: Option<String>,
) -> Result<(TaskAttempt, ExecutionProcess, Option<wire::Task>), ApiError> {
    let current = lookup::attempt_for_update(conn, org_id, id).await?;
    if !matches!(
        current.status,
        AttemptStatus::Succeeded | AttemptStatus::Failed
    ) {
        return Err(ApiError::conflict(
            "attempt_busy",
            format!(
                "the attempt is {}; a follow-up needs a succeeded or failed attempt",
                current.status
            ),
        ));
    }
    let process = insert_process(conn, org_id, id, RunReason::FollowUp, prompt).await?;
    let attempt: TaskAttempt = diesel::update(task_attempts::table.find(id))
        .set((
            task_attempts::status.eq(AttemptStatus::Queued),
            task_attempts::failure_reason.eq(None::<String>),
            task_attempts::stop_requested.eq(false),
            task_attempts::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            task_attempts::retry_count.eq(0),
            task_attempts::queued_at.eq(diesel::dsl::now),
            task_attempts::scheduled_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            task_attempts::worker_id.eq(None::<String>),
            task_attempts::lease_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            task_attempts::trace_context.eq(&trace_context),
        ))
        .returning(TaskAttempt::as_returning())
        .get_result(conn)
        .await?;
    let moved = match set_task_in_progress(conn, current.task_id).await? {
        Some(task) => {
            let prefix: String = projects::table
                .inner_join(tasks::table)
                .filter(tasks::id.eq(task.id))
                .select(projects::key_prefix)
                .first(conn)
                .await?;
            Some(wire::Task::from_row(task, &prefix))
        }
        None => None,
    };
    Ok((attempt, process, moved))
}
