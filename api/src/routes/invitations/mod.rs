//! Invitations: an admin invites a GitHub login or an email address with a role; the
//! invitee signs in and accepts with the secret from the link, once, before it expires.
//! Only the secret's SHA-256 is stored.

pub mod accept;
pub mod create;
pub mod list;
pub mod revoke;

/// Prefix of invitation secrets, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "syi_";

/// A plausible email address: one `@` with something on both sides, no whitespace, at
/// most 320 characters (as the schema's check).
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 320
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check_matches_the_schema() {
        assert!(valid_email("bob@example.com"));
        assert!(valid_email("a@b"));
        assert!(!valid_email("bob"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("bob@"));
        assert!(!valid_email("bob@ex@ample.com"));
        assert!(!valid_email("bo b@example.com"));
        assert!(!valid_email(&format!("{}@example.com", "a".repeat(320))));
    }
}
