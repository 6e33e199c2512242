//! `GET /orgs/{org}/tasks/{id}/attempts`

use actix_web::web;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::TaskAttempt;
use shared::db::schema::task_attempts;
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::paging::IdPageQuery;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// A task's attempts, oldest first, a page at a time. (Attempt ids are random, so the
/// order is creation time with the id breaking ties; the cursor is the last attempt's id.)
#[utoipa::path(get, path = "/api/v1/orgs/{org}/tasks/{id}/attempts", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Task id"),
        IdPageQuery,
    ),
    responses(
        (status = 200, description = "A page of the task's attempts", body = Page<wire::Attempt>),
        (status = 400, description = "Malformed id, query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such task in this org", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<wire::Attempt>>> {
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let (task, _) = lookup::task(&mut conn, auth.org_id(), path.id).await?;
    let mut q = task_attempts::table
        .filter(task_attempts::task_id.eq(task.id))
        .filter(task_attempts::org_id.eq(auth.org_id()))
        .select(TaskAttempt::as_select())
        .order((task_attempts::created_at.asc(), task_attempts::id.asc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        let at: DateTime<Utc> = task_attempts::table
            .filter(task_attempts::id.eq(after))
            .filter(task_attempts::task_id.eq(task.id))
            .select(task_attempts::created_at)
            .first(&mut conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::InvalidQuery("invalid cursor".into()))?;
        q = q.filter(
            task_attempts::created_at
                .gt(at)
                .or(task_attempts::created_at
                    .eq(at)
                    .and(task_attempts::id.gt(after))),
        );
    }
    let rows: Vec<TaskAttempt> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |a| a.id);
    Ok(web::Json(Page {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
