//! `sy-bench`: the drivers behind `scripts/bench` (docs/benchmarks.md). The script starts
//! the services and runs one subcommand per benchmark run; each prints its figures as
//! `ROW <key> <value> [<reference>]` lines on stdout (everything else goes to stderr),
//! which the script turns into medians and the table. `fake-claude` is the agent the
//! worker runs in B1 and B2.

mod agent;
mod api;
mod git;
mod pipeline;
mod scale;
mod scheduler;
mod stats;

use anyhow::{Context, bail};
use std::collections::HashMap;

/// `--name value` options of a subcommand.
pub struct Args(HashMap<String, String>);

impl Args {
    fn parse(rest: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let mut map = HashMap::new();
        let mut rest = rest;
        while let Some(arg) = rest.next() {
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument {arg:?}");
            };
            let value = rest
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            map.insert(name.to_owned(), value);
        }
        Ok(Args(map))
    }

    pub fn str(&self, name: &str) -> anyhow::Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("--{name} is required"))
    }

    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name} {v:?} is not a number")),
        }
    }
}

/// One figure for the script: `ROW key value [reference]`.
pub fn row(key: &str, value: f64, reference: Option<f64>) {
    match reference {
        Some(r) => println!("ROW {key} {value:.3} {r:.3}"),
        None => println!("ROW {key} {value:.3}"),
    }
}

fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    if command == "fake-claude" {
        // The worker appends Claude Code's own flags; the fake needs none of them.
        return agent::run();
    }
    let args = Args::parse(argv)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command.as_str() {
            "b1" => pipeline::throughput(&args).await,
            "b2" => pipeline::latency(&args).await,
            "b3" => pipeline::dispatch(&args).await,
            "b4" => git::worktree(&args).await,
            "b5" => git::diff(&args).await,
            "b7" => scale::sse_scale(&args).await,
            "b8" => scheduler::fairness(&args).await,
            other => bail!(
                "unknown subcommand {other:?} (fake-claude, b1, b2, b3, b4, b5, b7, b8; see scripts/bench)"
            ),
        }
    })
}
