//! `DELETE /orgs/{org}/executor-profiles/{name}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::executor_profiles;
use shared::wire::OrgEvent;
use shared::wire::{ErrorBody, ExecutorProfileDeleted};

use super::{ProfilePath, check_name};
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult};
use crate::routes::emit;
use crate::state::AppState;

/// Deletes the org's profile. A built-in profile of that name comes back into effect;
/// project overrides of that name stay. Attempts already started keep the options they
/// were started with.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/executor-profiles/{name}", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("name" = String, Path, description = "Profile name"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "The org has no profile of its own by that name", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn delete(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<ProfilePath>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    if check_name(&path.name).is_err() {
        return Err(ApiError::NotFound("executor profile"));
    }
    let mut conn = state.db.org(auth.org_id()).await?;
    let deleted = diesel::delete(
        executor_profiles::table
            .filter(executor_profiles::org_id.eq(org_id))
            .filter(executor_profiles::project_id.is_null())
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
            project_id: None,
        }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}
