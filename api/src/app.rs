//! Building and running the HTTP server.

use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use futures::future::BoxFuture;
use shared::config::Settings;
use shared::loops::Loops;
use shared::shutdown::CancellationToken;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error;
use crate::state::AppState;

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the background loops get to stop once the server has.
const LOOPS_GRACE: Duration = Duration::from_secs(5);

/// A started api: where it listens, how to stop it, and the future that runs it.
pub struct RunningApi {
    /// The bound address (the real port when `api.bind` asked for port 0).
    pub addr: SocketAddr,
    /// Stops the server gracefully.
    pub handle: ApiHandle,
    /// Drive this to run the server; it resolves once the server has stopped.
    pub server: BoxFuture<'static, std::io::Result<()>>,
}

/// Stops a running api: streams end, the listener closes, in-flight requests drain.
#[derive(Clone)]
pub struct ApiHandle {
    shutdown: CancellationToken,
}

impl ApiHandle {
    /// Begins a graceful stop; the server future resolves when it is done.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

/// Binds `settings.api.bind` and builds the server; stop it with the returned handle.
pub async fn spawn(settings: Settings) -> anyhow::Result<RunningApi> {
    spawn_with_shutdown(settings, CancellationToken::new()).await
}

/// As [`spawn`], stopping when `shutdown` is cancelled (the binary passes the signal token).
pub async fn spawn_with_shutdown(
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningApi> {
    use anyhow::Context;
    let bind = settings.api.bind.clone();
    // Every background loop of the api, started here and waited for once the server stops.
    let mut loops = Loops::new(shutdown.clone());
    // One HTTP worker per core, as actix's default, each on a runtime of its own and
    // each with its own database pool (see `Db::per_thread`).
    let http_workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let state = web::Data::new(AppState::new(settings, &mut loops, http_workers).await?);
    // Webhook deliveries are processed (and missed ones swept) beside the server.
    crate::github::start(&state, &mut loops);
    loops.spawn(
        "idempotency-prune",
        crate::idempotency::prune(state.get_ref().clone(), loops.stop_token()),
    );
    // Built here, once, before the workers that each register it start.
    std::sync::LazyLock::force(&crate::routes::ROUTE_TABLE);
    let server_state = state.clone();
    let next_worker = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let server = HttpServer::new(move || {
        // Runs once on each worker's own thread, as it starts.
        shared::db::Db::claim_pool_for_this_thread(
            next_worker.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        let state = server_state.clone();
        let limit = state.settings.api.max_body_bytes;
        App::new()
            .app_data(state)
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(error::json_error),
            )
            .app_data(web::PayloadConfig::new(limit))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .configure(crate::routes::configure)
            // The dashboard for other GETs when `api.web_dir` is set; the JSON 404 otherwise.
            .default_service(web::to(crate::web::fallback))
            // Inside the audit log's middleware: a replayed answer records nothing new.
            .wrap(from_fn(crate::idempotency::guard))
            .wrap(from_fn(crate::audit::record))
            .wrap(ErrorHandlers::new().default_handler(error::envelope_everything))
            // Before routing (actix decodes paths lossily), inside the rate limit.
            .wrap(from_fn(crate::readable_url::guard))
            // Inside the request context, so a 429 carries its request id and span.
            .wrap(from_fn(crate::ratelimit::limit))
            .wrap(from_fn(crate::request_id::request_context))
    })
    .disable_signals()
    .workers(http_workers)
    .shutdown_timeout(DRAIN_TIMEOUT.as_secs())
    .bind(&bind)
    .with_context(|| format!("binding {bind}"))?;
    let addr = *server
        .addrs()
        .first()
        .context("the server bound no address")?;
    let server = server.run();
    let server_handle = server.handle();
    let watcher = loops.stop_token();
    loops.spawn("http-drain", async move {
        watcher.cancelled().await;
        tracing::info!("api shutting down: draining requests");
        server_handle.stop(true).await;
    });
    tracing::info!(%addr, loops = ?loops.names(), "api listening");
    let server = async move {
        let served = server.await;
        loops.shutdown(LOOPS_GRACE).await;
        served
    };
    Ok(RunningApi {
        addr,
        handle: ApiHandle { shutdown },
        server: Box::pin(server),
    })
}
