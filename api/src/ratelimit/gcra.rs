//! The limiter behind the budgets: GCRA (the generic cell rate algorithm) over Redis,
//! one Lua script per check so concurrent replicas cannot both spend the last request.
//!
//! A budget of N per minute lets a quiet caller burst N requests, then one more every
//! 60/N s. Each bucket is a single key holding its "theoretical arrival time" (TAT), which
//! expires by itself once the bucket is full again, so idle callers cost nothing. Time is
//! the Redis server's (`TIME` inside the script), so replicas with skewed clocks agree.

use redis::Script;
use redis::aio::ConnectionLike;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

use shared::keys::Keys;

/// Checks every bucket of a request in one step and spends one request from each only if
/// all of them allow it, so a refusal by one bucket does not drain the others.
///
/// KEYS: the buckets; ARGV: each bucket's budget per minute, in the same order.
/// Returns `{allowed (0|1), retry_after_us, remaining}`.
///
/// Times are whole microseconds and the emission interval is rounded down to a whole
/// microsecond, so every value is an integer below 2^53 and Lua's doubles hold it exactly:
/// a burst of N is exactly N, whatever N. (Rounding the interval down speeds the steady
/// rate up by at most one microsecond per request.)
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local allowed = 1
        local retry = 0
        local remaining = -1
        local spend = {}
        for i, key in ipairs(KEYS) do
            local per_minute = tonumber(ARGV[i])
            local interval = math.max(1, math.floor(60000000 / per_minute))
            local window = interval * per_minute
            local tat = tonumber(redis.call('GET', key)) or now
            if tat < now then tat = now end
            local debt = tat + interval - now
            if debt > window then
                allowed = 0
                remaining = 0
                if debt - window > retry then retry = debt - window end
            else
                local left = math.floor((window - debt) / interval)
                if remaining < 0 or left < remaining then remaining = left end
                spend[#spend + 1] = { key, tat + interval, debt }
            end
        end
        if allowed == 1 then
            for _, s in ipairs(spend) do
                local ttl_ms = math.max(1, math.ceil(s[3] / 1000))
                redis.call('SET', s[1], string.format('%.0f', s[2]), 'PX', ttl_ms)
            end
        end
        if remaining < 0 then remaining = 0 end
        return { allowed, retry, remaining }
        ",
    )
});

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead (and was counted).
    pub allowed: bool,
    /// When refused: how long until the same request would be allowed.
    pub retry_after: Duration,
    /// Requests still allowed right now by the tightest bucket (0 when refused).
    pub remaining: u32,
}

impl Decision {
    /// `retry_after` for a `Retry-After` header: whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// A budget a request may be counted against.
#[derive(Debug, Clone, Copy)]
pub enum Bucket<'a> {
    /// An org API token, keyed by the hash of its secret (the secret never reaches Redis).
    Token(&'a str),
    /// A signed-in person, across all of their sessions.
    User(Uuid),
    /// A source address; IPv6 addresses share their /64, which one host usually owns.
    Address(IpAddr),
}

impl Bucket<'_> {
    /// The bucket's Redis key under the deployment's prefix.
    pub fn key(&self, keys: &Keys) -> String {
        let prefix = keys.prefix();
        match self {
            Bucket::Token(secret) => format!(
                "{prefix}:ratelimit:token:{}",
                hex::encode(crate::auth::tokens::hash(secret))
            ),
            Bucket::User(id) => format!("{prefix}:ratelimit:user:{id}"),
            Bucket::Address(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => format!("{prefix}:ratelimit:addr:{v4}"),
                IpAddr::V6(v6) => {
                    let net = u128::from(v6) & !((1u128 << 64) - 1);
                    format!(
                        "{prefix}:ratelimit:addr:{}/64",
                        std::net::Ipv6Addr::from(net)
                    )
                }
            },
        }
    }
}

