//! The attempt queue in Redis: a stream read by one consumer group, plus a set of the
//! attempt ids it holds. Postgres stays the source of truth: an entry only says "this
//! attempt is ready", the worker's guarded claim decides, so a duplicate is harmless and
//! the scheduler can rebuild everything after Redis loses it.

use redis::AsyncCommands;
use redis::aio::ConnectionLike;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamRangeReply, StreamReadOptions,
    StreamReadReply,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use uuid::Uuid;

use crate::keys::Keys;

/// The consumer group every worker reads through.
pub const GROUP: &str = "workers";
/// The consumer that takes over abandoned deliveries so they can be re-issued.
const REAPER: &str = "scheduler-reaper";

/// One queue entry: which attempt to run, and the trace it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub attempt_id: Uuid,
    pub org_id: Uuid,
    /// W3C traceparent, so the worker's spans join the api's trace.
    pub traceparent: Option<String>,
}

/// A delivered entry and the stream id to acknowledge it by.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub stream_id: String,
    pub entry: QueueEntry,
}

/// Creates the consumer group (and stream) if missing. Reading from id 0 means entries
/// added before the group existed (say, right after a flush) are still delivered.
pub async fn ensure_group<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.queue())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Adds entries to the stream and their ids to the member set, atomically.
pub async fn enqueue<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    entries: &[QueueEntry],
) -> redis::RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    ensure_group(conn, keys).await?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for entry in entries {
        let body = serde_json::to_string(entry).map_err(json_error)?;
        pipe.cmd("XADD")
            .arg(keys.queue())
            .arg("*")
            .arg("e")
            .arg(body)
            .ignore();
        pipe.sadd(keys.queue_members(), entry.attempt_id.to_string())
            .ignore();
    }
    pipe.query_async(conn).await
}

/// Waits up to `block_ms` for the next entry for `consumer`. Recreates the group if Redis
/// lost it. Entries that do not parse are acknowledged and dropped (they cannot be run).
pub async fn next<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    consumer: &str,
    block_ms: usize,
) -> redis::RedisResult<Option<Delivery>> {
    let opts = StreamReadOptions::default()
        .group(GROUP, consumer)
        .count(1)
        .block(block_ms);
    let reply: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
        .arg(&opts)
        .arg("STREAMS")
        .arg(keys.queue())
        .arg(">")
        .query_async(conn)
        .await;
    let reply = match reply {
        Err(e) if e.code() == Some("NOGROUP") => {
            ensure_group(conn, keys).await?;
            return Ok(None);
        }
        other => other?,
    };
    let Some(reply) = reply else { return Ok(None) };
    for stream in reply.keys {
        for id in stream.ids {
            let parsed = id
                .get::<String>("e")
                .and_then(|body| serde_json::from_str::<QueueEntry>(&body).ok());
            match parsed {
                Some(entry) => {
                    return Ok(Some(Delivery {
                        stream_id: id.id,
                        entry,
                    }));
                }
                None => {
                    tracing::warn!(stream_id = %id.id, "dropping unreadable queue entry");
                    ack(conn, keys, &id.id, None).await?;
                }
            }
        }
    }
    Ok(None)
}

/// The entry for `attempt_id`, if the stream holds one (delivered to a consumer or not),
/// for a worker started for that one attempt (a Kubernetes Job's pod). The stream only
/// holds entries not yet acknowledged, so the scan is as long as the backlog.
pub async fn find<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    attempt_id: Uuid,
) -> redis::RedisResult<Option<Delivery>> {
    const PAGE: usize = 500;
    let mut start = "-".to_string();
    loop {
        let page: StreamRangeReply = conn.xrange_count(keys.queue(), &start, "+", PAGE).await?;
        let full = page.ids.len() == PAGE;
        for id in &page.ids {
            let entry = id
                .get::<String>("e")
                .and_then(|body| serde_json::from_str::<QueueEntry>(&body).ok());
            if let Some(entry) = entry
                && entry.attempt_id == attempt_id
            {
                return Ok(Some(Delivery {
                    stream_id: id.id.clone(),
                    entry,
                }));
            }
        }
        match page.ids.last() {
            // Exclusive start after the last id seen.
            Some(last) if full => start = format!("({}", last.id),
            _ => return Ok(None),
        }
    }
}

/// Removes a delivered entry for good; with an attempt id, also from the member set.
pub async fn ack<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    stream_id: &str,
    attempt_id: Option<Uuid>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.xack(keys.queue(), GROUP, &[stream_id]).ignore();
    pipe.xdel(keys.queue(), &[stream_id]).ignore();
    if let Some(id) = attempt_id {
        pipe.srem(keys.queue_members(), id.to_string()).ignore();
    }
    pipe.query_async(conn).await
}

/// Gives a delivered entry back for another consumer: acknowledged and added again at
/// the end of the stream, atomically (the member set is unchanged). For a worker that
/// will not run this attempt (a warm pod of another resource class).
pub async fn hand_back<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    delivery: &Delivery,
) -> redis::RedisResult<()> {
    let body = serde_json::to_string(&delivery.entry).map_err(json_error)?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.xack(keys.queue(), GROUP, &[&delivery.stream_id])
        .ignore();
    pipe.xdel(keys.queue(), &[&delivery.stream_id]).ignore();
    pipe.cmd("XADD")
        .arg(keys.queue())
        .arg("*")
        .arg("e")
        .arg(body)
        .ignore();
    pipe.query_async(conn).await
}

/// How many attempts the queue holds (waiting or delivered and not yet claimed).
pub async fn depth<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<usize> {
    conn.scard(keys.queue_members()).await
}

/// The attempt ids the queue currently holds.
pub async fn members<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
) -> redis::RedisResult<HashSet<Uuid>> {
    let raw: Vec<String> = conn.smembers(keys.queue_members()).await?;
    Ok(raw.iter().filter_map(|s| s.parse().ok()).collect())
}

/// Takes over entries delivered to a consumer that has not acknowledged them for
/// `min_idle_ms` (a worker that died between read and claim), removes them, and returns
/// the attempts they named so the caller can decide whether to enqueue them again.
pub async fn reclaim_abandoned<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    min_idle_ms: usize,
) -> redis::RedisResult<Vec<QueueEntry>> {
    let mut found = Vec::new();
    let mut start = "0-0".to_string();
    loop {
        let reply: redis::RedisResult<StreamAutoClaimReply> = conn
            .xautoclaim_options(
                keys.queue(),
                GROUP,
                REAPER,
                min_idle_ms,
                &start,
                StreamAutoClaimOptions::default().count(500),
            )
            .await;
        let reply = match reply {
            Err(e) if e.code() == Some("NOGROUP") => return Ok(found),
            other => other?,
        };
        for id in &reply.claimed {
            if let Some(entry) = id
                .get::<String>("e")
                .and_then(|b| serde_json::from_str::<QueueEntry>(&b).ok())
            {
                ack(conn, keys, &id.id, Some(entry.attempt_id)).await?;
                found.push(entry);
            } else {
                ack(conn, keys, &id.id, None).await?;
            }
        }
        if reply.next_stream_id == "0-0" || reply.claimed.is_empty() {
            return Ok(found);
        }
        start = reply.next_stream_id;
    }
}

fn json_error(e: serde_json::Error) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "queue entry encoding",
        e.to_string(),
    ))
}
