//! What the tests of the real agent CLIs share: the CLIs at their pinned versions (installed
//! by `scripts/lib/agents.sh`, named by `SWITCHYARD_TEST_AGENTS`), a worker that runs them
//! against a local fake of the vendor's model API, and the team's decisions on approvals.

use serde_json::{Value, json};
use shared::db::models::ExecutionProcess;
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::logs::{EntryContent, LogEntry, ToolAction, ToolStatus, ToolUse};
use shared::testing::model_api::{FakeModelApi, Turn};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crate::attempt::{Scenario, entries_of};

/// A real agent's turn, with the CLI's start-up, stays well under this.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(50);

/// The installed CLIs: executor → the argv prefix that starts it. Fails the test (not
/// skips it) when they are not installed.
pub(crate) fn agent_commands() -> HashMap<String, Vec<String>> {
    let path = std::env::var("SWITCHYARD_TEST_AGENTS").unwrap_or_else(|_| {
        panic!(
            "SWITCHYARD_TEST_AGENTS is not set: the real agent CLIs are installed by \
             scripts/test, or by `source scripts/lib/agents.sh && ensure_agents`"
        )
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("SWITCHYARD_TEST_AGENTS={path}: {e}"));
    let commands: HashMap<String, Vec<String>> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (agent, argv) in &commands {
        for part in argv.iter().take(2).filter(|p| p.starts_with('/')) {
            assert!(
                std::path::Path::new(part).is_file(),
                "{agent}: {part} is missing; run ensure_agents again"
            );
        }
    }
    commands
}

/// The scenario's settings with the real CLIs and the caches they share (as
/// `scripts/run` configures them), and the fake's port reachable from the attempt's
/// sandbox.
pub(crate) fn settings(s: &Scenario, fake: &FakeModelApi) -> shared::config::Settings {
    let mut settings = s.settings();
    settings.worker.agent_commands = agent_commands();
    settings.worker.agent_cache_dir = Some(
        std::env::var("SWITCHYARD_TEST_AGENT_CACHE")
            .expect("SWITCHYARD_TEST_AGENT_CACHE (worker.agent_cache_dir, set by ensure_agents)")
            .into(),
    );
    settings.worker.sandbox.loopback_ports = vec![fake.port()];
    settings
}

/// Runs a worker until it has run one attempt's turn.
pub(crate) async fn run_worker(s: &Scenario, fake: &FakeModelApi) {
    let run = worker::run(settings(s, fake), CancellationToken::new());
    tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("the worker finishes the real agent's turn in time")
        .expect("the worker runs");
}

/// Starts a worker in the background.
pub(crate) fn spawn_worker(
    s: &Scenario,
    fake: &FakeModelApi,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(worker::run(settings(s, fake), CancellationToken::new()))
}

/// Waits for a worker started by [`spawn_worker`].
pub(crate) async fn join(worker: tokio::task::JoinHandle<anyhow::Result<()>>) {
    tokio::time::timeout(RUN_LIMIT, worker)
        .await
        .expect("the worker ends in time")
        .expect("join")
        .expect("the worker runs");
}

/// Answers the attempt's approval requests in the order they come: each `(tool name,
/// approve)` must match the next request. Returns the inputs the team was shown.
pub(crate) async fn decide_in_order(
    s: &Scenario,
    decisions: &[(&str, bool)],
) -> Vec<serde_json::Value> {
    let mut redis = s.redis().await;
    let mut shown = Vec::new();
    let deadline = Instant::now() + RUN_LIMIT;
    while shown.len() < decisions.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} approvals were requested",
            shown.len(),
            decisions.len()
        );
        for p in shared::approvals::pending(&mut redis, &s.keys, s.attempt)
            .await
            .expect("pending")
        {
            let Some(&(tool, approve)) = decisions.get(shown.len()) else {
                panic!(
                    "an approval beyond those expected: {} {}",
                    p.tool_name, p.input
                );
            };
            assert_eq!(p.tool_name, tool, "approval {}: {}", shown.len(), p.input);
            let decision = shared::approvals::Decision {
                approve,
                reason: Some("not this one".into()),
            };
            assert!(
                shared::approvals::decide(&mut redis, &s.keys, s.attempt, p.id, &decision)
                    .await
                    .expect("decide")
            );
            shown.push(p.input);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shown
}