/// Counts one request against every `(key, per_minute)` bucket at once: allowed only if
/// every bucket allows it, and then counted in all of them; refused, it counts in none.
/// Buckets with a budget of 0 are not limited. With no limited bucket at all, the request
/// is allowed without asking Redis and `remaining` is `u32::MAX`.
pub async fn check_all<C: ConnectionLike + Send + Sync, K: AsRef<str>>(
    conn: &mut C,
    buckets: &[(K, u32)],
) -> redis::RedisResult<Decision> {
    let mut invocation = GCRA.prepare_invoke();
    let mut any = false;
    for (key, per_minute) in buckets.iter().filter(|(_, n)| *n > 0) {
        invocation.key(key.as_ref()).arg(*per_minute);
        any = true;
    }
    if !any {
        return Ok(Decision {
            allowed: true,
            retry_after: Duration::ZERO,
            remaining: u32::MAX,
        });
    }
    let (allowed, retry_us, remaining): (u8, u64, u64) = invocation.invoke_async(conn).await?;
    Ok(Decision {
        allowed: allowed == 1,
        retry_after: Duration::from_micros(retry_us),
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::aio::MultiplexedConnection;
    use std::time::Instant;

    /// Counts one request against the bucket `key` with a budget of `per_minute` (a burst
    /// of `per_minute`, then one every `60 / per_minute` s). A budget of 0 means no limit.
    async fn check(
        conn: &mut MultiplexedConnection,
        key: &str,
        per_minute: u32,
    ) -> redis::RedisResult<Decision> {
        check_all(conn, &[(key, per_minute)]).await
    }

    fn redis_url() -> String {
        std::env::var("SWITCHYARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
    }

    async fn connect() -> MultiplexedConnection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// A key of this test's own, so parallel tests never share a bucket.
    fn fresh_key(name: &str) -> String {
        format!("sytest:{}:ratelimit:{name}", Uuid::new_v4().simple())
    }

    async fn spend(conn: &mut MultiplexedConnection, key: &str, per_minute: u32, n: u32) {
        for i in 0..n {
            let d = check(conn, key, per_minute).await.unwrap();
            assert!(d.allowed, "request {i} of the burst refused: {d:?}");
        }
    }

    /// Retries until the bucket allows a request, failing after `limit`.
    async fn eventually_allowed(
        conn: &mut MultiplexedConnection,
        key: &str,
        per_minute: u32,
        limit: Duration,
    ) {
        let start = Instant::now();
        loop {
            if check(conn, key, per_minute).await.unwrap().allowed {
                return;
            }
            assert!(start.elapsed() < limit, "{key} never refilled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn burst_of_the_budget_then_refusal_with_retry_after() {
        let mut conn = connect().await;
        let key = fresh_key("burst");
        for left in (0..5).rev() {
            let d = check(&mut conn, &key, 5).await.unwrap();
            assert!(d.allowed && d.remaining == left, "{d:?}");
        }
        let refused = check(&mut conn, &key, 5).await.unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // One request every 12 s: the next one is a little under 12 s away.
        assert!(
            refused.retry_after > Duration::from_secs(10)
                && refused.retry_after <= Duration::from_secs(12),
            "{refused:?}"
        );
        assert_eq!(refused.retry_after_secs(), 12);
        // A refused request is not counted: still refused, no further away.
        let again = check(&mut conn, &key, 5).await.unwrap();
        assert!(!again.allowed);
        assert!(again.retry_after <= refused.retry_after, "{again:?}");
    }

    #[tokio::test]
    async fn bucket_refills_one_request_per_interval() {
        let mut conn = connect().await;
        let key = fresh_key("refill");
        // 600 a minute: one every 100 ms, so the bucket refills while the burst is spent.
        let mut spent = 0;
        let refused = loop {
            let d = check(&mut conn, &key, 600).await.unwrap();
            if !d.allowed {
                break d;
            }
            spent += 1;
            assert!(spent < 10_000, "never refused");
        };
        assert!(spent >= 600, "refused after {spent}");
        assert!(
            refused.retry_after <= Duration::from_millis(100),
            "{refused:?}"
        );
        assert_eq!(refused.retry_after_secs(), 1);
        eventually_allowed(&mut conn, &key, 600, Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn buckets_are_independent() {
        let mut conn = connect().await;
        let (a, b) = (fresh_key("a"), fresh_key("b"));
        spend(&mut conn, &a, 3, 3).await;
        assert!(!check(&mut conn, &a, 3).await.unwrap().allowed);
        spend(&mut conn, &b, 3, 3).await;
    }

    #[tokio::test]
    async fn two_limiters_share_one_budget() {
        let (mut one, mut two) = (connect().await, connect().await);
        let key = fresh_key("shared");
        let mut allowed = 0;
        for i in 0..10 {
            let conn = if i % 2 == 0 { &mut one } else { &mut two };
            if check(conn, &key, 6).await.unwrap().allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 6);
    }

    #[tokio::test]
    async fn concurrent_checks_never_overspend() {
        let key = fresh_key("race");
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = connect().await;
                let mut allowed = 0;
                for _ in 0..10 {
                    allowed += u32::from(check(&mut conn, &key, 8).await.unwrap().allowed);
                }
                allowed
            }));
        }
        let mut allowed = 0;
        for t in tasks {
            allowed += t.await.unwrap();
        }
        // The run takes well under 7.5 s, the time one more request takes to earn.
        assert_eq!(allowed, 8);
    }

    #[tokio::test]
    async fn refusal_by_one_bucket_spends_none() {
        let mut conn = connect().await;
        let (tight, loose) = (fresh_key("tight"), fresh_key("loose"));
        let pair = [(tight.as_str(), 2), (loose.as_str(), 10)];
        for _ in 0..2 {
            let d = check_all(&mut conn, &pair).await.unwrap();
            assert!(d.allowed);
        }
        for _ in 0..5 {
            let d = check_all(&mut conn, &pair).await.unwrap();
            assert!(!d.allowed, "{d:?}");
        }
        // Only the two allowed requests were counted against the loose bucket.
        let d = check(&mut conn, &loose, 10).await.unwrap();
        assert_eq!(d.remaining, 7, "{d:?}");
    }

    #[tokio::test]
    async fn remaining_is_the_tightest_buckets() {
        let mut conn = connect().await;
        let (a, b) = (fresh_key("a"), fresh_key("b"));
        let d = check_all(&mut conn, &[(a.as_str(), 10), (b.as_str(), 4)])
            .await
            .unwrap();
        assert_eq!(d.remaining, 3);
    }

    #[tokio::test]
    async fn zero_budget_is_unlimited_and_touches_nothing() {
        let mut conn = connect().await;
        let key = fresh_key("zero");
        for _ in 0..3 {
            assert!(check(&mut conn, &key, 0).await.unwrap().allowed);
        }
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!exists);
    }

    #[tokio::test]
    async fn buckets_expire_once_full_again() {
        let mut conn = connect().await;
        let key = fresh_key("ttl");
        // 600 a minute, two requests: full again 200 ms later.
        spend(&mut conn, &key, 600, 2).await;
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl_ms > 0 && ttl_ms <= 200, "ttl {ttl_ms} ms");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let at = |retry_after| Decision {
            allowed: false,
            retry_after,
            remaining: 0,
        };
        assert_eq!(at(Duration::ZERO).retry_after_secs(), 1);
        assert_eq!(at(Duration::from_millis(1)).retry_after_secs(), 1);
        assert_eq!(at(Duration::from_secs(2)).retry_after_secs(), 2);
        assert_eq!(at(Duration::from_millis(2001)).retry_after_secs(), 3);
    }

    #[test]
    fn keys_hide_token_secrets_and_group_ipv6_by_64() {
        let keys = Keys::new("p");
        let secret = "sy_secretsecret";
        let token = Bucket::Token(secret).key(&keys);
        assert!(token.starts_with("p:ratelimit:token:"));
        assert!(!token.contains(secret));
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(Bucket::Address(a).key(&keys), Bucket::Address(b).key(&keys));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            Bucket::Address(mapped).key(&keys),
            "p:ratelimit:addr:10.0.0.1"
        );
        let user = Uuid::nil();
        assert_eq!(
            Bucket::User(user).key(&keys),
            format!("p:ratelimit:user:{user}")
        );
    }
}
