//! The delivery processor: one task per api replica. It claims stored deliveries in
//! batches with `FOR UPDATE SKIP LOCKED` (replicas never take the same row), marks them
//! `processing` with a lease, dispatches each one, and records the outcome:
//!
//! - `processed` or `ignored` when the handler is done;
//! - `failed` with a `next_attempt_at` (exponential backoff from `retry_base_ms`, capped
//!   at an hour) for a transient failure while attempts remain;
//! - `failed` without `next_attempt_at` — dead, with its error kept — for a permanent
//!   failure or the last attempt.
//!
//! A replica that dies mid-delivery leaves the row `processing`; once its lease
//! (`lease_secs`) has run out, any processor claims it again. Outcomes are written only
//! while the claim is still this processor's (same `attempts`), so a late finisher never
//! overwrites a newer claim.

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double};
use diesel_async::RunQueryDsl;
use shared::db::models::WebhookDelivery;
use shared::db::schema::{github_installations, webhook_deliveries};
use shared::domain::DeliveryStatus;
use shared::shutdown::CancellationToken;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

use super::events::{self, Delivery, HandlerError, Outcome};
use crate::state::AppState;

/// Longest wait between two attempts at a delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Longest error text kept with a delivery.
const MAX_ERROR_CHARS: usize = 2000;

/// Runs until `shutdown`: claims and processes deliveries, then waits for a wake-up from
/// this replica's intake or the poll interval.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let poll = Duration::from_millis(state.settings.github.webhooks.poll_ms.max(10));
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let claimed = match claim(&state).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim webhook deliveries");
                Vec::new()
            }
        };
        let busy = !claimed.is_empty();
        for row in claimed {
            if shutdown.is_cancelled() {
                // Left `processing`: another processor takes it after the lease.
                break;
            }
            let span = tracing::info_span!(
                "webhook_delivery",
                delivery.id = %row.delivery_id,
                event = %row.event,
                action = row.action.as_deref().unwrap_or(""),
                attempt = row.attempts,
                org.id = tracing::field::Empty,
            );
            process(&state, row).instrument(span).await;
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = state.webhook_wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
    tracing::debug!("webhook processor stopped");
}

