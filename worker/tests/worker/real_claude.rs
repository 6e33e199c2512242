//! The real Claude Code CLI (at the worker's pinned version) through the worker, against
//! a local fake of Anthropic's Messages API: what it does with the model's tool calls, how
//! the worker normalizes what it prints, approvals, follow-ups and stops.

use serde_json::json;
use shared::logs::OutputStream;
use shared::logs::{EntryContent, FileChange, ToolAction, ToolStatus};
use shared::testing::model_api::{FakeModelApi, Turn};

use crate::attempt::{Scenario, entries_of, scenario};
use crate::real_agents::{
    assert_status, command_of, decide_in_order, follow_up_resumes, join, run_worker, says,
    spawn_worker, stop_mid_stream, tool_named, usages, use_profile,
};

/// Makes the scenario's attempt a Claude Code attempt under `policy`, talking to `fake`.
async fn make_claude_attempt(s: &Scenario, fake: &FakeModelApi, policy: &str) {
    let env = json!({
        "ANTHROPIC_BASE_URL": fake.url(),
        "ANTHROPIC_API_KEY": "sk-ant-fake-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    });
    use_profile(s, "claude-code", policy, "claude-sonnet-4-5", env, &[]).await;
}

/// Auto policy: the model writes a file and runs a command; the diff, the normalized
/// conversation and what Claude Code sent back are checked; then a follow-up on another
/// worker resumes the same session with its history.
///
/// Waits on the worker's sandbox: as root, Claude Code refuses
/// `--dangerously-skip-permissions`; the sandbox runs it as an unprivileged uid.
#[tokio::test(flavor = "multi_thread")]
async fn real_claude_code_edits_runs_commands_and_resumes_its_session_on_another_worker() {
    let fake = FakeModelApi::start();
    let s = scenario("Write the release notes to notes.txt", None, None).await;
    make_claude_attempt(&s, &fake, "auto").await;
    let notes = s.worktree().join("notes.txt");
    fake.script([
        Turn::tool(
            "Write",
            json!({ "file_path": notes.display().to_string(), "content": "written by claude\n" }),
        )
        .with_thinking("The notes go in notes.txt")
        .with_text("I'll write the notes.")
        .with_usage(2000, 40),
        Turn::tool(
            "Bash",
            json!({ "command": "cat notes.txt", "description": "Show the notes" }),
        ),
        Turn::text("The notes are written."),
    ]);
    s.enqueue().await;
    run_worker(&s, &fake).await;

    s.assert_succeeded().await;
    assert_eq!(
        std::fs::read_to_string(&notes).expect("notes.txt"),
        "written by claude\n"
    );
    assert_eq!(s.diff_paths().await, ["notes.txt"]);
    assert_eq!(fake.remaining(), 0, "every scripted turn was asked for");
    let turns = fake.turn_requests();
    assert_eq!(turns[0].header("x-api-key"), Some("sk-ant-fake-key"));
    assert!(turns[0].body_text().contains("Write the release notes"));
    assert!(
        turns[1].body_text().contains("tool_result"),
        "the Write's result went back: {}",
        turns[1].body_text()
    );
    assert!(
        turns[2].body_text().contains("written by claude"),
        "the command's output went back"
    );

    let process = s.process_row(s.process).await;
    let session = process.agent_session_id.clone().expect("the session id");
    assert!(process.input_tokens >= 2000, "{process:?}");
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:#?}");
    assert!(says(&entries, "I'll write the notes."), "{shown}");
    assert!(says(&entries, "The notes are written."), "{shown}");
    assert!(
        entries.iter().any(|e| matches!(&e.content, EntryContent::Thinking { text } if text.contains("notes go in"))),
        "{shown}"
    );
    let write = tool_named(&entries, "Write");
    assert_status(write, ToolStatus::Success);
    match &write.action {
        ToolAction::FileEdit { path, changes } => {
            assert!(path.ends_with("notes.txt"), "{path}");
            assert!(
                changes.iter().any(|c| matches!(c, FileChange::Write { content } if content == "written by claude\n")),
                "{changes:?}"
            );
        }
        other => panic!("Write is a file edit: {other:?}"),
    }
    let bash = tool_named(&entries, "Bash");
    assert_status(bash, ToolStatus::Success);
    let (command, output) = command_of(bash);
    assert_eq!(command, "cat notes.txt");
    assert!(
        output.is_some_and(|o| o.contains("written by claude")),
        "{bash:#?}"
    );
    assert!(!usages(&entries).is_empty(), "token usage: {shown}");
    assert!(
        !entries.iter().any(|e| matches!(
            e.content,
            EntryContent::Output {
                stream: OutputStream::Stdout,
                ..
            }
        )),
        // The agent's own notices on stderr are plain output; every protocol line on
        // stdout must have been understood.
        "every line was understood: {shown}"
    );

    // The follow-up runs on a worker without the agent's home: the session comes back
    // from the object store and Claude Code sends the model the whole conversation.
    follow_up_resumes(
        &s,
        &fake,
        &session,
        &[
            "Write the release notes",
            "I'll write the notes.",
            "written by claude",
            "The notes are written.",
            "Now add a title",
        ],
    )
    .await;
}

/// Supervised: Claude Code asks before each tool; the approved write happens, the denied
/// command does not, the model hears of the denial; a follow-up on another worker resumes.
#[tokio::test(flavor = "multi_thread")]
async fn real_supervised_claude_code_follows_each_decision_and_resumes() {
    let fake = FakeModelApi::start();
    let s = scenario("Make approved.txt", None, None).await;
    make_claude_attempt(&s, &fake, "supervised").await;
    let approved = s.worktree().join("approved.txt");
    fake.script([
        Turn::tool(
            "Write",
            json!({ "file_path": approved.display().to_string(), "content": "yes\n" }),
        ),
        Turn::tool(
            "Bash",
            json!({ "command": "echo ran > denied.txt", "description": "Mark" }),
        ),
        Turn::text("Done as allowed."),
    ]);
    s.enqueue().await;
    let worker = spawn_worker(&s, &fake);
    let shown = decide_in_order(&s, &[("Write", true), ("Bash", false)]).await;
    join(worker).await;

    assert!(shown[0].to_string().contains("approved.txt"), "{shown:?}");
    assert!(shown[1].to_string().contains("echo ran"), "{shown:?}");
    s.assert_succeeded().await;
    assert_eq!(
        std::fs::read_to_string(&approved).expect("approved"),
        "yes\n"
    );
    assert!(
        !s.worktree().join("denied.txt").exists(),
        "the denied command did not run"
    );
    let turns = fake.turn_requests();
    assert_eq!(turns.len(), 3);
    assert!(
        turns[2].body_text().contains("not this one"),
        "the denial reached the model: {}",
        turns[2].body_text()
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    assert_status(tool_named(&entries, "Write"), ToolStatus::Success);
    assert_status(tool_named(&entries, "Bash"), ToolStatus::Denied);
    assert!(says(&entries, "Done as allowed."), "{entries:#?}");
    let session = s
        .process_row(s.process)
        .await
        .agent_session_id
        .expect("session");

    fake.script([Turn::text("Resumed.")]);
    s.drop_agent_home();
    let follow_up = s.queue_follow_up("Anything else?").await;
    run_worker(&s, &fake).await;
    s.assert_succeeded().await;
    assert_eq!(
        s.process_row(follow_up).await.agent_session_id.as_deref(),
        Some(session.as_str())
    );
    let sent = fake
        .turn_requests()
        .pop()
        .expect("follow-up turn")
        .body_text();
    assert!(sent.contains("Make approved.txt") && sent.contains("Done as allowed."));
}

/// A stop in the middle of a streamed answer interrupts Claude Code, which hangs up on
/// the model; the attempt ends cancelled and the session can be resumed.
#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_claude_code_mid_stream_cancels_the_attempt() {
    let fake = FakeModelApi::start();
    let s = scenario("Think at length", None, None).await;
    make_claude_attempt(&s, &fake, "supervised").await;
    stop_mid_stream(&s, &fake, "Claude Code").await;

    let entries = entries_of(&s.stored_log(s.process).await);
    assert!(
        !says(&entries, "Let me think about this for a long while"),
        "{entries:#?}"
    );
}
