//! Executor profiles: the built-in ones (`shared::executors`), the org's own, and
//! per-project overrides (how a name resolves: [`crate::profiles`]).
//!
//! Project overrides live at `/orgs/{org}/projects/{id}/executor-profiles/{name}`
//! (rows of `executor_profiles` with a `project_id`), so a project can tune one profile
//! without copying the org's whole set.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod project;
pub mod update;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::Conn;
use shared::db::models::ExecutorProfileRow;
use shared::db::schema::executor_profiles;
use shared::executors::{
    self, ExecutorKind, Profile, ProfileError, ProfileErrorKind, ProfileOptions, ProfileSource,
};
use shared::wire;
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};
use crate::profiles::row_profile;

/// The unique constraint on (org, project, name).
pub const NAME_CONSTRAINT: &str = "executor_profiles_scope_name_key";

/// Most profiles an org may define (project overrides count per project).
pub const MAX_PROFILES: i64 = 100;

/// `/orgs/{org}/executor-profiles/{name}` paths.
#[derive(Debug, Deserialize)]
pub struct ProfilePath {
    pub org: String,
    pub name: String,
}

/// `/orgs/{org}/projects/{id}/executor-profiles/{name}` paths.
#[derive(Debug, Deserialize)]
pub struct ProjectProfilePath {
    pub org: String,
    pub id: Uuid,
    pub name: String,
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        match e.kind {
            ProfileErrorKind::ForbiddenEnv => {
                ApiError::unprocessable(ErrorCode::ProfileEnvForbidden, e.to_string())
            }
            ProfileErrorKind::Invalid => ApiError::Validation(e.to_string()),
        }
    }
}

/// Checks a profile name from a path or body.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    executors::check_profile_name(name).map_err(ApiError::from)
}

/// Checks a profile body: a known executor, one that matches an executor-named profile,
/// and valid variants. Returns what to store.
pub fn check_body(
    name: &str,
    executor: &str,
    variants: &serde_json::Value,
) -> Result<(ExecutorKind, BTreeMap<String, ProfileOptions>), ApiError> {
    let kind: ExecutorKind = executor.parse()?;
    executors::check_name_matches_executor(name, kind)?;
    let variants = executors::parse_variants(kind, variants)?;
    Ok((kind, variants))
}

/// The stored form of validated variants.
pub fn variants_json(
    variants: &BTreeMap<String, ProfileOptions>,
) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(variants)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding variants")))
}

/// The wire form of a built-in profile.
pub fn builtin_wire(profile: Profile) -> wire::ExecutorProfile {
    wire::ExecutorProfile {
        name: profile.name,
        executor: profile.executor,
        source: ProfileSource::Builtin,
        project_id: None,
        overrides: None,
        variants: profile.variants,
        created_at: None,
        updated_at: None,
    }
}

/// The wire form of a stored row hiding a profile from `overrides`, if any.
pub fn row_wire(
    row: &ExecutorProfileRow,
    overrides: Option<ProfileSource>,
) -> Result<wire::ExecutorProfile, ApiError> {
    let profile = row_profile(row)?;
    Ok(wire::ExecutorProfile {
        name: profile.name,
        executor: profile.executor,
        source: if row.project_id.is_some() {
            ProfileSource::Project
        } else {
            ProfileSource::Org
        },
        project_id: row.project_id,
        overrides,
        variants: profile.variants,
        created_at: Some(row.created_at),
        updated_at: Some(row.updated_at),
    })
}

/// The org's own profile rows (no project overrides), by name.
pub async fn org_rows(conn: &mut Conn, org_id: Uuid) -> Result<Vec<ExecutorProfileRow>, ApiError> {
    Ok(executor_profiles::table
        .filter(executor_profiles::org_id.eq(org_id))
        .filter(executor_profiles::project_id.is_null())
        .select(ExecutorProfileRow::as_select())
        .order(executor_profiles::name.asc())
        .load(conn)
        .await?)
}

/// A project's override rows, by name.
pub async fn project_rows(
    conn: &mut Conn,
    org_id: Uuid,
    project_id: Uuid,
) -> Result<Vec<ExecutorProfileRow>, ApiError> {
    Ok(executor_profiles::table
        .filter(executor_profiles::org_id.eq(org_id))
        .filter(executor_profiles::project_id.eq(project_id))
        .select(ExecutorProfileRow::as_select())
        .order(executor_profiles::name.asc())
        .load(conn)
        .await?)
}

/// One org profile row (not an override), if it exists.
pub async fn org_row(
    conn: &mut Conn,
    org_id: Uuid,
    name: &str,
) -> Result<Option<ExecutorProfileRow>, ApiError> {
    Ok(executor_profiles::table
        .filter(executor_profiles::org_id.eq(org_id))
        .filter(executor_profiles::project_id.is_null())
        .filter(executor_profiles::name.eq(name))
        .select(ExecutorProfileRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The profiles in effect: built-in, then org rows over them, then (for a project) its
/// overrides over both; sorted by name, each marked with its source and what it hides.
pub fn merge(
    org: &[ExecutorProfileRow],
    project: &[ExecutorProfileRow],
) -> Result<Vec<wire::ExecutorProfile>, ApiError> {
    let mut by_name: BTreeMap<String, wire::ExecutorProfile> = executors::builtin_profiles()
        .into_iter()
        .map(|p| (p.name.clone(), builtin_wire(p)))
        .collect();
    for row in org.iter().chain(project) {
        let hidden = by_name.get(&row.name).map(|p| p.source);
        by_name.insert(row.name.clone(), row_wire(row, hidden)?);
    }
    Ok(by_name.into_values().collect())
}

/// What a profile of `name` would hide in the org (a built-in one), for org rows.
pub fn org_hides(name: &str) -> Option<ProfileSource> {
    executors::builtin_profile(name).map(|_| ProfileSource::Builtin)
}
