//! The redelivery sweeper: GitHub does not retry a delivery our endpoint failed to take
//! (the api was down, a proxy timed out, a deploy dropped the connection). Every
//! `redelivery_interval_secs`, one api replica (a Redis lock elects it for the round)
//! lists the App's recent delivery attempts (`GET /app/hook/deliveries`, back to
//! `redelivery_lookback_secs`), and for each delivery that never succeeded and is not in
//! `webhook_deliveries`, asks GitHub to send it again
//! (`POST /app/hook/deliveries/{id}/attempts`), at most `redelivery_max_per_sweep` per
//! round and giving up on a delivery after [`MAX_ATTEMPTS_PER_DELIVERY`] attempts. The
//! same round deletes processed and ignored deliveries older than `retention_days`.

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::webhook_deliveries;
use shared::domain::DeliveryStatus;
use shared::github::{GithubApp, GithubError, HookDelivery};
use shared::shutdown::CancellationToken;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::state::AppState;

/// GitHub's attempts at one delivery (first try plus redeliveries) after which the
/// sweeper stops asking: something other than an outage is refusing it.
pub const MAX_ATTEMPTS_PER_DELIVERY: usize = 4;
/// Pages of 100 attempts read per round at most.
const MAX_PAGES: usize = 10;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Delivery attempts listed.
    pub listed: usize,
    /// Deliveries GitHub was asked to send again (by GUID).
    pub redelivered: Vec<String>,
    /// Old processed/ignored deliveries deleted.
    pub pruned: usize,
}

/// Runs a round every interval until `shutdown`, when the App is configured and the
/// interval is not zero.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let settings = &state.settings.github.webhooks;
    let (Some(app), secs) = (state.github_app.clone(), settings.redelivery_interval_secs) else {
        return;
    };
    if secs == 0 {
        return;
    }
    let interval = Duration::from_secs(secs);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        match elected(&state, interval).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "redelivery sweeper: Redis unavailable, skipping a round");
                continue;
            }
        }
        match sweep(&state, &app).await {
            Ok(report) => tracing::info!(
                listed = report.listed,
                redelivered = report.redelivered.len(),
                pruned = report.pruned,
                "webhook redelivery sweep done"
            ),
            Err(e) => tracing::warn!(error = %e, "webhook redelivery sweep failed"),
        }
    }
}

/// Whether this replica runs this round: the first to set the lock does, and it holds
/// for most of an interval.
async fn elected(state: &AppState, interval: Duration) -> Result<bool, redis::RedisError> {
    let hold_ms = u64::try_from(interval.as_millis() * 9 / 10)
        .unwrap_or(u64::MAX)
        .max(1);
    let set: Option<String> = redis::cmd("SET")
        .arg(state.keys.github_sweeper_lock())
        .arg(std::process::id())
        .arg("NX")
        .arg("PX")
        .arg(hold_ms)
        .query_async(&mut state.redis())
        .await?;
    Ok(set.is_some())
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Db(#[from] shared::db::DbError),
}

impl From<diesel::result::Error> for SweepError {
    fn from(e: diesel::result::Error) -> Self {
        SweepError::Db(e.into())
    }
}

/// One round: list, compare, ask for redeliveries, prune.
pub async fn sweep(state: &AppState, app: &GithubApp) -> Result<SweepReport, SweepError> {
    let settings = &state.settings.github.webhooks;
    let lookback = TimeDelta::seconds(
        i64::try_from(settings.redelivery_lookback_secs).unwrap_or(i64::MAX / 2),
    );
    let since = Utc::now() - lookback;
    let mut report = SweepReport::default();

    // Every attempt in the window, grouped by delivery.
    let mut by_guid: BTreeMap<String, Vec<HookDelivery>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (page, next) = app.hook_deliveries(cursor.as_deref()).await?;
        let past_window = page.iter().any(|d| d.delivered_at < since);
        for attempt in page.into_iter().filter(|d| d.delivered_at >= since) {
            report.listed += 1;
            by_guid
                .entry(attempt.guid.clone())
                .or_default()
                .push(attempt);
        }
        match next {
            Some(next) if !past_window => cursor = Some(next),
            _ => break,
        }
    }
    let failed: Vec<(String, i64)> = by_guid
        .into_iter()
        .filter(|(_, attempts)| {
            !attempts.iter().any(HookDelivery::succeeded)
                && attempts.len() < MAX_ATTEMPTS_PER_DELIVERY
        })
        .filter_map(|(guid, attempts)| {
            // Redeliver the latest attempt.
            let latest = attempts.iter().max_by_key(|a| a.delivered_at)?;
            Some((guid, latest.id))
        })
        .collect();

    if !failed.is_empty() {
        let guids: Vec<&str> = failed.iter().map(|(g, _)| g.as_str()).collect();
        let mut conn = state.db.system().await?;
        let known: HashSet<String> = webhook_deliveries::table
            .filter(webhook_deliveries::delivery_id.eq_any(&guids))
            .select(webhook_deliveries::delivery_id)
            .load::<String>(&mut conn)
            .await?
            .into_iter()
            .collect();
        for (guid, attempt_id) in failed
            .into_iter()
            .filter(|(guid, _)| !known.contains(guid))
            .take(settings.redelivery_max_per_sweep)
        {
            match app.redeliver(attempt_id).await {
                Ok(()) => {
                    tracing::info!(delivery.id = %guid, "asked GitHub to redeliver a missed webhook");
                    report.redelivered.push(guid);
                }
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(delivery.id = %guid, error = %e, "GitHub refused a redelivery")
                }
            }
        }
    }

    report.pruned = prune(state).await?;
    Ok(report)
}

/// Deletes processed and ignored deliveries older than the retention.
async fn prune(state: &AppState) -> Result<usize, SweepError> {
    let days = i64::from(state.settings.github.webhooks.retention_days);
    let before = Utc::now() - TimeDelta::days(days);
    let mut conn = state.db.system().await?;
    Ok(diesel::delete(webhook_deliveries::table)
        .filter(
            webhook_deliveries::status.eq_any([DeliveryStatus::Processed, DeliveryStatus::Ignored]),
        )
        .filter(webhook_deliveries::received_at.lt(before))
        .execute(&mut conn)
        .await?)
}
