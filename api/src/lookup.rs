//! Loading one resource scoped by the caller's org. Every lookup filters by `org_id`, so
//! another org's id answers 404 exactly like a missing one.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::Conn;
use shared::db::models::{ExecutionProcess, Organization, Project, Repository, Task, TaskAttempt};
use shared::db::schema::{
    execution_processes, organizations, projects, repositories, task_attempts, tasks,
};
use uuid::Uuid;

use crate::error::ApiError;

/// A project and its repository.
pub async fn project(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<(Project, Repository), ApiError> {
    projects::table
        .inner_join(repositories::table)
        .filter(projects::id.eq(id))
        .filter(projects::org_id.eq(org_id))
        .select((Project::as_select(), Repository::as_select()))
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("project"))
}

/// The org's row as it is now.
pub async fn org(conn: &mut Conn, id: Uuid) -> Result<Organization, ApiError> {
    organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("organization"))
}

/// A task and its project's key prefix (for the task's key).
pub async fn task(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<(Task, String), ApiError> {
    tasks::table
        .inner_join(projects::table)
        .filter(tasks::id.eq(id))
        .filter(tasks::org_id.eq(org_id))
        .select((Task::as_select(), projects::key_prefix))
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("task"))
}

/// An attempt.
pub async fn attempt(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<TaskAttempt, ApiError> {
    task_attempts::table
        .filter(task_attempts::id.eq(id))
        .filter(task_attempts::org_id.eq(org_id))
        .select(TaskAttempt::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("attempt"))
}

/// An attempt, row-locked until the transaction ends, for guarded status changes.
pub async fn attempt_for_update(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<TaskAttempt, ApiError> {
    task_attempts::table
        .filter(task_attempts::id.eq(id))
        .filter(task_attempts::org_id.eq(org_id))
        .select(TaskAttempt::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("attempt"))
}

/// An execution process.
pub async fn process(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<ExecutionProcess, ApiError> {
    execution_processes::table
        .filter(execution_processes::id.eq(id))
        .filter(execution_processes::org_id.eq(org_id))
        .select(ExecutionProcess::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("process"))
}
