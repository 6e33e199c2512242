//! Layered configuration: built-in defaults, then an optional TOML file named by
//! `SWITCHYARD_CONFIG`, then `SWITCHYARD__SECTION__KEY` environment variables.
//! Unknown keys are refused so a typo never silently falls back to a default.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything any Switchyard process may need; each process reads the sections it uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// DEVELOPMENT ONLY: run on a developer's machine with the shortcuts that make that
    /// easy and would be holes anywhere else: the public development key for org
    /// secrets (`secrets.allow_dev_key`), a random per-process session signing key, the
    /// development sign-in (`auth.dev_login`) and projects on local repository paths.
    /// Needs a loopback `api.public_url`; outside it, processes refuse those shortcuts
    /// ([`Settings::check_mode`]).
    pub development: bool,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub s3: S3Settings,
    pub api: ApiSettings,
    pub scheduler: SchedulerSettings,
    pub worker: WorkerSettings,
    pub telemetry: TelemetrySettings,
    pub secrets: SecretsSettings,
    pub auth: AuthSettings,
    pub github: GithubSettings,
    pub rate_limit: RateLimitSettings,
    pub quotas: QuotaSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// What the services connect as: the `switchyard_app` role, which does not own the
    /// tables, so row-level security applies to every query they run.
    pub url: String,
    /// The tables' owner, for `switchyard-api migrate` only (defaults to `url`).
    pub migration_url: Option<String>,
    pub pool_size: usize,
    /// How long a request waits for a pooled connection before it answers 503.
    pub pool_timeout_ms: u64,
    /// Server-side cap on any one statement, so a runaway query cannot pin a connection.
    pub statement_timeout_ms: u64,
    /// Keep each connection's prepared statements for reuse. Turn it off when `url`
    /// points at a pooler in transaction mode (PgBouncer before 1.21, or without
    /// `max_prepared_statements`): there the next transaction may run on a server
    /// connection that never saw the statement.
    pub prepared_statement_cache: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    /// Prepended to every key and channel, so several deployments (or tests) share a server.
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    #[serde(serialize_with = "serialize_secret")]
    pub secret_key: SecretString,
    /// Local S3 servers want path-style URLs (`endpoint/bucket/key`).
    pub force_path_style: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub bind: String,
    /// The externally visible base URL, used in links the api hands out.
    pub public_url: String,
    pub max_body_bytes: usize,
    /// Server-sent event streams: heartbeats, access re-checks and how many may be open.
    pub streams: StreamSettings,
    /// The built dashboard (`web/dist`), served at every path outside `/api` and the
    /// probes; `None` serves no dashboard (an api-only replica behind a CDN or proxy).
    pub web_dir: Option<PathBuf>,
    /// Accept project repository URLs whose host is (or resolves to) a loopback, private,
    /// CGNAT, IPv6 unique-local, unspecified, multicast or reserved address: for git
    /// servers on the operator's own network. Link-local (cloud metadata) stays refused.
    /// Off by default: tenants must not point the platform at its own network.
    #[serde(default)]
    pub allow_private_repository_hosts: bool,
    /// Days an org API token lives when its creator names no expiry; `0` lets such a
    /// token live until revoked. A token outliving its purpose is a credential nobody
    /// watches, so tokens expire unless the operator says otherwise.
    pub token_expiry_days: i64,
    /// Proxies (the Ingress controller, a load balancer) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client: CIDR ranges or single addresses. From
    /// any other peer those headers are ignored, so a client cannot pick the address its
    /// rate limit is counted against. Empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// Server-sent event streams (`/events`, `/logs/stream`, `/diff/stream`). A stream
/// authenticates when it opens and then lives long, so each heartbeat also re-checks
/// that its credential still grants access (docs/SECURITY.md, "Streams").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Milliseconds between heartbeats: a keep-alive comment (so proxies keep idle streams
    /// open) and a re-check of the stream's credential.
    pub heartbeat_ms: u64,
    /// How long a replica trusts a credential's last check (a stream's verdict, an org
    /// API token found by hash) before asking Postgres again.
    /// Revocations clear it at once on every replica (through Redis), so this bounds
    /// staleness only when that message is lost.
    pub access_cache_ms: u64,
    /// Streams one credential (an org API token, or a person's sign-in session) may hold
    /// open at once, across replicas; one more answers 429 `too_many_streams`.
    pub max_per_credential: u32,
    /// Streams one org may hold open at once, across replicas and credentials.
    pub max_per_org: u32,
}

/// Where the scheduler gets workers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityBackend {
    /// Worker processes on this machine (the embedded default).
    Local,
    /// No capacity management: workers are started by someone else.
    External,
    /// A Kubernetes Job per attempt plus a warm pool of idle worker pods, with leader
    /// election among scheduler replicas (`scheduler.kubernetes`).
    Kubernetes,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// The fallback dispatch poll. Writers wake the scheduler over Redis pub/sub when an
    /// attempt is queued or a slot frees, so this only bounds how long work waits when a
    /// wake is lost (Redis down or reconnecting; pub/sub keeps nothing).
    pub tick_ms: u64,
    /// Most attempts moved from queued to scheduled in one dispatch round.
    pub batch_size: i64,
    pub backend: CapacityBackend,
    /// Worker processes the local backend keeps alive.
    pub local_workers: usize,
    /// The worker binary the local backend starts; defaults to `switchyard-worker` beside
    /// the running executable.
    pub worker_bin: Option<PathBuf>,
    /// A scheduled attempt whose queue entry sat unclaimed this long is delivered again.
    pub redeliver_after_ms: u64,
    /// Where the scheduler serves `/metrics` (queue wait, lease expiries, S3 and Redis
    /// errors); unset serves none. An internal address: keep it off the public network.
    #[serde(default)]
    pub metrics_bind: Option<String>,
    /// The `kubernetes` backend: where its Jobs run, how they are sized and contained.
    pub kubernetes: KubernetesSettings,
}

