//! The Redis pub/sub fan-out of one api process.
//!
//! One pub/sub connection per process, owned by a single task (the actor below), which
//! subscribes on demand to the channels that have local listeners (refcounted; a channel
//! is unsubscribed when its last listener leaves) and fans each message out in-process
//! through a `tokio::sync::broadcast` per channel.
//!
//! [`Hub::subscribe`] returns only once Redis has confirmed the subscription, so a caller
//! that subscribes first and then reads the durable source (log tail, S3, event stream)
//! cannot miss what is published in between.
//!
//! Messages published while the connection is down are lost to pub/sub. So when the
//! connection drops (or stops answering pings) the actor reconnects with backoff,
//! resubscribes every channel, and sends [`HubEvent::Resync`] to every listener, which
//! re-reads its durable source after the last item it delivered. A listener too slow to
//! keep up with its channel gets a `Resync` too (instead of silently missing messages).

use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use shared::loops::Loops;
use shared::shutdown::CancellationToken;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long a subscribe (or a ping) may take before the connection counts as broken.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the idle connection is pinged, so a half-open socket is noticed.
const PING_EVERY: Duration = Duration::from_secs(10);
/// Messages buffered per channel for a listener that has not read them yet.
const CHANNEL_CAPACITY: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What a listener receives.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// A message published on the channel.
    Message(Arc<Published>),
    /// Messages may have been missed: re-read the durable source after the last item seen.
    Resync,
}

/// One message as every listener of its channel receives it: the payload, and what the
/// first listener to decode it made of it, shared with the others. A hundred viewers of
/// one log then decode and render each batch once, not a hundred times.
pub struct Published {
    payload: Box<str>,
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl Published {
    pub fn new(payload: &str) -> Published {
        Published {
            payload: payload.into(),
            decoded: OnceLock::new(),
        }
    }

    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// What `decode` makes of the payload: made by the first listener that asks and
    /// shared with the rest. (Every listener of a channel decodes it the same way; one
    /// asking for another type decodes for itself.)
    pub fn decoded<T: Any + Send + Sync>(&self, decode: impl Fn(&str) -> T) -> Arc<T> {
        let shared = self.decoded.get_or_init(|| Arc::new(decode(&self.payload)));
        shared
            .clone()
            .downcast::<T>()
            .unwrap_or_else(|_| Arc::new(decode(&self.payload)))
    }
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Published").field(&self.payload).finish()
    }
}

/// Why a subscription could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("pub/sub connection unavailable")]
    Unavailable,
    #[error("the api is shutting down")]
    Closed,
}

/// A handle on the process's pub/sub actor; clone it freely.
#[derive(Clone)]
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
}

enum Command {
    Subscribe {
        channel: String,
        reply: oneshot::Sender<Result<broadcast::Receiver<HubEvent>, HubError>>,
    },
    Unsubscribe {
        channel: String,
    },
}

/// One listener on one channel. Dropping it releases the channel.
pub struct Subscription {
    channel: String,
    rx: broadcast::Receiver<HubEvent>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Subscription {
    /// The next event; `None` once the hub has stopped (process shutdown).
    pub async fn recv(&mut self) -> Option<HubEvent> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(channel = %self.channel, missed, "listener lagged; resyncing");
                Some(HubEvent::Resync)
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The channel listened to.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Unsubscribe {
            channel: std::mem::take(&mut self.channel),
        });
    }
}

impl Hub {
    /// Starts the actor as the loop `pubsub-hub` of `loops`; it connects in the background
    /// and keeps reconnecting until the loops stop.
    pub fn start(redis_url: &str, loops: &mut Loops) -> redis::RedisResult<Hub> {
        let shutdown = loops.stop_token();
        let client = redis::Client::open(redis_url)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let actor = Actor {
            client,
            channels: HashMap::new(),
            commands: rx,
            shutdown,
        };
        loops.spawn("pubsub-hub", actor.run());
        Ok(Hub { commands: tx })
    }

    /// Listens on `channel`. Returns once Redis confirmed the subscription (or at once if
    /// this process already listens on it).
    pub async fn subscribe(&self, channel: String) -> Result<Subscription, HubError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Subscribe {
                channel: channel.clone(),
                reply,
            })
            .map_err(|_| HubError::Closed)?;
        let rx = match tokio::time::timeout(COMMAND_TIMEOUT, answer).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(HubError::Closed),
            Err(_) => return Err(HubError::Unavailable),
        };
        Ok(Subscription {
            channel,
            rx,
            commands: self.commands.clone(),
        })
    }
}

struct Entry {
    tx: broadcast::Sender<HubEvent>,
    listeners: usize,
}

struct Actor {
    client: redis::Client,
    channels: HashMap<String, Entry>,
    commands: mpsc::UnboundedReceiver<Command>,
    shutdown: CancellationToken,
}

