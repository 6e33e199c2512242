//! Scheduler behaviour against real Postgres and Redis.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a setup step that fails fails the test, with its message"
)]

mod dispatch;
mod fake_kube;
mod kubelet;
mod kubernetes;
mod metrics;
mod reaper;
mod transitions;
mod wakes;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;
use std::future::Future;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The attempt's status as stored.
pub async fn status_of(conn: &mut shared::db::Conn, id: Uuid) -> AttemptStatus {
    task_attempts::table
        .find(id)
        .select(task_attempts::status)
        .get_result(conn)
        .await
        .expect("attempt row")
}

/// Polls `check` every 20 ms until it answers, failing the test after `secs`.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One test's services: its database, Redis (the shared server under a prefix, or a
/// server of its own), the object store, and a connection of each.
pub struct Ctx {
    pub env: shared::testing::TestEnv,
    pub db: shared::db::Db,
    pub conn: shared::db::Conn,
    pub redis: redis::aio::ConnectionManager,
    pub keys: shared::keys::Keys,
    pub store: shared::store::ObjectStore,
}

impl Ctx {
    pub async fn new(redis_url: Option<&str>) -> Ctx {
        let env = shared::testing::TestEnv::new().await;
        let db = shared::db::Db::new(&env.settings.database).unwrap();
        let conn = db.system().await.unwrap();
        let redis = shared::redis_conn::manager(redis_url.unwrap_or(&env.settings.redis.url))
            .await
            .unwrap();
        let keys = shared::keys::Keys::new(env.settings.redis.prefix.clone());
        let store = shared::store::ObjectStore::new(&env.settings.s3);
        Ctx {
            env,
            db,
            conn,
            redis,
            keys,
            store,
        }
    }
}
