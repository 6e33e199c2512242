//! The objects the Kubernetes backend makes, derived from settings and the attempt row
//! alone (so the same attempt always yields the same Job): an attempt's Job, a warm pod,
//! and the hardened worker pod both share.

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ConfigMapEnvSource, Container, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, LocalObjectReference, ObjectFieldSelector, Pod,
    PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecretEnvSource, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use shared::config::{
    KubernetesSettings, ProfileKind, ResourceClass, Settings, TolerationSetting, WorkerSettings,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Labels on everything the backend makes, and what they say.
pub mod labels {
    /// `switchyard` on every object.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `worker` on Jobs and worker pods, `scheduler` on the Lease and policies.
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// `switchyard-scheduler`: the backend's watches and clean-up look only at these.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// `scheduler.kubernetes.instance`, so two releases in a namespace stay apart.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// The org whose attempt the pod runs (the egress policy selects on it).
    pub const ORG: &str = "switchyard.dev/org";
    /// The attempt the Job (or the adopted warm pod) runs.
    pub const ATTEMPT: &str = "switchyard.dev/attempt";
    /// `job` (one attempt) or `warm` (an idle worker that claims from the queue).
    pub const ROLE: &str = "switchyard.dev/role";
    /// The resource class the pod is sized for.
    pub const CLASS: &str = "switchyard.dev/resource-class";
    /// Which dispatch of the attempt the Job serves (a retry or follow-up is a new one).
    pub const DISPATCH: &str = "switchyard.dev/dispatch";
    /// Set by the Job controller on the Job's pods.
    pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
    /// The same, as older clusters set it.
    pub const JOB_NAME_LEGACY: &str = "job-name";
}

/// `app.kubernetes.io/name`.
pub const APP: &str = "switchyard";
/// `app.kubernetes.io/managed-by`.
pub const MANAGER: &str = "switchyard-scheduler";
/// `switchyard.dev/role` of a Job's pods.
pub const ROLE_JOB: &str = "job";
/// `switchyard.dev/role` of warm pods.
pub const ROLE_WARM: &str = "warm";
/// The worker container's name.
pub const CONTAINER: &str = "worker";
/// Where the workspace emptyDir is mounted (the worker's data dir).
pub const WORKSPACE: &str = "/workspace";
/// Annotation: when the attempt was scheduled (RFC 3339), for people reading the Job.
pub const SCHEDULED_AT: &str = "switchyard.dev/scheduled-at";

/// The only capabilities the worker container keeps (all others are dropped), each for
/// the sandbox it builds around every attempt process: `SETUID`/`SETGID` to become the
/// attempt's uid, `CHOWN`/`FOWNER`/`DAC_OVERRIDE` to hand the attempt its worktree and
/// home and take them back, `KILL` to end whatever runs as that uid, `SYS_ADMIN` to
/// unshare pid, mount, network, IPC and UTS namespaces and mount a private /proc and
/// /tmp, `NET_ADMIN` to bring up loopback in the new network namespace. The pod's user
/// namespace (`hostUsers: false`) confines all of them to the pod.
pub const SANDBOX_CAPABILITIES: [&str; 8] = [
    "SETUID",
    "SETGID",
    "CHOWN",
    "FOWNER",
    "DAC_OVERRIDE",
    "KILL",
    "SYS_ADMIN",
    "NET_ADMIN",
];

/// Highest uid a pod's user namespace maps (`0..=65535`), less `nobody` and the
/// overflow uid: the attempt uid must lie below it.
pub const MAX_POD_UID: u32 = 65_533;

/// Why the worker pods these settings describe could not run their sandbox, if so:
/// checked when the backend starts, so a bad setting stops it rather than every attempt.
pub fn sandbox_problem(k: &KubernetesSettings) -> Option<String> {
    let s = &k.sandbox;
    if s.uid == 0 || s.uid > MAX_POD_UID {
        return Some(format!(
            "scheduler.kubernetes.sandbox.uid = {}: a pod's user namespace maps uids 0-65535; pick one in 1-{MAX_POD_UID}",
            s.uid
        ));
    }
    for (kind, profile, name) in [
        ("seccomp", s.seccomp_profile, &s.seccomp_localhost_profile),
        (
            "apparmor",
            s.apparmor_profile,
            &s.apparmor_localhost_profile,
        ),
    ] {
        let named = name.as_deref().is_some_and(|n| !n.trim().is_empty());
        if (profile == ProfileKind::Localhost) != named {
            return Some(format!(
                "scheduler.kubernetes.sandbox.{kind}_localhost_profile names the profile exactly when {kind}_profile is Localhost"
            ));
        }
    }
    None
}

/// An attempt as the backend sees it: enough to derive its Job.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    pub id: Uuid,
    pub org_id: Uuid,
    pub scheduled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub class: String,
}

