//! Stored diffs (`shared::wire::Diff`): the worker writes them to the object store as
//! JSON, and reads them back (a resumed attempt), as does the api (the diff endpoint, pull
//! request bodies). The input is read two ways: as a stored object, and as the raw
//! material of a diff built from it.
//!
//! Checked, beyond not panicking:
//! - whatever JSON decodes as a diff encodes again to JSON that decodes to the same diff;
//! - any diff (paths, raw path bytes, hunks and lines of any text, every field's extreme
//!   values) decodes from its own encoding unchanged;
//! - a path's bytes as the diff gives them ([`FileDiff::path_bytes`]) are what it was
//!   built from, UTF-8 or not.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use shared::wire::{Diff, DiffLine, DiffSummary, FileChange, FileDiff, Hunk};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(stored) = serde_json::from_slice::<Diff>(data) {
        round_trips(&stored);
    }
    let mut u = Unstructured::new(data);
    if let Ok(built) = diff(&mut u) {
        round_trips(&built.0);
        for (file, raw) in built.0.files.iter().zip(&built.1) {
            assert_eq!(file.path_bytes().as_deref(), Some(&raw[..]));
        }
    }
});

fn round_trips(diff: &Diff) {
    let json = serde_json::to_vec(diff).expect("a diff encodes");
    let again: Diff = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "a diff does not decode from its own JSON: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(&again, diff);
}

/// A diff from fuzz bytes, with the raw bytes of each file's path.
fn diff(u: &mut Unstructured<'_>) -> arbitrary::Result<(Diff, Vec<Vec<u8>>)> {
    let mut files = Vec::new();
    let mut raws = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let raw: Vec<u8> = Arbitrary::arbitrary(u)?;
        let old: Option<Vec<u8>> = Arbitrary::arbitrary(u)?;
        let mut hunks = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let mut lines = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                lines.push(DiffLine {
                    origin: *u.choose(&['+', '-', ' '])?,
                    content: Arbitrary::arbitrary(u)?,
                });
            }
            hunks.push(Hunk {
                header: Arbitrary::arbitrary(u)?,
                old_start: Arbitrary::arbitrary(u)?,
                old_lines: Arbitrary::arbitrary(u)?,
                new_start: Arbitrary::arbitrary(u)?,
                new_lines: Arbitrary::arbitrary(u)?,
                lines,
            });
        }
        let mut file = FileDiff::new(
            &raw,
            *u.choose(&[
                FileChange::Added,
                FileChange::Modified,
                FileChange::Deleted,
                FileChange::Renamed,
            ])?,
        );
        file.set_old_path(old.as_deref());
        file.binary = Arbitrary::arbitrary(u)?;
        file.too_large = Arbitrary::arbitrary(u)?;
        file.symlink = Arbitrary::arbitrary(u)?;
        file.truncated = Arbitrary::arbitrary(u)?;
        file.additions = Arbitrary::arbitrary(u)?;
        file.deletions = Arbitrary::arbitrary(u)?;
        file.hunks = hunks;
        files.push(file);
        raws.push(raw);
    }
    let diff = Diff {
        version: Arbitrary::arbitrary(u)?,
        base_commit: Arbitrary::arbitrary(u)?,
        summary: DiffSummary {
            files_changed: Arbitrary::arbitrary(u)?,
            additions: Arbitrary::arbitrary(u)?,
            deletions: Arbitrary::arbitrary(u)?,
        },
        files,
        truncated: Arbitrary::arbitrary(u)?,
    };
    Ok((diff, raws))
}
