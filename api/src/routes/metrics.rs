//! `/metrics`: this replica's counters and the platform's gauges in the Prometheus text
//! format. Labels are aggregate (route patterns, statuses, stream kinds); no org, attempt
//! or user id appears, so the endpoint needs no org and no credential (docs/OPERATIONS.md).

use actix_web::{HttpResponse, web};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;

use crate::state::AppState;

/// Prometheus metrics: HTTP, SSE and webhook counters of this replica, and the queue
/// depth and attempts by status, read from Redis and Postgres as it is scraped.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Metrics in the Prometheus text format",
        body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // Each read failing leaves its gauges as last read; the failure is counted and logged.
    let (depth, attempts) = futures::join!(queue_depth(&state), attempts_by_status(&state));
    match depth {
        Ok(n) => state.metrics.queue_depth.set(n as i64),
        Err(e) => {
            state.metrics.redis_errors.inc();
            tracing::warn!(error = %e, "metrics: could not read the queue depth");
        }
    }
    match attempts {
        Ok(counts) => {
            for status in AttemptStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                state
                    .metrics
                    .attempts
                    .with_label_values(&[status.as_str()])
                    .set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count attempts"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn queue_depth(state: &AppState) -> redis::RedisResult<usize> {
    shared::queue::depth(&mut state.redis(), &state.keys).await
}

/// Attempts per status across every org (the system scope: the numbers are platform-wide).
async fn attempts_by_status(state: &AppState) -> anyhow::Result<Vec<(AttemptStatus, i64)>> {
    let mut conn = state.db.system().await?;
    Ok(task_attempts::table
        .group_by(task_attempts::status)
        .select((task_attempts::status, count_star()))
        .load(&mut conn)
        .await?)
}
