//! `POST /orgs/{org}/projects/{id}/tasks`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{NewTask, Task};
use shared::db::schema::{projects, tasks};
use shared::domain::{TaskOrigin, TaskPriority, TaskStatus};
use shared::wire::{self, CreateTask, ErrorBody};
use uuid::Uuid;

use super::{check_assignees, check_description, check_position, clean_labels, end_of_column};
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult};
use crate::routes::{IdPath, emit, required_text};
use crate::state::AppState;

/// Creates a task on a project's board. Its number is the project's next (so keys read
/// `PREFIX-1`, `PREFIX-2`, ...); it goes to the end of its column unless a position is given.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects/{id}/tasks", tag = "tasks",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
    ),
    request_body = CreateTask,
    responses(
        (status = 201, description = "The task", body = wire::Task),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid value", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn create(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: web::Json<CreateTask>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let project_id = path.id;
    let title = required_text("title", &body.title, 500)?;
    check_description(&body.description)?;
    let labels = clean_labels(&body.labels)?;
    let position = body.position.map(check_position).transpose()?;
    let status = body.status.unwrap_or(TaskStatus::Todo);
    let priority = body.priority.unwrap_or(TaskPriority::None);

    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, key_prefix) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // Taking the number locks the project row until commit, so numbers never repeat.
            let (number, key_prefix): (i64, String) = diesel::update(
                projects::table
                    .filter(projects::id.eq(project_id))
                    .filter(projects::org_id.eq(org_id)),
            )
            .set(projects::task_counter.eq(projects::task_counter + 1))
            .returning((projects::task_counter, projects::key_prefix))
            .get_result(conn)
            .await
            .optional()?
            .ok_or(ApiError::NotFound("project"))?;
            let assignee_ids = check_assignees(conn, org_id, &body.assignee_ids).await?;
            if let Some(parent) = body.parent_task_id {
                check_parent(conn, project_id, parent).await?;
            }
            let position = match position {
                Some(p) => p,
                None => end_of_column(conn, project_id, status).await?,
            };
            let task: Task = diesel::insert_into(tasks::table)
                .values(NewTask {
                    id: Uuid::now_v7(),
                    org_id,
                    project_id,
                    number,
                    title: &title,
                    description: &body.description,
                    status,
                    position,
                    priority,
                    labels,
                    assignee_ids,
                    parent_task_id: body.parent_task_id,
                    origin: if auth.from_dashboard {
                        TaskOrigin::Ui
                    } else {
                        TaskOrigin::Api
                    },
                })
                .returning(Task::as_returning())
                .get_result(conn)
                .await?;
            Ok((task, key_prefix))
        })
        .await?;
    drop(conn);

    let task = wire::Task::from_row(task, &key_prefix);
    emit(&state, org_id, "task.created", &task).await;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/orgs/{}/tasks/{}", path.org, task.id),
        ))
        .json(task))
}

/// A parent task must be on the same board.
async fn check_parent(
    conn: &mut diesel_async::AsyncPgConnection,
    project_id: Uuid,
    parent: Uuid,
) -> Result<(), ApiError> {
    let found: i64 = tasks::table
        .filter(tasks::id.eq(parent))
        .filter(tasks::project_id.eq(project_id))
        .count()
        .get_result(conn)
        .await?;
    if found == 0 {
        return Err(ApiError::validation(
            "parent_task_id must name a task of the same project",
        ));
    }
    Ok(())
}