/// The Kubernetes capacity backend (`scheduler.backend = "kubernetes"`): a Job per
/// attempt, a warm pool of idle worker pods, one leader among scheduler replicas, and an
/// egress NetworkPolicy per org. Every object it makes lives in `namespace` and carries
/// `app.kubernetes.io/managed-by: switchyard-scheduler`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Where Jobs, Pods, the Lease and NetworkPolicies go; the kubeconfig's (or the
    /// service account's) namespace when unset.
    pub namespace: Option<String>,
    /// A kubeconfig file; unset means in-cluster credentials, else `KUBECONFIG` or
    /// `~/.kube/config` (kube's usual inference).
    pub kubeconfig: Option<PathBuf>,
    /// `app.kubernetes.io/instance` on every object made, so two releases in one
    /// namespace never touch each other's Jobs.
    pub instance: String,
    /// The worker image of a resource class that names none.
    pub worker_image: String,
    /// `Always`, `IfNotPresent` or `Never`; the cluster's default when unset.
    pub image_pull_policy: Option<String>,
    /// Secrets (in `namespace`) the kubelet pulls worker images with.
    #[serde(default)]
    pub image_pull_secrets: Vec<String>,
    /// The worker pods' service account (it needs no API rights; its token is never
    /// mounted). The namespace's `default` when unset.
    pub service_account: Option<String>,
    /// A ConfigMap whose keys become the worker's environment (`SWITCHYARD__…`).
    pub worker_config_map: Option<String>,
    /// A Secret whose keys become the worker's environment (database URL, S3 keys, …).
    pub worker_secret: Option<String>,
    /// How worker pods hold the attempt sandbox (docs/DEPLOY.md, "Worker pods").
    pub sandbox: PodSandboxSettings,
    /// The class of an attempt whose profile names none.
    pub default_resource_class: String,
    /// Worker sizes by name, as profiles name them in `resource_class`.
    pub resource_classes: BTreeMap<String, ResourceClass>,
    /// `ttlSecondsAfterFinished` of every Job: how long a finished Job and its pod (and
    /// logs) stay for `kubectl` before Kubernetes removes them.
    pub job_ttl_secs: i32,
    /// Added to `worker.limits.wall_clock_secs` for a Job's `activeDeadlineSeconds`:
    /// image pull, clone and setup time before the agent's own clock starts.
    pub deadline_slack_secs: i64,
    /// Most worker pods (Jobs and warm pods together) the scheduler keeps at once.
    pub max_pods: usize,
    /// Most worker pods one org may hold at once (on top of the org's own limit).
    pub max_pods_per_org: usize,
    /// How long an attempt left to the warm pool may wait for an idle warm pod to claim
    /// it before it gets a Job of its own.
    pub warm_claim_timeout_ms: u64,
    /// A container that cannot pull its image for this long fails its attempt (pulls are
    /// retried by the kubelet meanwhile).
    pub image_pull_grace_secs: u64,
    /// A full reconcile at least this often, watch events or not.
    pub resync_ms: u64,
    /// First and longest wait before a reconcile that hit an API error is tried again.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    pub leader: LeaderSettings,
    pub egress: EgressSettings,
}

/// The worker pod's share of the attempt sandbox. The worker runs as root inside the
/// pod's user namespace (`hostUsers: false`), holding only the capabilities the sandbox
/// needs; each attempt runs as `uid` in namespaces of its own.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PodSandboxSettings {
    /// The uid and gid attempts run as in a worker pod (its `worker.sandbox.uid_base`,
    /// with one uid: a pod runs one attempt). A pod's user namespace maps only 0-65535,
    /// so it must lie in 1-65533 (65534 is `nobody`).
    pub uid: u32,
    /// The worker container's seccomp profile. The runtime's default allows `unshare`
    /// and `mount` to a process holding `CAP_SYS_ADMIN` on containerd and CRI-O; a
    /// runtime whose default refuses them needs `Unconfined` or a `Localhost` profile.
    pub seccomp_profile: ProfileKind,
    /// The profile file (relative to the kubelet's seccomp directory) for `Localhost`.
    pub seccomp_localhost_profile: Option<String>,
    /// The worker container's AppArmor profile on nodes that enforce AppArmor. The
    /// runtimes' default profiles deny every `mount`, which the sandbox needs for its
    /// private /proc and /tmp (inside the pod's user namespace): `Unconfined` by default,
    /// or a `Localhost` profile that allows those mounts.
    pub apparmor_profile: ProfileKind,
    /// The name of the loaded AppArmor profile for `Localhost`.
    pub apparmor_localhost_profile: Option<String>,
}

/// A seccomp or AppArmor profile type, as Kubernetes names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ProfileKind {
    /// The container runtime's default profile.
    RuntimeDefault,
    /// No profile.
    Unconfined,
    /// A profile on the node, named by the matching `*_localhost_profile` setting.
    Localhost,
}

impl ProfileKind {
    /// The name Kubernetes uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::RuntimeDefault => "RuntimeDefault",
            ProfileKind::Unconfined => "Unconfined",
            ProfileKind::Localhost => "Localhost",
        }
    }
}

/// One worker size: what its pods request and may use, and where they may run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceClass {
    /// The worker image for this class; `worker_image` when unset.
    pub image: Option<String>,
    /// Kubernetes quantities (`500m`, `2`, `4Gi`).
    pub cpu_request: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub memory_limit: String,
    pub ephemeral_storage_request: String,
    pub ephemeral_storage_limit: String,
    /// A sandboxing runtime (`gvisor`, `kata`) when the cluster has one.
    pub runtime_class_name: Option<String>,
    /// Node labels the pods must match.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate (dedicated agent nodes, say).
    #[serde(default)]
    pub tolerations: Vec<TolerationSetting>,
    /// Idle worker pods of this class kept ready to claim an attempt at once.
    pub warm_pods: usize,
}

/// A pod toleration, in Kubernetes' own terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TolerationSetting {
    pub key: Option<String>,
    /// `Equal` (the default) or `Exists`.
    pub operator: Option<String>,
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; every effect when unset.
    pub effect: Option<String>,
    pub toleration_seconds: Option<i64>,
}

