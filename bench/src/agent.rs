//! A stand-in for Claude Code that floods or paces assistant messages: the benchmarks
//! measure the pipeline behind an agent, not the agent. It speaks the stream-json wire
//! (answers `initialize`, reads the user message, ends the turn with a `result`), and its
//! prompt is one command:
//!   flood <n>                    n assistant messages as fast as stdout takes them
//!   rate <per_s> <secs> <wait_ms>  after wait_ms, per_s messages a second for secs
//! Each message's text is `sy-bench <k> <unix ns when written>`, so a client can tell
//! loss, duplication and latency.

use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SESSION: &str = "00000000-0000-4000-8000-00000000be9c";

pub fn run() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut lines = stdin.lock().lines();
    let prompt = loop {
        let Some(line) = lines.next() else {
            return Ok(());
        };
        let msg: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        match msg["type"].as_str() {
            Some("control_request") => {
                emit(
                    &mut out,
                    &json!({"type": "control_response", "response": {
                        "subtype": "success", "request_id": msg["request_id"], "response": {}}}),
                )?;
                out.flush()?;
            }
            Some("user") => {
                break msg["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
            _ => {}
        }
    };
    emit(
        &mut out,
        &json!({"type": "system", "subtype": "init", "session_id": SESSION, "model": "bench",
            "cwd": ".", "tools": [], "permissionMode": "bypassPermissions", "apiKeySource": "none"}),
    )?;
    let words: Vec<u64> = prompt
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    match (prompt.split_whitespace().next(), words.as_slice()) {
        (Some("flood"), [n]) => {
            for k in 0..*n {
                message(&mut out, k)?;
            }
        }
        (Some("rate"), [per_s, secs, wait_ms]) => {
            out.flush()?;
            std::thread::sleep(Duration::from_millis(*wait_ms));
            let start = Instant::now();
            let every = Duration::from_secs(1).as_nanos() as u64 / (*per_s).max(1);
            for k in 0..per_s * secs {
                let due = start + Duration::from_nanos(k * every);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                message(&mut out, k)?;
                out.flush()?;
            }
        }
        _ => anyhow::bail!("fake claude: unknown prompt {prompt:?}"),
    }
    emit(
        &mut out,
        &json!({"type": "result", "subtype": "success", "is_error": false, "session_id": SESSION,
            "result": "done", "num_turns": 1, "duration_ms": 1, "total_cost_usd": 0.0,
            "usage": {"input_tokens": 1, "output_tokens": 1}}),
    )?;
    out.flush()?;
    // The worker closes stdin once it has the result.
    for line in lines {
        line?;
    }
    Ok(())
}

fn emit(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

/// One assistant message, written without building a JSON value (the flood's hot loop).
fn message(out: &mut impl Write, k: u64) -> std::io::Result<()> {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    writeln!(
        out,
        r#"{{"type":"assistant","session_id":"{SESSION}","parent_tool_use_id":null,"message":{{"id":"msg_{k}","role":"assistant","model":"bench","content":[{{"type":"text","text":"sy-bench {k} {ns}"}}]}}}}"#
    )
}
