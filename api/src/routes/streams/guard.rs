//! What keeps a stream honest after it opened: a lifetime capped at its credential's
//! expiry, a re-check of the credential on each heartbeat, and a lease on one of the few
//! stream slots its credential and its org may hold.
//!
//! Slots are counted across replicas in Redis: a sorted set per credential and per org,
//! of stream ids scored by when their lease runs out. A stream renews its lease on each
//! heartbeat and gives it back when it ends; the lease of a replica that died runs out
//! after a few heartbeats.

use chrono::Utc;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use uuid::Uuid;

use crate::auth::revocation::{self, Principal};
use crate::auth::{OrgAuth, RequiredScope};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Takes a slot in both sets if neither is full, after dropping lapsed leases.
/// KEYS: credential set, org set. ARGV: now (ms), lease end (ms), stream id,
/// credential cap, org cap, key lifetime (ms). Returns 0 (taken), 1 (credential full)
/// or 2 (org full).
const TAKE_SLOT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 0
";

/// Heartbeats a lease outlives, so one slow renewal does not free the slot.
const LEASE_HEARTBEATS: u32 = 3;
/// Added to the lease, for clock skew between replicas and a slow Redis.
const LEASE_SLACK: Duration = Duration::from_secs(5);

/// Why a stream's access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The token or session reached its expiry.
    Expired,
    /// The token was revoked, the session ended, or the person left the org.
    Revoked,
}

impl Ended {
    /// The comment sent before the stream closes (clients ignore it; people debugging
    /// with curl read it). A client reconnects, and learns from the answer what to do.
    pub fn comment(self) -> &'static str {
        match self {
            Ended::Expired => "access expired",
            Ended::Revoked => "access revoked",
        }
    }
}

/// One open stream's hold on its access: see the module docs.
pub struct StreamGuard {
    principal: Principal,
    /// When the credential expires (`None`: it does not by itself).
    deadline: Option<Instant>,
    heartbeat: Interval,
    lease: Lease,
}

/// Admits a stream for `auth`: 429 `too_many_streams` when its credential or its org
/// holds as many as allowed.
pub async fn admit<S: RequiredScope>(
    state: &AppState,
    auth: &OrgAuth<S>,
) -> Result<StreamGuard, ApiError> {
    let settings = &state.settings.api.streams;
    let period = heartbeat_period(state);
    let principal = Principal::of(auth.org_id(), &auth.actor);
    let lease = Lease::take(state, principal, period).await?;
    let deadline = auth.expires_at.map(|at| {
        let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Instant::now() + left
    });
    let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tracing::debug!(
        max_per_credential = settings.max_per_credential,
        max_per_org = settings.max_per_org,
        "stream admitted"
    );
    Ok(StreamGuard {
        principal,
        deadline,
        heartbeat,
        lease,
    })
}

impl StreamGuard {
    /// Resolves when the credential expires (never, for one without an expiry).
    pub fn expiry(&self) -> impl Future<Output = ()> + use<> {
        let deadline = self.deadline;
        async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        }
    }

    /// The next heartbeat tick (cancel-safe).
    pub async fn tick(&mut self) {
        self.heartbeat.tick().await;
    }

    /// At a heartbeat: whether the credential still grants access; renews the lease when
    /// it does. Not cancel-safe: await it to the end.
    pub async fn recheck(&mut self, state: &AppState) -> Result<(), Ended> {
        let principal = self.principal;
        match super::with_retries(|| revocation::still_valid(state, principal)).await {
            Ok(true) => {}
            Ok(false) => return Err(Ended::Revoked),
            Err(e) => {
                // Unknown is not allowed: the client reconnects and is checked afresh.
                tracing::warn!(error = %e, "stream access could not be re-checked; closing");
                return Err(Ended::Revoked);
            }
        }
        self.lease.renew().await;
        Ok(())
    }
}

/// The heartbeat period of every stream (`api.streams.heartbeat_ms`).
pub fn heartbeat_period(state: &AppState) -> Duration {
    Duration::from_millis(state.settings.api.streams.heartbeat_ms.max(10))
}

/// A stream's slot in its credential's and its org's sets; given back on drop.
struct Lease {
    redis: ConnectionManager,
    credential_key: String,
    org_key: String,
    stream_id: String,
    length: Duration,
}

impl Lease {
    async fn take(
        state: &AppState,
        principal: Principal,
        period: Duration,
    ) -> Result<Lease, ApiError> {
        let settings = &state.settings.api.streams;
        let length = period * LEASE_HEARTBEATS + LEASE_SLACK;
        let credential_key = state.keys.credential_streams(principal.credential_id());
        let org_key = state.keys.org_streams(principal.org_id());
        let stream_id = Uuid::now_v7().to_string();
        let now = Utc::now().timestamp_millis();
        let taken: i64 = redis::Script::new(TAKE_SLOT)
            .key(&credential_key)
            .key(&org_key)
            .arg(now)
            .arg(now + millis(length))
            .arg(&stream_id)
            .arg(settings.max_per_credential)
            .arg(settings.max_per_org)
            .arg(millis(length))
            .invoke_async(&mut state.redis())
            .await?;
        let (scope, cap) = match taken {
            0 => {
                return Ok(Lease {
                    redis: state.redis(),
                    credential_key,
                    org_key,
                    stream_id,
                    length,
                });
            }
            1 => ("this credential", settings.max_per_credential),
            _ => ("this org", settings.max_per_org),
        };
        tracing::info!(scope, cap, "stream refused: too many open");
        Err(ApiError::TooMany {
            code: ErrorCode::TooManyStreams,
            message: format!(
                "{scope} has {cap} event streams open, as many as allowed; close one first"
            ),
            retry_after_secs: period.as_secs().max(1),
        })
    }

    fn until_ms(&self) -> i64 {
        Utc::now().timestamp_millis() + millis(self.length)
    }

    /// Pushes the lease's end out by one lease length. Best effort: a lease that lapses
    /// only frees a slot early.
    async fn renew(&mut self) {
        let until = self.until_ms();
        let renewed: redis::RedisResult<()> = redis::pipe()
            .zadd(&self.credential_key, &self.stream_id, until)
            .ignore()
            .zadd(&self.org_key, &self.stream_id, until)
            .ignore()
            .pexpire(&self.credential_key, millis(self.length))
            .ignore()
            .pexpire(&self.org_key, millis(self.length))
            .ignore()
            .query_async(&mut self.redis)
            .await;
        if let Err(e) = renewed {
            tracing::debug!(error = %e, "stream lease not renewed");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut redis = self.redis.clone();
        let keys = [
            std::mem::take(&mut self.credential_key),
            std::mem::take(&mut self.org_key),
        ];
        let stream_id = std::mem::take(&mut self.stream_id);
        runtime.spawn(async move {
            let released: redis::RedisResult<()> = redis::pipe()
                .zrem(&keys[0], &stream_id)
                .ignore()
                .zrem(&keys[1], &stream_id)
                .ignore()
                .query_async(&mut redis)
                .await;
            if let Err(e) = released {
                tracing::debug!(error = %e, "stream lease not released; it lapses instead");
            }
        });
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
