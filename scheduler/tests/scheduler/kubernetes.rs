//! The Kubernetes capacity backend against the fake API server (`fake_kube`), reached
//! by the production kube client through a kubeconfig, with real Postgres and Redis.
//! Where a pod must really run, the test's kubelet (`kubelet`) starts the real
//! `switchyard-worker`; elsewhere the test plays the worker's claim and the kubelet's
//! status reports itself.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use shared::config::{CapacityBackend, EgressPeer, Settings, TolerationSetting};
use shared::db::models::{ExecutionProcess, TaskAttempt};
use shared::db::schema::{execution_processes, task_attempts};
use shared::domain::{AttemptStatus, ProcessStatus};
use shared::shutdown::CancellationToken;
use shared::testing::fixtures;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::fake_kube::{FakeKube, Kind, Logged, write_objects};
use crate::kubelet::Kubelet;
use crate::{Ctx, eventually};

mod canary;

/// The namespace of the fake cluster (from the kubeconfig's context).
const NS: &str = "switchyard-test";
/// The worker image the tests' classes name.
const IMAGE: &str = "registry.example/switchyard/worker:test";
/// `worker.limits.wall_clock_secs` in these tests.
const WALL_CLOCK_SECS: u64 = 60;
/// `deadline_slack_secs` in these tests.
const SLACK_SECS: i64 = 30;

/// A replica's Lease identity (also its token at the fake API server).
fn identity(settings: &Settings) -> String {
    settings
        .scheduler
        .kubernetes
        .leader
        .identity
        .clone()
        .expect("identity")
}

/// One test's cluster: its services, the fake API server, and the schedulers running.
struct Cluster {
    ctx: Ctx,
    fake: Arc<FakeKube>,
    schedulers: Vec<Scheduler>,
    /// Replicas on runtimes of their own, by token: sending (or dropping) crashes one.
    crashable: Vec<(String, std::sync::mpsc::Sender<()>)>,
}

struct Scheduler {
    token: String,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Cluster {
    async fn new() -> Cluster {
        // What the scheduler did is captured and shown with a failure (`RUST_LOG`
        // overrides the default).
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("scheduler=debug"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
        let ctx = Ctx::new(None).await;
        let fake = Arc::new(FakeKube::start().await);
        // The scheduler gets exactly the Role the manifests and the chart give it.
        fake.authorize(NS, scheduler::capacity::kubernetes::RBAC_RULES);
        Cluster {
            ctx,
            fake,
            schedulers: Vec::new(),
            crashable: Vec::new(),
        }
    }

    /// The scheduler settings of these tests: quick timings, the fake as the cluster,
    /// `token` as this replica's credentials and Lease identity.
    fn settings(&self, token: &str) -> Settings {
        let mut s = self.ctx.env.settings.clone();
        s.scheduler.backend = CapacityBackend::Kubernetes;
        s.scheduler.tick_ms = 50;
        s.worker.limits.wall_clock_secs = WALL_CLOCK_SECS;
        let k = &mut s.scheduler.kubernetes;
        k.kubeconfig = Some(self.fake.kubeconfig(NS, token));
        k.namespace = None;
        k.worker_image = IMAGE.into();
        k.default_resource_class = "small".into();
        k.deadline_slack_secs = SLACK_SECS;
        k.resync_ms = 200;
        k.retry_min_ms = 50;
        k.retry_max_ms = 1_000;
        k.image_pull_grace_secs = 0;
        k.warm_claim_timeout_ms = 3_000;
        k.leader.identity = Some(token.into());
        k.leader.lease_duration_secs = 2;
        k.leader.renew_every_ms = 200;
        k.egress.allow = vec![EgressPeer {
            to: Some("203.0.113.10".into()),
            pod_labels: None,
            namespace_labels: None,
            ports: vec![443],
        }];
        k.egress.platform = vec![EgressPeer {
            to: Some("127.0.0.1".into()),
            pod_labels: None,
            namespace_labels: None,
            ports: vec![5432, 6379],
        }];
        s
    }

    /// Starts a scheduler replica with `settings`.
    fn start(&mut self, settings: Settings) {
        let token = identity(&settings);
        let stop = CancellationToken::new();
        let task = tokio::spawn(scheduler::run(
            settings,
            scheduler::WorkerPool::default(),
            stop.clone(),
        ));
        self.schedulers.push(Scheduler { token, stop, task });
    }

    /// Starts a replica on a runtime of its own, so that [`Cluster::crash`] can end every
    /// task of it at once, with no shutdown code run: a killed process, as the Lease and
    /// the cluster see it.
    fn start_crashable(&mut self, settings: Settings) {
        let token = identity(&settings);
        let (crash, crashed) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("replica runtime");
            runtime.spawn(scheduler::run(
                settings,
                scheduler::WorkerPool::default(),
                CancellationToken::new(),
            ));
            let _ = crashed.recv();
            runtime.shutdown_background();
        });
        self.crashable.push((token, crash));
    }

    /// Kills the replica `token` started by [`Cluster::start_crashable`].
    fn crash(&mut self, token: &str) {
        let i = self
            .crashable
            .iter()
            .position(|(t, _)| t == token)
            .expect("crashable replica");
        let (_, crash) = self.crashable.remove(i);
        let _ = crash.send(());
    }

