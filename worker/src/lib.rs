//! Switchyard's worker: takes attempts from the Redis queue, claims them in Postgres,
//! prepares a git worktree, runs the attempt's processes under resource limits, ships
//! their logs and the attempt's diff, and records the outcome (docs/ARCHITECTURE.md, "The life of an attempt").
//!
//! - [`claim`]: the lease of a claimed attempt and its heartbeat;
//! - [`git`]: the repository cache, worktrees, the final commit and the push;
//! - [`github`]: installation tokens for git on GitHub repositories;
//! - [`diff`]: the attempt's diff and its versions in the object store;
//! - [`special_files`]: FIFOs and the like an attempt leaves where git would block on them;
//! - [`runner`]: one process group under limits;
//! - [`pump`]: raw output lines to entry changes;
//! - [`logship`]: entry changes to Redis and object-store segments;
//! - [`executors`]: the coding agents, their commands and protocols;
//! - [`sessions`]: agents' own session files, kept in the object store between turns;
//! - [`normalize`]: each agent's output protocol turned into normalized entries;
//! - [`records`]: lease-guarded writes to Postgres;
//! - [`orphans`]: executors a dead worker left behind;
//! - [`verdict`]: how a process ended, read from what the worker saw (pure);
//! - [`attempt`]: one attempt end to end.

pub mod attempt;
pub mod checkout;
pub mod claim;
pub mod diff;
pub mod executors;
pub mod git;
pub mod github;
pub mod hardening;
pub mod logship;
pub mod normalize;
pub mod orphans;
pub mod patience;
pub mod pump;
pub mod records;
pub mod runner;
pub mod sandbox;
pub mod secretscan;
pub mod sessions;
pub mod special_files;
pub mod verdict;

use anyhow::Context;
use redis::aio::ConnectionManager;
use shared::config::Settings;
use shared::db::Db;
use shared::keys::Keys;
use shared::loops::Loops;
use shared::queue::{self, Delivery};
use shared::redis_conn;
use shared::shutdown::CancellationToken;
use shared::store::ObjectStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::attempt::AttemptOutcome;

/// How long the background loops get to stop once the worker is done.
const LOOPS_GRACE: Duration = Duration::from_secs(5);
/// How long one queue read blocks before the loop looks at the shutdown token again.
const QUEUE_BLOCK_MS: usize = 1_000;
/// How long a worker waits after handing back an attempt of another resource class.
const HAND_BACK_PAUSE: Duration = Duration::from_millis(250);

/// Everything a worker process holds: its id, configuration and service clients.
#[derive(Clone)]
pub struct Worker {
    pub id: String,
    pub settings: Arc<Settings>,
    pub db: Db,
    pub redis: ConnectionManager,
    pub store: ObjectStore,
    pub keys: Keys,
    /// `settings.worker.data_dir`, made absolute (worktrees record absolute paths).
    pub data_dir: PathBuf,
    /// The GitHub App, when configured: installation tokens for GitHub repositories.
    pub github: Option<Arc<shared::github::GithubApp>>,
}

impl Worker {
    /// Connects to Postgres (lazily), Redis and the object store.
    pub async fn connect(settings: Settings) -> anyhow::Result<Worker> {
        settings.check_mode(shared::config::Process::Worker)?;
        let db = Db::new(&settings.database)?;
        db.verify_role().await?;
        let redis = redis_conn::manager(&settings.redis.url)
            .await
            .context("connect to Redis")?;
        let store = ObjectStore::new(&settings.s3);
        let keys = Keys::new(settings.redis.prefix.clone());
        let data_dir = std::path::absolute(&settings.worker.data_dir)
            .context("resolve the worker data dir")?;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create the worker data dir {}", data_dir.display()))?;
        // Attempts' uids pass through the data dir to their own folders; none may list it.
        sandbox::passage_dir(&data_dir).context("the worker data dir's permissions")?;
        git::isolate_config().context("isolating libgit2 from global git configuration")?;
        let id = settings.worker.id.clone().unwrap_or_else(default_worker_id);
        let github = shared::github::GithubApp::from_settings(&settings.github)
            .context("the GitHub App settings")?
            .map(Arc::new);
        Ok(Worker {
            id,
            settings: Arc::new(settings),
            db,
            redis,
            store,
            keys,
            data_dir,
            github,
        })
    }

