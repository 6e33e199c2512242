//! The setup callback: where GitHub sends the browser after the App was installed (the
//! App's "Setup URL"), with `installation_id`, `setup_action` and our `state`.
//!
//! Nothing changes on a GET: `GET /github/setup` only sends the browser on to the
//! dashboard's confirmation page, which asks `GET /github/setup/preview` which Switchyard
//! org will get which installation, and the person finishes with `POST /github/setup`
//! (a write, so a cookie session must echo its CSRF token). A link someone else sends
//! therefore never moves an installation by being opened.
//!
//! The state (single use, from [`super::install`]) names the org and the person who asked
//! for the link: only that person may finish it, and only while an admin or owner of the
//! org. Because `installation_id` arrives in a URL anyone can edit, the person must also
//! control the installation's GitHub account: be that account (a user installation), or
//! an active admin of that GitHub organization (checked with
//! `GET /orgs/{org}/memberships/{login}`). The installation is then linked to the org (an
//! installation already linked to another org is refused), its repositories are stored,
//! and the change is audited.
//!
//! Without a state (GitHub's `setup_action=update`, after repositories were changed on
//! GitHub), an installation already linked to an org the person administers is synced
//! again.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::{Organization, User};
use shared::db::schema::{memberships, organizations};
use shared::domain::MemberRole;
use shared::github::{GithubApp, GithubError, Installation};
use shared::wire::{ErrorBody, FinishGithubSetup, GithubSetup};
use utoipa::IntoParams;
use uuid::Uuid;

use super::install::PendingInstall;
use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::github::installations::{self, Actor, LinkError};
use crate::json_body::JsonBody;
use crate::state::AppState;

const SETUP_PATH: &str = "/api/v1/github/setup";
/// The dashboard's page that shows what the setup will do and asks to confirm it.
const CONFIRM_PAGE: &str = "/github/setup";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SetupQuery {
    /// GitHub's id of the installation.
    pub installation_id: Option<i64>,
    /// `install`, `update` or `request`.
    pub setup_action: Option<String>,
    /// The state of the install link.
    pub state: Option<String>,
}

