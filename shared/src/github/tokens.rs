//! Installation access tokens: what the App acts with inside one installation, for an
//! hour. Each is minted for a [`TokenScope`] — the whole installation (listing its
//! repositories), one repository's contents (what git clones, fetches and pushes with),
//! or one repository with the App's permissions (the REST calls the platform makes:
//! pull requests, merges, comments) — and kept in this process until five minutes
//! before it expires, then minted again. Tokens live only in memory, never in Redis, Postgres, a log or a git
//! config.

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A cached token is renewed once it has less than this left.
pub const RENEW_BEFORE: TimeDelta = TimeDelta::minutes(5);

/// What an installation token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenScope {
    /// Every repository the installation grants (used to list them).
    Installation(i64),
    /// One repository of the installation, by GitHub's repository id, with only
    /// `contents: write`: what git clones, fetches and pushes with. A token git holds can
    /// come within reach of the attempt, so it can do nothing else: no pull requests,
    /// merges, issues, workflows or settings.
    Repository {
        installation_id: i64,
        repository_id: i64,
    },
    /// One repository with every permission the App holds: the REST calls the platform
    /// makes itself (pull requests, merges, comments, branch lists). Never handed to git.
    RepositoryApi {
        installation_id: i64,
        repository_id: i64,
    },
}

impl TokenScope {
    pub fn installation_id(self) -> i64 {
        match self {
            TokenScope::Installation(id) => id,
            TokenScope::Repository {
                installation_id, ..
            }
            | TokenScope::RepositoryApi {
                installation_id, ..
            } => installation_id,
        }
    }
}

/// An installation access token and when it expires. `Debug` shows only the expiry.
#[derive(Clone)]
pub struct InstallationToken {
    secret: SecretString,
    expires_at: DateTime<Utc>,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl InstallationToken {
    pub fn new(secret: SecretString, expires_at: DateTime<Utc>) -> InstallationToken {
        InstallationToken { secret, expires_at }
    }

    /// The token itself, for an `Authorization` header or a git credential callback
    /// (user `x-access-token`). Never put it in a URL, a git config or a log.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// Whether the token is still good for at least [`RENEW_BEFORE`] at `now`.
    pub fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at - RENEW_BEFORE > now
    }
}

/// One slot per scope; its async lock makes concurrent callers of one scope wait for a
/// single mint instead of each minting their own.
type Slot = Arc<tokio::sync::Mutex<Option<InstallationToken>>>;

/// The process's tokens, by scope.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<TokenScope, Slot>>,
}

impl TokenCache {
    /// The slot of `scope`, made on first use.
    pub fn slot(&self, scope: TokenScope) -> Slot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(scope).or_default().clone()
    }

    /// Drops every token of an installation (it was deleted or suspended, or GitHub
    /// refused one of them).
    pub fn forget_installation(&self, installation_id: i64) {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.retain(|scope, _| scope.installation_id() != installation_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_five_minutes_before_it_expires() {
        let now = Utc::now();
        let token = InstallationToken::new(
            SecretString::from("ghs_secret".to_owned()),
            now + TimeDelta::minutes(60),
        );
        assert!(token.fresh_at(now));
        assert!(token.fresh_at(now + TimeDelta::minutes(54)));
        assert!(!token.fresh_at(now + TimeDelta::minutes(55)));
        assert!(!format!("{token:?}").contains("ghs_secret"));
    }
}
