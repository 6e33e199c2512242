//! The worker's writes to Postgres. Every write for a claimed attempt runs in a
//! transaction that first renews (and so locks) the lease: if the lease was lost, nothing
//! is written, and the reaper cannot take the attempt while the write is in flight.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::attempts::{self, AttemptEnd};
use shared::db::Conn;
use shared::db::models::{ExecutionProcess, Project, Repository, Task, TaskAttempt};
use shared::db::schema::{execution_processes, projects, repositories, task_attempts, tasks};
use shared::domain::{AttemptStatus, ProcessStatus, RunReason, TaskStatus};
use uuid::Uuid;

use crate::claim::Lease;

/// The outcome of a lease-guarded write.
#[derive(Debug)]
pub enum Guarded<T> {
    /// The lease was held and the write committed.
    Written(T),
    /// The attempt is no longer this worker's; nothing was written.
    LeaseLost,
}

/// The rows an attempt runs against.
pub struct AttemptContext {
    pub task: Task,
    pub project: Project,
    pub repository: Repository,
}

/// Loads the task, project and repository of an attempt.
pub async fn load_context(conn: &mut Conn, task_id: Uuid) -> QueryResult<AttemptContext> {
    let (task, project, repository) = tasks::table
        .inner_join(projects::table.inner_join(repositories::table))
        .filter(tasks::id.eq(task_id))
        .select((
            Task::as_select(),
            Project::as_select(),
            Repository::as_select(),
        ))
        .get_result(conn)
        .await?;
    Ok(AttemptContext {
        task,
        project,
        repository,
    })
}

/// The attempt's oldest process still waiting to run.
pub async fn next_queued_process(
    conn: &mut Conn,
    attempt_id: Uuid,
) -> QueryResult<Option<ExecutionProcess>> {
    execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt_id))
        .filter(execution_processes::status.eq(ProcessStatus::Queued))
        .order((
            execution_processes::created_at.asc(),
            execution_processes::id.asc(),
        ))
        .select(ExecutionProcess::as_select())
        .first(conn)
        .await
        .optional()
}

/// Records the commit the attempt's branch starts from.
pub async fn set_base_commit(
    conn: &mut Conn,
    lease: &Lease,
    base_commit: &str,
) -> QueryResult<Guarded<TaskAttempt>> {
    let lease = lease.clone();
    let base_commit = base_commit.to_owned();
    conn.transaction(async move |conn| {
        if lease.renew(conn).await?.is_none() {
            return Ok(Guarded::LeaseLost);
        }
        let row = diesel::update(task_attempts::table.find(lease.attempt_id))
            .set(task_attempts::base_commit.eq(base_commit))
            .returning(TaskAttempt::as_returning())
            .get_result(conn)
            .await?;
        Ok(Guarded::Written(row))
    })
    .await
}

/// Records where the attempt's current diff is stored and its totals.
pub async fn set_diff(
    conn: &mut Conn,
    lease: &Lease,
    summary: serde_json::Value,
    object_key: &str,
) -> QueryResult<Guarded<()>> {
    let lease = lease.clone();
    let object_key = object_key.to_owned();
    conn.transaction(async move |conn| {
        if lease.renew(conn).await?.is_none() {
            return Ok(Guarded::LeaseLost);
        }
        diesel::update(task_attempts::table.find(lease.attempt_id))
            .set((
                task_attempts::diff_summary.eq(summary),
                task_attempts::diff_object_key.eq(object_key),
            ))
            .execute(conn)
            .await?;
        Ok(Guarded::Written(()))
    })
    .await
}

/// Moves a queued process to running. `Written(None)` when it is no longer queued.
pub async fn mark_process_running(
    conn: &mut Conn,
    lease: &Lease,
    process_id: Uuid,
) -> QueryResult<Guarded<Option<ExecutionProcess>>> {
    let lease = lease.clone();
    conn.transaction(async move |conn| {
        if lease.renew(conn).await?.is_none() {
            return Ok(Guarded::LeaseLost);
        }
        let row = diesel::update(
            execution_processes::table
                .find(process_id)
                .filter(execution_processes::status.eq(ProcessStatus::Queued)),
        )
        .set((
            execution_processes::status.eq(ProcessStatus::Running),
            execution_processes::started_at.eq(now),
        ))
        .returning(ExecutionProcess::as_returning())
        .get_result(conn)
        .await
        .optional()?;
        Ok(Guarded::Written(row))
    })
    .await
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessEnd {
    pub status: ProcessStatus,
    pub exit_code: Option<i32>,
    pub failure_reason: Option<String>,
    /// Log entries shipped (and stored) for the process.
    pub entry_count: i64,
    /// Output past `worker.max_log_bytes_per_process` was dropped.
    pub log_truncated: bool,
    /// The agent's own session id, which a follow-up resumes.
    pub agent_session_id: Option<String>,
    /// Tokens and cost the agent reported (zero for scripts).
    pub usage: shared::wire::Usage,
}

/// Records how a running process ended.
pub async fn finish_process(
    conn: &mut Conn,
    lease: &Lease,
    process_id: Uuid,
    end: ProcessEnd,
) -> QueryResult<Guarded<ExecutionProcess>> {
    let lease = lease.clone();
    conn.transaction(async move |conn| {
        if lease.renew(conn).await?.is_none() {
            return Ok(Guarded::LeaseLost);
        }
        let usage = end.usage;
        let row: ExecutionProcess = diesel::update(execution_processes::table.find(process_id))
            .set((
                execution_processes::status.eq(end.status),
                execution_processes::exit_code.eq(end.exit_code),
                execution_processes::failure_reason.eq(end.failure_reason),
                execution_processes::entry_count.eq(end.entry_count),
                execution_processes::log_truncated.eq(end.log_truncated),
                execution_processes::agent_session_id.eq(end.agent_session_id),
                execution_processes::input_tokens.eq(usage.input_tokens),
                execution_processes::output_tokens.eq(usage.output_tokens),
                execution_processes::cost_usd.eq(usage.cost_usd),
                execution_processes::finished_at.eq(now),
            ))
            .returning(ExecutionProcess::as_returning())
            .get_result(conn)
            .await?;
        // The attempt's totals grow with each process, in the same transaction.
        if usage.input_tokens > 0 || usage.output_tokens > 0 || usage.cost_usd.is_some() {
            diesel::update(task_attempts::table.find(row.attempt_id))
                .set((
                    task_attempts::input_tokens
                        .eq(task_attempts::input_tokens + usage.input_tokens),
                    task_attempts::output_tokens
                        .eq(task_attempts::output_tokens + usage.output_tokens),
                    task_attempts::cost_usd.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<diesel::sql_types::Double>,
                    >(
                        "CASE WHEN cost_usd IS NULL AND "
                    )
                    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Double>, _>(
                        usage.cost_usd,
                    )
                    .sql(" IS NULL THEN NULL ELSE coalesce(cost_usd, 0) + coalesce(")
                    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Double>, _>(
                        usage.cost_usd,
                    )
                    .sql(", 0) END")),
                ))
                .execute(conn)
                .await?;
        }
        Ok(Guarded::Written(row))
    })
    .await
}

