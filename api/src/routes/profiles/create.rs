//! `POST /orgs/{org}/executor-profiles`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel::upsert::on_constraint;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{ExecutorProfileRow, NewExecutorProfile};
use shared::db::schema::executor_profiles;
use shared::wire::OrgEvent;
use shared::wire::{self, CreateExecutorProfile, ErrorBody};
use uuid::Uuid;

use super::{
    MAX_PROFILES, NAME_CONSTRAINT, check_body, check_name, org_hides, row_wire, variants_json,
};
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::routes::{OrgPath, emit};
use crate::state::AppState;

/// Creates an org profile. Naming it like a built-in profile (an executor's name)
/// replaces that built-in profile for the org; such a profile must run that executor.
/// A profile of that name the org already has answers 409 `profile_exists`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/executor-profiles", tag = "profiles",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = CreateExecutorProfile,
    responses(
        (status = 201, description = "The profile", body = wire::ExecutorProfile),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
        (status = 409, description = "The org has a profile of that name", body = ErrorBody),
        (status = 422, description = "Invalid name or options (the message names the field), or unknown executor; `profile_env_forbidden` when `env` sets a variable that changes how programs load or run, or that the worker sets (the message names it); `resource_class_not_allowed` when a variant names a resource class the operator does not allow this org", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn create(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<OrgPath>,
    body: JsonBody<CreateExecutorProfile>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    check_name(&body.name)?;
    let (executor, variants) = check_body(&body.name, &body.executor, &body.variants)?;
    crate::quotas::check_profile_classes(&state.settings.quotas, &auth.org.slug, &variants)?;
    let variants = variants_json(&variants)?;

    let mut conn = state.db.org(auth.org_id()).await?;
    let row = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let count: i64 = executor_profiles::table
                .filter(executor_profiles::org_id.eq(org_id))
                .filter(executor_profiles::project_id.is_null())
                .count()
                .get_result(conn)
                .await?;
            if count >= MAX_PROFILES {
                return Err(ApiError::validation(format!(
                    "an org may have at most {MAX_PROFILES} profiles of its own"
                )));
            }
            let row: Option<ExecutorProfileRow> = diesel::insert_into(executor_profiles::table)
                .values(NewExecutorProfile {
                    id: Uuid::now_v7(),
                    org_id,
                    project_id: None,
                    name: &body.name,
                    executor: executor.as_str(),
                    variants,
                })
                .on_conflict(on_constraint(NAME_CONSTRAINT))
                .do_nothing()
                .returning(ExecutorProfileRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            row.ok_or_else(|| {
                ApiError::conflict(
                    ErrorCode::ProfileExists,
                    format!(
                        "the org has a profile named {:?} already; PATCH it instead",
                        body.name
                    ),
                )
            })
        })
        .await?;
    drop(conn);

    let profile = row_wire(&row, org_hides(&row.name))?;
    emit(
        &state,
        org_id,
        OrgEvent::ExecutorProfileCreated(profile.clone()),
    )
    .await;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/orgs/{}/executor-profiles/{}",
                path.org, profile.name
            ),
        ))
        .json(profile))
}
