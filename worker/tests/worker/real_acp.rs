//! The real Agent Client Protocol CLIs (Gemini CLI, Qwen Code, GitHub Copilot CLI, at the
//! worker's pinned versions) through the worker, each against a local fake of its vendor's
//! model API: Gemini's `generateContent`, and OpenAI Chat Completions for the other two.

use serde_json::{Value, json};
use shared::domain::AttemptStatus;
use shared::logs::OutputStream;
use shared::logs::{EntryContent, ToolStatus};
use shared::testing::model_api::{FakeModelApi, Turn};

use crate::attempt::{Scenario, entries_of, scenario};
use crate::real_agents::{
    decide_in_order, join, offered, run_worker, spawn_worker, stop_mid_stream, tool_uses, usages,
    use_profile,
};

/// How one ACP agent is pointed at its fake, and the model's names for its tools.
struct AcpAgent {
    executor: &'static str,
    model: &'static str,
    env: fn(&FakeModelApi) -> Value,
    /// A call of its file-writing tool: (tool name, arguments for an absolute path).
    write: fn(&str, &str) -> (String, Value),
    /// A call of its shell tool.
    shell: fn(&str) -> (String, Value),
    /// Whether a follow-up loads the agent's own session (`session/load`), so the model
    /// hears the whole earlier conversation; otherwise the worker replays the earlier
    /// requests in the prompt of a new session.
    loads_session: bool,
    /// The approvals a supervised turn that writes a file and then runs a command asks
    /// for, by ACP tool kind, and the team's answers.
    supervised_asks: &'static [(&'static str, bool)],
    /// Whether a denied tool call leaves the turn going (the model hears of the denial),
    /// or ends it.
    continues_after_denial: bool,
    /// Whether its ACP updates carry token usage (Gemini CLI's and Qwen Code's do not).
    reports_usage: bool,
}

const GEMINI: AcpAgent = AcpAgent {
    executor: "gemini",
    model: "gemini-2.5-pro",
    env: |fake| {
        json!({
            "GOOGLE_GEMINI_BASE_URL": fake.url(),
            "GEMINI_API_KEY": "fake-gemini-key",
            // No GEMINI_CLI_TRUST_WORKSPACE: the worker trusts the worktree itself.
        })
    },
    write: |path, content| {
        (
            "write_file".into(),
            json!({ "file_path": path, "content": content }),
        )
    },
    shell: |command| {
        (
            "run_shell_command".into(),
            json!({ "command": command, "description": "run it" }),
        )
    },
    // Gemini CLI 0.61 answers `session/load` with "No previous sessions found for this
    // project" even on the worker that ran the first turn, its home untouched: the chat
    // it should load is not in ~/.gemini/tmp/<project>/chats when the process ends.
    loads_session: false,
    supervised_asks: &[("edit", true), ("execute", false)],
    continues_after_denial: true,
    reports_usage: false,
};

const QWEN: AcpAgent = AcpAgent {
    executor: "qwen-code",
    model: "qwen3-coder-plus",
    env: |fake| {
        json!({
            "OPENAI_BASE_URL": format!("{}/v1", fake.url()),
            "OPENAI_API_KEY": "sk-fake-qwen",
            "OPENAI_MODEL": "qwen3-coder-plus",
        })
    },
    write: |path, content| {
        (
            "write_file".into(),
            json!({ "file_path": path, "content": content }),
        )
    },
    shell: |command| {
        (
            "run_shell_command".into(),
            json!({ "command": command, "description": "run it", "is_background": false }),
        )
    },
    // `session/resume` answers "Resource not found: session:<id>", on another worker and
    // on the same one alike.
    loads_session: false,
    // Qwen Code writes a new file in its default approval mode without asking.
    supervised_asks: &[("execute", false)],
    // A rejected command cancels the ACP turn ("was canceled by the user").
    continues_after_denial: false,
    reports_usage: false,
};

const COPILOT: AcpAgent = AcpAgent {
    executor: "copilot",
    model: "gpt-5",
    env: |fake| {
        json!({
            "COPILOT_PROVIDER_BASE_URL": format!("{}/v1", fake.url()),
            "COPILOT_PROVIDER_API_KEY": "sk-fake-copilot",
            "COPILOT_MODEL": "gpt-5",
        })
    },
    write: |path, content| {
        (
            "create".into(),
            json!({ "path": path, "file_text": content }),
        )
    },
    shell: |command| {
        (
            "bash".into(),
            json!({ "command": command, "description": "run it" }),
        )
    },
    // `session/load` answers "Session <id> not found": Copilot keeps its sessions'
    // index in ~/.copilot/session-store.db, beside the session-state/ the worker saves.
    loads_session: false,
    supervised_asks: &[("edit", true), ("execute", false)],
    // A rejected tool call cancels Copilot's turn ("Operation cancelled by user").
    continues_after_denial: false,
    reports_usage: true,
};

