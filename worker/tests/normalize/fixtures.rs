//! Every recorded transcript: a snapshot of the final entry list, and the facts a
//! reader of each transcript would check.

use serde_json::Value;
use shared::logs::{EntryContent, FileChange, TodoStatus, ToolAction, ToolStatus};

use crate::helpers::*;

/// The snapshot name of a fixture: `claude-code/terragon-bash-test.json` →
/// `claude-code__terragon-bash-test`.
fn snapshot_name(fixture: &str) -> String {
    let flat = fixture.replace('/', "__");
    match flat.rsplit_once('.') {
        Some((stem, _)) => stem.to_owned(),
        None => flat,
    }
}

#[test]
fn every_recorded_transcript_matches_its_snapshot() {
    let files: Vec<String> = fixture_files()
        .into_iter()
        .filter(|f| !f.ends_with(".md"))
        .collect();
    assert_eq!(
        files.len(),
        17,
        "the recorded transcripts changed: {files:?}"
    );
    for fixture in &files {
        let run = run_fixture(fixture);
        assert!(!run.entries.is_empty(), "{fixture} gave no entries");
        assert_snapshot(&snapshot_name(fixture), &snapshot_json(&run.entries));
    }
}

#[test]
fn every_recorded_transcript_names_its_session() {
    let expected = [
        (
            "claude-code/terragon-bash-test.json",
            Some("9c3fc96f-5c01-4799-918f-0634283e1ada"),
        ),
        (
            "claude-code/terragon-edit-test.json",
            Some("79002436-ca47-48a6-ac92-96d4343b6a77"),
        ),
        (
            "claude-code/terragon-task-subagent-test.json",
            Some("1d83341e-ae14-4f52-b7e2-67651c9eb29a"),
        ),
        (
            "codex/agentcmd-command-ls.jsonl",
            Some("019a2d7a-6455-7170-a661-c6d8b94c630a"),
        ),
        (
            "codex/agentcmd-file-change.jsonl",
            Some("019a2d7a-8e1c-7111-b1a6-8cec551a55a0"),
        ),
        (
            "cursor/cursor-hack-direct-sleep.jsonl",
            Some("d43015b9-0707-43f4-b2df-0bcea7891654"),
        ),
        (
            "droid/glob.jsonl",
            Some("db487263-e5c2-4bdf-ad4f-4af6498e4c05"),
        ),
        (
            "gemini/agentcmd-doc-edit-file.jsonl",
            Some("453aa339-7d2b-4709-a41a-b0b73beaff85"),
        ),
        (
            "opencode/takopi-run-json-bash-echo.jsonl",
            Some("ses_494719016ffe85dkDMj0FPRbHK"),
        ),
        // The json format reports no session.
        ("gemini/agentcmd-doc-output-format-json.json", None),
    ];
    for (fixture, session) in expected {
        assert_eq!(
            run_fixture(fixture).session_id.as_deref(),
            session,
            "{fixture}"
        );
    }
}

#[test]
fn claude_bash_transcript_has_ten_commands_of_which_four_failed() {
    let run = run_fixture("claude-code/terragon-bash-test.json");
    let tools = tools(&run.entries);
    let commands: Vec<_> = tools.iter().copied().filter(|t| is_command(t)).collect();
    assert_eq!(commands.len(), 10);
    assert_eq!(count_status(&commands, ToolStatus::Failed), 4);
    assert_eq!(count_status(&commands, ToolStatus::Success), 6);
    let failed: Vec<&str> = commands
        .iter()
        .filter(|t| t.status == ToolStatus::Failed)
        .map(|t| t.summary.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "cat /nonexistent/file.txt",
            "false",
            "invalidcommand --help",
            "cd /tmp && touch test_file_$(date +%s).txt && ls -la test_file_*.txt | tail -1"
        ]
    );
    // The output the command printed is on the command.
    assert!(matches!(
        &commands[0].action,
        ToolAction::CommandRun { output: Some(o), .. } if o == "Test 1: Simple echo command"
    ));
}

