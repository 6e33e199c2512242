//! The leader's reconcile loop. Level-triggered: each pass reads what the watches hold
//! of Jobs and Pods, then the live attempts from Postgres (in that order, so a pod seen
//! ended is never taken for one whose worker had not yet recorded its end), and derives
//! every action from those two pictures alone. A pass runs on every watch event, when
//! the dispatcher schedules something, and every `resync_ms`; a pass that hits an API
//! error is tried again after an exponential backoff (`retry_min_ms` … `retry_max_ms`).
//!
//! What a pass does, in order:
//! 1. an attempt whose worker pod (or Job) ended badly is ended with a readable reason
//!    (OOM-killed, deadline exceeded, image pull failure, eviction, a crash, a pod
//!    deleted under it): retried when another try may go better, failed otherwise;
//! 2. a warm pod that claimed an attempt gets the attempt's org and id as labels (its
//!    org's egress policy now selects it) and a deadline;
//! 3. Jobs nobody needs (attempt ended, or claimed by another worker) are deleted;
//!    finished Jobs are left to `ttlSecondsAfterFinished`, finished warm pods deleted,
//!    and so are pods left behind by a Job deleted without them, once unneeded;
//! 4. egress policies are made or updated for every org with live attempts;
//! 5. a scheduled attempt without a Job gets one — unless an idle warm pod of its class
//!    can take it (for up to `warm_claim_timeout_ms`), or a cap is reached;
//! 6. the warm pool is topped up to each class's `warm_pods`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use rand::Rng;
use shared::config::{KubernetesSettings, ResourceClass};
use shared::db::schema::{repositories, task_attempts};
use shared::domain::AttemptStatus;
use shared::executors::ResolvedProfile;
use shared::shutdown::CancellationToken;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::Cluster;
use super::egress::{self, Resolver};
use super::fate::{self, Failure, JobFate, PodFate};
use super::objects::{self, AttemptSpec, labels};
use crate::Services;
use crate::leader::{is_conflict, is_not_found};
use crate::reaper::{self, Lost};

/// How long the started pod of an attempt that has ended may take to exit by itself
/// before its Job is deleted.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);
/// A name we created stays counted against the caps this long while the watch has not
/// shown it yet.
const CREATED_GRACE: Duration = Duration::from_secs(30);
/// After this long unseen, a name we created is looked up directly.
const CREATED_CHECK: Duration = Duration::from_secs(1);

/// Runs the watches and the reconcile loop until `stop`.
pub async fn run(
    cluster: Cluster,
    services: Services,
    wake: Arc<Notify>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let k = services.settings.scheduler.kubernetes.clone();
    let selector = objects::managed_selector(&k);
    let (jobs, jobs_writer) = reflector::store::<Job>();
    let (pods, pods_writer) = reflector::store::<Pod>();
    let retry = (
        Duration::from_millis(k.retry_min_ms.max(1)),
        Duration::from_millis(k.retry_max_ms.max(k.retry_min_ms.max(1))),
    );
    let job_watch = tokio::spawn(keep_watching(
        watcher(cluster.jobs(), watcher::Config::default().labels(&selector))
            .backoff(RetryBackoff::new(retry.0, retry.1))
            .reflect(jobs_writer),
        "jobs",
        wake.clone(),
        stop.clone(),
    ));
    let pod_watch = tokio::spawn(keep_watching(
        watcher(cluster.pods(), watcher::Config::default().labels(&selector))
            .backoff(RetryBackoff::new(retry.0, retry.1))
            .reflect(pods_writer),
        "pods",
        wake.clone(),
        stop.clone(),
    ));

    // Acting on half a picture could take a missing Job for a vanished one.
    let ready = async {
        jobs.wait_until_ready().await?;
        pods.wait_until_ready().await
    };
    tokio::select! {
        r = ready => r?,
        _ = stop.cancelled() => {
            job_watch.abort();
            pod_watch.abort();
            return Ok(());
        }
    }
    tracing::info!(namespace = %cluster.namespace, "kubernetes backend watching jobs and pods");

    let mut reconciler = Reconciler {
        egress: EgressState::new(&k),
        k,
        cluster,
        services,
        jobs,
        pods,
        created: HashMap::new(),
        orphaned: HashMap::new(),
    };
    let resync = Duration::from_millis(reconciler.k.resync_ms.max(10));
    let mut backoff = RetryBackoff::new(retry.0, retry.1);
    while !stop.is_cancelled() {
        // A pass waiting on the client's own retries must not outlive leadership.
        let outcome = tokio::select! {
            r = reconciler.pass() => r,
            _ = stop.cancelled() => break,
        };
        let wait = match outcome {
            Ok(()) => {
                backoff.reset();
                resync
            }
            Err(e) => {
                let wait = backoff.next().unwrap_or(retry.1);
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "reconcile failed; retrying"
                );
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // Watch events and new schedules wake a healthy loop early, not a backing-off one.
            _ = wake.notified(), if wait == resync => {}
            _ = stop.cancelled() => {}
        }
    }
    job_watch.abort();
    pod_watch.abort();
    Ok(())
}