/// Leader election among scheduler replicas through a `coordination.k8s.io/v1` Lease:
/// only the holder dispatches, reaps and reconciles.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderSettings {
    pub lease_name: String,
    /// This replica's name in the Lease; the host name (the pod's name) when unset.
    pub identity: Option<String>,
    /// A holder that has not renewed for this long has lost the lease.
    pub lease_duration_secs: u64,
    /// How often the holder renews (and others look).
    pub renew_every_ms: u64,
}

/// Default-deny egress for worker pods, and what they may reach.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressSettings {
    /// Off: no NetworkPolicies are made (the cluster's own policy applies).
    pub enabled: bool,
    /// Labels of the cluster DNS pods (in any namespace) workers may query on port 53.
    pub dns_pod_labels: BTreeMap<String, String>,
    /// Extra DNS addresses (a node-local cache), as CIDRs.
    #[serde(default)]
    pub dns_cidrs: Vec<String>,
    /// Also allow the hosts of `database.url`, `redis.url`, `s3.endpoint` and the OTLP
    /// endpoint, as the scheduler's own settings name them (the workers get the same).
    pub platform_from_settings: bool,
    /// What else the worker itself needs; in-cluster services are best named by
    /// `pod_labels` (a policy sees pod addresses, not Service ClusterIPs).
    #[serde(default)]
    pub platform: Vec<EgressPeer>,
    /// Reachable from every org's workers: model APIs and shared git hosts. Each org's
    /// policy adds the hosts of its own repositories.
    #[serde(default)]
    pub allow: Vec<EgressPeer>,
    /// Host names are resolved to addresses at most this often (NetworkPolicies take
    /// addresses, not names).
    pub refresh_secs: u64,
    /// The cluster's pod and Service CIDRs: never opened to an org's repository hosts
    /// (tenant input), even where they are public addresses.
    #[serde(default)]
    pub pod_cidrs: Vec<String>,
    #[serde(default)]
    pub service_cidrs: Vec<String>,
}

/// Something worker pods may connect to: a host name, an address or a CIDR (`to`), or
/// pods by label (`pod_labels`, optionally in namespaces by label), on `ports` (TCP).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EgressPeer {
    pub to: Option<String>,
    pub pod_labels: Option<BTreeMap<String, String>>,
    pub namespace_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Bare repository caches and worktrees live below this folder.
    pub data_dir: PathBuf,
    /// Names this worker in leases; defaults to host name and process id.
    pub id: Option<String>,
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    /// Once asked to stop (SIGTERM), how long the attempt in flight may go on to its end
    /// before it is aborted and handed back for a retry elsewhere. The grace its host
    /// gives the worker (the local backend's, the worker pod's) is this plus a margin.
    pub drain_secs: u64,
    pub limits: ExecutionLimits,
    /// Log entries are shipped to the object store in segments of at most this many
    /// entries, or after `segment_flush_ms`, whichever comes first.
    pub segment_max_entries: usize,
    pub segment_flush_ms: u64,
    /// Most bytes of log entries kept for one process; past it the log ends with a
    /// system message saying so, the rest of the output is dropped, and the process is
    /// marked `log_truncated`.
    pub max_log_bytes_per_process: u64,
    /// Most bytes of log entries a process may have published but not yet stored (the
    /// object store unreachable): past it the process's output waits, and its log ends
    /// with a message saying for how long.
    pub max_unstored_log_bytes: u64,
    /// How long a finishing process or attempt keeps retrying the object store for its
    /// last log segment and its final diff before ending without them (and saying so).
    pub store_patience_secs: u64,
    /// The diff is recomputed at most this often while an executor runs.
    pub diff_interval_ms: u64,
    /// Files of a diff shown with their hunks; the files past it keep their path and line
    /// counts only, and the diff is marked `truncated`.
    pub diff_max_files: usize,
    /// Bytes of hunk lines a diff holds; files past it keep their path and line counts
    /// only, and the diff is marked `truncated`.
    pub diff_max_bytes: usize,
    /// Exit after this many attempts (0 = never); used by one-shot pods.
    pub max_attempts: u64,
    /// Replaces the program an agent is started with (executor name → argv prefix), for
    /// a local install or the fake agents of the tests; the arguments stay the real tool's.
    #[serde(default)]
    pub agent_commands: std::collections::HashMap<String, Vec<String>>,
    /// Caches the agents share across attempts, prepared beforehand and only read by them
    /// (scripts/lib/agents.sh): `copilot/` holds Copilot CLI's unpacked package, which it
    /// would otherwise unpack (~235 MB) into every attempt's home. Unset leaves the agents
    /// alone. Outside /tmp and the data dir, which the sandbox hides.
    #[serde(default)]
    pub agent_cache_dir: Option<PathBuf>,
    /// How long a supervised tool call waits for a decision before it is denied.
    pub approval_timeout_secs: u64,
    /// Take only attempts of this resource class from the queue (a warm pod of that
    /// class); unset takes any attempt.
    pub resource_class: Option<String>,
    /// How everything an attempt runs is kept away from the platform and from other
    /// attempts (docs/SECURITY.md).
    #[serde(default)]
    pub sandbox: SandboxSettings,
}

/// The sandbox every attempt process runs in: its own unprivileged uid, and (with
/// `namespaces`) its own pid, mount, network, IPC and UTS namespaces.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// Off only for development on a machine where the worker is not root; the worker
    /// then runs attempts as itself and says so at start.
    pub enabled: bool,
    /// Attempts run as uids (and gids) `uid_base .. uid_base + uid_count`, one per
    /// attempt running on this host at a time. The range must belong to nobody else.
    pub uid_base: u32,
    pub uid_count: u32,
    /// New pid, mount, network, IPC and UTS namespaces per attempt: the attempt sees only
    /// its own processes, files and loopback; off where the worker lacks `CAP_SYS_ADMIN`.
    pub namespaces: bool,
    /// Host loopback ports that the sandbox's own 127.0.0.1 forwards to (a local model
    /// gateway; the tests' model API fakes). Empty in production.
    pub loopback_ports: Vec<u16>,
    /// Outbound connections through the worker's egress proxy (HTTP and CONNECT): `public`
    /// lets attempts reach public addresses only; `none` refuses everything.
    pub egress: SandboxEgress,
}

