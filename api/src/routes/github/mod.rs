//! The GitHub App's routes: webhook intake, the install link and the setup callback that
//! links an installation to an org.

pub mod install;
pub mod setup;
pub mod webhook;

use crate::error::{ApiError, ErrorCode};

/// The App's settings are missing (`github.app_id`, key, slug or webhook secret).
pub fn not_configured(what: &str) -> ApiError {
    ApiError::conflict(
        ErrorCode::GithubAppNotConfigured,
        format!("the GitHub App is not configured on this server ({what})"),
    )
}
