//! The protocol paths no recording covers: approvals, streamed deltas, the JSON-RPC
//! forms (Codex app-server, ACP), OpenCode's server events, Amp. Each transcript is
//! written from the protocol's documentation, one message per line as the agent
//! prints it.

use serde_json::{Value, json};
use shared::logs::{EntryContent, FileChange, TodoStatus, ToolAction, ToolStatus};
use worker::normalize::{Protocol, for_protocol};

use crate::helpers::*;

fn lines(messages: &[Value]) -> Vec<String> {
    messages.iter().map(Value::to_string).collect()
}

// ----- Claude Code ----------------------------------------------------------------

#[test]
fn claude_permission_request_marks_the_call_pending_until_its_result() {
    let call = json!({"type":"assistant","message":{"id":"m1","role":"assistant","content":[
        {"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"rm -rf build"}}]},
        "parent_tool_use_id":null,"session_id":"s1"});
    let ask = json!({"type":"control_request","request_id":"req_1","request":{
        "subtype":"can_use_tool","tool_name":"Bash","input":{"command":"rm -rf build"},
        "tool_use_id":"toolu_1"}});
    let mut n = for_protocol(Protocol::ClaudeCode);
    let first = run_with(n.as_mut(), &lines(&[call, ask]));
    let t = tools(&first.entries);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, ToolStatus::PendingApproval);

    let result = json!({"type":"user","message":{"role":"user","content":[{"type":"tool_result",
        "tool_use_id":"toolu_1","content":"","is_error":false}]},"parent_tool_use_id":null});
    let mut entries = first.entries;
    apply_checked(&mut entries, n.stdout_line(&result.to_string()), "result");
    assert_eq!(tools(&entries)[0].status, ToolStatus::Success);
}

#[test]
fn claude_permission_request_without_a_call_id_finds_the_running_call() {
    let msgs = [
        json!({"type":"assistant","message":{"id":"m1","content":[
            {"type":"tool_use","id":"toolu_9","name":"Write","input":{"file_path":"/a","content":"x"}}]}}),
        json!({"type":"control_request","request_id":"r","request":{
            "subtype":"can_use_tool","tool_name":"Write","input":{"file_path":"/a","content":"x"}}}),
        json!({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_9",
            "content":"The user doesn't want to proceed with this tool use. The tool use was rejected.",
            "is_error":true}]}}),
    ];
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    let t = tools(&run.entries);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, ToolStatus::Denied);
}

#[test]
fn claude_permission_request_before_any_call_is_its_own_pending_entry() {
    let ask = json!({"type":"control_request","request_id":"r","request":{
        "subtype":"can_use_tool","tool_name":"WebFetch","input":{"url":"https://example.com"}}});
    let run = run_lines(Protocol::ClaudeCode, &lines(&[ask]));
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::PendingApproval);
    assert_eq!(
        t[0].action,
        ToolAction::WebFetch {
            url: "https://example.com".into()
        }
    );
}

#[test]
fn claude_partial_messages_grow_one_entry_that_the_full_message_completes() {
    let mut msgs = vec![
        json!({"type":"stream_event","event":{"type":"message_start",
        "message":{"id":"msg_1","role":"assistant","content":[]}}}),
    ];
    for word in ["Hel", "lo ", "there"] {
        msgs.push(
            json!({"type":"stream_event","event":{"type":"content_block_delta","index":0,
            "delta":{"type":"text_delta","text":word}}}),
        );
    }
    msgs.push(json!({"type":"stream_event","event":{"type":"content_block_stop","index":0}}));
    msgs.push(
        json!({"type":"assistant","message":{"id":"msg_1","content":[
        {"type":"text","text":"Hello there"}]}}),
    );
    msgs.push(json!({"type":"stream_event","event":{"type":"message_stop"}}));
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    assert_eq!(kinds(&run.entries), ["assistant_message"]);
    assert!(matches!(
        &run.entries[0].content,
        EntryContent::AssistantMessage { text } if text == "Hello there"
    ));
}

#[test]
fn claude_error_result_is_an_error_entry() {
    let msgs = [
        json!({"type":"result","subtype":"error_max_turns","is_error":true,
        "usage":{"input_tokens":5,"output_tokens":2},"total_cost_usd":0.01}),
    ];
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    assert_eq!(kinds(&run.entries), ["token_usage", "error"]);
    assert!(matches!(
        &run.entries[1].content,
        EntryContent::Error { text } if text == "error max turns"
    ));
    assert_eq!(run.usage.cost_usd, Some(0.01));
}

