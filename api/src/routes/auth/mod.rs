//! Signing people in and out: GitHub OAuth (browser), GitHub's device flow (CLI), the
//! development sign-in, token refresh, logout and `GET /me`.

pub mod dev;
pub mod device;
pub mod github;
pub mod logout;
pub mod me;
pub mod refresh;

use actix_web::{HttpResponse, HttpResponseBuilder};
use shared::db::models::User;
use shared::wire;

use crate::auth::sessions::{self, Issued};
use crate::state::AppState;

/// The JSON body of a sign-in or refresh.
pub fn signed_in(issued: &Issued, user: User) -> wire::SignedIn {
    wire::SignedIn {
        access_token: issued.access_token.clone(),
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token.clone(),
        user: user.into(),
    }
}

/// 200 with the tokens in the body, and as cookies for a browser.
pub fn respond(state: &AppState, issued: &Issued, user: User, cookies: bool) -> HttpResponse {
    let mut response: HttpResponseBuilder = HttpResponse::Ok();
    if cookies {
        sessions::set_cookies(&mut response, state, issued);
    }
    response.json(signed_in(issued, user))
}
