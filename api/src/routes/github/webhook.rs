//! `POST /github/webhooks`: GitHub's deliveries, taken in durably and answered at once.
//!
//! The body must be held in memory before its signature can be checked, so reading it
//! is bounded three ways: in size, in time and in how many are read at once. In order,
//! before anything is stored: a body over `github.webhooks.max_body_bytes` answers 413
//! (by its `Content-Length`, unread, or as soon as the stream passes the limit); no
//! `X-Hub-Signature-256` answers 401, unread; with `github.webhooks.max_concurrent_reads`
//! bodies already being read, 503 `webhook_busy`; a body not complete within
//! `github.webhooks.body_timeout_ms`, 408 `body_timeout`; a wrong signature 401; missing
//! `X-GitHub-Event` / `X-GitHub-Delivery` headers or a body that is not JSON (or holds a
//! `\u0000`, which `jsonb` cannot store) answer 400 (`github::intake` reads them).
//! Then the delivery is inserted once by its `X-GitHub-Delivery` id — a replay answers
//! 200 `duplicate` and changes nothing — and the answer is 202; the processor
//! ([`crate::github::processor`]) handles it after the response. Events without a handler
//! are stored as `ignored` and acknowledged the same way.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use secrecy::ExposeSecret;
use shared::db::schema::webhook_deliveries;
use shared::domain::DeliveryStatus;
use shared::github::webhook::{self, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};
use shared::wire::{ErrorBody, WebhookReceipt};
use std::time::Duration;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::github::{events, intake};
use crate::state::AppState;

/// What a refused delivery is told to wait: a read slot frees as soon as a body is in.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Takes in one webhook delivery from GitHub.
#[utoipa::path(post, path = "/api/v1/github/webhooks", tag = "github",
    request_body(content = serde_json::Value, description = "GitHub's event payload, signed in `X-Hub-Signature-256`"),
    params(
        ("X-GitHub-Event" = String, Header, description = "The event name"),
        ("X-GitHub-Delivery" = String, Header, description = "The delivery's unique id"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the HMAC-SHA256 of the body under the webhook secret"),
    ),
    responses(
        (status = 202, description = "Stored; processed shortly (or ignored: no handler for the event)", body = WebhookReceipt),
        (status = 200, description = "A delivery stored before: nothing more happens", body = WebhookReceipt),
        (status = 400, description = "Missing event or delivery header, or a body that is not JSON (or holds a `\\u0000`, which cannot be stored)", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature: nothing stored", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`body_timeout`): nothing stored", body = ErrorBody),
        (status = 409, description = "The GitHub App's webhook secret is not configured", body = ErrorBody),
        (status = 413, description = "Body over the configured limit: nothing read or stored", body = ErrorBody),
        (status = 503, description = "As many deliveries are being read as allowed (`webhook_busy`), with `Retry-After`: nothing read or stored", body = ErrorBody),
    ),
)]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let limit = state.settings.github.webhooks.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let secret = state
        .settings
        .github
        .webhook_secret
        .as_ref()
        .ok_or_else(|| super::not_configured("github.webhook_secret"))?;
    let signature = header_str(&req, SIGNATURE_HEADER);
    if signature.is_none() {
        return Err(ApiError::auth_failed(
            ErrorCode::MissingSignature,
            "the delivery has no X-Hub-Signature-256 header",
        ));
    }
    let settings = &state.settings.github.webhooks;
    let body = {
        let _reading = state
            .webhook_reads
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                tracing::warn!(
                    max_concurrent_reads = settings.max_concurrent_reads,
                    "webhook intake full: delivery refused"
                );
                ApiError::Busy {
                    code: ErrorCode::WebhookBusy,
                    message: "too many webhook deliveries are being read; retry shortly".into(),
                    retry_after_secs: BUSY_RETRY_AFTER_SECS,
                }
            })?;
        let timeout = Duration::from_millis(settings.body_timeout_ms);
        tokio::time::timeout(timeout, read_limited(payload, limit))
            .await
            .map_err(|_| ApiError::RequestTimeout {
                code: ErrorCode::BodyTimeout,
                message: format!(
                    "the delivery body did not arrive within {} ms",
                    settings.body_timeout_ms
                ),
            })??
    };

    if !webhook::verify(secret.expose_secret().as_bytes(), &body, signature) {
        return Err(ApiError::auth_failed(
            ErrorCode::InvalidSignature,
            "X-Hub-Signature-256 does not match the body",
        ));
    }
    let intake::Incoming {
        event,
        delivery_id,
        action,
        installation_id,
        payload: json,
    } = intake::read(
        header_str(&req, EVENT_HEADER),
        header_str(&req, DELIVERY_HEADER),
        &body,
    )?;

    let handled = events::is_handled(&event);
    let status = if handled {
        DeliveryStatus::Received
    } else {
        DeliveryStatus::Ignored
    };
    let mut conn = state.db.system().await?;
    let inserted = diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::id.eq(Uuid::now_v7()),
            webhook_deliveries::delivery_id.eq(&delivery_id),
            webhook_deliveries::event.eq(&event),
            webhook_deliveries::action.eq(&action),
            webhook_deliveries::installation_id.eq(installation_id),
            webhook_deliveries::payload.eq(&json),
            webhook_deliveries::status.eq(status),
            webhook_deliveries::error
                .eq((!handled).then(|| format!("no handler for {event} events"))),
            webhook_deliveries::processed_at.eq((!handled).then(chrono::Utc::now)),
        ))
        .on_conflict(webhook_deliveries::delivery_id)
        .do_nothing()
        .execute(&mut conn)
        .await?;
    drop(conn);
    tracing::info!(
        delivery.id = %delivery_id,
        %event,
        action = action.as_deref().unwrap_or(""),
        duplicate = inserted == 0,
        "webhook delivery received"
    );
    if inserted == 0 {
        return Ok(HttpResponse::Ok().json(WebhookReceipt {
            delivery_id,
            status: "duplicate".into(),
        }));
    }
    if handled {
        state.webhook_wake.notify_one();
    }
    Ok(HttpResponse::Accepted().json(WebhookReceipt {
        delivery_id,
        status: if handled { "accepted" } else { "ignored" }.into(),
    }))
}

/// The body, refused with 413 as soon as it grows past `limit`.
async fn read_limited(mut payload: web::Payload, limit: usize) -> ApiResult<web::BytesMut> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge { limit },
            other => ApiError::bad_request(
                ErrorCode::UnreadableBody,
                format!("reading the body: {other}"),
            ),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn header_str<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
