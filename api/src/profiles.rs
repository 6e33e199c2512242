//! How an executor profile name resolves for a project, most specific first: the
//! project's override, then the org's profile, then the built-in profile of that name. An
//! org profile named like a built-in one replaces it for the whole org; a project
//! override replaces either for that project. Starting a run resolves its profile here;
//! the `executor-profiles` routes list and edit the rows.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::Conn;
use shared::db::models::ExecutorProfileRow;
use shared::db::schema::executor_profiles;
use shared::executors::{
    self, ExecutorKind, Profile, ProfileOptions, ProfileRef, ProfileSource, ResolvedProfile,
};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::error::ApiError;

/// A stored row as a profile (rows are validated before they are written; a row the
/// catalogue no longer understands is a server-side problem, not the caller's).
pub fn row_profile(row: &ExecutorProfileRow) -> Result<Profile, ApiError> {
    let executor: ExecutorKind = row
        .executor
        .parse()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored profile {:?}: {e}", row.name)))?;
    let variants: BTreeMap<String, ProfileOptions> = serde_json::from_value(row.variants.clone())
        .map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!(
            "stored profile {:?} has unreadable variants",
            row.name
        )))
    })?;
    Ok(Profile {
        name: row.name.clone(),
        executor,
        variants,
    })
}

/// Resolves `reference` for a project: its override, else the org's profile, else the
/// built-in one; then the variant. Unknown names and variants answer 422
/// `unknown_profile`.
pub async fn resolve(
    conn: &mut Conn,
    org_id: Uuid,
    project_id: Uuid,
    reference: &ProfileRef,
) -> Result<ResolvedProfile, ApiError> {
    let rows: Vec<ExecutorProfileRow> = executor_profiles::table
        .filter(executor_profiles::org_id.eq(org_id))
        .filter(executor_profiles::name.eq(&reference.name))
        .filter(
            executor_profiles::project_id
                .is_null()
                .or(executor_profiles::project_id.eq(project_id)),
        )
        .select(ExecutorProfileRow::as_select())
        .load(conn)
        .await?;
    let project = rows.iter().find(|r| r.project_id.is_some());
    let org = rows.iter().find(|r| r.project_id.is_none());
    let (profile, source) = match (project, org) {
        (Some(row), _) => (row_profile(row)?, ProfileSource::Project),
        (None, Some(row)) => (row_profile(row)?, ProfileSource::Org),
        (None, None) => match executors::builtin_profile(&reference.name) {
            Some(p) => (p, ProfileSource::Builtin),
            None => {
                return Err(ApiError::UnknownProfile(format!(
                    "no executor profile named {:?} for this project (GET executor-profiles lists them)",
                    reference.name
                )));
            }
        },
    };
    ResolvedProfile::pick(&profile, source, &reference.variant).map_err(ApiError::UnknownProfile)
}