/// Makes the scenario's attempt one of `agent` under `policy`, talking to `fake`.
async fn make_attempt(s: &Scenario, agent: &AcpAgent, fake: &FakeModelApi, policy: &str) {
    use_profile(
        s,
        agent.executor,
        policy,
        agent.model,
        (agent.env)(fake),
        &[],
    )
    .await;
}

/// ACP message chunks carry no message id: consecutive ones read as one message.
fn says(entries: &[shared::logs::LogEntry], wanted: &str) -> bool {
    entries.iter().any(
        |e| matches!(&e.content, EntryContent::AssistantMessage { text } if text.contains(wanted)),
    )
}

/// Auto policy: a file written and a command run; the diff, the normalized conversation
/// and the results sent back; then a follow-up on another worker, whose model request
/// carries the earlier turn.
async fn edits_runs_and_follows_up(agent: &AcpAgent) {
    let fake = FakeModelApi::start();
    let s = scenario("Write the release notes to notes.txt", None, None).await;
    make_attempt(&s, agent, &fake, "auto").await;
    let notes = s.worktree().join("notes.txt");
    let (write, write_args) = (agent.write)(&notes.display().to_string(), "written over acp\n");
    let (shell, shell_args) = (agent.shell)("cat notes.txt");
    fake.script([
        Turn::tool(write.clone(), write_args)
            .with_text("Writing the notes.")
            .with_usage(2500, 45),
        Turn::tool(shell.clone(), shell_args),
        Turn::text("The notes are written."),
    ]);
    s.enqueue().await;
    run_worker(&s, &fake).await;

    let attempt = s.attempt_row().await;
    assert_eq!(
        attempt.status,
        AttemptStatus::Succeeded,
        "{}: {:?}\n{}",
        agent.executor,
        attempt.failure_reason,
        offered(&fake)
    );
    assert_eq!(
        std::fs::read_to_string(&notes).ok().as_deref(),
        Some("written over acp\n"),
        "{}",
        offered(&fake)
    );
    assert_eq!(s.diff_paths().await, ["notes.txt"]);
    assert_eq!(fake.remaining(), 0, "{}", offered(&fake));
    // Copilot read its runtime from worker.agent_cache_dir instead of unpacking it here.
    let home = worker::sessions::home_dir(
        &std::path::absolute(&s.env.settings.worker.data_dir).expect("abs"),
        s.attempt,
    );
    assert!(home.is_dir(), "{}", home.display());
    assert!(
        !home.join(".cache/copilot/pkg").exists(),
        "{}: nothing unpacked into the attempt's home",
        agent.executor
    );
    let turns = fake.turn_requests();
    assert!(turns[0].body_text().contains("Write the release notes"));
    assert!(
        turns[2].body_text().contains("written over acp"),
        "the command's output went back: {}",
        turns[2].body_text()
    );
    let session = s
        .process_row(s.process)
        .await
        .agent_session_id
        .expect("the session id");
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:#?}");
    assert!(says(&entries, "Writing the notes."), "{shown}");
    assert!(says(&entries, "The notes are written."), "{shown}");
    let tools = tool_uses(&entries);
    let edit = tools
        .iter()
        .find(|t| matches!(&t.action, shared::logs::ToolAction::FileEdit { path, .. } if path.ends_with("notes.txt")))
        .unwrap_or_else(|| panic!("the write is a file edit: {shown}"));
    assert_eq!(edit.status, ToolStatus::Success, "{shown}");
    let command = tools
        .iter()
        .find(|t| matches!(&t.action, shared::logs::ToolAction::CommandRun { command, .. } if command.contains("cat notes.txt")))
        .unwrap_or_else(|| panic!("the command is a command run: {shown}"));
    assert_eq!(command.status, ToolStatus::Success, "{shown}");
    assert_eq!(
        // Copilot reports the turn's total: every model call's usage added up.
        usages(&entries).iter().any(|&(input, _)| input >= 2500),
        agent.reports_usage,
        "token usage: {shown}"
    );
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

    fake.script([Turn::text("Still on it.")]);
    s.drop_agent_home();
    let follow_up = s.queue_follow_up("Now add a title").await;
    run_worker(&s, &fake).await;
    s.assert_succeeded().await;
    let resumed = s.process_row(follow_up).await;
    let entries = entries_of(&s.stored_log(follow_up).await);
    let sent = fake
        .turn_requests()
        .pop()
        .expect("the follow-up's turn")
        .body_text();
    let earlier: &[&str] = if agent.loads_session {
        assert_eq!(
            resumed.agent_session_id.as_deref(),
            Some(session.as_str()),
            "{entries:#?}"
        );
        &[
            "Write the release notes",
            "The notes are written.",
            "Now add a title",
        ]
    } else {
        // A new session whose prompt replays the earlier request.
        assert!(resumed.agent_session_id.is_some_and(|id| id != session));
        &["Write the release notes", "Now add a title"]
    };
    for text in earlier {
        assert!(
            sent.contains(text),
            "{text:?} is in what the model got: {sent}"
        );
    }
    let entries = entries_of(&s.stored_log(follow_up).await);
    assert!(says(&entries, "Still on it."), "{entries:#?}");
}

