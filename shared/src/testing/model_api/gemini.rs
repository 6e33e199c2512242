//! Gemini (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:countTokens`): `GenerateContentResponse`s whose candidate's parts are thoughts
//! (`"thought": true`), text and `functionCall`s, the last one with a `finishReason` and
//! `usageMetadata`.

use serde_json::{Value, json};

use super::{Answer, Context, Frame, Turn, pieces};

/// The model named in a Gemini path (`/v1beta/models/gemini-2.5-pro:generateContent`).
pub(super) fn model_of(path: &str) -> Option<String> {
    let rest = path.split("/models/").nth(1)?;
    Some(rest.split(':').next()?.to_owned())
}

fn usage(turn: &Turn) -> Value {
    json!({
        "promptTokenCount": turn.usage.input_tokens,
        "candidatesTokenCount": turn.usage.output_tokens,
        "cachedContentTokenCount": turn.usage.cached_tokens,
        "totalTokenCount": turn.usage.input_tokens + turn.usage.output_tokens,
    })
}

fn response(cx: &Context, parts: Vec<Value>, last: Option<&Turn>) -> Value {
    let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
    let mut value = json!({
        "candidates": [],
        "modelVersion": cx.model,
        "responseId": cx.id("fake-response-", 0),
    });
    if let Some(turn) = last {
        candidate["finishReason"] = json!("STOP");
        value["usageMetadata"] = usage(turn);
    }
    value["candidates"] = json!([candidate]);
    value
}

/// The answer to one generation request.
pub(super) fn answer(turn: &Turn, cx: &Context, stream: bool) -> Answer {
    let calls: Vec<Value> = turn
        .tool_calls
        .iter()
        .map(|call| json!({ "functionCall": { "name": call.name, "args": call.input } }))
        .collect();
    if !stream {
        let mut parts = Vec::new();
        if let Some(thinking) = &turn.thinking {
            parts.push(json!({ "text": thinking, "thought": true }));
        }
        if let Some(text) = &turn.text {
            parts.push(json!({ "text": text }));
        }
        parts.extend(calls);
        return Answer::Json(response(cx, parts, Some(turn)));
    }
    let data = |value: Value| Frame::Data(format!("data: {value}\r\n\r\n"));
    // Thought pieces, text pieces, then the function calls whole; the last chunk carries
    // the finish reason and usage.
    let mut chunks: Vec<(Vec<Value>, bool)> = Vec::new();
    if let Some(thinking) = &turn.thinking {
        chunks.extend(
            pieces(thinking)
                .into_iter()
                .map(|p| (vec![json!({ "text": p, "thought": true })], false)),
        );
    }
    if let Some(text) = &turn.text {
        chunks.extend(
            pieces(text)
                .into_iter()
                .map(|p| (vec![json!({ "text": p })], true)),
        );
    }
    if !calls.is_empty() {
        chunks.push((calls, false));
    }
    if chunks.is_empty() {
        chunks.push((vec![json!({ "text": "" })], false));
    }
    let mut frames = Vec::new();
    let mut stalled = !turn.stall;
    let last = chunks.len() - 1;
    for (i, (parts, is_text)) in chunks.into_iter().enumerate() {
        if i == last && !stalled {
            frames.push(Frame::Stall);
            stalled = true;
        }
        frames.push(data(response(cx, parts, (i == last).then_some(turn))));
        if is_text && !stalled {
            frames.push(Frame::Stall);
            stalled = true;
        }
    }
    // A blank line between events is whitespace that Gemini's clients skip (their SSE
    // reader allows it before `data:`), and a write tells the server the client is gone.
    Answer::Stream(frames, Some("\n"))
}
