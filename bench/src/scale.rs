//! B7: many org-stream clients on one api process: its memory per connection, and how
//! long one event takes to reach them all.

use anyhow::Context;
use futures::StreamExt;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::api::Api;
use crate::stats::percentile;
use crate::{Args, row};

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

pub async fn sse_scale(args: &Args) -> anyhow::Result<()> {
    let api = Api::from_args(args)?;
    let clients: usize = args.num("clients", 10_000)?;
    let pid: u32 = args.num("api-pid", 0)?;
    let project = args.str("project")?;
    let before = rss_kib(pid)?;

    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let opened: Vec<anyhow::Result<()>> = futures::stream::iter(0..clients)
        .map(|_| {
            let (api, tx) = (api.clone(), tx.clone());
            async move {
                let mut sse = api.sse("/events").await?;
                tokio::spawn(async move {
                    if let Ok(Some(_)) = sse.next().await {
                        let _ = tx.send(Instant::now());
                    }
                    // Held open until the benchmark ends.
                    std::future::pending::<()>().await;
                });
                anyhow::Ok(())
            }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    let failed = opened.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = opened.into_iter().find(|r| r.is_err()) {
        eprintln!("b7: {failed} streams failed to open, e.g. {e:#}");
    }
    let open = clients - failed;
    // Let the api settle before its memory is read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let per_connection = (after - before) / open.max(1) as f64;

    let t0 = Instant::now();
    api.create_task(project, "one event to all").await?;
    let mut delays = Vec::with_capacity(open);
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    while delays.len() < open {
        tokio::select! {
            at = rx.recv() => match at {
                Some(at) => delays.push((at - t0).as_secs_f64() * 1e3),
                None => break,
            },
            _ = &mut deadline => break,
        }
    }
    let missed = open - delays.len();
    let p99 = percentile(&mut delays, 99.0);
    let max = percentile(&mut delays, 100.0);
    eprintln!(
        "b7: {open} streams open ({failed} failed); api RSS {before:.0} → {after:.0} KiB, {per_connection:.1} KiB each; event to all: p99 {p99:.0} ms, max {max:.0} ms, {missed} missed"
    );
    row("b7_open", open as f64, None);
    row("b7_rss", per_connection, None);
    row("b7_p99", p99, None);
    row("b7_missed", missed as f64, None);
    // Leaving closes every stream at once.
    std::process::exit(0);
}