    /// Stops the replica `token` the way SIGTERM does, and waits for it.
    async fn stop(&mut self, token: &str) {
        let i = self
            .schedulers
            .iter()
            .position(|s| s.token == token)
            .expect("scheduler");
        let s = self.schedulers.remove(i);
        s.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), s.task)
            .await
            .expect("the scheduler stops within 10 s")
            .expect("join")
            .expect("clean exit");
    }

    /// Who holds the Lease, and how often it changed hands.
    fn lease(&self) -> (Option<String>, i64) {
        let lease = self.fake.get(Kind::Lease, "switchyard-scheduler");
        (
            lease
                .as_ref()
                .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned)),
            lease
                .as_ref()
                .and_then(|l| l["spec"]["leaseTransitions"].as_i64())
                .unwrap_or(0),
        )
    }

    async fn wait_leader(&self, token: &str, secs: u64) {
        eventually(&format!("{token} leads"), secs, || async {
            (self.lease().0.as_deref() == Some(token)).then_some(())
        })
        .await;
    }

    /// An org with one project on `repo` and `n` queued attempts running `script`.
    async fn queued(&self, slug: &str, repo: &str, script: &str, n: usize) -> (Uuid, Vec<Uuid>) {
        let mut conn = self.ctx.db.system().await.expect("conn");
        let org = fixtures::org(&mut conn, slug, 10).await;
        let project = fixtures::project(&mut conn, org, repo, None).await;
        let mut attempts = Vec::new();
        for i in 0..n {
            let task = fixtures::task(&mut conn, org, project, i as i64 + 1).await;
            attempts.push(
                fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, script)
                    .await
                    .0,
            );
        }
        (org, attempts)
    }

    async fn attempt(&self, id: Uuid) -> TaskAttempt {
        let mut conn = self.ctx.db.system().await.expect("conn");
        task_attempts::table
            .find(id)
            .select(TaskAttempt::as_select())
            .get_result(&mut conn)
            .await
            .expect("attempt row")
    }

    async fn processes(&self, attempt: Uuid) -> Vec<ExecutionProcess> {
        let mut conn = self.ctx.db.system().await.expect("conn");
        execution_processes::table
            .filter(execution_processes::attempt_id.eq(attempt))
            .order(execution_processes::created_at.asc())
            .select(ExecutionProcess::as_select())
            .load(&mut conn)
            .await
            .expect("processes")
    }

    /// Waits until `attempt` is in `status`.
    async fn wait_status(&self, attempt: Uuid, status: AttemptStatus, secs: u64) -> TaskAttempt {
        eventually(&format!("attempt {attempt} {status}"), secs, || async {
            let a = self.attempt(attempt).await;
            (a.status == status).then_some(a)
        })
        .await
    }

    /// The Job of `attempt` (the newest, when it had several), once it exists.
    async fn job_of(&self, attempt: Uuid) -> Value {
        eventually(&format!("a Job for {attempt}"), 15, || async {
            self.jobs_of(attempt).pop()
        })
        .await
    }

    fn jobs_of(&self, attempt: Uuid) -> Vec<Value> {
        let mut jobs: Vec<Value> = self
            .fake
            .objects(Kind::Job)
            .into_iter()
            .filter(|j| j["metadata"]["labels"]["switchyard.dev/attempt"] == attempt.to_string())
            .collect();
        jobs.sort_by_key(|j| {
            j["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
        });
        jobs
    }

    /// The pod the Job controller made for `job`.
    async fn pod_of(&self, job: &Value) -> String {
        let name = name_of(job);
        eventually(&format!("a pod of {name}"), 10, || async {
            self.fake
                .pods_of(&name)
                .into_iter()
                .next()
                .map(|p| name_of(&p))
        })
        .await
    }

    /// Plays the worker recording `attempt`'s successful end.
    async fn record_success(&self, attempt: Uuid) {
        let mut conn = self.ctx.db.system().await.expect("conn");
        shared::attempts::force_status(&mut conn, attempt, AttemptStatus::Succeeded)
            .await
            .expect("finish");
        diesel::update(task_attempts::table.find(attempt))
            .set(task_attempts::finished_at.eq(chrono::Utc::now()))
            .execute(&mut conn)
            .await
            .expect("finish time");
    }

    /// Plays a worker in `pod` claiming `attempt`: running, leased to the pod, its
    /// process running.
    async fn claim_as(&self, attempt: Uuid, pod: &str) {
        let mut conn = self.ctx.db.system().await.expect("conn");
        let claimed = shared::attempts::claim(&mut conn, attempt, pod, Duration::from_secs(120))
            .await
            .expect("claim");
        assert!(claimed.is_some(), "the attempt was scheduled");
        diesel::update(
            execution_processes::table.filter(execution_processes::attempt_id.eq(attempt)),
        )
        .set((
            execution_processes::status.eq(ProcessStatus::Running),
            execution_processes::started_at.eq(chrono::Utc::now()),
        ))
        .execute(&mut conn)
        .await
        .expect("process running");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in &self.schedulers {
            s.stop.cancel();
        }
    }
}

fn name_of(obj: &Value) -> String {
    obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A repository at `root/origin` on `main` with one commit.
fn origin_repo(root: &Path) -> PathBuf {
    let dir = root.join("origin");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "hello\n").expect("write");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "initial"]);
    dir
}

