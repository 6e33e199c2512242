//! The scheduler: moves queued attempts into the Redis queue within each org's limits,
//! recovers from lost workers and a lost queue, and finds workers for them through its
//! capacity backend (local processes, or Kubernetes Jobs and warm pods).

pub mod capacity;
pub mod dispatch;
pub mod leader;
pub mod metrics_server;
pub mod reaper;
pub mod wakes;

use redis::aio::ConnectionManager;
use shared::config::{CapacityBackend, Settings};
use shared::db::Db;
use shared::keys::Keys;
use shared::loops::Loops;
use shared::metrics::Metrics;
use shared::shutdown::CancellationToken;
use shared::store::ObjectStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub use capacity::local::WorkerPool;

/// How often the reaper looks for expired leases and lost queue entries.
const REAP_EVERY: Duration = Duration::from_millis(1_000);
/// A just-scheduled attempt's push may still be in flight; the reconciler leaves it alone this long.
const ENQUEUE_GRACE: Duration = Duration::from_secs(2);
/// How long the loops get to stop once shutdown (or the end of a leadership term) starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// What the scheduler's loops share: settings and the clients of the services.
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub redis: ConnectionManager,
    pub keys: Keys,
    pub store: ObjectStore,
    /// The scheduler's metrics (queue wait, lease expiries, S3 and Redis errors), served
    /// on `scheduler.metrics_bind` when set.
    pub metrics: Metrics,
}

impl Services {
    /// Connects to Postgres (lazily), Redis and the object store.
    pub async fn connect(settings: Settings) -> anyhow::Result<Services> {
        settings.check_mode(shared::config::Process::Scheduler)?;
        let db = Db::new(&settings.database)?;
        db.verify_role().await?;
        let redis = shared::redis_conn::manager(&settings.redis.url).await?;
        let keys = Keys::new(settings.redis.prefix.clone());
        let metrics = Metrics::new()?;
        let store = ObjectStore::new(&settings.s3).counting_errors_in(&metrics);
        Ok(Services {
            settings: Arc::new(settings),
            db,
            redis,
            keys,
            store,
            metrics,
        })
    }
}

/// Runs dispatch, reaping and the capacity backend until `shutdown`. Every loop is
/// started here, named, and waited for on the way out (see [`Loops`]).
pub async fn run(
    settings: Settings,
    workers: WorkerPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let services = Services::connect(settings).await?;
    // Local workers get their whole stop grace (the attempt in flight drains) first.
    let grace = match services.settings.scheduler.backend {
        CapacityBackend::Local => {
            SHUTDOWN_GRACE.max(services.settings.worker.stop_grace() + Duration::from_secs(1))
        }
        _ => SHUTDOWN_GRACE,
    };
    let mut loops = Loops::new(shutdown.clone());
    if let Some(bind) = &services.settings.scheduler.metrics_bind {
        let addr = metrics_server::start(bind, services.metrics.clone(), &mut loops)?;
        tracing::info!(%addr, "scheduler metrics listening");
    }
    match services.settings.scheduler.backend {
        CapacityBackend::Local => {
            let settings = (*services.settings).clone();
            loops.spawn(
                "local-workers",
                capacity::local::run(settings, workers, loops.stop_token()),
            );
            duties(&mut loops, services, None);
        }
        CapacityBackend::External => duties(&mut loops, services, None),
        CapacityBackend::Kubernetes => {
            let elected = start_kubernetes(&mut loops, services).await?;
            loops.spawn("leader", elected);
        }
    }
    loops.run_until_stopped(grace).await;
    Ok(())
}

