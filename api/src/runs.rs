//! Runs (docs/ARCHITECTURE.md, "The life of an attempt"): starting an attempt on a task, following a finished one up, and
//! stopping one. The routes (`POST …/attempts`, `…/follow-up`, `…/stop`) and the GitHub
//! triggers both come here, so a run started from an issue is the same run as one
//! started from the dashboard.
//!
//! The writes run inside the caller's transaction and hand back the rows with the
//! [`Events`] to publish once it has committed.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use diesel_async::RunQueryDsl;
use shared::attempts::{self, Requeue};
use shared::db::Conn;
use shared::db::models::{ExecutionProcess, NewTaskAttempt, Project, Task, TaskAttempt};
use shared::db::schema::{execution_processes, projects, task_attempts, tasks};
use shared::domain::{AttemptStatus, ProcessStatus, RunReason, TaskStatus};
use shared::executors::{ExecutorKind, ProfileRef, ResolvedProfile};
use shared::store::ObjectStore;
use shared::wire::{self, Diff, OrgEvent, StartAttempt};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};
use crate::events::Events;
use crate::lookup;
use crate::state::AppState;

/// Longest prompt (or script) accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 100_000;

/// Retries after a lost worker before an attempt fails.
pub const MAX_RETRIES: i32 = 2;

/// The statuses of attempts that hold (or wait for) a worker, for queries: a project or
/// task with such an attempt cannot be deleted.
pub fn active_statuses() -> Vec<AttemptStatus> {
    AttemptStatus::ALL
        .iter()
        .copied()
        .filter(|s| s.is_active())
        .collect()
}

