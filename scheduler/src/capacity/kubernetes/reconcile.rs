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
//!
//! [`plan`] decides all of it from what the pass read; this file reads, and acts.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use rand::Rng;
use shared::config::KubernetesSettings;
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
use super::fate::{self, Failure, JobFate};
use super::objects::{self, AttemptSpec, labels};
use super::plan::{self, End, Live, Picture, WarmChange};
use crate::Services;
use crate::leader::{is_conflict, is_not_found};
use crate::reaper::{self, Lost};

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

struct Reconciler {
    k: KubernetesSettings,
    cluster: Cluster,
    services: Services,
    jobs: Store<Job>,
    pods: Store<Pod>,
    egress: EgressState,
    /// Jobs and warm pods created and not yet seen in a watch: name → when.
    created: plan::Created,
    /// Active Jobs whose attempt has ended, since when (they get `ORPHAN_GRACE`).
    orphaned: HashMap<String, Instant>,
}

impl Reconciler {
    /// One reconcile pass, a trace of its own (the attempts it touches log their ids).
    #[tracing::instrument(name = "scheduler.reconcile", parent = None, skip_all)]
    async fn pass(&mut self) -> anyhow::Result<()> {
        let (jobs, pods) = (self.jobs.state(), self.pods.state());
        let picture = Picture::new(jobs, pods, self.load_live().await?);
        self.forget_created(&picture).await?;

        // 1 to 3, from the picture alone.
        let previously = std::mem::take(&mut self.orphaned);
        let plan = plan::cleanup(
            &picture,
            &self.k,
            &self.created,
            &previously,
            Instant::now(),
        );
        self.orphaned = plan.orphaned;
        // Act on what ended first: a pod deleted before its attempt is ended would read
        // as "deleted under it" on the next pass.
        for e in plan.ends {
            self.end(e).await?;
        }
        for a in plan.confirm_gone {
            self.confirm_gone(a).await?;
        }
        for (pod, a) in plan.adopt {
            self.adopt(&picture, &pod, &a).await?;
        }
        for name in &plan.delete_jobs {
            tracing::info!(job = %name, "deleting a Job no attempt needs");
            self.delete_job(name).await?;
        }
        for name in &plan.delete_pods {
            tracing::info!(pod = %name, "deleting a pod no attempt needs");
            self.delete_pod(name).await?;
        }

        // 4: egress before any new pod of an org.
        self.egress
            .ensure(
                &self.k,
                &self.cluster,
                &self.services,
                &plan::egress_orgs(&picture),
            )
            .await?;

        // 5, 6: capacity.
        self.create_capacity(&picture, &plan.need_job, &plan.delete_jobs)
            .await
    }

    /// Drops the names created that the watches now show, or that are too old to wait
    /// for; looks up those unseen for a while (perhaps deleted before the watch showed
    /// them: their DELETED event names nothing the store knew).
    async fn forget_created(&mut self, picture: &Picture) -> anyhow::Result<()> {
        let seen: HashSet<String> = picture
            .jobs
            .iter()
            .map(|j| j.name_any())
            .chain(picture.pods.iter().map(|p| p.name_any()))
            .collect();
        self.created
            .retain(|name, (at, _)| !seen.contains(name) && at.elapsed() < CREATED_GRACE);
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
        Ok(())
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
    async fn confirm_gone(&mut self, a: Live) -> anyhow::Result<()> {
        let Some(worker) = a.worker_id.clone() else {
            return Ok(());
        };
        if self.cluster.pods().get_opt(&worker).await?.is_some() {
            return Ok(());
        }
        // The pod's Job, fresh from the API: its controller may not have said yet why
        // the pod went (a deadline), and then its verdict is worth waiting for. Named
        // from the pod, not the Job watch, which may lag behind the pod watch.
        let job = match plan::job_of_worker(a.spec.id, &worker) {
            Some(name) => self.cluster.jobs().get_opt(name).await?,
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

    /// Jobs for scheduled attempts and warm pods, within the caps, as planned by
    /// [`plan::capacity`].
    async fn create_capacity(
        &mut self,
        picture: &Picture,
        need_job: &[Live],
        deleted: &BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let egress = Cover {
            state: &self.egress,
            k: &self.k,
        };
        let plan = plan::capacity(
            picture,
            &self.k,
            &self.created,
            need_job,
            deleted,
            &egress,
            chrono::Utc::now(),
        );
        for id in &plan.jobs {
            let Some(a) = need_job.iter().find(|a| a.spec.id == *id) else {
                continue;
            };
            let Some(class) = self.k.resource_classes.get(&a.spec.class) else {
                continue;
            };
            let job = objects::attempt_job(&self.k, class, &a.spec, &self.services.settings.worker);
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
        }
        if plan.capped > 0 {
            tracing::debug!(
                waiting = plan.capped,
                total = plan.total,
                max_pods = self.k.max_pods,
                "attempts wait for a pod slot"
            );
        }
        for change in plan.warm {
            match change {
                WarmChange::Delete(name) => {
                    tracing::info!(pod = %name, "warm pool over size; deleting an idle pod");
                    self.delete_pod(&name).await?;
                }
                WarmChange::Create(class_name) => {
                    let Some(class) = self.k.resource_classes.get(&class_name) else {
                        continue;
                    };
                    let suffix = format!("{:08x}", rand::rng().random::<u32>());
                    let pod = objects::warm_pod(
                        &self.k,
                        &class_name,
                        class,
                        &self.services.settings.worker,
                        &suffix,
                    );
                    let name = pod.name_any();
                    match self
                        .cluster
                        .pods()
                        .create(&PostParams::default(), &pod)
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(pod = %name, class = %class_name, "created a warm pod")
                        }
                        Err(e) if is_conflict(&e) => continue,
                        Err(e) => return Err(e.into()),
                    }
                    self.created.insert(name, (Instant::now(), None));
                }
            }
        }
        Ok(())
    }
}

/// What the egress policies allow, as the capacity plan asks it.
struct Cover<'a> {
    state: &'a EgressState,
    k: &'a KubernetesSettings,
}

impl plan::EgressCover for Cover<'_> {
    fn covers(&self, org: Uuid) -> bool {
        self.state.covers(self.k, org)
    }

    fn baseline_ready(&self) -> bool {
        self.state.baseline_ready(self.k)
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
