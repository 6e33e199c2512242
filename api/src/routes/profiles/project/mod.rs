//! A project's executor profiles: overrides of the org's (or built-in) profiles of the
//! same name, or profiles only that project uses. Starting an attempt on a task of the
//! project resolves profile names here first.

pub mod delete;
pub mod get;
pub mod list;
pub mod put;

use shared::db::Conn;
use shared::executors::ProfileSource;
use uuid::Uuid;

use super::{org_hides, org_row};
use crate::error::ApiError;

/// What an override of `name` hides: the org's profile, else a built-in one.
pub async fn hidden_by_override(
    conn: &mut Conn,
    org_id: Uuid,
    name: &str,
) -> Result<Option<ProfileSource>, ApiError> {
    Ok(match org_row(conn, org_id, name).await? {
        Some(_) => Some(ProfileSource::Org),
        None => org_hides(name),
    })
}