/// Drives one watch into its store, waking the loop on every change.
async fn keep_watching<S, K>(
    stream: S,
    what: &'static str,
    wake: Arc<Notify>,
    stop: CancellationToken,
) where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let mut stream = std::pin::pin!(stream);
    let mut failing = false;
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = stop.cancelled() => return,
        };
        match next {
            Some(Ok(_)) => {
                if failing {
                    tracing::info!(watch = what, "watch recovered");
                    failing = false;
                }
                wake.notify_one();
            }
            Some(Err(e)) => {
                if !failing {
                    tracing::warn!(watch = what, error = %e, "watch failed; retrying with backoff");
                }
                failing = true;
            }
            None => return,
        }
    }
}

/// Exponential backoff with full jitter between `min` and the current ceiling.
pub struct RetryBackoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl RetryBackoff {
    pub fn new(min: Duration, max: Duration) -> RetryBackoff {
        RetryBackoff {
            min,
            max,
            next: min,
        }
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        let spread = ceiling.saturating_sub(self.min).as_millis() as u64;
        let jitter = if spread > 0 {
            rand::rng().random_range(0..=spread / 2)
        } else {
            0
        };
        Some(ceiling - Duration::from_millis(jitter))
    }
}

impl Backoff for RetryBackoff {
    fn reset(&mut self) {
        self.next = self.min;
    }
}

/// A scheduled or running attempt, as a pass needs it.
#[derive(Debug, Clone)]
struct Live {
    spec: AttemptSpec,
    status: AttemptStatus,
    worker_id: Option<String>,
}

struct Reconciler {
    k: KubernetesSettings,
    cluster: Cluster,
    services: Services,
    jobs: Store<Job>,
    pods: Store<Pod>,
    egress: EgressState,
    /// Jobs and warm pods created and not yet seen in a watch: name → when.
    created: HashMap<String, (Instant, Option<Uuid>)>,
    /// Active Jobs whose attempt has ended, since when (they get `ORPHAN_GRACE`).
    orphaned: HashMap<String, Instant>,
}

/// What one pass read, indexed.
struct Picture {
    jobs: Vec<Arc<Job>>,
    pods: Vec<Arc<Pod>>,
    live: Vec<Live>,
    jobs_by_name: HashMap<String, Arc<Job>>,
    pods_by_name: HashMap<String, Arc<Pod>>,
    pods_by_job: HashMap<String, Vec<Arc<Pod>>>,
}

impl Picture {
    fn new(jobs: Vec<Arc<Job>>, pods: Vec<Arc<Pod>>, live: Vec<Live>) -> Picture {
        let jobs_by_name = jobs.iter().map(|j| (j.name_any(), j.clone())).collect();
        let pods_by_name = pods.iter().map(|p| (p.name_any(), p.clone())).collect();
        let mut pods_by_job: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        for p in &pods {
            if let Some(job) = job_of_pod(p) {
                pods_by_job
                    .entry(job.to_owned())
                    .or_default()
                    .push(p.clone());
            }
        }
        Picture {
            jobs,
            pods,
            live,
            jobs_by_name,
            pods_by_name,
            pods_by_job,
        }
    }

    fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods_by_name.get(name).map(|p| p.as_ref())
    }

    fn job(&self, name: &str) -> Option<&Job> {
        self.jobs_by_name.get(name).map(|j| j.as_ref())
    }

    fn pods_of_job<'a>(&'a self, job: &str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods_by_job
            .get(job)
            .into_iter()
            .flatten()
            .map(|p| p.as_ref())
    }

    fn jobs_of_attempt(&self, attempt: Uuid) -> impl Iterator<Item = &Job> + '_ {
        let id = attempt.to_string();
        self.jobs
            .iter()
            .filter(move |j| label(j.as_ref(), labels::ATTEMPT) == Some(id.as_str()))
            .map(|j| j.as_ref())
    }
}