impl AttemptSpec {
    /// Names one dispatch of the attempt: base-36 milliseconds of `scheduled_at`.
    pub fn dispatch(&self) -> String {
        let millis = self
            .scheduled_at
            .map(|t| t.timestamp_millis().max(0) as u64)
            .unwrap_or(0);
        base36(millis)
    }

    /// `sy-<attempt id>-<dispatch>`: the same attempt and dispatch always name the same
    /// Job, so a create that raced another is a harmless 409 (at most 52 characters).
    pub fn job_name(&self) -> String {
        format!("sy-{}-{}", self.id, self.dispatch())
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The labels every object of this release carries.
pub fn common_labels(k: &KubernetesSettings, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), APP.to_owned()),
        (labels::COMPONENT.to_owned(), component.to_owned()),
        (labels::MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (labels::INSTANCE.to_owned(), k.instance.clone()),
    ])
}

/// The label selector of everything this release's backend manages.
pub fn managed_selector(k: &KubernetesSettings) -> String {
    format!(
        "{}={MANAGER},{}={}",
        labels::MANAGED_BY,
        labels::INSTANCE,
        k.instance
    )
}

/// The Job that runs `attempt` with `switchyard-worker --attempt <id>`: one pod, never
/// retried by Kubernetes (the scheduler decides about retries), stopped after the
/// attempt's wall-clock budget plus `deadline_slack_secs`, removed `job_ttl_secs` after
/// it ends.
pub fn attempt_job(
    k: &KubernetesSettings,
    class: &ResourceClass,
    attempt: &AttemptSpec,
    worker: &WorkerSettings,
) -> Job {
    let mut labels = common_labels(k, "worker");
    labels.insert(labels::ROLE.to_owned(), ROLE_JOB.to_owned());
    labels.insert(labels::CLASS.to_owned(), attempt.class.clone());
    labels.insert(labels::ORG.to_owned(), attempt.org_id.to_string());
    labels.insert(labels::ATTEMPT.to_owned(), attempt.id.to_string());
    labels.insert(labels::DISPATCH.to_owned(), attempt.dispatch());
    let annotations = attempt
        .scheduled_at
        .map(|t| BTreeMap::from([(SCHEDULED_AT.to_owned(), t.to_rfc3339())]));
    let pod = worker_pod_spec(
        k,
        class,
        worker,
        vec!["--attempt".to_owned(), attempt.id.to_string()],
        Vec::new(),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(attempt.job_name()),
            namespace: None,
            labels: Some(labels.clone()),
            annotations: annotations.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(k.job_ttl_secs),
            active_deadline_seconds: Some(job_deadline_secs(k, worker.limits.wall_clock_secs)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations,
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The Job an attempt of `class` (the default class when `None`) would get under
/// `settings`, for an attempt with the nil id: `switchyard-scheduler worker-job` prints
/// it so a deployment's worker pods can be reviewed and validated without a cluster.
pub fn example_job(settings: &Settings, class: Option<&str>) -> anyhow::Result<Job> {
    let k = &settings.scheduler.kubernetes;
    if let Some(problem) = sandbox_problem(k) {
        anyhow::bail!("worker pods cannot hold the attempt sandbox: {problem}");
    }
    let name = class.unwrap_or(&k.default_resource_class);
    let Some(resources) = k.resource_classes.get(name) else {
        anyhow::bail!(
            "no resource class {name:?} (scheduler.kubernetes.resource_classes has {})",
            k.resource_classes
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let attempt = AttemptSpec {
        id: Uuid::nil(),
        org_id: Uuid::nil(),
        scheduled_at: None,
        class: name.to_owned(),
    };
    Ok(attempt_job(k, resources, &attempt, &settings.worker))
}

/// `activeDeadlineSeconds` of an attempt's Job.
pub fn job_deadline_secs(k: &KubernetesSettings, wall_clock_secs: u64) -> i64 {
    (wall_clock_secs as i64)
        .saturating_add(k.deadline_slack_secs)
        .max(1)
}

/// An idle worker of `class_name` that claims one attempt of that class from the queue
/// and exits: a warm pod is never reused, so no org's files or network rights outlive
/// its run. `suffix` makes the name unique.
pub fn warm_pod(
    k: &KubernetesSettings,
    class_name: &str,
    class: &ResourceClass,
    worker: &WorkerSettings,
    suffix: &str,
) -> Pod {
    let mut labels = common_labels(k, "worker");
    labels.insert(labels::ROLE.to_owned(), ROLE_WARM.to_owned());
    labels.insert(labels::CLASS.to_owned(), class_name.to_owned());
    // The worker decides which attempts are of its class as the scheduler does: an
    // attempt whose profile names no class is of the scheduler's default class.
    let env = vec![
        EnvVar {
            name: "SWITCHYARD__WORKER__RESOURCE_CLASS".to_owned(),
            value: Some(class_name.to_owned()),
            value_from: None,
        },
        EnvVar {
            name: "SWITCHYARD__SCHEDULER__KUBERNETES__DEFAULT_RESOURCE_CLASS".to_owned(),
            value: Some(k.default_resource_class.clone()),
            value_from: None,
        },
    ];
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{}{suffix}", warm_name_prefix(class_name))),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(worker_pod_spec(k, class, worker, Vec::new(), env)),
        status: None,
    }
}

/// How warm pods' names begin.
pub const WARM_PREFIX: &str = "sy-warm-";

/// `sy-warm-<class>-`: the name of a warm pod of `class` up to its random suffix.
pub fn warm_name_prefix(class: &str) -> String {
    let short: String = class.chars().take(30).collect();
    format!("{WARM_PREFIX}{short}-")
}

/// Whether `name` is a warm pod of `class`: its prefix and then only the 8-digit hex
/// suffix (so class `small` does not count the pods of class `small-2`).
pub fn is_warm_name_of(name: &str, class: &str) -> bool {
    name.strip_prefix(&warm_name_prefix(class))
        .is_some_and(|rest| rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The worker pod, shaped for the attempt sandbox: in a user namespace of its own
/// (`hostUsers: false`), so its root is an unprivileged uid on the node; the worker (and
/// `tini`, PID 1) run as that root, holding the platform's credentials, with every
/// capability dropped but [`SANDBOX_CAPABILITIES`], an unmasked /proc (so the worker can
/// mount a fresh one in each attempt's pid namespace), a read-only root, the configured
/// seccomp and AppArmor profiles, emptyDir workspace and /tmp as the only writable
/// places, no host mounts and no service account token. Attempts run as
/// `sandbox.uid`. Sized and placed by the class. The worker takes its configuration
/// from the ConfigMap and Secret named in settings (as variables: no secret is a file,
/// an argument or a ConfigMap key); its id is the pod's name, so an attempt's
/// `worker_id` names the pod that runs it.
pub fn worker_pod_spec(
    k: &KubernetesSettings,
    class: &ResourceClass,
    worker: &WorkerSettings,
    args: Vec<String>,
    extra_env: Vec<EnvVar>,
) -> PodSpec {
    let image = class
        .image
        .clone()
        .unwrap_or_else(|| k.worker_image.clone());
    let quantities = |cpu: &str, memory: &str, disk: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
            ("ephemeral-storage".to_owned(), Quantity(disk.to_owned())),
        ])
    };
    let plain = |name: &str, value: &str| EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    };
    let mut env = vec![
        EnvVar {
            name: "SWITCHYARD__WORKER__ID".to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: Some("v1".to_owned()),
                    field_path: "metadata.name".to_owned(),
                }),
                ..EnvVarSource::default()
            }),
        },
        plain("SWITCHYARD__WORKER__DATA_DIR", WORKSPACE),
        plain("SWITCHYARD__WORKER__MAX_ATTEMPTS", "1"),
        // The sandbox is not optional in a pod, and its one attempt runs as a uid the
        // pod's user namespace maps (a host's default pool lies beyond it). These win
        // over the same keys of the ConfigMap.
        plain("SWITCHYARD__WORKER__SANDBOX__ENABLED", "true"),
        plain("SWITCHYARD__WORKER__SANDBOX__NAMESPACES", "true"),
        plain(
            "SWITCHYARD__WORKER__SANDBOX__UID_BASE",
            &k.sandbox.uid.to_string(),
        ),
        plain("SWITCHYARD__WORKER__SANDBOX__UID_COUNT", "1"),
        plain("HOME", "/tmp"),
        plain("TMPDIR", "/tmp"),
    ];
    env.extend(extra_env);
    let mut env_from = Vec::new();
    if let Some(name) = &k.worker_config_map {
        env_from.push(EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: name.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    if let Some(name) = &k.worker_secret {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: name.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    let sandbox = &k.sandbox;
    let seccomp = || SeccompProfile {
        type_: sandbox.seccomp_profile.as_str().to_owned(),
        localhost_profile: (sandbox.seccomp_profile == ProfileKind::Localhost)
            .then(|| sandbox.seccomp_localhost_profile.clone())
            .flatten(),
    };
    let apparmor = AppArmorProfile {
        type_: sandbox.apparmor_profile.as_str().to_owned(),
        localhost_profile: (sandbox.apparmor_profile == ProfileKind::Localhost)
            .then(|| sandbox.apparmor_localhost_profile.clone())
            .flatten(),
    };
    let container = Container {
        name: CONTAINER.to_owned(),
        image: Some(image),
        image_pull_policy: k.image_pull_policy.clone(),
        args: (!args.is_empty()).then_some(args),
        env: Some(env),
        env_from: (!env_from.is_empty()).then_some(env_from),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(
                &class.cpu_request,
                &class.memory_request,
                &class.ephemeral_storage_request,
            )),
            limits: Some(quantities(
                &class.cpu_limit,
                &class.memory_limit,
                &class.ephemeral_storage_limit,
            )),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            // Kubernetes refuses `false` beside SYS_ADMIN; the worker sets no_new_privs on
            // every attempt process itself.
            allow_privilege_escalation: Some(true),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(false),
            run_as_user: Some(0),
            run_as_group: Some(0),
            capabilities: Some(Capabilities {
                add: Some(SANDBOX_CAPABILITIES.map(str::to_owned).to_vec()),
                drop: Some(vec!["ALL".to_owned()]),
            }),
            // Allowed only with hostUsers: false; a fresh procfs cannot be mounted over a
            // masked one in a user namespace.
            proc_mount: Some("Unmasked".to_owned()),
            seccomp_profile: Some(seccomp()),
            app_armor_profile: Some(apparmor),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "workspace".to_owned(),
                mount_path: WORKSPACE.to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..VolumeMount::default()
            },
        ]),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };
    let node_selector = (!class.node_selector.is_empty()).then(|| class.node_selector.clone());
    let tolerations =
        (!class.tolerations.is_empty()).then(|| class.tolerations.iter().map(toleration).collect());
    PodSpec {
        restart_policy: Some("Never".to_owned()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        service_account_name: k.service_account.clone(),
        image_pull_secrets: (!k.image_pull_secrets.is_empty()).then(|| {
            k.image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect()
        }),
        runtime_class_name: class.runtime_class_name.clone(),
        node_selector,
        tolerations,
        // The worker's drain of its attempt in flight, plus its teardown.
        termination_grace_period_seconds: Some(worker.stop_grace().as_secs() as i64),
        host_users: Some(false),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(false),
            run_as_user: Some(0),
            run_as_group: Some(0),
            seccomp_profile: Some(seccomp()),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "workspace".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: None,
                    size_limit: Some(Quantity(class.ephemeral_storage_limit.clone())),
                }),
                ..Volume::default()
            },
            Volume {
                name: "tmp".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ]),
        ..PodSpec::default()
    }
}

