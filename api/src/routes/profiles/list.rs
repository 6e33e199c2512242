//! `GET /orgs/{org}/executor-profiles`

use actix_web::web;
use shared::wire::{self, ErrorBody, Page};

use super::{merge, org_rows};
use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::OrgPath;
use crate::state::AppState;

/// The org's profiles merged over the built-in ones, by name, each marked with its
/// source (`builtin` or `org`) and, for an org profile, whether it replaces a built-in
/// one. Always one complete page: an org has at most 100 profiles of its own.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/executor-profiles", tag = "profiles",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, description = "Every profile in effect for the org", body = Page<wire::ExecutorProfile>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
) -> ApiResult<web::Json<Page<wire::ExecutorProfile>>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let rows = org_rows(&mut conn, auth.org_id()).await?;
    Ok(web::Json(Page {
        items: merge(&rows, &[])?,
        next_cursor: None,
    }))
}
