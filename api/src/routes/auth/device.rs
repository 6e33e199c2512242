//! `POST /auth/device/code` and `POST /auth/device/token`: sign-in for command-line
//! clients through GitHub's device flow. The CLI shows the user code, the person enters
//! it at GitHub, and the CLI polls until GitHub says yes; then it gets Switchyard tokens.

use actix_web::{HttpRequest, HttpResponse, web};
use shared::domain::SessionMethod;
use shared::wire::{self, DeviceCode, DeviceTokenRequest, ErrorBody};

use super::github::{github_error, not_configured};
use crate::auth::github::DevicePoll;
use crate::auth::{people, sessions};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::state::AppState;

/// Starts a device sign-in: the codes to show and where the person enters them.
#[utoipa::path(post, path = "/api/v1/auth/device/code", tag = "auth",
    responses(
        (status = 200, description = "Show `user_code` and `verification_uri`; poll with `device_code`", body = DeviceCode),
        (status = 404, description = "GitHub sign-in is not configured", body = ErrorBody),
        (status = 502, description = "GitHub failed", body = ErrorBody),
    ),
)]
pub async fn code(state: web::Data<AppState>) -> ApiResult<web::Json<DeviceCode>> {
    let github = state.github.as_ref().ok_or_else(not_configured)?;
    let code = github.device_code().await.map_err(github_error)?;
    Ok(web::Json(DeviceCode {
        device_code: code.device_code,
        user_code: code.user_code,
        verification_uri: code.verification_uri,
        expires_in: code.expires_in,
        interval: code.interval,
    }))
}

/// Polls a device sign-in once. Until the person approves it answers 400
/// `authorization_pending` (or `slow_down`: wait longer between polls); then 200 with
/// tokens. A declined or expired code answers 400 `access_denied` / `expired_token`.
#[utoipa::path(post, path = "/api/v1/auth/device/token", tag = "auth",
    request_body = DeviceTokenRequest,
    responses(
        (status = 200, description = "Signed in", body = wire::SignedIn),
        (status = 400, description = "authorization_pending, slow_down, expired_token or access_denied", body = ErrorBody),
        (status = 502, description = "GitHub failed", body = ErrorBody),
    ),
)]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<DeviceTokenRequest>,
) -> ApiResult<HttpResponse> {
    let github = state.github.as_ref().ok_or_else(not_configured)?;
    if body.device_code.is_empty() || body.device_code.len() > 256 {
        return Err(ApiError::validation("device_code must be 1-256 characters"));
    }
    let access = match github
        .poll_device(&body.device_code)
        .await
        .map_err(github_error)?
    {
        DevicePoll::Authorized(access) => access,
        DevicePoll::Pending => {
            return Err(ApiError::bad_request(
                ErrorCode::AuthorizationPending,
                "the person has not approved this sign-in yet: poll again after the interval",
            ));
        }
        DevicePoll::SlowDown { interval } => {
            return Err(ApiError::bad_request(
                ErrorCode::SlowDown,
                format!("polling too fast: wait {interval} s between polls"),
            ));
        }
        DevicePoll::Expired => {
            return Err(ApiError::bad_request(
                ErrorCode::ExpiredToken,
                "this device code expired: start again",
            ));
        }
        DevicePoll::Denied => {
            return Err(ApiError::bad_request(
                ErrorCode::AccessDenied,
                "the person declined this sign-in",
            ));
        }
    };
    let gh_user = github.user(&access).await.map_err(github_error)?;
    let user = people::upsert_github_user(&state, &gh_user).await?;
    let issued = sessions::start(&state, user.id, SessionMethod::Device, &req).await?;
    Ok(super::respond(&state, &issued, user, false))
}
