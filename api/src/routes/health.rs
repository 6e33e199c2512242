//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use diesel_async::RunQueryDsl;
use shared::wire::Readiness;
use std::time::Duration;

use crate::state::AppState;

/// Each dependency gets this long to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is alive (answers 200 whatever its dependencies do).
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Postgres, Redis and S3 all answer: 200, else 503; the body says which failed.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Every dependency answers", body = Readiness),
        (status = 503, description = "A dependency does not answer", body = Readiness),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (postgres, redis, s3) = futures::join!(
        within(postgres_ok(&state)),
        within(redis_ok(&state)),
        within(state.store.ping()),
    );
    let readiness = Readiness {
        ready: postgres && redis && s3,
        postgres,
        redis,
        s3,
    };
    if readiness.ready {
        HttpResponse::Ok().json(readiness)
    } else {
        tracing::warn!(postgres, redis, s3, "not ready");
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}

async fn within(check: impl Future<Output = bool>) -> bool {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or(false)
}

async fn postgres_ok(state: &AppState) -> bool {
    let Ok(mut conn) = state.db.system().await else {
        return false;
    };
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .is_ok()
}

async fn redis_ok(state: &AppState) -> bool {
    let mut redis = state.redis();
    redis::cmd("PING")
        .query_async::<String>(&mut redis)
        .await
        .is_ok()
}
