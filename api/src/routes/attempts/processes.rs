//! `GET /orgs/{org}/attempts/{id}/processes`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::ExecutionProcess;
use shared::db::schema::execution_processes;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::state::AppState;

/// An attempt's execution processes in the order they run.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/attempts/{id}/processes", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "The attempt's processes", body = Vec<wire::Process>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn processes(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<Vec<wire::Process>>> {
    record_attempt(path.id);
    let mut conn = state.db.org(auth.org_id()).await?;
    let attempt = lookup::attempt(&mut conn, auth.org_id(), path.id).await?;
    let rows: Vec<ExecutionProcess> = execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt.id))
        .filter(execution_processes::org_id.eq(auth.org_id()))
        .select(ExecutionProcess::as_select())
        .order((
            execution_processes::created_at.asc(),
            execution_processes::id.asc(),
        ))
        .load(&mut conn)
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}
