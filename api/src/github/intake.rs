//! What the webhook intake reads of a delivery before it stores it: the event and the
//! delivery id from their headers, and the body as the JSON payload, with the action and
//! the installation id it names. The route (`POST /github/webhooks`) bounds the body's
//! size and time and checks its signature first; this part only reads bytes, and is
//! fuzzed (api/fuzz, `webhook`).

use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// Longest event name kept, in bytes.
pub const MAX_EVENT_LEN: usize = 100;
/// Longest delivery id kept, in bytes.
pub const MAX_DELIVERY_ID_LEN: usize = 200;
/// Longest action kept, in characters (longer ones are cut).
pub const MAX_ACTION_CHARS: usize = 100;

/// A delivery as the intake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// `X-GitHub-Event`.
    pub event: String,
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The payload's `action`, cut to [`MAX_ACTION_CHARS`].
    pub action: Option<String>,
    /// The payload's `installation.id`.
    pub installation_id: Option<i64>,
    pub payload: Value,
}

/// Reads a signed delivery: its `event` and `delivery_id` headers (as text, when they
/// are) and its `body`. A missing or malformed header, or a body that is not JSON a
/// `jsonb` column can hold, answers 400 with its own code.
pub fn read(
    event: Option<&str>,
    delivery_id: Option<&str>,
    body: &[u8],
) -> Result<Incoming, ApiError> {
    let event = header(
        event,
        MAX_EVENT_LEN,
        ErrorCode::MissingEvent,
        "X-GitHub-Event",
    )?;
    let delivery_id = header(
        delivery_id,
        MAX_DELIVERY_ID_LEN,
        ErrorCode::MissingDeliveryId,
        "X-GitHub-Delivery",
    )?;
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidJson(format!("the delivery body is not JSON: {e}")))?;
    // PostgreSQL's jsonb cannot hold U+0000 in a string or a key: refused here with a
    // clear answer rather than failing the insert with a 500 that GitHub retries.
    if crate::json_body::holds_nul(body) {
        return Err(ApiError::InvalidJson(
            "the delivery body holds a \\u0000 character, which cannot be stored".into(),
        ));
    }
    let action = payload
        .get("action")
        .and_then(|a| a.as_str())
        .map(|a| a.chars().take(MAX_ACTION_CHARS).collect::<String>());
    let installation_id = payload
        .get("installation")
        .and_then(|i| i.get("id"))
        .and_then(|id| id.as_i64());
    Ok(Incoming {
        event,
        delivery_id,
        action,
        installation_id,
        payload,
    })
}

/// A header's value when it is a [`valid_name`] of at most `max` bytes; else 400 `code`.
fn header(
    value: Option<&str>,
    max: usize,
    code: ErrorCode,
    name: &str,
) -> Result<String, ApiError> {
    match value.filter(|v| valid_name(v, max)) {
        Some(v) => Ok(v.to_owned()),
        None => Err(ApiError::bad_request(
            code,
            format!("the delivery has no valid {name}"),
        )),
    }
}

/// Event names and delivery ids: short, printable, no spaces.
pub fn valid_name(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    fn code_of(err: &ApiError) -> u16 {
        err.status_code().as_u16()
    }

    #[test]
    fn a_delivery_reads_its_event_id_action_and_installation() {
        let body = br#"{"action":"labeled","installation":{"id":42},"issue":{"number":1}}"#;
        let d = read(Some("issues"), Some("abc-123"), body).expect("read");
        assert_eq!(d.event, "issues");
        assert_eq!(d.delivery_id, "abc-123");
        assert_eq!(d.action.as_deref(), Some("labeled"));
        assert_eq!(d.installation_id, Some(42));
        assert_eq!(d.payload["issue"]["number"], 1);
    }

    #[test]
    fn bad_headers_and_bodies_answer_400() {
        let body = br#"{"zen":"x"}"#;
        for (event, id, body) in [
            (None, Some("d"), &body[..]),
            (Some("iss ues"), Some("d"), &body[..]),
            (Some("issues"), None, &body[..]),
            (Some("issues"), Some(&"d".repeat(201)[..]), &body[..]),
            (Some("issues"), Some("d"), &b"{not json"[..]),
        ] {
            let err = read(event, id, body).expect_err("refused");
            assert_eq!(code_of(&err), 400, "{err}");
        }
    }

    /// Found by the `webhook` fuzz target: a payload string holding U+0000 parsed as JSON
    /// but could not be stored in the `jsonb` column, so the insert failed with a 500.
    #[test]
    fn a_nul_character_anywhere_in_the_payload_is_refused_with_400() {
        for body in [
            &br#"{"comment":{"body":"a\u0000b"}}"#[..],
            br#"{"a\u0000":1}"#,
            br#"[[["\u0000"]]]"#,
        ] {
            let err = read(Some("issue_comment"), Some("d"), body).expect_err("refused");
            assert_eq!(code_of(&err), 400, "{err}");
            assert!(err.to_string().contains("u0000"), "{err}");
        }
    }

    #[test]
    fn a_long_action_is_cut_to_its_limit() {
        let body = format!(r#"{{"action":"{}"}}"#, "é".repeat(150));
        let d = read(Some("issues"), Some("d"), body.as_bytes()).expect("read");
        assert_eq!(d.action.map(|a| a.chars().count()), Some(MAX_ACTION_CHARS));
    }
}
