//! What every normalizer fuzz target checks: any bytes, fed as stdout and stderr lines,
//! never panic, and every patch either appends or replaces an entry that exists.

use worker::normalize::{EntryPatch, Protocol, for_protocol};

/// Feeds `data` to a fresh normalizer for `protocol`, line by line, alternating a few
/// lines to stderr, then finishes it; panics if a patch points past the entry list.
pub fn exercise(protocol: Protocol, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut normalizer = for_protocol(protocol);
    let mut len = 0usize;
    for (i, line) in text.lines().enumerate() {
        let patches = if i % 7 == 6 {
            normalizer.stderr_line(line)
        } else {
            normalizer.stdout_line(line)
        };
        check(patches, &mut len);
        if i % 11 == 10 {
            check(normalizer.approval_decided(line, i % 2 == 0), &mut len);
        }
    }
    check(normalizer.finish(), &mut len);
    let _ = normalizer.session_id();
    let _ = normalizer.token_usage();
}

fn check(patches: Vec<EntryPatch>, len: &mut usize) {
    for patch in patches {
        match patch {
            EntryPatch::Append(_) => *len += 1,
            EntryPatch::Replace { index, .. } => {
                assert!(index < *len, "replace of entry {index} in a list of {len}")
            }
        }
    }
}
