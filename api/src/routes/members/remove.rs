//! `DELETE /orgs/{org}/members/{user}`

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::schema::{api_tokens, memberships};
use shared::domain::MemberRole;
use shared::wire::ErrorBody;
use shared::wire::{self, OrgEvent};
use uuid::Uuid;

use super::{MemberPath, keep_an_owner, lock_member, lock_owners, require_owner};
use crate::auth::revocation::{self, Revoked};
use crate::auth::{Admin, OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::emit;
use crate::state::AppState;

/// Removes a member from the org. Any member may remove themselves (leave); removing
/// someone else takes the admin scope, and removing an owner takes an owner. The last
/// owner can neither leave nor be removed.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("user" = uuid::Uuid, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed; the org API tokens they created are revoked"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Removing someone else without the admin scope, or an owner without being one (`owner_required`)", body = ErrorBody),
        (status = 404, description = "No such member in this org", body = ErrorBody),
        (status = 409, description = "The org's last owner (`last_owner`)", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn remove(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let user_id = path.user;
    let leaving = auth.actor.user_id() == Some(user_id);
    if !leaving {
        // Removing someone else is administration: check the caller as an admin route would.
        OrgAuth::<Admin>::extract(&req).await?;
    }
    let mut conn = state.db.org(org_id).await?;
    let revoked_tokens: Vec<Uuid> = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let owners = lock_owners(conn, org_id).await?;
            let (current, _) = lock_member(conn, org_id, user_id).await?;
            if current.role == MemberRole::Owner {
                if !leaving {
                    require_owner(&auth.actor, &owners, "remove an owner")?;
                }
                keep_an_owner(&owners)?;
            }
            diesel::delete(memberships::table.find(current.id))
                .execute(conn)
                .await?;
            // Their org API tokens go with their access: a token must not outlive the person
            // who made it.
            let revoked = diesel::update(
                api_tokens::table
                    .filter(api_tokens::org_id.eq(org_id))
                    .filter(api_tokens::created_by.eq(user_id))
                    .filter(api_tokens::revoked_at.is_null()),
            )
            .set(api_tokens::revoked_at.eq(diesel::dsl::now))
            .returning(api_tokens::id)
            .get_results(conn)
            .await?;
            Ok(revoked)
        })
        .await?;
    drop(conn);
    // Their open event streams (and those of the tokens revoked with them) close too.
    let mut revoked: Vec<Revoked> = revoked_tokens.into_iter().map(Revoked::Token).collect();
    revoked.push(Revoked::Member { org_id, user_id });
    revocation::announce(&state, &revoked).await;

    tracing::info!(user.id = %user_id, leaving, actor = %auth.actor.label(), "member removed");
    emit(
        &state,
        org_id,
        OrgEvent::MemberDeleted(wire::Deleted { id: user_id }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}
