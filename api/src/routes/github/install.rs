//! `GET /orgs/{org}/github/install`: the link an org admin follows to install the GitHub
//! App. It carries a random, single-use `state` kept in Redis for an hour with the org
//! and the person who asked; GitHub hands it back to the setup callback
//! ([`super::setup`]), where only that person can link the new installation to that org.
//! An org API token cannot ask: no person would be bound to the state, and whoever
//! finished it would hand their installation to the org.

use actix_web::web;
use chrono::{TimeDelta, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use shared::wire::{ErrorBody, GithubInstallLink};
use uuid::Uuid;

use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::OrgPath;
use crate::state::AppState;

/// How long an install link works.
pub const STATE_TTL_SECS: u64 = 3600;

/// What the state stands for, kept in Redis under it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingInstall {
    pub org_id: Uuid,
    /// The person who asked: the only one who may finish.
    pub user_id: Uuid,
}

/// Where to install the GitHub App for this org.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/github/install", tag = "github",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, description = "GitHub's install page for the App, with a single-use state", body = GithubInstallLink),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope, or is an org API token (`person_required`)", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 409, description = "The GitHub App is not configured on this server", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn install(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
) -> ApiResult<web::Json<GithubInstallLink>> {
    let user_id = auth.actor.user_id().ok_or_else(|| {
        ApiError::refused(
            ErrorCode::PersonRequired,
            "only a signed-in admin can install the GitHub App: the installation is linked by the person who asked for the link, and an org API token is no person",
        )
    })?;
    let app = state
        .github_app
        .as_ref()
        .ok_or_else(|| super::not_configured("github.app_id"))?;
    let nonce = hex::encode(rand::random::<[u8; 24]>());
    let url = app
        .install_url(&nonce)
        .ok_or_else(|| super::not_configured("github.app_slug"))?;
    let pending = serde_json::to_string(&PendingInstall {
        org_id: auth.org_id(),
        user_id,
    })
    .map_err(anyhow::Error::from)?;
    let _: () = state
        .redis()
        .set_ex(
            state.keys.github_install_state(&nonce),
            pending,
            STATE_TTL_SECS,
        )
        .await
        .map_err(ApiError::from)?;
    Ok(web::Json(GithubInstallLink {
        url,
        expires_at: Utc::now() + TimeDelta::seconds(STATE_TTL_SECS as i64),
    }))
}
