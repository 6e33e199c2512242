//! `POST /auth/refresh`

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::User;
use shared::db::schema::users;
use shared::wire::{self, ErrorBody, RefreshRequest};

use crate::auth::{AuthCookie, sessions};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::OptionalJsonBody;
use crate::state::AppState;

/// Exchanges a refresh token for a new access token and a new refresh token; the old
/// refresh token is spent. Presenting a spent one again revokes the whole session
/// (401 `refresh_token_reused`). A browser sends the token in its `sy_refresh` cookie,
/// with the CSRF header, and gets new cookies; a client sends it in the body.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional when the cookie is sent"),
    responses(
        (status = 200, description = "New tokens", body = wire::SignedIn),
        (status = 401, description = "Unknown, expired or replayed refresh token", body = ErrorBody),
        (status = 403, description = "Cookie refresh without the CSRF header", body = ErrorBody),
    ),
)]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJsonBody<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let from_body = body.into_inner().and_then(|b| b.refresh_token);
    let (secret, from_cookie) = match from_body {
        Some(secret) => (secret, false),
        None => match req.cookie(AuthCookie::Refresh.name(&state.settings)) {
            Some(cookie) => (cookie.value().to_owned(), true),
            None => {
                return Err(ApiError::auth_failed(
                    ErrorCode::InvalidRefreshToken,
                    "send refresh_token in the body, or the sy_refresh cookie",
                ));
            }
        },
    };
    let csrf = from_cookie.then(|| sessions::csrf_header(&req));
    let issued = sessions::refresh(&state, &secret, csrf).await?;
    let mut conn = state.db.untenanted().await?;
    let user: User = users::table
        .inner_join(shared::db::schema::user_sessions::table)
        .filter(shared::db::schema::user_sessions::id.eq(issued.session_id))
        .select(User::as_select())
        .first(&mut conn)
        .await?;
    Ok(super::respond(&state, &issued, user, from_cookie))
}
