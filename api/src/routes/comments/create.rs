//! `POST /orgs/{org}/tasks/{id}/comments`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::TaskComment;
use shared::db::schema::task_comments;
use shared::wire::OrgEvent;
use shared::wire::{self, CreateComment, ErrorBody};
use uuid::Uuid;

use super::MAX_BODY_CHARS;
use crate::auth::{Actor, OrgAuth, Write};
use crate::error::ApiResult;
use crate::json_body::JsonBody;
use crate::routes::{IdPath, emit, lookup, required_text};
use crate::state::AppState;

/// Adds a comment to a task, as the signed-in person or the token. Every open board and
/// task view of the org gets it as a `comment.created` event.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/tasks/{id}/comments", tag = "tasks",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
    ),
    request_body = CreateComment,
    responses(
        (status = 201, description = "The comment", body = wire::Comment),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Empty or too long", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn create(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: JsonBody<CreateComment>,
) -> ApiResult<HttpResponse> {
    let text = required_text("body", &body.body, MAX_BODY_CHARS)?;
    let org_id = auth.org_id();
    let mut conn = state.db.org(org_id).await?;
    let (task, _) = lookup::task(&mut conn, org_id, path.id).await?;
    let (author_user_id, author_token_id) = match &auth.actor {
        Actor::User { id, .. } => (Some(*id), None),
        Actor::Token { id, .. } => (None, Some(*id)),
    };
    let comment = TaskComment {
        id: Uuid::now_v7(),
        org_id,
        task_id: task.id,
        author_user_id,
        author_token_id,
        author_label: auth.actor.label().to_owned(),
        body: text,
        created_at: chrono::Utc::now(),
    };
    // The stored row, so its time is what a later read gives (Postgres keeps microseconds).
    let comment: TaskComment = diesel::insert_into(task_comments::table)
        .values(&comment)
        .returning(TaskComment::as_returning())
        .get_result(&mut conn)
        .await?;
    drop(conn);
    let comment = wire::Comment::from(comment);
    emit(&state, org_id, OrgEvent::CommentCreated(comment.clone())).await;
    Ok(HttpResponse::Created().json(comment))
}