/// What the sandbox's egress proxy lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxEgress {
    /// Public addresses on any port; never loopback, private, link-local, CGNAT or ULA.
    Public,
    /// No outbound connection at all.
    None,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            enabled: true,
            uid_base: 200_000,
            uid_count: 1_024,
            namespaces: true,
            loopback_ports: Vec::new(),
            egress: SandboxEgress::Public,
        }
    }
}

/// Resource limits applied to every executor process group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionLimits {
    pub cpu_seconds: u64,
    pub memory_mb: u64,
    pub open_files: u64,
    pub processes: u64,
    pub wall_clock_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Compact,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is unset.
    pub filter: String,
    /// OTLP/HTTP endpoint; falls back to `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
}

/// Keys that seal org secrets at rest (AES-256-GCM; see `crate::secrets`).
///
/// Each key is 32 random bytes, base64-encoded (`openssl rand -base64 32`), under a key
/// id that is stored beside every secret it sealed. To rotate: add the new key, point
/// `active_key_id` at it (new writes use it; older secrets still open with their own
/// key), re-seal the old rows, then drop the old key. From the environment:
/// `SWITCHYARD__SECRETS__KEYS__<ID>=<base64>` (the id arrives lower-cased) and
/// `SWITCHYARD__SECRETS__ACTIVE_KEY_ID=<id>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// The key new secrets are sealed with; may be left out when exactly one key is set.
    pub active_key_id: Option<String>,
    /// Key id → base64 of 32 bytes. (An empty map layers as nothing: hence the default.)
    #[serde(default, serialize_with = "serialize_secret_map")]
    pub keys: BTreeMap<String, SecretString>,
    /// DEVELOPMENT ONLY (needs `development`). When no key is configured and this is
    /// true, secrets are sealed with a fixed key compiled into the binary (id `dev`). That
    /// key is public.
    pub allow_dev_key: bool,
}

/// People's sign-in sessions (docs/PERMISSIONS.md, docs/API.md "Auth and scopes").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Access-token signing keys for HS256: key id → secret of at least 32 bytes. Tokens
    /// name their key (`kid`), so a new key can be added, made active, and the old one
    /// dropped once its tokens have expired. Empty: the api refuses to start, except in
    /// `development`, where a random per-process key is made up.
    #[serde(default, serialize_with = "serialize_secret_map")]
    pub signing_keys: BTreeMap<String, SecretString>,
    /// The key new tokens are signed with; may be left out when exactly one key is set.
    pub active_key_id: Option<String>,
    /// Lifetime of an access token (a signed JWT, checked without a lookup of its own).
    pub access_ttl_secs: u64,
    /// Lifetime of a sign-in session; its rotating refresh tokens never outlive it.
    pub session_ttl_secs: u64,
    /// Marks cookies `Secure`. Browsers accept Secure cookies from http://localhost too.
    pub cookie_secure: bool,
    /// DEVELOPMENT ONLY (needs `development`): `POST /api/v1/auth/dev/login` signs anyone
    /// in by login, without GitHub.
    pub dev_login: bool,
    /// How long an invitation can be accepted.
    pub invitation_ttl_secs: u64,
}

/// GitHub: OAuth sign-in for people, and the GitHub App (installations, webhooks,
/// installation tokens). Secrets come only from the file or the environment
/// (`SWITCHYARD__GITHUB__PRIVATE_KEY`, `SWITCHYARD__GITHUB__WEBHOOK_SECRET`, ...).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSettings {
    /// Where people sign in (`https://github.com`, or a GitHub Enterprise host).
    pub web_url: String,
    /// The REST API (`https://api.github.com`).
    pub api_url: String,
    /// The OAuth app's (or GitHub App's) client id; sign-in with GitHub is off without it.
    pub client_id: Option<String>,
    #[serde(serialize_with = "serialize_opt_secret")]
    pub client_secret: Option<SecretString>,
    /// The GitHub App's numeric id (the `iss` of its JWTs); the App is off without it.
    pub app_id: Option<u64>,
    /// The App's URL name (`github.com/apps/<slug>`), for the install link.
    pub app_slug: Option<String>,
    /// The App's private key (PEM, RSA), which signs its JWTs.
    #[serde(serialize_with = "serialize_opt_secret")]
    pub private_key: Option<SecretString>,
    /// A file holding that PEM instead (a mounted Kubernetes secret); `private_key` wins.
    pub private_key_file: Option<PathBuf>,
    /// The secret GitHub signs webhook deliveries with (`X-Hub-Signature-256`).
    #[serde(serialize_with = "serialize_opt_secret")]
    pub webhook_secret: Option<SecretString>,
    pub webhooks: GithubWebhookSettings,
}

/// How webhook deliveries are taken in, processed and recovered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GithubWebhookSettings {
    /// Largest delivery body accepted; bigger ones answer 413 unread. GitHub caps
    /// payloads at 25 MB, but the events handled here are a few KiB: a body is held in
    /// memory before its signature can be checked, so this stays small.
    pub max_body_bytes: usize,
    /// Deliveries whose bodies are read at once by one replica; one more answers 503
    /// `webhook_busy` with `Retry-After` (GitHub's delivery fails; the redelivery sweeper
    /// asks for it again).
    pub max_concurrent_reads: usize,
    /// The whole body must arrive within this many milliseconds of the request head, or
    /// the delivery answers 408 `body_timeout` (a slow sender holds a read slot).
    pub body_timeout_ms: u64,
    /// How often each api replica looks for deliveries another replica took in.
    pub poll_ms: u64,
    /// Deliveries claimed at once by one processor.
    pub batch_size: i64,
    /// Processing attempts before a delivery is left `failed` for good.
    pub max_attempts: i32,
    /// The first retry waits this long; each later one twice as long (capped at an hour).
    pub retry_base_ms: u64,
    /// A delivery left `processing` this long (its replica died) is taken back.
    pub lease_secs: u64,
    /// How often the redelivery sweeper lists GitHub's recent deliveries (0: never).
    pub redelivery_interval_secs: u64,
    /// How far back the sweeper looks (GitHub redelivers deliveries up to 3 days old).
    pub redelivery_lookback_secs: u64,
    /// Most redeliveries one sweep asks for.
    pub redelivery_max_per_sweep: usize,
    /// Processed and ignored deliveries are deleted after this many days.
    pub retention_days: u32,
}

