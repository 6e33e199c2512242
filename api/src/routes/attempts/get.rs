//! `GET /orgs/{org}/attempts/{id}`

use actix_web::web;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::state::AppState;

/// One attempt.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/attempts/{id}", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "The attempt", body = wire::Attempt),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn get(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<wire::Attempt>> {
    record_attempt(path.id);
    let mut conn = state.db.org(auth.org_id()).await?;
    let attempt = lookup::attempt(&mut conn, auth.org_id(), path.id).await?;
    Ok(web::Json(attempt.into()))
}
