//! `POST /orgs/{org}/projects/{id}/tasks`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use shared::domain::{TaskOrigin, TaskPriority, TaskStatus};
use shared::wire::{self, CreateTask, ErrorBody};

use super::{check_description, check_position, clean_labels};
use crate::auth::{OrgAuth, Write};
use crate::boards::{self, NewCard};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::routes::{IdPath, required_text};
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
    body: JsonBody<CreateTask>,
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
    let card = NewCard {
        project_id,
        title: &title,
        description: &body.description,
        status,
        position,
        priority,
        labels,
        assignee_ids: &body.assignee_ids,
        parent_task_id: body.parent_task_id,
        origin: if auth.from_dashboard {
            TaskOrigin::Ui
        } else {
            TaskOrigin::Api
        },
        github_issue_number: None,
    };
    let (task, key_prefix, events) = conn
        .transaction::<_, ApiError, _>(async |conn| boards::create_task(conn, org_id, card).await)
        .await?;
    drop(conn);
    events.emit(&state, org_id).await;

    let task = wire::Task::from_row(task, &key_prefix);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/orgs/{}/tasks/{}", path.org, task.id),
        ))
        .json(task))
}
