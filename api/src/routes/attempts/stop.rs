//! `POST /orgs/{org}/attempts/{id}/stop`

use actix_web::web;
use diesel_async::AsyncConnection;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::routes::{IdPath, record_attempt};
use crate::runs;
use crate::state::AppState;

/// Stops an attempt. A queued or scheduled attempt is cancelled at once (its queued
/// processes killed; a worker's claim of it then fails). A running one gets
/// `stop_requested`, which its worker sees on its next heartbeat. Stopping a finished
/// attempt changes nothing and answers it as it is.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/stop", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "The attempt after the request", body = wire::Attempt),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn stop(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<wire::Attempt>> {
    let org_id = auth.org_id();
    let id = path.id;
    record_attempt(id);
    let mut conn = state.db.org(auth.org_id()).await?;
    let (attempt, events) = conn
        .transaction::<_, ApiError, _>(async |conn| runs::stop(conn, org_id, id).await)
        .await?;
    drop(conn);

    let attempt = wire::Attempt::from(attempt);
    if !events.is_empty() {
        events.emit(&state, org_id).await;
        tracing::info!(status = %attempt.status, "attempt stop requested");
    }
    Ok(web::Json(attempt))
}
