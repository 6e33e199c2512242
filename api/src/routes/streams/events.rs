//! `GET /orgs/{org}/events` (SSE)

use actix_web::{HttpRequest, HttpResponse, web};
use redis::AsyncCommands;
use shared::wire::{ErrorBody, OrgEvent};
use std::cmp::Ordering;
use uuid::Uuid;

use super::{Wake, next_wake, subscribe};
use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::hub::HubEvent;
use crate::routes::OrgPath;
use crate::sse;
use crate::state::AppState;
use shared::metrics::OpenStream;

/// Events read from the history per round trip while catching up.
const CATCH_UP_BATCH: usize = 500;

/// The org's live events (`project.*`, `task.*`, `attempt.*`, `process.*`), each with
/// the wire resource as `data` and its Redis stream id as `id`. With `Last-Event-ID` the
/// stream first replays what came after that id; without it, a bare `id:` frame names
/// the resume point at once. If the history no longer reaches back that far, a `reset`
/// event tells the client to reload its state.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/events", tag = "streams",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "An SSE stream of org events", content_type = "text/event-stream", body = OrgEvent),
        (status = 400, description = "Malformed Last-Event-ID", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
        (status = 429, description = "The credential or the org has as many streams open as allowed (`too_many_streams`), with `Retry-After`", body = ErrorBody),
        (status = 503, description = "Event bus unavailable", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn events(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let resume_from = sse::last_event_id(&req)?
        .map(|id| {
            StreamId::parse(&id)
                .ok_or_else(|| ApiError::InvalidHeader("Last-Event-ID is not an event id".into()))
        })
        .transpose()?;
    let mut guard = super::guard::admit(&state, &auth).await?;
    let mut sub = subscribe(&state, state.keys.org_channel(org_id)).await?;
    let mut redis = state.redis();
    // Subscribed first; now anything newer than `cursor` reaches us live.
    let mut cursor = match resume_from {
        Some(id) => Some(id),
        // An org with no stored event starts before any: `0-0`.
        None => Some(
            shared::bus::latest_org_event_id(&mut redis, &state.keys, org_id)
                .await?
                .as_deref()
                .and_then(StreamId::parse)
                .unwrap_or(StreamId::ZERO),
        ),
    };
    let history_lost = match resume_from {
        Some(from) => history_trimmed_since(&state, org_id, from).await?,
        None => false,
    };

    let open = OpenStream::open(&state.metrics, "events");
    let state = state.into_inner();
    let body = async_stream::stream! {
        yield Ok::<_, actix_web::Error>(sse::preamble());
        // A fresh reader learns its resume point at once, so a reconnect before the
        // first event still resumes without a gap.
        if resume_from.is_none() && let Some(start) = cursor {
            yield Ok(sse::resume_point(&start.to_string()));
        }
        if history_lost {
            yield Ok(sse::event(None, "reset", "{}"));
        }
        let mut catch_up = resume_from.is_some();
        loop {
            if catch_up {
                catch_up = false;
                match super::with_retries(|| replay(&state, org_id, cursor)).await {
                    Ok(events) => {
                        for (id, frame) in events {
                            cursor = Some(id);
                            yield Ok(frame);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%org_id, error = %e, "org event replay failed; closing stream");
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
                Wake::Hub(Some(HubEvent::Resync)) => catch_up = true,
                Wake::Hub(Some(HubEvent::Message(published))) => {
                    // Rendered once for every stream of the org on this replica.
                    let Some((sid, chunk)) = published.decoded(live_frame).as_ref().clone() else {
                        tracing::warn!(%org_id, "unreadable org event");
                        continue;
                    };
                    if cursor.is_some_and(|c| sid <= c) {
                        continue;
                    }
                    cursor = Some(sid);
                    yield Ok(chunk);
                }
            }
        }
    };
    Ok(sse::response(open, body))
}

/// Every stored event after `cursor` (from the start when `None`), as SSE frames.
async fn replay(
    state: &AppState,
    org_id: Uuid,
    mut cursor: Option<StreamId>,
) -> Result<Vec<(StreamId, bytes::Bytes)>, ApiError> {
    let mut redis = state.redis();
    let mut out = Vec::new();
    loop {
        let after = cursor.map_or_else(|| "0-0".to_owned(), |c| c.to_string());
        let batch =
            shared::bus::org_events_after(&mut redis, &state.keys, org_id, &after, CATCH_UP_BATCH)
                .await?;
        let full = batch.len() == CATCH_UP_BATCH;
        for (id, event) in batch {
            let Some(sid) = StreamId::parse(&id) else {
                continue;
            };
            cursor = Some(sid);
            out.push((sid, frame(&id, &event)));
        }
        if !full {
            return Ok(out);
        }
    }
}

/// The id of the oldest event still in the history.
/// Whether events after `from` may have been trimmed (or the stream lost), so the reader
/// must start over from a fresh read. Trimming drops the oldest first, so nothing after
/// `from` is gone while `from` itself is still stored; from `0-0`, anything ever trimmed
/// is a loss.
async fn history_trimmed_since(
    state: &AppState,
    org_id: Uuid,
    from: StreamId,
) -> Result<bool, ApiError> {
    let mut redis = state.redis();
    if from == StreamId::ZERO {
        return Ok(shared::bus::org_events_ever_trimmed(&mut redis, &state.keys, org_id).await?);
    }
    let from = from.to_string();
    let reply: redis::streams::StreamRangeReply = redis
        .xrange_count(state.keys.org_events(org_id), &from, "+", 1)
        .await?;
    Ok(reply.ids.first().map(|e| e.id.as_str()) != Some(from.as_str()))
}

/// A published org event as its stream id and SSE frame (`None`: unreadable).
fn live_frame(payload: &str) -> Option<(StreamId, bytes::Bytes)> {
    let (id, event) = shared::bus::parse_org_message(payload)?;
    Some((StreamId::parse(&id)?, frame(&id, &event)))
}

fn frame(id: &str, event: &OrgEvent) -> bytes::Bytes {
    // An OrgEvent is plain data (no maps with non-string keys): encoding cannot fail.
    let data = serde_json::to_string(event).unwrap_or_default();
    sse::event(Some(id), event.kind(), &data)
}

/// A Redis stream id (`<ms>-<seq>`), ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamId {
    ms: u64,
    seq: u64,
}

impl StreamId {
    /// Before every event.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Parses `<ms>-<seq>`.
    pub fn parse(s: &str) -> Option<StreamId> {
        let (ms, seq) = s.split_once('-')?;
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl PartialOrd for StreamId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StreamId {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.ms, self.seq).cmp(&(other.ms, other.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_numerically_not_lexically() {
        let a = StreamId::parse("999-5").expect("id");
        let b = StreamId::parse("1000-0").expect("id");
        let c = StreamId::parse("1000-10").expect("id");
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "1000-10");
        assert!(StreamId::parse("nope").is_none());
        assert!(StreamId::parse("1-x").is_none());
    }
}