#[test]
fn claude_plan_question_and_todo_tools_have_their_own_actions() {
    let msgs = [json!({"type":"assistant","message":{"id":"m","content":[
        {"type":"tool_use","id":"a","name":"ExitPlanMode","input":{"plan":"1. Do it\n2. Check it"}},
        {"type":"tool_use","id":"b","name":"AskUserQuestion","input":{"questions":[
            {"question":"Which database?","header":"DB","options":[{"label":"Postgres"},{"label":"SQLite"}],"multiSelect":false}]}},
        {"type":"tool_use","id":"c","name":"TodoWrite","input":{"todos":[
            {"content":"a","status":"completed","activeForm":"A"},{"content":"b","status":"in_progress","activeForm":"B"}]}},
        {"type":"tool_use","id":"d","name":"mcp__linear__create_issue","input":{"title":"x"}}]}})];
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    let t = tools(&run.entries);
    assert!(
        matches!(&t[0].action, ToolAction::PlanPresentation { plan } if plan.starts_with("1. Do it"))
    );
    assert!(matches!(&t[1].action, ToolAction::Question { questions }
        if questions[0].question == "Which database?" && questions[0].options == ["Postgres", "SQLite"]));
    assert!(matches!(&t[2].action, ToolAction::TodoUpdate { items }
        if items.len() == 2 && items[1].status == TodoStatus::InProgress));
    assert_eq!(t[2].summary, "1/2 done; now: b");
    assert!(matches!(
        &t[3].action,
        ToolAction::Other { arguments: Some(_) }
    ));
    assert_eq!(t[3].summary, "mcp__linear__create_issue");
}

// ----- Amp (Claude-compatible shapes, Amp's tools) ---------------------------------

#[test]
fn amp_stream_json_maps_amps_own_tools() {
    let msgs = [
        json!({"type":"system","subtype":"init","cwd":"/w","session_id":"T-1","tools":["Bash"],"mcp_servers":[]}),
        json!({"type":"assistant","message":{"type":"message","role":"assistant","content":[
            {"type":"tool_use","id":"t1","name":"Bash","input":{"cmd":"cargo test"}},
            {"type":"tool_use","id":"t2","name":"edit_file","input":{"path":"/w/a.rs","old_str":"a","new_str":"b"}},
            {"type":"tool_use","id":"t3","name":"create_file","input":{"path":"/w/b.rs","content":"fn main() {}"}},
            {"type":"tool_use","id":"t4","name":"read_web_page","input":{"url":"https://docs.rs"}}]},
            "parent_tool_use_id":null,"session_id":"T-1"}),
        json!({"type":"user","message":{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"t1","content":"Exit code 101\ntest failed","is_error":true}]},
            "parent_tool_use_id":null,"session_id":"T-1"}),
        json!({"type":"result","subtype":"success","duration_ms":10,"is_error":false,"num_turns":1,
            "result":"done","session_id":"T-1","usage":{"input_tokens":10,"output_tokens":3}}),
    ];
    let run = run_lines(Protocol::Amp, &lines(&msgs));
    assert_eq!(run.session_id.as_deref(), Some("T-1"));
    let t = tools(&run.entries);
    assert_eq!(
        t[0].action,
        ToolAction::CommandRun {
            command: "cargo test".into(),
            exit_code: Some(101),
            output: Some("Exit code 101\ntest failed".into())
        }
    );
    assert_eq!(t[0].status, ToolStatus::Failed);
    assert!(
        matches!(&t[1].action, ToolAction::FileEdit { path, changes }
        if path == "/w/a.rs" && matches!(&changes[0], FileChange::Replace { old_text, new_text, .. } if old_text == "a" && new_text == "b"))
    );
    assert!(matches!(&t[2].action, ToolAction::FileEdit { changes, .. }
        if matches!(&changes[0], FileChange::Write { content } if content == "fn main() {}")));
    assert_eq!(
        t[3].action,
        ToolAction::WebFetch {
            url: "https://docs.rs".into()
        }
    );
    assert_eq!(run.usage.input_tokens, 10);
}

// ----- Codex app-server --------------------------------------------------------------

