//! `GET /orgs`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::{memberships, organizations};
use shared::domain::MemberRole;
use shared::wire::{ErrorBody, MyOrg, Page};
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::error::ApiResult;
use crate::state::AppState;

/// The orgs the signed-in person belongs to, with their role in each, by slug. Always
/// one complete page. People only: an org API token answers 403 `person_required`.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs",
    responses(
        (status = 200, description = "The person's orgs", body = Page<MyOrg>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An org API token (not a person)", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn list(state: web::Data<AppState>, auth: UserAuth) -> ApiResult<web::Json<Page<MyOrg>>> {
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
    Ok(web::Json(Page {
        items: rows
            .into_iter()
            .map(|(id, slug, name, role)| MyOrg {
                id,
                slug,
                name,
                role,
            })
            .collect(),
        next_cursor: None,
    }))
}
