//! `GET /me`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::{memberships, organizations};
use shared::domain::MemberRole;
use shared::wire::{ErrorBody, Me, MyOrg};
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiResult;
use crate::state::AppState;

/// The signed-in person and the orgs they belong to, with their role in each.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The signed-in person", body = Me),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An org API token (not a person)", body = ErrorBody),
    ),
)]
pub async fn me(state: web::Data<AppState>, auth: UserAuth) -> ApiResult<web::Json<Me>> {
    // Memberships across orgs: a system read, filtered to this person.
    let mut conn = state.db.system().await?;
    let rows: Vec<(Uuid, String, String, MemberRole)> = organizations::table
        .inner_join(memberships::table)
        .filter(memberships::user_id.eq(auth.user.id))
        .order(organizations::slug.asc())
        .select((
            organizations::id,
            organizations::slug,
            organizations::name,
            memberships::role,
        ))
        .load(&mut conn)
        .await?;
    Ok(web::Json(Me {
        user: auth.user.into(),
        orgs: rows
            .into_iter()
            .map(|(id, slug, name, role)| MyOrg {
                id,
                slug,
                name,
                role,
            })
            .collect(),
    }))
}
