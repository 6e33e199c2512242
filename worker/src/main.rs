//! `switchyard-worker`: runs attempts from the queue until SIGINT/SIGTERM (or until its
//! attempt budget is used). On a signal it kills the running process group and exits
//! without recording an end: the attempt's lease runs out and the scheduler's reaper
//! re-queues it.

use anyhow::Context;
use shared::config::Settings;
use shared::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("load settings")?;
    let _telemetry = telemetry::init("switchyard-worker", &settings.telemetry)?;
    let shutdown = shutdown::on_signal();
    worker::run(settings, shutdown).await
}
