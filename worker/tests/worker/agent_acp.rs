//! The Agent Client Protocol agents (Gemini CLI, Qwen Code, GitHub Copilot CLI) run
//! through the worker end to end, their fake speaking ACP over stdio, on real Postgres,
//! Redis and S3.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::execution_processes;
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::logs::{EntryContent, LogEntry, ToolStatus};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::attempt::{Scenario, entries_of, join, run_agent_worker, scenario, spawn_agent_worker};

/// Makes the scenario's attempt one of `executor` started with `policy`.
async fn make_acp_attempt(s: &Scenario, executor: &str, policy: &str) {
    s.use_agent(executor, serde_json::json!({ "permission_policy": policy }))
        .await;
}

/// Whether an agent message holds `wanted` (ACP's message chunks carry no message id, so
/// consecutive ones, replayed history included, read as one message).
fn says(entries: &[LogEntry], wanted: &str) -> bool {
    entries.iter().any(
        |e| matches!(&e.content, EntryContent::AssistantMessage { text } if text.contains(wanted)),
    )
}

/// Queues a follow-up with `prompt` after wiping the agent's home (as if it ran on
/// another worker), runs it, and returns the follow-up process.
async fn follow_up_elsewhere(s: &Scenario, prompt: &str) -> Uuid {
    s.drop_agent_home();
    let follow_up = s.queue_follow_up(prompt).await;
    run_agent_worker(s).await;
    follow_up
}

