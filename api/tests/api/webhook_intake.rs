//! How much a webhook sender can make the api hold before its signature is checked:
//! bodies are small by default, must arrive in time, and only so many are read at once.
//! Spoken over raw TCP, so a test controls exactly which bytes were sent when.

use reqwest::StatusCode;
use secrecy::SecretString;
use shared::config::Settings;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error};

/// Only a failing test waits this long for an answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

fn with_secret(s: &mut Settings) {
    s.github.webhook_secret = Some(SecretString::from("intake-test-secret"));
    s.rate_limit.enabled = false;
}

/// A delivery's request head, with a signature that does not match (what is refused
/// here is decided before the signature is checked).
fn head(addr: SocketAddr, length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_owned(),
    };
    format!(
        "POST /api/v1/github/webhooks HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nX-GitHub-Event: issues\r\n\
         X-GitHub-Delivery: {}\r\nX-Hub-Signature-256: sha256={}\r\n{framing}\r\n\r\n",
        Uuid::new_v4(),
        "0".repeat(64)
    )
}

/// A raw answer: status, headers (lower-cased names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn code(&self) -> String {
        let json: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body));
        json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Reads one response off the socket (the request need not be complete), or `None`
/// when none arrives within [`ANSWER_WITHIN`].
async fn read_answer(conn: &mut TcpStream) -> Option<Answer> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let status: u16 = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .and_then(|s| s.parse().ok())
                    .expect("a status line");
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + 4 + length {
                    let n = conn.read(&mut chunk).await.expect("read body");
                    assert!(n > 0, "connection closed mid-body");
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                return Answer {
                    status,
                    headers,
                    body,
                };
            }
            let n = conn.read(&mut chunk).await.expect("read head");
            assert!(n > 0, "connection closed without an answer");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(ANSWER_WITHIN, read).await.ok()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_over_the_default_limit_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn_with(with_secret).await;
    let limit = app.env.settings.github.webhooks.max_body_bytes;
    assert!(limit <= 2 * 1024 * 1024, "the default stays small: {limit}");

    // Declared at 3 MiB and not sent at all: answered from the head alone.
    let mut conn = connect(&app).await;
    conn.write_all(head(app.addr, Some(3 * 1024 * 1024)).as_bytes())
        .await
        .expect("send head");
    let answer = read_answer(&mut conn)
        .await
        .expect("an answer before any body byte");
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "payload_too_large");

    // Streamed without a length, past the limit, and never finished: refused once the
    // limit is passed, not after the 25 MB GitHub could send.
    let mut conn = connect(&app).await;
    conn.write_all(head(app.addr, None).as_bytes())
        .await
        .expect("send head");
    // Exactly the limit, then one byte more, then nothing: the server has read all that
    // was sent when it answers.
    let piece = vec![b' '; 64 * 1024];
    assert_eq!(limit % piece.len(), 0);
    let mut chunks: Vec<&[u8]> = vec![&piece; limit / piece.len()];
    chunks.push(b" ");
    for chunk in chunks {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        conn.write_all(&frame).await.expect("send a chunk");
    }
    let answer = read_answer(&mut conn)
        .await
        .expect("an answer while the body is unfinished");
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "payload_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_whose_body_stalls_times_out() {
    let app = TestApp::spawn_with(|s| {
        with_secret(s);
        s.github.webhooks.body_timeout_ms = 300;
    })
    .await;
    // Declares 1000 bytes, sends 10, then nothing (a slow-loris sender).
    let mut conn = connect(&app).await;
    conn.write_all(head(app.addr, Some(1000)).as_bytes())
        .await
        .expect("send head");
    conn.write_all(b"{\"action\":")
        .await
        .expect("send a little");
    let answer = read_answer(&mut conn)
        .await
        .expect("an answer to a stalled body");
    assert_eq!(answer.status, 408);
    assert_eq!(answer.code(), "body_timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_bodies_are_read_a_bounded_number_at_a_time() {
    let app = TestApp::spawn_with(|s| {
        with_secret(s);
        s.github.webhooks.max_concurrent_reads = 1;
        s.github.webhooks.body_timeout_ms = 60_000;
    })
    .await;
    // A complete delivery with a wrong signature: 401 when a read slot was free.
    let probe = || async {
        app.client
            .post(app.url("/api/v1/github/webhooks"))
            .header("x-github-event", "issues")
            .header("x-github-delivery", Uuid::new_v4().to_string())
            .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
            .body("{}")
            .send()
            .await
            .expect("probe")
    };
    assert_error(probe().await, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // A slow delivery takes the only slot...
    let body = b"{\"zen\":\"slow\"}";
    let mut slow = connect(&app).await;
    slow.write_all(head(app.addr, Some(body.len())).as_bytes())
        .await
        .expect("send head");
    slow.write_all(&body[..4]).await.expect("send a little");

    // ...so the next is turned away, once the slow one holds it.
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    let busy = loop {
        let res = probe().await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            break res;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(
            tokio::time::Instant::now() < deadline,
            "a second body was read while the slot was taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(busy.headers().contains_key("retry-after"));
    assert_error(busy, StatusCode::SERVICE_UNAVAILABLE, "webhook_busy").await;

    // The slow one finishes (and is checked like any other); the slot is free again.
    slow.write_all(&body[4..]).await.expect("send the rest");
    let answer = read_answer(&mut slow)
        .await
        .expect("the slow delivery's answer");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "invalid_signature");
    assert_eq!(answer.header("retry-after"), None);
    assert_error(probe().await, StatusCode::UNAUTHORIZED, "invalid_signature").await;
}
