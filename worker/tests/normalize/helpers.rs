//! Feeding normalizers, checking their patches, and comparing snapshots.

use chrono::Utc;
use serde_json::Value;
use shared::logs::{EntryContent, LogEntry, ToolAction, ToolStatus, ToolUse, apply};
use std::path::{Path, PathBuf};
use worker::normalize::{EntryPatch, Normalizer, Protocol, TokenTotals, for_protocol};

/// The recorded transcripts (read-only ground truth).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/agent-logs")
}

/// Where the snapshots of this binary live.
pub fn snapshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/normalize/snapshots")
}

/// Every fixture file (`<agent>/<file>`), sorted.
pub fn fixture_files() -> Vec<String> {
    let mut out = Vec::new();
    let dirs = std::fs::read_dir(fixtures_dir()).expect("fixtures dir beside the checkout");
    for dir in dirs {
        let dir = dir.expect("dir entry").path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("agent dir") {
            let file = file.expect("file entry").path();
            let agent = dir.file_name().expect("name").to_string_lossy();
            let name = file.file_name().expect("name").to_string_lossy();
            out.push(format!("{agent}/{name}"));
        }
    }
    out.sort();
    out
}

/// The protocol a fixture is in.
pub fn protocol_of(fixture: &str) -> Protocol {
    match fixture.split('/').next().unwrap_or("") {
        "claude-code" => Protocol::ClaudeCode,
        "codex" => Protocol::Codex,
        "cursor" => Protocol::CursorAgent,
        "droid" => Protocol::Droid,
        "gemini" if fixture.ends_with(".json") => Protocol::GeminiJson,
        "gemini" => Protocol::GeminiStreamJson,
        "opencode" => Protocol::OpenCode,
        other => panic!("no protocol for fixture folder {other}"),
    }
}

/// A fixture's stdout lines as the agent printed them. The Claude Code recordings are a
/// pretty-printed JSON array of events: each element becomes one line, as Claude
/// printed it.
pub fn fixture_lines(fixture: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures_dir().join(fixture)).expect("read fixture");
    if fixture.starts_with("claude-code/") {
        let events: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
        return events
            .iter()
            .map(|e| serde_json::to_string(e).expect("serialize"))
            .collect();
    }
    text.lines().map(str::to_owned).collect()
}

/// The outcome of feeding a normalizer.
pub struct Run {
    pub entries: Vec<LogEntry>,
    pub patches: usize,
    pub session_id: Option<String>,
    pub usage: TokenTotals,
}

/// Applies patches to `entries`, asserting they only append at the end or replace an
/// existing entry.
pub fn apply_checked(entries: &mut Vec<LogEntry>, patches: Vec<EntryPatch>, context: &str) {
    for patch in patches {
        match &patch {
            EntryPatch::Append(_) => {}
            EntryPatch::Replace { index, .. } => assert!(
                *index < entries.len(),
                "replace of entry {index} with only {} entries ({context})",
                entries.len()
            ),
        }
        let before = entries.len();
        let mut len = before as u64;
        let log_patch = patch.into_log_patch(0, &mut len);
        if let shared::logs::PatchOp::Append = log_patch.op {
            assert_eq!(log_patch.index as usize, before, "append not at the end");
        }
        apply(entries, &log_patch);
    }
}

/// Feeds stdout lines (then `finish`) to a fresh normalizer.
pub fn run_lines<S: AsRef<str>>(protocol: Protocol, lines: &[S]) -> Run {
    let mut n = for_protocol(protocol);
    run_with(n.as_mut(), lines)
}

/// Feeds stdout lines (then `finish`) to `n`.
pub fn run_with<S: AsRef<str>>(n: &mut dyn Normalizer, lines: &[S]) -> Run {
    let mut entries = Vec::new();
    let mut patches = 0;
    for (i, line) in lines.iter().enumerate() {
        let p = n.stdout_line(line.as_ref());
        patches += p.len();
        apply_checked(&mut entries, p, &format!("line {i}"));
    }
    let p = n.finish();
    patches += p.len();
    apply_checked(&mut entries, p, "finish");
    Run {
        entries,
        patches,
        session_id: n.session_id().map(str::to_owned),
        usage: n.token_usage(),
    }
}

/// Runs a fixture through its protocol's normalizer.
pub fn run_fixture(fixture: &str) -> Run {
    run_lines(protocol_of(fixture), &fixture_lines(fixture))
}

/// The tool uses among the entries.
pub fn tools(entries: &[LogEntry]) -> Vec<&ToolUse> {
    entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::ToolUse(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// How many tool uses have `status`.
pub fn count_status(tools: &[&ToolUse], status: ToolStatus) -> usize {
    tools.iter().filter(|t| t.status == status).count()
}

/// The entries' `type` tags, in order (for shape assertions).
pub fn kinds(entries: &[LogEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            serde_json::to_value(e).expect("serialize")["type"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Whether an action is a command run.
pub fn is_command(t: &ToolUse) -> bool {
    matches!(t.action, ToolAction::CommandRun { .. })
}

/// The entries as a snapshot: JSON, with timestamps the normalizer made up (it had
/// none from the agent, so it used the current time) replaced by `[now]`.
pub fn snapshot_json(entries: &[LogEntry]) -> String {
    let now = Utc::now();
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).expect("serialize");
            if (now - e.timestamp).num_minutes().abs() < 30 {
                v["timestamp"] = Value::String("[now]".into());
            }
            v
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&list).expect("serialize");
    text.push('\n');
    text
}

/// Compares `actual` with the stored snapshot `name`. A missing snapshot is written
/// (outside CI); `UPDATE_SNAPSHOTS=1` rewrites it. On a mismatch the new text is left in
/// `<name>.new` for review.
pub fn assert_snapshot(name: &str, actual: &str) {
    let dir = snapshots_dir();
    let path = dir.join(format!("{name}.json"));
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    match std::fs::read_to_string(&path) {
        Ok(expected) if !update => {
            if expected != actual {
                let new = dir.join(format!("{name}.json.new"));
                std::fs::write(&new, actual).expect("write .new snapshot");
                let line = expected
                    .lines()
                    .zip(actual.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
                panic!(
                    "snapshot {name} differs from line {} on; the new one is in {} \
                     (review it, then rerun with UPDATE_SNAPSHOTS=1)",
                    line + 1,
                    new.display()
                );
            }
        }
        _ => {
            assert!(
                update || std::env::var("CI").is_err(),
                "snapshot {name} is missing (run the tests once outside CI to create it)"
            );
            std::fs::create_dir_all(&dir).expect("snapshots dir");
            std::fs::write(&path, actual).expect("write snapshot");
        }
    }
}
