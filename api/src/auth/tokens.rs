//! Org API tokens: random, shown once, stored only as a SHA-256 hash; and the other
//! secrets minted the same way (refresh tokens, invitations).

use rand::Rng;
use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked tokens are easy to scan for.
pub const TOKEN_PREFIX: &str = "sy_";
const BODY_LEN: usize = 40;
/// How much of the token listings show.
pub const VISIBLE_LEN: usize = 10;

/// A freshly minted token: the secret (to show once), its hash and its visible prefix.
pub struct MintedToken {
    pub secret: String,
    pub hash: Vec<u8>,
    pub visible_prefix: String,
}

/// Mints an org API token with 238 bits of randomness.
pub fn mint() -> MintedToken {
    mint_secret(TOKEN_PREFIX)
}

/// Mints a secret of the same strength with another prefix (refresh tokens `syr_`,
/// invitations `syi_`), so each kind is recognisable where it leaks.
pub fn mint_secret(prefix: &str) -> MintedToken {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..BODY_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let secret = format!("{prefix}{body}");
    MintedToken {
        hash: hash(&secret),
        visible_prefix: secret[..VISIBLE_LEN].to_owned(),
        secret,
    }
}

/// The stored form of a token.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether a presented string could be a token at all (cheap check before the lookup).
pub fn looks_valid(secret: &str) -> bool {
    secret.len() == TOKEN_PREFIX.len() + BODY_LEN
        && secret.starts_with(TOKEN_PREFIX)
        && secret[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_validate_and_hash_stably() {
        let t = mint();
        assert!(looks_valid(&t.secret));
        assert_eq!(hash(&t.secret), t.hash);
        assert!(t.secret.starts_with(&t.visible_prefix));
        assert!(!looks_valid("sy_short"));
        assert!(!looks_valid(&t.secret.replace("sy_", "xx_")));
        assert_ne!(mint().secret, t.secret);
    }
}
