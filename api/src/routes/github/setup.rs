//! `GET /github/setup`: where GitHub sends the browser after the App was installed (the
//! App's "Setup URL"), with `installation_id`, `setup_action` and our `state`.
//!
//! The state (single use, from [`super::install`]) names the org; the signed-in person
//! must be the one who asked for the link (when a person did) and an admin or owner of
//! that org. Because `installation_id` arrives in a URL anyone can edit, the person must
//! also control the installation's GitHub account: be that account (a user installation),
//! or an active admin of that GitHub organization (checked with
//! `GET /orgs/{org}/memberships/{login}`). The installation is then linked to the org
//! (an installation already linked to another org is refused), its repositories are
//! stored, the change is audited, and the browser lands on the org's GitHub settings.
//!
//! Without a state (GitHub's `setup_action=update`, after repositories were changed on
//! GitHub), an installation already linked to an org the person administers is synced
//! again.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::User;
use shared::db::schema::{memberships, organizations};
use shared::domain::MemberRole;
use shared::github::{GithubApp, GithubError, Installation};
use shared::wire::ErrorBody;
use utoipa::IntoParams;
use uuid::Uuid;

use super::install::PendingInstall;
use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::github::installations::{self, Actor, LinkError};
use crate::state::AppState;

const SETUP_PATH: &str = "/api/v1/github/setup";

#[derive(Debug, Deserialize, IntoParams)]
pub struct SetupQuery {
    /// GitHub's id of the installation.
    pub installation_id: Option<i64>,
    /// `install`, `update` or `request`.
    pub setup_action: Option<String>,
    /// The state of the install link.
    pub state: Option<String>,
}

/// Links the installation GitHub just made to the org of the install link.
#[utoipa::path(get, path = "/api/v1/github/setup", tag = "github",
    params(SetupQuery),
    responses(
        (status = 302, description = "Linked (or synced): to the org's GitHub settings in the dashboard"),
        (status = 400, description = "No installation id, or an unknown, used or expired state", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin of the org, or not in control of the installation's GitHub account", body = ErrorBody),
        (status = 404, description = "No such org for this person", body = ErrorBody),
        (status = 409, description = "The installation is linked to another org, or the App is not configured", body = ErrorBody),
        (status = 502, description = "GitHub could not be reached", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn setup(
    person: UserAuth,
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> ApiResult<HttpResponse> {
    let app = state
        .github_app
        .clone()
        .ok_or_else(|| super::not_configured("github.app_id"))?;
    let installation_id = query.installation_id.ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::MissingInstallationId,
            "GitHub sent no installation_id (an installation request awaits an owner's approval)",
        )
    })?;
    let user = &person.user;
    let (org_id, via_state) = match query.state.as_deref() {
        Some(nonce) => (take_state(&state, nonce, user.id).await?, true),
        None => {
            let linked = installations::find(&state, installation_id)
                .await?
                .and_then(|row| row.org_id);
            let org_id = linked.ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::GithubStateInvalid,
                    "start from the org's install link: the callback came without its state",
                )
            })?;
            (org_id, false)
        }
    };
    let slug = require_admin(&state, org_id, user.id).await?;
    let installation = app.installation(installation_id).await.map_err(|e| {
        if e.is_not_found() {
            ApiError::bad_request(
                ErrorCode::UnknownInstallation,
                format!("GitHub knows no installation {installation_id} of this App"),
            )
        } else {
            upstream(e)
        }
    })?;
    verify_control(&app, &installation, user).await?;
    if via_state {
        installations::link(&state, org_id, user.id, &installation)
            .await
            .map_err(|e| match e {
                LinkError::LinkedElsewhere => ApiError::conflict(
                    ErrorCode::InstallationLinkedElsewhere,
                    "this installation is linked to another organization",
                ),
                LinkError::Db(db) => db.into(),
            })?;
        installations::audit(
            &state,
            org_id,
            Actor::User(user.id, &user.login),
            "github_installations.link",
            installation_id,
            SETUP_PATH,
        )
        .await;
    }
    // The link stands even if GitHub fails now: the next installation event syncs again.
    if let Err(e) = installations::sync_repositories(&state, installation_id, &[]).await {
        tracing::warn!(installation.id = installation_id, error = %e, "syncing the new installation's repositories failed");
    }
    tracing::info!(installation.id = installation_id, org.id = %org_id, "GitHub installation linked");
    Ok(HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("/orgs/{slug}/settings/github?installation_id={installation_id}"),
        ))
        .finish())
}

/// Takes the install link's state (once): the org it names, if `user` may finish it.
async fn take_state(state: &AppState, nonce: &str, user_id: Uuid) -> ApiResult<Uuid> {
    let invalid = || {
        ApiError::bad_request(
            ErrorCode::GithubStateInvalid,
            "the install link is unknown, used or expired: start again from the org's settings",
        )
    };
    if nonce.len() > 128 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let raw: Option<String> = redis::cmd("GETDEL")
        .arg(state.keys.github_install_state(nonce))
        .query_async(&mut state.redis())
        .await?;
    let pending: PendingInstall = raw
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .ok_or_else(invalid)?;
    if pending.user_id.is_some_and(|asker| asker != user_id) {
        return Err(invalid());
    }
    Ok(pending.org_id)
}

/// The org's slug, if the person is an owner or admin of it (404 when not a member).
async fn require_admin(state: &AppState, org_id: Uuid, user_id: Uuid) -> ApiResult<String> {
    let mut conn = state.db.system().await?;
    let found: Option<(String, MemberRole)> = organizations::table
        .inner_join(memberships::table)
        .filter(organizations::id.eq(org_id))
        .filter(memberships::user_id.eq(user_id))
        .select((organizations::slug, memberships::role))
        .first(&mut conn)
        .await
        .optional()?;
    let (slug, role) = found.ok_or(ApiError::NotFound("organization"))?;
    if !matches!(role, MemberRole::Owner | MemberRole::Admin) {
        return Err(ApiError::refused(
            ErrorCode::AdminRequired,
            "only an owner or admin of the org can link a GitHub installation",
        ));
    }
    Ok(slug)
}

/// Whether the person controls the installation's GitHub account.
async fn verify_control(
    app: &GithubApp,
    installation: &Installation,
    user: &User,
) -> ApiResult<()> {
    let Some(github_id) = user.github_id else {
        return Err(ApiError::refused(
            ErrorCode::GithubAccountRequired,
            "sign in with GitHub to link a GitHub installation",
        ));
    };
    let not_yours = || {
        ApiError::refused(
            ErrorCode::InstallationNotYours,
            format!(
                "your GitHub account does not control {}, where this installation lives",
                installation.account.login
            ),
        )
    };
    match installation.account.kind.as_str() {
        "User" if installation.account.id == github_id => Ok(()),
        "Organization" => {
            let membership = app
                .org_membership(installation.id, &installation.account.login, &user.login)
                .await
                .map_err(upstream)?;
            match membership {
                Some(m) if m.state == "active" && m.role == "admin" && m.user.id == github_id => {
                    Ok(())
                }
                _ => Err(not_yours()),
            }
        }
        _ => Err(not_yours()),
    }
}

fn upstream(e: GithubError) -> ApiError {
    ApiError::Upstream(e.to_string())
}