/// Checks a prompt: not blank, bounded.
pub fn check_prompt(prompt: &str) -> Result<(), ApiError> {
    if prompt.trim().is_empty() {
        return Err(ApiError::validation("prompt must not be empty"));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(ApiError::validation(format!(
            "prompt must be at most {MAX_PROMPT_CHARS} characters"
        )));
    }
    Ok(())
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

/// The profile the request asks for: `profile` if given (its executor must match
/// `executor` when both are), else the profile named after `executor`, else after the
/// project's default executor; resolved for the project.
pub async fn resolve_profile(
    conn: &mut Conn,
    org_id: Uuid,
    project: &Project,
    body: &StartAttempt,
) -> Result<ResolvedProfile, ApiError> {
    let executor: Option<ExecutorKind> = body.executor.as_deref().map(str::parse).transpose()?;
    let reference = match (&body.profile, executor) {
        (Some(text), _) => ProfileRef::parse(text)?,
        (None, Some(kind)) => ProfileRef::parse(kind.as_str())?,
        (None, None) => {
            let kind: ExecutorKind = project.default_executor.parse()?;
            ProfileRef::parse(kind.as_str())?
        }
    };
    let resolved = crate::profiles::resolve(conn, org_id, project.id, &reference).await?;
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

/// Inserts a queued attempt with its processes (the project's setup script, then the
/// executor run) and moves the task to in progress, inside the caller's transaction.
/// Returns the attempt and its events: `attempt.created`, a `process.created` per
/// process, `task.updated` when the task moved, and a dispatch wake.
pub async fn queue_attempt(
    conn: &mut Conn,
    run: &QueuedRun<'_>,
) -> Result<(TaskAttempt, Events), ApiError> {
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
    let mut events = Events::default();
    events.push(OrgEvent::AttemptCreated(wire::Attempt::from(
        attempt.clone(),
    )));
    events.wake_dispatcher();
    if let Some(setup) = project
        .setup_script
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        let setup = insert_process(conn, org_id, attempt_id, RunReason::SetupScript, setup).await?;
        events.push(OrgEvent::ProcessCreated(wire::Process::from(setup)));
    }
    let agent =
        insert_process(conn, org_id, attempt_id, RunReason::CodingAgent, run.prompt).await?;
    events.push(OrgEvent::ProcessCreated(wire::Process::from(agent)));
    if let Some(task) = set_task_in_progress(conn, task_id).await? {
        events.push(OrgEvent::TaskUpdated(wire::Task::from_row(
            task,
            &project.key_prefix,
        )));
    }
    Ok((attempt, events))
}

/// Queues a follow-up process on a finished (succeeded or failed) attempt and puts the
/// attempt back in the queue with a fresh retry budget, inside the caller's transaction;
/// any other state is 409 `attempt_busy`. Returns the attempt, the new process and their
/// events: `attempt.updated`, `process.created`, `task.updated` when the task moved, and
/// a dispatch wake.
pub async fn queue_follow_up(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
    prompt: &str,
    trace_context: Option<String>,
) -> Result<(TaskAttempt, ExecutionProcess, Events), ApiError> {
    let current = lookup::attempt_for_update(conn, org_id, id).await?;
    let Some(attempt) = attempts::requeue(conn, id, Requeue::FollowUp { trace_context }).await?
    else {
        return Err(ApiError::conflict(
            ErrorCode::AttemptBusy,
            format!(
                "the attempt is {}; a follow-up needs a succeeded or failed attempt",
                current.status
            ),
        ));
    };
    let process = insert_process(conn, org_id, id, RunReason::FollowUp, prompt).await?;
    let mut events = Events::default();
    events.push(OrgEvent::AttemptUpdated(wire::Attempt::from(
        attempt.clone(),
    )));
    events.wake_dispatcher();
    events.push(OrgEvent::ProcessCreated(wire::Process::from(
        process.clone(),
    )));
    if let Some(task) = set_task_in_progress(conn, current.task_id).await? {
        let prefix: String = projects::table
            .inner_join(tasks::table)
            .filter(tasks::id.eq(task.id))
            .select(projects::key_prefix)
            .first(conn)
            .await?;
        events.push(OrgEvent::TaskUpdated(wire::Task::from_row(task, &prefix)));
    }
    Ok((attempt, process, events))
}

/// Stops an attempt inside the caller's transaction. A queued or scheduled attempt is
/// cancelled at once (its queued processes killed; a worker's claim of it then fails). A
/// running one gets `stop_requested`, which its worker sees on its next heartbeat. A
/// finished attempt is returned as it is, with no events. Otherwise the events are
/// `attempt.updated` and a `process.updated` per killed process, and a cancelled one
/// adds a dispatch wake.
pub async fn stop(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<(TaskAttempt, Events), ApiError> {
    let current = lookup::attempt_for_update(conn, org_id, id).await?;
    let mut events = Events::default();
    // Not yet with a worker: cancelled at once, with the processes that would have run.
    if let Some(attempt) = attempts::cancel_unstarted(conn, id).await? {
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
        events.push(OrgEvent::AttemptUpdated(wire::Attempt::from(
            attempt.clone(),
        )));
        // A scheduled attempt held one of its org's slots.
        events.wake_dispatcher();
        for process in killed {
            events.push(OrgEvent::ProcessUpdated(wire::Process::from(process)));
        }
        return Ok((attempt, events));
    }
    // Running: its worker stops it. Finished, or already asked: nothing to do.
    match attempts::request_stop(conn, id).await? {
        Some(attempt) => {
            events.push(OrgEvent::AttemptUpdated(wire::Attempt::from(
                attempt.clone(),
            )));
            Ok((attempt, events))
        }
        None => Ok((current, events)),
    }
}

/// The attempt's diff object as the worker stored it (JSON of [`Diff`]), to pass through
/// unparsed; an absent one is the empty diff, version 0.
pub async fn current_diff_json(
    store: &ObjectStore,
    org_id: Uuid,
    attempt: &TaskAttempt,
) -> Result<bytes::Bytes, ApiError> {
    let key = shared::store::diff_key(org_id, attempt.id);
    match store.get(&key).await? {
        Some(bytes) => Ok(bytes),
        None => serde_json::to_vec(&Diff {
            version: 0,
            base_commit: attempt.base_commit.clone(),
            ..Diff::default()
        })
        .map(Into::into)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding a diff"))),
    }
}

/// Reads the attempt's diff object; an absent one is the empty diff, version 0.
pub async fn current_diff(
    store: &ObjectStore,
    org_id: Uuid,
    attempt: &TaskAttempt,
) -> Result<Diff, ApiError> {
    let key = shared::store::diff_key(org_id, attempt.id);
    match store.get(&key).await? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context(format!("corrupt diff object {key}")))
        }),
        None => Ok(Diff {
            version: 0,
            base_commit: attempt.base_commit.clone(),
            ..Diff::default()
        }),
    }
}

/// Inserts a queued process. `created_at` is the wall clock, not the transaction start,
/// so processes inserted in one transaction keep their order (the worker runs them in
/// `created_at` order); the v7 id breaks any remaining tie the same way.
async fn insert_process(
    conn: &mut Conn,
    org_id: Uuid,
    attempt_id: Uuid,
    run_reason: RunReason,
    prompt: &str,
) -> Result<ExecutionProcess, ApiError> {
    Ok(diesel::insert_into(execution_processes::table)
        .values((
            execution_processes::id.eq(Uuid::now_v7()),
            execution_processes::org_id.eq(org_id),
            execution_processes::attempt_id.eq(attempt_id),
            execution_processes::run_reason.eq(run_reason),
            execution_processes::status.eq(ProcessStatus::Queued),
            execution_processes::prompt.eq(prompt),
            execution_processes::created_at.eq(sql::<Timestamptz>("clock_timestamp()")),
        ))
        .returning(ExecutionProcess::as_returning())
        .get_result(conn)
        .await?)
}

/// Moves a task to in progress; returns it when its status changed.
async fn set_task_in_progress(conn: &mut Conn, task_id: Uuid) -> Result<Option<Task>, ApiError> {
    Ok(diesel::update(
        tasks::table
            .filter(tasks::id.eq(task_id))
            .filter(tasks::status.ne(TaskStatus::InProgress)),
    )
    .set(tasks::status.eq(TaskStatus::InProgress))
    .returning(Task::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}
