//! `DELETE /orgs/{org}/secrets/{name}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::org_secrets;
use shared::wire::ErrorBody;

use super::SecretPath;
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Deletes a secret. Attempts that start afterwards run without it.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/secrets/{name}", tag = "secrets",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("name" = String, Path, description = "Secret name"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such secret in this org", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn delete(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<SecretPath>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let deleted = diesel::delete(
        org_secrets::table
            .filter(org_secrets::org_id.eq(auth.org_id()))
            .filter(org_secrets::name.eq(&path.name)),
    )
    .execute(&mut conn)
    .await?;
    drop(conn);
    if deleted == 0 {
        return Err(ApiError::NotFound("secret"));
    }
    tracing::info!(secret.name = %path.name, actor = %auth.actor.label(), "org secret deleted");
    Ok(HttpResponse::NoContent().finish())
}
