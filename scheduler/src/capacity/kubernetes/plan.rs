//! What a reconcile pass should do, derived from what it read alone: the Jobs and Pods
//! the watches hold, the live attempts, and what this leader created but has not seen
//! yet. Pure (the clock comes in as an argument), so each rule of `reconcile.rs`'s
//! numbered list is tested here case by case; the pass itself only reads and acts.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::{Resource, ResourceExt};
use shared::config::{KubernetesSettings, ResourceClass};
use shared::domain::AttemptStatus;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

use super::fate::{self, Failure, JobFate, PodFate};
use super::objects::{self, AttemptSpec, labels};

/// How long the started pod of an attempt that has ended may take to exit by itself
/// before its Job is deleted.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// A scheduled or running attempt, as a pass needs it.
#[derive(Debug, Clone)]
pub struct Live {
    pub spec: AttemptSpec,
    pub status: AttemptStatus,
    pub worker_id: Option<String>,
}

/// Jobs and warm pods this leader created and no watch has shown yet: name → when, and
/// the org of a Job.
pub type Created = HashMap<String, (Instant, Option<Uuid>)>;

/// What one pass read, indexed.
pub struct Picture {
    pub jobs: Vec<Arc<Job>>,
    pub pods: Vec<Arc<Pod>>,
    pub live: Vec<Live>,
    jobs_by_name: HashMap<String, Arc<Job>>,
    pods_by_name: HashMap<String, Arc<Pod>>,
    pods_by_job: HashMap<String, Vec<Arc<Pod>>>,
}

impl Picture {
    pub fn new(jobs: Vec<Arc<Job>>, pods: Vec<Arc<Pod>>, live: Vec<Live>) -> Picture {
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

    pub fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods_by_name.get(name).map(|p| p.as_ref())
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs_by_name.get(name).map(|j| j.as_ref())
    }

    fn pods_of_job<'a>(&'a self, job: &str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods_by_job
            .get(job)
            .into_iter()
            .flatten()
            .map(|p| p.as_ref())
    }

    pub fn jobs_of_attempt(&self, attempt: Uuid) -> impl Iterator<Item = &Job> + '_ {
        let id = attempt.to_string();
        self.jobs
            .iter()
            .filter(move |j| label(j.as_ref(), labels::ATTEMPT) == Some(id.as_str()))
            .map(|j| j.as_ref())
    }
}

pub fn label<'a, R: Resource>(r: &'a R, key: &str) -> Option<&'a str> {
    r.meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn job_of_pod(pod: &Pod) -> Option<&str> {
    label(pod, labels::JOB_NAME).or_else(|| label(pod, labels::JOB_NAME_LEGACY))
}

/// The Job whose pod `worker` is, when it is one of `attempt`'s: the Job controller
/// names a pod after its Job and a random suffix, and an attempt's Jobs are `sy-<id>-…`.
pub fn job_of_worker(attempt: Uuid, worker: &str) -> Option<&str> {
    let (job, _suffix) = worker.rsplit_once('-')?;
    let dispatch = job.strip_prefix(&format!("sy-{attempt}-"))?;
    (!dispatch.is_empty()).then_some(job)
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub attempt: Uuid,
    pub expect_status: AttemptStatus,
    pub expect_worker: Option<String>,
    pub failure: Failure,
}

/// Steps 1 to 3 of a pass: what ended, what to adopt, what nobody needs.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Attempts whose worker pod or Job ended badly.
    pub ends: Vec<End>,
    /// Running attempts whose pod the watch no longer shows: to look up before ending.
    pub confirm_gone: Vec<Live>,
    /// Warm pods that claimed an attempt: (pod, attempt).
    pub adopt: Vec<(String, Live)>,
    pub delete_jobs: BTreeSet<String>,
    pub delete_pods: BTreeSet<String>,
    /// Scheduled attempts that have no Job (nor one on its way).
    pub need_job: Vec<Live>,
    /// Active Jobs whose attempt has ended, since when (to keep for the next pass).
    pub orphaned: HashMap<String, Instant>,
}

/// Plans steps 1 to 3 of a pass. `orphaned` is the previous pass's; `now` is the clock.
pub fn cleanup(
    picture: &Picture,
    k: &KubernetesSettings,
    created: &Created,
    orphaned: &HashMap<String, Instant>,
    now: Instant,
) -> Cleanup {
    let mut plan = Cleanup::default();
    running_attempts(picture, k, &mut plan);
    scheduled_attempts(picture, k, created, &mut plan);
    orphan_jobs(picture, orphaned, now, &mut plan);
    orphan_pods(picture, created, &mut plan);
    plan
}