/// Request budgets shared by every api replica through Redis; over budget answers 429.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Requests per minute for one org API token.
    pub token_per_minute: u32,
    /// Requests per minute for one signed-in person, across their sessions.
    pub user_per_minute: u32,
    /// Requests per minute from one source address, whoever the caller is.
    pub address_per_minute: u32,
}

/// What tenants may ask for themselves: the operator's ceilings on the settings people
/// choose (docs/OPERATIONS.md, "Quotas"). Each one is checked where the tenant sets the
/// value, and answers 422 with a stable code past it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// Most orgs one person may create.
    pub max_orgs_per_person: i64,
    /// The highest `max_concurrent_attempts` an org may set for itself (the scheduler's
    /// per-org slots: each one can hold a worker).
    pub max_concurrent_attempts: i32,
    /// Resource classes a profile may name in every org; a profile naming none runs in
    /// the default class, which is always allowed.
    pub allowed_resource_classes: Vec<String>,
    /// Orgs (by slug) allowed other classes than `allowed_resource_classes`: the list
    /// replaces the default one for that org.
    #[serde(default)]
    pub org_resource_classes: BTreeMap<String, Vec<String>>,
}

impl QuotaSettings {
    /// Whether org `slug` may run attempts in resource class `class`.
    pub fn allows_class(&self, slug: &str, class: &str) -> bool {
        self.org_resource_classes
            .get(slug)
            .unwrap_or(&self.allowed_resource_classes)
            .iter()
            .any(|c| c == class)
    }
}

/// Settings are serialized only to layer the defaults under file and environment, so the
/// secret has to round-trip; `Debug` still redacts it.
fn serialize_secret<S: serde::Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    s.serialize_str(v.expose_secret())
}

/// As [`serialize_secret`], for an optional secret.
fn serialize_opt_secret<S: serde::Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    match v {
        Some(v) => s.serialize_some(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// As [`serialize_secret`], for a map of secrets.
fn serialize_secret_map<S: serde::Serializer>(
    v: &BTreeMap<String, SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use secrecy::ExposeSecret;
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(v.len()))?;
    for (id, key) in v {
        map.serialize_entry(id, key.expose_secret())?;
    }
    map.end()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            development: false,
            database: DatabaseSettings {
                url: "postgres://switchyard_app@127.0.0.1:5432/switchyard".into(),
                migration_url: None,
                pool_size: 16,
                pool_timeout_ms: 5_000,
                statement_timeout_ms: 30_000,
                prepared_statement_cache: true,
            },
            redis: RedisSettings {
                url: "redis://127.0.0.1:6379/".into(),
                prefix: "sy".into(),
            },
            s3: S3Settings {
                endpoint: None,
                region: "us-east-1".into(),
                bucket: "switchyard".into(),
                access_key: "switchyard".into(),
                secret_key: SecretString::from("switchyard-secret"),
                force_path_style: true,
            },
            api: ApiSettings {
                bind: "127.0.0.1:8080".into(),
                public_url: "http://127.0.0.1:8080".into(),
                max_body_bytes: 1024 * 1024,
                streams: StreamSettings {
                    heartbeat_ms: 15_000,
                    access_cache_ms: 30_000,
                    max_per_credential: 20,
                    max_per_org: 500,
                },
                web_dir: None,
                allow_private_repository_hosts: false,
                token_expiry_days: 90,
                trusted_proxies: Vec::new(),
            },
            scheduler: SchedulerSettings {
                // Only for lost wakes: one indexed query a second when idle.
                tick_ms: 1_000,
                batch_size: 500,
                backend: CapacityBackend::Local,
                local_workers: 2,
                worker_bin: None,
                redeliver_after_ms: 30_000,
                metrics_bind: None,
                kubernetes: KubernetesSettings::default(),
            },
            worker: WorkerSettings {
                data_dir: PathBuf::from(".dev/worker"),
                id: None,
                lease_ms: 30_000,
                heartbeat_ms: 5_000,
                drain_secs: 20,
                limits: ExecutionLimits {
                    cpu_seconds: 3_600,
                    memory_mb: 4_096,
                    open_files: 4_096,
                    processes: 512,
                    wall_clock_secs: 3_600,
                },
                segment_max_entries: 2_000,
                segment_flush_ms: 500,
                max_log_bytes_per_process: 64 * 1024 * 1024,
                max_unstored_log_bytes: 32 * 1024 * 1024,
                store_patience_secs: 600,
                diff_interval_ms: 1_000,
                diff_max_files: 300,
                diff_max_bytes: 2 * 1024 * 1024,
                max_attempts: 0,
                agent_commands: std::collections::HashMap::new(),
                agent_cache_dir: None,
                approval_timeout_secs: 600,
                resource_class: None,
                sandbox: SandboxSettings::default(),
            },
            telemetry: TelemetrySettings {
                format: LogFormat::Compact,
                filter: "info".into(),
                otlp_endpoint: None,
            },
            secrets: SecretsSettings {
                active_key_id: None,
                keys: BTreeMap::new(),
                allow_dev_key: false,
            },
            auth: AuthSettings {
                signing_keys: BTreeMap::new(),
                active_key_id: None,
                access_ttl_secs: 15 * 60,
                session_ttl_secs: 30 * 24 * 3600,
                cookie_secure: true,
                dev_login: false,
                invitation_ttl_secs: 7 * 24 * 3600,
            },
            github: GithubSettings {
                web_url: "https://github.com".into(),
                api_url: "https://api.github.com".into(),
                client_id: None,
                client_secret: None,
                app_id: None,
                app_slug: None,
                private_key: None,
                private_key_file: None,
                webhook_secret: None,
                webhooks: GithubWebhookSettings {
                    max_body_bytes: 2 * 1024 * 1024,
                    max_concurrent_reads: 32,
                    body_timeout_ms: 10_000,
                    poll_ms: 1_000,
                    batch_size: 16,
                    max_attempts: 8,
                    retry_base_ms: 5_000,
                    lease_secs: 300,
                    redelivery_interval_secs: 600,
                    redelivery_lookback_secs: 6 * 3600,
                    redelivery_max_per_sweep: 50,
                    retention_days: 30,
                },
            },
            rate_limit: RateLimitSettings {
                enabled: true,
                token_per_minute: 1_200,
                user_per_minute: 1_200,
                address_per_minute: 3_000,
            },
            quotas: QuotaSettings {
                max_orgs_per_person: 10,
                max_concurrent_attempts: 20,
                allowed_resource_classes: vec!["small".into(), "medium".into()],
                org_resource_classes: BTreeMap::new(),
            },
        }
    }
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        let class = |cpu: (&str, &str), memory: (&str, &str), disk: (&str, &str)| ResourceClass {
            image: None,
            cpu_request: cpu.0.into(),
            cpu_limit: cpu.1.into(),
            memory_request: memory.0.into(),
            memory_limit: memory.1.into(),
            ephemeral_storage_request: disk.0.into(),
            ephemeral_storage_limit: disk.1.into(),
            runtime_class_name: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            warm_pods: 0,
        };
        let mut resource_classes = BTreeMap::new();
        resource_classes.insert(
            "small".to_owned(),
            class(("500m", "1"), ("1Gi", "2Gi"), ("2Gi", "4Gi")),
        );
        resource_classes.insert(
            "medium".to_owned(),
            class(("1", "2"), ("2Gi", "4Gi"), ("5Gi", "10Gi")),
        );
        resource_classes.insert(
            "large".to_owned(),
            class(("2", "4"), ("4Gi", "8Gi"), ("10Gi", "20Gi")),
        );
        KubernetesSettings {
            namespace: None,
            kubeconfig: None,
            instance: "switchyard".into(),
            worker_image: "ghcr.io/switchyard/worker:latest".into(),
            image_pull_policy: None,
            image_pull_secrets: Vec::new(),
            service_account: Some("switchyard-worker".into()),
            worker_config_map: Some("switchyard-worker".into()),
            worker_secret: Some("switchyard-worker".into()),
            sandbox: PodSandboxSettings {
                uid: 60_000,
                seccomp_profile: ProfileKind::RuntimeDefault,
                seccomp_localhost_profile: None,
                apparmor_profile: ProfileKind::Unconfined,
                apparmor_localhost_profile: None,
            },
            default_resource_class: "medium".into(),
            resource_classes,
            job_ttl_secs: 3_600,
            deadline_slack_secs: 600,
            max_pods: 200,
            max_pods_per_org: 50,
            warm_claim_timeout_ms: 5_000,
            image_pull_grace_secs: 120,
            resync_ms: 1_000,
            retry_min_ms: 200,
            retry_max_ms: 30_000,
            leader: LeaderSettings {
                lease_name: "switchyard-scheduler".into(),
                identity: None,
                lease_duration_secs: 15,
                renew_every_ms: 2_000,
            },
            egress: EgressSettings {
                enabled: true,
                dns_pod_labels: BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())]),
                dns_cidrs: Vec::new(),
                platform_from_settings: true,
                platform: Vec::new(),
                allow: [
                    "api.anthropic.com",
                    "api.openai.com",
                    "generativelanguage.googleapis.com",
                    "github.com",
                    "api.github.com",
                ]
                .into_iter()
                .map(|host| EgressPeer {
                    to: Some(host.to_owned()),
                    pod_labels: None,
                    namespace_labels: None,
                    ports: vec![443],
                })
                .collect(),
                refresh_secs: 60,
                pod_cidrs: Vec::new(),
                service_cidrs: Vec::new(),
            },
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] config::ConfigError);

