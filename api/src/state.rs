//! What every handler needs, built once per process and passed as `web::Data<AppState>`.

use redis::aio::ConnectionManager;
use shared::config::Settings;
use shared::db::Db;
use shared::github::GithubApp;
use shared::keys::Keys;
use shared::loops::Loops;
use shared::metrics::Metrics;
use shared::shutdown::CancellationToken;
use shared::store::ObjectStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

use crate::auth::github::GithubOAuth;
use crate::auth::jwt::Signer;
use crate::auth::revocation::{self, AccessCache};
use crate::client_addr::TrustedProxies;
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
    /// Recent verdicts on whether a stream's credential still grants access, forgotten
    /// when a revocation is announced (see [`crate::auth::revocation`]).
    pub access: Arc<AccessCache>,
    /// Signs and checks people's access tokens.
    pub signer: Arc<Signer>,
    /// GitHub sign-in, when an OAuth client is configured.
    pub github: Option<Arc<GithubOAuth>>,
    /// The GitHub App (installation tokens, REST calls as the App), when configured.
    pub github_app: Option<Arc<GithubApp>>,
    /// Woken when this replica stores a webhook delivery, so its processor starts at once.
    pub webhook_wake: Arc<Notify>,
    /// Read slots for webhook bodies (`github.webhooks.max_concurrent_reads`): bodies are
    /// buffered before their signature is checked, so anyone can make us hold them.
    pub webhook_reads: Arc<Semaphore>,
    /// Cancelled when the process shuts down; long-lived streams end on it.
    pub shutdown: CancellationToken,
    /// This process's metrics, served at `/metrics`.
    pub metrics: Metrics,
    /// Whose `Forwarded` headers name the client (`api.trusted_proxies`).
    pub trusted_proxies: Arc<TrustedProxies>,
}

impl AppState {
    /// The secrets keyring from this process's settings. A misconfiguration is the
    /// operator's problem, not the caller's: it answers 500 and the cause goes to the log.
    pub fn keyring(&self) -> Result<shared::secrets::Keyring, crate::error::ApiError> {
        shared::secrets::Keyring::from_settings(&self.settings.secrets)
            .map_err(crate::error::ApiError::from)
    }

    /// Connects to Redis and builds the pools and clients from settings. Postgres and S3
    /// connect lazily, so the api starts (and reports not-ready) while they are down. The
    /// pub/sub hub runs in `loops`, whose stop token is the process's shutdown.
    /// `http_workers` threads serve requests, each with a database pool of its own.
    pub async fn new(
        settings: Settings,
        loops: &mut Loops,
        http_workers: usize,
    ) -> anyhow::Result<AppState> {
        use anyhow::Context;
        settings.check_mode(shared::config::Process::Api)?;
        let shutdown = loops.stop_token();
        let db = Db::per_thread(&settings.database, http_workers)
            .context("building the database pools")?;
        db.verify_role().await?;
        let redis = shared::redis_conn::manager(&settings.redis.url)
            .await
            .context("connecting to Redis")?;
        let keys = Keys::new(settings.redis.prefix.clone());
        let metrics = Metrics::new().context("defining the metrics")?;
        let store = ObjectStore::new(&settings.s3).counting_errors_in(&metrics);
        let signer = Arc::new(Signer::new(&settings.auth).context("loading auth signing keys")?);
        let github = GithubOAuth::new(&settings.github, &settings.api.public_url)
            .context("configuring GitHub sign-in")?
            .map(Arc::new);
        let github_app = GithubApp::from_settings(&settings.github)
            .context("configuring the GitHub App")?
            .map(Arc::new);
        let trusted_proxies = Arc::new(TrustedProxies::parse(&settings.api.trusted_proxies)?);
        let hub = Hub::start(&settings.redis.url, loops).context("starting the pub/sub hub")?;
        let access = Arc::new(AccessCache::new(Duration::from_millis(
            settings.api.streams.access_cache_ms,
        )));
        loops.spawn(
            "access-revocations",
            revocation::listen(
                hub.clone(),
                access.clone(),
                keys.access_revocations(),
                loops.stop_token(),
            ),
        );
        let webhook_reads = Arc::new(Semaphore::new(
            settings.github.webhooks.max_concurrent_reads.max(1),
        ));
        Ok(AppState {
            settings: Arc::new(settings),
            db,
            redis,
            keys,
            store,
            hub,
            access,
            signer,
            github,
            github_app,
            webhook_wake: Arc::new(Notify::new()),
            webhook_reads,
            shutdown,
            metrics,
            trusted_proxies,
        })
    }

    /// A handle on the multiplexed Redis connection.
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }
}
