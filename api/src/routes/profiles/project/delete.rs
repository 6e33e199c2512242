//! `DELETE /orgs/{org}/projects/{id}/executor-profiles/{name}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::executor_profiles;
use shared::wire::OrgEvent;
use shared::wire::{ErrorBody, ExecutorProfileDeleted};

use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult};
use crate::routes::profiles::{ProjectProfilePath, check_name};
use crate::routes::{emit, lookup};
use crate::state::AppState;

/// Removes the project's override; the org's (or built-in) profile of that name applies
/// to the project again.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
        ("name" = String, Path, description = "Profile name"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such project in this org, or no override by that name", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn delete(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<ProjectProfilePath>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let mut conn = state.db.org(auth.org_id()).await?;
    lookup::project(&mut conn, org_id, path.id).await?;
    if check_name(&path.name).is_err() {
        return Err(ApiError::NotFound("executor profile"));
    }
    let deleted = diesel::delete(
        executor_profiles::table
            .filter(executor_profiles::org_id.eq(org_id))
            .filter(executor_profiles::project_id.eq(path.id))
            .filter(executor_profiles::name.eq(&path.name)),
    )
    .execute(&mut conn)
    .await?;
    drop(conn);
    if deleted == 0 {
        return Err(ApiError::NotFound("executor profile"));
    }
    emit(
        &state,
        org_id,
        OrgEvent::ExecutorProfileDeleted(ExecutorProfileDeleted {
            name: path.name.clone(),
            project_id: Some(path.id),
        }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}