    /// Takes attempts from the queue and runs them one at a time until `shutdown` is
    /// cancelled or `max_attempts` attempts have run.
    pub async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut queue_conn = redis_conn::dedicated(&self.settings.redis.url)
            .await
            .context("connect to Redis for the queue")?;
        let data_dir = self.data_dir.clone();
        shared::blocking::run(move || orphans::kill_orphans(&data_dir)).await?;
        // The background loops of this worker (the queue loop below is its foreground).
        let mut loops = Loops::new(shutdown.child_token());
        loops.spawn("announce", announce(self.clone(), loops.stop_token()));
        let max_attempts = self.settings.worker.max_attempts;
        let mut ran = 0u64;
        tracing::info!(worker.id = %self.id, data_dir = %self.data_dir.display(), "worker started");
        while !shutdown.is_cancelled() {
            let delivery =
                match queue::next(&mut queue_conn, &self.keys, &self.id, QUEUE_BLOCK_MS).await {
                    Ok(Some(d)) => d,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "queue read failed; reconnecting");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                        // The blocking read's own connection does not reconnect by itself
                        // (a restarted Redis would leave this worker deaf to the queue).
                        match redis_conn::dedicated(&self.settings.redis.url).await {
                            Ok(fresh) => queue_conn = fresh,
                            Err(e) => tracing::warn!(error = %e, "Redis still unreachable"),
                        }
                        continue;
                    }
                };
            if shutdown.is_cancelled() {
                // Not started: give the entry back so the scheduler re-enqueues the attempt.
                self.ack(&delivery).await;
                break;
            }
            if !self.takes_class_of(&delivery).await {
                // Another class's attempt: back to the queue for a worker of that class (or
                // the attempt's own Job), and a pause so another consumer gets it first.
                let mut redis = self.redis.clone();
                if let Err(e) = queue::hand_back(&mut redis, &self.keys, &delivery).await {
                    tracing::warn!(attempt.id = %delivery.entry.attempt_id, error = %e, "entry not handed back; the scheduler redelivers it");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(HAND_BACK_PAUSE) => {}
                }
                continue;
            }
            match self.handle(&delivery, &shutdown).await {
                AttemptOutcome::NotClaimed => {}
                _ => ran += 1,
            }
            if max_attempts > 0 && ran >= max_attempts {
                tracing::info!(attempts = ran, "attempt budget used; exiting");
                break;
            }
        }
        loops.shutdown(LOOPS_GRACE).await;
        let mut redis = self.redis.clone();
        if let Err(e) = shared::workers::withdraw(&mut redis, &self.keys, &self.id).await {
            tracing::warn!(error = %e, "worker entry not withdrawn; it goes stale by itself");
        }
        tracing::info!(worker.id = %self.id, "worker stopped");
        Ok(())
    }

    /// Runs the one attempt `attempt_id` and returns (a Kubernetes Job's pod): takes its
    /// entry out of the queue when the stream holds it, then claims it with the same
    /// guarded transition and lease as any worker. `NotClaimed` when it was not scheduled
    /// any more (a warm worker took it first, or it was stopped).
    pub async fn run_one(&self, attempt_id: Uuid, shutdown: CancellationToken) -> AttemptOutcome {
        let delivery = match self.delivery_for(attempt_id).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                tracing::warn!(attempt.id = %attempt_id, "no such attempt");
                return AttemptOutcome::NotClaimed;
            }
            Err(e) => {
                tracing::error!(attempt.id = %attempt_id, error = format!("{e:#}"), "could not look the attempt up");
                return AttemptOutcome::Abandoned;
            }
        };
        let outcome = self.handle(&delivery, &shutdown).await;
        tracing::info!(attempt.id = %attempt_id, outcome = ?outcome, "one-shot worker done");
        outcome
    }

    /// The queue entry for `attempt_id`, or one made from its row when Redis holds none
    /// (lost, or already taken by a worker that lost the claim): Postgres decides anyway.
    async fn delivery_for(&self, attempt_id: Uuid) -> anyhow::Result<Option<Delivery>> {
        let mut redis = self.redis.clone();
        if let Some(found) = queue::find(&mut redis, &self.keys, attempt_id).await? {
            return Ok(Some(found));
        }
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::task_attempts;
        let mut conn = self.db.system().await?;
        let row: Option<(Uuid, Option<String>)> = task_attempts::table
            .find(attempt_id)
            .select((task_attempts::org_id, task_attempts::trace_context))
            .first(&mut conn)
            .await
            .optional()?;
        Ok(row.map(|(org_id, traceparent)| Delivery {
            // Acknowledging the minimal id is a no-op on the stream.
            stream_id: "0-1".to_owned(),
            entry: queue::QueueEntry {
                attempt_id,
                org_id,
                traceparent,
            },
        }))
    }

    /// Whether this worker runs the delivered attempt's resource class: always, unless
    /// `worker.resource_class` is set (a warm pod sized for one class).
    async fn takes_class_of(&self, delivery: &Delivery) -> bool {
        let Some(mine) = &self.settings.worker.resource_class else {
            return true;
        };
        match self.class_of(delivery.entry.attempt_id).await {
            Ok(Some(class)) if &class == mine => true,
            Ok(Some(class)) => {
                tracing::debug!(attempt.id = %delivery.entry.attempt_id, class = %class, "attempt of another resource class; handing it back");
                false
            }
            // Gone: let the claim guard say so.
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(attempt.id = %delivery.entry.attempt_id, error = format!("{e:#}"), "could not read the attempt's resource class; handing it back");
                false
            }
        }
    }

    /// The resource class an attempt runs in (its profile's, else the scheduler's default).
    async fn class_of(&self, attempt_id: Uuid) -> anyhow::Result<Option<String>> {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::task_attempts;
        let mut conn = self.db.system().await?;
        let row: Option<(String, Option<serde_json::Value>)> = task_attempts::table
            .find(attempt_id)
            .select((task_attempts::executor, task_attempts::executor_profile))
            .first(&mut conn)
            .await
            .optional()?;
        let Some((executor, snapshot)) = row else {
            return Ok(None);
        };
        let profile =
            shared::executors::ResolvedProfile::for_attempt(&executor, snapshot.as_ref())?;
        Ok(Some(profile.options.resource_class.unwrap_or_else(|| {
            self.settings
                .scheduler
                .kubernetes
                .default_resource_class
                .clone()
        })))
    }

    /// Runs one delivered attempt (its queue entry is acknowledged once the claim is
    /// decided). Once `shutdown` fires the attempt has `worker.drain_secs` to reach its
    /// end; then it is aborted and handed back.
    pub async fn handle(
        &self,
        delivery: &Delivery,
        shutdown: &CancellationToken,
    ) -> AttemptOutcome {
        let drained = CancellationToken::new();
        let grace = Duration::from_secs(self.settings.worker.drain_secs);
        let drain = tokio::spawn({
            let (shutdown, drained) = (shutdown.clone(), drained.clone());
            async move {
                shutdown.cancelled().await;
                tracing::info!(
                    grace_secs = grace.as_secs(),
                    "shutting down: draining the attempt in flight"
                );
                tokio::time::sleep(grace).await;
                drained.cancel();
            }
        });
        let executed = attempt::execute(self, delivery, &drained).await;
        drain.abort();
        match executed {
            Ok(outcome) => outcome,
            Err(e) => {
                // A claimed attempt stays running under a lease nobody renews; the reaper
                // re-queues or fails it.
                tracing::error!(attempt.id = %delivery.entry.attempt_id, error = format!("{e:#}"), "attempt aborted by an error");
                AttemptOutcome::Abandoned
            }
        }
    }

    /// Removes the delivered entry from the queue and its attempt from the member set.
    async fn ack(&self, delivery: &Delivery) {
        let mut redis = self.redis.clone();
        if let Err(e) = queue::ack(
            &mut redis,
            &self.keys,
            &delivery.stream_id,
            Some(delivery.entry.attempt_id),
        )
        .await
        {
            tracing::warn!(attempt.id = %delivery.entry.attempt_id, error = %e, "queue entry not acknowledged");
        }
    }
}

