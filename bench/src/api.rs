//! The api as a client sees it: JSON requests with the org token, and SSE streams read
//! frame by frame.

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use crate::Args;

/// The api of one org, reached with one of its API tokens.
#[derive(Clone)]
pub struct Api {
    base: String,
    org: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// From `--url`, `--org` and `--token`.
    pub fn from_args(args: &Args) -> anyhow::Result<Api> {
        Ok(Api {
            base: args.str("url")?.trim_end_matches('/').to_owned(),
            org: args.str("org")?.to_owned(),
            token: args.str("token")?.to_owned(),
            http: reqwest::Client::builder().http1_only().build()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/orgs/{}{path}", self.base, self.org)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await?;
        json_of(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        json_of(response).await
    }

    pub async fn create_task(&self, project: &str, title: &str) -> anyhow::Result<String> {
        let task = self
            .post(
                &format!("/projects/{project}/tasks"),
                json!({ "title": title }),
            )
            .await?;
        id_of(&task)
    }

    /// Starts an attempt; returns its id.
    pub async fn start_attempt(
        &self,
        task: &str,
        executor: &str,
        prompt: &str,
    ) -> anyhow::Result<String> {
        let attempt = self
            .post(
                &format!("/tasks/{task}/attempts"),
                json!({ "executor": executor, "prompt": prompt }),
            )
            .await?;
        id_of(&attempt)
    }

    /// The attempt's coding-agent process (made with the attempt, so there at once).
    pub async fn agent_process(&self, attempt: &str) -> anyhow::Result<String> {
        let processes = self.get(&format!("/attempts/{attempt}/processes")).await?;
        let process = processes["items"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["run_reason"] != "setupscript"))
            .context("the attempt has no coding-agent process")?;
        id_of(process)
    }

    pub async fn attempt_status(&self, attempt: &str) -> anyhow::Result<String> {
        let a = self.get(&format!("/attempts/{attempt}")).await?;
        Ok(a["status"].as_str().unwrap_or_default().to_owned())
    }

    /// Opens an SSE stream (`path` under the org); returns once the headers are in.
    pub async fn sse(&self, path: &str) -> anyhow::Result<Sse> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("GET {path}: {}", response.status());
        }
        Ok(Sse {
            body: response.bytes_stream().boxed(),
            buf: BytesMut::new(),
        })
    }
}

async fn json_of(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let url = response.url().path().to_owned();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("{url}: {status}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {v}"))
}

/// One SSE event (comments and `retry:` lines are skipped).
pub struct Event {
    pub name: String,
    pub data: String,
}

/// An SSE response being read.
pub struct Sse {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: BytesMut,
}

impl Sse {
    /// The next event with a name; `None` when the stream ends.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            while let Some(end) = find(&self.buf, b"\n\n") {
                let frame = self.buf.split_to(end + 2);
                let mut event = Event {
                    name: String::new(),
                    data: String::new(),
                };
                for line in frame[..].split(|b| *b == b'\n') {
                    if let Some(v) = line.strip_prefix(b"event: ") {
                        event.name = String::from_utf8_lossy(v).into_owned();
                    } else if let Some(v) = line.strip_prefix(b"data: ") {
                        event.data = String::from_utf8_lossy(v).into_owned();
                    }
                }
                if !event.name.is_empty() {
                    return Ok(Some(event));
                }
            }
            match self.body.next().await {
                None => return Ok(None),
                Some(chunk) => {
                    let chunk = chunk?;
                    self.buf.extend_from_slice(chunk.chunk());
                }
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
