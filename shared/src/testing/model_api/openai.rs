//! OpenAI's two generation APIs.
//!
//! Responses (`POST /v1/responses`): a `response` object, or streamed events
//! `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`, its deltas (`response.reasoning_summary_text.delta`,
//! `response.output_text.delta`, `response.function_call_arguments.delta`,
//! `response.custom_tool_call_input.delta`) and their `.done`, `response.output_item.done`,
//! and `response.completed` with usage.
//!
//! Chat Completions (`POST /v1/chat/completions`): a `chat.completion`, or
//! `chat.completion.chunk`s with `delta.content` / `delta.reasoning_content` /
//! `delta.tool_calls`, a `finish_reason`, a usage chunk when
//! `stream_options.include_usage` asks for one, and `data: [DONE]`.

use serde_json::{Value, json};

use super::{Answer, Context, Frame, Turn, arguments_text, pieces};

const CREATED: u64 = 1_767_225_600;

/// `GET /v1/models`: the model asked about, as the only one.
pub(super) fn models(model: &str) -> Value {
    json!({
        "object": "list",
        "data": [{ "id": model, "object": "model", "created": CREATED, "owned_by": "switchyard-fake" }],
    })
}

fn response_usage(turn: &Turn) -> Value {
    json!({
        "input_tokens": turn.usage.input_tokens,
        "input_tokens_details": { "cached_tokens": turn.usage.cached_tokens },
        "output_tokens": turn.usage.output_tokens,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": turn.usage.input_tokens + turn.usage.output_tokens,
    })
}

/// The output items of a turn, complete.
fn response_items(turn: &Turn, cx: &Context) -> Vec<Value> {
    let mut items = Vec::new();
    if let Some(thinking) = &turn.thinking {
        items.push(json!({
            "id": cx.id("rs_fake", items.len()),
            "type": "reasoning",
            "summary": [{ "type": "summary_text", "text": thinking }],
        }));
    }
    if let Some(text) = &turn.text {
        items.push(json!({
            "id": cx.id("msg_fake", items.len()),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{ "type": "output_text", "text": text, "annotations": [] }],
        }));
    }
    for call in &turn.tool_calls {
        let n = items.len();
        items.push(if call.custom {
            json!({
                "id": cx.id("ctc_fake", n),
                "type": "custom_tool_call",
                "status": "completed",
                "call_id": cx.id("call_fake", n),
                "name": call.name,
                "input": arguments_text(call),
            })
        } else {
            json!({
                "id": cx.id("fc_fake", n),
                "type": "function_call",
                "status": "completed",
                "call_id": cx.id("call_fake", n),
                "name": call.name,
                "arguments": arguments_text(call),
            })
        });
    }
    items
}

fn response_object(cx: &Context, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": cx.id("resp_fake", 0),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": cx.model,
        "output": output,
        "usage": usage,
        "error": null,
        "incomplete_details": null,
    })
}

/// The answer to one Responses request.
pub(super) fn responses_answer(turn: &Turn, cx: &Context, stream: bool) -> Answer {
    let items = response_items(turn, cx);
    if !stream {
        return Answer::Json(response_object(
            cx,
            "completed",
            items,
            response_usage(turn),
        ));
    }
    let mut seq = 0u64;
    let mut frames = Vec::new();
    let mut push = |frames: &mut Vec<Frame>, kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        frames.push(Frame::Data(format!("event: {kind}\ndata: {data}\n\n")));
    };
    push(
        &mut frames,
        "response.created",
        json!({ "response": response_object(cx, "in_progress", vec![], Value::Null) }),
    );
    push(
        &mut frames,
        "response.in_progress",
        json!({ "response": response_object(cx, "in_progress", vec![], Value::Null) }),
    );
    let mut stalled = !turn.stall;
    for (output_index, item) in items.iter().enumerate() {
        let item_id = item["id"].clone();
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        match item["type"].as_str() {
            Some("reasoning") => {
                added["summary"] = json!([]);
                push(
                    &mut frames,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": added }),
                );
                let text = item["summary"][0]["text"].as_str().unwrap_or_default();
                push(
                    &mut frames,
                    "response.reasoning_summary_part.added",
                    json!({ "item_id": item_id, "output_index": output_index, "summary_index": 0,
                            "part": { "type": "summary_text", "text": "" } }),
                );
                for piece in pieces(text) {
                    push(
                        &mut frames,
                        "response.reasoning_summary_text.delta",
                        json!({ "item_id": item_id, "output_index": output_index, "summary_index": 0, "delta": piece }),
                    );
                }
                push(
                    &mut frames,
                    "response.reasoning_summary_text.done",
                    json!({ "item_id": item_id, "output_index": output_index, "summary_index": 0, "text": text }),
                );
                push(
                    &mut frames,
                    "response.reasoning_summary_part.done",
                    json!({ "item_id": item_id, "output_index": output_index, "summary_index": 0,
                            "part": { "type": "summary_text", "text": text } }),
                );
            }
            Some("message") => {
                added["content"] = json!([]);
                push(
                    &mut frames,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": added }),
                );
                let text = item["content"][0]["text"].as_str().unwrap_or_default();
                push(
                    &mut frames,
                    "response.content_part.added",
                    json!({ "item_id": item_id, "output_index": output_index, "content_index": 0,
                            "part": { "type": "output_text", "text": "", "annotations": [] } }),
                );
                for piece in pieces(text) {
                    push(
                        &mut frames,
                        "response.output_text.delta",
                        json!({ "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": piece, "logprobs": [] }),
                    );
                    if !stalled {
                        frames.push(Frame::Stall);
                        stalled = true;
                    }
                }
                push(
                    &mut frames,
                    "response.output_text.done",
                    json!({ "item_id": item_id, "output_index": output_index, "content_index": 0, "text": text, "logprobs": [] }),
                );
                push(
                    &mut frames,
                    "response.content_part.done",
                    json!({ "item_id": item_id, "output_index": output_index, "content_index": 0,
                            "part": { "type": "output_text", "text": text, "annotations": [] } }),
                );
            }
            Some("custom_tool_call") => {
                added["input"] = json!("");
                push(
                    &mut frames,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": added }),
                );
                let input = item["input"].as_str().unwrap_or_default();
                push(
                    &mut frames,
                    "response.custom_tool_call_input.delta",
                    json!({ "item_id": item_id, "output_index": output_index, "delta": input }),
                );
                push(
                    &mut frames,
                    "response.custom_tool_call_input.done",
                    json!({ "item_id": item_id, "output_index": output_index, "input": input }),
                );
            }
            _ => {
                added["arguments"] = json!("");
                push(
                    &mut frames,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": added }),
                );
                let args = item["arguments"].as_str().unwrap_or_default();
                let split = args
                    .char_indices()
                    .nth(args.chars().count() / 2)
                    .map_or(args.len(), |(i, _)| i);
                for part in [&args[..split], &args[split..]] {
                    push(
                        &mut frames,
                        "response.function_call_arguments.delta",
                        json!({ "item_id": item_id, "output_index": output_index, "delta": part }),
                    );
                }
                push(
                    &mut frames,
                    "response.function_call_arguments.done",
                    json!({ "item_id": item_id, "output_index": output_index, "arguments": args }),
                );
            }
        }
        push(
            &mut frames,
            "response.output_item.done",
            json!({ "output_index": output_index, "item": item }),
        );
        if !stalled {
            frames.push(Frame::Stall);
            stalled = true;
        }
    }
    if !stalled {
        frames.push(Frame::Stall);
    }
    push(
        &mut frames,
        "response.completed",
        json!({ "response": response_object(cx, "completed", items, response_usage(turn)) }),
    );
    Answer::Stream(frames, Some(": keep-alive\n\n"))
}

