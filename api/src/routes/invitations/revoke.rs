//! `DELETE /orgs/{org}/invitations/{id}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Invitation;
use shared::db::schema::invitations;
use shared::wire::ErrorBody;

use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::IdPath;
use crate::state::AppState;

/// Revokes an invitation: its link stops working at once. Revoking a revoked invitation
/// is a no-op; an accepted one cannot be revoked (remove the member instead).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/invitations/{id}", tag = "invitations",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Invitation id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such invitation in this org", body = ErrorBody),
        (status = 409, description = "Already accepted (`invitation_used`)", body = ErrorBody),
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
        invitations::table
            .filter(invitations::id.eq(path.id))
            .filter(invitations::org_id.eq(org_id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(diesel::dsl::now))
    .execute(&mut conn)
    .await?;
    if revoked == 0 {
        let row: Invitation = invitations::table
            .filter(invitations::id.eq(path.id))
            .filter(invitations::org_id.eq(org_id))
            .select(Invitation::as_select())
            .first(&mut conn)
            .await
            .optional()?
            .ok_or(ApiError::NotFound("invitation"))?;
        if row.accepted_at.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::InvitationUsed,
                "the invitation was accepted already; remove the member instead",
            ));
        }
    } else {
        tracing::info!(invitation.id = %path.id, actor = %auth.actor.label(), "invitation revoked");
    }
    Ok(HttpResponse::NoContent().finish())
}
