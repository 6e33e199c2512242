//! `GET /orgs/{org}/processes/{id}/logs`

use actix_web::web;
use serde::{Deserialize, Serialize};
use shared::logs::LogEntry;
use shared::wire::ErrorBody;
use utoipa::ToSchema;

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

/// A process's log as it stands: every entry so far, with the patches applied.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProcessLogs {
    pub entries: Vec<LogEntry>,
    /// The seq of the next patch; resume the log stream with `Last-Event-ID: next_seq - 1`.
    pub next_seq: u64,
    /// The process has ended: no entry will be added.
    pub finished: bool,
}

/// Every log entry of a process so far (durable segments and the live tail, merged).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/processes/{id}/logs", tag = "logs",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Process id"),
    ),
    responses(
        (status = 200, description = "The log so far", body = ProcessLogs),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such process in this org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn logs(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<ProcessLogs>> {
    let org_id = auth.org_id();
    let mut conn = state.db.org(auth.org_id()).await?;
    let process = lookup::process(&mut conn, org_id, path.id).await?;
    drop(conn);
    crate::routes::record_attempt(process.attempt_id);
    let mut redis = state.redis();
    let patches =
        shared::logstore::history(&state.store, &mut redis, &state.keys, org_id, process.id, 0)
            .await?;
    let mut entries = Vec::new();
    let mut next_seq = 0;
    for patch in &patches {
        // A gap means part of the log is not readable yet; stop at it so `next_seq`
        // never skips a patch.
        if patch.seq != next_seq {
            tracing::warn!(process.id = %process.id, expected = next_seq, got = patch.seq, "gap in process log");
            break;
        }
        shared::logs::apply(&mut entries, patch);
        next_seq += 1;
    }
    Ok(web::Json(ProcessLogs {
        entries,
        next_seq,
        finished: process.status.is_finished(),
    }))
}
