//! `GET /orgs/{org}`

use actix_web::web;
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{OrgPath, lookup};
use crate::state::AppState;

/// The org: its slug, name and limits.
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, description = "The org", body = wire::Organization),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn get(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
) -> ApiResult<web::Json<wire::Organization>> {
    // The row itself: the org authentication found may be a cached copy.
    let mut conn = state.db.org(auth.org_id()).await?;
    Ok(web::Json(
        lookup::org(&mut conn, auth.org_id()).await?.into(),
    ))
}
