//! OpenCode runs through the worker end to end, its fake serving OpenCode's local HTTP
//! API and event stream, on real Postgres, Redis and S3.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::execution_processes;
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::logs::{EntryContent, LogEntry, ToolStatus};
use std::time::{Duration, Instant};

use crate::attempt::{Scenario, entries_of, join, run_agent_worker, scenario, spawn_agent_worker};

/// Makes the scenario's attempt an OpenCode attempt started with `policy`.
async fn make_opencode_attempt(s: &Scenario, policy: &str) {
    s.use_agent(
        "opencode",
        serde_json::json!({ "permission_policy": policy, "model": "anthropic/claude-sonnet" }),
    )
    .await;
}

fn says(entries: &[LogEntry], wanted: &str) -> bool {
    entries
        .iter()
        .any(|e| matches!(&e.content, EntryContent::AssistantMessage { text } if text == wanted))
}

/// The raw output entries: there should be none (the server's start-up line is dropped,
/// and every event is understood).
fn raw_output(entries: &[LogEntry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::Output { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The status of the first tool use whose debug form mentions `needle`.
fn tool_status(entries: &[LogEntry], needle: &str) -> Option<ToolStatus> {
    entries.iter().find_map(|e| match &e.content {
        EntryContent::ToolUse(t) if format!("{t:?}").contains(needle) => Some(t.status),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn opencode_edits_files_normalized_and_a_follow_up_resumes_its_session_from_the_store() {
    let s = scenario(
        "say hello from opencode\nthink about the notes\nwrite notes.txt written by opencode\nbash cat notes.txt",
        None,
        None,
    )
    .await;
    make_opencode_attempt(&s, "auto").await;
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
    assert_eq!(process.status, ProcessStatus::Succeeded);
    let session = process
        .agent_session_id
        .clone()
        .expect("the session id is recorded");
    assert!(session.starts_with("ses_"), "{session}");
    let log = s.stored_log(s.process).await;
    let entries = entries_of(&log);
    let shown = format!("{entries:?}");
    assert!(says(&entries, "hello from opencode"), "{shown}");
    assert!(
        entries.iter().any(
            |e| matches!(&e.content, EntryContent::Thinking { text } if text == "about the notes")
        ),
        "{shown}"
    );
    assert!(
        entries.iter().any(
            |e| matches!(&e.content, EntryContent::UserMessage { text } if text.contains("say hello from opencode"))
        ),
        "the prompt is shown as the user's: {shown}"
    );
    assert_eq!(raw_output(&entries), Vec::<String>::new(), "{shown}");
    assert_eq!(
        tool_status(&entries, "notes.txt"),
        Some(ToolStatus::Success),
        "{shown}"
    );
    assert!(
        shown.contains("written by opencode"),
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
        "written by opencode\n"
    );
    let saved = s
        .store
        .list(&worker::sessions::prefix(s.org, s.attempt))
        .await
        .expect("list");
    assert!(
        saved.iter().any(
            |k| k.contains(".local/share/opencode/") && k.ends_with(&format!("{session}.json"))
        ),
        "{saved:?}"
    );

    // A follow-up on a worker that has never seen the attempt: the home is gone.
    s.drop_agent_home();
    let follow_up = s.queue_follow_up("history").await;
    run_agent_worker(&s).await;

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
        Some(session.as_str()),
        "the same session continues"
    );
    let entries = entries_of(&s.stored_log(follow_up).await);
    assert!(
        says(&entries, "resumed session with 1 earlier turns"),
        "{entries:?}"
    );
    assert_eq!(raw_output(&entries), Vec::<String>::new(), "{entries:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_opencode_turn_fails_the_process_although_the_server_was_stopped_cleanly() {
    let s = scenario("say trying\nfail the provider is down", None, None).await;
    make_opencode_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;

    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Failed);
    assert!(
        process
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("the provider is down")),
        "{:?}",
        process.failure_reason
    );
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Failed);
}

#[tokio::test(flavor = "multi_thread")]
async fn supervised_opencode_waits_for_each_decision_and_follows_it() {
    let s = scenario(
        "write approved.txt yes\nbash echo ran > denied.txt\nsay done",
        None,
        None,
    )
    .await;
    make_opencode_attempt(&s, "supervised").await;
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
            // The edit is approved, the command denied.
            let approve = match p.tool_name.as_str() {
                "edit" => {
                    assert!(
                        p.input.to_string().contains("approved.txt"),
                        "the change is shown for review: {}",
                        p.input
                    );
                    true
                }
                "bash" => {
                    assert!(p.input.to_string().contains("echo ran"), "{}", p.input);
                    false
                }
                other => panic!("unexpected tool {other}"),
            };
            assert!(p.tool_call_id.is_some(), "the call is named");
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
    assert_eq!(decided, ["edit", "bash"], "one at a time, in order");
    join(worker).await;

    s.assert_succeeded().await;
    assert!(s.worktree().join("approved.txt").exists());
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
async fn stopping_an_opencode_attempt_aborts_its_session_and_cancels_the_attempt() {
    let s = scenario(
        "say working\nbash touch started.txt && sleep 30\nsay never said",
        None,
        None,
    )
    .await;
    make_opencode_attempt(&s, "auto").await;
    s.enqueue().await;
    let worker = spawn_agent_worker(&s);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.worktree().join("started.txt").exists() {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped_at = Instant::now();
    s.request_stop().await;
    join(worker).await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(20),
        "the abort ended the turn, not the command's sleep"
    );

    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Cancelled);
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(process.failure_reason.as_deref(), Some("stopped by user"));
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    assert!(says(&entries, "working"), "{shown}");
    assert!(!says(&entries, "never said"), "{shown}");
    assert!(
        entries.iter().any(
            |e| matches!(&e.content, EntryContent::Error { text } if text.contains("MessageAbortedError"))
        ),
        "the abort is shown: {shown}"
    );
    assert!(
        process.agent_session_id.is_some(),
        "the session can be resumed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_opencode_follow_up_whose_session_is_unknown_goes_on_in_a_new_one_with_the_history() {
    let s = scenario("say first turn", None, None).await;
    make_opencode_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);
    // A session the server has never heard of (its files lost).
    let lost = "ses_lostlostlostlostlost";
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(s.process))
        .set(execution_processes::agent_session_id.eq(Some(lost)))
        .execute(&mut conn)
        .await
        .expect("forget the session");
    let follow_up = s
        .queue_follow_up("history\nwrite after.txt still working")
        .await;
    run_agent_worker(&s).await;

    s.assert_succeeded().await;
    let process = s.process_row(follow_up).await;
    let session = process.agent_session_id.expect("a new session is recorded");
    assert_ne!(session, lost);
    let entries = entries_of(&s.stored_log(follow_up).await);
    let shown = format!("{entries:?}");
    assert!(
        says(&entries, "resumed session with 0 earlier turns"),
        "{shown}"
    );
    assert!(
        entries.iter().any(|e| matches!(
            &e.content,
            EntryContent::UserMessage { text } if text.contains("say first turn") && text.contains("write after.txt")
        )),
        "the earlier request is replayed before the new one: {shown}"
    );
    assert!(s.worktree().join("after.txt").exists());
}
