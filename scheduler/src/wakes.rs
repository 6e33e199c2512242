//! Dispatch wakes: the writers that give the scheduler work (an attempt queued, an org's
//! slot freed) publish on `Keys::dispatch_wakes` once they have committed
//! (`shared::bus::wake_dispatcher`); this listener turns each message into a dispatch
//! round, so the dispatch loop waits for work instead of polling Postgres for it.
//!
//! Pub/sub is fire-and-forget: a wake published while this connection is down is lost.
//! So the listener reconnects with backoff, and after every (re)subscription asks for a
//! round of its own; the dispatch loop's fallback tick covers the rest.

use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use shared::shutdown::CancellationToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long connecting, subscribing or a ping may take before the connection counts as
/// broken.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the idle connection is pinged, so a half-open socket is noticed.
const PING_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The loop `dispatch-wakes`: subscribes to `channel` on a connection of its own and
/// notifies `dispatch_wake` for every message, until `stop`. `Notify` keeps at most one
/// pending wake, so a burst of messages during a round makes one more round, not many.
pub async fn listen(
    redis_url: String,
    channel: String,
    dispatch_wake: Arc<Notify>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url.as_str())?;
    let mut backoff = BACKOFF_MIN;
    let mut first = true;
    loop {
        let subscribed = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            s = subscribe(&client, &channel) => s,
        };
        let (sink, stream) = match subscribed {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "dispatch wake subscription failed");
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        if !first {
            tracing::info!("dispatch wakes resubscribed");
        }
        first = false;
        // Work may have been queued while nobody listened.
        dispatch_wake.notify_one();
        if !relay(sink, stream, &dispatch_wake, &stop).await {
            return Ok(());
        }
    }
}

/// A fresh pub/sub connection subscribed to `channel`.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
    let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| timeout_error())??;
    let (mut sink, stream) = pubsub.split();
    tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(channel))
        .await
        .map_err(|_| timeout_error())??;
    Ok((sink, stream))
}

/// Turns messages into wakes until the connection breaks (`true`: reconnect) or `stop`
/// (`false`).
async fn relay(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    dispatch_wake: &Notify,
    stop: &CancellationToken,
) -> bool {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return false,
            message = stream.next() => match message {
                Some(_) => dispatch_wake.notify_one(),
                None => {
                    tracing::warn!("dispatch wake connection lost; reconnecting");
                    return true;
                }
            },
            _ = ping.tick() => {
                let pong = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    tracing::warn!("dispatch wake connection stopped answering; reconnecting");
                    return true;
                }
            }
        }
    }
}

fn timeout_error() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "dispatch wake connection timed out",
    ))
}
