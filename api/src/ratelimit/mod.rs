//! Request budgets per org API token, per signed-in person and per source address,
//! shared by every replica through Redis ([`gcra`]).
//!
//! Every request counts against its source address (the TCP peer, or the client a trusted
//! proxy names: [`crate::client_addr`]), plus its org API token when it carries one (keyed by the token's hash,
//! whether or not the token turns out valid), plus its person when it carries an access
//! token that verifies (keyed by user id; an unverifiable one counts against the address
//! only). A request is allowed only if every bucket allows it. Over budget answers 429
//! `rate_limited` with `Retry-After`; every counted response carries `RateLimit-Remaining`.
//!
//! Health and metrics endpoints, and the dashboard's static files (everything outside
//! `/api/`), are never limited. If Redis does not answer, requests go
//! through (with a warning): the API's availability does not hang on its limiter.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use std::time::Duration;

use crate::auth::{Credential, credential};
use crate::error::{ErrorCode, envelope};
use crate::state::AppState;
use gcra::{Bucket, Decision};

mod gcra;

/// Requests left right now in the tightest budget that applied.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");

/// Probes and scrapes that must work however busy a caller is.
const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// How long a request waits for the limiter before going through uncounted.
const LIMITER_TIMEOUT: Duration = Duration::from_millis(500);

/// Middleware (`middleware::from_fn`) counting each request against its budgets.
pub async fn limit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(state) = state.filter(|s| s.settings.rate_limit.enabled) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if EXEMPT.contains(&req.path()) || !req.path().starts_with("/api/") {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(decision) = decide(&state, &req).await else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if !decision.allowed {
        let retry_after = decision.retry_after_secs();
        tracing::info!(retry_after_s = retry_after, "request over its rate limit");
        let response = HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after.to_string()))
            .insert_header((RATELIMIT_REMAINING, "0"))
            .json(envelope(
                ErrorCode::RateLimited,
                format!("too many requests; retry in {retry_after} s"),
            ));
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if decision.remaining != u32::MAX {
        res.headers_mut()
            .insert(RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    }
    Ok(res.map_into_left_body())
}

/// Checks the request's buckets; `None` when the limiter could not answer.
async fn decide(state: &AppState, req: &ServiceRequest) -> Option<Decision> {
    let limits = &state.settings.rate_limit;
    let mut buckets = Vec::with_capacity(2);
    match credential(req.request()) {
        Credential::ApiToken(secret) => {
            buckets.push((
                Bucket::Token(&secret).key(&state.keys),
                limits.token_per_minute,
            ));
        }
        Credential::Access { token, .. } => {
            if let Some(claims) = state.signer.verify(&token) {
                buckets.push((
                    Bucket::User(claims.sub).key(&state.keys),
                    limits.user_per_minute,
                ));
            }
        }
        Credential::None => {}
    }
    // Without a peer address (not over TCP) there is no address to count against.
    if let Some(client) = state.trusted_proxies.client(req.request()) {
        buckets.push((
            Bucket::Address(client).key(&state.keys),
            limits.address_per_minute,
        ));
    }
    let mut redis = state.redis();
    let check = gcra::check_all(&mut redis, &buckets);
    match tokio::time::timeout(LIMITER_TIMEOUT, check).await {
        Ok(Ok(decision)) => Some(decision),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "rate limiter unavailable; request let through");
            None
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = LIMITER_TIMEOUT.as_millis() as u64,
                "rate limiter timed out; request let through"
            );
            None
        }
    }
}
