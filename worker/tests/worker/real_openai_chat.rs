//! The real OpenCode and Droid CLIs (at the worker's pinned versions) through the worker,
//! against a local fake of OpenAI's Chat Completions API: OpenCode through a custom
//! `@ai-sdk/openai-compatible` provider in `OPENCODE_CONFIG_CONTENT`, Droid through a
//! `generic-chat-completion-api` custom model in the file `FACTORY_RUNTIME_SETTINGS_PATH`
//! names.

use serde_json::{Value, json};
use shared::domain::AttemptStatus;
use shared::logs::{EntryContent, ToolAction, ToolStatus};
use shared::testing::model_api::{FakeModelApi, Turn};

use crate::attempt::{Scenario, entries_of, scenario};
use crate::real_agents::{
    decide_in_order, join, offered, run_worker, says, spawn_worker, stop_mid_stream, tool_uses,
    usages, use_profile,
};

/// Makes the attempt an OpenCode attempt under `policy` whose only provider is the fake.
async fn make_opencode_attempt(s: &Scenario, fake: &FakeModelApi, policy: &str) {
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": { "baseURL": format!("{}/v1", fake.url()), "apiKey": "sk-fake-opencode" },
                "models": { "fake-coder": { "name": "Fake Coder", "tool_call": true } },
            },
        },
        "model": "fake/fake-coder",
        "small_model": "fake/fake-coder",
        "autoupdate": false,
        "share": "disabled",
    });
    use_profile(
        s,
        "opencode",
        policy,
        "fake/fake-coder",
        json!({ "OPENCODE_CONFIG_CONTENT": config.to_string() }),
        &[],
    )
    .await;
}

/// A file the sandboxed agent can read: the sandbox has a private /tmp (where the test's
/// scratch lives) and sees the data dir only in part, so it goes beside the installed
/// CLIs, in a cache every uid can read. Removed when dropped.
struct ReadableFile(std::path::PathBuf);

impl ReadableFile {
    fn new(name: &str, contents: &str) -> ReadableFile {
        let agents = std::env::var("SWITCHYARD_TEST_AGENTS").expect("SWITCHYARD_TEST_AGENTS");
        let dir = std::path::Path::new(&agents)
            .parent()
            .expect("the cache")
            .join("test-scratch")
            .join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        for p in [dir.parent().expect("parent"), dir.as_path()] {
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
        }
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
        ReadableFile(path)
    }
}

impl Drop for ReadableFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A Droid scenario whose model is the fake's: a `generic-chat-completion-api` custom
/// model in the settings file `FACTORY_RUNTIME_SETTINGS_PATH` names.
async fn droid_scenario(prompt: &str, fake: &FakeModelApi) -> (Scenario, ReadableFile) {
    let custom = json!({
        "customModels": [{
            "model": "fake-coder",
            "displayName": "Fake",
            "baseUrl": format!("{}/v1", fake.url()),
            "apiKey": "sk-fake-droid",
            "provider": "generic-chat-completion-api",
            "maxOutputTokens": 8192,
        }],
    });
    let settings = ReadableFile::new("droid-settings.json", &custom.to_string());
    let s = scenario(prompt, None, None).await;
    use_profile(
        &s,
        "droid",
        "auto",
        "custom:Fake-0",
        json!({ "FACTORY_RUNTIME_SETTINGS_PATH": settings.0.display().to_string() }),
        &[],
    )
    .await;
    (s, settings)
}

/// Turns that write notes.txt, run a command on it and say they are done, with the
/// agent's tool names and argument shapes.
fn edit_turns(write: (&str, Value), shell: (&str, Value)) -> Vec<Turn> {
    vec![
        Turn::tool(write.0, write.1)
            .with_text("Writing the notes.")
            .with_usage(2500, 45),
        Turn::tool(shell.0, shell.1),
        Turn::text("The notes are written."),
    ]
}