#[test]
fn claude_token_usage_counts_cached_prompt_tokens_and_the_cost() {
    let run = run_fixture("claude-code/terragon-bash-test.json");
    // input 11 + cache creation 21799 + cache read 14910.
    assert_eq!(run.usage.input_tokens, 36_720);
    assert_eq!(run.usage.cached_input_tokens, 14_910);
    assert_eq!(run.usage.output_tokens, 838);
    let cost = run.usage.cost_usd.expect("cost reported");
    assert!((cost - 0.506_863_25).abs() < 1e-9);
    assert!(matches!(
        run.entries.last().map(|e| &e.content),
        Some(EntryContent::TokenUsage {
            input_tokens: 36_720,
            output_tokens: 838,
            ..
        })
    ));
}

#[test]
fn claude_edit_transcript_has_a_read_and_eleven_edits_of_which_five_failed() {
    let run = run_fixture("claude-code/terragon-edit-test.json");
    let tools = tools(&run.entries);
    let reads: Vec<_> = tools
        .iter()
        .filter(|t| matches!(t.action, ToolAction::FileRead { .. }))
        .collect();
    let edits: Vec<_> = tools
        .iter()
        .copied()
        .filter(|t| matches!(t.action, ToolAction::FileEdit { .. }))
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(edits.len(), 11);
    assert_eq!(count_status(&edits, ToolStatus::Failed), 5);
    // The failure says why.
    assert!(edits.iter().any(|t| {
        t.status == ToolStatus::Failed
            && t.result
                .as_deref()
                .is_some_and(|r| r.starts_with("Found 7 matches"))
    }));
    // Replace-all edits keep the flag.
    let replace_all = edits
        .iter()
        .filter(|t| {
            matches!(&t.action, ToolAction::FileEdit { changes, .. }
                if matches!(changes.as_slice(), [FileChange::Replace { replace_all: true, .. }]))
        })
        .count();
    assert_eq!(replace_all, 2);
}

#[test]
fn claude_sub_agent_calls_are_tied_to_their_task() {
    let run = run_fixture("claude-code/terragon-task-subagent-test.json");
    let tools = tools(&run.entries);
    let tasks: Vec<_> = tools
        .iter()
        .filter(|t| matches!(t.action, ToolAction::SubAgent { .. }))
        .collect();
    assert_eq!(tasks.len(), 3);
    let task_ids: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t.tool_call_id.as_deref())
        .collect();
    // A Task's result came as a list of text blocks: its text is kept.
    for t in &tasks {
        assert_eq!(t.status, ToolStatus::Success);
        assert!(t.result.as_deref().is_some_and(|r| r.starts_with("## ")));
    }
    let inner: Vec<_> = tools
        .iter()
        .filter(|t| t.parent_tool_call_id.is_some())
        .collect();
    assert_eq!(inner.len(), tools.len() - 3);
    assert!(
        inner
            .iter()
            .all(|t| task_ids.contains(&t.parent_tool_call_id.as_deref().unwrap_or("")))
    );
    // Eleven results were errors: one of them a timeout.
    let errors = tools
        .iter()
        .filter(|t| matches!(t.status, ToolStatus::Failed | ToolStatus::TimedOut))
        .count();
    assert_eq!(errors, 11);
    assert_eq!(count_status(&tools, ToolStatus::TimedOut), 1);
}

#[test]
fn codex_command_has_its_exit_code_and_output() {
    let run = run_fixture("codex/agentcmd-command-ls.jsonl");
    assert_eq!(
        kinds(&run.entries),
        ["thinking", "tool_use", "assistant_message", "token_usage"]
    );
    let tools = tools(&run.entries);
    assert_eq!(tools[0].status, ToolStatus::Success);
    // Codex ran `bash -lc ls`: the entry shows the command, not the login shell.
    assert_eq!(tools[0].summary, "ls");
    assert_eq!(
        tools[0].action,
        ToolAction::CommandRun {
            command: "ls".into(),
            exit_code: Some(0),
            output: Some("stream-output-1.jsonl\nstream-output-2.jsonl\ntest.js\n".into()),
        }
    );
    assert_eq!(run.usage.input_tokens, 6040);
    assert_eq!(run.usage.cached_input_tokens, 4992);
    assert_eq!(run.usage.output_tokens, 129);
}

#[test]
fn codex_file_change_is_a_file_edit() {
    let run = run_fixture("codex/agentcmd-file-change.jsonl");
    let tools = tools(&run.entries);
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].status, ToolStatus::Success);
    assert_eq!(
        tools[0].action,
        ToolAction::FileEdit {
            path: "/private/tmp/codex-research-test/hello.txt".into(),
            changes: vec![FileChange::Create],
        }
    );
}