#[test]
fn codex_app_server_turn_with_approval_streaming_and_usage() {
    let msgs = [
        json!({"id":1,"result":{"thread":{"id":"thr_123","preview":"","modelProvider":"openai"}}}),
        json!({"method":"thread/started","params":{"thread":{"id":"thr_123"}}}),
        json!({"method":"turn/started","params":{"threadId":"thr_123","turn":{"id":"turn_1","status":"inProgress","items":[]}}}),
        json!({"method":"item/started","params":{"threadId":"thr_123","turnId":"turn_1","item":{
            "type":"userMessage","id":"u1","content":[{"type":"text","text":"Run the tests"}]}}}),
        json!({"method":"item/started","params":{"item":{"type":"reasoning","id":"r1","summary":[],"content":[]}}}),
        json!({"method":"item/reasoning/summaryTextDelta","params":{"itemId":"r1","delta":"Thinking ","summaryIndex":0}}),
        json!({"method":"item/reasoning/summaryTextDelta","params":{"itemId":"r1","delta":"hard","summaryIndex":0}}),
        json!({"method":"item/started","params":{"item":{"type":"commandExecution","id":"c1",
            "command":"cargo test","cwd":"/w","status":"inProgress","commandActions":[]}}}),
        json!({"id":7,"method":"item/commandExecution/requestApproval","params":{"threadId":"thr_123",
            "turnId":"turn_1","itemId":"c1","reason":"needs network","command":"cargo test"}}),
        json!({"method":"item/commandExecution/outputDelta","params":{"itemId":"c1","delta":"running 3 tests\n"}}),
        json!({"method":"item/completed","params":{"item":{"type":"commandExecution","id":"c1",
            "command":"cargo test","status":"completed","aggregatedOutput":"running 3 tests\nok\n","exitCode":0,"durationMs":900}}}),
        json!({"method":"item/started","params":{"item":{"type":"fileChange","id":"f1","status":"inProgress",
            "changes":[{"path":"src/a.rs","kind":{"type":"update","move_path":null},"diff":"@@ -1 +1 @@\n-a\n+b\n"},
                       {"path":"src/new.rs","kind":{"type":"add"},"diff":"+fn x() {}\n"}]}}}),
        json!({"id":8,"method":"item/fileChange/requestApproval","params":{"itemId":"f1","reason":null}}),
        json!({"method":"item/completed","params":{"item":{"type":"fileChange","id":"f1","status":"declined",
            "changes":[{"path":"src/a.rs","kind":{"type":"update"},"diff":"@@ -1 +1 @@\n-a\n+b\n"},
                       {"path":"src/new.rs","kind":{"type":"add"},"diff":"+fn x() {}\n"}]}}}),
        json!({"method":"item/agentMessage/delta","params":{"itemId":"a1","delta":"All "}}),
        json!({"method":"item/agentMessage/delta","params":{"itemId":"a1","delta":"green."}}),
        json!({"method":"item/completed","params":{"item":{"type":"agentMessage","id":"a1","text":"All green."}}}),
        json!({"method":"thread/tokenUsage/updated","params":{"threadId":"thr_123","turnId":"turn_1","tokenUsage":{
            "total":{"totalTokens":1200,"inputTokens":1000,"cachedInputTokens":400,"outputTokens":200,"reasoningOutputTokens":50},
            "last":{"totalTokens":1200,"inputTokens":1000,"cachedInputTokens":400,"outputTokens":200,"reasoningOutputTokens":50},
            "modelContextWindow":200000}}}),
        json!({"method":"thread/tokenUsage/updated","params":{"threadId":"thr_123","turnId":"turn_1","tokenUsage":{
            "total":{"totalTokens":1500,"inputTokens":1250,"cachedInputTokens":500,"outputTokens":250,"reasoningOutputTokens":60},
            "last":{"totalTokens":300,"inputTokens":250,"cachedInputTokens":100,"outputTokens":50,"reasoningOutputTokens":10},
            "modelContextWindow":200000}}}),
        json!({"method":"turn/completed","params":{"turn":{"id":"turn_1","status":"completed","items":[]}}}),
    ];
    let run = run_lines(Protocol::Codex, &lines(&msgs));
    assert_eq!(run.session_id.as_deref(), Some("thr_123"));
    assert_eq!(
        kinds(&run.entries),
        [
            "user_message",
            "thinking",
            "tool_use",
            "tool_use",
            "tool_use",
            "assistant_message",
            "token_usage"
        ]
    );
    assert!(
        matches!(&run.entries[1].content, EntryContent::Thinking { text } if text == "Thinking hard")
    );
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::Success);
    assert_eq!(
        t[0].action,
        ToolAction::CommandRun {
            command: "cargo test".into(),
            exit_code: Some(0),
            output: Some("running 3 tests\nok\n".into())
        }
    );
    // Two files in one change: two entries, both declined.
    assert_eq!(t[1].status, ToolStatus::Denied);
    assert_eq!(t[2].status, ToolStatus::Denied);
    assert!(
        matches!(&t[1].action, ToolAction::FileEdit { path, changes }
        if path == "src/a.rs" && matches!(&changes[0], FileChange::Diff { unified_diff } if unified_diff.contains("+b")))
    );
    assert!(
        matches!(&run.entries[5].content, EntryContent::AssistantMessage { text } if text == "All green.")
    );
    assert_eq!(run.usage.input_tokens, 1250);
    assert_eq!(run.usage.output_tokens, 250);
    assert_eq!(run.usage.cached_input_tokens, 500);
}

#[test]
fn codex_app_server_approvals_show_pending_while_they_wait() {
    let mut n = for_protocol(Protocol::Codex);
    let mut entries = Vec::new();
    let start = json!({"method":"item/started","params":{"item":{"type":"commandExecution","id":"c1",
        "command":["bash","-lc","rm -rf target"],"status":"inProgress"}}});
    apply_checked(&mut entries, n.stdout_line(&start.to_string()), "start");
    let ask =
        json!({"id":3,"method":"item/commandExecution/requestApproval","params":{"itemId":"c1"}});
    apply_checked(&mut entries, n.stdout_line(&ask.to_string()), "ask");
    assert_eq!(tools(&entries)[0].status, ToolStatus::PendingApproval);
    // The login shell Codex wraps the command in is not shown.
    assert_eq!(tools(&entries)[0].summary, "rm -rf target");
    // A late `item/updated` while waiting does not lose the pending state.
    let update = json!({"method":"item/updated","params":{"item":{"type":"commandExecution","id":"c1",
        "command":"bash -lc rm -rf target","status":"inProgress"}}});
    apply_checked(&mut entries, n.stdout_line(&update.to_string()), "update");
    assert_eq!(tools(&entries)[0].status, ToolStatus::PendingApproval);
}

