//! Revocations that cached checks must hear about. An event stream authenticates once
//! and then stays open for hours, so it re-checks its credential on each heartbeat
//! ([`still_valid`]); and every request with an org API token would otherwise cost a
//! database round trip to find the token. To keep both cheap, each replica remembers
//! recent verdicts per principal, and the tokens it found, for
//! `api.streams.access_cache_ms`; whatever ends access (revoking a token, ending a
//! session, removing a member) [`announce`]s it on one Redis channel, and every replica
//! forgets what it names ([`listen`]), so the next check asks Postgres. A replica that
//! may have missed messages (its pub/sub connection dropped) forgets everything.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use shared::db::models::{ApiToken, Organization};
use shared::db::schema::{api_tokens, memberships, user_sessions};
use shared::shutdown::CancellationToken;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::Actor;
use crate::error::ApiError;
use crate::hub::{Hub, HubEvent};
use crate::state::AppState;

/// Who holds access to an org, as a stream re-checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    /// An org API token.
    Token { id: Uuid, org_id: Uuid },
    /// A person in one sign-in session, as a member of one org.
    Person {
        user_id: Uuid,
        session_id: Uuid,
        org_id: Uuid,
    },
}

impl Principal {
    /// The principal behind an authenticated caller in `org_id`.
    pub fn of(org_id: Uuid, actor: &Actor) -> Principal {
        match actor {
            Actor::Token { id, .. } => Principal::Token { id: *id, org_id },
            Actor::User { id, session_id, .. } => Principal::Person {
                user_id: *id,
                session_id: *session_id,
                org_id,
            },
        }
    }

    /// The credential's own id (the token, or the sign-in session).
    pub fn credential_id(&self) -> Uuid {
        match self {
            Principal::Token { id, .. } => *id,
            Principal::Person { session_id, .. } => *session_id,
        }
    }

    pub fn org_id(&self) -> Uuid {
        match self {
            Principal::Token { org_id, .. } | Principal::Person { org_id, .. } => *org_id,
        }
    }

    fn ended_by(&self, revoked: &Revoked) -> bool {
        match (self, revoked) {
            (Principal::Token { id, .. }, Revoked::Token(t)) => id == t,
            (Principal::Person { session_id, .. }, Revoked::Session(s)) => session_id == s,
            (
                Principal::Person {
                    user_id, org_id, ..
                },
                Revoked::Member {
                    org_id: o,
                    user_id: u,
                },
            ) => user_id == u && org_id == o,
            _ => false,
        }
    }
}

/// Something that ended access, as announced on the revocation channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revoked {
    /// An org API token was revoked.
    Token(Uuid),
    /// A sign-in session ended (logout, a replayed refresh token).
    Session(Uuid),
    /// A person left an org or was removed from it.
    Member { org_id: Uuid, user_id: Uuid },
}

/// Tells every replica (this one at once) that access ended. Call it after the change
/// is committed. Best effort: a lost message costs at most `api.streams.access_cache_ms`.
pub async fn announce(state: &AppState, revoked: &[Revoked]) {
    for r in revoked {
        state.access.forget(r);
    }
    let channel = state.keys.access_revocations();
    let mut redis = state.redis();
    for r in revoked {
        // A `Revoked` is ids only: encoding cannot fail.
        let message = serde_json::to_string(r).unwrap_or_default();
        let published: redis::RedisResult<i64> = redis.publish(&channel, message).await;
        if let Err(e) = published {
            tracing::warn!(error = %e, revoked = ?r, "could not announce a revocation; other replicas learn it within the access cache's lifetime");
        }
    }
}

/// Recent checks of this replica: stream verdicts per principal, and org API tokens by
/// hash (the token and its org as last read), each kept for the cache's lifetime at most
/// and dropped as soon as a revocation names it.
pub struct AccessCache {
    verdicts: Recent<Principal, bool>,
    tokens: Recent<Vec<u8>, (ApiToken, Organization)>,
    /// Bumped by every forget, so a check that raced a revocation does not store what it
    /// read before the revocation committed.
    generation: AtomicU64,
}

/// Past this many entries, expired ones are swept out on insert.
const SWEEP_ABOVE: usize = 10_000;

/// Entries that expire `ttl` after they were stored.
struct Recent<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + std::hash::Hash, V: Clone> Recent<K, V> {
    fn new(ttl: Duration) -> Self {
        Recent {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        self.lock()
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone())
    }

    /// Stores `value` unless `stale` says (under the lock) that a forget came between
    /// the read and now.
    fn put(&self, key: K, value: V, stale: impl FnOnce() -> bool) {
        let mut entries = self.lock();
        if stale() {
            return;
        }
        if entries.len() >= SWEEP_ABOVE {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        entries.insert(key, (value, Instant::now()));
    }

    fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.lock().retain(|k, (v, _)| keep(k, v));
    }
}

impl AccessCache {
    pub fn new(ttl: Duration) -> AccessCache {
        AccessCache {
            verdicts: Recent::new(ttl),
            tokens: Recent::new(ttl),
            generation: AtomicU64::new(0),
        }
    }

    /// Named apart from diesel's `RunQueryDsl::load`, which every type has in scope here.
    pub fn current_generation(&self) -> u64 {
        AtomicU64::load(&self.generation, Ordering::SeqCst)
    }

    fn get(&self, principal: &Principal) -> Option<bool> {
        self.verdicts.get(principal)
    }

    fn put(&self, principal: Principal, valid: bool, generation: u64) {
        self.verdicts
            .put(principal, valid, || self.current_generation() != generation);
    }