/// What every worker pod must hold to (docs/DEPLOY.md, "Worker pods"): a user namespace
/// of its own; the worker root inside it with only the sandbox's capabilities, an
/// unmasked /proc and a read-only root; emptyDir workspace and /tmp as its only volumes
/// and mounts (no host path, no Secret file, no token); secrets only from the Secret
/// named in settings, never in a plain value, an argument or the ConfigMap; its one
/// attempt as the configured sandbox uid.
fn assert_sandbox_pod(pod: &Value, settings: &Settings) {
    let name = name_of(pod);
    let spec = &pod["spec"];
    assert_eq!(spec["hostUsers"], false, "{name}: not in a user namespace");
    assert_eq!(spec["automountServiceAccountToken"], false, "{name}");
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(
            spec[host].is_null() || spec[host] == false,
            "{name}: {host}"
        );
    }
    let psc = &spec["securityContext"];
    assert_eq!(psc["runAsUser"], 0, "{name}: tini and the worker are root");
    assert_eq!(psc["runAsNonRoot"], false, "{name}");
    assert!(
        psc["fsGroup"].is_null(),
        "{name}: no group shares the volumes"
    );
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{name}");

    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{name}: the worker alone");
    assert!(spec["initContainers"].is_null(), "{name}");
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsUser"], 0, "{name}");
    assert_eq!(sc["privileged"], false, "{name}");
    assert_eq!(
        sc["allowPrivilegeEscalation"], true,
        "{name}: Kubernetes requires it beside SYS_ADMIN"
    );
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
    assert_eq!(sc["procMount"], "Unmasked", "{name}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
    assert_eq!(sc["appArmorProfile"]["type"], "Unconfined", "{name}");
    assert_eq!(
        sc["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "{name}"
    );
    let added: Vec<&str> = sc["capabilities"]["add"]
        .as_array()
        .expect("added capabilities")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        added,
        [
            "SETUID",
            "SETGID",
            "CHOWN",
            "FOWNER",
            "DAC_OVERRIDE",
            "KILL",
            "SYS_ADMIN",
            "NET_ADMIN"
        ],
        "{name}: exactly the sandbox's capabilities"
    );
    assert_eq!(
        added,
        scheduler::capacity::kubernetes::objects::SANDBOX_CAPABILITIES,
        "{name}"
    );

    // Volumes: the two emptyDirs, mounted where the worker writes.
    let volumes: Vec<(&str, &Value)> = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or_default(), v))
        .collect();
    assert_eq!(
        volumes.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["workspace", "tmp"],
        "{name}"
    );
    for (volume, v) in &volumes {
        let sources: Vec<&String> = v
            .as_object()
            .expect("volume")
            .keys()
            .filter(|k| *k != "name")
            .collect();
        assert_eq!(sources, ["emptyDir"], "{name}: volume {volume}");
    }
    let mounts: Vec<(&str, &str)> = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or_default(),
                m["mountPath"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [("workspace", "/workspace"), ("tmp", "/tmp")],
        "{name}"
    );

    // Secrets: from the Secret of settings only.
    let k = &settings.scheduler.kubernetes;
    let env_from = c["envFrom"].as_array().expect("envFrom");
    assert_eq!(
        env_from[0]["configMapRef"]["name"],
        k.worker_config_map.clone().expect("config map"),
        "{name}"
    );
    assert_eq!(
        env_from[1]["secretRef"]["name"],
        k.worker_secret.clone().expect("secret"),
        "{name}"
    );
    let env = c["env"].as_array().expect("env");
    let value = |key: &str| {
        env.iter()
            .find(|e| e["name"] == key)
            .and_then(|e| e["value"].as_str())
    };
    let secrets = [
        settings.database.url.as_str(),
        settings.redis.url.as_str(),
        "secret",
        "password",
        "PRIVATE KEY",
    ];
    for e in env {
        let (key, v) = (
            e["name"].as_str().unwrap_or_default(),
            e["value"].to_string(),
        );
        assert!(
            !key.contains("SECRET")
                && !key.contains("PASSWORD")
                && !key.contains("PRIVATE_KEY")
                && !key.ends_with("__URL")
                && !key.contains("__KEYS__"),
            "{name}: {key} is set in the pod spec"
        );
        for secret in secrets {
            assert!(!v.contains(secret), "{name}: {key} carries a secret");
        }
    }
    for arg in c["args"].as_array().into_iter().flatten() {
        let arg = arg.as_str().unwrap_or_default();
        assert!(
            arg.starts_with("--") || uuid::Uuid::parse_str(arg).is_ok(),
            "{name}: argument {arg}"
        );
    }

    // The attempt's uid: mapped by the pod's user namespace, one attempt per pod.
    assert_eq!(
        value("SWITCHYARD__WORKER__SANDBOX__UID_BASE"),
        Some(k.sandbox.uid.to_string().as_str()),
        "{name}"
    );
    assert!(k.sandbox.uid > 0 && k.sandbox.uid < 65_534);
    assert_eq!(
        value("SWITCHYARD__WORKER__SANDBOX__UID_COUNT"),
        Some("1"),
        "{name}"
    );
    assert_eq!(
        value("SWITCHYARD__WORKER__SANDBOX__ENABLED"),
        Some("true"),
        "{name}"
    );
    assert_eq!(
        value("SWITCHYARD__WORKER__SANDBOX__NAMESPACES"),
        Some("true"),
        "{name}"
    );
}

fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["labels"][key].as_str()
}