impl WorkerSettings {
    /// How long a worker's host waits after SIGTERM before SIGKILL: the drain, plus time
    /// for the run's teardown (its processes stopped, the last log segment stored, the
    /// attempt handed back).
    pub fn stop_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.drain_secs + 10)
    }
}

impl Settings {
    /// Loads defaults, then `SWITCHYARD_CONFIG` (a TOML file) if set, or the JSON a parent
    /// process handed over on the descriptor named by `SWITCHYARD_CONFIG_FD` (read once,
    /// then closed: settings that never touch a disk), then the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        if let Some(fd) = std::env::var("SWITCHYARD_CONFIG_FD")
            .ok()
            .and_then(|v| v.parse::<std::os::fd::RawFd>().ok())
        {
            let json = read_config_fd(fd).map_err(|e| {
                ConfigError(config::ConfigError::Message(format!(
                    "reading the settings from descriptor {fd}: {e}"
                )))
            })?;
            return Self::load_with(
                Some(config::File::from_str(&json, config::FileFormat::Json)),
                None,
            );
        }
        let file = std::env::var("SWITCHYARD_CONFIG").ok();
        Self::load_from(file.as_deref())
    }

    /// As [`Settings::load`], with the file named explicitly.
    pub fn load_from(file: Option<&str>) -> Result<Settings, ConfigError> {
        Self::load_with(
            file.map(|path| config::File::with_name(path).required(true)),
            None,
        )
    }

    /// As [`Settings::load`], from a document's `text` in `format` and the variables in
    /// `env` in place of the process's environment: the same layering on inputs given
    /// as values (what a fuzz target or a test can hand it).
    pub fn load_from_text(
        text: &str,
        format: SettingsFormat,
        env: BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let format = match format {
            SettingsFormat::Toml => config::FileFormat::Toml,
            SettingsFormat::Json => config::FileFormat::Json,
        };
        Self::load_with(Some(config::File::from_str(text, format)), Some(env))
    }

    /// The layering: defaults, `source`, then `SWITCHYARD__*` variables of `env` (the
    /// process's environment when `None`).
    fn load_with<S>(
        source: Option<S>,
        env: Option<BTreeMap<String, String>>,
    ) -> Result<Settings, ConfigError>
    where
        S: config::Source + Send + Sync + 'static,
    {
        let mut builder = config::Config::builder().add_source(defaults_layer()?);
        if let Some(source) = source {
            builder = builder.add_source(source);
        }
        let otlp_endpoint = match &env {
            Some(vars) => vars.get("OTEL_EXPORTER_OTLP_ENDPOINT").cloned(),
            None => std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok(),
        };
        builder = builder.add_source(
            config::Environment::with_prefix("SWITCHYARD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(env.map(|vars| vars.into_iter().collect())),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if settings.telemetry.otlp_endpoint.is_none() {
            settings.telemetry.otlp_endpoint = otlp_endpoint;
        }
        Ok(settings)
    }
}