#[test]
fn codex_legacy_approval_requests_show_the_command_and_the_patch() {
    let msgs = [
        json!({"id":"a","method":"execCommandApproval","params":{"conversationId":"c","callId":"call_1",
            "command":["git","push"],"cwd":"/w","reason":"network"}}),
        json!({"id":"b","method":"applyPatchApproval","params":{"conversationId":"c","callId":"call_2",
            "fileChanges":{"README.md":{"update":{"unified_diff":"@@\n-a\n+b\n","move_path":null}},
                           "new.txt":{"add":{"content":"hi\n"}}},"reason":null,"grantRoot":null}}),
    ];
    let run = run_lines(Protocol::Codex, &lines(&msgs));
    let t = tools(&run.entries);
    assert_eq!(t.len(), 3);
    assert!(t.iter().all(|t| t.status == ToolStatus::PendingApproval));
    assert!(
        matches!(&t[0].action, ToolAction::CommandRun { command, .. } if command == "git push")
    );
    let paths: Vec<&str> = t[1..]
        .iter()
        .map(|t| match &t.action {
            ToolAction::FileEdit { path, .. } => path.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(paths, ["README.md", "new.txt"]);
}

#[test]
fn codex_exec_errors_and_failed_turns_are_error_entries() {
    let msgs = [
        json!({"type":"thread.started","thread_id":"t"}),
        json!({"type":"item.completed","item":{"id":"i","type":"command_execution","command":"false",
            "aggregated_output":"","exit_code":1,"status":"failed"}}),
        json!({"type":"item.completed","item":{"id":"e","type":"error","message":"model overloaded"}}),
        json!({"type":"item.started","item":{"id":"td","type":"todo_list","items":[{"text":"a","completed":false}]}}),
        json!({"type":"item.completed","item":{"id":"td","type":"todo_list","items":[{"text":"a","completed":true}]}}),
        json!({"type":"item.completed","item":{"id":"w","type":"web_search","query":"rust 2024"}}),
        json!({"type":"error","message":"stream disconnected"}),
        json!({"type":"turn.failed","error":{"message":"usage limit reached"}}),
    ];
    let run = run_lines(Protocol::Codex, &lines(&msgs));
    assert_eq!(
        kinds(&run.entries),
        [
            "tool_use", "error", "tool_use", "tool_use", "error", "error"
        ]
    );
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::Failed);
    assert!(
        matches!(&t[1].action, ToolAction::TodoUpdate { items } if items[0].status == TodoStatus::Completed)
    );
    assert_eq!(
        t[2].action,
        ToolAction::WebSearch {
            query: "rust 2024".into()
        }
    );
}

// ----- ACP (Gemini --experimental-acp, Qwen Code, Copilot) -----------------------------

#[test]
fn acp_session_with_chunks_tools_permission_plan_and_usage() {
    let update = |u: Value| json!({"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"sess_1","update":u}});
    let msgs = [
        json!({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true}}}),
        json!({"jsonrpc":"2.0","id":1,"result":{"sessionId":"sess_1"}}),
        update(
            json!({"sessionUpdate":"agent_thought_chunk","content":{"type":"text","text":"I should "}}),
        ),
        update(
            json!({"sessionUpdate":"agent_thought_chunk","content":{"type":"text","text":"list files."}}),
        ),
        update(
            json!({"sessionUpdate":"tool_call","toolCallId":"call_1","title":"ls -la","kind":"execute",
            "status":"pending","rawInput":{"command":"ls -la"}}),
        ),
        json!({"jsonrpc":"2.0","id":5,"method":"session/request_permission","params":{"sessionId":"sess_1",
            "toolCall":{"toolCallId":"call_1","title":"ls -la","kind":"execute","status":"pending"},
            "options":[{"optionId":"allow","name":"Allow","kind":"allow_once"},{"optionId":"reject","name":"Reject","kind":"reject_once"}]}}),
        update(
            json!({"sessionUpdate":"tool_call_update","toolCallId":"call_1","status":"pending"}),
        ),
        update(
            json!({"sessionUpdate":"tool_call_update","toolCallId":"call_1","status":"in_progress"}),
        ),
        update(
            json!({"sessionUpdate":"tool_call_update","toolCallId":"call_1","status":"completed",
            "content":[{"type":"content","content":{"type":"text","text":"a.txt\nb.txt"}}]}),
        ),
        json!({"jsonrpc":"2.0","id":9,"method":"fs/read_text_file","params":{"sessionId":"sess_1","path":"/w/a.txt"}}),
        update(
            json!({"sessionUpdate":"tool_call","toolCallId":"call_2","title":"Edit a.txt","kind":"edit",
            "status":"completed","locations":[{"path":"/w/a.txt"}],
            "content":[{"type":"diff","path":"/w/a.txt","oldText":"old","newText":"new"}]}),
        ),
        update(
            json!({"sessionUpdate":"plan","entries":[{"content":"Step 1","priority":"high","status":"in_progress"},
            {"content":"Step 2","priority":"low","status":"pending"}]}),
        ),
        update(
            json!({"sessionUpdate":"plan","entries":[{"content":"Step 1","priority":"high","status":"completed"},
            {"content":"Step 2","priority":"low","status":"in_progress"}]}),
        ),
        update(
            json!({"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Done: "}}),
        ),
        update(
            json!({"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"2 files."}}),
        ),
        update(json!({"sessionUpdate":"available_commands_update","availableCommands":[]})),
        json!({"jsonrpc":"2.0","id":2,"result":{"stopReason":"end_turn","usage":{"inputTokens":900,
            "outputTokens":100,"totalTokens":1000,"thoughtTokens":20}}}),
    ];
    let run = run_lines(Protocol::Acp, &lines(&msgs));
    assert_eq!(run.session_id.as_deref(), Some("sess_1"));
    assert_eq!(
        kinds(&run.entries),
        [
            "thinking",
            "tool_use",
            "tool_use",
            "tool_use",
            "assistant_message",
            "token_usage"
        ]
    );
    assert!(
        matches!(&run.entries[0].content, EntryContent::Thinking { text } if text == "I should list files.")
    );
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::Success);
    assert_eq!(
        t[0].action,
        ToolAction::CommandRun {
            command: "ls -la".into(),
            exit_code: None,
            output: Some("a.txt\nb.txt".into())
        }
    );
    assert!(
        matches!(&t[1].action, ToolAction::FileEdit { path, changes }
        if path == "/w/a.txt" && changes == &vec![FileChange::Replace { old_text: "old".into(), new_text: "new".into(), replace_all: false }])
    );
    // The second plan replaced the first.
    assert!(matches!(&t[2].action, ToolAction::TodoUpdate { items }
        if items[0].status == TodoStatus::Completed && items[1].status == TodoStatus::InProgress));
    assert!(
        matches!(&run.entries[4].content, EntryContent::AssistantMessage { text } if text == "Done: 2 files.")
    );
    assert_eq!(run.usage.input_tokens, 900);
    assert_eq!(run.usage.output_tokens, 100);
}

#[test]
fn acp_permission_request_shows_pending_until_the_call_runs() {
    let mut n = for_protocol(Protocol::Acp);
    let mut entries = Vec::new();
    let ask = json!({"jsonrpc":"2.0","id":3,"method":"session/request_permission","params":{"sessionId":"s",
        "toolCall":{"toolCallId":"c9","title":"Write config.toml","kind":"edit","locations":[{"path":"/w/config.toml"}]},
        "options":[]}});
    apply_checked(&mut entries, n.stdout_line(&ask.to_string()), "ask");
    let t = tools(&entries);
    assert_eq!(t[0].status, ToolStatus::PendingApproval);
    assert_eq!(t[0].summary, "Write config.toml");
    let failed = json!({"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{
        "sessionUpdate":"tool_call_update","toolCallId":"c9","status":"failed",
        "content":[{"type":"content","content":{"type":"text","text":"permission denied by user"}}]}}});
    apply_checked(&mut entries, n.stdout_line(&failed.to_string()), "failed");
    let t = tools(&entries);
    assert_eq!(t[0].status, ToolStatus::Failed);
    assert_eq!(t[0].result.as_deref(), Some("permission denied by user"));
}

