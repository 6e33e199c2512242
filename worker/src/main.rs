//! `switchyard-worker`: runs attempts from the queue until SIGINT/SIGTERM (or until its
//! attempt budget is used). On a signal it kills the running process group and exits
//! without recording an end: the attempt's lease runs out and the scheduler's reaper
//! re-queues it.
//!
//! `switchyard-worker --attempt <id>` runs that one attempt and exits (the pod of a
//! Kubernetes Job): 0 once the attempt's end is recorded or someone else has it, 1 when
//! it was given up without an end (lost lease, error), so the pod shows as failed.

use anyhow::Context;
use shared::config::Settings;
use shared::{shutdown, telemetry};
use uuid::Uuid;
use worker::attempt::AttemptOutcome;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let attempt = parse_args(std::env::args().skip(1))?;
    let settings = Settings::load().context("load settings")?;
    let _telemetry = telemetry::init("switchyard-worker", &settings.telemetry)?;
    if let Err(e) = worker::hardening::deny_same_user_inspection() {
        tracing::warn!(error = %e, "could not make the worker non-dumpable");
    }
    let shutdown = shutdown::on_signal();
    match attempt {
        None => worker::run(settings, shutdown).await,
        Some(id) => match worker::run_attempt(settings, id, shutdown).await? {
            AttemptOutcome::Abandoned => {
                tracing::warn!(attempt.id = %id, "attempt given up without an end");
                std::process::exit(1)
            }
            AttemptOutcome::Finished(_) | AttemptOutcome::NotClaimed => Ok(()),
        },
    }
}

/// `--attempt <id>` (or `--attempt=<id>`); nothing else is accepted.
fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Uuid>> {
    let mut attempt = None;
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--attempt") {
            Some("") => args.next().context("--attempt needs an attempt id")?,
            Some(rest) if rest.starts_with('=') => rest[1..].to_owned(),
            _ => anyhow::bail!(
                "unknown argument {arg:?} (usage: switchyard-worker [--attempt <id>])"
            ),
        };
        attempt = Some(
            value
                .parse()
                .with_context(|| format!("--attempt {value:?} is not an attempt id"))?,
        );
    }
    Ok(attempt)
}