/// The defaults as the first layer. Building it sends every setting through `config`'s
/// serializer, which costs more than the rest of a load; the defaults never change, so it
/// is built once per process.
fn defaults_layer() -> Result<config::Config, ConfigError> {
    static DEFAULTS: std::sync::OnceLock<config::Config> = std::sync::OnceLock::new();
    if let Some(defaults) = DEFAULTS.get() {
        return Ok(defaults.clone());
    }
    let built = config::Config::try_from(&Settings::default())?;
    Ok(DEFAULTS.get_or_init(|| built).clone())
}

/// The formats a settings document may be in: TOML (`SWITCHYARD_CONFIG`), or JSON (the
/// settings a parent process hands its workers, `SWITCHYARD_CONFIG_FD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsFormat {
    Toml,
    Json,
}

/// What a process needs of the settings that [`Settings::check_mode`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// Seals org secrets, signs sessions, offers the development sign-in.
    Api,
    /// Opens org secrets.
    Worker,
    /// Neither.
    Scheduler,
}

impl Settings {
    /// Refuses to run `process` on development shortcuts outside `development`, and
    /// `development` anywhere but on a loopback `api.public_url`: a binary started with
    /// nothing but a few environment variables must not seal secrets with the public
    /// key, sign people in by name, or make up its signing keys.
    pub fn check_mode(&self, process: Process) -> Result<(), ConfigError> {
        let refuse = |why: String| Err(ConfigError(config::ConfigError::Message(why)));
        if self.development {
            if !is_loopback_url(&self.api.public_url) {
                return refuse(format!(
                    "development = true needs a loopback api.public_url (http://127.0.0.1:…, \
                     http://localhost:…), not {:?}: development mode is for one machine",
                    self.api.public_url
                ));
            }
            return Ok(());
        }
        let outside = "outside development mode (development = true, on a loopback api.public_url)";
        if self.secrets.allow_dev_key {
            return refuse(format!(
                "secrets.allow_dev_key seals secrets with a public key: refused {outside}"
            ));
        }
        if process == Process::Api && self.auth.dev_login {
            return refuse(format!(
                "auth.dev_login signs anyone in by name: refused {outside}"
            ));
        }
        if matches!(process, Process::Api | Process::Worker) && self.secrets.keys.is_empty() {
            return refuse(format!(
                "secrets.keys is empty: org secrets need a real key \
                 (SWITCHYARD__SECRETS__KEYS__<ID>=$(openssl rand -base64 32)) {outside}"
            ));
        }
        if process == Process::Api && self.auth.signing_keys.is_empty() {
            return refuse(format!(
                "auth.signing_keys is empty: sessions need a key every replica shares \
                 (SWITCHYARD__AUTH__SIGNING_KEYS__<ID>, at least 32 bytes) {outside}"
            ));
        }
        Ok(())
    }

    /// True when the api may serve project repositories from its own file system: in
    /// development only (a tenant must not read the server's disk).
    pub fn allows_local_repositories(&self) -> bool {
        self.development
    }
}

