//! What real agent sessions showed the normalizers got wrong: running totals summed as
//! if they were per turn, compactions shown as prompts, content-free noise, Droid's own
//! edit and command shapes, Codex's login-shell wrapper, times, runtime warnings and the
//! agents' own notices taken for errors, and long lines cut into pieces. Each case runs on a recorded transcript
//! where one shows it, else on the smallest input written from the agent's documented
//! message shapes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use shared::logs::{EntryContent, FileChange, OutputStream, ToolAction, ToolStatus};
use worker::normalize::pieces::{LineJoiner, MAX_JOINED_LINE};
use worker::normalize::{Protocol, for_protocol};
use worker::runner::MAX_LINE_BYTES;

use crate::helpers::*;

fn lines(messages: &[Value]) -> Vec<String> {
    messages.iter().map(Value::to_string).collect()
}

fn system_texts(run: &Run) -> Vec<&str> {
    run.entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::SystemMessage { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// `(input, cached, output, cost)` of every token usage entry.
fn usage_entries(run: &Run) -> Vec<(u64, u64, u64, Option<f64>)> {
    run.entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::TokenUsage {
                input_tokens,
                output_tokens,
                cached_input_tokens,
                cost_usd,
            } => Some((
                *input_tokens,
                cached_input_tokens.unwrap_or(0),
                *output_tokens,
                *cost_usd,
            )),
            _ => None,
        })
        .collect()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn init() -> Value {
    json!({"type":"system","subtype":"init","session_id":"s1","model":"claude-sonnet-4-5",
        "permissionMode":"default","tools":["Bash"],"claude_code_version":"2.0.30"})
}

fn reply(id: &str, text: &str) -> Value {
    json!({"type":"assistant","message":{"id":id,"role":"assistant","content":[{"type":"text","text":text}],
        "usage":{"input_tokens":5,"cache_read_input_tokens":50,"output_tokens":8}},
        "parent_tool_use_id":null,"session_id":"s1"})
}

/// Two turns of one stream-json process, with an automatic compaction in the second:
/// each `result` restates the process's running cost and per-model usage; the
/// compaction's own call (150,000 tokens in, 4,000 out) shows only in `modelUsage`.
fn two_turns_with_a_compaction() -> Vec<Value> {
    vec![
        init(),
        reply("msg_1", "First answer."),
        json!({"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"First answer.",
            "session_id":"s1","total_cost_usd":0.10,
            "usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":0,"output_tokens":20},
            "modelUsage":{"claude-sonnet-4-5":{"inputTokens":10,"outputTokens":20,"cacheReadInputTokens":100,
                "cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.10,"contextWindow":200000}}}),
        init(),
        json!({"type":"system","subtype":"status","status":"compacting","session_id":"s1","uuid":"u1"}),
        json!({"type":"system","subtype":"compact_boundary","session_id":"s1","uuid":"u2",
            "compact_metadata":{"trigger":"auto","pre_tokens":152000,"post_tokens":31000}}),
        json!({"type":"user","isSynthetic":true,"session_id":"s1","parent_tool_use_id":null,
            "message":{"role":"user","content":[{"type":"text","text":"This session is being continued from a previous conversation that ran out of context. The conversation is summarized below:\nAnalysis: ..."}]}}),
        json!({"type":"system","subtype":"status","status":null,"compact_result":"success","session_id":"s1","uuid":"u3"}),
        reply("msg_2", "Second answer."),
        json!({"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"Second answer.",
            "session_id":"s1","total_cost_usd":0.25,
            "usage":{"input_tokens":5,"cache_read_input_tokens":50,"cache_creation_input_tokens":0,"output_tokens":8},
            "modelUsage":{
                "claude-sonnet-4-5":{"inputTokens":150015,"outputTokens":4028,"cacheReadInputTokens":150,
                    "cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.24,"contextWindow":200000},
                "claude-haiku-4-5":{"inputTokens":300,"outputTokens":10,"cacheReadInputTokens":0,
                    "cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.01,"contextWindow":200000}}}),
    ]
}

#[test]
fn claude_running_totals_of_several_results_count_once() {
    let run = run_lines(Protocol::ClaudeCode, &lines(&two_turns_with_a_compaction()));
    // The process cost 0.25 in all: the second result's total, not 0.10 + 0.25.
    assert!(close(run.usage.cost_usd, 0.25), "{:?}", run.usage.cost_usd);
    // Tokens are what `modelUsage` says in the end, compaction and the small model
    // included: 150,015 + 150 cached + 300 prompt tokens, 4,028 + 10 generated.
    assert_eq!(run.usage.input_tokens, 150_465);
    assert_eq!(run.usage.cached_input_tokens, 150);
    assert_eq!(run.usage.output_tokens, 4_038);
    // Each turn's entry shows what that turn added.
    let turns = usage_entries(&run);
    assert_eq!(turns.len(), 2);
    assert_eq!((turns[0].0, turns[0].1, turns[0].2), (110, 100, 20));
    assert!(close(turns[0].3, 0.10));
    assert_eq!(
        (turns[1].0, turns[1].1, turns[1].2),
        (150_465 - 110, 50, 4_018)
    );
    assert!(close(turns[1].3, 0.15));
}

#[test]
fn claude_result_without_model_usage_still_counts_its_turn() {
    // The recorded v1.0 transcript: one result with `usage` and `cost_usd` only.
    let run = run_fixture("claude-code/terragon-edit-test.json");
    assert_eq!(run.usage.input_tokens, 80 + 31_068 + 341_961);
    assert_eq!(run.usage.output_tokens, 2_108);
    assert!(close(run.usage.cost_usd, 1.255_002_5));
}

#[test]
fn claude_compaction_is_one_entry_with_its_trigger_and_sizes() {
    let run = run_lines(Protocol::ClaudeCode, &lines(&two_turns_with_a_compaction()));
    assert_eq!(
        kinds(&run.entries),
        [
            "system_message",
            "assistant_message",
            "token_usage",
            "system_message",
            "assistant_message",
            "token_usage"
        ]
    );
    assert_eq!(
        system_texts(&run),
        [
            "Session started with model claude-sonnet-4-5 (permission mode default)",
            "Conversation compacted automatically: 152,000 → 31,000 tokens of context"
        ]
    );

    // A `/compact` the user asked for: the CLI echoes the command and its output back
    // (`isReplay`); neither is a prompt. A compaction that failed says so.
    let msgs = [
        init(),
        json!({"type":"user","isReplay":true,"session_id":"s1","uuid":"r1","parent_tool_use_id":null,
            "timestamp":"2025-11-02T09:00:00.000Z",
            "message":{"role":"user","content":"<command-name>/compact</command-name>\n<command-message>compact</command-message>\n<command-args></command-args>"}}),
        json!({"type":"system","subtype":"status","status":"compacting","session_id":"s1"}),
        json!({"type":"system","subtype":"compact_boundary","session_id":"s1",
            "compact_metadata":{"trigger":"manual","pre_tokens":48000}}),
        json!({"type":"user","isReplay":true,"session_id":"s1","uuid":"r2","parent_tool_use_id":null,
            "message":{"role":"user","content":"<local-command-stdout>Compacted. ctrl+o to see full summary</local-command-stdout>"}}),
        json!({"type":"system","subtype":"status","status":"compacting","session_id":"s1"}),
        json!({"type":"system","subtype":"status","status":null,"compact_result":"failed",
            "compact_error":"Not enough messages to compact.","session_id":"s1"}),
    ];
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    assert!(
        !kinds(&run.entries).contains(&"user_message".to_owned()),
        "{:?}",
        kinds(&run.entries)
    );
    assert_eq!(
        system_texts(&run)[1..],
        [
            "Conversation compacted on request (/compact): 48,000 tokens of context before",
            "Conversation compaction failed: Not enough messages to compact."
        ]
    );
}

#[test]
fn claude_noise_is_dropped_and_what_is_news_stays() {
    let mut msgs = vec![init()];
    for n in 0..28 {
        msgs.push(
            json!({"type":"system","subtype":"thinking_tokens","tokens":n * 40,"session_id":"s1"}),
        );
    }
    msgs.push(json!({"type":"rate_limit_event","session_id":"s1","uuid":"x",
        "rate_limit_info":{"status":"allowed","rateLimitType":"five_hour","resetsAt":1_791_086_400}}));
    msgs.push(reply("msg_1", "Working."));
    // Every turn of the conversation starts with `init` again.
    msgs.push(init());
    msgs.push(json!({"type":"rate_limit_event","session_id":"s1","uuid":"y",
        "rate_limit_info":{"status":"allowed_warning","rateLimitType":"five_hour","utilization":0.91,
            "resetsAt":1_791_086_400}}));
    // A status with nothing new (the compaction ended; mode unchanged) says nothing.
    msgs.push(json!({"type":"system","subtype":"status","status":null,"permissionMode":"default","session_id":"s1"}));
    msgs.push(json!({"type":"system","subtype":"status","status":null,"permissionMode":"acceptEdits","session_id":"s1"}));
    msgs.push(json!({"type":"rate_limit_event","session_id":"s1","uuid":"z",
        "rate_limit_info":{"status":"rejected","rateLimitType":"seven_day","resetsAt":1_791_086_400}}));
    msgs.push(
        json!({"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,
        "retry_delay_ms":4000,"error_status":529,"error":"server_error","session_id":"s1"}),
    );
    let mut next_model = init();
    next_model["model"] = json!("claude-opus-4-1");
    next_model["permissionMode"] = json!("acceptEdits");
    msgs.push(next_model);
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    assert_eq!(
        system_texts(&run),
        [
            "Session started with model claude-sonnet-4-5 (permission mode default)",
            "Nearing the five-hour limit: 91% used (resets 2026-10-04 04:00 UTC)",
            "Permission mode changed to acceptEdits",
            "Reached the seven-day limit (resets 2026-10-04 04:00 UTC)",
            "API request failed (server error); retrying (attempt 2 of 10)",
            "Model changed to claude-opus-4-1"
        ]
    );
    assert!(
        run.entries
            .iter()
            .all(|e| !matches!(&e.content, EntryContent::SystemMessage { text } if text.contains("Unrecognized") || text.contains("System event")))
    );
}

#[test]
fn droid_multi_edit_changes_and_structured_edit_results_are_diffs() {
    let msgs = [
        json!({"type":"tool_call","id":"m1","toolName":"MultiEdit","toolId":"MultiEdit","timestamp":1760807400000u64,
            "parameters":{"file_path":"/w/app.py","changes":[
                {"old_str":"DEBUG = True","new_str":"DEBUG = False"},
                {"old_str":"PORT = 80","new_str":"PORT = 8080"}]}}),
        json!({"type":"tool_call","id":"e1","toolName":"Edit","toolId":"Edit","timestamp":1760807401000u64,
            "parameters":{"file_path":"/w/util.py","old_str":"return a","new_str":"return a + b"}}),
        json!({"type":"tool_result","id":"e1","toolId":"","isError":false,"timestamp":1760807402000u64,
            "value":json!({"success":true,"file_path":"/w/util.py","diffLines":[
                {"type":"unchanged","content":"def add(a, b):","oldLineNumber":1,"newLineNumber":1},
                {"type":"removed","content":"    return a","oldLineNumber":2},
                {"type":"added","content":"    return a + b","newLineNumber":2}]}).to_string()}),
    ];
    let run = run_lines(Protocol::Droid, &lines(&msgs));
    let t = tools(&run.entries);
    assert_eq!(
        t[0].action,
        ToolAction::FileEdit {
            path: "/w/app.py".into(),
            changes: vec![
                FileChange::Replace {
                    old_text: "DEBUG = True".into(),
                    new_text: "DEBUG = False".into(),
                    replace_all: false
                },
                FileChange::Replace {
                    old_text: "PORT = 80".into(),
                    new_text: "PORT = 8080".into(),
                    replace_all: false
                }
            ]
        }
    );
    assert_eq!(t[1].status, ToolStatus::Success);
    assert_eq!(
        t[1].action,
        ToolAction::FileEdit {
            path: "/w/util.py".into(),
            changes: vec![FileChange::Diff {
                unified_diff: "@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a\n+    return a + b"
                    .into()
            }]
        }
    );
    // Not the document's JSON.
    assert_eq!(t[1].result, None);
}

#[test]
fn droid_command_output_ends_without_its_exit_line() {
    let run = run_fixture("droid/edits-and-execution.jsonl");
    let command = tools(&run.entries)
        .into_iter()
        .find(|t| is_command(t))
        .expect("the Execute call");
    match &command.action {
        ToolAction::CommandRun {
            exit_code, output, ..
        } => {
            assert_eq!(*exit_code, Some(0));
            let output = output.as_deref().expect("output");
            assert!(
                output.ends_with("Already sorted (Insertion): [1, 2, 3, 4, 5]"),
                "{output:?}"
            );
            assert!(!output.contains("[Process exited"));
        }
        other => panic!("not a command: {other:?}"),
    }
}

#[test]
fn codex_commands_show_without_the_login_shell_around_them() {
    for fixture in [
        "codex/agentcmd-command-ls.jsonl",
        "codex/agentcmd-command-stderr-noise.jsonl",
    ] {
        let run = run_fixture(fixture);
        let t = tools(&run.entries);
        assert!(
            matches!(&t[0].action, ToolAction::CommandRun { command, .. } if command == "ls"),
            "{fixture}: {:?}",
            t[0].action
        );
        assert_eq!(t[0].summary, "ls", "{fixture}");
    }
    // Quoted scripts, as Codex prints them, with the shell's `'\''` escape.
    let item = |id: &str, command: &str| {
        json!({"type":"item.completed","item":{"id":id,"type":"command_execution","command":command,
            "aggregated_output":"","exit_code":0,"status":"completed"}})
    };
    let run = run_lines(
        Protocol::Codex,
        &lines(&[
            item("a", "/bin/zsh -lc 'rg -n \"fn main\" src | head -5'"),
            item("b", r#"bash -lc 'echo '\''done'\'''"#),
            item("c", "/bin/bash -c 'cargo test'"),
            item("d", "sh -c 'ls'"),
        ]),
    );
    let commands: Vec<&str> = tools(&run.entries)
        .iter()
        .map(|t| t.summary.as_str())
        .collect();
    assert_eq!(
        commands,
        [
            "rg -n \"fn main\" src | head -5",
            "echo 'done'",
            "cargo test",
            "ls"
        ]
    );
}

#[test]
fn entries_get_the_agents_time_else_the_time_their_line_was_read() {
    let base: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 10, 18, 17, 0, 0)
        .single()
        .expect("a time");
    let read_at = |i: usize| base + Duration::seconds(i as i64);
    let feed = |protocol: Protocol, lines: &[String]| {
        let mut n = for_protocol(protocol);
        let mut entries = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            n.read_at(read_at(i));
            apply_checked(&mut entries, n.stdout_line(line), "line");
        }
        apply_checked(&mut entries, n.finish(), "finish");
        entries
    };

    // Droid: `init` carries no time (its entry gets the read time); messages do.
    let entries = feed(Protocol::Droid, &fixture_lines("droid/hello-world.jsonl"));
    assert_eq!(entries[0].timestamp, read_at(0));
    assert_eq!(entries[1].timestamp.timestamp_millis(), 1_760_806_427_595);
    assert_eq!(entries[2].timestamp.timestamp_millis(), 1_760_806_437_677);

    // Claude Code v1.0 events carry no time: every entry has its line's, and a tool
    // use keeps the time of its call when its result replaces it.
    let bash_test = fixture_lines("claude-code/terragon-bash-test.json");
    let entries = feed(Protocol::ClaudeCode, &bash_test);
    assert_eq!(entries[0].timestamp, read_at(0));
    let first_call = bash_test
        .iter()
        .position(|l| l.contains("\"tool_use\""))
        .expect("a tool call");
    let first_tool = entries
        .iter()
        .find(|e| matches!(e.content, EntryContent::ToolUse(_)))
        .expect("a tool use");
    assert_eq!(first_tool.timestamp, read_at(first_call));
    assert!(entries.iter().all(|e| e.timestamp >= base));

    // A Claude Code event that has a `timestamp` keeps it.
    let stamped = json!({"type":"user","timestamp":"2025-11-02T09:00:00.000Z","session_id":"s1",
        "message":{"role":"user","content":[{"type":"text","text":"Also update the README."}]}});
    let entries = feed(Protocol::ClaudeCode, &lines(&[stamped]));
    assert_eq!(
        entries[0].timestamp.to_rfc3339(),
        "2025-11-02T09:00:00+00:00"
    );
}

#[test]
fn npm_and_node_warnings_on_stderr_are_output_not_errors() {
    let notices = [
        "npm warn EBADENGINE Unsupported engine {",
        "npm warn EBADENGINE   package: '@google/gemini-cli@0.11.0',",
        "npm WARN deprecated node-domexception@1.0.0: Use your platform's native DOMException instead",
        "npm notice New major version of npm available! 10.9.2 -> 11.6.2",
        "\u{1b}[33mnpm\u{1b}[39m \u{1b}[33mwarn\u{1b}[39m config production Use `--omit=dev` instead.",
        "(node:48213) Warning: Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to '0' makes TLS connections insecure.",
        "(node:48213) [DEP0040] DeprecationWarning: The `punycode` module is deprecated.",
        "(node:48213) ExperimentalWarning: The Fetch API is an experimental feature.",
        "(Use `node --trace-warnings ...` to show where the warning was created)",
        "ExperimentalWarning: VM Modules is an experimental feature",
    ];
    let errors = [
        "Error: ENOENT: no such file or directory, open '/w/.qwen/settings.json'",
        "fatal: not a git repository (or any of the parent directories): .git",
        "API Error: 401 invalid x-api-key",
    ];
    for protocol in Protocol::ALL {
        let mut n = for_protocol(protocol);
        let mut entries = Vec::new();
        for line in notices.iter().chain(&errors) {
            apply_checked(&mut entries, n.stderr_line(line), "stderr");
        }
        apply_checked(&mut entries, n.finish(), "finish");
        let outputs = entries
            .iter()
            .filter(|e| {
                matches!(
                    e.content,
                    EntryContent::Output {
                        stream: OutputStream::Stderr,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(outputs, notices.len(), "{protocol}");
        let error_texts: Vec<&str> = entries
            .iter()
            .filter_map(|e| match &e.content {
                EntryContent::Error { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(error_texts, errors, "{protocol}");
    }
}

/// Feeds `lines` to every protocol's stderr and returns, per protocol, the texts that
/// became stderr output and those that became errors.
fn stderr_kinds(lines: &[&str]) -> Vec<(Protocol, Vec<String>, Vec<String>)> {
    Protocol::ALL
        .into_iter()
        .map(|protocol| {
            let mut n = for_protocol(protocol);
            let mut entries = Vec::new();
            for line in lines {
                apply_checked(&mut entries, n.stderr_line(line), "stderr");
            }
            apply_checked(&mut entries, n.finish(), "finish");
            let mut outputs = Vec::new();
            let mut errors = Vec::new();
            for e in &entries {
                match &e.content {
                    EntryContent::Output {
                        stream: OutputStream::Stderr,
                        text,
                    } => outputs.push(text.clone()),
                    EntryContent::Error { text } => errors.push(text.clone()),
                    other => panic!("{protocol}: a stderr line became {other:?}"),
                }
            }
            (protocol, outputs, errors)
        })
        .collect()
}

#[test]
fn the_agents_own_notices_on_stderr_are_output_and_their_errors_stay_errors() {
    // What the real CLIs print on stderr on every start (issue 12), as they print it.
    let notices = [
        // Gemini CLI 0.61 with --yolo and no ripgrep on PATH: no label, but a mode and a
        // fallback the tool announces.
        "YOLO mode is enabled. All tool calls will be automatically approved.",
        "Ripgrep is not available. Falling back to GrepTool.",
        // Qwen Code 0.24 started with --experimental-acp, in yellow with a sign.
        "\u{1b}[33m\u{26a0}  Warning: --experimental-acp is deprecated and will be removed in a future release. Please use --acp instead.\u{1b}[0m",
        // OpenCode's server (on stdout today; the same line on stderr is no error either).
        "Warning: OPENCODE_SERVER_PASSWORD is not set; server is unsecured.",
        // Other labelled notices: bracketed, lower case, a log level after a timestamp.
        "[WARN] [MemoryDiscovery] Skipping unreadable GEMINI.md",
        "warning: low disk space",
        "note: the session file is newer than this CLI",
        "2025-06-01T10:00:00.123456Z  WARN codex_core::config: unknown key `foo`",
        "INFO starting the server",
        "Failed to reload resumed session data from file; falling back to the in-memory conversation.",
    ];
    let errors = [
        "Error: Please set an Auth method in your settings.json or specify GEMINI_API_KEY",
        "API Error: 404 The model `gpt-3` is deprecated and will be removed",
        "2025-06-01T10:00:00.123456Z ERROR codex_core::client: stream disconnected",
        "\u{26a0} Error: the model gateway refused the request, falling back to nothing",
        "Ripgrep is not available.",
        "Note the failing test before you go on",
        "Failed to connect to http://127.0.0.1:9/v1: connection refused",
    ];
    let lines: Vec<&str> = notices.iter().chain(&errors).copied().collect();
    for (protocol, outputs, got_errors) in stderr_kinds(&lines) {
        assert_eq!(outputs, notices, "{protocol}");
        assert_eq!(got_errors, errors, "{protocol}");
    }
}

#[test]
fn opencodes_unsecured_server_warning_on_stdout_is_output() {
    let run = run_lines(
        Protocol::OpenCode,
        &["Warning: OPENCODE_SERVER_PASSWORD is not set; server is unsecured."],
    );
    assert_eq!(
        run.entries.iter().map(|e| &e.content).collect::<Vec<_>>(),
        [&EntryContent::Output {
            stream: OutputStream::Stdout,
            text: "Warning: OPENCODE_SERVER_PASSWORD is not set; server is unsecured.".to_owned(),
        }]
    );
}

/// Cuts a line as the runner does: pieces of at most `MAX_LINE_BYTES`, on character
/// boundaries, while more than that is left.
fn cut_like_the_runner(line: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = line;
    while rest.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    pieces.push(rest.to_owned());
    pieces
}

#[test]
fn acp_lines_longer_than_the_runners_limit_are_whole_again() {
    // Qwen Code reports a write of a large file with its whole content: one line of
    // about 600 KB (with multi-byte characters, so the cuts back off).
    let content = "é = \"naïve café\"\n".repeat(30_000);
    let update = json!({"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"q1","update":{
        "sessionUpdate":"tool_call_update","toolCallId":"write-1","status":"completed","kind":"edit",
        "locations":[{"path":"/w/big.py"}],
        "content":[{"type":"diff","path":"/w/big.py","oldText":null,"newText":content}]}}})
    .to_string();
    assert!(update.len() > 500_000);
    let start = json!({"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"q1","update":{
        "sessionUpdate":"tool_call","toolCallId":"write-1","title":"Write big.py","kind":"edit","status":"pending",
        "locations":[{"path":"/w/big.py"}]}}})
    .to_string();
    let done = json!({"jsonrpc":"2.0","id":2,"result":{"stopReason":"end_turn"}}).to_string();
    let mut delivered = vec![start.clone()];
    delivered.extend(cut_like_the_runner(&update));
    delivered.push(done.clone());
    assert!(delivered.len() > 10);

    // Cut as delivered, the message is lost: the pieces show as raw output.
    let broken = run_lines(Protocol::Acp, &delivered);
    assert!(kinds(&broken.entries).contains(&"output".to_owned()));

    // Joined first (as the pump does), it is one message again, and so is every line.
    let mut joiner = LineJoiner::new(MAX_LINE_BYTES, MAX_JOINED_LINE);
    let now = Utc::now();
    let mut joined: Vec<String> = Vec::new();
    for piece in delivered {
        joined.extend(joiner.push(piece, now).into_iter().map(|l| l.text));
    }
    joined.extend(joiner.finish().map(|l| l.text));
    assert_eq!(joined, [start, update, done]);
    let run = run_lines(Protocol::Acp, &joined);
    assert_eq!(kinds(&run.entries), ["tool_use"]);
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::Success);
    assert!(
        matches!(&t[0].action, ToolAction::FileEdit { path, changes }
        if path == "/w/big.py" && matches!(&changes[0], FileChange::Write { content } if content.starts_with("é = \"naïve café\"")))
    );
}

#[test]
fn a_line_exactly_as_long_as_a_piece_is_not_held() {
    // A whole JSON line of the runner's limit passes at once (the driver must see a
    // turn's end without waiting for more output).
    let pad = MAX_LINE_BYTES
        - r#"{"jsonrpc":"2.0","id":2,"result":{"stopReason":"end_turn","pad":""}}"#.len();
    let line =
        json!({"jsonrpc":"2.0","id":2,"result":{"stopReason":"end_turn","pad":"x".repeat(pad)}})
            .to_string();
    assert_eq!(line.len(), MAX_LINE_BYTES);
    let mut joiner = LineJoiner::new(MAX_LINE_BYTES, MAX_JOINED_LINE);
    let out = joiner.push(line.clone(), Utc::now());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].text, line);
    // Neither is a banner that long.
    let banner = "=".repeat(MAX_LINE_BYTES);
    assert_eq!(joiner.push(banner.clone(), Utc::now())[0].text, banner);
}
