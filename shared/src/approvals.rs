//! Tool-call approvals in supervised mode: the worker files a pending approval and waits;
//! any api replica records a team member's decision; a timeout denies. Redis carries it
//! (a hash of pending approvals per attempt, a one-shot list per decision) because the
//! wait is short-lived and the worker holding the agent is the only one who can act.

use redis::AsyncCommands;
use redis::aio::ConnectionLike;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::keys::Keys;

/// A tool call waiting for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingApproval {
    pub id: Uuid,
    pub attempt_id: Uuid,
    pub process_id: Uuid,
    pub tool_name: String,
    /// The agent's id of the tool call, matching the log entry's.
    pub tool_call_id: Option<String>,
    /// What the tool would be run with.
    pub input: serde_json::Value,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A team member's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
    /// Shown to the agent when denying.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

/// Files a pending approval for the attempt.
pub async fn request<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    pending: &PendingApproval,
) -> redis::RedisResult<()> {
    let body = serde_json::to_string(pending).map_err(encode_error)?;
    let key = keys.approvals(pending.attempt_id);
    redis::pipe()
        .atomic()
        .hset(&key, pending.id.to_string(), body)
        .ignore()
        // Outlives any wait; a worker that died leaves nothing behind for long.
        .expire(&key, 24 * 3600)
        .ignore()
        .query_async(conn)
        .await
}

/// Waits for the decision on a dedicated connection; `None` when `timeout` passes first.
/// Always removes the approval from the pending set.
pub async fn wait<C: ConnectionLike + Send + Sync>(
    blocking: &mut C,
    keys: &Keys,
    attempt_id: Uuid,
    approval_id: Uuid,
    timeout: Duration,
) -> redis::RedisResult<Option<Decision>> {
    let reply: Option<(String, String)> = blocking
        .blpop(
            keys.approval_decision(approval_id),
            timeout.as_secs_f64().max(0.01),
        )
        .await?;
    let _: () = blocking
        .hdel(keys.approvals(attempt_id), approval_id.to_string())
        .await?;
    Ok(reply.and_then(|(_, body)| serde_json::from_str(&body).ok()))
}

/// The approvals an attempt is waiting for.
pub async fn pending<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    attempt_id: Uuid,
) -> redis::RedisResult<Vec<PendingApproval>> {
    let raw: Vec<String> = conn.hvals(keys.approvals(attempt_id)).await?;
    let mut out: Vec<PendingApproval> = raw
        .iter()
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    out.sort_by_key(|p| p.requested_at);
    Ok(out)
}

/// Records a decision for a pending approval of `attempt_id`. Returns false when no such
/// approval is pending (decided already, timed out, or never filed).
pub async fn decide<C: ConnectionLike + Send + Sync>(
    conn: &mut C,
    keys: &Keys,
    attempt_id: Uuid,
    approval_id: Uuid,
    decision: &Decision,
) -> redis::RedisResult<bool> {
    let body = serde_json::to_string(decision).map_err(encode_error)?;
    // Remove from pending and hand over the decision in one step, so two people deciding
    // at once cannot both succeed.
    let script = redis::Script::new(
        r"
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('RPUSH', KEYS[2], ARGV[2])
        redis.call('EXPIRE', KEYS[2], 3600)
        return 1
        ",
    );
    let taken: i32 = script
        .key(keys.approvals(attempt_id))
        .key(keys.approval_decision(approval_id))
        .arg(approval_id.to_string())
        .arg(body)
        .invoke_async(conn)
        .await?;
    Ok(taken == 1)
}

fn encode_error(e: serde_json::Error) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Client, "approval encoding", e.to_string()))
}