/// True for an http(s) URL whose host is a loopback address or `localhost`.
fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// Reads the whole of an inherited descriptor and closes it.
fn read_config_fd(fd: std::os::fd::RawFd) -> std::io::Result<String> {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::FileExt;
    // SAFETY: the parent passed this descriptor to us for exactly this; we own it now.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    // Sibling processes share the descriptor's offset: read by position, not by cursor.
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut chunk, bytes.len() as u64)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(bytes).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_keys_load_from_a_file_and_default_to_the_dev_key_flag() {
        let defaults = Settings::default();
        assert!(defaults.secrets.keys.is_empty());
        assert!(!defaults.secrets.allow_dev_key, "the public key is opt-in");

        let dir = std::env::temp_dir().join(format!("sy-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("switchyard.toml");
        std::fs::write(
            &file,
            "[secrets]\nactive_key_id = \"k2\"\nallow_dev_key = false\n\
             [secrets.keys]\nk1 = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n\
             k2 = \"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\"\n",
        )
        .expect("write config");
        let loaded = Settings::load_from(file.to_str()).expect("load");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(loaded.secrets.active_key_id.as_deref(), Some("k2"));
        assert!(!loaded.secrets.allow_dev_key);
        let ids: Vec<&str> = loaded.secrets.keys.keys().map(String::as_str).collect();
        assert_eq!(ids, ["k1", "k2"]);
        assert!(
            loaded.secrets.keys["k1"]
                .expose_secret()
                .starts_with("AQEB")
        );
        // Key material never shows in the debug form.
        assert!(!format!("{loaded:?}").contains("AQEB"));
    }

    #[test]
    fn quotas_load_from_a_file_and_an_org_list_replaces_the_default_one() {
        let dir = std::env::temp_dir().join(format!("sy-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("switchyard.toml");
        std::fs::write(
            &file,
            r#"
[quotas]
max_orgs_per_person = 3
allowed_resource_classes = ["small"]
org_resource_classes = { acme = ["small", "large"] }
"#,
        )
        .expect("write config");
        let loaded = Settings::load_from(file.to_str()).expect("load");
        std::fs::remove_dir_all(&dir).ok();
        let q = &loaded.quotas;
        assert_eq!(q.max_orgs_per_person, 3);
        assert_eq!(q.max_concurrent_attempts, 20, "the default stays");
        assert_eq!(
            q.allowed_resource_classes,
            ["small"],
            "the list replaces the default one"
        );
        assert!(q.allows_class("globex", "small"));
        assert!(!q.allows_class("globex", "medium"));
        assert!(q.allows_class("acme", "large"));
        assert!(!q.allows_class("acme", "medium"));
    }

    #[test]
    fn kubernetes_resource_classes_load_from_a_file_beside_the_defaults() {
        let dir = std::env::temp_dir().join(format!("sy-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("switchyard.toml");
        std::fs::write(
            &file,
            r#"
[scheduler]
backend = "kubernetes"

[scheduler.kubernetes]
namespace = "agents"
default_resource_class = "small"

[scheduler.kubernetes.resource_classes.gpu]
image = "registry.example/worker-gpu:1"
cpu_request = "4"
cpu_limit = "8"
memory_request = "16Gi"
memory_limit = "32Gi"
ephemeral_storage_request = "50Gi"
ephemeral_storage_limit = "100Gi"
runtime_class_name = "gvisor"
warm_pods = 1
node_selector = { "node.kubernetes.io/instance-type" = "g5.xlarge", "switchyard.dev/pool" = "gpu" }
tolerations = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]

[[scheduler.kubernetes.egress.platform]]
to = "10.0.0.0/16"
ports = [5432, 6379]
"#,
        )
        .expect("write config");
        let loaded = Settings::load_from(file.to_str()).expect("load");
        std::fs::remove_dir_all(&dir).ok();
        let k = &loaded.scheduler.kubernetes;
        assert_eq!(loaded.scheduler.backend, CapacityBackend::Kubernetes);
        assert_eq!(k.namespace.as_deref(), Some("agents"));
        let names: Vec<&str> = k.resource_classes.keys().map(String::as_str).collect();
        assert_eq!(names, ["gpu", "large", "medium", "small"], "defaults stay");
        let gpu = &k.resource_classes["gpu"];
        assert_eq!(gpu.runtime_class_name.as_deref(), Some("gvisor"));
        assert_eq!(
            gpu.node_selector
                .get("node.kubernetes.io/instance-type")
                .map(String::as_str),
            Some("g5.xlarge"),
            "label keys with dots stay whole: {:?}",
            gpu.node_selector
        );
        assert_eq!(gpu.tolerations[0].key.as_deref(), Some("nvidia.com/gpu"));
        assert_eq!(k.egress.platform[0].ports, [5432, 6379]);
        assert!(!k.egress.allow.is_empty(), "default allowlist kept");
        assert_eq!(
            k.egress.dns_pod_labels.get("k8s-app").map(String::as_str),
            Some("kube-dns")
        );
    }

    #[test]
    fn development_shortcuts_are_refused_outside_development_mode() {
        let mut s = Settings::default();
        s.secrets
            .keys
            .insert("k1".into(), SecretString::from("a".repeat(44)));
        s.auth
            .signing_keys
            .insert("s1".into(), SecretString::from("b".repeat(32)));
        s.api.public_url = "https://switchyard.example.com".into();
        assert!(
            s.check_mode(Process::Api).is_ok(),
            "a real deployment starts"
        );

        let bare = Settings::default();
        let err = bare
            .check_mode(Process::Api)
            .expect_err("env-only api")
            .to_string();
        assert!(err.contains("secrets.keys is empty"), "{err}");
        let err = bare
            .check_mode(Process::Worker)
            .expect_err("env-only worker")
            .to_string();
        assert!(err.contains("secrets.keys is empty"), "{err}");
        assert!(bare.check_mode(Process::Scheduler).is_ok());

        let mut login = s.clone();
        login.auth.dev_login = true;
        let err = login
            .check_mode(Process::Api)
            .expect_err("dev login")
            .to_string();
        assert!(err.contains("auth.dev_login"), "{err}");
        let mut dev_key = s.clone();
        dev_key.secrets.allow_dev_key = true;
        assert!(dev_key.check_mode(Process::Worker).is_err());
        let mut unsigned = s.clone();
        unsigned.auth.signing_keys.clear();
        let err = unsigned
            .check_mode(Process::Api)
            .expect_err("no signing key")
            .to_string();
        assert!(err.contains("auth.signing_keys"), "{err}");

        let mut dev = Settings {
            development: true,
            ..Settings::default()
        };
        dev.auth.dev_login = true;
        dev.secrets.allow_dev_key = true;
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:3000",
            "http://[::1]:8080",
        ] {
            dev.api.public_url = url.into();
            assert!(dev.check_mode(Process::Api).is_ok(), "{url}");
        }
        dev.api.public_url = "https://switchyard.example.com".into();
        let err = dev
            .check_mode(Process::Api)
            .expect_err("public dev")
            .to_string();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn text_and_an_explicit_environment_load_as_a_file_and_the_process_environment_do() {
        let env = BTreeMap::from([
            (
                "SWITCHYARD__WORKER__DIFF_MAX_FILES".to_owned(),
                "7".to_owned(),
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                "http://127.0.0.1:4317".to_owned(),
            ),
        ]);
        let loaded = Settings::load_from_text(
            "[worker]\ndiff_max_files = 3\ndiff_max_bytes = 1000\n",
            SettingsFormat::Toml,
            env,
        )
        .expect("load");
        assert_eq!(loaded.worker.diff_max_files, 7, "the environment wins");
        assert_eq!(loaded.worker.diff_max_bytes, 1000);
        assert_eq!(
            loaded.telemetry.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4317")
        );
        // What the scheduler hands its workers loads back the same.
        let json = serde_json::to_string(&loaded).expect("json");
        let again =
            Settings::load_from_text(&json, SettingsFormat::Json, BTreeMap::new()).expect("reload");
        assert_eq!(
            serde_json::to_value(&again).expect("value"),
            serde_json::to_value(&loaded).expect("value")
        );
        let err = Settings::load_from_text(
            "[worker]\nnope = 1\n",
            SettingsFormat::Toml,
            BTreeMap::new(),
        )
        .expect_err("unknown key");
        assert!(
            err.to_string().starts_with("invalid configuration: "),
            "{err}"
        );
    }

    #[test]
    fn defaults_load_without_a_file_or_environment() {
        // Every default must survive the layering (an empty map serializes to nothing).
        let loaded = Settings::load_from(None).expect("defaults load");
        assert_eq!(loaded.database.url, Settings::default().database.url);
    }
}
