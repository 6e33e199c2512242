//! The App's own credential: a short RS256 JWT signed with its private key, sent as a
//! bearer token to the `/app/...` endpoints (and to mint installation tokens).
//!
//! GitHub wants `iss` = the App id, `iat` a little in the past (clocks drift) and `exp` at
//! most ten minutes after `iat`.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::client::GithubError;

/// How far `iat` is set in the past, against clock drift (GitHub's advice: 60 s).
pub const BACKDATE_SECS: i64 = 60;
/// How long after now a JWT expires: nine minutes, so `exp - iat` is exactly GitHub's
/// ten-minute maximum.
pub const LIFETIME_SECS: i64 = 540;

/// The claims of an app JWT.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppClaims {
    pub iat: i64,
    pub exp: i64,
    /// The App id, as a string.
    pub iss: String,
}

/// The App id and its parsed private key.
pub struct AppKey {
    app_id: u64,
    key: EncodingKey,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey")
            .field("app_id", &self.app_id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl AppKey {
    /// Parses a PEM RSA private key (PKCS#1 or PKCS#8). The error never quotes the key.
    pub fn from_pem(app_id: u64, pem: &[u8]) -> Result<AppKey, GithubError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|_| {
            GithubError::Config(
                "github.private_key is not a PEM-encoded RSA private key".to_owned(),
            )
        })?;
        Ok(AppKey { app_id, key })
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// A JWT valid from a minute ago for nine minutes, for a clock reading `now` (unix
    /// seconds).
    pub fn jwt_at(&self, now: i64) -> Result<SecretString, GithubError> {
        let claims = AppClaims {
            iat: now - BACKDATE_SECS,
            exp: now + LIFETIME_SECS,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(|_| GithubError::Config("signing the app JWT failed".to_owned()))
    }

    /// A JWT for now.
    pub fn jwt(&self) -> Result<SecretString, GithubError> {
        self.jwt_at(chrono::Utc::now().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_key_and_the_error_does_not_quote_it() {
        let err = AppKey::from_pem(1, b"-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-zzz\n")
            .expect_err("garbage");
        assert!(!err.to_string().contains("not-a-key-zzz"));
    }
}
