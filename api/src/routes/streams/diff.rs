//! `GET /orgs/{org}/attempts/{id}/diff/stream` (SSE)

use actix_web::{HttpRequest, HttpResponse, web};
use shared::db::models::TaskAttempt;
use shared::wire::{Diff, ErrorBody};

use super::{Wake, next_wake, subscribe};
use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::hub::HubEvent;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::runs::current_diff;
use crate::sse;
use crate::state::AppState;
use shared::metrics::OpenStream;

/// The attempt's current diff (`event: diff`, `id:` its version), then every newer
/// version as the worker uploads it. With `Last-Event-ID`, a version the client already
/// has is not sent again.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/attempts/{id}/diff/stream", tag = "streams",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The diff version the client has"),
    ),
    responses(
        (status = 200, description = "An SSE stream of diffs", content_type = "text/event-stream", body = Diff),
        (status = 400, description = "Malformed id or Last-Event-ID", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 429, description = "The credential or the org has as many streams open as allowed (`too_many_streams`), with `Retry-After`", body = ErrorBody),
        (status = 503, description = "Event bus unavailable", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn diff_stream(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    record_attempt(path.id);
    let mut sent: Option<u64> = sse::last_event_id(&req)?
        .map(|id| {
            id.parse::<u64>()
                .map_err(|_| ApiError::InvalidHeader("Last-Event-ID is not a diff version".into()))
        })
        .transpose()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let attempt = lookup::attempt(&mut conn, org_id, path.id).await?;
    drop(conn);
    let mut guard = super::guard::admit(&state, &auth).await?;
    let mut sub = subscribe(&state, state.keys.diff_channel(attempt.id)).await?;

    let open = OpenStream::open(&state.metrics, "diff");
    let state = state.into_inner();
    let body = async_stream::stream! {
        yield Ok::<_, actix_web::Error>(sse::preamble());
        let mut reread = true;
        loop {
            if reread {
                reread = false;
                match super::with_retries(|| newer_diff(&state, &attempt, sent)).await {
                    Ok(Some((version, frame))) => {
                        sent = Some(version);
                        yield Ok(frame);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(attempt.id = %attempt.id, error = %e, "diff unreadable; closing stream");
                        break;
                    }
                }
            }
            match next_wake(&state, &mut guard, &mut sub).await {
                Wake::Shutdown | Wake::Hub(None) => break,
                Wake::AccessEnded(ended) => {
                    yield Ok(sse::comment(ended.comment()));
                    break;
                }
                Wake::Heartbeat => yield Ok(sse::comment("keepalive")),
                Wake::Hub(Some(HubEvent::Resync)) => reread = true,
                Wake::Hub(Some(HubEvent::Message(published))) => {
                    let announced = published.payload().trim().parse::<u64>().ok();
                    reread = match (announced, sent) {
                        (Some(v), Some(s)) => v > s,
                        _ => true,
                    };
                }
            }
        }
    };
    Ok(sse::response(open, body))
}

/// The stored diff as a frame, when it is newer than what the client has.
async fn newer_diff(
    state: &AppState,
    attempt: &TaskAttempt,
    sent: Option<u64>,
) -> Result<Option<(u64, bytes::Bytes)>, ApiError> {
    let diff = current_diff(&state.store, attempt.org_id, attempt).await?;
    if sent.is_some_and(|s| diff.version <= s) {
        return Ok(None);
    }
    let data = serde_json::to_string(&diff)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("encoding a diff")))?;
    Ok(Some((
        diff.version,
        sse::event(Some(&diff.version.to_string()), "diff", &data),
    )))
}
