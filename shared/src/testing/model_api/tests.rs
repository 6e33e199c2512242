//! The fakes over real HTTP, read the way the vendors' clients read them.

use super::*;
use std::collections::HashMap;

const WAIT: Duration = Duration::from_secs(10);

/// One server-sent event: its `event:` name (if any) and its `data:` as JSON (or text).
#[derive(Debug)]
struct Event {
    name: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

fn parse_sse(text: &str) -> Vec<Event> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            Event {
                name,
                data: data.join("\n"),
            }
        })
        .collect()
}

async fn post(fake: &FakeModelApi, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", fake.url()))
        .header("x-api-key", "sk-fake")
        .json(&body)
        .send()
        .await
        .expect("post to the fake")
}

async fn stream(fake: &FakeModelApi, path: &str, body: Value) -> Vec<Event> {
    let response = post(fake, path, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    parse_sse(&response.text().await.expect("body"))
}

fn anthropic_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{ "role": "user", "content": "list the files" }],
        "tools": [{ "name": "Bash", "description": "runs a command", "input_schema": { "type": "object" } }],
    })
}

#[tokio::test]
async fn anthropic_streams_thinking_text_and_a_tool_call_then_the_next_turn() {
    let fake = FakeModelApi::start();
    fake.script([
        Turn::tool(
            "Bash",
            json!({ "command": "ls -la", "description": "list" }),
        )
        .with_thinking("I should look around")
        .with_text("Let me look at the files.")
        .with_usage(321, 12),
        Turn::text("There are three files."),
    ]);

    let events = stream(&fake, "/v1/messages", anthropic_request(true)).await;
    for e in &events {
        assert_eq!(e.json()["type"], e.name.as_deref().expect("named"), "{e:?}");
    }
    let names: Vec<&str> = events.iter().filter_map(|e| e.name.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert_eq!(events[0].json()["message"]["model"], "claude-sonnet-4-5");
    // Blocks in order, each started and stopped, deltas joined.
    let mut blocks: HashMap<u64, (Value, String)> = HashMap::new();
    let mut order = Vec::new();
    let mut stopped = Vec::new();
    for e in &events {
        let v = e.json();
        match e.name.as_deref() {
            Some("content_block_start") => {
                let i = v["index"].as_u64().expect("index");
                order.push(
                    v["content_block"]["type"]
                        .as_str()
                        .expect("type")
                        .to_owned(),
                );
                blocks.insert(i, (v["content_block"].clone(), String::new()));
            }
            Some("content_block_delta") => {
                let i = v["index"].as_u64().expect("index");
                let d = &v["delta"];
                let piece = match d["type"].as_str() {
                    Some("text_delta") => d["text"].as_str(),
                    Some("thinking_delta") => d["thinking"].as_str(),
                    Some("input_json_delta") => d["partial_json"].as_str(),
                    Some("signature_delta") => Some(""),
                    other => panic!("unexpected delta {other:?}"),
                };
                blocks
                    .get_mut(&i)
                    .expect("started")
                    .1
                    .push_str(piece.expect("text"));
            }
            Some("content_block_stop") => stopped.push(v["index"].as_u64().expect("index")),
            _ => {}
        }
    }
    assert_eq!(order, ["thinking", "text", "tool_use"]);
    assert_eq!(stopped, [0, 1, 2]);
    assert_eq!(blocks[&0].1, "I should look around");
    assert_eq!(blocks[&1].1, "Let me look at the files.");
    let tool = &blocks[&2];
    assert_eq!(tool.0["name"], "Bash");
    assert!(tool.0["id"].as_str().expect("id").starts_with("toolu_"));
    assert_eq!(
        serde_json::from_str::<Value>(&tool.1).expect("arguments"),
        json!({ "command": "ls -la", "description": "list" })
    );
    let delta = events
        .iter()
        .find(|e| e.name.as_deref() == Some("message_delta"))
        .expect("message_delta")
        .json();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 12);
    assert_eq!(delta["usage"]["input_tokens"], 321);

    // The next turn ends it.
    let events = stream(&fake, "/v1/messages", anthropic_request(true)).await;
    let text: String = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| {
            e.json()["delta"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "There are three files.");
    let delta = events
        .iter()
        .find(|e| e.name.as_deref() == Some("message_delta"))
        .expect("message_delta")
        .json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");

    // Past the script, and for a request without tools: the default.
    let mut side = anthropic_request(false);
    side["tools"] = json!([]);
    let answer: Value = post(&fake, "/v1/messages", side)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        answer["content"],
        json!([{ "type": "text", "text": "Done." }])
    );
    assert_eq!(answer["stop_reason"], "end_turn");

    let requests = fake.requests();
    assert_eq!(
        requests.iter().map(|r| r.turn).collect::<Vec<_>>(),
        [Some(0), Some(1), None]
    );
    assert!(requests.iter().all(|r| r.api == Api::Anthropic));
    assert_eq!(requests[0].header("X-Api-Key"), Some("sk-fake"));
    assert_eq!(requests[0].tool_names(), ["Bash"]);
    assert!(requests[0].body_text().contains("list the files"));
    assert!(requests[0].streamed && !requests[2].streamed);
    assert_eq!(fake.remaining(), 0);
    assert_eq!(fake.served(), 2);
}