/// Makes the scenario's attempt one of `executor` under `policy`: the profile's model,
/// its `env` (which points the agent at the fake) and, when not empty, `extra_args`.
pub(crate) async fn use_profile(
    s: &Scenario,
    executor: &str,
    policy: &str,
    model: &str,
    env: Value,
    extra_args: &[&str],
) {
    let mut options = json!({ "permission_policy": policy, "model": model, "env": env });
    if !extra_args.is_empty() {
        options["extra_args"] = json!(extra_args);
    }
    s.use_agent(executor, options).await;
}

/// A stalled answer, a stop: the attempt ends cancelled, its process killed "stopped by
/// user", and `who` hangs up on the model. Returns the stopped process.
pub(crate) async fn stop_mid_stream(
    s: &Scenario,
    fake: &FakeModelApi,
    who: &str,
) -> ExecutionProcess {
    fake.script([Turn::text("Let me think about this for a long while").stalled()]);
    s.enqueue().await;
    let worker = spawn_worker(s, fake);
    fake.wait_stalled(Duration::from_secs(40)).await;
    s.request_stop().await;
    join(worker).await;
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Cancelled);
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(process.failure_reason.as_deref(), Some("stopped by user"));
    fake.wait_for(
        &format!("{who} hang up on the stalled stream"),
        Duration::from_secs(10),
        |r| r.iter().any(|r| r.turn == Some(0) && r.aborted),
    )
    .await;
    process
}

/// After a first turn that left `session`: a follow-up ("Now add a title") on another
/// worker, without the agent's home, resumes that session, and the model gets each of
/// `earlier` in the history.
pub(crate) async fn follow_up_resumes(
    s: &Scenario,
    fake: &FakeModelApi,
    session: &str,
    earlier: &[&str],
) {
    fake.script([Turn::text("Still on it.")]);
    s.drop_agent_home();
    let follow_up = s.queue_follow_up("Now add a title").await;
    run_worker(s, fake).await;
    s.assert_succeeded().await;
    let resumed = s.process_row(follow_up).await;
    assert_eq!(resumed.agent_session_id.as_deref(), Some(session));
    let sent = fake
        .turn_requests()
        .pop()
        .expect("the follow-up's turn")
        .body_text();
    for earlier in earlier {
        assert!(
            sent.contains(earlier),
            "{earlier:?} is in the resumed history"
        );
    }
    let entries = entries_of(&s.stored_log(follow_up).await);
    assert!(says(&entries, "Still on it."), "{entries:#?}");
}

/// The fake's requests, one a line, for failure messages.
pub(crate) fn offered(fake: &FakeModelApi) -> String {
    fake.requests()
        .iter()
        .map(|r| {
            format!(
                "{} {} turn={:?} tools={:?}",
                r.method,
                r.path,
                r.turn,
                r.tool_names()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The tool uses of a conversation.
pub(crate) fn tool_uses(entries: &[LogEntry]) -> Vec<&ToolUse> {
    entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::ToolUse(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// The first tool use named `name`, failing the test with the conversation otherwise.
pub(crate) fn tool_named<'a>(entries: &'a [LogEntry], name: &str) -> &'a ToolUse {
    tool_uses(entries)
        .into_iter()
        .find(|t| t.tool_name == name)
        .unwrap_or_else(|| panic!("no {name} tool use in {entries:#?}"))
}

/// Whether an assistant message says exactly `wanted`.
pub(crate) fn says(entries: &[LogEntry], wanted: &str) -> bool {
    entries.iter().any(
        |e| matches!(&e.content, EntryContent::AssistantMessage { text } if text.trim() == wanted),
    )
}

/// The token usage entries' (input, output) counts.
pub(crate) fn usages(entries: &[LogEntry]) -> Vec<(u64, u64)> {
    entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::TokenUsage {
                input_tokens,
                output_tokens,
                ..
            } => Some((*input_tokens, *output_tokens)),
            _ => None,
        })
        .collect()
}

/// A command run's command and output, failing the test when the use is not one.
pub(crate) fn command_of(tool: &ToolUse) -> (&str, Option<&str>) {
    match &tool.action {
        ToolAction::CommandRun {
            command, output, ..
        } => (command.as_str(), output.as_deref()),
        other => panic!("{} is not a command run: {other:?}", tool.tool_name),
    }
}

/// Asserts a tool use ended with `status`.
pub(crate) fn assert_status(tool: &ToolUse, status: ToolStatus) {
    assert_eq!(tool.status, status, "{tool:#?}");
}