fn label<'a, R: Resource>(r: &'a R, key: &str) -> Option<&'a str> {
    r.meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn job_of_pod(pod: &Pod) -> Option<&str> {
    label(pod, labels::JOB_NAME).or_else(|| label(pod, labels::JOB_NAME_LEGACY))
}

fn is_warm(pod: &Pod) -> bool {
    label(pod, labels::ROLE) == Some(objects::ROLE_WARM)
}

/// A worker id this backend's pods could carry (Job pods and warm pods are named so).
fn is_our_worker(worker_id: &str) -> bool {
    worker_id.starts_with("sy-")
}

/// The class's memory limit and the pod's deadline, for failure reasons.
fn reason_context<'a>(
    class: Option<&'a ResourceClass>,
    pod: &Pod,
    job: Option<&Job>,
) -> (Option<&'a str>, Option<i64>) {
    let deadline = job
        .and_then(|j| j.spec.as_ref())
        .and_then(|s| s.active_deadline_seconds)
        .or_else(|| pod.spec.as_ref().and_then(|s| s.active_deadline_seconds));
    (class.map(|c| c.memory_limit.as_str()), deadline)
}

/// Why a pod that never started is still pending, from its scheduling condition.
fn pending_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Pending") {
        return None;
    }
    status
        .conditions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| {
            format!(
                "{}: {}",
                c.reason.as_deref().unwrap_or("Unschedulable"),
                c.message.as_deref().unwrap_or("not scheduled")
            )
        })
}

/// An attempt to end, and how.
struct End {
    attempt: Uuid,
    expect_status: AttemptStatus,
    expect_worker: Option<String>,
    failure: Failure,
}

