//! `GET /orgs/{org}/processes/{id}/logs`

use actix_web::web;
use serde::{Deserialize, Serialize};
use shared::logs::LogPatch;
use shared::logstore::PageLimits;
use shared::wire::ErrorBody;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 1000;
/// A page stops at about this many bytes of patches, whatever `limit` says: one entry
/// can be large (a command's clipped output, a whole file written).
const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// Query of a log page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogPageQuery {
    /// Patches after this seq: the previous page's `next_cursor` (absent: from the first).
    pub after: Option<u64>,
    /// Most patches in the page, 1 to 1000 (default 500); a page also stops at 1 MiB.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One page of a process's log: the patches (apply them in order, as the log stream's,
/// to the entries of the pages before) from `after + 1` on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProcessLogs {
    pub patches: Vec<LogPatch>,
    /// Pass as `after` for the next page; absent when this page reaches the end of the
    /// log so far.
    pub next_cursor: Option<String>,
    /// The seq of the patch after this page. On the last page, resume the log stream
    /// with `Last-Event-ID: next_seq - 1`.
    pub next_seq: u64,
    /// The process has ended: no entry will be added.
    pub finished: bool,
    /// The process printed more than the worker keeps (`worker.max_log_bytes_per_process`):
    /// the log ends with a system message saying so, and the rest was dropped.
    pub truncated: bool,
}

/// A page of a process's log patches (durable segments and the live tail, merged), read
/// from the store only as far as the page reaches.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/processes/{id}/logs", tag = "logs",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Process id"),
        LogPageQuery,
    ),
    responses(
        (status = 200, description = "A page of the log", body = ProcessLogs),
        (status = 400, description = "Malformed id or query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such process in this org", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
        (status = 503, description = "The object store or Redis is unavailable", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn logs(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    query: web::Query<LogPageQuery>,
) -> ApiResult<web::Json<ProcessLogs>> {
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::validation(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
    };
    let from = match query.after {
        None => 0,
        Some(after) => after
            .checked_add(1)
            .ok_or_else(|| ApiError::InvalidQuery("after is out of range".into()))?,
    };
    let org_id = auth.org_id();
    let mut conn = state.db.org(auth.org_id()).await?;
    let process = lookup::process(&mut conn, org_id, path.id).await?;
    drop(conn);
    crate::routes::record_attempt(process.attempt_id);
    let mut redis = state.redis();
    let page = shared::logstore::page(
        &state.store,
        &mut redis,
        &state.keys,
        org_id,
        process.id,
        from,
        PageLimits {
            patches: limit as usize,
            bytes: MAX_PAGE_BYTES,
        },
    )
    .await?;
    let next_seq = page.patches.last().map_or(from, |p| p.seq + 1);
    let next_cursor = if page.more {
        page.patches.last().map(|p| p.seq.to_string())
    } else {
        None
    };
    Ok(web::Json(ProcessLogs {
        patches: page.patches,
        next_cursor,
        next_seq,
        finished: process.status.is_finished(),
        truncated: process.log_truncated,
    }))
}
