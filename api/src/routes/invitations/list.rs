//! `GET /orgs/{org}/invitations`

use actix_web::web;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Invitation;
use shared::db::schema::invitations;
use shared::wire::{self, ErrorBody, Page};

use crate::auth::{Admin, OrgAuth};
use crate::error::ApiResult;
use crate::routes::OrgPath;
use crate::routes::paging::IdPageQuery;
use crate::state::AppState;

/// The org's outstanding invitations (neither accepted nor revoked), oldest first, each
/// with its status: `pending`, or `expired` when it can no longer be accepted (send a
/// new one). Never the secrets.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/invitations", tag = "invitations",
    params(("org" = String, Path, description = "Organization slug"), IdPageQuery),
    responses(
        (status = 200, description = "A page of invitations", body = Page<wire::Invitation>),
        (status = 400, description = "Malformed query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn list(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    query: web::Query<IdPageQuery>,
) -> ApiResult<web::Json<Page<wire::Invitation>>> {
    let page = query.checked()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = invitations::table
        .filter(invitations::org_id.eq(auth.org_id()))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .select(Invitation::as_select())
        .order(invitations::id.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(after) = page.after {
        q = q.filter(invitations::id.gt(after));
    }
    let rows: Vec<Invitation> = q.load(&mut conn).await?;
    let (rows, next_cursor) = page.split(rows, |i| i.id);
    let now = Utc::now();
    Ok(web::Json(Page {
        items: rows
            .into_iter()
            .map(|i| wire::Invitation::from_row(i, now))
            .collect(),
        next_cursor,
    }))
}
