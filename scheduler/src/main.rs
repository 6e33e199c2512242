//! `switchyard-scheduler`: the scheduler process.
//!
//! `switchyard-scheduler worker-job [CLASS]` instead prints, as JSON, the Job the
//! kubernetes backend would make for an attempt of resource class CLASS (the default
//! class when absent) under the loaded settings, and exits: what a deployment's worker
//! pods will look like, which `deploy/check.sh` validates.

use shared::config::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker-job") {
        let settings = Settings::load()?;
        let job = scheduler::capacity::kubernetes::objects::example_job(
            &settings,
            args.get(1).map(String::as_str),
        )?;
        println!("{}", serde_json::to_string_pretty(&job)?);
        return Ok(());
    }
    let settings = Settings::load()?;
    let _telemetry = shared::telemetry::init("switchyard-scheduler", &settings.telemetry)?;
    let shutdown = shared::shutdown::on_signal();
    scheduler::run(settings, scheduler::WorkerPool::default(), shutdown).await
}
