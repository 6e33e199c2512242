//! A request's path and query must percent-decode to text: UTF-8 without NUL. Anything
//! else is refused before routing, with 400 `invalid_path` or `invalid_query`.
//!
//! actix decodes a path's invalid UTF-8 lossily (to U+FFFD), so `%ff` would reach a handler
//! as something other than what was sent; and PostgreSQL cannot hold NUL in text, so a
//! `%00` that reached a query failed there, as a 500. One check here, and no handler has
//! to remember either.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::{ApiError, ErrorCode};

/// Middleware (`middleware::from_fn`) refusing a URL that is not text.
pub async fn guard<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let uri = req.uri();
    let refusal = if !is_text(uri.path().as_bytes()) {
        Some(ApiError::bad_request(
            ErrorCode::InvalidPath,
            "the path must percent-decode to UTF-8 text without NUL characters",
        ))
    } else if uri.query().is_some_and(|q| !is_text(q.as_bytes())) {
        Some(ApiError::InvalidQuery(
            "the query string must percent-decode to UTF-8 text without NUL characters".into(),
        ))
    } else {
        None
    };
    match refusal {
        Some(error) => Ok(req.error_response(error).map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// Whether percent-decoded `raw` is UTF-8 without NUL. A `%` without two hex digits
/// after it stays as it is (so actix and serde see it).
fn is_text(raw: &[u8]) -> bool {
    let mut decoded = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        let escaped = (raw[at] == b'%')
            .then(|| raw.get(at + 1..at + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(raw[at]);
                at += 1;
            }
        }
    }
    !decoded.contains(&0) && std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::is_text;

    #[test]
    fn text_is_utf8_without_nul_after_decoding() {
        for text in [
            "/api/v1/orgs/acme",
            "/a%20b/%C3%A9/%F0%9F%98%80",
            "limit=5&action=tasks.update",
            "%zz%",
            "%",
            "a%2",
            "%+0",
        ] {
            assert!(is_text(text.as_bytes()), "{text}");
        }
        for text in ["/x/%00", "a%00b", "/x/%ff%fe", "%ed%a0%80", "%c0%af", "%C3"] {
            assert!(!is_text(text.as_bytes()), "{text}");
        }
    }
}
