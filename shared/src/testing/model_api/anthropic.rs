//! Anthropic Messages (`POST /v1/messages`): a `message` object, or with `"stream": true`
//! the server-sent events `message_start`, `content_block_start` / `_delta` / `_stop`
//! (thinking, text and tool_use blocks), `message_delta` with the stop reason and usage,
//! and `message_stop`.

use serde_json::{Value, json};

use super::{Answer, Context, Frame, Turn, arguments_text, pieces};

fn usage(turn: &Turn) -> Value {
    json!({
        "input_tokens": turn.usage.input_tokens,
        "output_tokens": turn.usage.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": turn.usage.cached_tokens,
    })
}

fn stop_reason(turn: &Turn) -> &'static str {
    if turn.stops_for_tools() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn event(name: &str, data: Value) -> Frame {
    Frame::Data(format!("event: {name}\ndata: {data}\n\n"))
}

/// The answer to one Messages request.
pub(super) fn answer(turn: &Turn, cx: &Context, stream: bool) -> Answer {
    let signature = format!("fake-signature-{}", cx.serial);
    let mut blocks = Vec::new();
    if let Some(thinking) = &turn.thinking {
        blocks.push(json!({ "type": "thinking", "thinking": thinking, "signature": signature }));
    }
    if let Some(text) = &turn.text {
        blocks.push(json!({ "type": "text", "text": text }));
    }
    for (i, call) in turn.tool_calls.iter().enumerate() {
        blocks.push(json!({
            "type": "tool_use",
            "id": cx.id("toolu_fake", i),
            "name": call.name,
            "input": call.input,
        }));
    }
    let id = cx.id("msg_fake", 0);
    if !stream {
        return Answer::Json(json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": cx.model,
            "content": blocks,
            "stop_reason": stop_reason(turn),
            "stop_sequence": null,
            "usage": usage(turn),
        }));
    }

    let mut frames = vec![
        event(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": cx.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {
                        "input_tokens": turn.usage.input_tokens,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": turn.usage.cached_tokens,
                    },
                },
            }),
        ),
        event("ping", json!({ "type": "ping" })),
    ];
    let mut stalled = !turn.stall;
    let mut stall_after_first = |frames: &mut Vec<Frame>| {
        if !stalled {
            frames.push(Frame::Stall);
            stalled = true;
        }
    };
    for (index, block) in blocks.iter().enumerate() {
        let delta = |delta: Value| {
            event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": index, "delta": delta }),
            )
        };
        match block["type"].as_str() {
            Some("thinking") => {
                frames.push(event(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": index,
                            "content_block": { "type": "thinking", "thinking": "", "signature": "" } }),
                ));
                for piece in pieces(block["thinking"].as_str().unwrap_or_default()) {
                    frames.push(delta(
                        json!({ "type": "thinking_delta", "thinking": piece }),
                    ));
                    stall_after_first(&mut frames);
                }
                frames.push(delta(
                    json!({ "type": "signature_delta", "signature": signature }),
                ));
            }
            Some("text") => {
                frames.push(event(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": index,
                            "content_block": { "type": "text", "text": "" } }),
                ));
                for piece in pieces(block["text"].as_str().unwrap_or_default()) {
                    frames.push(delta(json!({ "type": "text_delta", "text": piece })));
                    stall_after_first(&mut frames);
                }
            }
            _ => {
                let call = &turn.tool_calls[index - (blocks.len() - turn.tool_calls.len())];
                frames.push(event(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": index,
                            "content_block": { "type": "tool_use", "id": block["id"], "name": block["name"], "input": {} } }),
                ));
                let args = arguments_text(call);
                let split = args
                    .char_indices()
                    .nth(args.chars().count() / 2)
                    .map_or(args.len(), |(i, _)| i);
                for part in [&args[..split], &args[split..]] {
                    frames.push(delta(
                        json!({ "type": "input_json_delta", "partial_json": part }),
                    ));
                }
                stall_after_first(&mut frames);
            }
        }
        frames.push(event(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": index }),
        ));
    }
    stall_after_first(&mut frames);
    frames.push(event(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop_reason(turn), "stop_sequence": null },
            "usage": usage(turn),
        }),
    ));
    frames.push(event("message_stop", json!({ "type": "message_stop" })));
    Answer::Stream(frames, Some("event: ping\ndata: {\"type\": \"ping\"}\n\n"))
}
