//! Codex runs through the worker end to end, its fake speaking the app-server JSON-RPC
//! over stdio, on real Postgres, Redis and S3.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::execution_processes;
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::logs::{EntryContent, LogEntry, ToolStatus};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::attempt::{Scenario, entries_of, join, run_agent_worker, scenario, spawn_agent_worker};

/// Makes the scenario's attempt a Codex attempt started with `policy`.
async fn make_codex_attempt(s: &Scenario, policy: &str) {
    s.use_agent(
        "codex",
        serde_json::json!({ "permission_policy": policy, "reasoning_effort": "high" }),
    )
    .await;
}

fn says(entries: &[LogEntry], wanted: &str) -> bool {
    entries
        .iter()
        .any(|e| matches!(&e.content, EntryContent::AssistantMessage { text } if text == wanted))
}

fn no_raw_output(entries: &[LogEntry]) -> bool {
    !entries
        .iter()
        .any(|e| matches!(e.content, EntryContent::Output { .. }))
}

/// The status of the first tool use whose debug form mentions `needle`.
fn tool_status(entries: &[LogEntry], needle: &str) -> Option<ToolStatus> {
    entries.iter().find_map(|e| match &e.content {
        EntryContent::ToolUse(t) if format!("{t:?}").contains(needle) => Some(t.status),
        _ => None,
    })
}

