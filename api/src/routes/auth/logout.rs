//! `POST /auth/logout`

use actix_web::{HttpRequest, HttpResponse, web};
use shared::wire::{ErrorBody, RefreshRequest};

use crate::auth::{AuthCookie, Credential, sessions};
use crate::error::{ApiError, ApiResult};
use crate::json_body::OptionalJsonBody;
use crate::state::AppState;

/// Ends the caller's session: its access and refresh tokens stop working at once, and
/// the dashboard's cookies are cleared. The session is named by the access token (bearer
/// or cookie, the cookie with the CSRF header) or by a refresh token in the body.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional: a refresh token naming the session"),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No session named", body = ErrorBody),
        (status = 403, description = "Cookie logout without the CSRF header", body = ErrorBody),
    ),
)]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJsonBody<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let refresh = body.into_inner().and_then(|b| b.refresh_token).or_else(|| {
        req.cookie(AuthCookie::Refresh.name(&state.settings))
            .map(|c| c.value().to_owned())
    });
    let session = match crate::auth::credential(&req) {
        Credential::Access { token, from_cookie } => {
            let claims = state.signer.verify(&token).ok_or(ApiError::Unauthorized)?;
            if from_cookie {
                sessions::check_csrf(&state, &req, claims.sid)?;
            }
            Some(claims.sid)
        }
        _ => match refresh {
            Some(secret) => sessions::session_of_refresh(&state, &secret).await?,
            None => None,
        },
    };
    let session = session.ok_or(ApiError::Unauthorized)?;
    sessions::revoke(&state, session, "logout").await?;
    let mut response = HttpResponse::NoContent();
    sessions::clear_cookies(&mut response, &state);
    Ok(response.finish())
}