#[test]
fn codex_keeps_stderr_noise_inside_the_command_output_and_non_ascii_text() {
    let run = run_fixture("codex/agentcmd-command-stderr-noise.jsonl");
    let thinking = run
        .entries
        .iter()
        .filter(|e| matches!(e.content, EntryContent::Thinking { .. }))
        .count();
    assert_eq!(thinking, 2);
    let tools = tools(&run.entries);
    assert!(matches!(
        &tools[0].action,
        ToolAction::CommandRun { output: Some(o), .. } if o.starts_with("/opt/homebrew") && o.contains("test.js")
    ));
    assert!(run.entries.iter().any(|e| matches!(
        &e.content,
        EntryContent::AssistantMessage { text } if text.contains("Homebrew’s")
    )));
}

#[test]
fn cursor_thinking_deltas_coalesce_into_one_entry() {
    let fixture = "cursor/cursor-hack-direct-sleep.jsonl";
    let lines = fixture_lines(fixture);
    let deltas: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "thinking" && v["subtype"] == "delta")
        .map(|v| v["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(deltas.len(), 210);
    let run = run_fixture(fixture);
    let thinking: Vec<&str> = run
        .entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::Thinking { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(thinking, [deltas.concat().as_str()]);
    // Each delta still reached viewers at once, as a replace of that one entry.
    assert!(run.patches >= deltas.len(), "{} patches", run.patches);
    assert_eq!(
        kinds(&run.entries),
        [
            "system_message",
            "user_message",
            "thinking",
            "assistant_message",
            "tool_use",
            "tool_use",
            "assistant_message"
        ]
    );
    // The entry keeps the time of the first delta.
    assert_eq!(
        run.entries[2].timestamp.timestamp_millis(),
        1_770_823_841_542
    );
}

#[test]
fn cursor_shell_calls_end_with_their_exit_code_even_when_they_finish_out_of_order() {
    for (fixture, commands) in [
        (
            "cursor/cursor-hack-direct-sleep.jsonl",
            ["sleep 5", "sleep 3"],
        ),
        (
            "cursor/cursor-hack-parallel-sleep.jsonl",
            ["sleep 6", "sleep 4"],
        ),
    ] {
        let run = run_fixture(fixture);
        let tools = tools(&run.entries);
        let got: Vec<(&str, ToolStatus, Option<i64>)> = tools
            .iter()
            .map(|t| match &t.action {
                ToolAction::CommandRun {
                    command, exit_code, ..
                } => (command.as_str(), t.status, *exit_code),
                other => panic!("not a command: {other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (commands[0], ToolStatus::Success, Some(0)),
                (commands[1], ToolStatus::Success, Some(0))
            ],
            "{fixture}"
        );
    }
}

#[test]
fn droid_refused_calls_are_denied_and_the_run_error_is_kept() {
    for fixture in ["droid/glob.jsonl", "droid/insufficient-perms.jsonl"] {
        let run = run_fixture(fixture);
        let tools = tools(&run.entries);
        let denied: Vec<_> = tools
            .iter()
            .filter(|t| t.status == ToolStatus::Denied)
            .collect();
        assert_eq!(denied.len(), 1, "{fixture}");
        assert!(is_command(denied[0]));
        assert_eq!(
            count_status(&tools, ToolStatus::Success),
            tools.len() - 1,
            "{fixture}"
        );
        assert!(matches!(
            run.entries.last().map(|e| &e.content),
            Some(EntryContent::Error { text }) if text.starts_with("Exec ended early")
        ));
    }
}

#[test]
fn droid_patch_shows_its_diff_and_the_run_its_exit_code_and_todo_lists() {
    let run = run_fixture("droid/edits-and-execution.jsonl");
    let tools = tools(&run.entries);
    let patch = tools
        .iter()
        .find(|t| t.tool_name == "ApplyPatch")
        .expect("ApplyPatch");
    assert!(matches!(
        &patch.action,
        ToolAction::FileEdit { path, changes }
            if path == "/Users/tempuser/projects/droid-simple/sorting_algorithms.py"
            && matches!(changes.as_slice(), [FileChange::Diff { unified_diff }] if unified_diff.contains("+def insertion_sort(arr):"))
    ));
    let run_cmd = tools.iter().find(|t| is_command(t)).expect("Execute");
    assert!(matches!(
        run_cmd.action,
        ToolAction::CommandRun {
            exit_code: Some(0),
            ..
        }
    ));
    let todos: Vec<_> = tools
        .iter()
        .filter_map(|t| match &t.action {
            ToolAction::TodoUpdate { items } => Some(items),
            _ => None,
        })
        .collect();
    assert_eq!(todos.len(), 7);
    let last = todos.last().expect("a todo list");
    assert_eq!(last.len(), 5);
    assert!(last.iter().all(|i| i.status == TodoStatus::Completed));
    // Droid's millisecond timestamps are kept.
    assert_eq!(
        run.entries[1].timestamp.timestamp_millis(),
        1_760_807_307_720
    );
}

#[test]
fn droid_hello_world_is_one_exchange() {
    let run = run_fixture("droid/hello-world.jsonl");
    assert_eq!(
        kinds(&run.entries),
        ["system_message", "user_message", "assistant_message"]
    );
}

#[test]
fn gemini_stream_json_tools_carry_their_parameters_and_timestamps() {
    let run = run_fixture("gemini/agentcmd-doc-edit-file.jsonl");
    let tools = tools(&run.entries);
    let actions: Vec<&ToolAction> = tools.iter().map(|t| &t.action).collect();
    let path = "/private/tmp/gemini-test/created.txt".to_owned();
    assert_eq!(
        actions,
        [
            &ToolAction::FileRead { path: path.clone() },
            &ToolAction::FileEdit {
                path: path.clone(),
                changes: vec![FileChange::Replace {
                    old_text: "Hello from Gemini CLI".into(),
                    new_text: "Goodbye from Gemini CLI".into(),
                    replace_all: false
                }]
            },
            &ToolAction::FileRead { path }
        ]
    );
    assert!(tools.iter().all(|t| t.status == ToolStatus::Success));
    assert_eq!(
        run.entries[0].timestamp.to_rfc3339(),
        "2025-10-29T10:37:00.097+00:00"
    );
    assert_eq!(
        (run.usage.input_tokens, run.usage.output_tokens),
        (21_694, 77)
    );

    let run = run_fixture("gemini/agentcmd-doc-write-file.jsonl");
    assert_eq!(
        tools_of(&run)[0],
        ToolAction::FileEdit {
            path: "/tmp/gemini-test/created.txt".into(),
            changes: vec![FileChange::Write {
                content: "Hello from Gemini CLI".into()
            }]
        }
    );

    let run = run_fixture("gemini/agentcmd-doc-say-hello.jsonl");
    assert!(matches!(
        &run.entries[1].content,
        EntryContent::UserMessage { text } if text == "Say hello"
    ));
}

fn tools_of(run: &Run) -> Vec<ToolAction> {
    tools(&run.entries)
        .into_iter()
        .map(|t| t.action.clone())
        .collect()
}

#[test]
fn gemini_json_object_spanning_many_lines_gives_the_answer_and_summed_usage() {
    let run = run_fixture("gemini/agentcmd-doc-output-format-json.json");
    assert!(matches!(
        &run.entries[0].content,
        EntryContent::AssistantMessage { text } if text == "The capital of France is Paris."
    ));
    // Prompt tokens of both models; candidates plus thoughts of both.
    assert_eq!(run.usage.input_tokens, 15_526 + 3_814);
    assert_eq!(run.usage.output_tokens, 20 + 113 + 7 + 45);
    assert!(run.entries.iter().any(|e| matches!(
        &e.content,
        EntryContent::SystemMessage { text } if text.contains("google_web_search")
    )));
}

#[test]
fn opencode_run_json_gives_the_command_the_reply_and_usage_per_step() {
    let run = run_fixture("opencode/takopi-run-json-bash-echo.jsonl");
    assert_eq!(
        kinds(&run.entries),
        [
            "tool_use",
            "token_usage",
            "assistant_message",
            "token_usage"
        ]
    );
    assert_eq!(
        tools_of(&run)[0],
        ToolAction::CommandRun {
            command: "echo hello".into(),
            exit_code: Some(0),
            output: Some("hello\n".into()),
        }
    );
    // Cache reads count as (cached) input.
    assert_eq!(run.usage.input_tokens, 21_772 + 671 + 21_415);
    assert_eq!(run.usage.cached_input_tokens, 21_415);
    assert_eq!(run.usage.output_tokens, 110 + 8);
    assert_eq!(run.usage.cost_usd, Some(0.001));
}
