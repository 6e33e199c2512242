//! `POST /orgs/{org}/tasks/{id}/attempts`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use shared::wire::{self, ErrorBody, StartAttempt};
use uuid::Uuid;

use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::repository;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::runs::{self, QueuedRun};
use crate::state::AppState;

/// Starts an attempt: the attempt (queued), the project's setup script if it has one,
/// then the executor run, and the task moved to in progress, all in one transaction.
/// Returns at once; the scheduler picks the attempt up.
///
/// The executor and its options come from a profile, resolved project override → org
/// profile → built-in and frozen on the attempt: `profile` (`name` or `name:variant`)
/// if given, else the profile named after `executor`, else after the project's default
/// executor. An unknown executor answers 422 `unknown_executor`, an unknown profile or
/// variant 422 `unknown_profile`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/tasks/{id}/attempts", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
    ),
    request_body = StartAttempt,
    responses(
        (status = 201, description = "The queued attempt", body = wire::Attempt),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid prompt or branch, unknown executor or profile; `resource_class_not_allowed` when the profile names a resource class the operator does not allow this org", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn start(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: JsonBody<StartAttempt>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let task_id = path.id;
    runs::check_prompt(&body.prompt)?;

    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, key_prefix) = lookup::task(&mut conn, org_id, task_id).await?;
    let (project, repo) = lookup::project(&mut conn, org_id, task.project_id).await?;
    let profile = runs::resolve_profile(&mut conn, org_id, &project, &body).await?;
    // A profile written before the operator narrowed the org's classes still names one.
    crate::quotas::check_resource_class(
        &state.settings.quotas,
        &auth.org.slug,
        profile.options.resource_class.as_deref(),
    )?;
    let executor = profile.executor.as_str();
    runs::check_available(&state, executor).await?;
    let snapshot = serde_json::to_value(&profile)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding the profile")))?;
    let base_branch = body
        .base_branch
        .clone()
        .unwrap_or_else(|| project.default_branch.clone());
    repository::check_branch_exists(&repo.url, &base_branch).await?;

    // A random id: the branch takes its first 8 hex digits, which for a time-ordered id
    // would repeat for attempts started within the same minute.
    let attempt_id = Uuid::new_v4();
    record_attempt(attempt_id);
    let branch = runs::branch_name(&key_prefix, task.number, attempt_id);
    let trace_context = shared::telemetry::current_traceparent();

    let run = QueuedRun {
        org_id,
        project_id: project.id,
        task_id,
        attempt_id,
        executor,
        snapshot: &snapshot,
        base_branch: &base_branch,
        branch: &branch,
        prompt: &body.prompt,
        trace_context,
    };
    let (attempt, events) = conn
        .transaction::<_, ApiError, _>(async |conn| runs::queue_attempt(conn, &run).await)
        .await?;
    drop(conn);
    events.emit(&state, org_id).await;

    let attempt = wire::Attempt::from(attempt);
    tracing::info!(attempt.id = %attempt.id, branch = %attempt.branch, "attempt queued");
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/orgs/{}/attempts/{}", path.org, attempt.id),
        ))
        .json(attempt))
}
