//! Members of an org and their roles.
//!
//! The owner role is guarded: only an owner may grant it, take it away or remove an
//! owner, and the last owner can neither leave, be removed nor be demoted (409
//! `last_owner`), so every org keeps someone who can administer it. Changes that touch
//! owners lock the org's owner memberships (`FOR UPDATE`) for their transaction, so two
//! owners demoting each other at the same moment cannot both succeed.

pub mod list;
pub mod remove;
pub mod update;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::Conn;
use shared::db::models::{Membership, User};
use shared::db::schema::{memberships, users};
use shared::domain::MemberRole;
use uuid::Uuid;

use crate::auth::Actor;
use crate::error::{ApiError, ErrorCode};

/// `/orgs/{org}/members/{user}` paths. A malformed user id answers 400 `invalid_id`.
#[derive(Debug, Deserialize)]
pub struct MemberPath {
    pub org: String,
    pub user: Uuid,
}

/// Locks the org's owner memberships until the transaction ends and returns their user
/// ids. Every change that could leave an org without an owner takes this lock first,
/// so such changes run one after another and each sees the owners the last one left.
pub async fn lock_owners(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Uuid>, ApiError> {
    Ok(memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::role.eq(MemberRole::Owner))
        .order(memberships::id.asc())
        .select(memberships::user_id)
        .for_update()
        .load(conn)
        .await?)
}

/// A membership of the org, locked until the transaction ends, and its person.
pub async fn lock_member(
    conn: &mut Conn,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<(Membership, User), ApiError> {
    let membership: Membership = memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::user_id.eq(user_id))
        .select(Membership::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("member"))?;
    let user: User = users::table
        .find(user_id)
        .select(User::as_select())
        .first(conn)
        .await?;
    Ok((membership, user))
}

/// Refuses unless `actor` is one of `owners` (org API tokens never are).
pub fn require_owner(actor: &Actor, owners: &[Uuid], what: &str) -> Result<(), ApiError> {
    match actor.user_id() {
        Some(id) if owners.contains(&id) => Ok(()),
        _ => Err(ApiError::refused(
            ErrorCode::OwnerRequired,
            format!("only an owner of the org may {what}"),
        )),
    }
}

/// Refuses when `owners` is down to one: the org must keep an owner.
pub fn keep_an_owner(owners: &[Uuid]) -> Result<(), ApiError> {
    if owners.len() <= 1 {
        return Err(ApiError::conflict(
            ErrorCode::LastOwner,
            "the org's last owner cannot leave, be removed or be demoted; make someone else owner first",
        ));
    }
    Ok(())
}