/// The agent session the attempt's latest turn reported, for a follow-up to resume.
pub async fn last_agent_session(conn: &mut Conn, attempt_id: Uuid) -> QueryResult<Option<String>> {
    execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt_id))
        .filter(execution_processes::agent_session_id.is_not_null())
        .order((
            execution_processes::created_at.desc(),
            execution_processes::id.desc(),
        ))
        .select(execution_processes::agent_session_id)
        .first::<Option<String>>(conn)
        .await
        .optional()
        .map(Option::flatten)
}

/// The prompts of the attempt's earlier agent turns that ran, oldest first, for agents
/// that cannot resume a session and get the history replayed instead.
pub async fn earlier_prompts(
    conn: &mut Conn,
    attempt_id: Uuid,
    before: Uuid,
) -> QueryResult<Vec<String>> {
    let current: chrono::DateTime<chrono::Utc> = execution_processes::table
        .find(before)
        .select(execution_processes::created_at)
        .get_result(conn)
        .await?;
    execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt_id))
        .filter(
            execution_processes::run_reason.eq_any([RunReason::CodingAgent, RunReason::FollowUp]),
        )
        .filter(execution_processes::status.eq(ProcessStatus::Succeeded))
        .filter(execution_processes::created_at.lt(current))
        .order((
            execution_processes::created_at.asc(),
            execution_processes::id.asc(),
        ))
        .select(execution_processes::prompt)
        .load(conn)
        .await
}

/// Marks every still-queued process of the attempt killed, with `reason`: they will not
/// run because an earlier one failed or the attempt was stopped.
pub async fn kill_queued_processes(
    conn: &mut Conn,
    lease: &Lease,
    reason: &str,
) -> QueryResult<Guarded<Vec<ExecutionProcess>>> {
    let lease = lease.clone();
    let reason = reason.to_owned();
    conn.transaction(async move |conn| {
        if lease.renew(conn).await?.is_none() {
            return Ok(Guarded::LeaseLost);
        }
        let rows = diesel::update(
            execution_processes::table
                .filter(execution_processes::attempt_id.eq(lease.attempt_id))
                .filter(execution_processes::status.eq(ProcessStatus::Queued)),
        )
        .set((
            execution_processes::status.eq(ProcessStatus::Killed),
            execution_processes::failure_reason.eq(reason),
            execution_processes::finished_at.eq(now),
        ))
        .returning(ExecutionProcess::as_returning())
        .get_results(conn)
        .await?;
        Ok(Guarded::Written(rows))
    })
    .await
}

/// Records the attempt's end and releases the lease; a succeeded or failed attempt moves
/// its task to review (unless someone already moved it past in-progress). Returns the
/// attempt row and, when it changed, the task row.
pub async fn finish_attempt(
    conn: &mut Conn,
    lease: &Lease,
    task_id: Uuid,
    end: AttemptEnd,
) -> QueryResult<Guarded<(TaskAttempt, Option<Task>)>> {
    let lease = lease.clone();
    conn.transaction(async move |conn| {
        if lease.renew(conn).await?.is_none() {
            return Ok(Guarded::LeaseLost);
        }
        let status = end.status;
        let Some(attempt) = attempts::finish(conn, lease.attempt_id, &lease.worker_id, end).await?
        else {
            return Ok(Guarded::LeaseLost);
        };
        let task = if matches!(status, AttemptStatus::Succeeded | AttemptStatus::Failed) {
            diesel::update(
                tasks::table
                    .find(task_id)
                    .filter(tasks::status.eq_any([TaskStatus::Todo, TaskStatus::InProgress])),
            )
            .set(tasks::status.eq(TaskStatus::InReview))
            .returning(Task::as_returning())
            .get_result(conn)
            .await
            .optional()?
        } else {
            None
        };
        Ok(Guarded::Written((attempt, task)))
    })
    .await
}
