//! `POST /orgs/{org}/tasks/{id}/attempts`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{ExecutionProcess, NewTaskAttempt, Project, Task, TaskAttempt};
use shared::db::schema::{projects, task_attempts, tasks};
use shared::domain::{AttemptStatus, RunReason};
use shared::executors::{ExecutorKind, ProfileRef, ResolvedProfile};
use shared::wire::{self, ErrorBody, StartAttempt};
use uuid::Uuid;

use super::{check_prompt, insert_process, set_task_in_progress};
use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::routes::projects::repository;
use crate::routes::{IdPath, emit, lookup, profiles, record_attempt};
use crate::state::AppState;

/// Retries after a lost worker before an attempt fails.
pub const MAX_RETRIES: i32 = 2;

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
        (status = 422, description = "Invalid prompt or branch, unknown executor or profile", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn start(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: web::Json<StartAttempt>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let task_id = path.id;
    check_prompt(&body.prompt)?;

    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, key_prefix) = lookup::task(&mut conn, org_id, task_id).await?;
    let (project, repo) = lookup::project(&mut conn, org_id, task.project_id).await?;
    let profile = resolve_profile(&mut conn, org_id, &project, &body).await?;
    let executor = profile.executor.as_str();
    check_available(&state, executor).await?;
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
    let branch = branch_name(&key_prefix, task.number, attempt_id);
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
    let (attempt, processes, moved) = conn
        .transaction::<_, ApiError, _>(async |conn| queue_attempt(conn, &run).await)
        .await?;
    drop(conn);

    let attempt = wire::Attempt::from(attempt);
    emit(&state, org_id, "attempt.created", &attempt).await;
    for process in processes {
        emit(
            &state,
            org_id,
            "process.created",
            &wire::Process::from(process),
        )
        .await;
    }
    if let Some(task) = moved {
        emit(
            &state,
            org_id,
            "task.updated",
            &wire::Task::from_row(task, &key_prefix),
        )
        .await;
    }
    tracing::info!(attempt.id = %attempt.id, branch = %attempt.branch, "attempt queued");
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/orgs/{}/attempts/{}", path.org, attempt.id),
        ))
        .json(attempt))
}

/// Everything an attempt is queued with.
pub struct QueuedRun<'a> {
    pub org_id: Uuid,
    pub project_id: Uuid,
    pub task_id: Uuid,
    pub attempt_id: Uuid,
    pub executor: &'a str,
    /// The resolved profile, frozen on the attempt.
    pub snapshot: &'a serde_json::Value,
    pub base_branch: &'a str,
    pub branch: &'a str,
    pub prompt: &'a str,
    pub trace_context: Option<String>,
}

/// The attempt's branch: `sy/<task key>-<first 8 hex digits of the attempt id>`. Use a
/// random (v4) id: a time-ordered one repeats its head within a minute.
pub fn branch_name(key_prefix: &str, task_number: i64, attempt_id: Uuid) -> String {
    format!(
        "sy/{}-{task_number}-{}",
        key_prefix.to_lowercase(),
        &attempt_id.simple().to_string()[..8]
    )
}

/// Inserts a queued attempt with its processes (the project's setup script, then the
/// executor run) and moves the task to in progress, inside the caller's transaction.
/// Shared by `POST …/attempts` and the GitHub triggers.
pub async fn queue_attempt(
    conn: &mut diesel_async::AsyncPgConnection,
    run: &QueuedRun<'_>,
) -> Result<(TaskAttempt, Vec<ExecutionProcess>, Option<Task>), ApiError> {
    let (org_id, task_id, attempt_id) = (run.org_id, run.task_id, run.attempt_id);
    // Key-share-lock the project (a project delete waits; task numbering does not)
    // and lock the task.
    let project: Project = projects::table
        .find(run.project_id)
        .select(Project::as_select())
        .for_key_share()
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("task"))?;
    let task_exists: Option<Uuid> = tasks::table
        .find(task_id)
        .select(tasks::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    if task_exists.is_none() {
        return Err(ApiError::NotFound("task"));
    }
    let attempt: TaskAttempt = diesel::insert_into(task_attempts::table)
        .values((
            NewTaskAttempt {
                id: attempt_id,
                org_id,
                task_id,
                executor: run.executor,
                base_branch: run.base_branch,
                branch: run.branch,
                status: AttemptStatus::Queued,
                max_retries: MAX_RETRIES,
                trace_context: run.trace_context.clone(),
            },
            task_attempts::executor_profile.eq(run.snapshot),
        ))
        .returning(TaskAttempt::as_returning())
        .get_result(conn)
        .await?;
    let mut processes = Vec::with_capacity(2);
    if let Some(setup) = project
        .setup_script
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        processes
            .push(insert_process(conn, org_id, attempt_id, RunReason::SetupScript, setup).await?);
    }
    processes
        .push(insert_process(conn, org_id, attempt_id, RunReason::CodingAgent, run.prompt).await?);
    let moved = set_task_in_progress(conn, task_id).await?;
    Ok((attempt, processes, moved))
}

/// Refuses an executor that the running workers cannot run. With no worker running at
/// all (a deploy in progress, an empty pool) the attempt is accepted and waits in the
/// queue: that is a capacity question, not a wrong request.
pub async fn check_available(state: &AppState, executor: &str) -> Result<(), ApiError> {
    let mut redis = state.redis();
    let live = shared::workers::live(&mut redis, &state.keys).await?;
    if !live.is_empty()
        && !live
            .iter()
            .any(|w| w.executors.iter().any(|e| e == executor))
    {
        return Err(ApiError::ExecutorUnavailable(executor.to_owned()));
    }
    Ok(())
}

/// The profile the request asks for: `profile` if given (its executor must match
/// `executor` when both are), else the profile named after `executor`, else after the
/// project's default executor; resolved for the project.
pub async fn resolve_profile(
    conn: &mut diesel_async::AsyncPgConnection,
    org_id: Uuid,
    project: &Project,
    body: &StartAttempt,
) -> Result<ResolvedProfile, ApiError> {
    let executor: Option<ExecutorKind> = body
        .executor
        .as_deref()
        .map(|e| {
            e.parse()
                .map_err(|_| ApiError::UnknownExecutor(e.to_owned()))
        })
        .transpose()?;
    let reference = match (&body.profile, executor) {
        (Some(text), _) => ProfileRef::parse(text)?,
        (None, Some(kind)) => ProfileRef::parse(kind.as_str())?,
        (None, None) => {
            let default = &project.default_executor;
            let kind: ExecutorKind = default
                .parse()
                .map_err(|_| ApiError::UnknownExecutor(default.clone()))?;
            ProfileRef::parse(kind.as_str())?
        }
    };
    let resolved = profiles::resolve(conn, org_id, project.id, &reference).await?;
    if let Some(kind) = executor
        && kind != resolved.executor
    {
        return Err(ApiError::validation(format!(
            "executor: profile {:?} runs {}, not {kind}",
            reference.name, resolved.executor
        )));
    }
    Ok(resolved)
}
