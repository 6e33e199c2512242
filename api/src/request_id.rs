//! A request id and a tracing span on every request.
//!
//! The id comes from `x-request-id` when the caller sent a sane one, else it is generated;
//! it is echoed on the response. The span carries the id, method, route and status, and
//! the handlers fill in `org.id` / `attempt.id` once they know them. A W3C `traceparent`
//! header makes the span a child of the caller's trace.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::state::AppState;

/// The request id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, available to handlers through `req.extensions()`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware (`middleware::from_fn`) wrapping every request in its span.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "http.request",
        request_id = %request_id,
        http.method = %req.method(),
        http.route = Empty,
        http.status = Empty,
        org.id = Empty,
        attempt.id = Empty,
        duration_ms = Empty,
    );
    if let Some(parent) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        shared::telemetry::adopt_traceparent(&span, parent);
    }
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let method = method_label(req.method());
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    span.record("duration_ms", duration_ms);
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            span.record("http.status", status);
            // Routing happens inside the app, so the matched pattern is known only now.
            let route = res.request().match_pattern();
            let route = route.as_deref().unwrap_or("unmatched");
            span.record("http.route", route);
            if let Some(metrics) = &metrics {
                metrics
                    .http_requests
                    .with_label_values(&[method, route, res.status().as_str()])
                    .inc();
                metrics
                    .http_request_duration
                    .with_label_values(&[method, route])
                    .observe(started.elapsed().as_secs_f64());
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            span.in_scope(|| {
                if status >= 500 {
                    tracing::warn!("request failed");
                } else {
                    tracing::debug!("request done");
                }
            });
            Ok(res)
        }
        Err(e) => {
            span.in_scope(|| tracing::warn!(error = %e, "request errored"));
            Err(e)
        }
    }
}

/// A caller-supplied id is kept only when short and printable, so it cannot forge log lines.
fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The method as a metric label: the standard ones by name, anything else `other`, so a
/// client inventing methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
