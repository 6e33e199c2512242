//! B1–B3: attempts through the whole system (api → scheduler → worker → Redis → api →
//! SSE client), with the fake agent or the `script` executor.

use anyhow::{Context, bail};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::stats::{now_ns, percentile};
use crate::{Args, row};

/// `sy-bench <k> <ns>` inside an entry's JSON: the fake agent's message number and stamp.
fn stamp(data: &str) -> Option<(u64, u128)> {
    let at = data.find("sy-bench ")?;
    let mut words = data[at + 9..].split(|c: char| !c.is_ascii_digit());
    let k = words.next()?.parse().ok()?;
    let ns = words.next()?.parse().ok()?;
    Some((k, ns))
}

/// Starts an attempt of `executor` with `prompt` on a new task; returns the attempt and
/// its agent process.
async fn start(
    api: &Api,
    project: &str,
    executor: &str,
    prompt: &str,
) -> anyhow::Result<(String, String)> {
    let task = api.create_task(project, "benchmark").await?;
    let attempt = api.start_attempt(&task, executor, prompt).await?;
    let process = api.agent_process(&attempt).await?;
    Ok((attempt, process))
}

/// B1: entries/s of a flood at one SSE client, every entry then read back from the store;
/// beside it redis-benchmark's PUBLISH rate on the same Redis.
pub async fn throughput(args: &Args) -> anyhow::Result<()> {
    let api = Api::from_args(args)?;
    let lines: u64 = args.num("lines", 200_000)?;
    let (_, process) = start(
        &api,
        args.str("project")?,
        "claude-code",
        &format!("flood {lines}"),
    )
    .await?;
    let mut sse = api
        .sse(&format!("/processes/{process}/logs/stream"))
        .await?;
    let (mut first, mut last, mut count) = (None, Instant::now(), 0u64);
    while let Some(event) = sse.next().await? {
        match event.name.as_str() {
            "patch" if event.data.contains("sy-bench ") => {
                last = Instant::now();
                first.get_or_insert(last);
                count += 1;
            }
            "end" => break,
            _ => {}
        }
    }
    let first = first.context("no entry arrived")?;
    let rate = count as f64 / (last - first).as_secs_f64().max(1e-9);
    // Read back page by page (each page's `next_cursor` is the next one's `after`).
    let mut persisted = 0u64;
    let mut query = String::new();
    loop {
        let page = api
            .get(&format!("/processes/{process}/logs{query}"))
            .await?;
        persisted += page["patches"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["op"] == "append" && p["entry"].to_string().contains("sy-bench "))
                    .count()
            })
            .unwrap_or(0) as u64;
        match page["next_cursor"].as_str() {
            Some(after) => query = format!("?after={after}"),
            None => break,
        }
    }
    eprintln!("b1: {count} of {lines} entries live, {persisted} read back, {rate:.0}/s");
    if count != lines || persisted != lines {
        bail!("b1: {lines} lines printed, {count} arrived live, {persisted} stored");
    }
    let reference = redis_publish_rate(args.str("redis-port")?)?;
    row("b1", rate, Some(reference));
    Ok(())
}

/// `redis-benchmark -q -n 200000 PUBLISH ch <120 bytes>` with one subscriber on `ch`.
fn redis_publish_rate(port: &str) -> anyhow::Result<f64> {
    let mut subscriber = Command::new("redis-cli")
        .args(["-p", port, "subscribe", "ch"])
        .stdout(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let payload = "x".repeat(120);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            port,
            "-q",
            "-n",
            "200000",
            "PUBLISH",
            "ch",
            payload.as_str(),
        ])
        .output();
    let _ = subscriber.kill();
    let _ = subscriber.wait();
    let out = String::from_utf8_lossy(&out?.stdout).into_owned();
    // The last progress report of -q is the result: "PUBLISH ...: 123.45 requests per second, ..."
    let result = out.rsplit('\r').next().unwrap_or_default();
    let rps: f64 = result
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("unreadable redis-benchmark output {out:?}"))?;
    Ok(rps)
}

/// What one B2 client saw.
#[derive(Default)]
struct Seen {
    latencies_ms: Vec<f64>,
    unique: u64,
    duplicates: u64,
}

