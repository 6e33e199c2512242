//! Attempts: one run of an executor on a task, on its own branch; and its processes.

pub mod diff;
pub mod follow_up;
pub mod get;
pub mod list;
pub mod processes;
pub mod pull_request;
pub mod start;
pub mod stop;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shared::db::models::{ExecutionProcess, Task};
use shared::db::schema::{execution_processes, tasks};
use shared::domain::{ProcessStatus, RunReason, TaskStatus};
use uuid::Uuid;

use crate::error::ApiError;

/// Longest prompt (or script) accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 100_000;

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

/// Inserts a queued process. `created_at` is the wall clock, not the transaction start,
/// so processes inserted in one transaction keep their order (the worker runs them in
/// `created_at` order); the v7 id breaks any remaining tie the same way.
pub async fn insert_process(
    conn: &mut AsyncPgConnection,
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
pub async fn set_task_in_progress(
    conn: &mut AsyncPgConnection,
    task_id: Uuid,
) -> Result<Option<Task>, ApiError> {
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