impl Reconciler {
    async fn pass(&mut self) -> anyhow::Result<()> {
        let (jobs, pods) = (self.jobs.state(), self.pods.state());
        let picture = Picture::new(jobs, pods, self.load_live().await?);
        let seen: HashSet<String> = picture
            .jobs
            .iter()
            .map(|j| j.name_any())
            .chain(picture.pods.iter().map(|p| p.name_any()))
            .collect();
        self.created
            .retain(|name, (at, _)| !seen.contains(name) && at.elapsed() < CREATED_GRACE);
        // Made, never seen, and a while ago: perhaps deleted before the watch showed it
        // (its DELETED event names nothing the store knew). Ask.
        let unseen: Vec<String> = self
            .created
            .iter()
            .filter(|(_, (at, _))| at.elapsed() >= CREATED_CHECK)
            .map(|(name, _)| name.clone())
            .collect();
        for name in unseen {
            let exists = if name.starts_with(objects::WARM_PREFIX) {
                self.cluster.pods().get_opt(&name).await?.is_some()
            } else {
                self.cluster.jobs().get_opt(&name).await?.is_some()
            };
            if !exists {
                self.created.remove(&name);
            }
        }

        let grace = Duration::from_secs(self.k.image_pull_grace_secs);
        let mut ends: Vec<End> = Vec::new();
        let mut delete_jobs: BTreeSet<String> = BTreeSet::new();
        let mut delete_pods: BTreeSet<String> = BTreeSet::new();
        let mut adopt: Vec<(String, Live)> = Vec::new();
        let mut confirm_gone: Vec<Live> = Vec::new();
        let mut need_job: Vec<Live> = Vec::new();

        // 1, 2: running attempts whose pod ended, and warm pods to adopt.
        for a in picture
            .live
            .iter()
            .filter(|a| a.status == AttemptStatus::Running)
        {
            let Some(worker) = a.worker_id.as_deref() else {
                continue;
            };
            let Some(pod) = picture.pod(worker) else {
                if is_our_worker(worker) {
                    confirm_gone.push(a.clone());
                }
                continue;
            };
            let class = self.k.resource_classes.get(&a.spec.class);
            let job = job_of_pod(pod).and_then(|j| picture.job(j));
            let end = |failure: Failure| End {
                attempt: a.spec.id,
                expect_status: AttemptStatus::Running,
                expect_worker: Some(worker.to_owned()),
                failure,
            };
            if let Some(JobFate::Failed {
                reason,
                deadline: true,
            }) = job.map(fate::job_fate)
            {
                ends.push(end(Failure {
                    reason,
                    retry: false,
                }));
                continue;
            }
            let (memory, deadline) = reason_context(class, pod, job);
            match fate::pod_fate(pod, memory, deadline, grace) {
                PodFate::Failed(f) => ends.push(end(f)),
                PodFate::Succeeded => ends.push(end(Failure {
                    reason: "the worker pod exited before recording the attempt's end".to_owned(),
                    retry: true,
                })),
                PodFate::Alive { .. } | PodFate::Stuck { .. } => {
                    if is_warm(pod) && label(pod, labels::ATTEMPT).is_none() {
                        adopt.push((worker.to_owned(), a.clone()));
                    }
                }
            }
        }

        // 1: scheduled attempts whose Job failed before its worker claimed them.
        for a in picture
            .live
            .iter()
            .filter(|a| a.status == AttemptStatus::Scheduled)
        {
            let end = |failure: Failure| End {
                attempt: a.spec.id,
                expect_status: AttemptStatus::Scheduled,
                expect_worker: None,
                failure,
            };
            let Some(class) = self.k.resource_classes.get(&a.spec.class) else {
                let known: Vec<&str> = self.k.resource_classes.keys().map(String::as_str).collect();
                ends.push(end(Failure {
                    reason: format!(
                        "resource class {:?} is not configured on this cluster (known: {})",
                        a.spec.class,
                        known.join(", ")
                    ),
                    retry: false,
                }));
                continue;
            };
            let name = a.spec.job_name();
            let Some(job) = picture.job(&name) else {
                if !self.created.contains_key(&name) {
                    need_job.push(a.clone());
                }
                continue;
            };
            let pods: Vec<&Pod> = picture.pods_of_job(&name).collect();
            match fate::job_fate(job) {
                JobFate::Failed { reason, deadline } => {
                    // The pod says more than the Job, unless time ran out.
                    let pod_failure = pods.iter().find_map(|p| {
                        match fate::pod_fate(p, Some(&class.memory_limit), None, grace) {
                            PodFate::Failed(f) => Some(f),
                            _ => None,
                        }
                    });
                    let failure = match (deadline, pod_failure) {
                        (false, Some(f)) => f,
                        (true, _) => Failure {
                            reason: fate::deadline_reason(
                                job.spec.as_ref().and_then(|s| s.active_deadline_seconds),
                                pods.iter().find_map(|p| pending_reason(p)).as_deref(),
                            ),
                            retry: false,
                        },
                        (false, None) => Failure {
                            reason,
                            retry: true,
                        },
                    };
                    ends.push(end(failure));
                }
                JobFate::Complete => ends.push(end(Failure {
                    reason: "the worker pod ended without claiming the attempt".to_owned(),
                    retry: true,
                })),
                JobFate::Active => {
                    for p in pods {
                        match fate::pod_fate(p, Some(&class.memory_limit), None, grace) {
                            PodFate::Stuck {
                                reason,
                                for_long: true,
                            } => {
                                ends.push(end(Failure {
                                    reason,
                                    retry: false,
                                }));
                                delete_jobs.insert(name.clone());
                            }
                            PodFate::Failed(f) => ends.push(end(f)),
                            _ => {}
                        }
                    }
                }
            }
        }

        // 3: orphans.
        let live_by_id: HashMap<Uuid, &Live> =
            picture.live.iter().map(|a| (a.spec.id, a)).collect();
        let mut orphaned: HashMap<String, Instant> = HashMap::new();
        let previously = std::mem::take(&mut self.orphaned);
        for job in &picture.jobs {
            if fate::job_finished(job) || job.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let name = job.name_any();
            let Some(attempt) =
                label(job.as_ref(), labels::ATTEMPT).and_then(|s| s.parse::<Uuid>().ok())
            else {
                continue;
            };
            let keep = match live_by_id.get(&attempt) {
                // The attempt ended (or went back to the queue): a pod that has started
                // gets time to finish on its own (its worker is recording the end, or
                // will notice its lost lease or stop request); one that has not is
                // freed now.
                None => {
                    let started = picture.pods_of_job(&name).any(|p| {
                        !matches!(
                            fate::pod_fate(p, None, None, Duration::MAX),
                            PodFate::Alive { running: false } | PodFate::Stuck { .. }
                        )
                    });
                    let since = previously.get(&name).copied().unwrap_or_else(Instant::now);
                    orphaned.insert(name.clone(), since);
                    started && since.elapsed() < ORPHAN_GRACE
                }
                Some(a) if a.status == AttemptStatus::Scheduled => a.spec.job_name() == name,
                // Running: only in this Job's pod (the Job controller names pods `<job>-…`).
                Some(a) => a
                    .worker_id
                    .as_deref()
                    .is_some_and(|w| w.starts_with(&format!("{name}-"))),
            };
            if !keep {
                delete_jobs.insert(name);
            }
        }
        self.orphaned = orphaned;
        for pod in &picture.pods {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let name = pod.name_any();
            if is_warm(pod) {
                if fate::pod_finished(pod) {
                    delete_pods.insert(name);
                }
                continue;
            }
            // A Job's pod whose Job is gone (deleted with its pods orphaned): no TTL and
            // no garbage collector will take it, so it goes once no live attempt runs
            // in it or waits for it.
            let Some(job) = job_of_pod(pod) else {
                continue;
            };
            if picture.job(job).is_some() || self.created.contains_key(job) {
                continue;
            }
            let attempt = label(pod.as_ref(), labels::ATTEMPT)
                .and_then(|s| s.parse::<Uuid>().ok())
                .and_then(|id| live_by_id.get(&id));
            let needed = !fate::pod_finished(pod)
                && attempt.is_some_and(|a| match a.status {
                    AttemptStatus::Scheduled => a.spec.job_name() == job,
                    _ => a.worker_id.as_deref() == Some(name.as_str()),
                });
            if !needed {
                tracing::info!(pod = %name, job, "deleting a pod whose Job is gone");
                delete_pods.insert(name);
            }
        }

        // Act on what ended first: a pod deleted before its attempt is ended would read
        // as "deleted under it" on the next pass.
        for e in ends {
            self.end(e).await?;
        }
        for a in confirm_gone {
            self.confirm_gone(&picture, a).await?;
        }
        for (pod, a) in adopt {
            self.adopt(&picture, &pod, &a).await?;
        }
        for name in &delete_jobs {
            tracing::info!(job = %name, "deleting a Job no attempt needs");
            self.delete_job(name).await?;
        }
        for name in &delete_pods {
            self.delete_pod(name).await?;
        }

        // 4: egress before any new pod of an org.
        let orgs: BTreeSet<Uuid> = picture
            .live
            .iter()
            .map(|a| a.spec.org_id)
            .chain(
                picture
                    .pods
                    .iter()
                    .filter(|p| !fate::pod_finished(p))
                    .filter_map(|p| label(p.as_ref(), labels::ORG)?.parse().ok()),
            )
            .collect();
        self.egress
            .ensure(&self.k, &self.cluster, &self.services, &orgs)
            .await?;

        // 5, 6: capacity.
        self.create_capacity(&picture, need_job, &delete_jobs).await
    }

