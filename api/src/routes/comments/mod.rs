//! Comments: the discussion on a task, beside its description.

pub mod create;
pub mod list;

/// Longest comment, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// At most this many comments are listed, oldest first.
pub const MAX_LISTED: i64 = 1_000;