/// Queues a follow-up with `prompt` after wiping the agent's home (as if it ran on
/// another worker), runs it, and returns the follow-up process.
async fn follow_up_elsewhere(s: &Scenario, prompt: &str) -> Uuid {
    s.drop_agent_home();
    let follow_up = s.queue_follow_up(prompt).await;
    run_agent_worker(s).await;
    follow_up
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_edits_files_normalized_and_a_follow_up_resumes_its_thread_from_the_store() {
    let s = scenario(
        "say hello from codex\nthink about the notes\nwrite notes.txt written by codex\nbash cat notes.txt",
        None,
        None,
    )
    .await;
    make_codex_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;

    let first = s.attempt_row().await;
    assert_eq!(
        first.status,
        AttemptStatus::Succeeded,
        "{:?}",
        first.failure_reason
    );
    let process = s.process_row(s.process).await;
    assert_eq!(
        process.exit_code,
        Some(0),
        "the server exits once input ends"
    );
    let thread = process
        .agent_session_id
        .clone()
        .expect("the thread id is recorded");
    let log = s.stored_log(s.process).await;
    let seqs: Vec<u64> = log.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, (0..log.len() as u64).collect::<Vec<_>>());
    let entries = entries_of(&log);
    let shown = format!("{entries:?}");
    assert!(says(&entries, "hello from codex"), "{shown}");
    assert!(
        entries.iter().any(
            |e| matches!(&e.content, EntryContent::Thinking { text } if text == "about the notes")
        ),
        "{shown}"
    );
    assert!(
        no_raw_output(&entries),
        "every line was understood: {shown}"
    );
    assert_eq!(
        tool_status(&entries, "notes.txt"),
        Some(ToolStatus::Success),
        "{shown}"
    );
    assert_eq!(
        tool_status(&entries, "cat notes.txt"),
        Some(ToolStatus::Success),
        "{shown}"
    );
    assert!(
        shown.contains("written by codex"),
        "the command's output is on its entry: {shown}"
    );
    assert!(
        entries
            .iter()
            .any(|e| matches!(e.content, EntryContent::TokenUsage { .. })),
        "{shown}"
    );
    assert_eq!(
        std::fs::read_to_string(s.worktree().join("notes.txt")).expect("notes.txt"),
        "written by codex\n"
    );
    assert_eq!(s.diff_paths().await, vec!["notes.txt"]);
    // The thread's rollout went to the object store with the rest of the agent's home.
    let saved = s
        .store
        .list(&worker::sessions::prefix(s.org, s.attempt))
        .await
        .expect("list");
    assert!(
        saved
            .iter()
            .any(|k| k.contains(".codex/sessions/") && k.ends_with(&format!("-{thread}.jsonl"))),
        "{saved:?}"
    );

    let follow_up = follow_up_elsewhere(&s, "history").await;
    let second = s.attempt_row().await;
    assert_eq!(
        second.status,
        AttemptStatus::Succeeded,
        "{:?}",
        second.failure_reason
    );
    let resumed = s.process_row(follow_up).await;
    assert_eq!(
        resumed.agent_session_id.as_deref(),
        Some(thread.as_str()),
        "the same thread continues"
    );
    let entries = entries_of(&s.stored_log(follow_up).await);
    assert!(
        says(&entries, "resumed session with 1 earlier turns"),
        "{entries:?}"
    );
    assert!(no_raw_output(&entries), "{entries:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_codex_follow_up_whose_thread_is_unknown_goes_on_in_a_new_thread() {
    let s = scenario("say first turn", None, None).await;
    make_codex_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);
    // A thread the agent has never heard of (its files lost).
    let lost = "019a0000-0000-7000-8000-000000000000";
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(s.process))
        .set(execution_processes::agent_session_id.eq(Some(lost)))
        .execute(&mut conn)
        .await
        .expect("forget the thread");

    let follow_up = follow_up_elsewhere(&s, "history\nwrite after.txt still working").await;
    s.assert_succeeded().await;
    let process = s.process_row(follow_up).await;
    let thread = process.agent_session_id.expect("a new thread is recorded");
    assert_ne!(thread, lost);
    let entries = entries_of(&s.stored_log(follow_up).await);
    let shown = format!("{entries:?}");
    assert!(
        entries
            .iter()
            .any(|e| matches!(&e.content, EntryContent::Error { text } if text.contains(lost))),
        "the failed resume is shown: {shown}"
    );
    assert!(
        says(&entries, "resumed session with 0 earlier turns"),
        "{shown}"
    );
    assert!(s.worktree().join("after.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn supervised_codex_waits_for_each_decision_and_follows_it() {
    let s = scenario(
        "write approved.txt yes\nbash echo ran > denied.txt\nsay done",
        None,
        None,
    )
    .await;
    make_codex_attempt(&s, "supervised").await;
    s.enqueue().await;
    let worker = spawn_agent_worker(&s);
    let mut redis = s.redis().await;
    let mut decided = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while decided.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "approvals were requested: {decided:?}"
        );
        for p in shared::approvals::pending(&mut redis, &s.keys, s.attempt)
            .await
            .expect("pending")
        {
            // The file change is approved, the command denied.
            let approve = match p.tool_name.as_str() {
                "file_change" => {
                    assert!(
                        p.input.to_string().contains("approved.txt"),
                        "the change is shown for review: {}",
                        p.input
                    );
                    true
                }
                "command_execution" => {
                    assert!(
                        p.input["command"]
                            .as_str()
                            .unwrap_or("")
                            .contains("echo ran")
                    );
                    false
                }
                other => panic!("unexpected tool {other}"),
            };
            let decision = shared::approvals::Decision {
                approve,
                reason: Some("not this one".into()),
            };
            assert!(
                shared::approvals::decide(&mut redis, &s.keys, s.attempt, p.id, &decision)
                    .await
                    .expect("decide")
            );
            decided.push(p.tool_name);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        decided,
        ["file_change", "command_execution"],
        "one at a time, in order"
    );
    join(worker).await;

    s.assert_succeeded().await;
    assert!(
        s.worktree().join("approved.txt").exists(),
        "the approved write happened"
    );
    assert!(
        !s.worktree().join("denied.txt").exists(),
        "the denied command did not run"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    assert_eq!(
        tool_status(&entries, "approved.txt"),
        Some(ToolStatus::Success),
        "{shown}"
    );
    assert_eq!(
        tool_status(&entries, "echo ran"),
        Some(ToolStatus::Denied),
        "{shown}"
    );
    assert!(
        says(&entries, "done"),
        "the turn went on after the denial: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_codex_attempt_interrupts_its_turn_and_cancels_the_attempt() {
    let s = scenario(
        "say working\nbash touch started.txt && sleep 30\nsay never said",
        None,
        None,
    )
    .await;
    make_codex_attempt(&s, "auto").await;
    s.enqueue().await;
    let worker = spawn_agent_worker(&s);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.worktree().join("started.txt").exists() {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.request_stop().await;
    join(worker).await;

    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Cancelled);
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(process.failure_reason.as_deref(), Some("stopped by user"));
    assert_eq!(
        process.exit_code,
        Some(0),
        "the agent ended its turn and exited by itself, not by a kill"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    assert!(says(&entries, "working"), "{shown}");
    assert!(!says(&entries, "never said"), "{shown}");
    assert!(
        entries.iter().any(|e| matches!(&e.content, EntryContent::SystemMessage { text } if text == "Turn interrupted")),
        "{shown}"
    );
    assert!(
        process.agent_session_id.is_some(),
        "the thread can be resumed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_codex_turn_that_fails_fails_the_attempt_with_codexs_message() {
    // The server exits 0 after a failed turn: its own word decides.
    let s = scenario(
        "say working on it\nfail unexpected status 401 Unauthorized: invalid api key\nsay never said",
        None,
        None,
    )
    .await;
    make_codex_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    let attempt = s.attempt_row().await;
    assert_eq!(
        attempt.status,
        AttemptStatus::Failed,
        "{:?}",
        attempt.failure_reason
    );
    let reason = attempt.failure_reason.expect("a failure reason");
    assert_eq!(
        reason,
        "agent turn failed: unexpected status 401 Unauthorized: invalid api key"
    );
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Failed);
    assert_eq!(process.failure_reason.as_deref(), Some(reason.as_str()));
    let entries = entries_of(&s.stored_log(s.process).await);
    assert!(says(&entries, "working on it"), "{entries:?}");
    assert!(!says(&entries, "never said"), "{entries:?}");
}