    /// The token with this hash and its org, as read within the cache's lifetime.
    pub fn token(&self, hash: &[u8]) -> Option<(ApiToken, Organization)> {
        self.tokens.get(hash)
    }

    /// Remembers a token read at `generation` (see [`AccessCache::current_generation`]).
    pub fn put_token(&self, hash: Vec<u8>, found: (ApiToken, Organization), generation: u64) {
        self.tokens
            .put(hash, found, || self.current_generation() != generation);
    }

    /// Drops what `revoked` ends. The generation moves first: a store racing this one
    /// either lands before the sweep below or is refused.
    pub fn forget(&self, revoked: &Revoked) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.verdicts
            .retain(|principal, _| !principal.ended_by(revoked));
        self.tokens
            .retain(|_, (token, _)| *revoked != Revoked::Token(token.id));
    }

    /// Drops everything (messages may have been missed).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.verdicts.retain(|_, _| false);
        self.tokens.retain(|_, _| false);
    }
}

/// Whether `principal` still has access to its org: the token is neither revoked nor
/// expired; the session is live and the person still a member.
pub async fn still_valid(state: &AppState, principal: Principal) -> Result<bool, ApiError> {
    if let Some(valid) = state.access.get(&principal) {
        return Ok(valid);
    }
    let generation = state.access.current_generation();
    let mut conn = state.db.system().await?;
    let valid = match principal {
        Principal::Token { id, org_id } => {
            let found = api_tokens::table
                .find(id)
                .filter(api_tokens::org_id.eq(org_id))
                .select((api_tokens::revoked_at, api_tokens::expires_at))
                .first::<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>(&mut conn)
                .await
                .optional()?;
            let now = Utc::now();
            found.is_some_and(|(revoked_at, expires_at)| {
                revoked_at.is_none_or(|at| at > now) && expires_at.is_none_or(|at| at > now)
            })
        }
        Principal::Person {
            user_id,
            session_id,
            org_id,
        } => {
            let session_live: i64 = user_sessions::table
                .filter(user_sessions::id.eq(session_id))
                .filter(user_sessions::user_id.eq(user_id))
                .filter(user_sessions::revoked_at.is_null())
                .filter(user_sessions::expires_at.gt(diesel::dsl::now))
                .count()
                .get_result(&mut conn)
                .await?;
            let member: i64 = memberships::table
                .filter(memberships::org_id.eq(org_id))
                .filter(memberships::user_id.eq(user_id))
                .count()
                .get_result(&mut conn)
                .await?;
            session_live > 0 && member > 0
        }
    };
    state.access.put(principal, valid, generation);
    Ok(valid)
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The loop `access-revocations`: listens on the revocation channel and forgets the
/// verdicts each message names.
pub async fn listen(
    hub: Hub,
    cache: std::sync::Arc<AccessCache>,
    channel: String,
    shutdown: CancellationToken,
) {
    let mut backoff = BACKOFF_MIN;
    // A subscription lasts until the hub stops; the hub itself resubscribes after a
    // lost connection (and says so with a resync).
    let mut sub = loop {
        let subscribed = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = hub.subscribe(channel.clone()) => s,
        };
        match subscribed {
            Ok(sub) => break sub,
            Err(e) => {
                tracing::debug!(error = %e, "revocation channel unavailable; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    };
    // Whatever was announced before we listened is unknown.
    cache.clear();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = sub.recv() => e,
        };
        match event {
            None => return,
            Some(HubEvent::Resync) => cache.clear(),
            Some(HubEvent::Message(published)) => match serde_json::from_str(published.payload()) {
                Ok(revoked) => cache.forget(&revoked),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable revocation; forgetting every verdict");
                    cache.clear();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_forget_only_the_verdicts_they_end() {
        let cache = AccessCache::new(Duration::from_secs(600));
        let (org, user, session, token) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let person = Principal::Person {
            user_id: user,
            session_id: session,
            org_id: org,
        };
        let elsewhere = Principal::Person {
            user_id: user,
            session_id: session,
            org_id: Uuid::now_v7(),
        };
        let tok = Principal::Token {
            id: token,
            org_id: org,
        };
        for p in [person, elsewhere, tok] {
            cache.put(p, true, cache.current_generation());
        }
        cache.forget(&Revoked::Member {
            org_id: org,
            user_id: user,
        });
        assert_eq!(cache.get(&person), None);
        assert_eq!(cache.get(&elsewhere), Some(true), "other orgs keep theirs");
        assert_eq!(cache.get(&tok), Some(true));
        cache.forget(&Revoked::Session(session));
        assert_eq!(cache.get(&elsewhere), None);
        cache.forget(&Revoked::Token(token));
        assert_eq!(cache.get(&tok), None);
    }

    #[test]
    fn a_verdict_read_before_a_revocation_is_not_stored() {
        let cache = AccessCache::new(Duration::from_secs(600));
        let tok = Principal::Token {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
        };
        let read_at = cache.current_generation();
        cache.forget(&Revoked::Token(Uuid::now_v7()));
        cache.put(tok, true, read_at);
        assert_eq!(cache.get(&tok), None);
    }

    #[test]
    fn revocations_travel_as_tagged_ids() {
        let id = Uuid::nil();
        let json = serde_json::to_string(&Revoked::Session(id)).expect("encode");
        assert_eq!(json, format!("{{\"session\":\"{id}\"}}"));
        let back: Revoked = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, Revoked::Session(id));
    }
}
