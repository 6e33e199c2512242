//! Long stdout lines put back together before anything reads them.
//!
//! The runner hands a line longer than its limit (`runner::MAX_LINE_BYTES`, 64 KiB) on in
//! pieces of about that size (cut on a character boundary, so 1 to 3 bytes short of it),
//! each as if it were a line of its own, with nothing saying that a piece is not the end.
//! Agents speaking a JSON protocol print whole messages as one line, and some of them
//! are far longer than that: Qwen Code's ACP messages carrying a file it writes reach
//! 500 KB. Cut, such a message is no JSON at all: the driver misses the request it
//! carries (the agent then waits for an answer for ever) and the normalizer shows
//! fragments of raw output.
//!
//! [`LineJoiner`] undoes the cut for lines that are JSON messages. A piece is recognized
//! by its length; a line that starts like a JSON message (`{` or `[`), is as long as a
//! piece and does not parse is held, and the pieces after it are appended until the
//! line is complete: a piece shorter than the limit is the last one (the runner cuts
//! only while more is left), and a text that parses as JSON is complete however long
//! its last piece happened to be. Anything else passes through at once, so a banner or
//! a log line is never delayed. What is held is bounded: past `max_len` the text goes
//! on as it is, as the pieces it came in would have.

use chrono::{DateTime, Utc};

/// The longest line put back together (beyond it, pieces go on as they are).
pub const MAX_JOINED_LINE: usize = 32 * 1024 * 1024;

/// A stdout line, whole again, and when its first piece was read.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedLine {
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Puts back together the stdout lines the runner cut into pieces; see the module
/// documentation.
#[derive(Debug)]
pub struct LineJoiner {
    /// The runner's piece size.
    piece_len: usize,
    max_len: usize,
    /// The first pieces of a line whose end has not come yet.
    pending: Option<JoinedLine>,
}

impl LineJoiner {
    /// A joiner for lines the runner cuts into pieces of `piece_len` bytes, holding at
    /// most `max_len` bytes of one line.
    pub fn new(piece_len: usize, max_len: usize) -> LineJoiner {
        LineJoiner {
            piece_len,
            max_len,
            pending: None,
        }
    }

    /// Whether `text` is as long as a piece: the runner backs off at most 3 bytes to cut
    /// on a character boundary (a replaced invalid byte only makes the text longer).
    fn piece_sized(&self, text: &str) -> bool {
        text.len() + 3 >= self.piece_len
    }

    /// Takes the next stdout line (or piece) read at `at`; answers the lines that are
    /// complete now, in order (none while a cut line is still coming).
    pub fn push(&mut self, text: String, at: DateTime<Utc>) -> Vec<JoinedLine> {
        let piece = self.piece_sized(&text);
        match self.pending.take() {
            None => {
                if piece && starts_json(&text) && !parses(&text) {
                    self.pending = Some(JoinedLine { text, at });
                    return Vec::new();
                }
                vec![JoinedLine { text, at }]
            }
            Some(mut line) => {
                line.text.push_str(&text);
                // The last piece is shorter than the limit; a full-sized one is the last
                // when the text is now a whole JSON value (checked only when it could be:
                // it ends with a closing bracket, so a long line is not parsed per piece).
                let complete = !piece
                    || (ends_json(&line.text) && parses(&line.text))
                    || line.text.len() > self.max_len;
                if complete {
                    vec![line]
                } else {
                    self.pending = Some(line);
                    Vec::new()
                }
            }
        }
    }

    /// The output ended: whatever is held goes on as it is.
    pub fn finish(&mut self) -> Option<JoinedLine> {
        self.pending.take()
    }
}

fn starts_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

fn ends_json(text: &str) -> bool {
    matches!(text.trim_end().as_bytes().last(), Some(b'}' | b']'))
}

fn parses(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joiner() -> LineJoiner {
        LineJoiner::new(10, 100)
    }

    fn texts(lines: Vec<JoinedLine>) -> Vec<String> {
        lines.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn short_lines_and_non_json_pieces_pass_at_once() {
        let mut j = joiner();
        let now = Utc::now();
        assert_eq!(texts(j.push("{\"a\":1}".into(), now)), ["{\"a\":1}"]);
        assert_eq!(texts(j.push("xxxxxxxxxx".into(), now)), ["xxxxxxxxxx"]);
        // A full-sized line that is whole JSON is not held.
        assert_eq!(texts(j.push("{\"a\":123}".into(), now)), ["{\"a\":123}"]);
        assert_eq!(j.finish(), None);
    }

    #[test]
    fn pieces_of_a_json_line_are_joined() {
        let mut j = joiner();
        let now = Utc::now();
        assert!(j.push("{\"text\":\"a".into(), now).is_empty());
        assert!(j.push("bcdefghijk".into(), now).is_empty());
        assert_eq!(
            texts(j.push("lm\"}".into(), now)),
            ["{\"text\":\"abcdefghijklm\"}"]
        );
        // The last piece may be full-sized too: the text is whole JSON then.
        assert!(j.push("{\"text\":\"a".into(), now).is_empty());
        assert_eq!(
            texts(j.push("bcdefgh\"}".into(), now)),
            ["{\"text\":\"abcdefgh\"}"]
        );
    }

    #[test]
    fn a_line_longer_than_the_bound_goes_on_as_it_is() {
        let mut j = LineJoiner::new(10, 25);
        let now = Utc::now();
        assert!(j.push("{\"text\":\"a".into(), now).is_empty());
        assert!(j.push("bcdefghijk".into(), now).is_empty());
        assert_eq!(
            texts(j.push("lmnopqrstu".into(), now)),
            ["{\"text\":\"abcdefghijklmnopqrstu"]
        );
        assert_eq!(texts(j.push("vwxyz\"}".into(), now)), ["vwxyz\"}"]);
        assert!(j.push("{\"cut\":\"o".into(), now).is_empty());
        assert_eq!(j.finish().map(|l| l.text).as_deref(), Some("{\"cut\":\"o"));
    }
}