#[tokio::test]
async fn anthropic_answers_whole_messages_and_counts_tokens() {
    let fake = FakeModelApi::start();
    fake.script([Turn::tool("Edit", json!({ "file_path": "a.txt" })).with_text("Editing.")]);
    let message: Value = post(&fake, "/v1/messages", anthropic_request(false))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(
        message["content"][0],
        json!({ "type": "text", "text": "Editing." })
    );
    assert_eq!(message["content"][1]["type"], "tool_use");
    assert_eq!(
        message["content"][1]["input"],
        json!({ "file_path": "a.txt" })
    );
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["usage"]["input_tokens"],
        Usage::default().input_tokens
    );

    let count: Value = post(&fake, "/v1/messages/count_tokens", anthropic_request(false))
        .await
        .json()
        .await
        .expect("json");
    assert!(
        count["input_tokens"].as_u64().expect("count") > 10,
        "{count}"
    );
    let requests = fake.requests();
    assert!(requests[1].api == Api::Anthropic && !requests[1].is_generation());
    assert_eq!(requests[1].turn, None, "counting takes no turn");
}

fn responses_request() -> Value {
    json!({
        "model": "gpt-5-codex",
        "stream": true,
        "input": [{ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "hi" }] }],
        "tools": [{ "type": "function", "name": "shell", "parameters": { "type": "object" } }],
    })
}

