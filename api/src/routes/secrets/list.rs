//! `GET /orgs/{org}/secrets`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::OrgSecret;
use shared::db::schema::org_secrets;
use shared::wire::{self, ErrorBody, Page};

use super::info;
use crate::auth::{Admin, OrgAuth};
use crate::error::ApiResult;
use crate::routes::OrgPath;
use crate::state::AppState;

/// The org's secrets by name: names, key ids and times, never values. Always one
/// complete page (an org holds at most 500 secrets).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/secrets", tag = "secrets",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, description = "The org's secrets, without values", body = Page<wire::SecretInfo>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn list(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
) -> ApiResult<web::Json<Page<wire::SecretInfo>>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let rows: Vec<OrgSecret> = org_secrets::table
        .filter(org_secrets::org_id.eq(auth.org_id()))
        .select(OrgSecret::as_select())
        .order(org_secrets::name.asc())
        .load(&mut conn)
        .await?;
    Ok(web::Json(Page {
        items: rows.iter().map(info).collect(),
        next_cursor: None,
    }))
}