/// The first run's checks, shared: the file, the diff, the conversation, what went back.
async fn check_edit_run(s: &Scenario, fake: &FakeModelApi) -> Vec<shared::logs::LogEntry> {
    let attempt = s.attempt_row().await;
    assert_eq!(
        attempt.status,
        AttemptStatus::Succeeded,
        "{:?}\n{}\n{:#?}",
        attempt.failure_reason,
        offered(fake),
        entries_of(&s.stored_log(s.process).await)
    );
    assert_eq!(
        std::fs::read_to_string(s.worktree().join("notes.txt"))
            .ok()
            .as_deref(),
        Some("written for real\n"),
        "{}",
        offered(fake)
    );
    assert_eq!(s.diff_paths().await, ["notes.txt"]);
    assert_eq!(fake.remaining(), 0, "{}", offered(fake));
    let turns = fake.turn_requests();
    assert!(turns[0].body_text().contains("Write the release notes"));
    assert!(
        turns[2].body_text().contains("written for real"),
        "the command's output went back: {}",
        turns[2].body_text()
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:#?}");
    assert!(says(&entries, "Writing the notes."), "{shown}");
    assert!(says(&entries, "The notes are written."), "{shown}");
    let tools = tool_uses(&entries);
    let edit = tools
        .iter()
        .find(|t| matches!(&t.action, ToolAction::FileEdit { path, .. } if path.ends_with("notes.txt")))
        .unwrap_or_else(|| panic!("the write is a file edit: {shown}"));
    assert_eq!(edit.status, ToolStatus::Success, "{shown}");
    let command = tools
        .iter()
        .find(|t| matches!(&t.action, ToolAction::CommandRun { command, .. } if command.contains("cat notes.txt")))
        .unwrap_or_else(|| panic!("the command is a command run: {shown}"));
    assert_eq!(command.status, ToolStatus::Success, "{shown}");
    assert!(
        usages(&entries).iter().any(|&(input, _)| input >= 2500),
        "token usage: {shown}"
    );
    entries
}

/// After a first run: a follow-up on another worker resumes the agent's session, and the
/// model gets the earlier conversation.
async fn check_follow_up(s: &Scenario, fake: &FakeModelApi) {
    let session = s
        .process_row(s.process)
        .await
        .agent_session_id
        .expect("the session id");
    fake.script([Turn::text("Still on it.")]);
    s.drop_agent_home();
    let follow_up = s.queue_follow_up("Now add a title").await;
    run_worker(s, fake).await;
    let entries = entries_of(&s.stored_log(follow_up).await);
    let attempt = s.attempt_row().await;
    assert_eq!(
        attempt.status,
        AttemptStatus::Succeeded,
        "{:?}\n{}\n{entries:#?}",
        attempt.failure_reason,
        offered(fake)
    );
    let resumed = s.process_row(follow_up).await;
    assert_eq!(
        resumed.agent_session_id.as_deref(),
        Some(session.as_str()),
        "{entries:#?}"
    );
    let sent = fake
        .turn_requests()
        .pop()
        .expect("the follow-up's turn")
        .body_text();
    for earlier in [
        "Write the release notes",
        "The notes are written.",
        "Now add a title",
    ] {
        assert!(
            sent.contains(earlier),
            "{earlier:?} is in the history: {sent}"
        );
    }
    assert!(says(&entries, "Still on it."), "{entries:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn real_opencode_edits_runs_and_resumes_its_session_on_another_worker() {
    let fake = FakeModelApi::start();
    let s = scenario("Write the release notes to notes.txt", None, None).await;
    make_opencode_attempt(&s, &fake, "auto").await;
    let notes = s.worktree().join("notes.txt").display().to_string();
    fake.script(edit_turns(
        (
            "write",
            json!({ "filePath": notes, "content": "written for real\n" }),
        ),
        (
            "bash",
            json!({ "command": "cat notes.txt", "description": "Show the notes" }),
        ),
    ));
    s.enqueue().await;
    run_worker(&s, &fake).await;
    // (The server's own stderr, "OPENCODE_SERVER_PASSWORD is not set", stays raw output.)
    check_edit_run(&s, &fake).await;
    check_follow_up(&s, &fake).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_supervised_opencode_follows_each_decision() {
    let fake = FakeModelApi::start();
    let s = scenario("Make approved.txt", None, None).await;
    make_opencode_attempt(&s, &fake, "supervised").await;
    let approved = s.worktree().join("approved.txt");
    fake.script([
        Turn::tool(
            "write",
            json!({ "filePath": approved.display().to_string(), "content": "yes\n" }),
        ),
        Turn::tool(
            "bash",
            json!({ "command": "echo ran > denied.txt", "description": "Mark" }),
        ),
        Turn::text("Done as allowed."),
    ]);
    s.enqueue().await;
    let worker = spawn_worker(&s, &fake);
    decide_in_order(&s, &[("edit", true), ("bash", false)]).await;
    join(worker).await;
    s.assert_succeeded().await;
    assert_eq!(
        std::fs::read_to_string(&approved).ok().as_deref(),
        Some("yes\n")
    );
    assert!(!s.worktree().join("denied.txt").exists());
    let entries = entries_of(&s.stored_log(s.process).await);
    let statuses: Vec<ToolStatus> = tool_uses(&entries).iter().map(|t| t.status).collect();
    assert!(
        statuses.contains(&ToolStatus::Success) && statuses.contains(&ToolStatus::Denied),
        "{entries:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_opencode_mid_stream_cancels_the_attempt() {
    let fake = FakeModelApi::start();
    let s = scenario("Think at length", None, None).await;
    make_opencode_attempt(&s, &fake, "auto").await;
    stop_mid_stream(&s, &fake, "the agent").await;
}

/// Auto policy (`--auto high`; Droid's stream-json has no approvals to supervise).
#[tokio::test(flavor = "multi_thread")]
async fn real_droid_edits_and_runs_commands() {
    let fake = FakeModelApi::start();
    let (s, _settings) = droid_scenario("Write the release notes to notes.txt", &fake).await;
    let notes = s.worktree().join("notes.txt").display().to_string();
    fake.script(edit_turns(
        (
            "Create",
            json!({ "file_path": notes, "content": "written for real\n" }),
        ),
        (
            "Execute",
            json!({ "command": "cat notes.txt", "summary": "Show the notes",
                    "riskLevel": "low", "riskLevelReason": "reads a file" }),
        ),
    ));
    s.enqueue().await;
    run_worker(&s, &fake).await;
    let entries = check_edit_run(&s, &fake).await;
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e.content, EntryContent::Output { .. })),
        "every line was understood: {entries:#?}"
    );
    // No follow-up here: `droid exec --session-id` fetches the session from Factory's
    // service (api.factory.ai), and without it exits 1 having printed nothing.
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_real_droid_mid_stream_cancels_the_attempt() {
    let fake = FakeModelApi::start();
    let (s, _settings) = droid_scenario("Think at length", &fake).await;
    stop_mid_stream(&s, &fake, "the agent").await;
}
