//! `PATCH /orgs/{org}/tasks/{id}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::Task;
use shared::db::schema::{projects, tasks};
use shared::domain::{TaskPriority, TaskStatus};
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody, UpdateTask};

use super::{check_description, check_position, clean_labels};
use crate::auth::{OrgAuth, Write};
use crate::boards::{check_assignees, end_of_column};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::routes::{IdPath, emit, required_text};
use crate::state::AppState;

/// The columns a PATCH may change; `None` leaves a column alone.
#[derive(AsChangeset, Default)]
#[diesel(table_name = tasks)]
struct Changes {
    title: Option<String>,
    description: Option<String>,
    status: Option<TaskStatus>,
    position: Option<f64>,
    priority: Option<TaskPriority>,
    labels: Option<Vec<Option<String>>>,
    assignee_ids: Option<Vec<Option<uuid::Uuid>>>,
}

/// Edits a task or moves it on the board. A task moved to another column without a
/// position goes to the end of that column.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/tasks/{id}", tag = "tasks",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
    ),
    request_body = UpdateTask,
    responses(
        (status = 200, description = "The updated task", body = wire::Task),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
        (status = 422, description = "Invalid value", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn update(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: JsonBody<UpdateTask>,
) -> ApiResult<web::Json<wire::Task>> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let id = path.id;
    let mut changes = Changes {
        title: body
            .title
            .as_deref()
            .map(|t| required_text("title", t, 500))
            .transpose()?,
        status: body.status,
        position: body.position.map(check_position).transpose()?,
        priority: body.priority,
        labels: body.labels.as_deref().map(clean_labels).transpose()?,
        ..Changes::default()
    };
    if let Some(description) = body.description {
        check_description(&description)?;
        changes.description = Some(description);
    }

    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, key_prefix) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let current: Task = tasks::table
                .filter(tasks::id.eq(id))
                .filter(tasks::org_id.eq(org_id))
                .select(Task::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(ApiError::NotFound("task"))?;
            let key_prefix: String = projects::table
                .find(current.project_id)
                .select(projects::key_prefix)
                .first(conn)
                .await?;
            if let Some(assignees) = &body.assignee_ids {
                changes.assignee_ids = Some(check_assignees(conn, org_id, assignees).await?);
            }
            let moved = changes.status.is_some_and(|s| s != current.status);
            if moved && changes.position.is_none() {
                let column = changes.status.unwrap_or(current.status);
                changes.position = Some(end_of_column(conn, current.project_id, column).await?);
            }
            let empty = changes.title.is_none()
                && changes.description.is_none()
                && changes.status.is_none()
                && changes.position.is_none()
                && changes.priority.is_none()
                && changes.labels.is_none()
                && changes.assignee_ids.is_none();
            if empty {
                return Ok((current, key_prefix));
            }
            let task: Task = diesel::update(tasks::table.find(id))
                .set(&changes)
                .returning(Task::as_returning())
                .get_result(conn)
                .await?;
            Ok((task, key_prefix))
        })
        .await?;
    drop(conn);

    let task = wire::Task::from_row(task, &key_prefix);
    emit(&state, org_id, OrgEvent::TaskUpdated(task.clone())).await;
    Ok(web::Json(task))
}
