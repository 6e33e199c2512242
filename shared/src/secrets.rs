//! Org secrets (agent API keys and the like): sealed at rest with AES-256-GCM, opened
//! only by the worker that injects them into an executor's environment, and redacted from
//! everything the executor prints.
//!
//! Sealing: a random 96-bit nonce per write; the org id and the secret's name are the
//! associated data, so a ciphertext copied to another row or another org does not open.
//! Every row records the id of the key that sealed it, so keys rotate without a flag day
//! ([`Keyring`], [`reseal_all`]). Keys come from `secrets.keys` in the configuration; a
//! fixed development key is used only when none is configured and `secrets.allow_dev_key`
//! says so (the embedded default).
//!
//! Values never reach a log or an error: they travel as [`SecretString`], and the errors
//! here name secrets, never their contents.

use crate::db::Conn;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

use crate::config::{SecretsSettings, Settings};
use crate::db::models::{NewOrgSecret, OrgSecret};
use crate::db::schema::org_secrets;

/// Largest secret value, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Longest secret name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Most secrets one org may hold.
pub const MAX_SECRETS_PER_ORG: i64 = 500;
/// Values shorter than this (in characters) are not redacted: a four-letter value such
/// as `true` or `1234` occurs everywhere, and masking it would garble output without
/// protecting anything worth protecting.
pub const MIN_REDACTED_CHARS: usize = 6;
/// The key id of the development key.
pub const DEV_KEY_ID: &str = "dev";
/// The development key. It is public (it is in the source), so it protects nothing; it
/// exists so the embedded default runs without configuration.
const DEV_KEY: &[u8; 32] = b"switchyard-dev-key:NOT-A-SECRET!";
/// Prefix of the associated data, versioning the sealing scheme.
const AAD_PREFIX: &[u8] = b"switchyard/org-secret/v1";
/// Prefix of the associated data of other sealed records, so neither kind opens as the other.
const RECORD_AAD_PREFIX: &[u8] = b"switchyard/record/v1";

/// What can go wrong with secrets. Messages name secrets and keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The configured keys are unusable (or absent while the dev key is not allowed).
    #[error("secrets encryption is misconfigured: {0}")]
    Config(String),
    /// The row was sealed with a key that is no longer configured.
    #[error("secret {name} was sealed with key {key_id:?}, which is not configured")]
    UnknownKey { name: String, key_id: String },
    /// Wrong key, altered bytes, or a ciphertext moved from another row or org.
    #[error("secret {name} does not open: wrong key, or its ciphertext was altered or moved")]
    Open { name: String },
    #[error("secret {name} is not valid UTF-8")]
    NotUtf8 { name: String },
    #[error("sealing secret {name} failed")]
    Seal { name: String },
    /// The values could not be compiled into a matcher.
    #[error("cannot build the secret redactor: {0}")]
    Redactor(String),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

/// A secret name: `^[A-Z_][A-Z0-9_]{0,63}$` (the environment variable it becomes).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= MAX_NAME_CHARS {
        Ok(())
    } else {
        Err(format!(
            "name must be upper-case letters, digits and '_', not starting with a digit, at most {MAX_NAME_CHARS} characters"
        ))
    }
}

/// A secret value: not empty, at most [`MAX_VALUE_BYTES`], no NUL (it becomes an
/// environment variable, which cannot hold one).
pub fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("value must not be empty".into());
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("value must be at most {MAX_VALUE_BYTES} bytes"));
    }
    if value.contains('\0') {
        return Err("value must not contain a NUL character".into());
    }
    Ok(())
}

/// A sealed value, as stored.
pub struct Sealed {
    pub key_id: String,
    pub nonce: [u8; 12],
    pub ciphertext: Vec<u8>,
}