/// The Kubernetes backend: contends for the Lease, and while this replica leads runs
/// dispatch, reaping and the reconcile loop (a registry of their own per term); stops
/// them the moment it no longer leads. Returns the loop that does all that, for `loops`.
async fn start_kubernetes(
    loops: &mut Loops,
    services: Services,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use capacity::kubernetes::{Cluster, objects, reconcile};
    let k = services.settings.scheduler.kubernetes.clone();
    // A setting no worker pod could run its sandbox with stops the scheduler at start,
    // not every attempt later.
    if let Some(problem) = objects::sandbox_problem(&k) {
        anyhow::bail!("worker pods cannot hold the attempt sandbox: {problem}");
    }
    let cluster = Cluster::connect(&k).await?;
    let identity = k.leader.identity.clone().unwrap_or_else(default_identity);
    let election = leader::LeaderElection::new(
        cluster.leases(),
        &k.leader,
        identity.clone(),
        objects::common_labels(&k, "scheduler"),
    );
    // The Lease is handed back only after this replica's duties have stopped: the
    // election is a registry of its own, stopped last.
    let mut election_loops = Loops::new(CancellationToken::new());
    let (mut leading, contend) = election.start(election_loops.stop_token());
    election_loops.spawn("leader-election", contend);
    tracing::info!(identity = %identity, namespace = %cluster.namespace, "scheduler contending for leadership");
    let shutdown = loops.stop_token();
    Ok(async move {
        while !shutdown.is_cancelled() {
            tokio::select! {
                changed = leading.wait_for(|l| *l) => if changed.is_err() { break },
                _ = shutdown.cancelled() => break,
            }
            tracing::info!(identity = %identity, "leading: dispatching and reconciling");
            let mut term = Loops::new(shutdown.child_token());
            // Rounds that scheduled attempts wake the reconciler, which starts their Jobs.
            let reconcile_wake = Arc::new(Notify::new());
            duties(&mut term, services.clone(), Some(reconcile_wake.clone()));
            term.spawn(
                "reconcile",
                reconcile::run(
                    cluster.clone(),
                    services.clone(),
                    reconcile_wake,
                    term.stop_token(),
                ),
            );
            tokio::select! {
                _ = leading.wait_for(|l| !*l) => {
                    tracing::warn!(identity = %identity, "no longer leading: stopping dispatch and reconcile");
                }
                _ = shutdown.cancelled() => {}
            }
            term.shutdown(SHUTDOWN_GRACE).await;
        }
        election_loops.shutdown(SHUTDOWN_GRACE).await;
    })
}

/// The host name (a pod's name in a cluster), else `scheduler-<pid>`.
fn default_identity() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        let host = String::from_utf8_lossy(&buf[..end]).into_owned();
        if !host.is_empty() {
            return host;
        }
    }
    format!("scheduler-{}", std::process::id())
}

/// Starts dispatch, its wake listener and reaping in `loops`; `on_scheduled` is told
/// whenever a round scheduled attempts.
fn duties(loops: &mut Loops, services: Services, on_scheduled: Option<Arc<Notify>>) {
    let stop = loops.stop_token();
    let dispatch_wake = Arc::new(Notify::new());
    loops.spawn(
        "dispatch-wakes",
        wakes::listen(
            services.settings.redis.url.clone(),
            services.keys.dispatch_wakes(),
            dispatch_wake.clone(),
            stop.clone(),
        ),
    );
    loops.spawn(
        "dispatch",
        dispatch_loop(services.clone(), dispatch_wake, on_scheduled, stop.clone()),
    );
    loops.spawn("reaper", reap_loop(services, stop));
}

/// Schedules queued attempts whenever `dispatch_wake` says there is work (see
/// [`wakes`]), at once again after a full batch, and every `tick_ms` in any case for
/// whatever a lost wake left queued.
async fn dispatch_loop(
    services: Services,
    dispatch_wake: Arc<Notify>,
    on_scheduled: Option<Arc<Notify>>,
    stop: CancellationToken,
) {
    let Services {
        settings,
        db,
        mut redis,
        keys,
        metrics,
        ..
    } = services;
    let fallback_tick = Duration::from_millis(settings.scheduler.tick_ms);
    let batch = settings.scheduler.batch_size;
    while !stop.is_cancelled() {
        let scheduled = match dispatch::dispatch_once(&db, &mut redis, &keys, batch, &metrics).await
        {
            Ok(n) => n,
            Err(e) => {
                metrics.count_redis_error_in(&e);
                tracing::warn!(error = %e, "dispatch failed; retrying");
                0
            }
        };
        if scheduled > 0
            && let Some(reconcile) = &on_scheduled
        {
            reconcile.notify_one();
        }
        // A full batch means more may be waiting: go again at once.
        if scheduled < batch as usize {
            tokio::select! {
                _ = dispatch_wake.notified() => {}
                _ = tokio::time::sleep(fallback_tick) => {}
                _ = stop.cancelled() => {}
            }
        }
    }
}

/// Ends or retries attempts whose lease expired, and re-enqueues what the queue lost.
async fn reap_loop(services: Services, stop: CancellationToken) {
    let Services {
        settings,
        db,
        mut redis,
        keys,
        store,
        metrics,
    } = services;
    let redeliver = Duration::from_millis(settings.scheduler.redeliver_after_ms);
    while !stop.is_cancelled() {
        match reaper::reap_expired_leases(&db, &mut redis, &keys, &store).await {
            Ok(expired) => metrics.lease_expiries.inc_by(expired as u64),
            Err(e) => {
                metrics.count_redis_error_in(&e);
                tracing::warn!(error = %e, "lease reaping failed; retrying");
            }
        }
        if let Err(e) =
            reaper::requeue_missing(&db, &mut redis, &keys, redeliver, ENQUEUE_GRACE).await
        {
            metrics.count_redis_error_in(&e);
            tracing::warn!(error = %e, "queue reconciliation failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(REAP_EVERY) => {}
            _ = stop.cancelled() => {}
        }
    }
}