#[tokio::test]
async fn openai_responses_streams_output_items_and_completes_with_usage() {
    let fake = FakeModelApi::start();
    fake.script([
        Turn::tool("shell", json!({ "command": ["bash", "-lc", "ls"] }))
            .with_thinking("Look first")
            .with_text("Checking."),
        Turn::custom_tool("apply_patch", "*** Begin Patch\n*** End Patch\n"),
    ]);
    let events = stream(&fake, "/v1/responses", responses_request()).await;
    let types: Vec<String> = events
        .iter()
        .map(|e| e.json()["type"].as_str().expect("type").to_owned())
        .collect();
    for (e, t) in events.iter().zip(&types) {
        assert_eq!(e.name.as_deref(), Some(t.as_str()));
    }
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e.json()["sequence_number"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    assert_eq!(types[0], "response.created");
    assert_eq!(types.last().map(String::as_str), Some("response.completed"));
    for wanted in [
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ] {
        assert!(types.iter().any(|t| t == wanted), "{wanted} in {types:?}");
    }
    let text: String = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("response.output_text.delta"))
        .map(|e| e.json()["delta"].as_str().expect("delta").to_owned())
        .collect();
    assert_eq!(text, "Checking.");
    let args: String = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("response.function_call_arguments.delta"))
        .map(|e| e.json()["delta"].as_str().expect("delta").to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("arguments"),
        json!({ "command": ["bash", "-lc", "ls"] })
    );
    let done: Vec<Value> = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("response.output_item.done"))
        .map(|e| e.json()["item"].clone())
        .collect();
    assert_eq!(
        done.iter()
            .map(|i| i["type"].as_str().expect("type"))
            .collect::<Vec<_>>(),
        ["reasoning", "message", "function_call"]
    );
    assert_eq!(done[2]["name"], "shell");
    assert!(
        done[2]["call_id"]
            .as_str()
            .expect("call id")
            .starts_with("call_")
    );
    let completed = events.last().expect("completed").json();
    let usage = &completed["response"]["usage"];
    assert_eq!(usage["input_tokens"], Usage::default().input_tokens);
    assert_eq!(usage["output_tokens"], Usage::default().output_tokens);
    assert_eq!(
        usage["total_tokens"],
        Usage::default().input_tokens + Usage::default().output_tokens
    );
    assert_eq!(
        completed["response"]["output"]
            .as_array()
            .expect("output")
            .len(),
        3
    );

    let events = stream(&fake, "/v1/responses", responses_request()).await;
    let item = events
        .iter()
        .find(|e| e.name.as_deref() == Some("response.output_item.done"))
        .expect("item")
        .json();
    assert_eq!(item["item"]["type"], "custom_tool_call");
    assert_eq!(item["item"]["input"], "*** Begin Patch\n*** End Patch\n");
    assert_eq!(fake.turn_requests().len(), 2);
    assert_eq!(fake.requests()[0].api, Api::OpenAiResponses);
}

#[tokio::test]
async fn openai_chat_streams_chunks_with_tool_calls_usage_and_done() {
    let fake = FakeModelApi::start();
    fake.script([
        Turn::tool("write_file", json!({ "path": "a.txt", "content": "x" })).with_text("Writing."),
    ]);
    let request = json!({
        "model": "qwen3-coder",
        "stream": true,
        "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": "write" }],
        "tools": [{ "type": "function", "function": { "name": "write_file", "parameters": {} } }],
    });
    let events = stream(&fake, "/v1/chat/completions", request.clone()).await;
    assert_eq!(events.last().expect("done").data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let mut text = String::new();
    let mut name = String::new();
    let mut args = String::new();
    let mut finish = None;
    for c in &chunks {
        let Some(choice) = c["choices"].get(0) else {
            continue;
        };
        text.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
        if let Some(call) = choice["delta"]["tool_calls"].get(0) {
            assert_eq!(call["index"], 0);
            name.push_str(call["function"]["name"].as_str().unwrap_or_default());
            args.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
    }
    assert_eq!(text, "Writing.");
    assert_eq!(name, "write_file");
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("args"),
        json!({ "path": "a.txt", "content": "x" })
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    let usage = chunks.last().expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"]["prompt_tokens"],
        Usage::default().input_tokens
    );

    // Whole answers, and the model list.
    let mut whole = request;
    whole["stream"] = json!(false);
    let answer: Value = post(&fake, "/v1/chat/completions", whole)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "Done.");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let models: Value = reqwest::get(format!("{}/v1/models", fake.url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(models["object"], "list");
    assert!(!models["data"].as_array().expect("data").is_empty());
}

#[tokio::test]
async fn gemini_streams_function_calls_and_usage_and_counts_tokens() {
    let fake = FakeModelApi::start();
    fake.script([
        Turn::tool("run_shell_command", json!({ "command": "ls" })).with_text("Looking."),
        Turn::text("All done here.").with_thinking("Nothing left"),
    ]);
    let request = json!({
        "contents": [{ "role": "user", "parts": [{ "text": "look" }] }],
        "tools": [{ "functionDeclarations": [{ "name": "run_shell_command" }] }],
    });
    let path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse";
    let events = stream(&fake, path, request.clone()).await;
    let chunks: Vec<Value> = events.iter().map(Event::json).collect();
    let parts: Vec<Value> = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(text, "Looking.");
    let call = parts
        .iter()
        .find_map(|p| p.get("functionCall"))
        .expect("a call");
    assert_eq!(call["name"], "run_shell_command");
    assert_eq!(call["args"], json!({ "command": "ls" }));
    let last = chunks.last().expect("last");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"]["promptTokenCount"],
        Usage::default().input_tokens
    );
    assert_eq!(last["modelVersion"], "gemini-2.5-pro");
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.get("usageMetadata").is_none())
    );

    let answer: Value = post(
        &fake,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        request.clone(),
    )
    .await
    .json()
    .await
    .expect("json");
    let parts = &answer["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({ "text": "Nothing left", "thought": true }));
    assert_eq!(parts[1], json!({ "text": "All done here." }));

    let count: Value = post(&fake, "/v1beta/models/gemini-2.5-pro:countTokens", request)
        .await
        .json()
        .await
        .expect("json");
    assert!(count["totalTokens"].as_u64().expect("total") > 0);
    let requests = fake.requests();
    assert_eq!(requests[0].query, "alt=sse");
    assert_eq!(requests[0].tool_names(), ["run_shell_command"]);
    assert!(requests.iter().all(|r| r.api == Api::Gemini));
    assert_eq!(
        requests.iter().map(|r| r.turn).collect::<Vec<_>>(),
        [Some(0), Some(1), None]
    );
}

