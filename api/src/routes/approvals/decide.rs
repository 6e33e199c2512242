//! `POST /orgs/{org}/attempts/{id}/approvals/{approval_id}`

use actix_web::web;
use shared::approvals::{self, Decision};
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody};

use super::ApprovalPath;
use crate::auth::{OrgAuth, Runs};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::routes::{emit, lookup, record_attempt};
use crate::state::AppState;

/// Approves or denies a tool call the agent is waiting on; the worker running the agent
/// passes the decision (and a denial's reason) to it. Needs the `runs` scope. An approval
/// already decided, timed out or unknown answers 404 `not_found`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/approvals/{approval_id}", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
        ("approval_id" = uuid::Uuid, Path, description = "Approval id"),
    ),
    request_body = Decision,
    responses(
        (status = 200, description = "Decision recorded", body = Decision),
        (status = 400, description = "Malformed id or body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org, or no such pending approval", body = ErrorBody),
        (status = 422, description = "Reason too long", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn decide(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<ApprovalPath>,
    body: JsonBody<Decision>,
) -> ApiResult<web::Json<Decision>> {
    let org_id = auth.org_id();
    record_attempt(path.id);
    let decision = body.into_inner();
    if decision
        .reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > 2_000)
    {
        return Err(ApiError::validation(
            "reason must be at most 2000 characters",
        ));
    }
    let mut conn = state.db.org(auth.org_id()).await?;
    let attempt = lookup::attempt(&mut conn, org_id, path.id).await?;
    drop(conn);
    let mut redis = state.redis();
    if !approvals::decide(
        &mut redis,
        &state.keys,
        attempt.id,
        path.approval_id,
        &decision,
    )
    .await?
    {
        return Err(ApiError::NotFound("approval"));
    }
    let event = wire::ApprovalDecided {
        id: path.approval_id,
        attempt_id: attempt.id,
        approve: decision.approve,
        reason: decision.reason.clone(),
    };
    emit(&state, org_id, OrgEvent::ApprovalDecided(event)).await;
    Ok(web::Json(decision))
}