/// B2: latency from the agent's write to each of `clients` SSE clients, and loss.
pub async fn latency(args: &Args) -> anyhow::Result<()> {
    let api = Api::from_args(args)?;
    let (clients, rate, secs): (usize, u64, u64) = (
        args.num("clients", 100)?,
        args.num("rate", 2_000)?,
        args.num("secs", 30)?,
    );
    let expected = rate * secs;
    // The agent waits 3 s before its first line, so every client is listening live.
    let (_, process) = start(
        &api,
        args.str("project")?,
        "claude-code",
        &format!("rate {rate} {secs} 3000"),
    )
    .await?;
    let mut readers = Vec::new();
    for _ in 0..clients {
        let mut sse = api
            .sse(&format!("/processes/{process}/logs/stream"))
            .await?;
        readers.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut got = vec![false; expected as usize];
            while let Some(event) = sse.next().await? {
                match event.name.as_str() {
                    "patch" => {
                        let Some((k, ns)) = stamp(&event.data) else {
                            continue;
                        };
                        seen.latencies_ms
                            .push((now_ns().saturating_sub(ns)) as f64 / 1e6);
                        match got.get_mut(k as usize) {
                            Some(g) if *g => seen.duplicates += 1,
                            Some(g) => {
                                *g = true;
                                seen.unique += 1;
                            }
                            None => seen.duplicates += 1,
                        }
                    }
                    "end" => break,
                    _ => {}
                }
            }
            anyhow::Ok(seen)
        }));
    }
    let mut all = Vec::new();
    let (mut lost, mut duplicates) = (0u64, 0u64);
    for reader in readers {
        let seen = reader.await??;
        lost += expected - seen.unique.min(expected);
        duplicates += seen.duplicates;
        all.extend(seen.latencies_ms);
    }
    let p50 = percentile(&mut all, 50.0);
    let p99 = percentile(&mut all, 99.0);
    eprintln!(
        "b2: {clients} clients × {expected} entries: p50 {p50:.1} ms, p99 {p99:.1} ms, lost {lost}, duplicated {duplicates}"
    );
    row("b2_p50", p50, None);
    row("b2_p99", p99, None);
    row("b2_lost", lost as f64, None);
    row("b2_dup", duplicates as f64, None);
    Ok(())
}

/// B3: POST of a `script` attempt (`echo hi`) to its first entry at an SSE client, on the
/// project of the big repository; beside it `git worktree add` of that repository.
pub async fn dispatch(args: &Args) -> anyhow::Result<()> {
    let api = Api::from_args(args)?;
    let project = args.str("project")?;
    let repo = args.str("repo")?;
    let runs: usize = args.num("runs", 3)?;
    // The first attempt fills the worker's repository cache; it is not timed.
    let mut ours = Vec::new();
    let mut reference = Vec::new();
    // The reference trees, removed once every run is timed (see `git_worktree_add`).
    let mut kept = Vec::new();
    for run in 0..=runs {
        let task = api.create_task(project, "dispatch").await?;
        let t0 = Instant::now();
        let attempt = api.start_attempt(&task, "script", "echo hi").await?;
        let process = api.agent_process(&attempt).await?;
        let mut sse = api
            .sse(&format!("/processes/{process}/logs/stream"))
            .await?;
        let mut first = None;
        while let Some(event) = sse.next().await? {
            match event.name.as_str() {
                "patch" => {
                    first.get_or_insert(t0.elapsed());
                }
                "end" => break,
                _ => {}
            }
        }
        let first = first.context("no entry arrived")?;
        // The worktree stays until the attempt is done; wait so runs do not overlap.
        while !matches!(
            api.attempt_status(&attempt).await?.as_str(),
            "succeeded" | "failed" | "cancelled"
        ) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if run > 0 {
            ours.push(first.as_secs_f64() * 1e3);
            let (ms, tree) = git_worktree_add(repo)?;
            reference.push(ms);
            kept.push(tree);
        }
    }
    let (ours, reference) = (
        percentile(&mut ours, 50.0),
        percentile(&mut reference, 50.0),
    );
    eprintln!("b3: first entry after {ours:.0} ms; git worktree add {reference:.0} ms");
    row("b3", ours, Some(reference));
    Ok(())
}

/// A worktree `git worktree add` made for a reference timing.
pub struct GitWorktree {
    repo: String,
    name: String,
    path: std::path::PathBuf,
}

impl Drop for GitWorktree {
    fn drop(&mut self) {
        let _ = Command::new("git")
            .args(["-C", self.repo.as_str(), "worktree", "remove", "--force"])
            .arg(&self.path)
            .status();
        let _ = Command::new("git")
            .args([
                "-C",
                self.repo.as_str(),
                "branch",
                "-q",
                "-D",
                self.name.as_str(),
            ])
            .status();
    }
}

/// Milliseconds `git worktree add` takes for a new branch of `repo`, and the worktree,
/// removed when dropped. Callers keep it until their timed runs are over: creating 20,000
/// files right after deleting 20,000 others is several times slower on ext4 (it skips
/// recently deleted inodes), a cost of the benchmark's own cleanup, not of either side.
pub fn git_worktree_add(repo: &str) -> anyhow::Result<(f64, GitWorktree)> {
    let name = format!("sy-bench-{}", uuid::Uuid::new_v4().simple());
    let path = std::env::temp_dir().join(&name);
    let t0 = Instant::now();
    let status = Command::new("git")
        .args(["-C", repo, "worktree", "add", "-q", "-b", name.as_str()])
        .arg(&path)
        .status()?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let tree = GitWorktree {
        repo: repo.to_owned(),
        name,
        path,
    };
    if !status.success() {
        bail!("git worktree add failed");
    }
    Ok((ms, tree))
}
