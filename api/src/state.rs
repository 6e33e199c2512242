//! What every handler needs, built once per process and passed as `web::Data<AppState>`.

use redis::aio::ConnectionManager;
use shared::config::Settings;
use shared::db::Db;
use shared::keys::Keys;
use shared::shutdown::CancellationToken;
use shared::store::ObjectStore;
use std::sync::Arc;

use crate::hub::Hub;

/// Shared, cheaply clonable process state: pools and clients, never request data.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    /// Multiplexed Redis connection for commands (clone it per use).
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub store: ObjectStore,
    /// The one pub/sub connection of this process, fanned out to SSE streams.
    pub hub: Hub,
    /// Cancelled when the process shuts down; long-lived streams end on it.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Connects to Redis and builds the pools and clients from settings. Postgres and S3
    /// connect lazily, so the api starts (and reports not-ready) while they are down.
    pub async fn new(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<AppState> {
        use anyhow::Context;
        let db = Db::new(&settings.database).context("building the database pool")?;
        let redis = shared::redis_conn::manager(&settings.redis.url)
            .await
            .context("connecting to Redis")?;
        let keys = Keys::new(settings.redis.prefix.clone());
        let store = ObjectStore::new(&settings.s3);
        let hub = Hub::start(&settings.redis.url, shutdown.clone())
            .context("starting the pub/sub hub")?;
        Ok(AppState {
            settings: Arc::new(settings),
            db,
            redis,
            keys,
            store,
            hub,
            shutdown,
        })
    }

    /// A handle on the multiplexed Redis connection.
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }
}
