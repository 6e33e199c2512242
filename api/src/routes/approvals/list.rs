//! `GET /orgs/{org}/attempts/{id}/approvals`

use actix_web::web;
use shared::approvals::{self, PendingApproval};
use shared::wire::ErrorBody;

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::state::AppState;

/// The attempt's tool calls waiting for a decision, oldest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/attempts/{id}/approvals", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "Pending approvals", body = Vec<PendingApproval>),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<Vec<PendingApproval>>> {
    let org_id = auth.org_id();
    record_attempt(path.id);
    let mut conn = state.db.org(auth.org_id()).await?;
    // The attempt must be this org's: approvals of another org's attempt are not found.
    let attempt = lookup::attempt(&mut conn, org_id, path.id).await?;
    drop(conn);
    let mut redis = state.redis();
    Ok(web::Json(
        approvals::pending(&mut redis, &state.keys, attempt.id).await?,
    ))
}
