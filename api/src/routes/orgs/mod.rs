//! Organizations: the ones a person belongs to, creating one, and its settings.

pub mod create;
pub mod get;
pub mod list;
pub mod update;

use crate::error::ApiError;

/// Slugs that would shadow a dashboard or API path, or pass for the service itself.
pub const RESERVED_SLUGS: &[&str] = &[
    "api",
    "admin",
    "app",
    "www",
    "new",
    "settings",
    "login",
    "logout",
    "auth",
    "orgs",
    "me",
    "static",
    "assets",
    "docs",
    "help",
    "support",
    "github",
    "invitations",
    "switchyard",
];

/// Checks an org slug: 3-40 lower-case ASCII letters, digits or hyphens, no hyphen first
/// or last (as the schema's check), and not a reserved word.
pub fn check_slug(slug: &str) -> Result<(), ApiError> {
    let bytes = slug.as_bytes();
    let shaped = (3..=40).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !shaped {
        return Err(ApiError::validation(
            "slug must be 3-40 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(ApiError::validation(format!(
            "the slug {slug:?} is reserved; choose another"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules_match_the_schema_and_refuse_reserved_words() {
        for ok in ["acme", "a-b", "abc", "team-42", "0xy", &"a".repeat(40)] {
            assert!(check_slug(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "ab",
            &"a".repeat(41),
            "-abc",
            "abc-",
            "Acme",
            "ac_me",
            "ac me",
            "acmé",
            "",
            "api",
            "admin",
            "settings",
            "github",
        ] {
            assert!(check_slug(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