/// 1, 2: running attempts whose pod ended, and warm pods to adopt.
fn running_attempts(picture: &Picture, k: &KubernetesSettings, plan: &mut Cleanup) {
    let grace = Duration::from_secs(k.image_pull_grace_secs);
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
                plan.confirm_gone.push(a.clone());
            }
            continue;
        };
        let class = k.resource_classes.get(&a.spec.class);
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
            plan.ends.push(end(Failure {
                reason,
                retry: false,
            }));
            continue;
        }
        let (memory, deadline) = reason_context(class, pod, job);
        match fate::pod_fate(pod, memory, deadline, grace) {
            PodFate::Failed(f) => plan.ends.push(end(f)),
            PodFate::Succeeded => plan.ends.push(end(Failure {
                reason: "the worker pod exited before recording the attempt's end".to_owned(),
                retry: true,
            })),
            PodFate::Alive { .. } | PodFate::Stuck { .. } => {
                if is_warm(pod) && label(pod, labels::ATTEMPT).is_none() {
                    plan.adopt.push((worker.to_owned(), a.clone()));
                }
            }
        }
    }
}

/// 1: scheduled attempts whose Job failed before its worker claimed them, and those
/// still without a Job.
fn scheduled_attempts(
    picture: &Picture,
    k: &KubernetesSettings,
    created: &Created,
    plan: &mut Cleanup,
) {
    let grace = Duration::from_secs(k.image_pull_grace_secs);
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
        let Some(class) = k.resource_classes.get(&a.spec.class) else {
            let known: Vec<&str> = k.resource_classes.keys().map(String::as_str).collect();
            plan.ends.push(end(Failure {
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
            if !created.contains_key(&name) {
                plan.need_job.push(a.clone());
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
                plan.ends.push(end(failure));
            }
            JobFate::Complete => plan.ends.push(end(Failure {
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
                            plan.ends.push(end(Failure {
                                reason,
                                retry: false,
                            }));
                            plan.delete_jobs.insert(name.clone());
                        }
                        PodFate::Failed(f) => plan.ends.push(end(f)),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// 3: active Jobs no live attempt needs.
fn orphan_jobs(
    picture: &Picture,
    previously: &HashMap<String, Instant>,
    now: Instant,
    plan: &mut Cleanup,
) {
    let live_by_id: HashMap<Uuid, &Live> = picture.live.iter().map(|a| (a.spec.id, a)).collect();
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
            // The attempt ended (or went back to the queue): a pod that has started gets
            // time to finish on its own (its worker is recording the end, or will notice
            // its lost lease or stop request); one that has not is freed now.
            None => {
                let started = picture.pods_of_job(&name).any(|p| {
                    !matches!(
                        fate::pod_fate(p, None, None, Duration::MAX),
                        PodFate::Alive { running: false } | PodFate::Stuck { .. }
                    )
                });
                let since = previously.get(&name).copied().unwrap_or(now);
                plan.orphaned.insert(name.clone(), since);
                started && now.saturating_duration_since(since) < ORPHAN_GRACE
            }
            Some(a) if a.status == AttemptStatus::Scheduled => a.spec.job_name() == name,
            // Running: only in this Job's pod (the Job controller names pods `<job>-…`).
            Some(a) => a
                .worker_id
                .as_deref()
                .is_some_and(|w| w.starts_with(&format!("{name}-"))),
        };
        if !keep {
            plan.delete_jobs.insert(name);
        }
    }
}

/// 3: finished warm pods, and the pods of a Job deleted without them once unneeded.
fn orphan_pods(picture: &Picture, created: &Created, plan: &mut Cleanup) {
    let live_by_id: HashMap<Uuid, &Live> = picture.live.iter().map(|a| (a.spec.id, a)).collect();
    for pod in &picture.pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.name_any();
        if is_warm(pod) {
            if fate::pod_finished(pod) {
                plan.delete_pods.insert(name);
            }
            continue;
        }
        // A Job's pod whose Job is gone (deleted with its pods orphaned): no TTL and no
        // garbage collector will take it, so it goes once no live attempt runs in it or
        // waits for it.
        let Some(job) = job_of_pod(pod) else {
            continue;
        };
        if picture.job(job).is_some() || created.contains_key(job) {
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
            plan.delete_pods.insert(name);
        }
    }
}

/// 4: the orgs whose egress policies must exist: every live attempt's, and every org a
/// pod not yet ended is labelled with.
pub fn egress_orgs(picture: &Picture) -> BTreeSet<Uuid> {
    picture
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
        .collect()
}

/// What steps 5 and 6 make or remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Scheduled attempts that get a Job now, oldest first.
    pub jobs: Vec<Uuid>,
    /// Attempts that wait because a pod cap is reached.
    pub capped: usize,
    /// Warm pool changes, class by class.
    pub warm: Vec<WarmChange>,
    /// Pods in use once all of it is done.
    pub total: usize,
}

/// One change to the warm pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarmChange {
    /// An idle warm pod over its class's size.
    Delete(String),
    /// A new warm pod of this class.
    Create(String),
}

/// What the egress policies allow so far (step 4 has run).
pub trait EgressCover {
    /// Whether `org`'s pods may start.
    fn covers(&self, org: Uuid) -> bool;
    /// Whether the baseline policy every worker pod needs exists.
    fn baseline_ready(&self) -> bool;
}

/// The worker pods in use, as the caps count them.
#[derive(Debug, Default)]
struct InUse {
    /// Every active Job's pod, every warm pod not ended, what was created but not seen.
    total: usize,
    per_org: HashMap<Uuid, usize>,
    /// Unclaimed warm pods of each class that could take an attempt now (running).
    idle: HashMap<String, usize>,
    /// Unclaimed warm pods of each class: (running, name).
    unused: HashMap<String, Vec<(bool, String)>>,
}

impl InUse {
    /// Counts them. `deleted` are the Jobs step 3 deletes (they no longer count).
    fn count(picture: &Picture, created: &Created, deleted: &BTreeSet<String>) -> InUse {
        let mut n = InUse::default();
        let holding: HashMap<&str, &Live> = picture
            .live
            .iter()
            .filter(|a| a.status == AttemptStatus::Running)
            .filter_map(|a| Some((a.worker_id.as_deref()?, a)))
            .collect();
        for job in &picture.jobs {
            if fate::job_finished(job) || deleted.contains(&job.name_any()) {
                continue;
            }
            n.total += 1;
            if let Some(org) = label(job.as_ref(), labels::ORG).and_then(|o| o.parse().ok()) {
                *n.per_org.entry(org).or_default() += 1;
            }
        }
        for pod in picture.pods.iter().filter(|p| is_warm(p)) {
            if fate::pod_finished(pod) {
                continue;
            }
            n.total += 1;
            let name = pod.name_any();
            let org = label(pod.as_ref(), labels::ORG)
                .and_then(|o| o.parse::<Uuid>().ok())
                .or_else(|| holding.get(name.as_str()).map(|a| a.spec.org_id));
            if let Some(org) = org {
                *n.per_org.entry(org).or_default() += 1;
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
                *n.idle.entry(class.clone()).or_default() += 1;
            }
            n.unused.entry(class).or_default().push((running, name));
        }
        for (_, org) in created.values() {
            n.total += 1;
            if let Some(org) = org {
                *n.per_org.entry(*org).or_default() += 1;
            }
        }
        n
    }
}

/// Plans steps 5 and 6: Jobs for the scheduled attempts in `need_job` and the warm pool,
/// within the caps. `deleted` are the Jobs step 3 deletes (they no longer count).
pub fn capacity(
    picture: &Picture,
    k: &KubernetesSettings,
    created: &Created,
    need_job: &[Live],
    deleted: &BTreeSet<String>,
    egress: &dyn EgressCover,
    now: chrono::DateTime<chrono::Utc>,
) -> Capacity {
    let mut in_use = InUse::count(picture, created, deleted);
    let mut plan = Capacity::default();
    assign_jobs(&mut plan, &mut in_use, k, need_job, egress, now);
    size_warm_pool(&mut plan, &mut in_use, k, created, egress);
    plan.total = in_use.total;
    plan
}

/// 5: oldest first; a warm pod takes what it can within the claim timeout, the rest get
/// a Job each while the caps allow.
fn assign_jobs(
    plan: &mut Capacity,
    in_use: &mut InUse,
    k: &KubernetesSettings,
    need_job: &[Live],
    egress: &dyn EgressCover,
    now: chrono::DateTime<chrono::Utc>,
) {
    let mut need_job: Vec<&Live> = need_job.iter().collect();
    need_job.sort_by_key(|a| a.spec.scheduled_at);
    let warm_wait = chrono::Duration::milliseconds(k.warm_claim_timeout_ms as i64);
    let mut left_to_warm: HashMap<&str, usize> = HashMap::new();
    for a in need_job {
        let warm_free = in_use.idle.get(&a.spec.class).copied().unwrap_or(0);
        let taken = left_to_warm.entry(a.spec.class.as_str()).or_default();
        let fresh = a.spec.scheduled_at.is_none_or(|t| now - t < warm_wait);
        if fresh && *taken < warm_free {
            *taken += 1;
            continue;
        }
        let org_pods = in_use.per_org.get(&a.spec.org_id).copied().unwrap_or(0);
        if in_use.total >= k.max_pods || org_pods >= k.max_pods_per_org {
            plan.capped += 1;
            continue;
        }
        if !egress.covers(a.spec.org_id) || !k.resource_classes.contains_key(&a.spec.class) {
            continue;
        }
        plan.jobs.push(a.spec.id);
        in_use.total += 1;
        *in_use.per_org.entry(a.spec.org_id).or_default() += 1;
    }
}

/// 6: tops each class's warm pool up to its size; trims what is over (pending first).
fn size_warm_pool(
    plan: &mut Capacity,
    in_use: &mut InUse,
    k: &KubernetesSettings,
    created: &Created,
    egress: &dyn EgressCover,
) {
    let classes: BTreeSet<&String> = k
        .resource_classes
        .keys()
        .chain(in_use.unused.keys())
        .collect();
    for class_name in classes {
        let want = k
            .resource_classes
            .get(class_name)
            .map_or(0, |c| c.warm_pods);
        let have = in_use.unused.get(class_name).map_or(&[][..], Vec::as_slice);
        let pending_created = created
            .keys()
            .filter(|n| objects::is_warm_name_of(n, class_name))
            .count();
        let have_n = have.len() + pending_created;
        if have_n > want {
            let mut extra: Vec<&(bool, String)> = have.iter().collect();
            extra.sort_by_key(|(running, _)| *running);
            for (_, name) in extra.into_iter().take(have_n - want) {
                plan.warm.push(WarmChange::Delete(name.clone()));
            }
            continue;
        }
        if !k.resource_classes.contains_key(class_name) || !egress.baseline_ready() {
            continue;
        }
        for _ in have_n..want {
            if in_use.total >= k.max_pods {
                break;
            }
            plan.warm.push(WarmChange::Create(class_name.clone()));
            in_use.total += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Attempt and org ids by number, so a table reads as a story.
    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    const ORG: u128 = 100;
    const OTHER_ORG: u128 = 200;

    fn scheduled_at(minutes_ago: i64) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago))
    }

    fn spec(n: u128, org: u128, class: &str) -> AttemptSpec {
        AttemptSpec {
            id: id(n),
            org_id: id(org),
            // Whole seconds, so `job_name` is the same in every `live` and `job` call.
            scheduled_at: chrono::DateTime::from_timestamp(1_790_000_000 + n as i64, 0),
            class: class.into(),
        }
    }

    fn scheduled(n: u128) -> Live {
        Live {
            spec: spec(n, ORG, "small"),
            status: AttemptStatus::Scheduled,
            worker_id: None,
        }
    }

    fn running(n: u128, worker: &str) -> Live {
        Live {
            spec: spec(n, ORG, "small"),
            status: AttemptStatus::Running,
            worker_id: Some(worker.into()),
        }
    }

    fn job_name(n: u128) -> String {
        spec(n, ORG, "small").job_name()
    }

    #[test]
    fn a_job_pods_name_leads_to_its_job_and_only_for_its_own_attempt() {
        let job = job_name(1);
        let pod = format!("{job}-x7k2p");
        assert_eq!(job_of_worker(id(1), &pod), Some(job.as_str()));
        assert_eq!(job_of_worker(id(2), &pod), None, "another attempt's pod");
        assert_eq!(job_of_worker(id(1), "sy-warm-small-0a1b2c3d"), None);
        assert_eq!(job_of_worker(id(1), &format!("sy-{}-x7k2p", id(1))), None);
        assert_eq!(job_of_worker(id(1), "worker-7"), None);
    }

    /// The Job of attempt `n`, with `status`.
    fn job(n: u128, status: Value) -> Arc<Job> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": job_name(n), "labels": {
                    labels::ATTEMPT: id(n).to_string(),
                    labels::ORG: id(ORG).to_string(),
                    labels::ROLE: objects::ROLE_JOB,
                }},
                "spec": {"activeDeadlineSeconds": 3600, "template": {}},
                "status": status,
            }))
            .expect("job"),
        )
    }

    fn condition(type_: &str, reason: &str) -> Value {
        json!({"conditions": [{"type": type_, "status": "True", "reason": reason}]})
    }

    /// A pod named `name` with `labels` and `status`.
    fn pod(name: &str, labels: Value, status: Value) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels,
                    "creationTimestamp": "2020-01-01T00:00:00Z"},
                "status": status,
            }))
            .expect("pod"),
        )
    }

    /// The pod of attempt `n`'s Job.
    fn job_pod(n: u128, status: Value) -> Arc<Pod> {
        pod(
            &format!("{}-abcde", job_name(n)),
            json!({labels::JOB_NAME: job_name(n), labels::ATTEMPT: id(n).to_string(),
                   labels::ROLE: objects::ROLE_JOB}),
            status,
        )
    }

    fn warm(name: &str, class: &str, status: Value) -> Arc<Pod> {
        pod(
            name,
            json!({labels::ROLE: objects::ROLE_WARM, labels::CLASS: class}),
            status,
        )
    }

    fn phase(p: &str) -> Value {
        json!({"phase": p})
    }

    fn settings() -> KubernetesSettings {
        KubernetesSettings {
            max_pods: 10,
            max_pods_per_org: 5,
            warm_claim_timeout_ms: 60_000,
            ..KubernetesSettings::default()
        }
    }

    /// What a cleanup plan says, in ids and names, sorted, for comparing with a table.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Seen {
        /// (attempt, retry)
        ends: Vec<(Uuid, bool)>,
        confirm_gone: Vec<Uuid>,
        adopt: Vec<String>,
        delete_jobs: Vec<String>,
        delete_pods: Vec<String>,
        need_job: Vec<Uuid>,
    }

    /// A plan that only ends attempt `n`, retried or not.
    fn ending(n: u128, retry: bool) -> Seen {
        Seen {
            ends: vec![(id(n), retry)],
            ..Seen::default()
        }
    }

    fn seen(plan: &Cleanup) -> Seen {
        Seen {
            ends: plan
                .ends
                .iter()
                .map(|e| (e.attempt, e.failure.retry))
                .collect(),
            confirm_gone: plan.confirm_gone.iter().map(|a| a.spec.id).collect(),
            adopt: plan.adopt.iter().map(|(p, _)| p.clone()).collect(),
            delete_jobs: plan.delete_jobs.iter().cloned().collect(),
            delete_pods: plan.delete_pods.iter().cloned().collect(),
            need_job: plan.need_job.iter().map(|a| a.spec.id).collect(),
        }
    }

    #[derive(Default)]
    struct Case {
        name: &'static str,
        jobs: Vec<Arc<Job>>,
        pods: Vec<Arc<Pod>>,
        live: Vec<Live>,
        created: Vec<String>,
        expect: Seen,
    }

    #[test]
    fn a_pass_ends_adopts_and_cleans_up_from_what_it_read() {
        let pod_of_1 = format!("{}-abcde", job_name(1));
        let cases = vec![
            Case {
                name: "a scheduled attempt without a Job needs one",
                live: vec![scheduled(1)],
                expect: Seen {
                    need_job: vec![id(1)],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "not while the Job it was given is on its way",
                live: vec![scheduled(1)],
                created: vec![job_name(1)],
                ..Case::default()
            },
            Case {
                name: "an unknown resource class fails the attempt for good",
                live: vec![Live {
                    spec: spec(1, ORG, "huge"),
                    ..scheduled(1)
                }],
                expect: ending(1, false),
                ..Case::default()
            },
            Case {
                name: "a scheduled attempt whose Job ran out of time fails",
                jobs: vec![job(1, condition("Failed", "DeadlineExceeded"))],
                live: vec![scheduled(1)],
                expect: ending(1, false),
                ..Case::default()
            },
            Case {
                name: "a scheduled attempt whose Job failed otherwise is retried",
                jobs: vec![job(1, condition("Failed", "BackoffLimitExceeded"))],
                live: vec![scheduled(1)],
                expect: ending(1, true),
                ..Case::default()
            },
            Case {
                name: "a Job that completed without claiming is retried",
                jobs: vec![job(1, condition("Complete", ""))],
                pods: vec![job_pod(1, phase("Succeeded"))],
                live: vec![scheduled(1)],
                expect: ending(1, true),
                ..Case::default()
            },
            Case {
                name: "an image that never pulls fails the attempt and frees its Job",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![job_pod(
                    1,
                    json!({"phase": "Pending", "containerStatuses": [{"name": "worker",
                        "image": "w:9", "imageID": "", "ready": false, "restartCount": 0,
                        "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}),
                )],
                live: vec![scheduled(1)],
                expect: Seen {
                    ends: vec![(id(1), false)],
                    delete_jobs: vec![job_name(1)],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "a scheduled attempt with a healthy Job waits",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![job_pod(1, phase("Pending"))],
                live: vec![scheduled(1)],
                ..Case::default()
            },
            Case {
                name: "a running attempt whose pod is gone is looked up",
                live: vec![running(1, &pod_of_1)],
                expect: Seen {
                    confirm_gone: vec![id(1)],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "a worker not of this backend is none of its business",
                live: vec![running(1, "local-worker-7")],
                ..Case::default()
            },
            Case {
                name: "a pod that exited before recording the end is retried",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![job_pod(1, phase("Succeeded"))],
                live: vec![running(1, &pod_of_1)],
                expect: ending(1, true),
                ..Case::default()
            },
            Case {
                name: "an OOM-killed pod fails its attempt for good",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![job_pod(
                    1,
                    json!({"phase": "Failed", "containerStatuses": [{"name": "worker",
                        "image": "w:1", "imageID": "", "ready": false, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
                )],
                live: vec![running(1, &pod_of_1)],
                expect: ending(1, false),
                ..Case::default()
            },
            Case {
                name: "a running attempt's Job past its deadline fails it",
                jobs: vec![job(1, condition("Failed", "DeadlineExceeded"))],
                pods: vec![job_pod(1, phase("Running"))],
                live: vec![running(1, &pod_of_1)],
                expect: ending(1, false),
                ..Case::default()
            },
            Case {
                name: "a warm pod that claimed an attempt is adopted",
                pods: vec![warm("sy-warm-small-0a1b2c3d", "small", phase("Running"))],
                live: vec![running(1, "sy-warm-small-0a1b2c3d")],
                expect: Seen {
                    adopt: vec!["sy-warm-small-0a1b2c3d".into()],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "a finished warm pod is deleted",
                pods: vec![warm("sy-warm-small-0a1b2c3d", "small", phase("Succeeded"))],
                expect: Seen {
                    delete_pods: vec!["sy-warm-small-0a1b2c3d".into()],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "the Job of an ended attempt whose pod never started is deleted",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![job_pod(1, phase("Pending"))],
                expect: Seen {
                    delete_jobs: vec![job_name(1)],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "the Job of an ended attempt whose pod runs gets time to finish",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![job_pod(1, phase("Running"))],
                ..Case::default()
            },
            Case {
                name: "a Job of an earlier dispatch of a scheduled attempt is deleted",
                jobs: vec![job(1, json!({"active": 1}))],
                live: vec![Live {
                    spec: AttemptSpec {
                        scheduled_at: scheduled_at(1),
                        ..spec(1, ORG, "small")
                    },
                    ..scheduled(1)
                }],
                expect: Seen {
                    delete_jobs: vec![job_name(1)],
                    need_job: vec![id(1)],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "a Job whose attempt runs in another pod is deleted",
                jobs: vec![job(1, json!({"active": 1}))],
                pods: vec![warm("sy-warm-small-0a1b2c3d", "small", phase("Running"))],
                live: vec![running(1, "sy-warm-small-0a1b2c3d")],
                expect: Seen {
                    adopt: vec!["sy-warm-small-0a1b2c3d".into()],
                    delete_jobs: vec![job_name(1)],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "a pod left by a deleted Job goes once nobody needs it",
                pods: vec![job_pod(1, phase("Running"))],
                expect: Seen {
                    delete_pods: vec![pod_of_1.clone()],
                    ..Seen::default()
                },
                ..Case::default()
            },
            Case {
                name: "but stays while its attempt runs in it",
                pods: vec![job_pod(1, phase("Running"))],
                live: vec![running(1, &pod_of_1)],
                ..Case::default()
            },
        ];
        let k = settings();
        for c in cases {
            let created: Created = c
                .created
                .into_iter()
                .map(|n| (n, (Instant::now(), None)))
                .collect();
            let picture = Picture::new(c.jobs, c.pods, c.live);
            let plan = cleanup(&picture, &k, &created, &HashMap::new(), Instant::now());
            assert_eq!(seen(&plan), c.expect, "{}", c.name);
        }
    }

    #[test]
    fn an_orphaned_jobs_running_pod_gets_a_grace_period_then_goes() {
        let k = settings();
        let picture = Picture::new(
            vec![job(1, json!({"active": 1}))],
            vec![job_pod(1, phase("Running"))],
            vec![],
        );
        let start = Instant::now();
        let first = cleanup(&picture, &k, &Created::new(), &HashMap::new(), start);
        assert!(first.delete_jobs.is_empty());
        assert_eq!(first.orphaned.get(&job_name(1)), Some(&start));
        let within = cleanup(
            &picture,
            &k,
            &Created::new(),
            &first.orphaned,
            start + ORPHAN_GRACE - Duration::from_secs(1),
        );
        assert!(within.delete_jobs.is_empty());
        assert_eq!(
            within.orphaned, first.orphaned,
            "the first sighting is kept"
        );
        let after = cleanup(
            &picture,
            &k,
            &Created::new(),
            &first.orphaned,
            start + ORPHAN_GRACE,
        );
        assert_eq!(
            after.delete_jobs.into_iter().collect::<Vec<_>>(),
            [job_name(1)]
        );
    }

    /// The egress policies, as a capacity case sets them.
    struct Egress {
        orgs: Vec<Uuid>,
        baseline: bool,
    }

    impl EgressCover for Egress {
        fn covers(&self, org: Uuid) -> bool {
            self.orgs.contains(&org)
        }
        fn baseline_ready(&self) -> bool {
            self.baseline
        }
    }

    fn open() -> Egress {
        Egress {
            orgs: vec![id(ORG), id(OTHER_ORG)],
            baseline: true,
        }
    }

    fn waiting(n: u128, org: u128, minutes_ago: i64) -> Live {
        Live {
            spec: AttemptSpec {
                scheduled_at: scheduled_at(minutes_ago),
                ..spec(n, org, "small")
            },
            ..scheduled(n)
        }
    }

    struct CapacityCase {
        name: &'static str,
        k: KubernetesSettings,
        jobs: Vec<Arc<Job>>,
        pods: Vec<Arc<Pod>>,
        need: Vec<Live>,
        egress: Egress,
        /// (Jobs created, capped, warm changes)
        expect: (Vec<Uuid>, usize, Vec<WarmChange>),
    }

    #[test]
    fn capacity_fills_what_is_needed_within_the_caps() {
        let with = |f: fn(&mut KubernetesSettings)| {
            let mut k = settings();
            f(&mut k);
            k
        };
        let warm_small = |warm_pods| {
            let mut k = settings();
            if let Some(c) = k.resource_classes.get_mut("small") {
                c.warm_pods = warm_pods;
            }
            k
        };
        let running_jobs = |n: u128| {
            (0..n)
                .map(|i| job(1000 + i, json!({"active": 1})))
                .collect()
        };
        let cases = vec![
            CapacityCase {
                name: "each waiting attempt gets a Job, oldest first",
                k: settings(),
                jobs: vec![],
                pods: vec![],
                need: vec![waiting(2, ORG, 1), waiting(1, ORG, 2)],
                egress: open(),
                expect: (vec![id(1), id(2)], 0, vec![]),
            },
            CapacityCase {
                name: "the pod cap holds",
                k: with(|k| k.max_pods = 3),
                jobs: running_jobs(2),
                pods: vec![],
                need: vec![waiting(1, OTHER_ORG, 2), waiting(2, OTHER_ORG, 1)],
                egress: open(),
                expect: (vec![id(1)], 1, vec![]),
            },
            CapacityCase {
                name: "so does the per-org cap, for that org only",
                k: with(|k| k.max_pods_per_org = 2),
                jobs: running_jobs(2),
                pods: vec![],
                need: vec![waiting(1, ORG, 2), waiting(2, OTHER_ORG, 1)],
                egress: open(),
                expect: (vec![id(2)], 1, vec![]),
            },
            CapacityCase {
                name: "finished Jobs do not count",
                k: with(|k| k.max_pods = 1),
                jobs: vec![job(1000, condition("Complete", ""))],
                pods: vec![],
                need: vec![waiting(1, ORG, 1)],
                egress: open(),
                expect: (vec![id(1)], 0, vec![]),
            },
            CapacityCase {
                name: "an org without its egress policy waits",
                k: settings(),
                jobs: vec![],
                pods: vec![],
                need: vec![waiting(1, ORG, 1), waiting(2, OTHER_ORG, 1)],
                egress: Egress {
                    orgs: vec![id(OTHER_ORG)],
                    baseline: true,
                },
                expect: (vec![id(2)], 0, vec![]),
            },
            CapacityCase {
                name: "an idle warm pod takes a fresh attempt instead of a Job",
                k: warm_small(1),
                jobs: vec![],
                pods: vec![warm("sy-warm-small-0a1b2c3d", "small", phase("Running"))],
                need: vec![waiting(1, ORG, 0), waiting(2, ORG, 0)],
                egress: open(),
                expect: (vec![id(2)], 0, vec![]),
            },
            CapacityCase {
                name: "an attempt that waited past the claim timeout gets a Job anyway",
                k: warm_small(1),
                jobs: vec![],
                pods: vec![warm("sy-warm-small-0a1b2c3d", "small", phase("Running"))],
                need: vec![waiting(1, ORG, 5)],
                egress: open(),
                expect: (vec![id(1)], 0, vec![]),
            },
            CapacityCase {
                name: "a pending warm pod takes nothing yet",
                k: warm_small(1),
                jobs: vec![],
                pods: vec![warm("sy-warm-small-0a1b2c3d", "small", phase("Pending"))],
                need: vec![waiting(1, ORG, 0)],
                egress: open(),
                expect: (vec![id(1)], 0, vec![]),
            },
            CapacityCase {
                name: "the warm pool is topped up to its size",
                k: warm_small(2),
                jobs: vec![],
                pods: vec![],
                need: vec![],
                egress: open(),
                expect: (
                    vec![],
                    0,
                    vec![
                        WarmChange::Create("small".into()),
                        WarmChange::Create("small".into()),
                    ],
                ),
            },
            CapacityCase {
                name: "but not before the baseline egress policy exists",
                k: warm_small(2),
                jobs: vec![],
                pods: vec![],
                need: vec![],
                egress: Egress {
                    orgs: vec![],
                    baseline: false,
                },
                expect: (vec![], 0, vec![]),
            },
            CapacityCase {
                name: "nor past the pod cap",
                k: {
                    let mut k = warm_small(2);
                    k.max_pods = 1;
                    k
                },
                jobs: vec![],
                pods: vec![],
                need: vec![],
                egress: open(),
                expect: (vec![], 0, vec![WarmChange::Create("small".into())]),
            },
            CapacityCase {
                name: "an oversized pool loses its pending pods first",
                k: warm_small(1),
                jobs: vec![],
                pods: vec![
                    warm("sy-warm-small-00000001", "small", phase("Running")),
                    warm("sy-warm-small-00000002", "small", phase("Pending")),
                ],
                need: vec![],
                egress: open(),
                expect: (
                    vec![],
                    0,
                    vec![WarmChange::Delete("sy-warm-small-00000002".into())],
                ),
            },
            CapacityCase {
                name: "warm pods of a class no longer configured all go",
                k: settings(),
                jobs: vec![],
                pods: vec![warm("sy-warm-gone-00000001", "gone", phase("Running"))],
                need: vec![],
                egress: open(),
                expect: (
                    vec![],
                    0,
                    vec![WarmChange::Delete("sy-warm-gone-00000001".into())],
                ),
            },
        ];
        for c in cases {
            let picture = Picture::new(c.jobs, c.pods, vec![]);
            let plan = capacity(
                &picture,
                &c.k,
                &Created::new(),
                &c.need,
                &BTreeSet::new(),
                &c.egress,
                chrono::Utc::now(),
            );
            assert_eq!((plan.jobs, plan.capped, plan.warm), c.expect, "{}", c.name);
        }
    }

    #[test]
    fn what_was_created_but_not_yet_seen_counts_against_the_caps() {
        let mut k = settings();
        k.max_pods = 2;
        let mut created = Created::new();
        created.insert(job_name(9), (Instant::now(), Some(id(ORG))));
        created.insert("sy-warm-small-0000000a".into(), (Instant::now(), None));
        let picture = Picture::new(vec![], vec![], vec![]);
        let plan = capacity(
            &picture,
            &k,
            &created,
            &[waiting(1, ORG, 1)],
            &BTreeSet::new(),
            &open(),
            chrono::Utc::now(),
        );
        assert_eq!((plan.jobs, plan.capped, plan.total), (vec![], 1, 2));
    }

    #[test]
    fn egress_covers_live_attempts_and_labelled_pods_still_running() {
        let labelled = |name: &str, org: u128, status: Value| {
            pod(name, json!({labels::ORG: id(org).to_string()}), status)
        };
        let picture = Picture::new(
            vec![],
            vec![
                labelled("a", OTHER_ORG, phase("Running")),
                labelled("b", 300, phase("Succeeded")),
            ],
            vec![scheduled(1)],
        );
        assert_eq!(
            egress_orgs(&picture).into_iter().collect::<Vec<_>>(),
            [id(ORG), id(OTHER_ORG)]
        );
    }
}