/// One turn that edits a file and runs a command, then a follow-up on a wiped home that
/// loads the same session from the stored session files.
async fn acp_agent_runs_normalized_and_resumes(executor: &str) {
    let s = scenario(
        "say hello from acp\nwrite notes.txt written over acp\nbash cat notes.txt",
        None,
        None,
    )
    .await;
    make_acp_attempt(&s, executor, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;

    let first = s.attempt_row().await;
    assert_eq!(
        first.status,
        AttemptStatus::Succeeded,
        "{executor}: {:?}",
        first.failure_reason
    );
    let session = s
        .process_row(s.process)
        .await
        .agent_session_id
        .expect("the agent's session id is recorded");
    let log = s.stored_log(s.process).await;
    let seqs: Vec<u64> = log.iter().map(|p| p.seq).collect();
    assert_eq!(
        seqs,
        (0..log.len() as u64).collect::<Vec<_>>(),
        "{executor}"
    );
    let entries = entries_of(&log);
    let shown = format!("{entries:?}");
    assert!(says(&entries, "hello from acp"), "{executor}: {shown}");
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e.content, EntryContent::Output { .. })),
        "{executor}: every line was understood: {shown}"
    );
    let tool_status = |needle: &str| {
        entries.iter().find_map(|e| match &e.content {
            EntryContent::ToolUse(t) if format!("{t:?}").contains(needle) => Some(t.status),
            _ => None,
        })
    };
    assert_eq!(
        tool_status("Write notes.txt"),
        Some(ToolStatus::Success),
        "{executor}: {shown}"
    );
    assert!(
        shown.contains("written over acp"),
        "{executor}: the command's output is on its entry: {shown}"
    );
    assert_eq!(
        std::fs::read_to_string(s.worktree().join("notes.txt")).expect("notes.txt"),
        "written over acp\n"
    );
    assert_eq!(s.diff_paths().await, vec!["notes.txt"], "{executor}");

    let follow_up = follow_up_elsewhere(&s, "history").await;
    let second = s.attempt_row().await;
    assert_eq!(
        second.status,
        AttemptStatus::Succeeded,
        "{executor}: {:?}",
        second.failure_reason
    );
    let resumed = s.process_row(follow_up).await;
    assert_eq!(
        resumed.agent_session_id.as_deref(),
        Some(session.as_str()),
        "{executor}: the same session continues"
    );
    let entries = entries_of(&s.stored_log(follow_up).await);
    assert!(
        says(&entries, "resumed session with 1 earlier turns"),
        "{executor}: {entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_over_acp_edits_files_normalized_and_a_follow_up_loads_its_session() {
    acp_agent_runs_normalized_and_resumes("gemini").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn qwen_code_over_acp_runs_normalized_and_a_follow_up_loads_its_session() {
    acp_agent_runs_normalized_and_resumes("qwen-code").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copilot_over_acp_runs_normalized_and_a_follow_up_loads_its_session() {
    acp_agent_runs_normalized_and_resumes("copilot").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_whose_acp_session_is_gone_continues_in_a_new_session() {
    let s = scenario("say first turn", None, None).await;
    make_acp_attempt(&s, "gemini", "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    let first = s
        .process_row(s.process)
        .await
        .agent_session_id
        .expect("session recorded");
    // The stored session files are lost too: `session/load` fails, a new session runs.
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(s.process))
        .set(execution_processes::agent_session_id.eq(Some("no-such-session")))
        .execute(&mut conn)
        .await
        .expect("point at a lost session");
    let follow_up = follow_up_elsewhere(&s, "history\nsay still working").await;
    s.assert_succeeded().await;
    let process = s.process_row(follow_up).await;
    let session = process.agent_session_id.expect("a session id");
    assert_ne!(session, "no-such-session");
    assert_ne!(session, first);
    let entries = entries_of(&s.stored_log(follow_up).await);
    assert!(says(&entries, "still working"), "{entries:?}");
    assert!(
        entries.iter().any(|e| matches!(&e.content, EntryContent::Error { text } if text.contains("no-such-session"))),
        "the failed resume shows: {entries:?}"
    );
    assert!(
        says(&entries, "resumed session with 0 earlier turns"),
        "{entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn supervised_acp_tool_calls_wait_for_a_decision_and_follow_it() {
    let s = scenario("write approved.txt yes\nwrite denied.txt no", None, None).await;
    make_acp_attempt(&s, "gemini", "supervised").await;
    s.enqueue().await;
    let worker = spawn_agent_worker(&s);
    let mut redis = s.redis().await;
    let mut decided = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while decided < 2 {
        assert!(Instant::now() < deadline, "no approval was requested");
        let pending = shared::approvals::pending(&mut redis, &s.keys, s.attempt)
            .await
            .expect("pending");
        for p in pending {
            assert_eq!(p.tool_name, "edit");
            let approve = p.input["file_path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("approved.txt");
            let decision = shared::approvals::Decision {
                approve,
                reason: Some("not this one".into()),
            };
            assert!(
                shared::approvals::decide(&mut redis, &s.keys, s.attempt, p.id, &decision)
                    .await
                    .expect("decide")
            );
            decided += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    join(worker).await;
    s.assert_succeeded().await;
    assert!(
        s.worktree().join("approved.txt").exists(),
        "the approved write happened"
    );
    assert!(
        !s.worktree().join("denied.txt").exists(),
        "the denied write did not"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    let status_of = |file: &str| {
        entries.iter().find_map(|e| match &e.content {
            EntryContent::ToolUse(t) if t.summary.contains(file) => Some(t.status),
            _ => None,
        })
    };
    assert_eq!(
        status_of("approved.txt"),
        Some(ToolStatus::Success),
        "{shown}"
    );
    assert_eq!(status_of("denied.txt"), Some(ToolStatus::Denied), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_cancels_the_acp_turn_gracefully_and_the_attempt() {
    let s = scenario("say working on it\nwait 60\nsay never said", None, None).await;
    make_acp_attempt(&s, "copilot", "auto").await;
    s.enqueue().await;
    let worker = spawn_agent_worker(&s);
    // Stop once the agent is mid-turn (its first message is live).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut redis = s.redis().await;
    loop {
        assert!(
            Instant::now() < deadline,
            "the agent never started its turn"
        );
        let tail = shared::bus::read_tail(&mut redis, &s.keys, s.process)
            .await
            .expect("tail");
        let stored = s.stored_log(s.process).await;
        if format!("{tail:?}{stored:?}").contains("working on it") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    s.request_stop().await;
    join(worker).await;

    let row = s.attempt_row().await;
    assert_eq!(row.status, AttemptStatus::Cancelled);
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(process.failure_reason.as_deref(), Some("stopped by user"));
    assert!(
        process.agent_session_id.is_some(),
        "the session survives the stop"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    assert!(
        shown.contains("The turn was cancelled"),
        "the agent ended its turn on session/cancel: {shown}"
    );
    assert!(!says(&entries, "never said"), "{shown}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the stop did not wait for the turn"
    );
}

/// Runs one ACP turn of `executor` on `prompt` (auto policy) and returns the attempt's
/// status and failure reason with the process's.
async fn one_acp_turn(
    executor: &str,
    prompt: &str,
) -> (
    Scenario,
    AttemptStatus,
    Option<String>,
    ProcessStatus,
    Option<String>,
) {
    let s = scenario(prompt, None, None).await;
    make_acp_attempt(&s, executor, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    let attempt = s.attempt_row().await;
    let process = s.process_row(s.process).await;
    (
        s,
        attempt.status,
        attempt.failure_reason,
        process.status,
        process.failure_reason,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acp_prompt_answered_with_an_error_fails_the_attempt_in_the_agents_words() {
    // Qwen Code answers the prompt with an error once every model call failed, and then
    // exits 0: the attempt must not read as a success.
    let (s, attempt, reason, process, process_reason) = one_acp_turn(
        "qwen-code",
        "say trying\nfail [API Error: 401 invalid api key]",
    )
    .await;
    assert_eq!(attempt, AttemptStatus::Failed, "{reason:?}");
    assert_eq!(process, ProcessStatus::Failed);
    let reason = reason.expect("a failure reason");
    assert!(
        reason.contains("agent turn failed") && reason.contains("[API Error: 401 invalid api key]"),
        "{reason}"
    );
    assert_eq!(process_reason.as_deref(), Some(reason.as_str()));
    let entries = entries_of(&s.stored_log(s.process).await);
    assert!(says(&entries, "trying"), "{entries:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acp_turn_that_stops_on_a_refusal_fails_the_attempt() {
    let (_s, attempt, reason, process, _) = one_acp_turn("gemini", "say hmm\nrefuse").await;
    assert_eq!(attempt, AttemptStatus::Failed, "{reason:?}");
    assert_eq!(process, ProcessStatus::Failed);
    let reason = reason.expect("a failure reason");
    assert!(reason.contains("refusal"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agents_own_mid_turn_request_is_answered_at_once_and_the_turn_goes_on() {
    // Qwen Code asks `craft/drainMidTurnQueue` between tool batches and waits for the
    // answer; method-not-found tells it to stop asking.
    let (s, attempt, reason, _, _) = one_acp_turn(
        "qwen-code",
        "ask craft/drainMidTurnQueue\nwrite after.txt drained\nask x/y\nsay turn goes on",
    )
    .await;
    assert_eq!(attempt, AttemptStatus::Succeeded, "{reason:?}");
    let entries = entries_of(&s.stored_log(s.process).await);
    assert!(
        says(&entries, "craft/drainMidTurnQueue answered error -32601"),
        "{entries:?}"
    );
    assert!(says(&entries, "x/y answered error -32601"), "{entries:?}");
    assert!(says(&entries, "turn goes on"), "{entries:?}");
    assert_eq!(
        std::fs::read_to_string(s.worktree().join("after.txt")).expect("after.txt"),
        "drained\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_trusts_the_attempts_worktree_whatever_its_profile_says() {
    // Gemini CLI ignores --yolo in a folder it does not trust; a profile turning the
    // trust off by accident must not make every tool call wait for a decision.
    let s = scenario("env GEMINI_CLI_TRUST_WORKSPACE", None, None).await;
    s.use_agent(
        "gemini",
        serde_json::json!({
            "permission_policy": "auto",
            "env": { "GEMINI_CLI_TRUST_WORKSPACE": "false" },
        }),
    )
    .await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    s.assert_succeeded().await;
    let entries = entries_of(&s.stored_log(s.process).await);
    assert!(
        says(&entries, "GEMINI_CLI_TRUST_WORKSPACE=true"),
        "{entries:?}"
    );
}
