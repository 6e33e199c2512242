//! Server-sent event streams: org events, process logs, attempt diffs. Each subscribes to
//! its pub/sub channel first, then reads the durable source, then goes live, so nothing
//! published in between is missed; event ids make `Last-Event-ID` resume exact.

pub mod diff;
pub mod events;
pub mod logs;

use std::time::Duration;
use tokio::time::{Interval, MissedTickBehavior};

use crate::error::ApiError;
use crate::hub::{HubError, HubEvent, Subscription};
use crate::state::AppState;

/// Subscribes through the process's hub; a hub that cannot subscribe answers 503.
pub async fn subscribe(state: &AppState, channel: String) -> Result<Subscription, ApiError> {
    state.hub.subscribe(channel).await.map_err(|e| match e {
        HubError::Unavailable => ApiError::Unavailable("pub/sub subscribe failed".into()),
        HubError::Closed => ApiError::Unavailable("the api is shutting down".into()),
    })
}

/// The heartbeat timer of a stream; its first tick is one period from now.
pub fn heartbeat(state: &AppState) -> Interval {
    let period = Duration::from_secs(state.settings.api.sse_heartbeat_secs.max(1));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Attempts a stream makes at re-reading its durable source before it gives up (and the
/// client reconnects). Right after a Redis reconnect the first command may still fail.
const READ_ATTEMPTS: u32 = 4;
const READ_RETRY_DELAY: Duration = Duration::from_millis(150);

/// Runs `read` until it succeeds or `READ_ATTEMPTS` are used up.
pub async fn with_retries<T, F, Fut>(mut read: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 1;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(e) if attempt < READ_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "stream read failed; retrying");
                attempt += 1;
                tokio::time::sleep(READ_RETRY_DELAY * attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What woke a stream's loop.
pub enum Wake {
    Shutdown,
    Heartbeat,
    Hub(Option<HubEvent>),
}

/// Waits for the next thing a stream must react to.
pub async fn next_wake(state: &AppState, heartbeat: &mut Interval, sub: &mut Subscription) -> Wake {
    tokio::select! {
        _ = state.shutdown.cancelled() => Wake::Shutdown,
        _ = heartbeat.tick() => Wake::Heartbeat,
        event = sub.recv() => Wake::Hub(event),
    }
}
