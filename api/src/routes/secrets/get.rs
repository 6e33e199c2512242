//! `GET /orgs/{org}/secrets/{name}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::OrgSecret;
use shared::db::schema::org_secrets;
use shared::wire::{self, ErrorBody};

use super::{SecretPath, info};
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Whether the org has the secret, and when it last changed; never its value.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/secrets/{name}", tag = "secrets",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("name" = String, Path, description = "Secret name"),
    ),
    responses(
        (status = 200, description = "The secret, without its value", body = wire::SecretInfo),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such secret in this org", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn get(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<SecretPath>,
) -> ApiResult<web::Json<wire::SecretInfo>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let row: OrgSecret = org_secrets::table
        .filter(org_secrets::org_id.eq(auth.org_id()))
        .filter(org_secrets::name.eq(&path.name))
        .select(OrgSecret::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("secret"))?;
    Ok(web::Json(info(&row)))
}
