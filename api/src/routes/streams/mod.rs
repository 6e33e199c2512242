//! Server-sent event streams: org events, process logs, attempt diffs. Each subscribes to
//! its pub/sub channel first, then reads the durable source, then goes live, so nothing
//! published in between is missed; event ids make `Last-Event-ID` resume exact.

pub mod diff;
pub mod events;
pub mod guard;
pub mod logs;

use std::time::Duration;

use crate::error::ApiError;
use crate::hub::{HubError, HubEvent, Subscription};
use crate::state::AppState;
pub use guard::{Ended, StreamGuard};

/// Subscribes through the process's hub; a hub that cannot subscribe answers 503.
pub async fn subscribe(state: &AppState, channel: String) -> Result<Subscription, ApiError> {
    state.hub.subscribe(channel).await.map_err(|e| match e {
        HubError::Unavailable => ApiError::Unavailable("pub/sub subscribe failed".into()),
        HubError::Closed => ApiError::Unavailable("the api is shutting down".into()),
    })
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
    /// A heartbeat, after which access was re-checked and holds: send the keep-alive.
    Heartbeat,
    /// The credential expired or lost access: close the stream (after
    /// [`Ended::comment`]).
    AccessEnded(Ended),
    Hub(Option<HubEvent>),
}

/// Waits for the next thing a stream must react to.
pub async fn next_wake(state: &AppState, guard: &mut StreamGuard, sub: &mut Subscription) -> Wake {
    let expiry = guard.expiry();
    tokio::select! {
        _ = state.shutdown.cancelled() => return Wake::Shutdown,
        _ = expiry => return Wake::AccessEnded(Ended::Expired),
        event = sub.recv() => return Wake::Hub(event),
        _ = guard.tick() => {}
    }
    // Checked outside the select, so a busy channel cannot cancel the check every time.
    match guard.recheck(state).await {
        Ok(()) => Wake::Heartbeat,
        Err(ended) => Wake::AccessEnded(ended),
    }
}
