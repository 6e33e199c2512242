//! Access tokens: short-lived HS256 JWTs naming their signing key (`kid`), so keys rotate
//! by adding a new one, making it active, and dropping the old one after a token lifetime.
//!
//! Only HS256 is accepted: a token whose header says `none`, another algorithm, an unknown
//! key id, a bad signature, a wrong issuer or audience, or a past expiry is refused.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use shared::config::AuthSettings;
use std::collections::HashMap;
use uuid::Uuid;

const ISSUER: &str = "switchyard";
const AUDIENCE: &str = "switchyard-api";
/// HS256 keys shorter than the hash output weaken it; refuse them at startup.
const MIN_KEY_BYTES: usize = 32;

/// What an access token says: who, in which sign-in session, until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The sign-in session; revoking it ends every access token minted for it.
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and verifies access tokens with the configured keys.
pub struct Signer {
    active: (String, EncodingKey),
    verify: HashMap<String, DecodingKey>,
    /// The raw keys, active first, for the CSRF tokens derived from them.
    raw: Vec<Vec<u8>>,
    ttl_secs: i64,
}

impl Signer {
    /// Loads the keys from settings; with none configured, draws a random one for this
    /// process (its tokens die with it). Only development mode gets that far without a
    /// key: elsewhere the api refuses to start (`Settings::check_mode`).
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Signer> {
        let mut keys: Vec<(String, Vec<u8>)> = settings
            .signing_keys
            .iter()
            .map(|(id, secret)| (id.clone(), secret.expose_secret().as_bytes().to_vec()))
            .collect();
        if keys.is_empty() {
            tracing::warn!(
                "auth.signing_keys is empty (development mode): signing sessions with a random per-process key"
            );
            let random: [u8; 32] = rand::random();
            keys.push(("ephemeral".into(), random.to_vec()));
        }
        if let Some((id, _)) = keys.iter().find(|(_, k)| k.len() < MIN_KEY_BYTES) {
            anyhow::bail!("auth signing key {id:?} is shorter than {MIN_KEY_BYTES} bytes");
        }
        let active_id = match &settings.active_key_id {
            Some(id) => id.clone(),
            None if keys.len() == 1 => keys[0].0.clone(),
            None => anyhow::bail!("several auth signing keys: set auth.active_key_id"),
        };
        let active_secret = keys
            .iter()
            .find(|(id, _)| *id == active_id)
            .map(|(_, k)| k.clone())
            .ok_or_else(|| anyhow::anyhow!("auth.active_key_id {active_id:?} names no key"))?;
        let mut raw = vec![active_secret.clone()];
        raw.extend(
            keys.iter()
                .filter(|(id, _)| *id != active_id)
                .map(|(_, k)| k.clone()),
        );
        Ok(Signer {
            raw,
            active: (active_id, EncodingKey::from_secret(&active_secret)),
            verify: keys
                .iter()
                .map(|(id, k)| (id.clone(), DecodingKey::from_secret(k)))
                .collect(),
            ttl_secs: i64::try_from(settings.access_ttl_secs).unwrap_or(i64::MAX / 2),
        })
    }

    /// How long a minted token lives, in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A token for `user` in `session`, valid for the configured lifetime.
    pub fn mint(&self, user: Uuid, session: Uuid) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            sid: session,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + self.ttl_secs,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active.0.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.active.1)?)
    }

    /// The CSRF token of a sign-in session: an HMAC of its id, so it cannot be guessed
    /// or planted from another origin, and needs no storage.
    pub fn csrf_token(&self, session: Uuid) -> String {
        csrf_with(&self.raw[0], session)
    }

    /// Whether `presented` is the session's CSRF token under any configured key.
    pub fn csrf_matches(&self, session: Uuid, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.raw.iter().any(|key| {
            let expected = csrf_with(key, session);
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        })
    }

    /// The claims of a token this service signed and that has not expired, else `None`.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let key = self.verify.get(header.kid.as_deref()?)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