/// Claims up to `batch_size` deliveries that are waiting, due for a retry, or abandoned
/// by a processor whose lease ran out.
pub async fn claim(state: &AppState) -> Result<Vec<WebhookDelivery>, shared::db::DbError> {
    let settings = &state.settings.github.webhooks;
    let mut conn = state.db.system().await?;
    let rows = diesel::sql_query(
        "UPDATE webhook_deliveries
            SET status = 'processing', attempts = attempts + 1, next_attempt_at = NULL,
                locked_until = now() + make_interval(secs => $2)
          WHERE id IN (
                SELECT id FROM webhook_deliveries
                 WHERE status = 'received'
                    OR (status = 'failed' AND next_attempt_at <= now())
                    OR (status = 'processing' AND locked_until < now())
                 ORDER BY received_at
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
      RETURNING *",
    )
    .bind::<BigInt, _>(settings.batch_size.max(1))
    .bind::<Double, _>(settings.lease_secs as f64)
    .load::<WebhookDelivery>(&mut conn)
    .await?;
    Ok(rows)
}

/// Processes one claimed delivery and records how it went.
async fn process(state: &AppState, row: WebhookDelivery) {
    let (id, attempts) = (row.id, row.attempts);
    let org_id = match resolve_org(state, &row).await {
        Ok(org) => org,
        Err(e) => {
            finish(state, id, attempts, row.org_id, Err(e)).await;
            return;
        }
    };
    if let Some(org) = org_id {
        tracing::Span::current().record("org.id", tracing::field::display(org));
    }
    let delivery = Delivery::from_row(row, org_id);
    let lease = Duration::from_secs(state.settings.github.webhooks.lease_secs.max(1));
    let result = match tokio::time::timeout(lease, events::dispatch(state, &delivery)).await {
        Ok(result) => result,
        Err(_) => Err(HandlerError::Transient(format!(
            "the handler took longer than the {}s lease",
            lease.as_secs()
        ))),
    };
    finish(state, id, attempts, org_id, result).await;
}

/// The org the delivery's installation is linked to, if any (kept when already known).
async fn resolve_org(
    state: &AppState,
    row: &WebhookDelivery,
) -> Result<Option<Uuid>, HandlerError> {
    if row.org_id.is_some() {
        return Ok(row.org_id);
    }
    let Some(installation_id) = row.installation_id else {
        return Ok(None);
    };
    let mut conn = state.db.system().await?;
    let org: Option<Option<Uuid>> = github_installations::table
        .filter(github_installations::installation_id.eq(installation_id))
        .select(github_installations::org_id)
        .first(&mut conn)
        .await
        .optional()?;
    Ok(org.flatten())
}

/// Records a delivery's outcome, if this processor's claim on it still holds.
async fn finish(
    state: &AppState,
    id: Uuid,
    attempts: i32,
    org_id: Option<Uuid>,
    result: Result<Outcome, HandlerError>,
) {
    let settings = &state.settings.github.webhooks;
    let mine = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(id))
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Processing))
        .filter(webhook_deliveries::attempts.eq(attempts));
    let (status, error, next_attempt_at) = match result {
        Ok(Outcome::Processed) => {
            tracing::info!("webhook delivery processed");
            (DeliveryStatus::Processed, None, None)
        }
        Ok(Outcome::Ignored(reason)) => {
            tracing::info!(%reason, "webhook delivery ignored");
            (DeliveryStatus::Ignored, Some(reason), None)
        }
        Err(e) => {
            let retry = matches!(e, HandlerError::Transient(_)) && attempts < settings.max_attempts;
            let next = retry.then(|| Utc::now() + backoff(settings.retry_base_ms, attempts));
            let message: String = e.to_string().chars().take(MAX_ERROR_CHARS).collect();
            if retry {
                tracing::warn!(error = %message, "webhook delivery failed; will retry");
            } else {
                tracing::error!(error = %message, "webhook delivery failed for good");
            }
            (DeliveryStatus::Failed, Some(message), next)
        }
    };
    let done = status != DeliveryStatus::Failed;
    let outcome = match status {
        DeliveryStatus::Processed => "processed",
        DeliveryStatus::Ignored => "ignored",
        _ if next_attempt_at.is_some() => "retry",
        _ => "failed",
    };
    state
        .metrics
        .webhook_deliveries
        .with_label_values(&[outcome])
        .inc();
    let written = async {
        let mut conn = state.db.system().await?;
        diesel::update(mine)
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::error.eq(error),
                webhook_deliveries::next_attempt_at.eq(next_attempt_at),
                webhook_deliveries::locked_until.eq(None::<chrono::DateTime<Utc>>),
                webhook_deliveries::org_id.eq(org_id),
                webhook_deliveries::processed_at.eq(done.then(Utc::now)),
            ))
            .execute(&mut conn)
            .await
            .map_err(shared::db::DbError::from)
    }
    .await;
    match written {
        Ok(0) => tracing::warn!("the delivery was claimed again meanwhile; outcome not recorded"),
        Ok(_) => {}
        // The claim's lease runs out and another attempt follows.
        Err(e) => tracing::warn!(error = %e, "could not record a webhook delivery's outcome"),
    }
}

/// The wait before attempt `attempts + 1`: `base`, doubled for each earlier attempt.
pub fn backoff(base_ms: u64, attempts: i32) -> TimeDelta {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let wait = Duration::from_millis(base_ms.saturating_mul(1 << doublings)).min(MAX_BACKOFF);
    TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(5_000, 1), TimeDelta::seconds(5));
        assert_eq!(backoff(5_000, 2), TimeDelta::seconds(10));
        assert_eq!(backoff(5_000, 4), TimeDelta::seconds(40));
        assert_eq!(backoff(5_000, 40), TimeDelta::hours(1));
    }
}
