//! `PATCH /orgs/{org}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Organization;
use shared::db::schema::organizations;
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody, UpdateOrg};

use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::quotas::check_max_concurrent_attempts;
use crate::routes::{OrgPath, emit, lookup, required_text};
use crate::state::AppState;

/// The columns a PATCH may change; `None` leaves a column alone.
#[derive(AsChangeset, Default)]
#[diesel(table_name = organizations)]
struct Changes {
    name: Option<String>,
    max_concurrent_attempts: Option<i32>,
}

/// Renames the org or changes how many of its attempts may run at once. The slug is
/// fixed: it is in every URL and token listing people have bookmarked.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = UpdateOrg,
    responses(
        (status = 200, description = "The updated org", body = wire::Organization),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Invalid name, or a limit outside 1 to the operator's `quotas.max_concurrent_attempts`", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn update(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    body: JsonBody<UpdateOrg>,
) -> ApiResult<web::Json<wire::Organization>> {
    let body = body.into_inner();
    let changes = Changes {
        name: body
            .name
            .as_deref()
            .map(|n| required_text("name", n, 200))
            .transpose()?,
        max_concurrent_attempts: body
            .max_concurrent_attempts
            .map(|n| check_max_concurrent_attempts(&state.settings.quotas, n))
            .transpose()?,
    };
    let org_id = auth.org_id();
    let mut conn = state.db.org(org_id).await?;
    if changes.name.is_none() && changes.max_concurrent_attempts.is_none() {
        // The row itself: the org authentication found may be a cached copy.
        return Ok(web::Json(lookup::org(&mut conn, org_id).await?.into()));
    }
    let org: Organization = diesel::update(organizations::table.find(org_id))
        .set(&changes)
        .returning(Organization::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("organization"))?;
    drop(conn);

    let org = wire::Organization::from(org);
    emit(&state, org_id, OrgEvent::OrgUpdated(org.clone())).await;
    if changes.max_concurrent_attempts.is_some() {
        // A higher limit frees slots for attempts already waiting.
        shared::bus::wake_dispatcher(&mut state.redis(), &state.keys).await;
    }
    Ok(web::Json(org))
}