fn csrf_with(key: &[u8], session: Uuid) -> String {
    use hmac::{Hmac, Mac};
    // Any key length is valid for HMAC: `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(b"switchyard-csrf:");
    mac.update(session.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use secrecy::SecretString;

    fn settings(keys: &[(&str, &str)], active: Option<&str>) -> AuthSettings {
        let mut s = shared::config::Settings::default().auth;
        s.signing_keys = keys
            .iter()
            .map(|(id, k)| (id.to_string(), SecretString::from(k.to_string())))
            .collect();
        s.active_key_id = active.map(str::to_owned);
        s
    }

    const K1: &str = "k1-0123456789abcdef0123456789abcdef";
    const K2: &str = "k2-0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_and_names_its_key() {
        let signer = Signer::new(&settings(&[("a", K1)], None)).unwrap();
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let token = signer.mint(user, session).unwrap();
        let claims = signer.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_key_is_dropped() {
        let old = Signer::new(&settings(&[("a", K1)], None)).unwrap();
        let token = old.mint(Uuid::new_v4(), Uuid::new_v4()).unwrap();
        let both = Signer::new(&settings(&[("a", K1), ("b", K2)], Some("b"))).unwrap();
        assert!(both.verify(&token).is_some());
        let fresh = both.mint(Uuid::new_v4(), Uuid::new_v4()).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some("b")
        );
        let new_only = Signer::new(&settings(&[("b", K2)], None)).unwrap();
        assert!(new_only.verify(&token).is_none());
    }

    #[test]
    fn forged_none_expired_and_tampered_tokens_are_refused() {
        let signer = Signer::new(&settings(&[("a", K1)], None)).unwrap();
        let token = signer.mint(Uuid::new_v4(), Uuid::new_v4()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        // alg: none, no signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"a"}"#);
        assert!(
            signer
                .verify(&format!("{none_header}.{}.", parts[1]))
                .is_none()
        );
        // A changed payload under the old signature.
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let mut forged = claims.clone();
        forged["sub"] = serde_json::json!(Uuid::new_v4());
        let forged = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert!(
            signer
                .verify(&format!("{}.{forged}.{}", parts[0], parts[2]))
                .is_none()
        );
        // Signed by a key this service does not have, under a known kid.
        let other = Signer::new(&settings(&[("a", K2)], None)).unwrap();
        assert!(
            signer
                .verify(&other.mint(Uuid::new_v4(), Uuid::new_v4()).unwrap())
                .is_none()
        );
        // Expired ten seconds ago, otherwise well formed and signed.
        let now = Utc::now().timestamp();
        let stale = Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now - 100,
            exp: now - 10,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("a".into());
        let stale = jsonwebtoken::encode(&header, &stale, &EncodingKey::from_secret(K1.as_bytes()));
        assert!(signer.verify(&stale.unwrap()).is_none());
        // Garbage.
        assert!(signer.verify("not.a.jwt").is_none());
    }

    #[test]
    fn csrf_tokens_are_per_session_and_survive_rotation() {
        let old = Signer::new(&settings(&[("a", K1)], None)).unwrap();
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let token = old.csrf_token(s1);
        assert!(old.csrf_matches(s1, &token));
        assert!(!old.csrf_matches(s2, &token));
        assert!(!old.csrf_matches(s1, ""));
        let rotated = Signer::new(&settings(&[("a", K1), ("b", K2)], Some("b"))).unwrap();
        assert!(rotated.csrf_matches(s1, &token));
        assert_ne!(rotated.csrf_token(s1), token);
    }

    #[test]
    fn short_keys_and_ambiguous_active_keys_are_refused() {
        assert!(Signer::new(&settings(&[("a", "short")], None)).is_err());
        assert!(Signer::new(&settings(&[("a", K1), ("b", K2)], None)).is_err());
        assert!(Signer::new(&settings(&[("a", K1)], Some("z"))).is_err());
    }
}