/// Keeps this worker's entry in the registry fresh: which executors it can run.
async fn announce(worker: Worker, shutdown: CancellationToken) {
    let executors = executors::available(&worker.settings.worker.agent_commands);
    tracing::info!(executors = ?executors, "executors available");
    let mut redis = worker.redis.clone();
    while !shutdown.is_cancelled() {
        let info = shared::workers::WorkerInfo {
            worker_id: worker.id.clone(),
            executors: executors.clone(),
            seen_at: chrono::Utc::now(),
        };
        if let Err(e) = shared::workers::announce(&mut redis, &worker.keys, &info).await {
            tracing::warn!(error = %e, "worker entry not refreshed");
        }
        tokio::select! {
            _ = tokio::time::sleep(shared::workers::ANNOUNCE_EVERY) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Runs a worker with `settings` until `shutdown` (the binary's whole job).
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    Worker::connect(settings).await?.run(shutdown).await
}

/// Runs the one attempt `attempt_id` and returns what became of it (`--attempt`).
pub async fn run_attempt(
    settings: Settings,
    attempt_id: Uuid,
    shutdown: CancellationToken,
) -> anyhow::Result<AttemptOutcome> {
    let worker = Worker::connect(settings).await?;
    let data_dir = worker.data_dir.clone();
    shared::blocking::run(move || orphans::kill_orphans(&data_dir)).await?;
    Ok(worker.run_one(attempt_id, shutdown).await)
}

/// `<hostname>-<pid>`: unique among live workers, and tells an operator where to look.
pub fn default_worker_id() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let host = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "worker".to_owned()
    };
    format!("{host}-{}", std::process::id())
}
