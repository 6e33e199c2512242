//! The scheduler's `/metrics` listener (`scheduler.metrics_bind`): what only the scheduler
//! sees (queue wait, lease expiries, its S3 and Redis errors), in the Prometheus text
//! format. The api serves the platform-wide gauges; docs/OPERATIONS.md lists both.

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use shared::loops::Loops;
use shared::metrics::Metrics;
use std::net::SocketAddr;

/// Binds `bind` and serves `/metrics` in `loops` until they stop; returns the address
/// bound (the real port when `bind` asked for port 0).
pub fn start(bind: &str, metrics: Metrics, loops: &mut Loops) -> anyhow::Result<SocketAddr> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(metrics.clone()))
            .route("/metrics", web::get().to(render))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .with_context(|| format!("binding scheduler.metrics_bind {bind}"))?;
    let addr = *server
        .addrs()
        .first()
        .context("the metrics listener bound no address")?;
    let server = server.run();
    let handle = server.handle();
    let stop = loops.stop_token();
    loops.spawn("metrics", async move {
        tokio::select! {
            served = server => served.context("serving /metrics"),
            _ = stop.cancelled() => {
                handle.stop(true).await;
                Ok(())
            }
        }
    });
    Ok(addr)
}

async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