/// GitHub's setup URL. Changes nothing: sends the browser on to the dashboard's
/// confirmation page with the same query.
#[utoipa::path(get, path = "/api/v1/github/setup", tag = "github",
    params(SetupQuery),
    responses(
        (status = 302, description = "To the dashboard's page that shows which org gets the installation and asks to confirm"),
        (status = 400, description = "Malformed query", body = ErrorBody),
    ),
)]
pub async fn setup(query: web::Query<SetupQuery>) -> HttpResponse {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    if let Some(id) = query.installation_id {
        url.append_pair("installation_id", &id.to_string());
    }
    if let Some(action) = &query.setup_action {
        url.append_pair("setup_action", action);
    }
    if let Some(nonce) = &query.state {
        url.append_pair("state", nonce);
    }
    let query = url.finish();
    let location = if query.is_empty() {
        CONFIRM_PAGE.to_owned()
    } else {
        format!("{CONFIRM_PAGE}?{query}")
    };
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// What finishing this setup would do, changing nothing (the state stays usable).
#[utoipa::path(get, path = "/api/v1/github/setup/preview", tag = "github",
    params(SetupQuery),
    responses(
        (status = 200, description = "The org that would get the installation", body = GithubSetup),
        (status = 400, description = "No installation id, or an unknown, used or expired state", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An org API token (`person_required`), not an admin of the org, or not in control of the installation's GitHub account", body = ErrorBody),
        (status = 404, description = "No such org for this person", body = ErrorBody),
        (status = 409, description = "The App is not configured", body = ErrorBody),
        (status = 502, description = "GitHub could not be reached", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn preview(
    person: UserAuth,
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> ApiResult<web::Json<GithubSetup>> {
    let installation_id = query.installation_id.ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::MissingInstallationId,
            "GitHub sent no installation_id (an installation request awaits an owner's approval)",
        )
    })?;
    let plan = plan(
        &state,
        &person.user,
        installation_id,
        query.state.as_deref(),
        Take::Peek,
    )
    .await?;
    Ok(web::Json(plan.wire()))
}

/// Links the installation GitHub just made to the org of the install link (or syncs one
/// already linked), as the person confirmed on the dashboard.
#[utoipa::path(post, path = "/api/v1/github/setup", tag = "github",
    request_body = FinishGithubSetup,
    responses(
        (status = 200, description = "Linked (or synced)", body = GithubSetup),
        (status = 400, description = "Malformed body, or an unknown, used or expired state", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An org API token (`person_required`), a cookie session without its CSRF token (`csrf_failed`), not an admin of the org, or not in control of the installation's GitHub account", body = ErrorBody),
        (status = 404, description = "No such org for this person", body = ErrorBody),
        (status = 409, description = "The installation is linked to another org, or the App is not configured", body = ErrorBody),
        (status = 502, description = "GitHub could not be reached", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn finish(
    person: UserAuth,
    state: web::Data<AppState>,
    body: JsonBody<FinishGithubSetup>,
) -> ApiResult<web::Json<GithubSetup>> {
    let body = body.into_inner();
    let user = &person.user;
    let installation_id = body.installation_id;
    let plan = plan(
        &state,
        user,
        installation_id,
        body.state.as_deref(),
        Take::Consume,
    )
    .await?;
    let org_id = plan.org.id;
    if plan.link {
        installations::link(&state, org_id, user.id, &plan.installation)
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
    Ok(web::Json(plan.wire()))
}

/// Whether reading the state uses it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Peek,
    Consume,
}

/// What a setup does, once every check passed.
struct Plan {
    org: Organization,
    installation: Installation,
    /// A new link (from an install link's state), not a sync of an existing one.
    link: bool,
}

impl Plan {
    fn wire(&self) -> GithubSetup {
        GithubSetup {
            org: self.org.clone().into(),
            installation_id: self.installation.id,
            account_login: self.installation.account.login.clone(),
            account_type: self.installation.account.kind.clone(),
            action: if self.link { "link" } else { "sync" }.to_owned(),
        }
    }
}

/// Every check of a setup: the state (or the existing link), the person's role in the
/// org, and their control of the installation's GitHub account.
async fn plan(
    state: &AppState,
    user: &User,
    installation_id: i64,
    nonce: Option<&str>,
    take: Take,
) -> ApiResult<Plan> {
    let app = state
        .github_app
        .clone()
        .ok_or_else(|| super::not_configured("github.app_id"))?;
    let (org_id, link) = match nonce {
        Some(nonce) => (read_state(state, nonce, user.id, take).await?, true),
        None => {
            let linked = installations::find(state, installation_id)
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
    let org = require_admin(state, org_id, user.id).await?;
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
    Ok(Plan {
        org,
        installation,
        link,
    })
}

/// Reads the install link's state (using it up on [`Take::Consume`]): the org it names,
/// if `user_id` is the person who asked for the link.
async fn read_state(state: &AppState, nonce: &str, user_id: Uuid, take: Take) -> ApiResult<Uuid> {
    let invalid = || {
        ApiError::bad_request(
            ErrorCode::GithubStateInvalid,
            "the install link is unknown, used, expired or someone else's: start again from the org's settings",
        )
    };
    if nonce.len() > 128 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let command = match take {
        Take::Peek => "GET",
        Take::Consume => "GETDEL",
    };
    let raw: Option<String> = redis::cmd(command)
        .arg(state.keys.github_install_state(nonce))
        .query_async(&mut state.redis())
        .await?;
    // A state of an older version (without its person) does not parse: refused.
    let pending: PendingInstall = raw
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .ok_or_else(invalid)?;
    if pending.user_id != user_id {
        return Err(invalid());
    }
    Ok(pending.org_id)
}

/// The org, if the person is an owner or admin of it (404 when not a member).
async fn require_admin(state: &AppState, org_id: Uuid, user_id: Uuid) -> ApiResult<Organization> {
    let mut conn = state.db.system().await?;
    let found: Option<(Organization, MemberRole)> = organizations::table
        .inner_join(memberships::table)
        .filter(organizations::id.eq(org_id))
        .filter(memberships::user_id.eq(user_id))
        .select((Organization::as_select(), memberships::role))
        .first(&mut conn)
        .await
        .optional()?;
    let (org, role) = found.ok_or(ApiError::NotFound("organization"))?;
    if !matches!(role, MemberRole::Owner | MemberRole::Admin) {
        return Err(ApiError::refused(
            ErrorCode::AdminRequired,
            "only an owner or admin of the org can link a GitHub installation",
        ));
    }
    Ok(org)
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
