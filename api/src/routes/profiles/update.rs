//! `PATCH /orgs/{org}/executor-profiles/{name}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{ExecutorProfileRow, NewExecutorProfile};
use shared::db::schema::executor_profiles;
use shared::executors::{self, ExecutorKind, Profile, ProfileOptions};
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody, UpdateExecutorProfile};
use uuid::Uuid;

use super::{ProfilePath, builtin_wire, check_name, org_hides, row_wire, variants_json};
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::profiles::row_profile;
use crate::routes::emit;
use crate::state::AppState;

/// Edits the org's profile: `executor` replaces the executor (every variant must suit
/// it), each variant in `variants` replaces that variant, and a variant given as `null`
/// is removed (`default` cannot be). Patching a built-in profile the org has not
/// changed yet creates the org's own copy of it, starting from the built-in variants.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/executor-profiles/{name}", tag = "profiles",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("name" = String, Path, description = "Profile name"),
    ),
    request_body = UpdateExecutorProfile,
    responses(
        (status = 200, description = "The updated profile", body = wire::ExecutorProfile),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such profile for this org", body = ErrorBody),
        (status = 422, description = "Invalid options (the message names the field), or unknown executor; `profile_env_forbidden` when `env` sets a variable that changes how programs load or run, or that the worker sets (the message names it); `resource_class_not_allowed` when a variant names a resource class the operator does not allow this org", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn update(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<ProfilePath>,
    body: JsonBody<UpdateExecutorProfile>,
) -> ApiResult<web::Json<wire::ExecutorProfile>> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let slug = auth.org.slug.clone();
    let name = path.name.clone();
    if check_name(&name).is_err() {
        return Err(ApiError::NotFound("executor profile"));
    }
    let executor: Option<ExecutorKind> = body.executor.as_deref().map(str::parse).transpose()?;
    let patch = body.variants.as_ref().map(parse_patch).transpose()?;

    let mut conn = state.db.org(auth.org_id()).await?;
    let outcome = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let existing: Option<ExecutorProfileRow> = executor_profiles::table
                .filter(executor_profiles::org_id.eq(org_id))
                .filter(executor_profiles::project_id.is_null())
                .filter(executor_profiles::name.eq(&name))
                .select(ExecutorProfileRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let base: Profile = match &existing {
                Some(row) => row_profile(row)?,
                None => executors::builtin_profile(&name)
                    .ok_or(ApiError::NotFound("executor profile"))?,
            };
            if executor.is_none() && patch.is_none() {
                return Ok(match existing {
                    Some(row) => Outcome::Unchanged(row),
                    None => Outcome::Builtin(base),
                });
            }
            let kind = executor.unwrap_or(base.executor);
            executors::check_name_matches_executor(&name, kind)?;
            let mut variants = base.variants;
            for (variant, options) in patch.into_iter().flatten() {
                match options {
                    Some(options) => variants.insert(variant, options),
                    None => variants.remove(&variant),
                };
            }
            executors::check_variants(kind, &variants)?;
            crate::quotas::check_profile_classes(&state.settings.quotas, &slug, &variants)?;
            let stored = variants_json(&variants)?;
            let row: ExecutorProfileRow = match existing {
                Some(row) => {
                    diesel::update(executor_profiles::table.find(row.id))
                        .set((
                            executor_profiles::executor.eq(kind.as_str()),
                            executor_profiles::variants.eq(stored),
                        ))
                        .returning(ExecutorProfileRow::as_returning())
                        .get_result(conn)
                        .await?
                }
                None => {
                    diesel::insert_into(executor_profiles::table)
                        .values(NewExecutorProfile {
                            id: Uuid::now_v7(),
                            org_id,
                            project_id: None,
                            name: &name,
                            executor: kind.as_str(),
                            variants: stored,
                        })
                        .returning(ExecutorProfileRow::as_returning())
                        .get_result(conn)
                        .await?
                }
            };
            Ok(Outcome::Written(row))
        })
        .await?;
    drop(conn);

    match outcome {
        Outcome::Builtin(profile) => Ok(web::Json(builtin_wire(profile))),
        Outcome::Unchanged(row) => Ok(web::Json(row_wire(&row, org_hides(&row.name))?)),
        Outcome::Written(row) => {
            let profile = row_wire(&row, org_hides(&row.name))?;
            emit(
                &state,
                org_id,
                OrgEvent::ExecutorProfileUpdated(profile.clone()),
            )
            .await;
            Ok(web::Json(profile))
        }
    }
}

/// What the transaction did.
enum Outcome {
    /// An empty patch of a built-in profile: nothing stored.
    Builtin(Profile),
    /// An empty patch of an org profile.
    Unchanged(ExecutorProfileRow),
    Written(ExecutorProfileRow),
}

/// Variant name → options to set, or `None` to remove it.
type VariantPatch = Vec<(String, Option<ProfileOptions>)>;

/// Reads the `variants` of a PATCH body; a malformed variant names its field.
fn parse_patch(raw: &serde_json::Value) -> Result<VariantPatch, ApiError> {
    let object = raw.as_object().ok_or_else(|| {
        ApiError::validation("variants: must be an object of variant name → options or null")
    })?;
    object
        .iter()
        .map(|(name, value)| {
            if value.is_null() {
                return Ok((name.clone(), None));
            }
            serde_json::from_value::<ProfileOptions>(value.clone())
                .map(|options| (name.clone(), Some(options)))
                .map_err(|e| ApiError::validation(format!("variants.{name}: {e}")))
        })
        .collect()
}
