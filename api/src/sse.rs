//! Server-sent events: framing, the response, and `Last-Event-ID`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use shared::metrics::OpenStream;

/// How long a client waits before reconnecting after the stream drops.
const RETRY_MS: u64 = 2_000;

/// One SSE event. `data` must be a single line (JSON without newlines is).
pub fn event(id: Option<&str>, name: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + name.len() + 32);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// A comment line: ignored by clients, keeps proxies from closing an idle stream.
pub fn comment(text: &str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

/// An `id:` alone: sets the reader's last event id without dispatching an event.
pub fn resume_point(id: &str) -> Bytes {
    Bytes::from(format!("id: {id}\n\n"))
}

/// The first bytes of every stream: the reconnect delay, so headers and a first chunk
/// reach the client at once.
pub fn preamble() -> Bytes {
    Bytes::from(format!("retry: {RETRY_MS}\n\n"))
}

/// A streaming `text/event-stream` response. `open` counts the stream in
/// `sse_connections` until actix drops the body (the stream ended or the client left).
pub fn response<S>(open: OpenStream, body: S) -> HttpResponse
where
    S: Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
{
    let body = body.map(move |chunk| {
        let _counted = &open;
        chunk
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}

/// The `Last-Event-ID` header, if present and not blank.
pub fn last_event_id(req: &HttpRequest) -> Result<Option<String>, crate::error::ApiError> {
    match req.headers().get("last-event-id") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| {
                crate::error::ApiError::InvalidHeader("Last-Event-ID is not ASCII".into())
            })?;
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
    }
}
