//! Projects: a board on one repository.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use crate::error::ApiError;

/// Checks an executor name against the catalogue (`shared::executors`); anything else
/// answers 422 `unknown_executor`.
pub fn check_executor(name: &str) -> Result<(), ApiError> {
    name.parse::<shared::executors::ExecutorKind>()?;
    Ok(())
}

/// A task key prefix: an upper-case letter then up to 9 upper-case letters or digits.
pub fn check_key_prefix(prefix: &str) -> Result<(), ApiError> {
    let mut chars = prefix.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if first_ok && rest_ok && prefix.len() <= 10 {
        Ok(())
    } else {
        Err(ApiError::validation(
            "key_prefix must be an upper-case letter followed by up to 9 upper-case letters or digits",
        ))
    }
}

/// The default key prefix: the name's ASCII letters, upper-cased, at most 4; "SY" when
/// the name has none.
pub fn default_key_prefix(name: &str) -> String {
    let letters: String = name
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .take(4)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.is_empty() {
        "SY".to_owned()
    } else {
        letters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_key_prefix_takes_up_to_four_letters() {
        assert_eq!(default_key_prefix("Demo project"), "DEMO");
        assert_eq!(default_key_prefix("a-b c"), "ABC");
        assert_eq!(default_key_prefix("42 ✓"), "SY");
    }

    #[test]
    fn key_prefix_rules_match_the_schema() {
        assert!(check_key_prefix("SY").is_ok());
        assert!(check_key_prefix("A1B2").is_ok());
        assert!(check_key_prefix("ABCDEFGHIJ").is_ok());
        assert!(check_key_prefix("ABCDEFGHIJK").is_err());
        assert!(check_key_prefix("1AB").is_err());
        assert!(check_key_prefix("ab").is_err());
        assert!(check_key_prefix("").is_err());
    }
}
