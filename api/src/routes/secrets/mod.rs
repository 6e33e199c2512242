//! Org secrets: values are write-only (no response carries one back), sealed with
//! AES-256-GCM under the configured key (`shared::secrets`), and readable in the clear
//! only by the worker that injects them into an executor's environment. Every route
//! needs the `admin` scope: even the names say which services the org uses.

pub mod delete;
pub mod get;
pub mod list;
pub mod put;

use serde::Deserialize;
use shared::db::models::OrgSecret;
use shared::secrets::{PutError, SecretsError};
use shared::wire;

use crate::error::ApiError;

/// `/orgs/{org}/secrets/{name}` paths.
#[derive(Debug, Deserialize)]
pub struct SecretPath {
    pub org: String,
    pub name: String,
}

/// The listing form of a row: never the value.
pub fn info(row: &OrgSecret) -> wire::SecretInfo {
    wire::SecretInfo {
        name: row.name.clone(),
        key_id: row.key_id.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Db(db) => db.into(),
            other => ApiError::Internal(anyhow::Error::new(other).context("org secrets")),
        }
    }
}

impl From<PutError> for ApiError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Invalid(message) => ApiError::Validation(message),
            PutError::Secrets(inner) => inner.into(),
        }
    }
}
