//! `POST /auth/dev/login`

use actix_web::{HttpRequest, HttpResponse, web};
use shared::domain::SessionMethod;
use shared::wire::{self, DevLogin, ErrorBody};

use crate::auth::{people, sessions};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::state::AppState;

/// DEVELOPMENT ONLY: signs in as `login` without GitHub, creating the person on first use.
/// Refused (403 `dev_login_disabled`) unless `auth.dev_login` is on in development mode
/// (`development`, which only a loopback deployment may use). Sets the dashboard's cookies and returns tokens for clients.
#[utoipa::path(post, path = "/api/v1/auth/dev/login", tag = "auth",
    request_body = DevLogin,
    responses(
        (status = 200, description = "Signed in", body = wire::SignedIn),
        (status = 403, description = "Development sign-in is disabled", body = ErrorBody),
        (status = 409, description = "The login belongs to a GitHub account", body = ErrorBody),
        (status = 422, description = "Not a valid login", body = ErrorBody),
    ),
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<DevLogin>,
) -> ApiResult<HttpResponse> {
    if !(state.settings.development && state.settings.auth.dev_login) {
        return Err(ApiError::refused(
            ErrorCode::DevLoginDisabled,
            "development sign-in is disabled on this server: sign in with GitHub",
        ));
    }
    let login = body.login.trim();
    if !people::valid_login(login) {
        return Err(ApiError::validation(
            "login must be 1-39 letters, digits or hyphens, starting with a letter or digit",
        ));
    }
    let user = people::dev_user(&state, login).await?;
    let issued = sessions::start(&state, user.id, SessionMethod::Dev, &req).await?;
    Ok(super::respond(&state, &issued, user, true))
}
