//! `GET /orgs/{org}/processes/{id}/logs/stream` (SSE)

use actix_web::{HttpRequest, HttpResponse, web};
use shared::logs::{LogMessage, LogPatch};
use shared::wire::ErrorBody;
use uuid::Uuid;

use super::{Wake, next_wake, subscribe};
use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::hub::HubEvent;
use crate::routes::{IdPath, lookup};
use crate::sse;
use crate::state::AppState;
use shared::metrics::OpenStream;

/// Every log patch of a process, from seq 0 (or after `Last-Event-ID`), then live ones:
/// `event: patch`, `id:` the patch's seq, `data:` the patch as JSON. Once the process has
/// finished and every patch was sent, `event: end` (`data: {"total": n}`) and the stream
/// closes.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/processes/{id}/logs/stream", tag = "streams",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Process id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq"),
    ),
    responses(
        (status = 200, description = "An SSE stream of log patches", content_type = "text/event-stream", body = LogPatch),
        (status = 400, description = "Malformed id or Last-Event-ID", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such process in this org", body = ErrorBody),
        (status = 429, description = "The credential or the org has as many streams open as allowed (`too_many_streams`), with `Retry-After`", body = ErrorBody),
        (status = 503, description = "Event bus unavailable", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn logs_stream(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let next = match sse::last_event_id(&req)? {
        None => 0,
        Some(id) => id
            .parse::<u64>()
            .map_err(|_| ApiError::InvalidHeader("Last-Event-ID is not a log seq".into()))?
            .saturating_add(1),
    };
    let mut conn = state.db.org(auth.org_id()).await?;
    let process = lookup::process(&mut conn, org_id, path.id).await?;
    drop(conn);
    crate::routes::record_attempt(process.attempt_id);
    let process_id = process.id;
    let mut guard = super::guard::admit(&state, &auth).await?;
    let mut sub = subscribe(&state, state.keys.log_channel(process_id)).await?;

    let open = OpenStream::open(&state.metrics, "logs");
    let state = state.into_inner();
    let body = async_stream::stream! {
        yield Ok::<_, actix_web::Error>(sse::preamble());
        let mut log = LogCursor { org_id, process_id, next };
        // Subscribed first: history now covers everything up to where live delivery starts.
        let mut refill = true;
        let mut check_finished = true;
        loop {
            if refill {
                refill = false;
                match log.refill(&state).await {
                    Ok(frames) => if let Some(chunk) = frames { yield Ok(chunk) },
                    Err(e) => {
                        tracing::warn!(%process_id, error = %e, "log replay failed; closing stream");
                        break;
                    }
                }
            }
            if check_finished {
                check_finished = false;
                match log.finished(&state).await {
                    Ok(false) => {}
                    Ok(true) => {
                        // Finished: everything is durable now; send what is left, then end.
                        match log.refill(&state).await {
                            Ok(frames) => if let Some(chunk) = frames { yield Ok(chunk) },
                            Err(e) => {
                                tracing::warn!(%process_id, error = %e, "log replay failed; closing stream");
                                break;
                            }
                        }
                        yield Ok(log.end_frame());
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(%process_id, error = %e, "process status unreadable; closing stream");
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
                Wake::Heartbeat => {
                    yield Ok(sse::comment("keepalive"));
                    // A worker that died never publishes the end; its row tells.
                    check_finished = true;
                }
                Wake::Hub(Some(HubEvent::Resync)) => refill = true,
                Wake::Hub(Some(HubEvent::Message(published))) => {
                    // Decoded and rendered once for every viewer of the log on this replica.
                    match published.decoded(LiveLog::decode).as_ref() {
                        LiveLog::Patches(frames) => {
                            if frames.iter().any(|(seq, _)| *seq > log.next) && !frames.iter().any(|(seq, _)| *seq == log.next) {
                                // The batch skips ahead of us: fill the gap from tail and store.
                                refill = true;
                                continue;
                            }
                            if let Some(chunk) = log.take(frames.iter().cloned()) {
                                yield Ok(chunk);
                            }
                        }
                        LiveLog::End { total } => {
                            let total = *total;
                            if log.next < total {
                                match log.refill(&state).await {
                                    Ok(frames) => if let Some(chunk) = frames { yield Ok(chunk) },
                                    Err(e) => {
                                        tracing::warn!(%process_id, error = %e, "log replay failed; closing stream");
                                        break;
                                    }
                                }
                            }
                            if log.next < total {
                                tracing::warn!(%process_id, sent = log.next, total, "log ended with patches missing");
                            }
                            yield Ok(log.end_frame());
                            break;
                        }
                        LiveLog::Unreadable(e) => tracing::warn!(%process_id, error = %e, "unreadable log message"),
                    }
                }
            }
        }
    };
    Ok(sse::response(open, body))
}

/// Where one viewer is in one process's log.
struct LogCursor {
    org_id: Uuid,
    process_id: Uuid,
    /// The seq of the next patch to send.
    next: u64,
}

impl LogCursor {
    /// Frames for every patch from `next` on that the store and tail hold, in order, as one
    /// chunk, stopping at a gap (it is filled by a later refill).
    async fn refill(&mut self, state: &AppState) -> Result<Option<bytes::Bytes>, ApiError> {
        let (org_id, process_id, from) = (self.org_id, self.process_id, self.next);
        let patches = super::with_retries(|| async move {
            let mut redis = state.redis();
            Ok(shared::logstore::history(
                &state.store,
                &mut redis,
                &state.keys,
                org_id,
                process_id,
                from,
            )
            .await?)
        })
        .await?;
        Ok(self.take(
            patches
                .iter()
                .filter(|p| p.seq >= from)
                .map(|p| (p.seq, patch_frame(p))),
        ))
    }

    /// The frames (seq, SSE frame) that continue the log exactly, as one chunk (one
    /// write per batch, not per patch); older ones are dropped as duplicates, and
    /// anything after a gap waits for a refill.
    fn take(
        &mut self,
        frames: impl IntoIterator<Item = (u64, bytes::Bytes)>,
    ) -> Option<bytes::Bytes> {
        let mut chunk = bytes::BytesMut::new();
        for (seq, frame) in frames {
            if seq < self.next {
                continue;
            }
            if seq > self.next {
                break;
            }
            chunk.extend_from_slice(&frame);
            self.next += 1;
        }
        (!chunk.is_empty()).then(|| chunk.freeze())
    }

    /// Whether the process row says it has ended.
    async fn finished(&self, state: &AppState) -> Result<bool, ApiError> {
        super::with_retries(|| async {
            let mut conn = state.db.org(self.org_id).await?;
            let process = lookup::process(&mut conn, self.org_id, self.process_id).await?;
            Ok(process.status.is_finished())
        })
        .await
    }

    fn end_frame(&self) -> bytes::Bytes {
        sse::event(None, "end", &format!("{{\"total\":{}}}", self.next))
    }
}

/// A published log message as every viewer sends it: decoded once, each patch rendered
/// once as its SSE frame.
enum LiveLog {
    Patches(Vec<(u64, bytes::Bytes)>),
    End { total: u64 },
    Unreadable(String),
}

impl LiveLog {
    fn decode(payload: &str) -> LiveLog {
        match serde_json::from_str::<LogMessage>(payload) {
            Ok(LogMessage::Patches { patches }) => {
                LiveLog::Patches(patches.iter().map(|p| (p.seq, patch_frame(p))).collect())
            }
            Ok(LogMessage::End { total }) => LiveLog::End { total },
            Err(e) => LiveLog::Unreadable(e.to_string()),
        }
    }
}

/// A patch's SSE frame: `event: patch`, its seq as the id.
fn patch_frame(patch: &LogPatch) -> bytes::Bytes {
    // A LogPatch is strings, numbers and enums: encoding cannot fail.
    let data = serde_json::to_string(patch).unwrap_or_default();
    sse::event(Some(&patch.seq.to_string()), "patch", &data)
}