fn toleration(t: &TolerationSetting) -> Toleration {
    Toleration {
        key: t.key.clone(),
        operator: t.operator.clone(),
        value: t.value.clone(),
        effect: t.effect.clone(),
        toleration_seconds: t.toleration_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> AttemptSpec {
        AttemptSpec {
            id: Uuid::nil(),
            org_id: Uuid::nil(),
            scheduled_at: chrono::DateTime::from_timestamp_millis(1_790_000_000_123),
            class: "medium".into(),
        }
    }

    #[test]
    fn a_job_name_fits_a_label_value_and_names_one_dispatch() {
        let a = attempt();
        let name = a.job_name();
        assert!(name.len() <= 63, "{name}");
        assert_eq!(name, a.job_name(), "deterministic");
        let mut later = a.clone();
        later.scheduled_at = chrono::DateTime::from_timestamp_millis(1_790_000_000_124);
        assert_ne!(name, later.job_name(), "a new dispatch is a new Job");
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }

    #[test]
    fn a_warm_pod_name_belongs_to_one_class_only() {
        let k = KubernetesSettings::default();
        let pod = warm_pod(
            &k,
            "small",
            &k.resource_classes["small"],
            &Settings::default().worker,
            "0a1b2c3d",
        );
        let name = pod.metadata.name.clone().expect("name");
        assert!(is_warm_name_of(&name, "small"));
        assert!(!is_warm_name_of("sy-warm-small-2-0a1b2c3d", "small"));
        assert!(is_warm_name_of("sy-warm-small-2-0a1b2c3d", "small-2"));
        let env = pod.spec.expect("spec").containers[0]
            .env
            .clone()
            .expect("env");
        let value = |name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(
            value("SWITCHYARD__WORKER__RESOURCE_CLASS").as_deref(),
            Some("small")
        );
        assert_eq!(
            value("SWITCHYARD__SCHEDULER__KUBERNETES__DEFAULT_RESOURCE_CLASS"),
            Some(k.default_resource_class.clone()),
            "the warm worker reads an attempt's class as the scheduler does"
        );
    }

    #[test]
    fn the_worker_pod_holds_the_sandbox() {
        let k = KubernetesSettings::default();
        assert_eq!(sandbox_problem(&k), None, "the defaults run");
        let class = &k.resource_classes["medium"];
        let job = attempt_job(&k, class, &attempt(), &Settings::default().worker);
        let spec = job.spec.expect("spec");
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(
            spec.active_deadline_seconds,
            Some(3_600 + k.deadline_slack_secs)
        );
        let pod = spec.template.spec.expect("pod");
        assert_eq!(
            pod.termination_grace_period_seconds,
            Some(30),
            "the default drain (20 s) and the teardown's margin"
        );
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.host_users, Some(false), "a user namespace of its own");
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().expect("security context");
        assert_eq!(sc.run_as_user, Some(0), "the worker is root in the pod");
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.proc_mount.as_deref(), Some("Unmasked"));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let caps = sc.capabilities.as_ref().expect("capabilities");
        assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            caps.add,
            Some(SANDBOX_CAPABILITIES.map(str::to_owned).to_vec())
        );
        assert_eq!(
            sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
            Some("RuntimeDefault")
        );
        let env = c.env.clone().expect("env");
        let value = |name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(
            value("SWITCHYARD__WORKER__SANDBOX__UID_BASE"),
            Some(k.sandbox.uid.to_string())
        );
        assert_eq!(
            value("SWITCHYARD__WORKER__SANDBOX__UID_COUNT").as_deref(),
            Some("1")
        );
        assert_eq!(
            c.args.as_deref(),
            Some(&["--attempt".to_owned(), Uuid::nil().to_string()][..])
        );
        let limits = c
            .resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .expect("limits");
        assert_eq!(limits["memory"].0, class.memory_limit);
        assert!(limits.contains_key("ephemeral-storage"));
    }

    #[test]
    fn sandbox_settings_a_pod_cannot_honour_are_named() {
        let mut k = KubernetesSettings::default();
        k.sandbox.uid = 200_000;
        assert!(
            sandbox_problem(&k).is_some_and(|p| p.contains("sandbox.uid")),
            "beyond the pod's user namespace"
        );
        k.sandbox.uid = 0;
        assert!(sandbox_problem(&k).is_some(), "root is no sandbox");
        k.sandbox.uid = 60_000;
        k.sandbox.seccomp_profile = ProfileKind::Localhost;
        assert!(
            sandbox_problem(&k).is_some_and(|p| p.contains("seccomp_localhost_profile")),
            "Localhost without a profile"
        );
        k.sandbox.seccomp_localhost_profile = Some("profiles/switchyard-worker.json".into());
        assert_eq!(sandbox_problem(&k), None);
        let pod = worker_pod_spec(
            &k,
            &k.resource_classes["small"],
            &Settings::default().worker,
            Vec::new(),
            Vec::new(),
        );
        let seccomp = pod.containers[0]
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.clone())
            .expect("seccomp");
        assert_eq!(seccomp.type_, "Localhost");
        assert_eq!(
            seccomp.localhost_profile.as_deref(),
            Some("profiles/switchyard-worker.json")
        );
        k.sandbox.apparmor_localhost_profile = Some("switchyard-worker".into());
        assert!(
            sandbox_problem(&k).is_some_and(|p| p.contains("apparmor")),
            "a profile named for a type that takes none"
        );
    }
}
