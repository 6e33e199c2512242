//! `POST /orgs/{org}/members`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::Conn;
use shared::db::models::{Membership, User};
use shared::db::schema::{memberships, users};
use shared::domain::MemberRole;
use shared::wire::OrgEvent;
use shared::wire::{self, AddMember, ErrorBody};
use uuid::Uuid;

use super::{lock_owners, require_owner};
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::members::{lower, member};
use crate::routes::{OrgPath, emit};
use crate::state::AppState;

/// Adds a person who has signed in to Switchyard before, by login (case-insensitive),
/// with a role. Only an owner may add an owner. To bring in someone who has not signed
/// in yet, send an invitation.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = AddMember,
    responses(
        (status = 201, description = "The new member", body = wire::Member),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope, or is not an owner adding an owner (`owner_required`)", body = ErrorBody),
        (status = 404, description = "No such org for this caller, or no person with that login", body = ErrorBody),
        (status = 409, description = "Already a member (`already_member`)", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn add(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<OrgPath>,
    body: web::Json<AddMember>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let login = body.login.trim().to_owned();
    let mut conn = state.db.org(org_id).await?;
    let created = conn
        .transaction::<_, ApiError, _>(async |conn| {
            if body.role == MemberRole::Owner {
                let owners = lock_owners(conn, org_id).await?;
                require_owner(&auth.actor, &owners, "make someone an owner")?;
            }
            let user = user_by_login(conn, &login).await?;
            let membership: Membership = diesel::insert_into(memberships::table)
                .values((
                    memberships::id.eq(Uuid::now_v7()),
                    memberships::org_id.eq(org_id),
                    memberships::user_id.eq(user.id),
                    memberships::role.eq(body.role),
                ))
                .returning(Membership::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        ApiError::conflict(
                            ErrorCode::AlreadyMember,
                            format!("{} is already a member of the org", user.login),
                        )
                    }
                    other => other.into(),
                })?;
            Ok(member(membership, user))
        })
        .await?;
    drop(conn);

    tracing::info!(
        user.id = %created.user.id,
        role = %created.role,
        actor = %auth.actor.label(),
        "member added"
    );
    emit(&state, org_id, OrgEvent::MemberCreated(created.clone())).await;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/orgs/{}/members/{}", path.org, created.user.id),
        ))
        .json(created))
}

/// The person signed in as `login`, compared case-insensitively as GitHub does (an
/// exact match wins should two development logins differ only in case).
async fn user_by_login(conn: &mut Conn, login: &str) -> Result<User, ApiError> {
    let found: Vec<User> = users::table
        .filter(lower(users::login).eq(login.to_lowercase()))
        .select(User::as_select())
        .order(users::id.asc())
        .limit(10)
        .load(conn)
        .await?;
    let exact = found.iter().position(|u| u.login == login).unwrap_or(0);
    found
        .into_iter()
        .nth(exact)
        .ok_or(ApiError::NotFound("user"))
}
