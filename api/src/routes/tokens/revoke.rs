//! `DELETE /orgs/{org}/tokens/{id}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::api_tokens;
use shared::wire::ErrorBody;

use crate::auth::revocation::{self, Revoked};
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::routes::IdPath;
use crate::state::AppState;

/// Revokes a token: every request that presents it from now on answers 401, and the
/// event streams it holds open close at their next heartbeat. Revoking a
/// revoked token is a no-op; the row stays, for the audit log and the listing.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/tokens/{id}", tag = "tokens",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Token id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such token in this org", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn revoke(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let mut conn = state.db.org(org_id).await?;
    let revoked = diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(path.id))
            .filter(api_tokens::org_id.eq(org_id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(diesel::dsl::now))
    .execute(&mut conn)
    .await?;
    if revoked == 0 {
        let exists: i64 = api_tokens::table
            .filter(api_tokens::id.eq(path.id))
            .filter(api_tokens::org_id.eq(org_id))
            .count()
            .get_result(&mut conn)
            .await?;
        if exists == 0 {
            return Err(ApiError::NotFound("token"));
        }
    } else {
        drop(conn);
        tracing::info!(token.id = %path.id, actor = %auth.actor.label(), "api token revoked");
        revocation::announce(&state, &[Revoked::Token(path.id)]).await;
    }
    Ok(HttpResponse::NoContent().finish())
}