#[test]
fn acp_error_responses_and_refusals_are_errors() {
    let msgs = [
        json!({"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"Authentication required"}}),
        json!({"jsonrpc":"2.0","id":2,"result":{"stopReason":"refusal"}}),
        json!({"jsonrpc":"2.0","id":3,"result":{"stopReason":"cancelled"}}),
    ];
    let run = run_lines(Protocol::Acp, &lines(&msgs));
    assert_eq!(kinds(&run.entries), ["error", "error", "system_message"]);
}

// ----- OpenCode server events --------------------------------------------------------

#[test]
fn opencode_server_events_update_parts_in_place_and_track_permissions() {
    let ev = |t: &str, p: Value| json!({"type": t, "properties": p});
    let part = |p: Value| ev("message.part.updated", json!({ "part": p }));
    let msgs = [
        ev("server.connected", json!({})),
        ev(
            "message.updated",
            json!({"info":{"id":"msg_u","sessionID":"ses_1","role":"user"}}),
        ),
        part(
            json!({"id":"p0","sessionID":"ses_1","messageID":"msg_u","type":"text","text":"Fix the bug"}),
        ),
        ev(
            "message.updated",
            json!({"info":{"id":"msg_a","sessionID":"ses_1","role":"assistant"}}),
        ),
        part(
            json!({"id":"p1","sessionID":"ses_1","messageID":"msg_a","type":"reasoning","text":"Looking"}),
        ),
        part(
            json!({"id":"p1","sessionID":"ses_1","messageID":"msg_a","type":"reasoning","text":"Looking at it"}),
        ),
        part(
            json!({"id":"p2","sessionID":"ses_1","messageID":"msg_a","type":"tool","callID":"call_1","tool":"edit",
            "state":{"status":"pending","input":{}}}),
        ),
        ev(
            "permission.updated",
            json!({"id":"per_1","sessionID":"ses_1","type":"edit","callID":"call_1",
            "title":"Edit src/main.rs","metadata":{}}),
        ),
        ev(
            "permission.replied",
            json!({"sessionID":"ses_1","permissionID":"per_1","response":"once"}),
        ),
        part(
            json!({"id":"p2","sessionID":"ses_1","messageID":"msg_a","type":"tool","callID":"call_1","tool":"edit",
            "state":{"status":"running","input":{"filePath":"/w/src/main.rs","oldString":"a","newString":"b"}}}),
        ),
        part(
            json!({"id":"p2","sessionID":"ses_1","messageID":"msg_a","type":"tool","callID":"call_1","tool":"edit",
            "state":{"status":"completed","input":{"filePath":"/w/src/main.rs","oldString":"a","newString":"b"},
            "output":"","title":"src/main.rs","metadata":{"diff":"--- a\n+++ b\n-a\n+b\n"}}}),
        ),
        part(
            json!({"id":"p3","sessionID":"ses_1","messageID":"msg_a","type":"tool","callID":"call_2","tool":"bash",
            "state":{"status":"pending","input":{"command":"rm -rf /"}}}),
        ),
        ev(
            "permission.updated",
            json!({"id":"per_2","sessionID":"ses_1","type":"bash","callID":"call_2","title":"rm -rf /"}),
        ),
        ev(
            "permission.replied",
            json!({"sessionID":"ses_1","permissionID":"per_2","response":"reject"}),
        ),
        part(
            json!({"id":"p4","sessionID":"ses_1","messageID":"msg_a","type":"text","text":"Fixed"}),
        ),
        part(
            json!({"id":"p4","sessionID":"ses_1","messageID":"msg_a","type":"text","text":"Fixed it."}),
        ),
        part(
            json!({"id":"p5","sessionID":"ses_1","messageID":"msg_a","type":"step-finish","reason":"stop","cost":0.02,
            "tokens":{"input":100,"output":20,"reasoning":5,"cache":{"read":50,"write":0}}}),
        ),
        part(
            json!({"id":"p5","sessionID":"ses_1","messageID":"msg_a","type":"step-finish","reason":"stop","cost":0.02,
            "tokens":{"input":100,"output":20,"reasoning":5,"cache":{"read":50,"write":0}}}),
        ),
        ev("session.idle", json!({"sessionID":"ses_1"})),
    ];
    // The server stream is SSE: the same events arrive behind `data: `.
    let sse: Vec<String> = lines(&msgs)
        .into_iter()
        .map(|l| format!("data: {l}"))
        .collect();
    for input in [lines(&msgs), sse] {
        let run = run_lines(Protocol::OpenCode, &input);
        assert_eq!(run.session_id.as_deref(), Some("ses_1"));
        assert_eq!(
            kinds(&run.entries),
            [
                "user_message",
                "thinking",
                "tool_use",
                "tool_use",
                "assistant_message",
                "token_usage"
            ]
        );
        let t = tools(&run.entries);
        assert_eq!(t[0].status, ToolStatus::Success);
        assert!(
            matches!(&t[0].action, ToolAction::FileEdit { path, changes }
            if path == "/w/src/main.rs" && matches!(&changes[0], FileChange::Diff { .. }))
        );
        assert_eq!(t[1].status, ToolStatus::Denied);
        assert!(
            matches!(&run.entries[4].content, EntryContent::AssistantMessage { text } if text == "Fixed it.")
        );
        // A re-sent step-finish is counted once.
        assert_eq!(run.usage.input_tokens, 150);
        assert_eq!(run.usage.output_tokens, 25);
        assert_eq!(run.usage.cost_usd, Some(0.02));
    }
}

#[test]
fn opencode_tool_errors_and_session_errors_are_reported() {
    let msgs = [
        json!({"type":"tool_use","timestamp":1767036061199u64,"sessionID":"s","part":{"id":"p","type":"tool",
            "callID":"c","tool":"read","state":{"status":"error","input":{"filePath":"/nope"},"error":"File not found: /nope"}}}),
        json!({"type":"error","timestamp":1767036061300u64,"sessionID":"s","error":{"name":"ProviderAuthError",
            "data":{"message":"invalid api key"}}}),
    ];
    let run = run_lines(Protocol::OpenCode, &lines(&msgs));
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::Failed);
    assert_eq!(t[0].result.as_deref(), Some("File not found: /nope"));
    assert!(
        matches!(&run.entries[1].content, EntryContent::Error { text } if text == "ProviderAuthError: invalid api key")
    );
}

// ----- Gemini, Cursor, Droid paths the recordings miss -------------------------------

#[test]
fn gemini_tool_errors_and_warnings() {
    let msgs = [
        json!({"type":"tool_use","timestamp":"2025-10-29T10:37:05Z","tool_name":"run_shell_command",
            "tool_id":"sh-1","parameters":{"command":"make","description":"build"}}),
        json!({"type":"tool_result","timestamp":"2025-10-29T10:37:06Z","tool_id":"sh-1","status":"error",
            "error":{"type":"execution_failed","message":"make: *** No targets."}}),
        json!({"type":"error","timestamp":"2025-10-29T10:37:07Z","severity":"warning","message":"Loop detected"}),
        json!({"type":"result","timestamp":"2025-10-29T10:37:08Z","status":"error",
            "error":{"type":"FatalError","message":"quota exceeded"},"stats":{"input_tokens":3,"output_tokens":1}}),
    ];
    let run = run_lines(Protocol::GeminiStreamJson, &lines(&msgs));
    assert_eq!(
        kinds(&run.entries),
        ["tool_use", "system_message", "token_usage", "error"]
    );
    let t = tools(&run.entries);
    assert_eq!(t[0].status, ToolStatus::Failed);
    assert!(
        matches!(&t[0].action, ToolAction::CommandRun { command, output: Some(o), .. }
        if command == "make" && o == "make: *** No targets.")
    );
}

#[test]
fn cursor_edits_rejections_and_partial_assistant_text() {
    let call = |sub: &str, id: &str, body: Value| json!({"type":"tool_call","subtype":sub,"call_id":id,"tool_call":body,"session_id":"s"});
    let msgs = [
        json!({"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Let me "}]},"session_id":"s"}),
        json!({"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"edit it."}]},"session_id":"s"}),
        call(
            "started",
            "e1",
            json!({"editToolCall":{"args":{"path":"/w/a.py"}}}),
        ),
        call(
            "completed",
            "e1",
            json!({"editToolCall":{"args":{"path":"/w/a.py"},
            "result":{"success":{"path":"/w/a.py","linesAdded":1,"linesRemoved":1,"diffString":"-a\n+b"}}}}),
        ),
        call(
            "started",
            "s1",
            json!({"shellToolCall":{"args":{"command":"rm -rf /"}}}),
        ),
        call(
            "completed",
            "s1",
            json!({"shellToolCall":{"args":{"command":"rm -rf /"},
            "result":{"rejected":{"command":"rm -rf /","reason":"blocked by policy"}}}}),
        ),
        call(
            "started",
            "t1",
            json!({"updateTodosToolCall":{"args":{"todos":[
            {"id":"1","content":"Edit a.py","status":"TODO_STATUS_COMPLETED"}]}}}),
        ),
        call(
            "started",
            "m1",
            json!({"mcpToolCall":{"args":{"name":"linear-create","toolName":"create_issue","args":{"title":"x"}}}}),
        ),
        json!({"type":"result","subtype":"error","is_error":true,"result":"Model refused","session_id":"s"}),
    ];
    let run = run_lines(Protocol::CursorAgent, &lines(&msgs));
    assert!(
        matches!(&run.entries[0].content, EntryContent::AssistantMessage { text } if text == "Let me edit it.")
    );
    let t = tools(&run.entries);
    assert!(matches!(&t[0].action, ToolAction::FileEdit { changes, .. }
        if matches!(&changes[0], FileChange::Diff { unified_diff } if unified_diff == "-a\n+b")));
    assert_eq!(t[0].status, ToolStatus::Success);
    assert_eq!(t[1].status, ToolStatus::Denied);
    assert!(
        matches!(&t[2].action, ToolAction::TodoUpdate { items } if items[0].status == TodoStatus::Completed)
    );
    assert_eq!(t[3].tool_name, "create_issue");
    assert!(
        matches!(run.entries.last().map(|e| &e.content), Some(EntryContent::Error { text }) if text == "Model refused")
    );
}

