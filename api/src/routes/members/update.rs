//! `PATCH /orgs/{org}/members/{user}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::Membership;
use shared::db::schema::memberships;
use shared::domain::MemberRole;
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody, UpdateMember};

use super::{MemberPath, keep_an_owner, lock_member, lock_owners, require_owner};
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::members::member;
use crate::routes::emit;
use crate::state::AppState;

/// Changes a member's role. Only an owner may make someone an owner or demote an owner,
/// and the last owner cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("user" = uuid::Uuid, Path, description = "The member's user id"),
    ),
    request_body = UpdateMember,
    responses(
        (status = 200, description = "The member with the new role", body = wire::Member),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope, or the change needs an owner (`owner_required`)", body = ErrorBody),
        (status = 404, description = "No such member in this org", body = ErrorBody),
        (status = 409, description = "It would leave the org without an owner (`last_owner`)", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn update(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
    body: JsonBody<UpdateMember>,
) -> ApiResult<web::Json<wire::Member>> {
    let role = body.into_inner().role;
    let org_id = auth.org_id();
    let user_id = path.user;
    let mut conn = state.db.org(org_id).await?;
    let (updated, changed) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // Owners first, then the member: every owner-touching change locks in this order.
            let owners = lock_owners(conn, org_id).await?;
            let (current, user) = lock_member(conn, org_id, user_id).await?;
            if current.role == role {
                return Ok((member(current, user, true), false));
            }
            if current.role == MemberRole::Owner || role == MemberRole::Owner {
                require_owner(&auth.actor, &owners, "grant or take away the owner role")?;
            }
            if current.role == MemberRole::Owner {
                keep_an_owner(&owners)?;
            }
            let membership: Membership = diesel::update(memberships::table.find(current.id))
                .set(memberships::role.eq(role))
                .returning(Membership::as_returning())
                .get_result(conn)
                .await?;
            Ok((member(membership, user, true), true))
        })
        .await?;
    drop(conn);

    if changed {
        tracing::info!(
            user.id = %user_id,
            role = %updated.role,
            actor = %auth.actor.label(),
            "member role changed"
        );
        let mut event = updated.clone();
        event.user.email = None;
        emit(&state, org_id, OrgEvent::MemberUpdated(event)).await;
    }
    Ok(web::Json(updated))
}