fn chat_usage(turn: &Turn) -> Value {
    json!({
        "prompt_tokens": turn.usage.input_tokens,
        "completion_tokens": turn.usage.output_tokens,
        "total_tokens": turn.usage.input_tokens + turn.usage.output_tokens,
        "prompt_tokens_details": { "cached_tokens": turn.usage.cached_tokens },
    })
}

fn finish_reason(turn: &Turn) -> &'static str {
    if turn.stops_for_tools() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// The answer to one Chat Completions request.
pub(super) fn chat_answer(turn: &Turn, cx: &Context, stream: bool, request: &Value) -> Answer {
    let id = cx.id("chatcmpl-fake", 0);
    let calls: Vec<Value> = turn
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            json!({
                "id": cx.id("call_fake", i),
                "type": "function",
                "function": { "name": call.name, "arguments": arguments_text(call) },
            })
        })
        .collect();
    if !stream {
        let mut message = json!({ "role": "assistant", "content": turn.text });
        if let Some(thinking) = &turn.thinking {
            message["reasoning_content"] = json!(thinking);
        }
        if !calls.is_empty() {
            message["tool_calls"] = json!(calls);
        }
        return Answer::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": CREATED,
            "model": cx.model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason(turn) }],
            "usage": chat_usage(turn),
        }));
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        let data = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": cx.model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        });
        Frame::Data(format!("data: {data}\n\n"))
    };
    let mut frames = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    let mut stalled = !turn.stall;
    if let Some(thinking) = &turn.thinking {
        for piece in pieces(thinking) {
            frames.push(chunk(json!({ "reasoning_content": piece }), None));
        }
    }
    if let Some(text) = &turn.text {
        for piece in pieces(text) {
            frames.push(chunk(json!({ "content": piece }), None));
            if !stalled {
                frames.push(Frame::Stall);
                stalled = true;
            }
        }
    }
    for (i, call) in calls.iter().enumerate() {
        frames.push(chunk(
            json!({ "tool_calls": [{ "index": i, "id": call["id"], "type": "function",
                                      "function": { "name": call["function"]["name"], "arguments": "" } }] }),
            None,
        ));
        let args = call["function"]["arguments"].as_str().unwrap_or_default();
        let split = args
            .char_indices()
            .nth(args.chars().count() / 2)
            .map_or(args.len(), |(i, _)| i);
        for part in [&args[..split], &args[split..]] {
            frames.push(chunk(
                json!({ "tool_calls": [{ "index": i, "function": { "arguments": part } }] }),
                None,
            ));
        }
    }
    if !stalled {
        frames.push(Frame::Stall);
    }
    frames.push(chunk(json!({}), Some(finish_reason(turn))));
    if request["stream_options"]["include_usage"].as_bool() == Some(true) {
        let data = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": cx.model,
            "choices": [],
            "usage": chat_usage(turn),
        });
        frames.push(Frame::Data(format!("data: {data}\n\n")));
    }
    frames.push(Frame::Data("data: [DONE]\n\n".into()));
    Answer::Stream(frames, Some(": keep-alive\n\n"))
}