/// The configured keys, ready to seal and open.
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, Aes256Gcm>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Builds the keyring from `secrets` settings: every key must be base64 of exactly 32
    /// bytes, and the active key must be one of them (it may be left out when there is
    /// exactly one). With no keys, the dev key is used if allowed, else this fails.
    pub fn from_settings(settings: &SecretsSettings) -> Result<Keyring, SecretsError> {
        if settings.keys.is_empty() {
            if !settings.allow_dev_key {
                return Err(SecretsError::Config(
                    "no key in secrets.keys and secrets.allow_dev_key is false".into(),
                ));
            }
            if let Some(active) = &settings.active_key_id
                && active != DEV_KEY_ID
            {
                return Err(SecretsError::Config(format!(
                    "secrets.active_key_id is {active:?} but secrets.keys is empty"
                )));
            }
            let keys = BTreeMap::from([(
                DEV_KEY_ID.to_owned(),
                Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(DEV_KEY)),
            )]);
            return Ok(Keyring {
                active: DEV_KEY_ID.to_owned(),
                keys,
            });
        }
        let mut keys = BTreeMap::new();
        for (id, encoded) in &settings.keys {
            if id.is_empty() || id.len() > 64 {
                return Err(SecretsError::Config(format!(
                    "key id {id:?} must be 1 to 64 characters"
                )));
            }
            keys.insert(id.clone(), decode_key(id, encoded)?);
        }
        let active = match &settings.active_key_id {
            Some(id) if keys.contains_key(id) => id.clone(),
            Some(id) => {
                return Err(SecretsError::Config(format!(
                    "secrets.active_key_id {id:?} is not in secrets.keys"
                )));
            }
            None if keys.len() == 1 => settings.keys.keys().next().cloned().unwrap_or_default(),
            None => {
                return Err(SecretsError::Config(
                    "several keys in secrets.keys: set secrets.active_key_id".into(),
                ));
            }
        };
        Ok(Keyring { active, keys })
    }

    /// The id new secrets are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Seals `value` as secret `name` of `org_id` under the active key, with a fresh nonce.
    pub fn seal(&self, org_id: Uuid, name: &str, value: &str) -> Result<Sealed, SecretsError> {
        self.seal_with(&associated_data(org_id, name), value.as_bytes())
            .ok_or_else(|| SecretsError::Seal {
                name: name.to_owned(),
            })
    }

    /// Opens a stored secret. Fails unless the key, nonce, ciphertext, org and name are
    /// exactly those it was sealed with.
    pub fn open(&self, row: &OrgSecret) -> Result<SecretString, SecretsError> {
        let refused = || SecretsError::Open {
            name: row.name.clone(),
        };
        let cipher = self
            .keys
            .get(&row.key_id)
            .ok_or_else(|| SecretsError::UnknownKey {
                name: row.name.clone(),
                key_id: row.key_id.clone(),
            })?;
        let aad = associated_data(row.org_id, &row.name);
        let plain = open_with(cipher, &aad, &row.nonce, &row.ciphertext).ok_or_else(refused)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretsError::NotUtf8 {
                name: row.name.clone(),
            })
    }

    /// Seals bytes that are not an org secret (a stored answer, say), bound to `context`
    /// (which names the record, so a ciphertext moved to another record does not open).
    pub fn seal_record(&self, context: &str, plain: &[u8]) -> Result<Sealed, SecretsError> {
        self.seal_with(&record_associated_data(context), plain)
            .ok_or_else(|| SecretsError::Seal {
                name: context.to_owned(),
            })
    }

    /// Opens what [`Keyring::seal_record`] sealed for the same `context`, from its stored
    /// parts.
    pub fn open_record(
        &self,
        context: &str,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SecretsError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| SecretsError::UnknownKey {
                name: context.to_owned(),
                key_id: key_id.to_owned(),
            })?;
        open_with(cipher, &record_associated_data(context), nonce, ciphertext).ok_or_else(|| {
            SecretsError::Open {
                name: context.to_owned(),
            }
        })
    }

    /// AES-256-GCM under the active key with a fresh nonce; `None` when sealing fails.
    fn seal_with(&self, aad: &[u8], plain: &[u8]) -> Option<Sealed> {
        let cipher = self.keys.get(&self.active)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher.encrypt(&nonce, Payload { msg: plain, aad }).ok()?;
        Some(Sealed {
            key_id: self.active.clone(),
            nonce: nonce.into(),
            ciphertext,
        })
    }
}

