//! A file's diff as the worker stores it: two versions of a file, diffed by libgit2 as
//! the worker diffs a working tree, then turned into the diff's hunks
//! (`worker::diff::hunks_of`). The input's first byte picks the context lines, the next
//! two where the old version ends and the new one begins.
//!
//! Checked, beyond not panicking: the hunks are a faithful patch. Applied to the old
//! version's lines they give the new version's lines exactly (lines compared without
//! their ending, as the diff shows them); every context and removed line is the old
//! version's line at that place; each hunk's line counts and start lines agree with its
//! lines; the file's added and removed counts are its `+` and `-` lines; a binary file
//! has no hunks.
#![no_main]

use git2::{DiffOptions, Patch};
use shared::wire::Hunk;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [context, a, b, rest @ ..] = data else {
        return;
    };
    let split = usize::from(u16::from_le_bytes([*a, *b])) % (rest.len() + 1);
    let (old, new) = rest.split_at(split);
    let mut opts = DiffOptions::new();
    opts.context_lines(u32::from(context % 6));
    let patch = Patch::from_buffers(old, None, new, None, Some(&mut opts)).expect("patch");
    let hunks = worker::diff::hunks_of(&patch).expect("hunks");
    if patch.delta().flags().is_binary() {
        assert!(hunks.is_empty(), "a binary file with hunks");
        return;
    }
    let (_, additions, deletions) = patch.line_stats().expect("stats");
    let count = |origin| {
        hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| l.origin == origin)
            .count()
    };
    assert_eq!((count('+'), count('-')), (additions, deletions));
    assert_eq!(apply(&lines(old), &hunks), lines(new));
});

/// A text's lines as the diff shows them: without `\n` or `\r\n`, invalid UTF-8 as
/// U+FFFD.
fn lines(text: &[u8]) -> Vec<String> {
    text.split_inclusive(|&b| b == b'\n')
        .map(|line| {
            let line = match line.strip_suffix(b"\n") {
                Some(l) => l.strip_suffix(b"\r").unwrap_or(l),
                None => line,
            };
            String::from_utf8_lossy(line).into_owned()
        })
        .collect()
}

/// The new version's lines: `old` with `hunks` applied, checking each hunk against it.
fn apply(old: &[String], hunks: &[Hunk]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut at = 0usize;
    for hunk in hunks {
        let count = |origins: &[char]| {
            hunk.lines
                .iter()
                .filter(|l| origins.contains(&l.origin))
                .count()
        };
        assert_eq!(
            count(&[' ', '-']),
            hunk.old_lines as usize,
            "old line count of {hunk:?}"
        );
        assert_eq!(
            count(&[' ', '+']),
            hunk.new_lines as usize,
            "new line count of {hunk:?}"
        );
        // A hunk without old lines starts after its start line; others at it.
        let start = hunk.old_start as usize - usize::from(hunk.old_lines > 0);
        assert!(
            start >= at && start <= old.len(),
            "hunk out of order: {hunk:?}"
        );
        out.extend_from_slice(&old[at..start]);
        at = start;
        let new_start = hunk.new_start as usize - usize::from(hunk.new_lines > 0);
        assert_eq!(out.len(), new_start, "new start of {hunk:?}");
        for line in &hunk.lines {
            match line.origin {
                '+' => out.push(line.content.clone()),
                ' ' | '-' => {
                    assert_eq!(
                        old.get(at),
                        Some(&line.content),
                        "{hunk:?} does not match the old text"
                    );
                    if line.origin == ' ' {
                        out.push(line.content.clone());
                    }
                    at += 1;
                }
                other => panic!("a line of origin {other:?}"),
            }
        }
    }
    out.extend_from_slice(&old[at..]);
    out
}