#[tokio::test]
async fn a_stalled_turn_waits_for_release_and_records_a_client_that_hangs_up() {
    let fake = FakeModelApi::start();
    fake.script([
        Turn::text("first part then the rest").stalled(),
        Turn::text("never finished").stalled(),
    ]);

    // Released: the whole answer arrives.
    let response = post(&fake, "/v1/messages", anthropic_request(true)).await;
    fake.wait_stalled(WAIT).await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("text_delta") {
        let chunk = body.next().await.expect("a chunk").expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("message_stop"), "it waits: {seen}");
    fake.release();
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
    }
    assert!(seen.contains("message_stop"), "{seen}");
    assert!(!fake.requests()[0].aborted);

    // Hung up while stalled: recorded as aborted.
    let response = post(&fake, "/v1/messages", anthropic_request(true)).await;
    fake.wait_stalled(WAIT).await;
    drop(response);
    fake.wait_for("the stalled request aborted", WAIT, |r| {
        r.len() == 2 && r[1].aborted
    })
    .await;
}

#[tokio::test]
async fn errors_and_unknown_paths_are_answered_and_recorded() {
    let fake = FakeModelApi::start();
    fake.script([Turn::error(
        429,
        json!({ "type": "error", "error": { "type": "rate_limit_error", "message": "slow down" } }),
    )]);
    let response = post(&fake, "/v1/messages", anthropic_request(true)).await;
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let response = post(&fake, "/api/event_logging/batch", json!({})).await;
    assert_eq!(response.status(), 404);
    let requests = fake.requests();
    assert_eq!(requests[1].api, Api::Other);
    assert_eq!(requests[1].path, "/api/event_logging/batch");

    // A custom rule for which requests take turns.
    fake.consume_when(|r| r.body["model"] == "main");
    fake.script([Turn::text("for main")]);
    let mut side = anthropic_request(false);
    side["model"] = json!("small");
    let answer: Value = post(&fake, "/v1/messages", side)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["content"][0]["text"], "Done.");
    fake.set_default(Turn::text("quiet"));
    let mut main = anthropic_request(false);
    main["model"] = json!("main");
    let answer: Value = post(&fake, "/v1/messages", main.clone())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["content"][0]["text"], "for main");
    let answer: Value = post(&fake, "/v1/messages", main)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(answer["content"][0]["text"], "quiet");
}