    async fn load_live(&self) -> anyhow::Result<Vec<Live>> {
        let mut conn = self.services.db.system().await?;
        type Row = (
            Uuid,
            Uuid,
            AttemptStatus,
            Option<String>,
            Option<chrono::DateTime<chrono::Utc>>,
            String,
            Option<serde_json::Value>,
        );
        let rows: Vec<Row> = task_attempts::table
            .filter(
                task_attempts::status.eq_any([AttemptStatus::Scheduled, AttemptStatus::Running]),
            )
            .select((
                task_attempts::id,
                task_attempts::org_id,
                task_attempts::status,
                task_attempts::worker_id,
                task_attempts::scheduled_at,
                task_attempts::executor,
                task_attempts::executor_profile,
            ))
            .order(task_attempts::scheduled_at.asc())
            .load(&mut conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, org_id, status, worker_id, scheduled_at, executor, profile)| {
                let class = match ResolvedProfile::for_attempt(&executor, profile.as_ref()) {
                    Ok(p) => p.options.resource_class,
                    Err(e) => {
                        tracing::warn!(attempt.id = %id, error = %e, "unreadable profile; default resource class");
                        None
                    }
                }
                .unwrap_or_else(|| self.k.default_resource_class.clone());
                Live {
                    spec: AttemptSpec {
                        id,
                        org_id,
                        scheduled_at,
                        class,
                    },
                    status,
                    worker_id,
                }
            })
            .collect())
    }

    async fn end(&mut self, e: End) -> anyhow::Result<()> {
        let s = &self.services;
        let mut redis = s.redis.clone();
        let ended = reaper::end_lost_attempt(
            &s.db,
            &mut redis,
            &s.keys,
            &s.store,
            Lost {
                attempt_id: e.attempt,
                status: e.expect_status,
                worker_id: e.expect_worker.as_deref(),
                reason: &e.failure.reason,
                retry: e.failure.retry,
            },
        )
        .await?;
        if let Some(a) = ended {
            tracing::warn!(attempt.id = %a.id, org.id = %a.org_id, status = %a.status, reason = %e.failure.reason, "attempt's worker pod failed");
        }
        Ok(())
    }

    /// A running attempt whose worker pod the watch no longer shows: asks the API, and
    /// if the pod is really gone, ends the attempt (it was deleted, or its Job was).
    async fn confirm_gone(&mut self, picture: &Picture, a: Live) -> anyhow::Result<()> {
        let Some(worker) = a.worker_id.clone() else {
            return Ok(());
        };
        if self.cluster.pods().get_opt(&worker).await?.is_some() {
            return Ok(());
        }
        // The pod's Job, fresh from the API: its controller may not have said yet why
        // the pod went (a deadline), and then its verdict is worth waiting for.
        let job = picture
            .jobs_of_attempt(a.spec.id)
            .map(|j| j.name_any())
            .find(|name| worker.starts_with(&format!("{name}-")));
        let job = match job {
            Some(name) => self.cluster.jobs().get_opt(&name).await?,
            None => None,
        };
        let verdict = job.as_ref().map(fate::job_fate);
        tracing::debug!(attempt.id = %a.spec.id, pod = %worker, verdict = ?verdict, "worker pod gone");
        let failure = match verdict {
            Some(JobFate::Active) => return Ok(()),
            Some(JobFate::Failed {
                reason,
                deadline: true,
            }) => Failure {
                reason,
                retry: false,
            },
            _ => Failure {
                reason: "the worker pod was deleted before the attempt ended".to_owned(),
                retry: true,
            },
        };
        self.end(End {
            attempt: a.spec.id,
            expect_status: AttemptStatus::Running,
            expect_worker: Some(worker),
            failure,
        })
        .await
    }

    /// Labels a warm pod that claimed `a` with the attempt's org and id (the org's egress
    /// policy selects it from now on) and bounds it by the attempt's deadline.
    async fn adopt(&mut self, picture: &Picture, pod: &str, a: &Live) -> anyhow::Result<()> {
        let started = picture
            .pod(pod)
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0);
        let age = started
            .map(|t| {
                k8s_openapi::jiff::Timestamp::now()
                    .duration_since(t)
                    .as_secs()
                    .max(0)
            })
            .unwrap_or(0);
        let deadline = age.saturating_add(objects::job_deadline_secs(
            &self.k,
            self.services.settings.worker.limits.wall_clock_secs,
        ));
        let patch = serde_json::json!({
            "metadata": {"labels": {
                labels::ORG: a.spec.org_id.to_string(),
                labels::ATTEMPT: a.spec.id.to_string(),
            }},
            "spec": {"activeDeadlineSeconds": deadline},
        });
        match self
            .cluster
            .pods()
            .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(pod, attempt.id = %a.spec.id, org.id = %a.spec.org_id, "warm pod claimed an attempt");
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_job(&self, name: &str) -> anyhow::Result<()> {
        match self
            .cluster
            .jobs()
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_pod(&self, name: &str) -> anyhow::Result<()> {
        match self
            .cluster
            .pods()
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Jobs for scheduled attempts and warm pods, within the caps.
    async fn create_capacity(
        &mut self,
        picture: &Picture,
        mut need_job: Vec<Live>,
        deleted: &BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let holding: HashMap<&str, &Live> = picture
            .live
            .iter()
            .filter(|a| a.status == AttemptStatus::Running)
            .filter_map(|a| Some((a.worker_id.as_deref()?, a)))
            .collect();
        // Pods in use now: every active Job's, every warm pod not ended, and what was
        // created but not yet seen.
        let mut total = 0usize;
        let mut per_org: HashMap<Uuid, usize> = HashMap::new();
        for job in &picture.jobs {
            if fate::job_finished(job) || deleted.contains(&job.name_any()) {
                continue;
            }
            total += 1;
            if let Some(org) = label(job.as_ref(), labels::ORG).and_then(|o| o.parse().ok()) {
                *per_org.entry(org).or_default() += 1;
            }
        }
        // Warm pods of each class that could take an attempt now (running, unclaimed),
        // and those on their way (pending).
        let mut idle: HashMap<String, usize> = HashMap::new();
        let mut unused: HashMap<String, Vec<(bool, String)>> = HashMap::new();
        for pod in picture.pods.iter().filter(|p| is_warm(p)) {
            if fate::pod_finished(pod) {
                continue;
            }
            total += 1;
            let name = pod.name_any();
            let org = label(pod.as_ref(), labels::ORG)
                .and_then(|o| o.parse::<Uuid>().ok())
                .or_else(|| holding.get(name.as_str()).map(|a| a.spec.org_id));
            if let Some(org) = org {
                *per_org.entry(org).or_default() += 1;
                continue;
            }
            let class = label(pod.as_ref(), labels::CLASS)
                .unwrap_or_default()
                .to_owned();
            let running = matches!(
                fate::pod_fate(pod, None, None, Duration::MAX),
                PodFate::Alive { running: true }
            );
            if running {
                *idle.entry(class.clone()).or_default() += 1;
            }
            unused.entry(class).or_default().push((running, name));
        }
        for (_, org) in self.created.values() {
            total += 1;
            if let Some(org) = org {
                *per_org.entry(*org).or_default() += 1;
            }
        }

        // Oldest first; a warm pod takes what it can within the claim timeout.
        need_job.sort_by_key(|a| a.spec.scheduled_at);
        let now = chrono::Utc::now();
        let warm_wait = chrono::Duration::milliseconds(self.k.warm_claim_timeout_ms as i64);
        let mut left_to_warm: HashMap<&str, usize> = HashMap::new();
        let mut capped = 0usize;
        for a in &need_job {
            let warm_free = idle.get(&a.spec.class).copied().unwrap_or(0);
            let taken = left_to_warm.entry(a.spec.class.as_str()).or_default();
            let fresh = a.spec.scheduled_at.is_none_or(|t| now - t < warm_wait);
            if fresh && *taken < warm_free {
                *taken += 1;
                continue;
            }
            let org_pods = per_org.get(&a.spec.org_id).copied().unwrap_or(0);
            if total >= self.k.max_pods || org_pods >= self.k.max_pods_per_org {
                capped += 1;
                continue;
            }
            if !self.egress.covers(&self.k, a.spec.org_id) {
                continue;
            }
            let Some(class) = self.k.resource_classes.get(&a.spec.class) else {
                continue;
            };
            let job = objects::attempt_job(
                &self.k,
                class,
                &a.spec,
                self.services.settings.worker.limits.wall_clock_secs,
            );
            let name = a.spec.job_name();
            match self
                .cluster
                .jobs()
                .create(&PostParams::default(), &job)
                .await
            {
                Ok(_) => {
                    tracing::info!(job = %name, attempt.id = %a.spec.id, org.id = %a.spec.org_id, class = %a.spec.class, "created the attempt's Job");
                }
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
            self.created
                .insert(name, (Instant::now(), Some(a.spec.org_id)));
            total += 1;
            *per_org.entry(a.spec.org_id).or_default() += 1;
        }
        if capped > 0 {
            tracing::debug!(
                waiting = capped,
                total,
                max_pods = self.k.max_pods,
                "attempts wait for a pod slot"
            );
        }

        // The warm pool: top each class up to its size; trim what is over (pending first).
        let classes: BTreeSet<&String> = self
            .k
            .resource_classes
            .keys()
            .chain(unused.keys())
            .collect();
        for class_name in classes {
            let want = self
                .k
                .resource_classes
                .get(class_name)
                .map_or(0, |c| c.warm_pods);
            let have = unused.get(class_name).map_or(&[][..], Vec::as_slice);
            let pending_created = self
                .created
                .keys()
                .filter(|n| objects::is_warm_name_of(n, class_name))
                .count();
            let have_n = have.len() + pending_created;
            if have_n > want {
                let mut extra: Vec<&(bool, String)> = have.iter().collect();
                extra.sort_by_key(|(running, _)| *running);
                for (_, name) in extra.into_iter().take(have_n - want) {
                    tracing::info!(pod = %name, class = %class_name, "warm pool over size; deleting an idle pod");
                    self.delete_pod(name).await?;
                }
                continue;
            }
            let Some(class) = self.k.resource_classes.get(class_name) else {
                continue;
            };
            if !self.egress.baseline_ready(&self.k) {
                continue;
            }
            for _ in have_n..want {
                if total >= self.k.max_pods {
                    break;
                }
                let suffix = format!("{:08x}", rand::rng().random::<u32>());
                let pod = objects::warm_pod(&self.k, class_name, class, &suffix);
                let name = pod.name_any();
                match self
                    .cluster
                    .pods()
                    .create(&PostParams::default(), &pod)
                    .await
                {
                    Ok(_) => tracing::info!(pod = %name, class = %class_name, "created a warm pod"),
                    Err(e) if is_conflict(&e) => continue,
                    Err(e) => return Err(e.into()),
                }
                self.created.insert(name, (Instant::now(), None));
                total += 1;
            }
        }
        Ok(())
    }
}

/// The egress policies this leader has made, and when they were last brought up to date.
struct EgressState {
    resolver: Resolver,
    refreshed_at: Option<Instant>,
    baseline: bool,
    orgs: BTreeSet<Uuid>,
}

impl EgressState {
    fn new(k: &KubernetesSettings) -> EgressState {
        EgressState {
            resolver: Resolver::new(Duration::from_secs(k.egress.refresh_secs.max(1))),
            refreshed_at: None,
            baseline: false,
            orgs: BTreeSet::new(),
        }
    }

    /// Whether `org`'s pods may start: its policy (and the baseline) exist, or egress
    /// policies are off.
    fn covers(&self, k: &KubernetesSettings, org: Uuid) -> bool {
        !k.egress.enabled || (self.baseline && self.orgs.contains(&org))
    }

    fn baseline_ready(&self, k: &KubernetesSettings) -> bool {
        !k.egress.enabled || self.baseline
    }

    /// Brings the policies up to date when `refresh_secs` have passed or an org without
    /// a policy needs one: creates what is missing, replaces what differs, deletes the
    /// policies of orgs with nothing live.
    async fn ensure(
        &mut self,
        k: &KubernetesSettings,
        cluster: &Cluster,
        services: &Services,
        orgs: &BTreeSet<Uuid>,
    ) -> anyhow::Result<()> {
        if !k.egress.enabled {
            return Ok(());
        }
        let due = self
            .refreshed_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(k.egress.refresh_secs))
            || !orgs.is_subset(&self.orgs);
        if !due {
            return Ok(());
        }
        let common = egress::common_rules(&services.settings, &mut self.resolver).await;
        // Repository URLs are tenant input: they open only public git hosts, never the
        // platform's own or the cluster's.
        let forbidden =
            egress::Forbidden::from_settings(&services.settings, &mut self.resolver).await;
        let remotes: Vec<(Uuid, String)> = if orgs.is_empty() {
            Vec::new()
        } else {
            let mut conn = services.db.system().await?;
            repositories::table
                .filter(repositories::org_id.eq_any(orgs.iter().copied().collect::<Vec<_>>()))
                .select((repositories::org_id, repositories::url))
                .load(&mut conn)
                .await?
        };
        let mut by_org: BTreeMap<Uuid, Vec<String>> =
            orgs.iter().map(|o| (*o, Vec::new())).collect();
        for (org, url) in remotes {
            by_org.entry(org).or_default().push(url);
        }
        let mut desired = BTreeMap::new();
        let baseline = egress::baseline_policy(k, &common);
        desired.insert(baseline.name_any(), baseline);
        for (org, urls) in &by_org {
            let repos = egress::repository_rules(urls, &forbidden, &mut self.resolver).await;
            let p = egress::org_policy(k, *org, &common, repos);
            desired.insert(p.name_any(), p);
        }

        let api = cluster.network_policies();
        let selector = format!(
            "{},{}=egress",
            objects::managed_selector(k),
            labels::COMPONENT
        );
        let existing = api.list(&ListParams::default().labels(&selector)).await?;
        let mut existing: BTreeMap<String, _> = existing
            .items
            .into_iter()
            .map(|p| (p.name_any(), p))
            .collect();
        for (name, want) in desired {
            match existing.remove(&name) {
                None => match api.create(&PostParams::default(), &want).await {
                    Ok(_) => tracing::info!(policy = %name, "created egress policy"),
                    Err(e) if is_conflict(&e) => {}
                    Err(e) => return Err(e.into()),
                },
                Some(have)
                    if have.spec != want.spec || have.metadata.labels != want.metadata.labels =>
                {
                    let mut replacement = want;
                    replacement.metadata.resource_version = have.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &replacement)
                        .await?;
                    tracing::info!(policy = %name, "updated egress policy");
                }
                Some(_) => {}
            }
        }
        for name in existing.keys() {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(policy = %name, "deleted egress policy of an idle org"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.baseline = true;
        self.orgs = orgs.clone();
        self.refreshed_at = Some(Instant::now());
        Ok(())
    }
}