/// Opens one ciphertext; `None` for a wrong key, nonce, associated data or altered bytes.
fn open_with(cipher: &Aes256Gcm, aad: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    if nonce.len() != 12 {
        return None;
    }
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

/// Decodes one configured key, wiping the decoded bytes afterwards.
fn decode_key(id: &str, encoded: &SecretString) -> Result<Aes256Gcm, SecretsError> {
    use secrecy::zeroize::Zeroize;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.expose_secret().trim())
        .map_err(|_| SecretsError::Config(format!("key {id:?} is not valid base64")))?;
    if bytes.len() != 32 {
        let len = bytes.len();
        bytes.zeroize();
        return Err(SecretsError::Config(format!(
            "key {id:?} must be 32 bytes (base64 of `openssl rand 32`), not {len}"
        )));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes));
    bytes.zeroize();
    Ok(cipher)
}

/// Binds a sealed record (not an org secret) to what it is.
fn record_associated_data(context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(RECORD_AAD_PREFIX.len() + 1 + context.len());
    aad.extend_from_slice(RECORD_AAD_PREFIX);
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// Binds a ciphertext to its org and name.
fn associated_data(org_id: Uuid, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 18 + name.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.push(0);
    aad.extend_from_slice(org_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Whether [`put_secret`] created the secret or replaced its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Replaced,
}

/// Seals `value` and stores it as secret `name` of `org_id`, replacing any previous
/// value (with a new nonce, under the active key). Checks name and value first.
pub async fn put_secret(
    conn: &mut Conn,
    keyring: &Keyring,
    org_id: Uuid,
    name: &str,
    value: &SecretString,
) -> Result<(OrgSecret, Written), PutError> {
    check_name(name).map_err(PutError::Invalid)?;
    check_value(value.expose_secret()).map_err(PutError::Invalid)?;
    let sealed = keyring.seal(org_id, name, value.expose_secret())?;
    let (row, inserted): (OrgSecret, bool) = diesel::insert_into(org_secrets::table)
        .values(NewOrgSecret {
            id: Uuid::now_v7(),
            org_id,
            name,
            key_id: &sealed.key_id,
            nonce: &sealed.nonce,
            ciphertext: &sealed.ciphertext,
        })
        .on_conflict((org_secrets::org_id, org_secrets::name))
        .do_update()
        .set((
            org_secrets::key_id.eq(&sealed.key_id),
            org_secrets::nonce.eq(&sealed.nonce[..]),
            org_secrets::ciphertext.eq(&sealed.ciphertext),
        ))
        // `xmax` is 0 exactly when the row was inserted rather than updated.
        .returning((
            OrgSecret::as_returning(),
            diesel::dsl::sql::<diesel::sql_types::Bool>("(xmax = 0)"),
        ))
        .get_result(conn)
        .await
        .map_err(SecretsError::from)?;
    let written = if inserted {
        Written::Created
    } else {
        Written::Replaced
    };
    Ok((row, written))
}

/// Why [`put_secret`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The name or value is not acceptable; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// A secret's name and metadata, without its value (what listings show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub name: String,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&OrgSecret> for SecretMeta {
    fn from(row: &OrgSecret) -> Self {
        SecretMeta {
            name: row.name.clone(),
            key_id: row.key_id.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Every secret of an org, opened, sorted by name: what the worker injects into an
/// executor's environment (and builds its [`Redactor`] from). Fails if any one does not
/// open, rather than starting an agent without a key it was configured with.
pub async fn decrypt_org_secrets(
    conn: &mut Conn,
    settings: &Settings,
    org_id: Uuid,
) -> Result<Vec<(String, SecretString)>, SecretsError> {
    let keyring = Keyring::from_settings(&settings.secrets)?;
    let rows: Vec<OrgSecret> = org_secrets::table
        .filter(org_secrets::org_id.eq(org_id))
        .select(OrgSecret::as_select())
        .order(org_secrets::name.asc())
        .load(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.name.clone(), keyring.open(row)?)))
        .collect()
}

/// Re-seals, under the active key, every secret sealed with another key (all orgs), so
/// an old key can be dropped from the configuration. Returns how many were re-sealed.
/// Each row is re-sealed with a fresh nonce in its own statement, guarded by the key id
/// it was read with, so a concurrent write is never overwritten with an older value.
pub async fn reseal_all(conn: &mut Conn, keyring: &Keyring) -> Result<usize, SecretsError> {
    let stale: Vec<OrgSecret> = org_secrets::table
        .filter(org_secrets::key_id.ne(keyring.active_key_id()))
        .select(OrgSecret::as_select())
        .load(conn)
        .await?;
    let mut resealed = 0;
    for row in stale {
        let value = keyring.open(&row)?;
        let sealed = keyring.seal(row.org_id, &row.name, value.expose_secret())?;
        resealed += diesel::update(
            org_secrets::table
                .filter(org_secrets::id.eq(row.id))
                .filter(org_secrets::key_id.eq(&row.key_id))
                .filter(org_secrets::nonce.eq(&row.nonce)),
        )
        .set((
            org_secrets::key_id.eq(&sealed.key_id),
            org_secrets::nonce.eq(&sealed.nonce[..]),
            org_secrets::ciphertext.eq(&sealed.ciphertext),
        ))
        .execute(conn)
        .await?;
    }
    Ok(resealed)
}

/// Masks secret values in text: every occurrence of a value becomes `[REDACTED:<NAME>]`.
///
/// - Values shorter than [`MIN_REDACTED_CHARS`] characters are ignored (see there).
/// - Output is redacted a line at a time, so a multi-line value (a PEM key) is also
///   matched line by line: each of its lines of at least [`MIN_REDACTED_CHARS`]
///   characters is masked wherever it appears, under the value's name.
/// - Overlapping occurrences (one value's end is another's start, or one value contains
///   another) are masked as one run, so no part of either survives; the run reads
///   `[REDACTED:A][REDACTED:B]`, one marker per secret in it.
/// - Two secrets with the same value are masked under the first name in name order.
///
/// All values are searched for at once (Aho-Corasick), so the cost per line does not
/// grow with the number of secrets. Encoded forms (base64, URL-escaped) of a value are
/// not recognised.
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    /// For each pattern, the index of its name in `names`.
    pattern_names: Vec<usize>,
    names: Vec<String>,
}

impl fmt::Debug for Redactor {
    /// Shows counts only: the patterns are the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.names.len())
            .field("patterns", &self.pattern_names.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for `(name, value)` pairs. Fails only when the values exceed the
    /// matcher's size limits (far beyond [`MAX_SECRETS_PER_ORG`] values of
    /// [`MAX_VALUE_BYTES`]); a caller must then not run anything whose output it cannot
    /// redact.
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Redactor, SecretsError> {
        let mut secrets: Vec<(&str, &str)> = secrets.into_iter().collect();
        secrets.sort();
        let mut names: Vec<String> = Vec::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_names = Vec::new();
        let mut add = |pattern: &'a str, name_index: usize| {
            if pattern.chars().count() >= MIN_REDACTED_CHARS && !patterns.contains(&pattern) {
                patterns.push(pattern);
                pattern_names.push(name_index);
            }
        };
        for (name, value) in secrets {
            let name_index = match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_owned());
                    names.len() - 1
                }
            };
            add(value, name_index);
            if value.contains('\n') {
                for line in value.lines() {
                    add(line, name_index);
                    add(line.trim(), name_index);
                }
            }
        }
        let matcher = if patterns.is_empty() {
            None
        } else {
            // Standard semantics report every match, overlapping ones included; `redact`
            // merges them into runs.
            let built = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .map_err(|e| SecretsError::Redactor(e.to_string()))?;
            Some(built)
        };
        Ok(Redactor {
            matcher,
            pattern_names,
            names,
        })
    }

    /// A redactor for secrets as [`decrypt_org_secrets`] returns them.
    pub fn from_secrets(secrets: &[(String, SecretString)]) -> Result<Redactor, SecretsError> {
        Redactor::new(
            secrets
                .iter()
                .map(|(name, value)| (name.as_str(), value.expose_secret())),
        )
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.pattern_names.is_empty()
    }

    /// `text` with every secret value masked; borrowed when there was none.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        let mut spans: Vec<(usize, usize, usize)> = matcher
            .find_overlapping_iter(text)
            .map(|m| {
                (
                    m.start(),
                    m.end(),
                    self.pattern_names[m.pattern().as_usize()],
                )
            })
            .collect();
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut i = 0;
        while i < spans.len() {
            let (start, mut end, first) = spans[i];
            let mut run_names = vec![first];
            i += 1;
            while i < spans.len() && spans[i].0 < end {
                end = end.max(spans[i].1);
                if !run_names.contains(&spans[i].2) {
                    run_names.push(spans[i].2);
                }
                i += 1;
            }
            out.push_str(&text[copied..start]);
            for name in run_names {
                out.push_str("[REDACTED:");
                out.push_str(&self.names[name]);
                out.push(']');
            }
            copied = end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(keys: &[(&str, [u8; 32])], active: Option<&str>) -> SecretsSettings {
        SecretsSettings {
            active_key_id: active.map(str::to_owned),
            keys: keys
                .iter()
                .map(|(id, key)| {
                    (
                        (*id).to_owned(),
                        SecretString::from(base64::engine::general_purpose::STANDARD.encode(key)),
                    )
                })
                .collect(),
            allow_dev_key: false,
        }
    }

    fn row(org_id: Uuid, name: &str, sealed: &Sealed) -> OrgSecret {
        OrgSecret {
            id: Uuid::now_v7(),
            org_id,
            name: name.to_owned(),
            key_id: sealed.key_id.clone(),
            nonce: sealed.nonce.to_vec(),
            ciphertext: sealed.ciphertext.clone(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn redactor(pairs: &[(&str, &str)]) -> Redactor {
        Redactor::new(pairs.iter().copied()).expect("redactor")
    }

    #[test]
    fn sealed_values_open_only_for_their_own_org_and_name() {
        let keyring = Keyring::from_settings(&settings(&[("a", [7; 32])], None)).expect("keyring");
        assert_eq!(keyring.active_key_id(), "a");
        let org = Uuid::now_v7();
        let sealed = keyring.seal(org, "API_KEY", "sk-live-123").expect("seal");
        assert_ne!(sealed.ciphertext, b"sk-live-123");
        let opened = keyring.open(&row(org, "API_KEY", &sealed)).expect("open");
        assert_eq!(opened.expose_secret(), "sk-live-123");

        let moved_org = keyring.open(&row(Uuid::now_v7(), "API_KEY", &sealed));
        assert!(matches!(moved_org, Err(SecretsError::Open { .. })));
        let renamed = keyring.open(&row(org, "OTHER_KEY", &sealed));
        assert!(matches!(renamed, Err(SecretsError::Open { .. })));
        let mut tampered = row(org, "API_KEY", &sealed);
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(
            keyring.open(&tampered),
            Err(SecretsError::Open { .. })
        ));
    }

    #[test]
    fn sealed_records_open_only_as_the_record_they_were_sealed_for() {
        let keyring = Keyring::from_settings(&settings(&[("a", [7; 32])], None)).expect("keyring");
        let sealed = keyring
            .seal_record("idempotency/user:1/k1", b"{\"token\":\"sy_x\"}")
            .expect("seal");
        let open = |context: &str, ciphertext: &[u8]| {
            keyring.open_record(context, &sealed.key_id, &sealed.nonce, ciphertext)
        };
        assert_eq!(
            open("idempotency/user:1/k1", &sealed.ciphertext).expect("open"),
            b"{\"token\":\"sy_x\"}"
        );
        assert!(matches!(
            open("idempotency/user:2/k1", &sealed.ciphertext),
            Err(SecretsError::Open { .. })
        ));
        let mut tampered = sealed.ciphertext.clone();
        tampered[0] ^= 1;
        assert!(matches!(
            open("idempotency/user:1/k1", &tampered),
            Err(SecretsError::Open { .. })
        ));
        // A record never opens as an org secret, even under a matching-looking name.
        let as_secret = keyring.open(&row(Uuid::nil(), "idempotency/user:1/k1", &sealed));
        assert!(matches!(as_secret, Err(SecretsError::Open { .. })));
    }

    #[test]
    fn every_write_draws_a_new_nonce() {
        let keyring = Keyring::from_settings(&settings(&[("a", [7; 32])], None)).expect("keyring");
        let org = Uuid::now_v7();
        let one = keyring.seal(org, "K", "same value").expect("seal");
        let two = keyring.seal(org, "K", "same value").expect("seal");
        assert_ne!(one.nonce, two.nonce);
        assert_ne!(one.ciphertext, two.ciphertext);
    }

    #[test]
    fn rotated_keyrings_still_open_what_older_keys_sealed() {
        let org = Uuid::now_v7();
        let old = Keyring::from_settings(&settings(&[("a", [1; 32])], None)).expect("old");
        let sealed = old.seal(org, "TOKEN", "value-under-a").expect("seal");
        let rotated =
            Keyring::from_settings(&settings(&[("a", [1; 32]), ("b", [2; 32])], Some("b")))
                .expect("rotated");
        assert_eq!(rotated.seal(org, "X", "y").expect("seal").key_id, "b");
        let opened = rotated.open(&row(org, "TOKEN", &sealed)).expect("open");
        assert_eq!(opened.expose_secret(), "value-under-a");

        let only_b = Keyring::from_settings(&settings(&[("b", [2; 32])], None)).expect("only b");
        assert!(matches!(
            only_b.open(&row(org, "TOKEN", &sealed)),
            Err(SecretsError::UnknownKey { .. })
        ));
        // The same id with different key bytes does not open it either.
        let wrong = Keyring::from_settings(&settings(&[("a", [9; 32])], None)).expect("wrong");
        assert!(matches!(
            wrong.open(&row(org, "TOKEN", &sealed)),
            Err(SecretsError::Open { .. })
        ));
    }

    #[test]
    fn key_configuration_is_checked() {
        let mut none = settings(&[], None);
        assert!(matches!(
            Keyring::from_settings(&none),
            Err(SecretsError::Config(_))
        ));
        none.allow_dev_key = true;
        assert_eq!(
            Keyring::from_settings(&none).expect("dev").active_key_id(),
            DEV_KEY_ID
        );
        // A configured key always wins over the dev key.
        let mut one = settings(&[("prod", [3; 32])], None);
        one.allow_dev_key = true;
        assert_eq!(
            Keyring::from_settings(&one).expect("prod").active_key_id(),
            "prod"
        );

        let two = settings(&[("a", [1; 32]), ("b", [2; 32])], None);
        assert!(
            Keyring::from_settings(&two).is_err(),
            "ambiguous active key"
        );
        let missing = settings(&[("a", [1; 32])], Some("b"));
        assert!(Keyring::from_settings(&missing).is_err());
        let mut short = settings(&[], None);
        short.keys.insert(
            "a".into(),
            SecretString::from(base64::engine::general_purpose::STANDARD.encode([1u8; 16])),
        );
        let err = Keyring::from_settings(&short).expect_err("16 bytes");
        assert!(err.to_string().contains("32 bytes"), "{err}");
        let mut garbled = settings(&[], None);
        garbled
            .keys
            .insert("a".into(), SecretString::from("not base64!"));
        assert!(Keyring::from_settings(&garbled).is_err());
        // The debug form lists key ids, never key material.
        let keyring = Keyring::from_settings(&settings(&[("a", [1; 32])], None)).expect("a");
        assert_eq!(
            format!("{keyring:?}"),
            r#"Keyring { active: "a", key_ids: ["a"] }"#
        );
    }

    #[test]
    fn secret_names_and_values_are_checked() {
        for good in ["A", "_", "ANTHROPIC_API_KEY", "K2", &"A".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "2A", "A-B", "A B", "Ä", &"A".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_value("x").is_ok());
        assert!(check_value(&"x".repeat(MAX_VALUE_BYTES)).is_ok());
        assert!(check_value(&"x".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert!(check_value("").is_err());
        assert!(check_value("a\0b").is_err());
    }

    #[test]
    fn redaction_masks_every_occurrence_with_the_secret_name() {
        let r = redactor(&[("OPENAI_API_KEY", "sk-abc123456")]);
        assert_eq!(
            r.redact("key=sk-abc123456, again sk-abc123456."),
            "key=[REDACTED:OPENAI_API_KEY], again [REDACTED:OPENAI_API_KEY]."
        );
        assert!(matches!(
            r.redact("nothing here"),
            Cow::Borrowed("nothing here")
        ));
    }

    #[test]
    fn values_shorter_than_six_characters_are_left_alone() {
        let r = redactor(&[("SHORT", "12345"), ("DEBUG", "true"), ("LONG", "123456")]);
        assert_eq!(r.redact("12345 true"), "12345 true");
        assert_eq!(r.redact("x123456x"), "x[REDACTED:LONG]x");
        let none = redactor(&[("SHORT", "abc")]);
        assert!(none.is_empty());
        assert_eq!(none.redact("abc"), "abc");
    }

    #[test]
    fn overlapping_values_leave_no_part_of_either_visible() {
        // B starts inside A: a leftmost-longest scan would leave B's tail showing.
        let r = redactor(&[("A", "abcdef123"), ("B", "123456xyz")]);
        assert_eq!(r.redact("<abcdef123456xyz>"), "<[REDACTED:A][REDACTED:B]>");
        // One value inside another.
        let r = redactor(&[("OUTER", "prefix-secret-suffix"), ("INNER", "secret")]);
        assert_eq!(
            r.redact("prefix-secret-suffix"),
            "[REDACTED:OUTER][REDACTED:INNER]"
        );
        assert_eq!(r.redact("just secret"), "just [REDACTED:INNER]");
        // The same value under two names is masked under the first name.
        let r = redactor(&[("Z_KEY", "duplicate-value"), ("A_KEY", "duplicate-value")]);
        assert_eq!(r.redact("duplicate-value"), "[REDACTED:A_KEY]");
    }

    #[test]
    fn unicode_values_and_text_are_masked_on_character_boundaries() {
        let r = redactor(&[("PASS", "пароль-🔑-秘密")]);
        assert_eq!(r.redact("é пароль-🔑-秘密 ü"), "é [REDACTED:PASS] ü");
        // Twenty bytes but five characters: short, so left alone.
        let short = redactor(&[("EMOJI", "🔑🔑🔑🔑🔑")]);
        assert_eq!(short.redact("🔑🔑🔑🔑🔑"), "🔑🔑🔑🔑🔑");
    }

    #[test]
    fn lines_of_a_multi_line_value_are_masked_one_by_one() {
        let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----";
        let r = redactor(&[("DEPLOY_KEY", pem)]);
        assert_eq!(
            r.redact("read MIIEvQIBADANBgkqhkiG9w0BAQEFAASC from disk"),
            "read [REDACTED:DEPLOY_KEY] from disk"
        );
        assert_eq!(r.redact(pem), "[REDACTED:DEPLOY_KEY]");
    }

    #[test]
    fn a_redactor_for_many_values_stays_fast() {
        let values: Vec<(String, String)> = (0..2_000)
            .map(|i| {
                (
                    format!("K{i}"),
                    format!("secret-value-{i:06}-{}", "x".repeat(40)),
                )
            })
            .collect();
        let r =
            Redactor::new(values.iter().map(|(n, v)| (n.as_str(), v.as_str()))).expect("redactor");
        let line = format!("{} {} tail", "plain text ".repeat(20), values[1234].1);
        let started = std::time::Instant::now();
        for _ in 0..10_000 {
            assert!(r.redact(&line).ends_with("[REDACTED:K1234] tail"));
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(5),
            "10k lines against 2k secrets took {elapsed:?}"
        );
        let debug = format!("{r:?}");
        assert!(!debug.contains("secret-value"), "{debug}");
    }
}
