//! End to end with a real agent: the api, the scheduler and its `switchyard-worker`
//! processes run the real Claude Code CLI (the cached install `SWITCHYARD_TEST_AGENTS`
//! names, handed to the workers in `worker.agent_commands`) for an org's executor
//! profile, against a local fake of Anthropic's Messages API that the profile's
//! `ANTHROPIC_BASE_URL` names and the sandbox reaches through `worker.sandbox.loopback_ports`.

use reqwest::StatusCode;
use serde_json::json;
use shared::domain::AttemptStatus;
use shared::testing::model_api::{FakeModelApi, Turn};
use shared::wire;
use std::collections::HashMap;

use crate::e2e::Stack;
use crate::helpers::json_as;

/// The installed CLIs (executor → argv prefix); fails the test when they are missing.
pub(crate) fn agent_commands() -> HashMap<String, Vec<String>> {
    let path = std::env::var("SWITCHYARD_TEST_AGENTS").unwrap_or_else(|_| {
        panic!(
            "SWITCHYARD_TEST_AGENTS is not set: the real agent CLIs are installed by \
             scripts/test, or by `source scripts/lib/agents.sh && ensure_agents`"
        )
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("SWITCHYARD_TEST_AGENTS={path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_profile_runs_the_real_claude_code_through_the_stack_and_its_edit_shows() {
    let fake = FakeModelApi::start();
    let claude = agent_commands()
        .remove("claude-code")
        .expect("claude-code among the installed agents");
    let port = fake.port();
    let stack = Stack::start_configured(1, None, move |settings| {
        settings
            .worker
            .agent_commands
            .insert("claude-code".into(), claude);
        settings.worker.sandbox.loopback_ports = vec![port];
    })
    .await;
    let app = &stack.app;
    let res = app
        .post("executor-profiles", &claude_gateway_profile(&fake.url()))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    fake.script([
        Turn::tool(
            "Bash",
            json!({
                "command": "printf 'written by claude\\n' > notes.txt",
                "description": "Write the notes",
            }),
        )
        .with_text("I'll write the notes.")
        .with_usage(2000, 40),
        Turn::text("The notes are written."),
    ]);

    let project = app.create_project("Real agents", None).await;
    let task = app.create_task(project.id, "Release notes").await;
    let attempt: wire::Attempt = json_as(
        app.post(
            &format!("tasks/{}/attempts", task.id),
            &json!({
                "prompt": "Write the release notes to notes.txt",
                "executor": "claude-code",
                "profile": "gateway-claude",
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let done = stack.app.wait_finished(attempt.id).await;
    let process = stack.app.processes(attempt.id).await.remove(0);
    let logs = stack.app.logs(process.id).await;
    assert_eq!(done.status, AttemptStatus::Succeeded, "{done:?}\n{logs:#}");

    let diff: wire::Diff = json_as(
        app.get(&format!("attempts/{}/diff", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    let paths: Vec<&str> = diff.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["notes.txt"], "{diff:?}");
    let turns = fake.turn_requests();
    assert_eq!(turns[0].header("x-api-key"), Some("sk-ant-fake-key"));
    assert!(turns[0].body_text().contains("Write the release notes"));

    let entries = logs["entries"].as_array().expect("entries");
    let bash = entries
        .iter()
        .find(|e| e["type"] == "tool_use" && e["tool_name"] == "Bash")
        .unwrap_or_else(|| panic!("a Bash tool card: {logs:#}"));
    assert_eq!(bash["status"], "success", "{bash:#}");
    assert_eq!(bash["action"]["kind"], "command_run", "{bash:#}");
    assert!(
        bash["action"]["command"]
            .as_str()
            .is_some_and(|c| c.contains("notes.txt")),
        "{bash:#}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["type"] == "assistant_message" && e["text"] == "The notes are written."),
        "{logs:#}"
    );
    assert!(done.usage.input_tokens >= 2000, "{done:?}");
    stack.stop().await;
}

/// The org profile `gateway-claude`: the real Claude Code in the auto policy, pointed at
/// a fake of the Messages API at `url`.
pub fn claude_gateway_profile(url: &str) -> serde_json::Value {
    json!({
        "name": "gateway-claude",
        "executor": "claude-code",
        "variants": { "default": {
            "permission_policy": "auto",
            "model": "claude-sonnet-4-5",
            "env": {
                "ANTHROPIC_BASE_URL": url,
                "ANTHROPIC_API_KEY": "sk-ant-fake-key",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_AUTOUPDATER": "1",
            },
        }},
    })
}
