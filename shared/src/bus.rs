//! The event bus on Redis: org events (a capped stream for resume plus pub/sub for live
//! delivery), log patches (a tail list plus pub/sub), diff announcements and the
//! scheduler's dispatch wakes. Writers live here; the api's subscriber hub and the
//! scheduler's wake listener read the same keys.

use redis::aio::ConnectionLike;
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use uuid::Uuid;

use crate::keys::Keys;
use crate::logs::{LogMessage, LogPatch, segments};
use crate::wire::OrgEvent;

/// Org events kept for `Last-Event-ID` resume; older ones are trimmed.
pub const ORG_EVENT_HISTORY: usize = 10_000;

/// XADD then PUBLISH in one step, so the live message carries the id it is stored under
/// and a reader that resumes from the stream cannot miss or double it.
static PUBLISH_ORG_EVENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
        redis.call('PUBLISH', KEYS[2], id .. '\n' .. ARGV[1])
        return id
        ",
    )
});

/// Publishes one org event; returns its id (the SSE event id).
pub async fn publish_org_event<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    org_id: Uuid,
    event: &OrgEvent,
) -> redis::RedisResult<String> {
    let body = serde_json::to_string(event).map_err(encode_error)?;
    PUBLISH_ORG_EVENT
        .key(keys.org_events(org_id))
        .key(keys.org_channel(org_id))
        .arg(body)
        .arg(ORG_EVENT_HISTORY)
        .invoke_async(conn)
        .await
}

/// Splits a live org-channel message into its id and event.
pub fn parse_org_message(payload: &str) -> Option<(String, OrgEvent)> {
    let (id, body) = payload.split_once('\n')?;
    Some((id.to_owned(), serde_json::from_str(body).ok()?))
}

/// Org events stored after `after` (exclusive), oldest first, at most `limit`.
pub async fn org_events_after<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    org_id: Uuid,
    after: &str,
    limit: usize,
) -> redis::RedisResult<Vec<(String, OrgEvent)>> {
    let reply: redis::streams::StreamRangeReply = conn
        .xrange_count(keys.org_events(org_id), format!("({after}"), "+", limit)
        .await?;
    Ok(reply
        .ids
        .into_iter()
        .filter_map(|id| {
            let body: String = id.get("e")?;
            Some((id.id, serde_json::from_str(&body).ok()?))
        })
        .collect())
}

/// The id of the newest stored org event, if any: where a fresh subscriber starts.
pub async fn latest_org_event_id<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    org_id: Uuid,
) -> redis::RedisResult<Option<String>> {
    let reply: redis::streams::StreamRangeReply = conn
        .xrevrange_count(keys.org_events(org_id), "+", "-", 1)
        .await?;
    Ok(reply.ids.into_iter().next().map(|id| id.id))
}

/// Whether the org's stream ever dropped an event to its length cap (entries added
/// exceed entries kept); `false` when the stream does not exist.
pub async fn org_events_ever_trimmed<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    org_id: Uuid,
) -> redis::RedisResult<bool> {
    let info: redis::Value = match redis::cmd("XINFO")
        .arg("STREAM")
        .arg(keys.org_events(org_id))
        .query_async(conn)
        .await
    {
        Ok(info) => info,
        // "ERR no such key"
        Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let pairs: Vec<(redis::Value, redis::Value)> = match info {
        redis::Value::Map(pairs) => pairs,
        redis::Value::Array(items) => items
            .chunks_exact(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect(),
        _ => Vec::new(),
    };
    let field = |name: &str| {
        pairs.iter().find_map(|(k, v)| {
            let key: String = redis::from_redis_value_ref(k).ok()?;
            (key == name)
                .then(|| redis::from_redis_value_ref::<u64>(v).ok())
                .flatten()
        })
    };
    Ok(
        matches!((field("entries-added"), field("length")), (Some(added), Some(kept)) if added > kept),
    )
}

/// Appends a batch of patches, encoded as a segment's lines ([`segments::encode`]), to
/// the process's tail and announces it live, atomically, so a late viewer finds every
/// patch in the store, the tail or the channel. Both are cut from `lines`, not encoded
/// again.
pub async fn publish_segment<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    process_id: Uuid,
    lines: &[u8],
) -> redis::RedisResult<()> {
    let batch = segments::as_array(lines);
    let message = segments::as_message(&batch);
    redis::pipe()
        .atomic()
        .rpush(keys.log_tail(process_id), batch)
        .ignore()
        .publish(keys.log_channel(process_id), message)
        .ignore()
        .query_async(conn)
        .await
}

/// Drops the first `batches` batches from the tail once they are durable in the store.
pub async fn trim_tail<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    process_id: Uuid,
    batches: usize,
) -> redis::RedisResult<()> {
    if batches == 0 {
        return Ok(());
    }
    conn.ltrim(keys.log_tail(process_id), batches as isize, -1)
        .await
}

/// Every patch still in the tail, oldest first.
pub async fn read_tail<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    process_id: Uuid,
) -> redis::RedisResult<Vec<LogPatch>> {
    let batches: Vec<String> = conn.lrange(keys.log_tail(process_id), 0, -1).await?;
    let mut patches = Vec::new();
    for batch in batches {
        match serde_json::from_str::<Vec<LogPatch>>(&batch) {
            Ok(mut b) => patches.append(&mut b),
            Err(e) => tracing::warn!(%process_id, error = %e, "skipping unreadable log tail batch"),
        }
    }
    Ok(patches)
}

/// Announces that a process's log is complete and durable, and drops its tail.
pub async fn publish_log_end<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    process_id: Uuid,
    total: u64,
) -> redis::RedisResult<()> {
    let message = serde_json::to_string(&LogMessage::End { total }).map_err(encode_error)?;
    redis::pipe()
        .atomic()
        .del(keys.log_tail(process_id))
        .ignore()
        .publish(keys.log_channel(process_id), message)
        .ignore()
        .query_async(conn)
        .await
}

/// Announces a new diff version of an attempt (the diff itself is in the object store).
pub async fn publish_diff_version<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    attempt_id: Uuid,
    version: u64,
) -> redis::RedisResult<()> {
    conn.publish(keys.diff_channel(attempt_id), version).await
}

fn encode_error(e: serde_json::Error) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Client, "event encoding", e.to_string()))
}

/// Publishes an org event after a commit, best effort: a lost live event is recovered by
/// clients re-reading the resource, so a Redis hiccup must not fail the write that
/// already happened. Returns the event id when it was published.
pub async fn emit<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    org_id: Uuid,
    event: OrgEvent,
) -> Option<String> {
    match publish_org_event(conn, keys, org_id, &event).await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(%org_id, kind = event.kind(), error = %e, "org event not published");
            None
        }
    }
}

/// Tells the scheduler it has work to dispatch: an attempt became queued, or an org's
/// slot freed (an attempt ended, was cancelled or failed as lost, or the org's limit
/// rose). Call it only after the transaction that made the change has committed, so the
/// round it starts sees the change. Best effort like [`emit`]: a wake is fire-and-forget
/// pub/sub anyway, and the scheduler's fallback tick (`scheduler.tick_ms`) picks up
/// whatever a lost one leaves queued.
pub async fn wake_dispatcher<C: ConnectionLike + Send + Sync>(conn: &mut C, keys: &Keys) {
    let published: redis::RedisResult<()> = conn.publish(keys.dispatch_wakes(), "").await;
    if let Err(e) = published {
        tracing::warn!(error = %e, "dispatch wake not published; the scheduler's fallback tick finds the work");
    }
}