#[test]
fn droid_completion_usage_and_reasoning() {
    let msgs = [
        json!({"type":"reasoning","id":"r1","text":"Plan the change","timestamp":1760807307720u64}),
        json!({"type":"tool_call","id":"c1","toolName":"Create","toolId":"Create",
            "parameters":{"file_path":"/w/a.txt","content":"a"},"timestamp":1760807307721u64}),
        json!({"type":"tool_result","id":"c1","toolId":"","isError":false,"value":"File created","timestamp":1760807307722u64}),
        json!({"type":"tool_call","id":"c2","toolName":"Execute","parameters":{"command":"false"}}),
        json!({"type":"tool_result","id":"c2","isError":false,"value":"\n\n[Process exited with code 1]"}),
        json!({"type":"completion","finalText":"Done","numTurns":2,"durationMs":10,"session_id":"d1",
            "usage":{"input_tokens":100,"output_tokens":10,"cache_read_input_tokens":40}}),
    ];
    let run = run_lines(Protocol::Droid, &lines(&msgs));
    assert_eq!(run.session_id.as_deref(), Some("d1"));
    assert_eq!(
        kinds(&run.entries),
        ["thinking", "tool_use", "tool_use", "token_usage"]
    );
    let t = tools(&run.entries);
    assert!(
        matches!(&t[0].action, ToolAction::FileEdit { changes, .. } if matches!(&changes[0], FileChange::Write { content } if content == "a"))
    );
    assert_eq!(t[1].status, ToolStatus::Failed);
    assert!(matches!(
        t[1].action,
        ToolAction::CommandRun {
            exit_code: Some(1),
            ..
        }
    ));
    assert_eq!(run.usage.input_tokens, 140);
    assert_eq!(run.usage.cached_input_tokens, 40);
}

