//! `switchyard-scheduler`: the scheduler process.

use shared::config::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = shared::telemetry::init("switchyard-scheduler", &settings.telemetry)?;
    let shutdown = shared::shutdown::on_signal();
    scheduler::run(settings, scheduler::WorkerPool::default(), shutdown).await
}
