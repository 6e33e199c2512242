//! `GET /orgs/{org}/attempts/{id}/processes`

use actix_web::web;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::ExecutionProcess;
use shared::db::schema::execution_processes;
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::paging::IdPageQuery;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::state::AppState;

/// An attempt's execution processes in the order they run (creation time, the id breaking
/// ties, as the worker picks them), a page at a time; the cursor is the last process's id.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/attempts/{id}/processes", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
        IdPageQuery,
    ),
    responses(
        (status = 200, description = "A page of the attempt's processes", body = Page<wire::Process>),
        (status = 400, description = "Malformed id, query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn processes(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<wire::Process>>> {
    record_attempt(path.id);
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let attempt = lookup::attempt(&mut conn, auth.org_id(), path.id).await?;
    let mut q = execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt.id))
        .filter(execution_processes::org_id.eq(auth.org_id()))
        .select(ExecutionProcess::as_select())
        .order((
            execution_processes::created_at.asc(),
            execution_processes::id.asc(),
        ))
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        let at: DateTime<Utc> = execution_processes::table
            .filter(execution_processes::id.eq(after))
            .filter(execution_processes::attempt_id.eq(attempt.id))
            .select(execution_processes::created_at)
            .first(&mut conn)
            .await
            .optional()?
            .ok_or_else(|| ApiError::InvalidQuery("invalid cursor".into()))?;
        q = q.filter(
            execution_processes::created_at
                .gt(at)
                .or(execution_processes::created_at
                    .eq(at)
                    .and(execution_processes::id.gt(after))),
        );
    }
    let rows: Vec<ExecutionProcess> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |p| p.id);
    Ok(web::Json(Page {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