// ----- Every protocol ----------------------------------------------------------------

#[test]
fn banners_become_output_entries_and_stderr_lines_become_errors() {
    for protocol in Protocol::ALL {
        let mut n = for_protocol(protocol);
        let mut entries = Vec::new();
        apply_checked(
            &mut entries,
            n.stdout_line("Welcome to the agent v1.2.3"),
            "banner",
        );
        apply_checked(&mut entries, n.stdout_line(""), "blank");
        apply_checked(
            &mut entries,
            n.stderr_line("disk quota exceeded writing out.txt"),
            "stderr",
        );
        apply_checked(&mut entries, n.stderr_line("   "), "blank stderr");
        apply_checked(&mut entries, n.finish(), "finish");
        assert_eq!(kinds(&entries), ["output", "error"], "{protocol}");
        assert!(
            matches!(&entries[0].content, EntryContent::Output { text, .. } if text == "Welcome to the agent v1.2.3")
        );
        assert!(
            matches!(&entries[1].content, EntryContent::Error { text } if text == "disk quota exceeded writing out.txt")
        );
    }
}

#[test]
fn unknown_event_types_become_system_messages_with_an_excerpt() {
    let cases = [
        (Protocol::ClaudeCode, json!({"type":"telemetry","x":1})),
        (Protocol::Amp, json!({"type":"telemetry","x":1})),
        (Protocol::Codex, json!({"type":"thread.archived","x":1})),
        (
            Protocol::Acp,
            json!({"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"hologram"}}}),
        ),
        (
            Protocol::GeminiStreamJson,
            json!({"type":"telemetry","x":1}),
        ),
        (Protocol::GeminiJson, json!({"telemetry": 1})),
        (Protocol::OpenCode, json!({"type":"telemetry","x":1})),
        (Protocol::CursorAgent, json!({"type":"telemetry","x":1})),
        (Protocol::Droid, json!({"type":"telemetry","x":1})),
    ];
    for (protocol, event) in cases {
        let run = run_lines(protocol, &lines(&[event]));
        assert_eq!(kinds(&run.entries), ["system_message"], "{protocol}");
        assert!(
            matches!(&run.entries[0].content, EntryContent::SystemMessage { text }
            if text.contains("telemetry") || text.contains("hologram") || text.contains("thread.archived")),
            "{protocol}"
        );
    }
}

#[test]
fn a_decision_on_a_pending_call_shows_at_once_and_a_denial_sticks() {
    // ACP: denied by a team member; the agent then reports the call as failed.
    let mut n = for_protocol(Protocol::Acp);
    let mut entries = Vec::new();
    let ask = json!({"jsonrpc":"2.0","id":3,"method":"session/request_permission","params":{"sessionId":"s",
        "toolCall":{"toolCallId":"c1","title":"rm -rf build","kind":"execute","rawInput":{"command":"rm -rf build"}},
        "options":[]}});
    apply_checked(&mut entries, n.stdout_line(&ask.to_string()), "ask");
    apply_checked(&mut entries, n.approval_decided("c1", false), "deny");
    assert_eq!(tools(&entries)[0].status, ToolStatus::Denied);
    let failed = json!({"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{
        "sessionUpdate":"tool_call_update","toolCallId":"c1","status":"failed"}}});
    apply_checked(&mut entries, n.stdout_line(&failed.to_string()), "failed");
    assert_eq!(tools(&entries)[0].status, ToolStatus::Denied);

    // Claude Code: approved; the call then runs and succeeds.
    let mut n = for_protocol(Protocol::ClaudeCode);
    let mut entries = Vec::new();
    let ask = json!({"type":"control_request","request_id":"r","request":{"subtype":"can_use_tool",
        "tool_name":"Bash","input":{"command":"make"},"tool_use_id":"toolu_7"}});
    apply_checked(&mut entries, n.stdout_line(&ask.to_string()), "ask");
    assert!(n.approval_decided("someone-else", true).is_empty());
    apply_checked(&mut entries, n.approval_decided("toolu_7", true), "approve");
    assert_eq!(tools(&entries)[0].status, ToolStatus::Created);
    let result = json!({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_7","content":"ok"}]}});
    apply_checked(&mut entries, n.stdout_line(&result.to_string()), "result");
    assert_eq!(tools(&entries)[0].status, ToolStatus::Success);
}

#[test]
fn claude_usage_is_estimated_mid_run_and_exact_after_the_result() {
    let lines = fixture_lines("claude-code/terragon-bash-test.json");
    let (result, before) = lines.split_last().expect("lines");
    let mut n = for_protocol(Protocol::ClaudeCode);
    for line in before {
        n.stdout_line(line);
    }
    let mid = n.token_usage();
    // Two model messages so far: 3 + 17080 and 8 + 4719 + 14910 prompt tokens.
    assert_eq!(mid.input_tokens, 17_083 + 19_637);
    assert!(mid.output_tokens > 0);
    n.stdout_line(result);
    assert_eq!(n.token_usage().input_tokens, 36_720);
    assert_eq!(n.token_usage().output_tokens, 838);
}

#[test]
fn claude_permission_denials_in_the_result_mark_their_calls_denied() {
    let msgs = [
        json!({"type":"assistant","message":{"id":"m","content":[
            {"type":"tool_use","id":"toolu_d","name":"Write","input":{"file_path":"/etc/x","content":"y"}}]}}),
        json!({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_d",
            "content":"Claude requested permissions to write to /etc/x, but you haven't granted it yet.","is_error":true}]}}),
        json!({"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":1,"output_tokens":1},
            "permission_denials":[{"tool_name":"Write","tool_use_id":"toolu_d","tool_input":{}}]}),
    ];
    let run = run_lines(Protocol::ClaudeCode, &lines(&msgs));
    assert_eq!(tools(&run.entries)[0].status, ToolStatus::Denied);
}
