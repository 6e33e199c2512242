//! `POST /orgs/{org}/attempts/{id}/follow-up`

use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use shared::wire::{self, ErrorBody, FollowUp};

use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::routes::{IdPath, record_attempt};
use crate::runs;
use crate::state::AppState;

/// Continues a finished (succeeded or failed) attempt on its branch: a queued follow-up
/// process, and the attempt back to queued with a fresh retry budget. Any other state
/// answers 409 `attempt_busy`. Returns the new process.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/follow-up", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    request_body = FollowUp,
    responses(
        (status = 201, description = "The queued follow-up process", body = wire::Process),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 409, description = "The attempt is not finished (or was cancelled)", body = ErrorBody),
        (status = 422, description = "Invalid prompt", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn follow_up(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: JsonBody<FollowUp>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let id = path.id;
    record_attempt(id);
    runs::check_prompt(&body.prompt)?;
    let trace_context = shared::telemetry::current_traceparent();
    let mut conn = state.db.org(auth.org_id()).await?;
    let (_, process, events) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            runs::queue_follow_up(conn, org_id, id, &body.prompt, trace_context).await
        })
        .await?;
    drop(conn);
    events.emit(&state, org_id).await;
    let process = wire::Process::from(process);
    Ok(HttpResponse::Created().json(process))
}
