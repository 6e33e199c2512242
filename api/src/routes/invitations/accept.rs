//! `POST /invitations/accept`

use actix_web::{HttpMessage, HttpRequest, web};
use chrono::Utc;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{Invitation, Membership, Organization, User};
use shared::db::schema::{invitations, memberships, organizations};
use shared::wire::OrgEvent;
use shared::wire::{AcceptInvitation, AcceptedInvitation, ErrorBody};
use uuid::Uuid;

use super::SECRET_PREFIX;
use crate::auth::{Actor, AuditActor, UserAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::members::member;
use crate::routes::emit;
use crate::state::AppState;

/// Accepts an invitation as the signed-in person, who joins its org with its role. The
/// invitation must be for this person (their login matches its GitHub login, or their
/// email its email, ignoring case), and can be used once, before it expires and unless
/// it was revoked. People only: an org API token answers 403 `person_required`.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "invitations",
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "Joined: the org and the role", body = AcceptedInvitation),
        (status = 400, description = "Malformed body, or the invitation expired (`invitation_expired`), was used (`invitation_used`) or revoked (`invitation_revoked`)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An org API token, or the invitation is for someone else (`invitation_mismatch`)", body = ErrorBody),
        (status = 404, description = "No such invitation", body = ErrorBody),
        (status = 409, description = "Already a member of the org (`already_member`)", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn accept(
    state: web::Data<AppState>,
    auth: UserAuth,
    req: HttpRequest,
    body: JsonBody<AcceptInvitation>,
) -> ApiResult<web::Json<AcceptedInvitation>> {
    let secret = body.into_inner().token;
    if !secret.starts_with(SECRET_PREFIX) {
        return Err(ApiError::NotFound("invitation"));
    }
    let user = auth.user;
    // The org is not known until the invitation is: a system read by the secret's hash.
    let mut conn = state.db.system().await?;
    let found: Option<Invitation> = invitations::table
        .filter(invitations::token_hash.eq(crate::auth::tokens::hash(&secret)))
        .select(Invitation::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    drop(conn);
    let invitation = found.ok_or(ApiError::NotFound("invitation"))?;
    if !is_for(&invitation, &user) {
        return Err(ApiError::refused(
            ErrorCode::InvitationMismatch,
            "this invitation is for someone else: sign in as the person it was sent to",
        ));
    }
    usable(&invitation)?;

    let org_id = invitation.org_id;
    let mut conn = state.db.org(org_id).await?;
    let (org, joined) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let already: i64 = memberships::table
                .filter(memberships::org_id.eq(org_id))
                .filter(memberships::user_id.eq(user.id))
                .count()
                .get_result(conn)
                .await?;
            if already > 0 {
                return Err(already_member());
            }
            // Single use: only one request can move it out of the pending state.
            let claimed = diesel::update(
                invitations::table
                    .filter(invitations::id.eq(invitation.id))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null())
                    .filter(invitations::expires_at.gt(diesel::dsl::now)),
            )
            .set((
                invitations::accepted_at.eq(diesel::dsl::now),
                invitations::accepted_by.eq(user.id),
            ))
            .returning(Invitation::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            if claimed.is_none() {
                // Something changed since the read above: say what.
                let now: Invitation = invitations::table
                    .find(invitation.id)
                    .select(Invitation::as_select())
                    .first(conn)
                    .await?;
                usable(&now)?;
                // Neither used nor revoked: it expired by the database's clock.
                return Err(expired());
            }
            let membership: Membership = diesel::insert_into(memberships::table)
                .values((
                    memberships::id.eq(Uuid::now_v7()),
                    memberships::org_id.eq(org_id),
                    memberships::user_id.eq(user.id),
                    memberships::role.eq(invitation.role),
                ))
                .returning(Membership::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        already_member()
                    }
                    other => other.into(),
                })?;
            let org: Organization = organizations::table
                .find(org_id)
                .select(Organization::as_select())
                .first(conn)
                .await?;
            Ok((org, member(membership, user.clone(), false)))
        })
        .await?;
    drop(conn);

    req.extensions_mut().insert(AuditActor {
        org_id,
        actor: Actor::User {
            id: user.id,
            login: user.login.clone(),
            session_id: auth.session_id,
        },
    });
    tracing::info!(
        invitation.id = %invitation.id,
        org.id = %org_id,
        user.id = %user.id,
        role = %joined.role,
        "invitation accepted"
    );
    emit(&state, org_id, OrgEvent::MemberCreated(joined.clone())).await;
    Ok(web::Json(AcceptedInvitation {
        org: org.into(),
        role: joined.role,
    }))
}

/// Whether the invitation names this person: by login, or by email, ignoring case.
fn is_for(invitation: &Invitation, user: &User) -> bool {
    let by_login = invitation
        .github_login
        .as_deref()
        .is_some_and(|l| l.eq_ignore_ascii_case(&user.login));
    let by_email = match (invitation.email.as_deref(), user.email.as_deref()) {
        (Some(invited), Some(own)) => invited.eq_ignore_ascii_case(own),
        _ => false,
    };
    by_login || by_email
}

/// Refuses an invitation that was used, revoked, or has expired.
fn usable(invitation: &Invitation) -> Result<(), ApiError> {
    if invitation.accepted_at.is_some() {
        return Err(used());
    }
    if invitation.revoked_at.is_some() {
        return Err(ApiError::bad_request(
            ErrorCode::InvitationRevoked,
            "this invitation was revoked; ask for a new one",
        ));
    }
    if invitation.expires_at <= Utc::now() {
        return Err(expired());
    }
    Ok(())
}

fn expired() -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvitationExpired,
        "this invitation has expired; ask for a new one",
    )
}

fn used() -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvitationUsed,
        "this invitation was accepted already",
    )
}

fn already_member() -> ApiError {
    ApiError::conflict(
        ErrorCode::AlreadyMember,
        "you are already a member of this org",
    )
}