/// Why the connected loop ended.
enum Exit {
    Reconnect,
    Stop,
}

impl Actor {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        let mut first = true;
        loop {
            let connected = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                c = self.connect() => c,
            };
            let (sink, stream) = match connected {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "pub/sub connect failed");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            backoff = BACKOFF_MIN;
            if !first {
                tracing::info!(
                    channels = self.channels.len(),
                    "pub/sub reconnected; listeners resync"
                );
                for entry in self.channels.values() {
                    let _ = entry.tx.send(HubEvent::Resync);
                }
            }
            first = false;
            match self.serve(sink, stream).await {
                Exit::Stop => return,
                Exit::Reconnect => continue,
            }
        }
    }

    /// Opens the connection and resubscribes every channel that has listeners.
    async fn connect(&self) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| timeout_error())??;
        let (mut sink, stream) = pubsub.split();
        let channels: Vec<&String> = self.channels.keys().collect();
        if !channels.is_empty() {
            tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(channels))
                .await
                .map_err(|_| timeout_error())??;
        }
        Ok((sink, stream))
    }

    async fn serve(&mut self, mut sink: PubSubSink, mut stream: PubSubStream) -> Exit {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return Exit::Stop,
                message = stream.next() => match message {
                    Some(message) => self.dispatch(&message),
                    None => {
                        tracing::warn!("pub/sub connection lost");
                        return Exit::Reconnect;
                    }
                },
                command = self.commands.recv() => match command {
                    None => return Exit::Stop,
                    Some(command) => {
                        if let Err(e) = self.handle(command, &mut sink).await {
                            tracing::warn!(error = %e, "pub/sub command failed; reconnecting");
                            return Exit::Reconnect;
                        }
                    }
                },
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        tracing::warn!("pub/sub ping failed; reconnecting");
                        return Exit::Reconnect;
                    }
                }
            }
        }
    }

    fn dispatch(&self, message: &redis::Msg) {
        let Some(entry) = self.channels.get(message.get_channel_name()) else {
            return;
        };
        match std::str::from_utf8(message.get_payload_bytes()) {
            Ok(payload) => {
                let _ = entry
                    .tx
                    .send(HubEvent::Message(Arc::new(Published::new(payload))));
            }
            Err(_) => tracing::warn!(
                channel = message.get_channel_name(),
                "dropping non-UTF-8 pub/sub message"
            ),
        }
    }

    async fn handle(&mut self, command: Command, sink: &mut PubSubSink) -> redis::RedisResult<()> {
        match command {
            Command::Subscribe { channel, reply } => {
                if let Some(entry) = self.channels.get_mut(&channel) {
                    entry.listeners += 1;
                    let rx = entry.tx.subscribe();
                    if reply.send(Ok(rx)).is_err() {
                        self.release(&channel, sink).await?;
                    }
                    return Ok(());
                }
                let subscribed =
                    tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(&channel)).await;
                match subscribed {
                    Ok(Ok(())) => {
                        let (tx, rx) = broadcast::channel(CHANNEL_CAPACITY);
                        self.channels
                            .insert(channel.clone(), Entry { tx, listeners: 1 });
                        if reply.send(Ok(rx)).is_err() {
                            self.release(&channel, sink).await?;
                        }
                        Ok(())
                    }
                    Ok(Err(e)) => {
                        let _ = reply.send(Err(HubError::Unavailable));
                        Err(e)
                    }
                    Err(_) => {
                        let _ = reply.send(Err(HubError::Unavailable));
                        Err(timeout_error())
                    }
                }
            }
            Command::Unsubscribe { channel } => self.release(&channel, sink).await,
        }
    }

    /// Drops one listener; unsubscribes when it was the last.
    async fn release(&mut self, channel: &str, sink: &mut PubSubSink) -> redis::RedisResult<()> {
        let Some(entry) = self.channels.get_mut(channel) else {
            return Ok(());
        };
        entry.listeners = entry.listeners.saturating_sub(1);
        if entry.listeners > 0 {
            return Ok(());
        }
        self.channels.remove(channel);
        tokio::time::timeout(COMMAND_TIMEOUT, sink.unsubscribe(channel))
            .await
            .map_err(|_| timeout_error())?
    }
}

fn timeout_error() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "pub/sub command timed out",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_message_is_decoded_once_for_every_listener() {
        let calls = AtomicUsize::new(0);
        let decode = |payload: &str| {
            calls.fetch_add(1, Ordering::SeqCst);
            payload.len()
        };
        let message = Published::new("four");
        let seen: Vec<Arc<usize>> = (0..100).map(|_| message.decoded(decode)).collect();
        assert!(seen.iter().all(|n| **n == 4));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A listener that reads it as something else still gets its own reading.
        assert_eq!(*message.decoded(|p| p.to_uppercase()), "FOUR");
    }
}
