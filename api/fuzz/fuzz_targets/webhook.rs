//! A GitHub webhook delivery, as the api takes it in and reads it: its signature, its
//! headers and JSON payload (`github::intake`), and the text of issues and comments in
//! it (`/switchyard` commands, the sanitizer). The input is a delivery: optional header
//! lines (`event`, `delivery id`, `X-Hub-Signature-256`) and a blank line, then the body;
//! an input without that block is all body, sent as an `issue_comment`. The seeds are
//! bodies.
//!
//! Checked, beyond not panicking:
//! - only the body's true signature verifies, and it no longer does for another body;
//! - a delivery the intake accepts has valid headers, a payload equal to the body's JSON
//!   that a `jsonb` column can store (no U+0000), its action and installation id read
//!   from that payload; one it refuses is answered 400;
//! - a comment is a command only when its first non-blank line starts `/switchyard`; a
//!   profile is one word, a follow-up's text trimmed and not empty;
//! - sanitized text only loses characters (it is a subsequence of the input), holds no
//!   invisible or control character but newline and tab, no line ending in whitespace,
//!   no two blank lines in a row, and is trimmed.
#![no_main]

use actix_web::ResponseError;
use api::github::intake::{self, MAX_ACTION_CHARS};
use api::github::sanitize::sanitize;
use api::github::triggers::{Command, parse_command};
use serde_json::Value;
use shared::github::webhook::{sign, verify};

const SECRET: &[u8] = b"fuzz-webhook-secret";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (headers, body) = split(data);
    check_signature(body, headers.signature);
    match intake::read(headers.event, headers.delivery_id, body) {
        Ok(delivery) => check_accepted(&delivery, body),
        Err(e) => assert_eq!(e.status_code().as_u16(), 400, "refused with {e}"),
    }
    let text = String::from_utf8_lossy(body);
    check_command(&text);
    check_sanitized(&text);
});

struct Headers<'a> {
    event: Option<&'a str>,
    delivery_id: Option<&'a str>,
    signature: Option<&'a str>,
}

/// The header block (up to a blank line in the first 512 bytes) and the body.
fn split(data: &[u8]) -> (Headers<'_>, &[u8]) {
    let default = Headers {
        event: Some("issue_comment"),
        delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        signature: None,
    };
    let Some(at) = data
        .windows(2)
        .take(512)
        .position(|w| w == b"\n\n")
        .filter(|_| data.first() != Some(&b'{'))
    else {
        return (default, data);
    };
    let Ok(block) = std::str::from_utf8(&data[..at]) else {
        return (default, data);
    };
    let mut lines = block.split('\n');
    let mut field = || lines.next().filter(|l| !l.is_empty());
    let headers = Headers {
        event: field(),
        delivery_id: field(),
        signature: field(),
    };
    (headers, &data[at + 2..])
}

fn check_signature(body: &[u8], header: Option<&str>) {
    let good = sign(SECRET, body);
    assert!(verify(SECRET, body, Some(&good)));
    assert!(!verify(b"another secret", body, Some(&good)));
    let mut other = body.to_vec();
    match other.first_mut() {
        Some(b) => *b ^= 1,
        None => other.push(0),
    }
    assert!(!verify(SECRET, &other, Some(&good)));
    if verify(SECRET, body, header) {
        let header = header.unwrap_or_default().trim().to_ascii_lowercase();
        assert_eq!(header, good, "a header that is not the signature verified");
    }
}

fn check_accepted(d: &intake::Incoming, body: &[u8]) {
    assert!(intake::valid_name(&d.event, intake::MAX_EVENT_LEN));
    assert!(intake::valid_name(
        &d.delivery_id,
        intake::MAX_DELIVERY_ID_LEN
    ));
    let json: Value = serde_json::from_slice(body).expect("accepted bodies are JSON");
    assert_eq!(json, d.payload);
    assert!(
        storable_in_jsonb(&d.payload),
        "accepted a payload PostgreSQL cannot store"
    );
    let action = json.get("action").and_then(Value::as_str);
    assert_eq!(
        d.action.as_deref(),
        action.map(|a| &a[..a
            .char_indices()
            .nth(MAX_ACTION_CHARS)
            .map_or(a.len(), |(i, _)| i)])
    );
    assert_eq!(
        d.installation_id,
        json.pointer("/installation/id").and_then(Value::as_i64)
    );
    for text in ["/comment/body", "/issue/body", "/issue/title"]
        .iter()
        .filter_map(|p| json.pointer(p).and_then(Value::as_str))
    {
        check_command(text);
        check_sanitized(text);
    }
}

/// jsonb refuses U+0000 in any string or key.
fn storable_in_jsonb(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.contains('\0'),
        Value::Array(items) => items.iter().all(storable_in_jsonb),
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| !k.contains('\0') && storable_in_jsonb(v)),
        _ => true,
    }
}

fn check_command(text: &str) {
    let Some(command) = parse_command(text) else {
        return;
    };
    let first = text.trim_start().lines().next().unwrap_or_default();
    assert_eq!(first.split_whitespace().next(), Some("/switchyard"));
    match command {
        Command::Run { profile } => {
            if let Some(p) = profile {
                assert!(!p.is_empty() && !p.contains(char::is_whitespace), "{p:?}");
            }
        }
        Command::FollowUp { text: t } => {
            assert!(!t.is_empty());
            assert_eq!(t, t.trim());
        }
    }
}

fn check_sanitized(text: &str) {
    let out = sanitize(text);
    let mut input = text.chars();
    for c in out.chars() {
        assert!(
            input.any(|i| i == c),
            "sanitize added {c:?}: {text:?} became {out:?}"
        );
        assert!(
            !c.is_control() || c == '\n' || c == '\t',
            "control character {c:?} kept"
        );
        assert!(
            !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'),
            "invisible character {c:?} kept"
        );
    }
    assert_eq!(out, out.trim());
    assert!(!out.contains("\n\n\n"), "two blank lines in a row: {out:?}");
    for line in out.lines() {
        assert_eq!(line, line.trim_end(), "a line ends in whitespace");
    }
}
