//! `POST /orgs/{org}/invitations`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Invitation;
use shared::db::schema::{invitations, memberships, users};
use shared::domain::MemberRole;
use shared::wire::{self, CreateInvitation, CreatedInvitation, ErrorBody};
use uuid::Uuid;

use super::{SECRET_PREFIX, valid_email};
use crate::auth::people::valid_login;
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::members::lower;
use crate::routes::OrgPath;
use crate::state::AppState;

/// Invites a GitHub login or an email address (exactly one) with a role. The answer
/// carries the secret and the link to send, shown this once. Only an owner may invite
/// an owner. The invitation expires after `auth.invitation_ttl_secs`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invitations", tag = "invitations",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "The invitation and its secret, shown once", body = CreatedInvitation),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope, or is not an owner inviting an owner (`owner_required`)", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 409, description = "That person is already a member (`already_member`)", body = ErrorBody),
        (status = 422, description = "Not exactly one valid login or email", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn create(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<OrgPath>,
    body: JsonBody<CreateInvitation>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let github_login = body.github_login.as_deref().map(str::trim);
    let email = body.email.as_deref().map(str::trim);
    match (github_login, email) {
        (Some(login), None) if valid_login(login) => {}
        (None, Some(email)) if valid_email(email) => {}
        (Some(_), None) => {
            return Err(ApiError::validation(
                "github_login must be 1-39 letters, digits or hyphens, starting with a letter or digit",
            ));
        }
        (None, Some(_)) => return Err(ApiError::validation("email is not an email address")),
        _ => {
            return Err(ApiError::validation(
                "give exactly one of github_login and email",
            ));
        }
    }
    if body.role == MemberRole::Owner && auth.role != Some(MemberRole::Owner) {
        return Err(ApiError::refused(
            ErrorCode::OwnerRequired,
            "only an owner of the org may invite an owner",
        ));
    }

    let org_id = auth.org_id();
    let mut conn = state.db.org(org_id).await?;
    let mut members = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(org_id))
        .into_boxed();
    if let Some(login) = github_login {
        members = members.filter(lower(users::login).eq(login.to_lowercase()));
    }
    if let Some(email) = email {
        members = members.filter(lower(users::email.assume_not_null()).eq(email.to_lowercase()));
    }
    let already: i64 = members.count().get_result(&mut conn).await?;
    if already > 0 {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyMember,
            "that person is already a member of the org",
        ));
    }

    let ttl_secs = state.settings.auth.invitation_ttl_secs;
    let expires_at = i64::try_from(ttl_secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|ttl| Utc::now().checked_add_signed(ttl))
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "auth.invitation_ttl_secs ({ttl_secs}) is out of range"
            ))
        })?;
    let secret = crate::auth::tokens::mint_secret(SECRET_PREFIX);
    let row: Invitation = diesel::insert_into(invitations::table)
        .values((
            invitations::id.eq(Uuid::now_v7()),
            invitations::org_id.eq(org_id),
            invitations::role.eq(body.role),
            invitations::github_login.eq(github_login),
            invitations::email.eq(email),
            invitations::token_hash.eq(&secret.hash),
            invitations::invited_by.eq(auth.actor.user_id()),
            invitations::expires_at.eq(expires_at),
        ))
        .returning(Invitation::as_returning())
        .get_result(&mut conn)
        .await?;
    drop(conn);

    tracing::info!(
        invitation.id = %row.id,
        role = %row.role,
        actor = %auth.actor.label(),
        "invitation created"
    );
    let accept_url = format!(
        "{}/invitations/accept?token={}",
        state.settings.api.public_url.trim_end_matches('/'),
        secret.secret
    );
    let location = format!("/api/v1/orgs/{}/invitations/{}", path.org, row.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(CreatedInvitation {
            invitation: wire::Invitation::from_row(row, Utc::now()),
            token: secret.secret,
            accept_url,
        }))
}
