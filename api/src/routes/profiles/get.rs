//! `GET /orgs/{org}/executor-profiles/{name}`

use actix_web::web;
use shared::executors;
use shared::wire::{self, ErrorBody};

use super::{ProfilePath, builtin_wire, check_name, org_hides, org_row, row_wire};
use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The profile of that name in effect for the org: its own, else the built-in one.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/executor-profiles/{name}", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("name" = String, Path, description = "Profile name"),
    ),
    responses(
        (status = 200, description = "The profile", body = wire::ExecutorProfile),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such profile for this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn get(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<ProfilePath>,
) -> ApiResult<web::Json<wire::ExecutorProfile>> {
    if check_name(&path.name).is_err() {
        return Err(ApiError::NotFound("executor profile"));
    }
    let mut conn = state.db.org(auth.org_id()).await?;
    if let Some(row) = org_row(&mut conn, auth.org_id(), &path.name).await? {
        return Ok(web::Json(row_wire(&row, org_hides(&row.name))?));
    }
    executors::builtin_profile(&path.name)
        .map(|p| web::Json(builtin_wire(p)))
        .ok_or(ApiError::NotFound("executor profile"))
}
