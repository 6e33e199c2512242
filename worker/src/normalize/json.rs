//! Small, forgiving accessors over `serde_json::Value`: agents' events are read field by
//! field so a missing or oddly typed field degrades one detail, never the whole event.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// Longest command output kept in an entry.
pub(crate) const MAX_OUTPUT: usize = 64 * 1024;
/// Longest tool result (file content, error, report) kept in an entry.
pub(crate) const MAX_RESULT: usize = 16 * 1024;
/// Longest message text kept in an entry.
pub(crate) const MAX_TEXT: usize = 1024 * 1024;
/// Longest raw line kept in an `output` entry.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// Longest excerpt of an unrecognized event in a system message.
pub(crate) const EXCERPT: usize = 200;
/// Longest one-line summary of a tool call.
pub(crate) const SUMMARY: usize = 160;

/// What one raw line is.
pub(crate) enum Line {
    /// Blank: nothing to show.
    Empty,
    /// A JSON object: an event to interpret.
    Event(Value),
    /// Anything else (a banner, a truncated or malformed JSON line, a bare value).
    Raw(String),
}

/// Classifies a raw line.
pub(crate) fn parse_line(line: &str) -> Line {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Line::Empty;
    }
    if trimmed.starts_with('{')
        && let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed)
    {
        return Line::Event(v);
    }
    Line::Raw(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `v[key]` as a string.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// The first of `keys` that holds a non-empty string.
pub(crate) fn first_str<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| str_of(v, k))
        .find(|s| !s.is_empty())
}

/// `v[p0][p1]...`.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// A non-negative count, from a number or a numeric string.
pub(crate) fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i.max(0) as u64))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.max(0.0) as u64)
            }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The first of `keys` that holds a count.
pub(crate) fn first_count(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| v.get(k).and_then(count))
}

/// A signed integer (an exit code), from a number or a numeric string.
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A finite float (a cost).
pub(crate) fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// A point in time: an RFC 3339 string, or a Unix time in seconds or milliseconds.
pub(crate) fn time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => {
            let n = n.as_f64()?;
            if !n.is_finite() || n <= 0.0 {
                return None;
            }
            // Milliseconds from 1973 on; seconds before 5138.
            let millis = if n >= 1e11 { n } else { n * 1000.0 };
            Utc.timestamp_millis_opt(millis as i64).single()
        }
        _ => None,
    }
}

/// The event's own timestamp, under the names agents use for it.
pub(crate) fn event_time(v: &Value) -> Option<DateTime<Utc>> {
    [
        "timestamp",
        "timestamp_ms",
        "time",
        "created_at",
        "createdAt",
    ]
    .iter()
    .find_map(|k| v.get(k).and_then(time))
}

/// `text` cut to at most `max` bytes (on a character boundary), ending with a note of
/// how much was cut. Clipping a clipped text changes nothing.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    // Room for the note: "… [18446744073709551615 more bytes not shown]" is < 64 bytes.
    let mut end = max.saturating_sub(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… [{} more bytes not shown]",
        &text[..end],
        text.len() - end
    )
}

/// The first line of `text`, cut to a summary's length.
pub(crate) fn one_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("").trim();
    let more = text.trim().lines().nth(1).is_some();
    let mut end = line.len().min(SUMMARY);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    if end < line.len() || more {
        format!("{}…", &line[..end])
    } else {
        line.to_owned()
    }
}

/// A short excerpt of a raw event, for a system message about it.
pub(crate) fn excerpt(text: &str) -> String {
    let mut end = text.len().min(EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}…", &text[..end])
    } else {
        text.to_owned()
    }
}

/// The text of content in any of the usual shapes: a string, a `{type:"text",text}`
/// block, a list of blocks, an object with `content`/`text`/`output`. Non-text blocks
/// become a bracketed placeholder.
pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text_of).collect();
            (!parts.is_empty()).then(|| parts.join("\n"))
        }
        Value::Object(_) => {
            if let Some(t) = str_of(v, "text") {
                return Some(t.to_owned());
            }
            match str_of(v, "type") {
                Some("image") => return Some("[image]".to_owned()),
                Some("audio") => return Some("[audio]".to_owned()),
                Some("resource_link") => {
                    let name = first_str(v, &["name", "title", "uri"]).unwrap_or("resource");
                    return Some(format!("[{name}]"));
                }
                _ => {}
            }
            ["content", "output", "resource", "value", "message"]
                .iter()
                .find_map(|k| v.get(k).and_then(text_of))
        }
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
    }
}

/// A value as compact JSON (for arguments shown verbatim).
pub(crate) fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A value as a string: strings as they are, anything else as compact JSON.
pub(crate) fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

/// A command given as a string or as an argv list.
pub(crate) fn command_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let argv: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!argv.is_empty()).then(|| argv.join(" "))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clipping_respects_character_boundaries_and_bounds() {
        let s = "é".repeat(100);
        let c = clip(&s, 101);
        assert!(c.len() <= 101);
        assert!(c.starts_with('é'));
        assert!(c.contains("more bytes"));
        assert_eq!(clip(&c, 101), c);
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn times_parse_from_strings_seconds_and_milliseconds() {
        let a = time(&json!("2025-10-29T10:37:00.097Z")).expect("rfc3339");
        let b = time(&json!(1761734220097u64)).expect("ms");
        let c = time(&json!(1761734220)).expect("s");
        assert_eq!(a.timestamp(), 1761734220);
        assert_eq!(b.timestamp(), 1761734220);
        assert_eq!(c.timestamp(), 1761734220);
        assert!(time(&json!(-5)).is_none());
        assert!(time(&json!("yesterday")).is_none());
    }

    #[test]
    fn text_comes_out_of_every_content_shape() {
        assert_eq!(text_of(&json!("a")).as_deref(), Some("a"));
        assert_eq!(
            text_of(&json!([{"type":"text","text":"a"},{"type":"text","text":"b"}])).as_deref(),
            Some("a\nb")
        );
        assert_eq!(
            text_of(&json!({"type":"content","content":{"type":"text","text":"x"}})).as_deref(),
            Some("x")
        );
        assert_eq!(
            text_of(&json!({"type":"image","data":"..."})).as_deref(),
            Some("[image]")
        );
        assert_eq!(text_of(&json!(null)), None);
    }

    #[test]
    fn lines_are_events_only_when_they_are_json_objects() {
        assert!(matches!(parse_line("  "), Line::Empty));
        assert!(matches!(parse_line("{\"type\":\"x\"}"), Line::Event(_)));
        assert!(matches!(parse_line("{\"type\":"), Line::Raw(_)));
        assert!(matches!(parse_line("42"), Line::Raw(_)));
        assert!(matches!(parse_line("Welcome to the agent!"), Line::Raw(_)));
    }
}
