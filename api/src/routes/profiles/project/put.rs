//! `PUT /orgs/{org}/projects/{id}/executor-profiles/{name}`

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel::upsert::on_constraint;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{ExecutorProfileRow, NewExecutorProfile};
use shared::db::schema::executor_profiles;
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody, PutExecutorProfile};
use uuid::Uuid;

use super::hidden_by_override;
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::routes::profiles::{
    MAX_PROFILES, NAME_CONSTRAINT, ProjectProfilePath, check_body, check_name, row_wire,
    variants_json,
};
use crate::routes::{emit, lookup};
use crate::state::AppState;

/// Sets the project's override of a profile (or a profile only this project has),
/// replacing any earlier override whole. 201 when it is new, 200 when it replaced one.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
        ("name" = String, Path, description = "Profile name"),
    ),
    request_body = PutExecutorProfile,
    responses(
        (status = 200, description = "The override, replaced", body = wire::ExecutorProfile),
        (status = 201, description = "The override, created", body = wire::ExecutorProfile),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
        (status = 422, description = "Invalid name or options (the message names the field), or unknown executor; `profile_env_forbidden` when `env` sets a variable that changes how programs load or run, or that the worker sets (the message names it); `resource_class_not_allowed` when a variant names a resource class the operator does not allow this org", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn put(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<ProjectProfilePath>,
    body: JsonBody<PutExecutorProfile>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let project_id = path.id;
    let mut conn = state.db.org(auth.org_id()).await?;
    lookup::project(&mut conn, org_id, project_id).await?;
    check_name(&path.name)?;
    let (executor, variants) = check_body(&path.name, &body.executor, &body.variants)?;
    crate::quotas::check_profile_classes(&state.settings.quotas, &auth.org.slug, &variants)?;
    let variants = variants_json(&variants)?;

    let (row, created) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let count: i64 = executor_profiles::table
                .filter(executor_profiles::org_id.eq(org_id))
                .filter(executor_profiles::project_id.eq(project_id))
                .filter(executor_profiles::name.ne(&path.name))
                .count()
                .get_result(conn)
                .await?;
            if count >= MAX_PROFILES {
                return Err(ApiError::validation(format!(
                    "a project may have at most {MAX_PROFILES} profiles of its own"
                )));
            }
            let written: (ExecutorProfileRow, bool) = diesel::insert_into(executor_profiles::table)
                .values(NewExecutorProfile {
                    id: Uuid::now_v7(),
                    org_id,
                    project_id: Some(project_id),
                    name: &path.name,
                    executor: executor.as_str(),
                    variants: variants.clone(),
                })
                .on_conflict(on_constraint(NAME_CONSTRAINT))
                .do_update()
                .set((
                    executor_profiles::executor.eq(executor.as_str()),
                    executor_profiles::variants.eq(&variants),
                ))
                // `xmax` is 0 exactly when the row was inserted rather than updated.
                .returning((
                    ExecutorProfileRow::as_returning(),
                    diesel::dsl::sql::<diesel::sql_types::Bool>("(xmax = 0)"),
                ))
                .get_result(conn)
                .await?;
            Ok(written)
        })
        .await?;
    let hidden = hidden_by_override(&mut conn, org_id, &row.name).await?;
    drop(conn);

    let profile = row_wire(&row, hidden)?;
    if created {
        emit(
            &state,
            org_id,
            OrgEvent::ExecutorProfileCreated(profile.clone()),
        )
        .await;
        Ok(HttpResponse::Created().json(profile))
    } else {
        emit(
            &state,
            org_id,
            OrgEvent::ExecutorProfileUpdated(profile.clone()),
        )
        .await;
        Ok(HttpResponse::Ok().json(profile))
    }
}
