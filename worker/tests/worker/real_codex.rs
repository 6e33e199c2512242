//! The real Codex CLI (`codex app-server` at the worker's pinned version) through the
//! worker, against a local fake of OpenAI's Responses API. Codex ignores
//! `OPENAI_BASE_URL`: the profile's arguments add a model provider pointing at the fake.

use serde_json::json;
use shared::logs::OutputStream;
use shared::logs::{EntryContent, ToolStatus};
use shared::testing::model_api::{FakeModelApi, Turn};

use crate::attempt::{Scenario, entries_of, scenario};
use crate::real_agents::{
    assert_status, command_of, decide_in_order, follow_up_resumes, join, run_worker, says,
    spawn_worker, stop_mid_stream, tool_uses, usages, use_profile,
};

/// Codex's shell tool with the model's default metadata (no `apply_patch` is offered to
/// a model Codex has no metadata for).
const SHELL: &str = "exec_command";

/// Makes the scenario's attempt a Codex attempt under `policy`, talking to `fake`.
async fn make_codex_attempt(s: &Scenario, fake: &FakeModelApi, policy: &str) {
    let provider = format!(
        r#"model_providers.fake={{name="fake",base_url="{}/v1",wire_api="responses",env_key="OPENAI_API_KEY"}}"#,
        fake.url()
    );
    use_profile(
        s,
        "codex",
        policy,
        "gpt-5-codex",
        json!({ "OPENAI_API_KEY": "sk-fake-codex" }),
        &["-c", "model_provider=fake", "-c", &provider],
    )
    .await;
}

/// Auto policy: a command writes a file; the diff, the normalized conversation and the
/// tool output Codex sent back are checked; a follow-up on another worker resumes the
/// thread, and Codex sends the model the earlier turn.
#[tokio::test(flavor = "multi_thread")]
async fn real_codex_runs_a_command_that_edits_and_resumes_its_thread_on_another_worker() {
    let fake = FakeModelApi::start();
    let s = scenario("Write the release notes to notes.txt", None, None).await;
    make_codex_attempt(&s, &fake, "auto").await;
    fake.script([
        Turn::tool(
            SHELL,
            json!({ "cmd": "printf 'written by codex\\n' > notes.txt && cat notes.txt" }),
        )
        .with_thinking("The notes go in notes.txt")
        .with_text("Writing the notes.")
        .with_usage(3000, 50),
        Turn::text("The notes are written."),
    ]);
    s.enqueue().await;
    run_worker(&s, &fake).await;

    s.assert_succeeded().await;
    assert_eq!(
        std::fs::read_to_string(s.worktree().join("notes.txt")).expect("notes.txt"),
        "written by codex\n"
    );
    assert_eq!(s.diff_paths().await, ["notes.txt"]);
    assert_eq!(fake.remaining(), 0);
    let turns = fake.turn_requests();
    assert_eq!(
        turns[0].header("authorization"),
        Some("Bearer sk-fake-codex")
    );
    assert!(turns[0].body_text().contains("Write the release notes"));
    let second = turns[1].body_text();
    assert!(
        second.contains("function_call_output") && second.contains("written by codex"),
        "the command's output went back: {second}"
    );

    let process = s.process_row(s.process).await;
    let thread = process.agent_session_id.clone().expect("the thread id");
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:#?}");
    assert!(says(&entries, "Writing the notes."), "{shown}");
    assert!(says(&entries, "The notes are written."), "{shown}");
    let shell = tool_uses(&entries)
        .into_iter()
        .find(|t| format!("{:?}", t.action).contains("notes.txt"))
        .unwrap_or_else(|| panic!("the command is a tool use: {shown}"));
    assert_status(shell, ToolStatus::Success);
    let (command, output) = command_of(shell);
    assert!(command.contains("printf"), "{command}");
    assert!(
        output.is_some_and(|o| o.contains("written by codex")),
        "{shell:#?}"
    );
    assert!(
        usages(&entries).iter().any(|&(input, _)| input >= 3000),
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

    follow_up_resumes(
        &s,
        &fake,
        &thread,
        &[
            "Write the release notes",
            "Writing the notes.",
            "written by codex",
            "The notes are written.",
            "Now add a title",
        ],
    )
    .await;
}

/// Supervised: each command waits for the team; the approved one runs, the denied one
/// does not, and the turn goes on.
#[tokio::test(flavor = "multi_thread")]
async fn real_supervised_codex_follows_each_decision() {
    let fake = FakeModelApi::start();
    let s = scenario("Make approved.txt", None, None).await;
    make_codex_attempt(&s, &fake, "supervised").await;
    fake.script([
        Turn::tool(SHELL, json!({ "cmd": "printf yes > approved.txt" })),
        Turn::tool(SHELL, json!({ "cmd": "echo ran > denied.txt" })),
        Turn::text("Done as allowed."),
    ]);
    s.enqueue().await;
    let worker = spawn_worker(&s, &fake);
    let shown = decide_in_order(
        &s,
        &[("command_execution", true), ("command_execution", false)],
    )
    .await;
    join(worker).await;

    assert!(shown[0].to_string().contains("approved.txt"), "{shown:?}");
    assert!(shown[1].to_string().contains("echo ran"), "{shown:?}");
    s.assert_succeeded().await;
    assert!(s.worktree().join("approved.txt").exists());
    assert!(
        !s.worktree().join("denied.txt").exists(),
        "the denied command did not run"
    );
    assert_eq!(fake.turn_requests().len(), 3);
    let entries = entries_of(&s.stored_log(s.process).await);
    let statuses: Vec<ToolStatus> = tool_uses(&entries).iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [ToolStatus::Success, ToolStatus::Denied],
        "{entries:#?}"
    );
    assert!(says(&entries, "Done as allowed."), "{entries:#?}");
}

/// A stop in the middle of a streamed answer interrupts the turn: Codex hangs up on the
/// model and ends its turn, and the attempt ends cancelled.
#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_codex_mid_stream_interrupts_its_turn() {
    let fake = FakeModelApi::start();
    let s = scenario("Think at length", None, None).await;
    make_codex_attempt(&s, &fake, "auto").await;
    let process = stop_mid_stream(&s, &fake, "Codex").await;

    assert!(
        process.agent_session_id.is_some(),
        "the thread can be resumed"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    assert!(
        entries.iter().any(|e| matches!(&e.content, EntryContent::SystemMessage { text } if text == "Turn interrupted")),
        "{entries:#?}"
    );
}