/// Supervised: the write is approved, the command denied.
async fn follows_each_decision(agent: &AcpAgent) {
    let fake = FakeModelApi::start();
    let s = scenario("Make approved.txt", None, None).await;
    make_attempt(&s, agent, &fake, "supervised").await;
    let approved = s.worktree().join("approved.txt");
    let (write, write_args) = (agent.write)(&approved.display().to_string(), "yes\n");
    let (shell, shell_args) = (agent.shell)("echo ran > denied.txt");
    fake.script([
        Turn::tool(write, write_args),
        Turn::tool(shell, shell_args),
        Turn::text("Done as allowed."),
    ]);
    s.enqueue().await;
    let worker = spawn_worker(&s, &fake);
    decide_in_order(&s, agent.supervised_asks).await;
    join(worker).await;

    s.assert_succeeded().await;
    assert_eq!(
        std::fs::read_to_string(&approved).ok().as_deref(),
        Some("yes\n"),
        "{}",
        offered(&fake)
    );
    assert!(
        !s.worktree().join("denied.txt").exists(),
        "the denied command did not run"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let tools = tool_uses(&entries);
    let denied = tools
        .iter()
        .find(|t| matches!(&t.action, shared::logs::ToolAction::CommandRun { command, .. } if command.contains("denied.txt")))
        .unwrap_or_else(|| panic!("the denied command is shown: {entries:#?}"));
    assert_eq!(denied.status, ToolStatus::Denied, "{entries:#?}");
    let written = tools
        .iter()
        .find(|t| matches!(&t.action, shared::logs::ToolAction::FileEdit { path, .. } if path.ends_with("approved.txt")))
        .unwrap_or_else(|| panic!("the write is shown: {entries:#?}"));
    assert_eq!(written.status, ToolStatus::Success, "{entries:#?}");
    let turns = fake.turn_requests();
    if agent.continues_after_denial {
        assert_eq!(turns.len(), 3, "{}", offered(&fake));
        assert!(says(&entries, "Done as allowed."), "{entries:#?}");
    } else {
        assert!(
            !says(&entries, "Done as allowed."),
            "the denial ended the turn: {entries:#?}"
        );
    }
}

/// A stop while the model's answer is streaming cancels the attempt; the agent hangs up.
async fn stops_mid_stream(agent: &AcpAgent) {
    let fake = FakeModelApi::start();
    let s = scenario("Think at length", None, None).await;
    make_attempt(&s, agent, &fake, "auto").await;
    stop_mid_stream(&s, &fake, "the agent").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_gemini_edits_runs_and_follows_up_on_another_worker() {
    edits_runs_and_follows_up(&GEMINI).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_supervised_gemini_follows_each_decision() {
    follows_each_decision(&GEMINI).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_gemini_mid_stream_cancels_the_attempt() {
    stops_mid_stream(&GEMINI).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_qwen_code_edits_runs_and_follows_up_on_another_worker() {
    edits_runs_and_follows_up(&QWEN).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_supervised_qwen_code_follows_each_decision() {
    follows_each_decision(&QWEN).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_qwen_code_mid_stream_cancels_the_attempt() {
    stops_mid_stream(&QWEN).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_copilot_edits_runs_and_follows_up_on_another_worker() {
    edits_runs_and_follows_up(&COPILOT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_supervised_copilot_follows_each_decision() {
    follows_each_decision(&COPILOT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_copilot_mid_stream_cancels_the_attempt() {
    stops_mid_stream(&COPILOT).await;
}