/// Successful creates of `kind` by `token`.
fn creates_by(log: &[Logged], kind: Kind, token: &str) -> usize {
    log.iter()
        .filter(|l| {
            l.method == "POST"
                && l.status == 201
                && l.path.ends_with(&format!("/{}", kind.plural()))
                && l.token.as_deref() == Some(token)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_runs_to_success_in_a_job_of_its_own() {
    let mut c = Cluster::new().await;
    let settings = c.settings("sched-a");
    let _kubelet = Kubelet::start(
        c.fake.clone(),
        &settings,
        &c.ctx.env.dir.join("kubelet"),
        |_| true,
    );
    c.start(settings);
    let repo = origin_repo(&c.ctx.env.dir);
    let (org, attempts) = c
        .queued(
            "acme",
            repo.to_str().expect("path"),
            "echo hello > hello.txt",
            1,
        )
        .await;
    let attempt = attempts[0];

    let done = c.wait_status(attempt, AttemptStatus::Succeeded, 60).await;
    let job = c.job_of(attempt).await;
    let job_name = name_of(&job);
    let pods = c.fake.pods_of(&job_name);
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(
        done.worker_id.as_deref(),
        Some(name_of(pod).as_str()),
        "the Job's own pod ran it"
    );

    // The Job: one attempt, no retries by Kubernetes, bounded in time, cleaned up.
    assert_eq!(
        label(&job, "switchyard.dev/org"),
        Some(org.to_string().as_str())
    );
    assert_eq!(
        label(&job, "switchyard.dev/attempt"),
        Some(attempt.to_string().as_str())
    );
    assert_eq!(label(&job, "switchyard.dev/role"), Some("job"));
    assert_eq!(label(&job, "switchyard.dev/resource-class"), Some("small"));
    assert_eq!(label(&job, "app.kubernetes.io/name"), Some("switchyard"));
    assert_eq!(label(&job, "app.kubernetes.io/component"), Some("worker"));
    assert_eq!(
        label(&job, "app.kubernetes.io/managed-by"),
        Some("switchyard-scheduler")
    );
    assert_eq!(
        label(&job, "app.kubernetes.io/instance"),
        Some("switchyard")
    );
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 3_600);
    assert_eq!(
        job["spec"]["activeDeadlineSeconds"],
        WALL_CLOCK_SECS as i64 + SLACK_SECS
    );
    assert_eq!(
        job["metadata"]["namespace"], NS,
        "the kubeconfig's namespace"
    );

    // Its pod: the worker in one-shot mode, shaped for the sandbox, sized by the class.
    let spec = &pod["spec"];
    let container = &spec["containers"][0];
    assert_eq!(
        container["args"],
        serde_json::json!(["--attempt", attempt.to_string()])
    );
    assert_eq!(container["image"], IMAGE);
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["serviceAccountName"], "switchyard-worker");
    assert_sandbox_pod(pod, &c.ctx.env.settings);
    assert_eq!(container["resources"]["limits"]["memory"], "2Gi");
    assert_eq!(container["resources"]["requests"]["cpu"], "500m");
    assert_eq!(container["resources"]["limits"]["ephemeral-storage"], "4Gi");

    // The one-shot worker took its entry out of the queue.
    let members = shared::queue::members(&mut c.ctx.redis.clone(), &c.ctx.keys)
        .await
        .expect("members");
    assert!(!members.contains(&attempt), "queue entry left behind");

    // Egress: a baseline for every worker and the org's own policy.
    let policies = c.fake.objects(Kind::NetworkPolicy);
    let names: Vec<String> = policies.iter().map(name_of).collect();
    assert!(
        names.contains(&"switchyard-egress-workers".to_owned()),
        "{names:?}"
    );
    let org_policy = policies
        .iter()
        .find(|p| name_of(p) == format!("switchyard-egress-org-{org}"))
        .expect("the org's policy");
    assert_eq!(
        org_policy["spec"]["podSelector"]["matchLabels"]["switchyard.dev/org"],
        org.to_string()
    );
    assert!(org_policy.to_string().contains("203.0.113.10/32"));

    // Figures.
    let created = c.fake.creates(Kind::Job)[0].at;
    let scheduled = done.scheduled_at.expect("scheduled_at");
    let started = done.started_at.expect("started_at");
    println!(
        "figures: scheduled → Job created {} ms; scheduled → claimed by the Job's worker {} ms; queued → succeeded {} ms",
        (created - scheduled).num_milliseconds(),
        (started - scheduled).num_milliseconds(),
        (done.finished_at.expect("finished") - done.queued_at).num_milliseconds(),
    );
    assert!((created - scheduled).num_milliseconds() < 2_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oom_killed_worker_pod_fails_the_attempt_with_a_readable_reason() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("oom", "/nonexistent", "true", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempt, &pod).await;

    c.fake.pod_oom_killed(&pod);
    c.fake.job_finished(&name_of(&job), false);

    let failed = c.wait_status(attempt, AttemptStatus::Failed, 15).await;
    let reason = failed.failure_reason.expect("reason");
    assert!(
        reason.contains("out of memory") && reason.contains("OOM-killed") && reason.contains("2Gi"),
        "{reason}"
    );
    assert_eq!(failed.retry_count, 0, "out of memory again is no use");
    let process = &c.processes(attempt).await[0];
    assert_eq!(process.status, ProcessStatus::Failed);
    assert_eq!(process.failure_reason.as_deref(), Some(reason.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_past_its_deadline_fails_the_attempt_as_out_of_time() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("slow", "/nonexistent", "sleep 1000", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempt, &pod).await;

    // The Job controller deletes the pod and marks the Job failed.
    c.fake.job_deadline_exceeded(&name_of(&job));

    let failed = c.wait_status(attempt, AttemptStatus::Failed, 15).await;
    let reason = failed.failure_reason.expect("reason");
    assert!(
        reason.starts_with("wall-clock budget exceeded")
            && reason.contains(&format!("{} s", WALL_CLOCK_SECS as i64 + SLACK_SECS)),
        "{reason}"
    );
    assert_eq!(failed.retry_count, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_cannot_be_pulled_fails_the_attempt_and_frees_its_slot() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("pull", "/nonexistent", "true", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod = c.pod_of(&job).await;

    c.fake.pod_image_pull_backoff(&pod);

    let failed = c.wait_status(attempt, AttemptStatus::Failed, 15).await;
    let reason = failed.failure_reason.expect("reason");
    assert!(
        reason.contains("could not be pulled")
            && reason.contains(IMAGE)
            && reason.contains("ImagePullBackOff"),
        "{reason}"
    );
    eventually("the stuck Job is deleted", 10, || async {
        c.fake
            .get(Kind::Job, &name_of(&job))
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_evicted_worker_pod_sends_the_attempt_back_for_another_try() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("evict", "/nonexistent", "true", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempt, &pod).await;

    let message =
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 52Mi.";
    c.fake.pod_evicted(&pod, message);
    c.fake.job_finished(&name_of(&job), false);

    // Back in the queue and dispatched again: a second Job, under a new name.
    eventually("a second Job", 15, || async {
        (c.jobs_of(attempt).len() == 2).then_some(())
    })
    .await;
    let a = c.attempt(attempt).await;
    assert_eq!(a.retry_count, 1);
    assert!(matches!(
        a.status,
        AttemptStatus::Scheduled | AttemptStatus::Queued
    ));
    let processes = c.processes(attempt).await;
    assert_eq!(
        processes.len(),
        2,
        "the interrupted process is run again as a new one"
    );
    let reason = processes[0].failure_reason.clone().expect("reason");
    assert!(
        reason.contains("evicted") && reason.contains("low on resource: memory"),
        "{reason}"
    );
    assert_eq!(processes[1].status, ProcessStatus::Queued);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_deleted_behind_the_schedulers_back_is_made_again_or_its_run_retried() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("vanish", "/nonexistent", "true", 2).await;

    // Not claimed yet: the same Job is made again.
    let job = c.job_of(attempts[0]).await;
    let name = name_of(&job);
    assert!(c.fake.delete(Kind::Job, &name));
    eventually("the Job made again", 10, || async {
        let posts = c
            .fake
            .creates(Kind::Job)
            .into_iter()
            .filter(|l| l.body.as_ref().is_some_and(|b| name_of(b) == name))
            .count();
        (posts == 2 && c.fake.get(Kind::Job, &name).is_some()).then_some(())
    })
    .await;
    assert_eq!(
        c.attempt(attempts[0]).await.status,
        AttemptStatus::Scheduled
    );

    // Running in the Job's pod: the run is lost with the pod and tried again.
    let job = c.job_of(attempts[1]).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempts[1], &pod).await;
    assert!(c.fake.delete(Kind::Job, &name_of(&job)));
    eventually("a new Job for the retry", 15, || async {
        (c.jobs_of(attempts[1])
            .iter()
            .any(|j| name_of(j) != name_of(&job)))
        .then_some(())
    })
    .await;
    let a = c.attempt(attempts[1]).await;
    assert_eq!(a.retry_count, 1);
    let first = &c.processes(attempts[1]).await[0];
    assert_eq!(
        first.failure_reason.as_deref(),
        Some("the worker pod was deleted before the attempt ended")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_left_behind_by_its_deleted_job_runs_on_and_is_removed_after_its_attempt() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("leftover", "/nonexistent", "true", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempt, &pod).await;

    // `kubectl delete job --cascade=orphan`: the Job goes, its pod goes on running.
    assert!(c.fake.delete_orphaning(Kind::Job, &name_of(&job)));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        c.fake.get(Kind::Pod, &pod).is_some(),
        "a pod still running its attempt is left alone"
    );
    assert_eq!(c.attempt(attempt).await.status, AttemptStatus::Running);
    assert!(
        c.jobs_of(attempt).is_empty(),
        "no second Job for a running attempt"
    );

    // Its worker records the end and exits: nothing else would ever remove the pod.
    c.record_success(attempt).await;
    c.fake.pod_terminated(&pod, 0, "Completed");
    eventually("the leftover pod is deleted", 10, || async {
        c.fake.get(Kind::Pod, &pod).is_none().then_some(())
    })
    .await;
    assert_eq!(c.attempt(attempt).await.status, AttemptStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_and_a_dropped_watch_are_ridden_out() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    c.wait_leader("sched-a", 10).await;
    // Let the first reconcile settle (policies, watches).
    eventually("egress baseline", 10, || async {
        c.fake
            .get(Kind::NetworkPolicy, "switchyard-egress-workers")
            .map(|_| ())
    })
    .await;

    // The API server fails every request for 1.5 s (500), then throttles two (429).
    let outage = Instant::now();
    c.fake.fail_for(Duration::from_millis(1_500), 500);
    c.fake.fail_next(2, 429);
    let (_, attempts) = c.queued("flaky", "/nonexistent", "true", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let after = outage.elapsed();
    let log = c.fake.log();
    // The reconcile's own calls (not the Lease's, not the watches'), refused.
    let refused = log
        .iter()
        .filter(|l| l.status == 500 && !l.is_watch() && !l.path.contains("/leases/"))
        .count();
    println!(
        "figures: Job created {} ms after a 1.5 s outage (then two 429s) began; {refused} reconcile calls refused meanwhile",
        after.as_millis()
    );
    assert!(after >= Duration::from_millis(1_500));
    assert!(
        (1..=12).contains(&refused),
        "retries back off exponentially ({refused} refused calls in 1.5 s)"
    );
    assert_eq!(
        c.lease().0.as_deref(),
        Some("sched-a"),
        "the leader rode it out"
    );

    // The watch drops; meanwhile the pod is OOM-killed and history is compacted, so
    // resuming answers 410 and the scheduler must list again to see it.
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempt, &pod).await;
    let lists_before = pod_lists(&c.fake.log());
    c.fake.watch_outage(|f| f.pod_oom_killed(&pod));

    let failed = c.wait_status(attempt, AttemptStatus::Failed, 20).await;
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("out of memory")),
        "{:?}",
        failed.failure_reason
    );
    assert!(
        pod_lists(&c.fake.log()) > lists_before,
        "the scheduler listed pods again after the 410"
    );
}

/// Pod lists (not watches) so far.
fn pod_lists(log: &[Logged]) -> usize {
    log.iter()
        .filter(|l| {
            l.method == "GET" && l.path.ends_with("/pods") && !l.is_watch() && l.status == 200
        })
        .count()
}

/// Pod watches so far, with the `resourceVersion` each resumed from.
fn pod_watches(log: &[Logged]) -> Vec<u64> {
    log.iter()
        .filter(|l| l.method == "GET" && l.path.ends_with("/pods") && l.is_watch())
        .map(|l| {
            l.query
                .split('&')
                .find_map(|p| p.strip_prefix("resourceVersion="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

fn resource_version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_watch_resumes_from_its_last_bookmark_without_listing_again() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    let (_, attempts) = c.queued("resume", "/nonexistent", "true", 1).await;
    let attempt = attempts[0];
    let job = c.job_of(attempt).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(attempt, &pod).await;

    // Quiet for the pods, busy elsewhere (Lease renewals): bookmarks carry the pod watch
    // past the last pod change.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let last_pod_change = c
        .fake
        .objects(Kind::Pod)
        .iter()
        .map(resource_version)
        .max()
        .expect("pods");
    let log = c.fake.log();
    let (lists, watches) = (pod_lists(&log), pod_watches(&log).len());

    // Every watch ends (an API server restart); the pod dies meanwhile.
    c.fake.drop_watches();
    c.fake.pod_oom_killed(&pod);

    let failed = c.wait_status(attempt, AttemptStatus::Failed, 15).await;
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("out of memory")),
        "{:?}",
        failed.failure_reason
    );
    let log = c.fake.log();
    assert_eq!(pod_lists(&log), lists, "resumed, not listed again");
    let resumed = pod_watches(&log)
        .get(watches)
        .copied()
        .expect("the pod watch was opened again");
    assert!(
        resumed > last_pod_change,
        "resumed from a bookmark ({resumed}), not from the last pod change ({last_pod_change})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn leadership_fails_over_when_the_leader_stops_renewing() {
    let mut c = Cluster::new().await;
    c.start(c.settings("sched-a"));
    c.wait_leader("sched-a", 10).await;
    c.start(c.settings("sched-b"));
    let (_, first) = c.queued("lead", "/nonexistent", "true", 1).await;
    c.job_of(first[0]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = c.fake.log();
    assert_eq!(creates_by(&log, Kind::Job, "sched-a"), 1);
    assert_eq!(
        creates_by(&log, Kind::Job, "sched-b"),
        0,
        "only the leader acts"
    );
    assert_eq!(c.lease().0.as_deref(), Some("sched-a"));

    // The leader is cut off from the API server: it steps down, the other takes over
    // once the lease has gone unrenewed for its duration.
    let cut = Instant::now();
    let cut_at = chrono::Utc::now();
    c.fake.partition("sched-a", 503);
    c.wait_leader("sched-b", 10).await;
    let failover = cut.elapsed();
    assert_eq!(c.lease().1, 1, "one transition");
    let (_, second) = c.queued("lead-2", "/nonexistent", "true", 1).await;
    c.job_of(second[0]).await;
    assert_eq!(creates_by(&c.fake.log(), Kind::Job, "sched-b"), 1);

    // Back in touch, the old leader waits; the new one hands over when it shuts down.
    c.fake.heal();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(c.lease().0.as_deref(), Some("sched-b"));
    let stopping = Instant::now();
    c.stop("sched-b").await;
    c.wait_leader("sched-a", 5).await;
    let handover = stopping.elapsed();
    assert_eq!(c.lease().1, 2);
    println!(
        "figures: failover after a partition {} ms (lease 2 s, renew 200 ms); handover on shutdown {} ms",
        failover.as_millis(),
        handover.as_millis()
    );
    // Measured between the writes: the old leader's last renewal, the new one's takeover.
    let log = c.fake.log();
    let lease_write = |token: &str| {
        log.iter()
            .filter(|l| l.method == "PUT" && l.path.ends_with("/leases/switchyard-scheduler"))
            .filter(|l| l.status == 200 && l.token.as_deref() == Some(token))
            .map(|l| l.at)
            .collect::<Vec<_>>()
    };
    let last_renewal = lease_write("sched-a")
        .into_iter()
        .filter(|at| *at < cut_at)
        .max()
        .expect("a renewal by sched-a");
    let takeover = lease_write("sched-b")[0];
    let unrenewed = (takeover - last_renewal).num_milliseconds();
    println!("figures: lease taken over {unrenewed} ms after its last renewal");
    assert!(
        unrenewed >= 2_000,
        "nobody takes a lease before it expires ({unrenewed} ms)"
    );
    assert!(
        handover < Duration::from_secs(2),
        "a released lease is taken at once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_warm_pod_takes_the_attempt_without_a_job() {
    let mut c = Cluster::new().await;
    let mut settings = c.settings("sched-a");
    settings
        .scheduler
        .kubernetes
        .resource_classes
        .get_mut("small")
        .expect("small")
        .warm_pods = 1;
    let _kubelet = Kubelet::start(
        c.fake.clone(),
        &settings,
        &c.ctx.env.dir.join("kubelet"),
        |_| true,
    );
    c.start(settings);
    let warm = eventually("a running warm pod", 20, || async {
        c.fake
            .objects(Kind::Pod)
            .into_iter()
            .find(|p| {
                label(p, "switchyard.dev/role") == Some("warm") && p["status"]["phase"] == "Running"
            })
            .map(|p| name_of(&p))
    })
    .await;
    // Its worker is listening on the queue.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let repo = origin_repo(&c.ctx.env.dir);
    let (org, attempts) = c
        .queued(
            "warm",
            repo.to_str().expect("path"),
            "sleep 1; echo warm > warm.txt",
            1,
        )
        .await;
    let attempt = attempts[0];
    let done = c.wait_status(attempt, AttemptStatus::Succeeded, 60).await;
    assert_eq!(
        done.worker_id.as_deref(),
        Some(warm.as_str()),
        "the warm pod ran it"
    );
    assert!(c.fake.creates(Kind::Job).is_empty(), "no Job was needed");

    // While it ran, the pod was labelled with its attempt (its org's egress policy
    // selects it) and given the attempt's deadline.
    let adopted = c
        .fake
        .log()
        .into_iter()
        .find(|l| l.method == "PATCH" && l.path.ends_with(&format!("/pods/{warm}")))
        .expect("the warm pod was labelled");
    let patch = adopted.body.expect("patch body");
    assert_eq!(
        patch["metadata"]["labels"]["switchyard.dev/org"],
        org.to_string()
    );
    assert_eq!(
        patch["metadata"]["labels"]["switchyard.dev/attempt"],
        attempt.to_string()
    );
    assert!(
        patch["spec"]["activeDeadlineSeconds"]
            .as_i64()
            .is_some_and(|d| d >= WALL_CLOCK_SECS as i64)
    );

    // Used once: the pod is removed after its run and the pool refilled.
    eventually("the used warm pod is deleted and replaced", 20, || async {
        let pods = c.fake.objects(Kind::Pod);
        let gone = pods.iter().all(|p| name_of(p) != warm);
        let fresh = pods
            .iter()
            .any(|p| label(p, "switchyard.dev/role") == Some("warm") && name_of(p) != warm);
        (gone && fresh).then_some(())
    })
    .await;
    println!(
        "figures: scheduled → claimed by a warm pod {} ms",
        (done.started_at.expect("started") - done.scheduled_at.expect("scheduled"))
            .num_milliseconds()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_hold_jobs_back_per_org_and_per_cluster() {
    let mut c = Cluster::new().await;
    let mut settings = c.settings("sched-a");
    settings.scheduler.kubernetes.max_pods = 3;
    settings.scheduler.kubernetes.max_pods_per_org = 2;
    c.start(settings);
    let (big, big_attempts) = c.queued("capped-big", "/nonexistent", "true", 4).await;
    let (small, _) = c.queued("capped-small", "/nonexistent", "true", 2).await;
    let count = |org: Uuid| {
        c.fake
            .objects(Kind::Job)
            .iter()
            .filter(|j| label(j, "switchyard.dev/org") == Some(org.to_string().as_str()))
            .filter(|j| j["status"]["conditions"].is_null())
            .count()
    };
    eventually("three Jobs", 10, || async {
        (c.fake.objects(Kind::Job).len() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(c.fake.objects(Kind::Job).len(), 3, "the cluster cap holds");
    assert_eq!(count(big), 2, "the org cap holds");
    assert_eq!(count(small), 1);

    // One of the big org's runs ends (its worker records it, its Job completes): the
    // freed slot goes to a waiting attempt.
    let done = big_attempts
        .iter()
        .copied()
        .find(|a| !c.jobs_of(*a).is_empty())
        .expect("a running attempt");
    let job = c.job_of(done).await;
    let pod = c.pod_of(&job).await;
    c.fake.pod_running(&pod);
    c.claim_as(done, &pod).await;
    c.record_success(done).await;
    c.fake.pod_terminated(&pod, 0, "Completed");
    c.fake.job_finished(&name_of(&job), true);
    eventually("a fourth Job in the freed slot", 10, || async {
        (c.fake.creates(Kind::Job).len() == 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(count(big) + count(small), 3, "still three at once");
    assert!(count(big) <= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_object_the_backend_makes_passes_kubernetes_validate() {
    let mut c = Cluster::new().await;
    let mut settings = c.settings("sched-a");
    {
        let k = &mut settings.scheduler.kubernetes;
        k.image_pull_policy = Some("IfNotPresent".into());
        k.image_pull_secrets = vec!["registry-credentials".into()];
        let small = k.resource_classes.get_mut("small").expect("small");
        small.warm_pods = 1;
        small.runtime_class_name = Some("gvisor".into());
        small.node_selector = BTreeMap::from([("switchyard.dev/pool".into(), "agents".into())]);
        small.tolerations = vec![TolerationSetting {
            key: Some("switchyard.dev/agents".into()),
            operator: Some("Exists".into()),
            value: None,
            effect: Some("NoSchedule".into()),
            toleration_seconds: None,
        }];
        k.egress.platform.push(EgressPeer {
            to: None,
            pod_labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".into(),
                "redis".into(),
            )])),
            namespace_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".into(),
                "data".into(),
            )])),
            ports: vec![6379],
        });
        k.egress.dns_cidrs = vec!["169.254.20.10/32".into()];
    }
    let k = settings.scheduler.kubernetes.clone();
    let started_with = settings.clone();
    c.start(settings);
    let (org, attempts) = c
        .queued("validated", "https://140.82.121.3/acme/app.git", "true", 1)
        .await;
    {
        let mut conn = c.ctx.db.system().await.expect("conn");
        fixtures::project(&mut conn, org, "git@140.82.121.4:acme/lib.git", None).await;
        // Tenant input naming what a worker pod must never reach: cloud metadata, the
        // platform's private network, a ULA, a name for loopback, a documentation
        // address, CGNAT, and a public host on a port git does not use.
        for remote in [
            "https://169.254.169.254/latest/meta-data.git",
            "https://10.1.2.3/acme/app.git",
            "https://[fd00::1]/acme/app.git",
            "ssh://git@localhost/acme/app.git",
            "https://198.51.100.9/acme/app.git",
            "git@100.64.3.4:acme/app.git",
            "https://140.82.121.5:8443/acme/app.git",
        ] {
            fixtures::project(&mut conn, org, remote, None).await;
        }
    }
    let job = c.job_of(attempts[0]).await;
    // Play a warm pod's claim too, so the adoption patch is made (and checked below).
    let warm = eventually("a warm pod", 10, || async {
        c.fake
            .objects(Kind::Pod)
            .into_iter()
            .find(|p| label(p, "switchyard.dev/role") == Some("warm"))
            .map(|p| name_of(&p))
    })
    .await;
    c.fake.pod_running(&warm);
    let (_, more) = c.queued("validated-2", "/nonexistent", "true", 1).await;
    eventually("scheduled", 10, || async {
        (c.attempt(more[0]).await.status == AttemptStatus::Scheduled).then_some(())
    })
    .await;
    c.claim_as(more[0], &warm).await;
    eventually("the warm pod adopted", 10, || async {
        c.fake
            .get(Kind::Pod, &warm)
            .and_then(|p| label(&p, "switchyard.dev/attempt").map(str::to_owned))
    })
    .await;
    eventually(
        "the org's egress policy with its repositories",
        10,
        || async {
            c.fake
                .get(Kind::NetworkPolicy, &format!("switchyard-egress-org-{org}"))
                .filter(|p| p.to_string().contains("140.82.121.4/32"))
        },
    )
    .await;

    // Everything the client sent, and everything as stored.
    let mut objects: Vec<Value> = c
        .fake
        .log()
        .into_iter()
        .filter(|l| matches!(l.method.as_str(), "POST" | "PUT") && l.status < 300)
        .filter_map(|l| l.body)
        .collect();
    for kind in [Kind::Job, Kind::Pod, Kind::Lease, Kind::NetworkPolicy] {
        objects.extend(c.fake.objects(kind));
    }
    let kinds: std::collections::BTreeSet<String> = objects
        .iter()
        .filter_map(|o| o["kind"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["Job", "Lease", "NetworkPolicy", "Pod"]
    );
    let dir = c.ctx.env.dir.join("objects");
    let files = write_objects(&dir, &objects);
    // scripts/test names the Python that deploy/check.sh installed it for; by hand,
    // `pip install kubernetes-validate` puts it on the PATH.
    // 1.33 is the oldest release whose nodes run user-namespaced pods by default
    // (hostUsers: false, procMount: Unmasked); the tool's own default is its newest.
    for version in [Some("1.33.0"), None] {
        let mut cmd = match std::env::var_os("SWITCHYARD_TEST_PYTHON") {
            Some(python) => {
                let mut cmd = Command::new(python);
                cmd.args(["-m", "kubernetes_validate"]);
                cmd
            }
            None => Command::new("kubernetes-validate"),
        };
        cmd.arg("--strict");
        if let Some(v) = version {
            cmd.args(["--kubernetes-version", v]);
        }
        let out = cmd
            .args(&files)
            .output()
            .expect("kubernetes-validate (`bash deploy/check.sh --python` installs it and names its Python: set SWITCHYARD_TEST_PYTHON to that)");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "kubernetes-validate ({}) refused:\n{report}",
            version.unwrap_or("newest")
        );
    }
    println!(
        "kubernetes-validate: {} objects valid for 1.33 and the newest ({} files in {})",
        objects.len(),
        files.len(),
        dir.display()
    );

    // Every worker pod the backend made, from a Job or warm, holds the sandbox.
    let pods = c.fake.objects(Kind::Pod);
    assert!(pods.len() >= 2, "a Job's pod and a warm pod");
    for pod in &pods {
        assert_sandbox_pod(pod, &started_with);
    }

    // The org's policy opens its repositories' hosts on their ports, and nothing
    // without a destination.
    let policy = c
        .fake
        .get(Kind::NetworkPolicy, &format!("switchyard-egress-org-{org}"))
        .expect("policy");
    let rules = policy["spec"]["egress"].as_array().expect("egress");
    assert!(
        rules
            .iter()
            .all(|r| r["to"].as_array().is_some_and(|t| !t.is_empty()))
    );
    let opens = |cidr: &str, port: i64| {
        rules.iter().any(|r| {
            r["to"]
                .as_array()
                .is_some_and(|t| t.iter().any(|p| p["ipBlock"]["cidr"] == cidr))
                && r["ports"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["port"] == port))
        })
    };
    assert!(opens("140.82.121.3/32", 443), "{policy}");
    assert!(opens("140.82.121.4/32", 22), "{policy}");
    assert!(
        opens("203.0.113.10/32", 443),
        "the operator's allowlist: {policy}"
    );
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    // What the org's repositories added beyond the baseline every worker gets: the
    // public hosts on their git ports, and nothing of what was refused.
    let baseline = c
        .fake
        .get(Kind::NetworkPolicy, "switchyard-egress-workers")
        .expect("baseline");
    let common = baseline["spec"]["egress"]
        .as_array()
        .expect("egress")
        .clone();
    let tenant: Vec<&Value> = rules.iter().filter(|r| !common.contains(r)).collect();
    let mut opened = Vec::new();
    for r in &tenant {
        for peer in r["to"].as_array().into_iter().flatten() {
            for port in r["ports"].as_array().into_iter().flatten() {
                opened.push(format!(
                    "{}:{}",
                    peer["ipBlock"]["cidr"]
                        .as_str()
                        .unwrap_or("(not an ipBlock)"),
                    port["port"]
                ));
            }
        }
    }
    opened.sort();
    assert_eq!(
        opened,
        ["140.82.121.3/32:443", "140.82.121.4/32:22"],
        "nothing for the refused remotes (loopback only as the platform's own): {policy}"
    );
    for refused in [
        "169.254.169.254",
        "10.1.2.3",
        "fd00::1",
        "198.51.100.9",
        "100.64.3.4",
        "140.82.121.5",
    ] {
        assert!(
            !policy.to_string().contains(refused),
            "{refused} opened: {policy}"
        );
    }

    // All of it within the Role (RBAC_RULES), which the fake enforces: nothing the
    // scheduler asked was refused, and what the Role leaves out is.
    let log = c.fake.log();
    let refused: Vec<String> = log
        .iter()
        .filter(|l| l.status == 403)
        .map(|l| format!("{} {}?{}", l.method, l.path, l.query))
        .collect();
    assert!(refused.is_empty(), "refused by RBAC: {refused:?}");
    let cluster = scheduler::capacity::kubernetes::Cluster::connect(&k)
        .await
        .expect("client");
    let relabel = serde_json::json!({"metadata": {"labels": {"switchyard.dev/org": "other"}}});
    let err = cluster
        .jobs()
        .patch(
            &name_of(&job),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&relabel),
        )
        .await
        .expect_err("the Role grants no patch of Jobs");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.reason == "Forbidden"),
        "{err}"
    );
    let elsewhere: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(cluster.client.clone(), "kube-system");
    let err = elsewhere
        .list(&Default::default())
        .await
        .expect_err("the Role is namespaced");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leaders_successor_schedules_nothing_twice_and_forgets_nothing() {
    let mut c = Cluster::new().await;
    c.start_crashable(c.settings("sched-a"));
    c.wait_leader("sched-a", 10).await;
    c.start(c.settings("sched-b"));
    let (_, before) = c.queued("killed-lead", "/nonexistent", "true", 6).await;
    for id in &before {
        c.job_of(*id).await;
    }
    let killed = Instant::now();
    c.crash("sched-a");
    // Queued while nobody leads: the successor must find them.
    let (_, during) = c.queued("killed-lead-2", "/nonexistent", "true", 6).await;
    c.wait_leader("sched-b", 15).await;
    let failover = killed.elapsed();
    for id in &during {
        c.job_of(*id).await;
    }
    // The successor has reconciled for a while: still one Job per attempt.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in before.iter().chain(&during) {
        assert_eq!(c.jobs_of(*id).len(), 1, "one Job for {id}");
    }
    assert_eq!(
        creates_by(&c.fake.log(), Kind::Job, "sched-b"),
        during.len()
    );
    println!(
        "fault-report: scheduler leader killed (2 replicas) | 6 attempts scheduled before, 6 queued during: one Job each, none forgotten | nothing lost or doubled | {:.1} s",
        failover.as_secs_f64()
    );
    c.stop("sched-b").await;
}
