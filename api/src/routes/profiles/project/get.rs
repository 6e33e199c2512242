//! `GET /orgs/{org}/projects/{id}/executor-profiles/{name}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::ExecutorProfileRow;
use shared::db::schema::executor_profiles;
use shared::executors;
use shared::wire::{self, ErrorBody};

use super::hidden_by_override;
use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::lookup;
use crate::routes::profiles::{
    ProjectProfilePath, builtin_wire, check_name, org_hides, org_row, row_wire,
};
use crate::state::AppState;

/// The profile of that name in effect for the project: its override (`source`
/// `project`), else the org's profile, else the built-in one.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
        ("name" = String, Path, description = "Profile name"),
    ),
    responses(
        (status = 200, description = "The profile in effect", body = wire::ExecutorProfile),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such project in this org, or no such profile", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn get(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<ProjectProfilePath>,
) -> ApiResult<web::Json<wire::ExecutorProfile>> {
    let org_id = auth.org_id();
    let mut conn = state.db.org(auth.org_id()).await?;
    lookup::project(&mut conn, org_id, path.id).await?;
    if check_name(&path.name).is_err() {
        return Err(ApiError::NotFound("executor profile"));
    }
    let own: Option<ExecutorProfileRow> = executor_profiles::table
        .filter(executor_profiles::org_id.eq(org_id))
        .filter(executor_profiles::project_id.eq(path.id))
        .filter(executor_profiles::name.eq(&path.name))
        .select(ExecutorProfileRow::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    if let Some(row) = own {
        let hidden = hidden_by_override(&mut conn, org_id, &row.name).await?;
        return Ok(web::Json(row_wire(&row, hidden)?));
    }
    if let Some(row) = org_row(&mut conn, org_id, &path.name).await? {
        return Ok(web::Json(row_wire(&row, org_hides(&row.name))?));
    }
    executors::builtin_profile(&path.name)
        .map(|p| web::Json(builtin_wire(p)))
        .ok_or(ApiError::NotFound("executor profile"))
}
