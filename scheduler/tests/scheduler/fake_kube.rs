//! A local fake Kubernetes API server speaking the API's own JSON over HTTP on
//! 127.0.0.1, for what the scheduler's Kubernetes backend uses: Jobs (`batch/v1`), Pods
//! (`v1`), Leases (`coordination.k8s.io/v1`) and NetworkPolicies (`networking.k8s.io/v1`)
//! in namespaces — create, get, list, watch, replace, merge patch, delete, and the
//! `status` subresource.
//!
//! What it keeps of the real thing:
//! - one `resourceVersion` counter for everything, written on every change; a replace
//!   whose `metadata.resourceVersion` is stale answers 409 Conflict, a create that
//!   carries one is refused;
//! - `?watch=true` streams `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK","object":…}`
//!   lines from the requested version on (replaying what happened since), with
//!   bookmarks when asked, ending after `timeoutSeconds`; a version older than the last
//!   compaction answers, as the API server's watch cache does, 200 with one
//!   `ERROR` event carrying a 410 `Expired` Status;
//! - label selectors (`k=v`, `k!=v`, `k`, `!k`, `k in (…)`) on list and watch;
//! - the Job controller's part: a Job's defaults, selector and pod labels, and its one
//!   pod (`<job>-xxxxx`, owned by the Job), deleted with it unless orphaned;
//! - label transitions on filtered watches: an object modified into a watch's selector
//!   arrives as `ADDED`, one modified out of it as `DELETED`;
//! - the garbage collector's defaults: a Job deleted without a propagation policy
//!   orphans its pods (as the batch/v1 API still does), `Background` takes them along;
//! - a pod's spec fixed once made (but for images, tolerations and a shortened
//!   `activeDeadlineSeconds`): other updates are 422 Invalid;
//! - RBAC, when [`FakeKube::authorize`] is given a Role's rules: anything else is 403
//!   Forbidden, as a namespaced Role leaves it;
//! - Status errors (403 Forbidden, 404 NotFound, 409 AlreadyExists/Conflict, 410, 429
//!   with Retry-After, 500) as `{"kind":"Status",…}`.
//!
//! The test plays the kubelet and the controllers: it moves pods through their phases
//! (with the status shapes a kubelet writes: OOMKilled, ImagePullBackOff, Evicted, …),
//! finishes Jobs (Complete, DeadlineExceeded), deletes things behind the scheduler's
//! back, makes the server fail for a while, drops every watch and compacts history.
//! Every request is logged with the bearer token that made it.

#![expect(dead_code)]

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// The kinds the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Job,
    Pod,
    Lease,
    NetworkPolicy,
}

impl Kind {
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Job => "batch/v1",
            Kind::Pod => "v1",
            Kind::Lease => "coordination.k8s.io/v1",
            Kind::NetworkPolicy => "networking.k8s.io/v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Kind::Job => "Job",
            Kind::Pod => "Pod",
            Kind::Lease => "Lease",
            Kind::NetworkPolicy => "NetworkPolicy",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Job => "jobs",
            Kind::Pod => "pods",
            Kind::Lease => "leases",
            Kind::NetworkPolicy => "networkpolicies",
        }
    }

    /// Whether `status` is a subresource (ignored on the main resource's writes).
    fn has_status(self) -> bool {
        matches!(self, Kind::Job | Kind::Pod)
    }

    fn from_path(group_version: &str, plural: &str) -> Option<Kind> {
        [Kind::Job, Kind::Pod, Kind::Lease, Kind::NetworkPolicy]
            .into_iter()
            .find(|k| k.api_version() == group_version && k.plural() == plural)
    }
}

/// One change, as watches and the test see it.
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub event: &'static str,
    pub object: Value,
    /// The object before a `MODIFIED` change (a filtered watch needs it to tell an object
    /// that came into or left its selector).
    pub previous: Option<Value>,
}

impl Change {
    /// The event a watch filtered by `selector` sees of this change, as the API server's
    /// watch cache sends it: an object that starts matching is `ADDED`, one that stops
    /// matching is `DELETED` (its last matching state, at this change's version).
    fn seen_through(&self, selector: &Selector) -> Option<(&'static str, Value)> {
        let now = selector.matches(&self.object);
        let before = self.previous.as_ref().map(|p| selector.matches(p));
        match (self.event, before, now) {
            ("MODIFIED", Some(false), true) => Some(("ADDED", self.object.clone())),
            ("MODIFIED", Some(true), false) => {
                let mut last = self.previous.clone().unwrap_or_default();
                last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                Some(("DELETED", last))
            }
            (event, _, true) => Some((event, self.object.clone())),
            _ => None,
        }
    }
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The bearer token it carried (which client made it).
    pub token: Option<String>,
    pub at: DateTime<Utc>,
    /// The request body, for writes.
    pub body: Option<Value>,
}

impl Logged {
    pub fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }
}

/// Requests the fake refuses for a while.
#[derive(Debug, Clone)]
struct Outage {
    status: u16,
    until: Option<Instant>,
    remaining: Option<usize>,
    token: Option<String>,
}

struct State {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: VecDeque<Change>,
    /// Watches from versions older than this get 410.
    compacted: u64,
    outages: Vec<Outage>,
    log: Vec<Logged>,
    job_controller: bool,
    /// New watches are refused (an outage of the watch path).
    watch_down: bool,
    /// What clients may do, as a namespaced Role grants it; `None` allows everything.
    rbac: Option<Rbac>,
}

/// A Role's rules in one namespace: what every client of the fake is allowed.
#[derive(Debug, Clone)]
struct Rbac {
    namespace: String,
    /// (API group, resource, verbs).
    rules: Vec<(String, String, Vec<String>)>,
}

impl Rbac {
    fn allows(&self, namespace: &str, group: &str, resource: &str, verb: &str) -> bool {
        namespace == self.namespace
            && self
                .rules
                .iter()
                .any(|(g, r, verbs)| g == group && r == resource && verbs.iter().any(|v| v == verb))
    }
}

struct Inner {
    state: Mutex<State>,
    changes: broadcast::Sender<Change>,
    /// Bumped to end every open watch.
    drops: watch::Sender<u64>,
    bookmark_every: Duration,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake API server; stops when dropped.
pub struct FakeKube {
    inner: Arc<Inner>,
    handle: ServerHandle,
    pub url: String,
    dir: PathBuf,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

fn error(code: u16, reason: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .json(status_body(code, reason, message))
}

/// A parsed label selector.
#[derive(Debug, Clone, Default)]
struct Selector(Vec<Term>);

#[derive(Debug, Clone)]
enum Term {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
    In(String, Vec<String>),
}

impl Selector {
    fn parse(text: &str) -> Selector {
        let mut terms = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        let mut parts = Vec::new();
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((k, v)) = part.split_once("!=") {
                terms.push(Term::Ne(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                terms.push(Term::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, rest)) = part.split_once(" in ") {
                let values = rest
                    .trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .collect();
                terms.push(Term::In(k.trim().into(), values));
            } else if let Some(k) = part.strip_prefix('!') {
                terms.push(Term::Absent(k.trim().into()));
            } else {
                terms.push(Term::Exists(part.into()));
            }
        }
        Selector(terms)
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = object["metadata"]["labels"].as_object();
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|t| match t {
            Term::Eq(k, v) => get(k) == Some(v.as_str()),
            Term::Ne(k, v) => get(k) != Some(v.as_str()),
            Term::Exists(k) => get(k).is_some(),
            Term::Absent(k) => get(k).is_none(),
            Term::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        })
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Where a request points.
struct Target {
    kind: Kind,
    namespace: String,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (gv, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..] => {
            let kind = Kind::from_path(&gv, plural)?;
            let (name, status) = match tail {
                [] => (None, false),
                [name] => (Some((*name).to_owned()), false),
                [name, "status"] => (Some((*name).to_owned()), true),
                _ => return None,
            };
            Some(Target {
                kind,
                namespace: (*ns).to_owned(),
                name,
                status,
            })
        }
        _ => None,
    }
}

impl FakeKube {
    /// Starts the server on a free port.
    pub async fn start() -> FakeKube {
        let (changes, _) = broadcast::channel(16_384);
        let (drops, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                rv: 1000,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                outages: Vec::new(),
                log: Vec::new(),
                job_controller: true,
                watch_down: false,
                rbac: None,
            }),
            changes,
            drops,
            bookmark_every: Duration::from_millis(500),
        });
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .bind(("127.0.0.1", 0))
        .expect("bind the fake Kubernetes API");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        let dir = std::env::temp_dir().join(format!("sy-fake-kube-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("kubeconfig dir");
        FakeKube {
            inner,
            handle,
            url: format!("http://{addr}"),
            dir,
        }
    }

    /// A kubeconfig that reaches this server in `namespace` as `token`: the production
    /// client loads it like any other.
    pub fn kubeconfig(&self, namespace: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("kubeconfig-{token}.yaml"));
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
contexts:
- name: fake
  context:
    cluster: fake
    user: {token}
    namespace: {namespace}
current-context: fake
users:
- name: {token}
  user:
    token: {token}
",
            url = self.url
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// The objects of `kind`, by name.
    pub fn objects(&self, kind: Kind) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((k, _, _), _)| *k == kind)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .iter()
            .find(|((k, _, n), _)| *k == kind && n == name)
            .map(|(_, v)| v.clone())
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Creates made of `kind` (successful POSTs), in order.
    pub fn creates(&self, kind: Kind) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| {
                l.method == "POST"
                    && l.status == 201
                    && l.path.ends_with(&format!("/{}", kind.plural()))
            })
            .collect()
    }

    /// Turns the Job controller's pod creation on or off.
    pub fn set_job_controller(&self, on: bool) {
        self.lock().job_controller = on;
    }

    /// Answers every request (watches included) with `status` for `duration`.
    pub fn fail_for(&self, duration: Duration, status: u16) {
        self.lock().outages.push(Outage {
            status,
            until: Some(Instant::now() + duration),
            remaining: None,
            token: None,
        });
    }

    /// Answers the next `n` requests with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().outages.push(Outage {
            status,
            until: None,
            remaining: Some(n),
            token: None,
        });
    }

    /// Answers every request carrying `token` with `status` until [`FakeKube::heal`]
    /// (one client cut off from the API server).
    pub fn partition(&self, token: &str, status: u16) {
        self.lock().outages.push(Outage {
            status,
            until: None,
            remaining: None,
            token: Some(token.to_owned()),
        });
    }

    /// From now on every request needs the right a Role with `rules` (API group,
    /// resource, verbs) grants in `namespace`; anything else is 403 Forbidden.
    pub fn authorize(&self, namespace: &str, rules: &[(&str, &str, &[&str])]) {
        self.lock().rbac = Some(Rbac {
            namespace: namespace.to_owned(),
            rules: rules
                .iter()
                .map(|(g, r, verbs)| {
                    (
                        (*g).to_owned(),
                        (*r).to_owned(),
                        verbs.iter().map(|v| (*v).to_owned()).collect(),
                    )
                })
                .collect(),
        });
    }

    /// Ends every outage.
    pub fn heal(&self) {
        self.lock().outages.clear();
    }

    /// Ends every open watch, as an API server restart or a load balancer timeout does.
    pub fn drop_watches(&self) {
        self.inner.drops.send_modify(|g| *g += 1);
    }

    /// Forgets the history so far: watches from older versions get 410 Gone.
    pub fn compact(&self) {
        let mut s = self.lock();
        s.compacted = s.rv;
        s.history.clear();
    }

    /// An outage of the watch path: every watch ends and new ones are refused, `during`
    /// makes changes meanwhile, and history is compacted past them, so clients resuming
    /// from where they were get 410 and must list again.
    pub fn watch_outage(&self, during: impl FnOnce(&FakeKube)) {
        self.lock().watch_down = true;
        self.drop_watches();
        during(self);
        let mut s = self.lock();
        s.compacted = s.rv;
        s.history.clear();
        s.watch_down = false;
    }

    /// Changes `name`'s status with `edit` (as its controller or kubelet would); false
    /// when there is no such object (any more).
    pub fn edit_status(&self, kind: Kind, name: &str, edit: impl FnOnce(&mut Value)) -> bool {
        let mut s = self.lock();
        let Some(key) = s
            .objects
            .keys()
            .find(|(k, _, n)| *k == kind && n == name)
            .cloned()
        else {
            return false;
        };
        let mut obj = s.objects[&key].clone();
        let status = obj
            .as_object_mut()
            .expect("object")
            .entry("status")
            .or_insert_with(|| json!({}));
        edit(status);
        let ns = key.1.clone();
        self.commit(&mut s, kind, &ns, "MODIFIED", obj);
        true
    }

    /// Deletes an object behind the scheduler's back (a Job takes its pods with it).
    pub fn delete(&self, kind: Kind, name: &str) -> bool {
        let mut s = self.lock();
        let Some(key) = s
            .objects
            .keys()
            .find(|(k, _, n)| *k == kind && n == name)
            .cloned()
        else {
            return false;
        };
        self.remove(&mut s, &key, true);
        true
    }

    /// Deletes an object and leaves what it owns, as `--cascade=orphan` does.
    pub fn delete_orphaning(&self, kind: Kind, name: &str) -> bool {
        let mut s = self.lock();
        let Some(key) = s
            .objects
            .keys()
            .find(|(k, _, n)| *k == kind && n == name)
            .cloned()
        else {
            return false;
        };
        self.remove(&mut s, &key, false);
        true
    }

    /// The pods of Job `job`.
    pub fn pods_of(&self, job: &str) -> Vec<Value> {
        self.objects(Kind::Pod)
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["batch.kubernetes.io/job-name"] == job)
            .collect()
    }

    // The kubelet's and controllers' status shapes.

    /// The pod's container started.
    pub fn pod_running(&self, name: &str) {
        let image = self.image_of(name);
        let now = now_rfc3339();
        self.edit_status(Kind::Pod, name, |s| {
            *s = json!({
                "phase": "Running",
                "hostIP": "10.0.0.10",
                "podIP": "10.244.1.17",
                "podIPs": [{"ip": "10.244.1.17"}],
                "startTime": now,
                "qosClass": "Burstable",
                "conditions": [
                    {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                    {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                ],
                "containerStatuses": [{
                    "name": "worker", "image": image, "imageID": format!("{image}@sha256:0f0f"),
                    "containerID": "containerd://c0ffee", "ready": true, "started": true,
                    "restartCount": 0, "state": {"running": {"startedAt": now}},
                }],
            });
        });
    }

    /// The container ended with `exit_code` (`reason` as the kubelet says it).
    pub fn pod_terminated(&self, name: &str, exit_code: i32, reason: &str) {
        let image = self.image_of(name);
        let now = now_rfc3339();
        let phase = if exit_code == 0 {
            "Succeeded"
        } else {
            "Failed"
        };
        let reason = reason.to_owned();
        self.edit_status(Kind::Pod, name, |s| {
            let started = s["startTime"].as_str().map(str::to_owned).unwrap_or_else(|| now.clone());
            *s = json!({
                "phase": phase,
                "hostIP": "10.0.0.10",
                "podIP": "10.244.1.17",
                "startTime": started,
                "qosClass": "Burstable",
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                ],
                "containerStatuses": [{
                    "name": "worker", "image": image, "imageID": format!("{image}@sha256:0f0f"),
                    "containerID": "containerd://c0ffee", "ready": false, "started": false,
                    "restartCount": 0,
                    "state": {"terminated": {
                        "exitCode": exit_code, "reason": reason,
                        "startedAt": started, "finishedAt": now,
                        "containerID": "containerd://c0ffee",
                    }},
                }],
            });
        });
    }

    /// The kernel killed the container for its memory limit.
    pub fn pod_oom_killed(&self, name: &str) {
        self.pod_terminated(name, 137, "OOMKilled");
    }

    /// The image cannot be pulled; the kubelet backs off.
    pub fn pod_image_pull_backoff(&self, name: &str) {
        let image = self.image_of(name);
        let now = now_rfc3339();
        self.edit_status(Kind::Pod, name, |s| {
            *s = json!({
                "phase": "Pending",
                "hostIP": "10.0.0.10",
                "startTime": now,
                "qosClass": "Burstable",
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                     "message": "containers with unready status: [worker]", "lastTransitionTime": now},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                ],
                "containerStatuses": [{
                    "name": "worker", "image": image, "imageID": "", "ready": false,
                    "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff",
                        "message": format!("Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\": not found")}},
                }],
            });
        });
    }

    /// The kubelet evicted the pod under node pressure.
    pub fn pod_evicted(&self, name: &str, message: &str) {
        let message = message.to_owned();
        let now = now_rfc3339();
        self.edit_status(Kind::Pod, name, |s| {
            *s = json!({
                "phase": "Failed",
                "reason": "Evicted",
                "message": message,
                "startTime": now,
                "conditions": [{"type": "DisruptionTarget", "status": "True",
                    "reason": "TerminationByKubelet", "message": message, "lastTransitionTime": now}],
                "containerStatuses": [{
                    "name": "worker", "image": "", "imageID": "", "ready": false, "started": false,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was terminated"}},
                }],
            });
        });
    }

    /// The Job controller records the Job's end (after its pod ended).
    pub fn job_finished(&self, name: &str, succeeded: bool) {
        let now = now_rfc3339();
        self.edit_status(Kind::Job, name, |s| {
            let started = s["startTime"].clone();
            *s = if succeeded {
                json!({
                    "startTime": started, "completionTime": now, "succeeded": 1, "active": 0,
                    "ready": 0, "terminating": 0, "uncountedTerminatedPods": {},
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                         "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                        {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                         "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                    ],
                })
            } else {
                json!({
                    "startTime": started, "failed": 1, "active": 0, "ready": 0, "terminating": 0,
                    "uncountedTerminatedPods": {},
                    "conditions": [
                        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                         "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now},
                        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                         "message": "Job has reached the specified backoff limit", "lastProbeTime": now, "lastTransitionTime": now},
                    ],
                })
            };
        });
    }

    /// The Job ran past `activeDeadlineSeconds`, as the controller handles it: the
    /// `FailureTarget` condition first, then its pods deleted, then `Failed`.
    pub fn job_deadline_exceeded(&self, name: &str) {
        let now = now_rfc3339();
        self.edit_status(Kind::Job, name, |s| {
            s["conditions"] = json!([
                {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                 "message": "Job was active longer than specified deadline", "lastProbeTime": now, "lastTransitionTime": now},
            ]);
        });
        for pod in self.pods_of(name) {
            if let Some(p) = pod["metadata"]["name"].as_str() {
                self.delete(Kind::Pod, p);
            }
        }
        self.edit_status(Kind::Job, name, |s| {
            let started = s["startTime"].clone();
            *s = json!({
                "startTime": started, "failed": 1, "active": 0, "ready": 0, "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": [
                    {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded",
                     "message": "Job was active longer than specified deadline", "lastProbeTime": now, "lastTransitionTime": now},
                    {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                     "message": "Job was active longer than specified deadline", "lastProbeTime": now, "lastTransitionTime": now},
                ],
            });
        });
    }

    fn image_of(&self, pod: &str) -> String {
        self.get(Kind::Pod, pod)
            .and_then(|p| {
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    /// Stores `object` with a new resourceVersion and tells watches.
    fn commit(
        &self,
        s: &mut State,
        kind: Kind,
        ns: &str,
        event: &'static str,
        object: Value,
    ) -> Value {
        commit_inner(&self.inner, s, kind, ns, event, object)
    }

    fn remove(&self, s: &mut State, key: &(Kind, String, String), cascade: bool) -> Option<Value> {
        remove_inner(&self.inner, s, key, cascade)
    }
}

/// The server side: one handler for every path.
async fn handle(req: HttpRequest, body: Bytes, inner: web::Data<Inner>) -> HttpResponse {
    let fake = FakeRef(inner.into_inner());
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let query = req.query_string().to_owned();
    let token = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned);
    let params: HashMap<String, String> = web::Query::<HashMap<String, String>>::from_query(&query)
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let body_json: Option<Value> = (!body.is_empty())
        .then(|| serde_json::from_slice(&body).ok())
        .flatten();

    let refused = fake.refusal(token.as_deref());
    let response = match refused {
        Some(code) => {
            let mut r = HttpResponse::build(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            );
            if code == 429 {
                r.insert_header(("Retry-After", "1"));
            }
            let reason = match code {
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                _ => "InternalError",
            };
            r.json(status_body(
                code,
                reason,
                "the fake API server is failing on purpose",
            ))
        }
        None => match parse_path(&path) {
            None => error(
                404,
                "NotFound",
                &format!("the server could not find the requested resource ({path})"),
            ),
            Some(t) => match fake.forbidden(&method, &t, &params, token.as_deref()) {
                Some(denied) => denied,
                None => {
                    fake.serve(&method, t, &params, body_json.clone(), &req)
                        .await
                }
            },
        },
    };
    fake.0.lock().log.push(Logged {
        method,
        path,
        query,
        status: response.status().as_u16(),
        token,
        at: Utc::now(),
        body: body_json,
    });
    response
}

/// The fake, seen from a request.
struct FakeRef(Arc<Inner>);

impl FakeRef {
    fn as_kube(&self) -> FakeKubeView<'_> {
        FakeKubeView(&self.0)
    }

    /// The status an outage answers this request with, if any.
    fn refusal(&self, token: Option<&str>) -> Option<u16> {
        let mut s = self.0.lock();
        let now = Instant::now();
        s.outages
            .retain(|o| o.until.is_none_or(|u| u > now) && o.remaining.is_none_or(|n| n > 0));
        for o in s.outages.iter_mut() {
            if let Some(t) = &o.token
                && Some(t.as_str()) != token
            {
                continue;
            }
            if let Some(n) = &mut o.remaining {
                *n -= 1;
            }
            return Some(o.status);
        }
        None
    }

    /// 403 when a Role is enforced and grants this request's verb on its resource in its
    /// namespace to nobody, with the API server's wording.
    fn forbidden(
        &self,
        method: &str,
        t: &Target,
        params: &HashMap<String, String>,
        token: Option<&str>,
    ) -> Option<HttpResponse> {
        let rbac = self.0.lock().rbac.clone()?;
        let verb = match (method, &t.name) {
            ("GET", None) if params.get("watch").map(String::as_str) == Some("true") => "watch",
            ("GET", None) => "list",
            ("GET", Some(_)) => "get",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", None) => "deletecollection",
            ("DELETE", Some(_)) => "delete",
            _ => return None,
        };
        let group = group_of(t.kind);
        let resource = if t.status {
            format!("{}/status", t.kind.plural())
        } else {
            t.kind.plural().to_owned()
        };
        if rbac.allows(&t.namespace, group, &resource, verb) {
            return None;
        }
        let user = token.unwrap_or("system:anonymous");
        let qualified = if group.is_empty() {
            t.kind.plural().to_owned()
        } else {
            format!("{}.{group}", t.kind.plural())
        };
        let mut body = status_body(
            403,
            "Forbidden",
            &format!(
                "{qualified} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{}\"",
                t.namespace
            ),
        );
        body["details"] = json!({"kind": t.kind.plural(), "group": group});
        Some(HttpResponse::Forbidden().json(body))
    }

    async fn serve(
        &self,
        method: &str,
        t: Target,
        params: &HashMap<String, String>,
        body: Option<Value>,
        _req: &HttpRequest,
    ) -> HttpResponse {
        let view = self.as_kube();
        match (method, &t.name) {
            ("GET", None) if params.get("watch").map(String::as_str) == Some("true") => {
                self.watch(t, params)
            }
            ("GET", None) => view.list(&t, params),
            ("GET", Some(name)) => match view.get(&t, name) {
                Some(obj) => HttpResponse::Ok().json(obj),
                None => not_found(t.kind, name),
            },
            ("POST", None) => match body {
                Some(b) => view.create(&t, b),
                None => error(400, "BadRequest", "no body"),
            },
            ("PUT", Some(name)) => match body {
                Some(b) => view.replace(&t, name, b),
                None => error(400, "BadRequest", "no body"),
            },
            ("PATCH", Some(name)) => match body {
                Some(b) => view.patch(&t, name, b),
                None => error(400, "BadRequest", "no body"),
            },
            ("DELETE", Some(name)) => view.delete(&t, name, body),
            _ => error(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
        }
    }

    fn watch(&self, t: Target, params: &HashMap<String, String>) -> HttpResponse {
        let inner = self.0.clone();
        let selector = Selector::parse(
            params
                .get("labelSelector")
                .map(String::as_str)
                .unwrap_or(""),
        );
        let bookmarks = params.get("allowWatchBookmarks").map(String::as_str) == Some("true");
        let timeout = params
            .get("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(1800));
        let from = params
            .get("resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let seen = {
            let kind = t.kind;
            let ns = t.namespace.clone();
            move |c: &Change| {
                if c.kind == kind && c.namespace == ns {
                    c.seen_through(&selector)
                } else {
                    None
                }
            }
        };
        let line = |event: &str, object: &Value| {
            let mut text = serde_json::to_string(&json!({"type": event, "object": object}))
                .unwrap_or_default();
            text.push('\n');
            Ok::<_, std::io::Error>(Bytes::from(text))
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1024);
        // Subscribe before reading history, so nothing falls between them.
        let mut live = inner.changes.subscribe();
        let mut drops = inner.drops.subscribe();
        drops.mark_unchanged();
        let mut first: Vec<Result<Bytes, std::io::Error>> = Vec::new();
        let mut last = from;
        {
            let s = inner.lock();
            if s.watch_down {
                return error(503, "ServiceUnavailable", "watches are down");
            }
            if from > 0 && from < s.compacted {
                let status = status_body(
                    410,
                    "Expired",
                    &format!("too old resource version: {from} ({})", s.compacted),
                );
                first.push(line("ERROR", &status));
                drop(s);
                let stream = futures::stream::iter(first);
                return HttpResponse::Ok()
                    .content_type("application/json")
                    .streaming(stream);
            }
            if from == 0 {
                for ((k, ns, _), obj) in &s.objects {
                    let c = Change {
                        rv: 0,
                        kind: *k,
                        namespace: ns.clone(),
                        event: "ADDED",
                        object: obj.clone(),
                        previous: None,
                    };
                    if let Some((event, object)) = seen(&c) {
                        first.push(line(event, &object));
                    }
                }
                last = s.rv;
            } else {
                for c in s.history.iter().filter(|c| c.rv > from) {
                    if let Some((event, object)) = seen(c) {
                        first.push(line(event, &object));
                    }
                    last = c.rv;
                }
            }
        }
        let kind = t.kind;
        let every = inner.bookmark_every;
        tokio::spawn(async move {
            for item in first {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                // Biased: a watch that was dropped never sends what changed after.
                tokio::select! {
                    biased;
                    _ = drops.changed() => return,
                    _ = &mut deadline => return,
                    _ = tx.closed() => return,
                    _ = tick.tick(), if bookmarks => {
                        // Only as far as this watch has gone through the changes: a
                        // client resuming from the bookmark must miss nothing.
                        let mark = json!({"kind": kind.kind(), "apiVersion": kind.api_version(),
                            "metadata": {"resourceVersion": last.to_string()}});
                        if tx.send(line("BOOKMARK", &mark)).await.is_err() {
                            return;
                        }
                    }
                    change = live.recv() => match change {
                        Ok(c) => {
                            if c.rv <= last {
                                continue;
                            }
                            last = c.rv;
                            if let Some((event, object)) = seen(&c)
                                && tx.send(line(event, &object)).await.is_err()
                            {
                                return;
                            }
                        }
                        // Fell behind, or the server is stopping: end; the client resumes.
                        Err(_) => return,
                    },
                }
            }
        });
        HttpResponse::Ok()
            .content_type("application/json")
            .streaming(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

fn not_found(kind: Kind, name: &str) -> HttpResponse {
    let mut body = status_body(
        404,
        "NotFound",
        &format!("{}.{} \"{name}\" not found", kind.plural(), group_of(kind)),
    );
    body["details"] = json!({"name": name, "kind": kind.plural()});
    HttpResponse::NotFound().json(body)
}

fn group_of(kind: Kind) -> &'static str {
    kind.api_version().split_once('/').map_or("", |(g, _)| g)
}

/// The store side of a request.
struct FakeKubeView<'a>(&'a Arc<Inner>);

impl FakeKubeView<'_> {
    fn commit(
        &self,
        s: &mut State,
        kind: Kind,
        ns: &str,
        event: &'static str,
        object: Value,
    ) -> Value {
        commit_inner(self.0, s, kind, ns, event, object)
    }

    fn list(&self, t: &Target, params: &HashMap<String, String>) -> HttpResponse {
        let selector = Selector::parse(
            params
                .get("labelSelector")
                .map(String::as_str)
                .unwrap_or(""),
        );
        let s = self.0.lock();
        let items: Vec<Value> = s
            .objects
            .iter()
            .filter(|((k, ns, _), v)| *k == t.kind && *ns == t.namespace && selector.matches(v))
            .map(|(_, v)| {
                // List items carry no kind or apiVersion, as the API server sends them.
                let mut item = v.clone();
                if let Some(o) = item.as_object_mut() {
                    o.remove("kind");
                    o.remove("apiVersion");
                }
                item
            })
            .collect();
        HttpResponse::Ok().json(json!({
            "kind": format!("{}List", t.kind.kind()),
            "apiVersion": t.kind.api_version(),
            "metadata": {"resourceVersion": s.rv.to_string()},
            "items": items,
        }))
    }

    fn get(&self, t: &Target, name: &str) -> Option<Value> {
        self.0
            .lock()
            .objects
            .get(&(t.kind, t.namespace.clone(), name.to_owned()))
            .cloned()
    }

    fn create(&self, t: &Target, mut obj: Value) -> HttpResponse {
        let mut s = self.0.lock();
        let name = match obj["metadata"]["name"].as_str() {
            Some(n) => n.to_owned(),
            None => match obj["metadata"]["generateName"].as_str() {
                Some(prefix) => format!("{prefix}{}", random_suffix(5)),
                None => return error(422, "Invalid", "metadata.name: Required value"),
            },
        };
        if s.objects
            .contains_key(&(t.kind, t.namespace.clone(), name.clone()))
        {
            let mut body = status_body(
                409,
                "AlreadyExists",
                &format!(
                    "{}.{} \"{name}\" already exists",
                    t.kind.plural(),
                    group_of(t.kind)
                ),
            );
            body["details"] = json!({"name": name, "kind": t.kind.plural()});
            return HttpResponse::Conflict().json(body);
        }
        // The storage layer's own refusal (a 500, not a validation error).
        if obj["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| !rv.is_empty())
        {
            return error(
                500,
                "InternalError",
                "resourceVersion should not be set on objects to be created",
            );
        }
        let uid = uuid::Uuid::new_v4().to_string();
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(t.namespace);
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(now_rfc3339());
        if let Some(o) = obj.as_object_mut()
            && t.kind.has_status()
        {
            o.remove("status");
        }
        match t.kind {
            Kind::Job => {
                obj["metadata"]["generation"] = json!(1);
                job_defaults(&mut obj, &name, &uid);
                obj["status"] = json!({});
            }
            Kind::Pod => obj["status"] = json!({"phase": "Pending", "qosClass": "Burstable"}),
            _ => {}
        }
        let created = self.commit(&mut s, t.kind, &t.namespace, "ADDED", obj);
        if t.kind == Kind::Job && s.job_controller {
            let pod = job_pod(&created, &t.namespace);
            self.commit(&mut s, Kind::Pod, &t.namespace, "ADDED", pod);
            let mut job = created.clone();
            job["status"] = json!({"active": 1, "ready": 0, "terminating": 0,
                "startTime": now_rfc3339(), "uncountedTerminatedPods": {}});
            let job = self.commit(&mut s, Kind::Job, &t.namespace, "MODIFIED", job);
            return HttpResponse::Created().json(job);
        }
        HttpResponse::Created().json(created)
    }

    fn replace(&self, t: &Target, name: &str, mut obj: Value) -> HttpResponse {
        let mut s = self.0.lock();
        let key = (t.kind, t.namespace.clone(), name.to_owned());
        let Some(current) = s.objects.get(&key).cloned() else {
            return not_found(t.kind, name);
        };
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && Some(rv) != current["metadata"]["resourceVersion"].as_str()
        {
            return error(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    t.kind.plural(),
                    group_of(t.kind)
                ),
            );
        }
        let next = if t.status {
            let mut next = current.clone();
            next["status"] = obj["status"].take();
            next
        } else {
            for field in [
                "uid",
                "creationTimestamp",
                "namespace",
                "name",
                "generation",
            ] {
                if !current["metadata"][field].is_null() {
                    obj["metadata"][field] = current["metadata"][field].clone();
                }
            }
            if t.kind.has_status() {
                obj["status"] = current["status"].clone();
            }
            obj
        };
        if t.kind == Kind::Pod
            && let Some(problem) = pod_update_problem(&current, &next)
        {
            return error(
                422,
                "Invalid",
                &format!("Pod \"{name}\" is invalid: {problem}"),
            );
        }
        let stored = self.commit(&mut s, t.kind, &t.namespace, "MODIFIED", next);
        HttpResponse::Ok().json(stored)
    }

    fn patch(&self, t: &Target, name: &str, patch: Value) -> HttpResponse {
        let mut s = self.0.lock();
        let key = (t.kind, t.namespace.clone(), name.to_owned());
        let Some(current) = s.objects.get(&key).cloned() else {
            return not_found(t.kind, name);
        };
        let mut next = current.clone();
        if t.status {
            merge_patch(&mut next["status"], &patch["status"]);
        } else {
            let mut patch = patch;
            if t.kind.has_status()
                && let Some(o) = patch.as_object_mut()
            {
                o.remove("status");
            }
            merge_patch(&mut next, &patch);
            next["metadata"]["uid"] = current["metadata"]["uid"].clone();
            if t.kind == Kind::Pod
                && let Some(problem) = pod_update_problem(&current, &next)
            {
                return error(
                    422,
                    "Invalid",
                    &format!("Pod \"{name}\" is invalid: {problem}"),
                );
            }
        }
        let stored = self.commit(&mut s, t.kind, &t.namespace, "MODIFIED", next);
        HttpResponse::Ok().json(stored)
    }

    fn delete(&self, t: &Target, name: &str, options: Option<Value>) -> HttpResponse {
        let mut s = self.0.lock();
        let key = (t.kind, t.namespace.clone(), name.to_owned());
        // The API's default for batch/v1 Jobs is still to orphan their pods (kubectl asks
        // for Background); everything else is collected in the background.
        let orphan = match options
            .as_ref()
            .and_then(|o| o["propagationPolicy"].as_str())
        {
            Some(policy) => policy == "Orphan",
            None => t.kind == Kind::Job,
        };
        match remove_inner(self.0, &mut s, &key, !orphan) {
            Some(obj) => HttpResponse::Ok().json(obj),
            None => not_found(t.kind, name),
        }
    }
}

fn commit_inner(
    inner: &Arc<Inner>,
    s: &mut State,
    kind: Kind,
    ns: &str,
    event: &'static str,
    mut object: Value,
) -> Value {
    s.rv += 1;
    let rv = s.rv;
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    object["kind"] = json!(kind.kind());
    object["apiVersion"] = json!(kind.api_version());
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = (kind, ns.to_owned(), name);
    let previous = if event == "DELETED" {
        s.objects.remove(&key)
    } else {
        s.objects.insert(key, object.clone())
    };
    let change = Change {
        rv,
        kind,
        namespace: ns.to_owned(),
        event,
        object: object.clone(),
        previous: (event == "MODIFIED").then_some(previous).flatten(),
    };
    s.history.push_back(change.clone());
    while s.history.len() > 10_000 {
        if let Some(old) = s.history.pop_front() {
            s.compacted = old.rv;
        }
    }
    let _ = inner.changes.send(change);
    object
}

fn remove_inner(
    inner: &Arc<Inner>,
    s: &mut State,
    key: &(Kind, String, String),
    cascade: bool,
) -> Option<Value> {
    let obj = s.objects.get(key).cloned()?;
    let uid = obj["metadata"]["uid"].as_str().map(str::to_owned);
    let removed = commit_inner(inner, s, key.0, &key.1, "DELETED", obj);
    if cascade && let Some(uid) = uid {
        let owned: Vec<_> = s
            .objects
            .iter()
            .filter(|(_, v)| {
                v["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in owned {
            remove_inner(inner, s, &k, true);
        }
    }
    Some(removed)
}

/// Why the API server refuses to change a pod from `old` to `new`, if it does: a pod's
/// spec is fixed once made, but for its images, added tolerations and an
/// `activeDeadlineSeconds` that is set or shortened (never lengthened or removed).
fn pod_update_problem(old: &Value, new: &Value) -> Option<String> {
    let mutable_removed = |spec: &Value| {
        let mut spec = spec.clone();
        if let Some(o) = spec.as_object_mut() {
            o.remove("activeDeadlineSeconds");
            o.remove("tolerations");
        }
        for c in spec["containers"].as_array_mut().into_iter().flatten() {
            if let Some(o) = c.as_object_mut() {
                o.remove("image");
            }
        }
        spec
    };
    if mutable_removed(&old["spec"]) != mutable_removed(&new["spec"]) {
        return Some(
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`".to_owned(),
        );
    }
    let (before, after) = (
        old["spec"]["activeDeadlineSeconds"].as_i64(),
        new["spec"]["activeDeadlineSeconds"].as_i64(),
    );
    match (before, after) {
        (_, Some(a)) if a <= 0 => Some(format!(
            "spec.activeDeadlineSeconds: Invalid value: {a}: must be greater than or equal to 1"
        )),
        (Some(_), None) => Some(
            "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value".to_owned(),
        ),
        (Some(b), Some(a)) if a > b => Some(format!(
            "spec.activeDeadlineSeconds: Invalid value: {a}: must be less than or equal to previous value"
        )),
        _ => None,
    }
}

/// What the API server and the Job controller add to a new Job.
fn job_defaults(job: &mut Value, name: &str, uid: &str) {
    let spec = &mut job["spec"];
    for (field, value) in [
        ("completions", json!(1)),
        ("parallelism", json!(1)),
        ("completionMode", json!("NonIndexed")),
        ("suspend", json!(false)),
        ("manualSelector", json!(false)),
        ("podReplacementPolicy", json!("TerminatingOrFailed")),
    ] {
        if spec[field].is_null() {
            spec[field] = value;
        }
    }
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let labels = &mut spec["template"]["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels["batch.kubernetes.io/controller-uid"] = json!(uid);
    labels["batch.kubernetes.io/job-name"] = json!(name);
    labels["controller-uid"] = json!(uid);
    labels["job-name"] = json!(name);
}

/// The pod the Job controller makes for a Job.
fn job_pod(job: &Value, _ns: &str) -> Value {
    let name = job["metadata"]["name"].as_str().unwrap_or_default();
    let uid = job["metadata"]["uid"].as_str().unwrap_or_default();
    let template = &job["spec"]["template"];
    let mut metadata = template["metadata"].clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["name"] = json!(format!("{name}-{}", random_suffix(5)));
    metadata["uid"] = json!(uuid::Uuid::new_v4().to_string());
    metadata["creationTimestamp"] = json!(now_rfc3339());
    metadata["ownerReferences"] = json!([{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true,
    }]);
    json!({
        "metadata": metadata,
        "spec": template["spec"].clone(),
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    })
}

/// Writes `objects` (what a client sent) as JSON files in `dir`, one per object.
pub fn write_objects(dir: &Path, objects: &[Value]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("objects dir");
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let kind = o["kind"].as_str().unwrap_or("Object");
            let name = o["metadata"]["name"].as_str().unwrap_or("unnamed");
            let path = dir.join(format!("{i:02}-{kind}-{name}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(o).expect("json")).expect("write");
            path
        })
        .collect()
}

#[test]
fn a_filtered_watch_sees_objects_enter_and_leave_its_selector() {
    let selector = Selector::parse("app=a,tier in (web, db),!legacy");
    let pod = |labels: Value| json!({"metadata": {"name": "p", "labels": labels}});
    let change = |event: &'static str, before: Option<Value>, after: Value| Change {
        rv: 7,
        kind: Kind::Pod,
        namespace: "ns".into(),
        event,
        object: after,
        previous: before,
    };
    let inside = pod(json!({"app": "a", "tier": "web"}));
    let outside = pod(json!({"app": "a", "tier": "web", "legacy": "yes"}));
    let seen = |c: Change| c.seen_through(&selector);

    assert_eq!(
        seen(change("MODIFIED", Some(outside.clone()), inside.clone())).map(|s| s.0),
        Some("ADDED")
    );
    let (event, last) =
        seen(change("MODIFIED", Some(inside.clone()), outside.clone())).expect("seen");
    assert_eq!(event, "DELETED");
    assert_eq!(last["metadata"]["labels"], inside["metadata"]["labels"]);
    assert_eq!(last["metadata"]["resourceVersion"], "7");
    assert_eq!(
        seen(change("MODIFIED", Some(inside.clone()), inside.clone())).map(|s| s.0),
        Some("MODIFIED")
    );
    assert!(seen(change("MODIFIED", Some(outside.clone()), outside.clone())).is_none());
    assert!(seen(change("ADDED", None, outside)).is_none());
    assert_eq!(
        seen(change("DELETED", None, inside)).map(|s| s.0),
        Some("DELETED")
    );
}

#[test]
fn a_pod_spec_changes_only_where_the_api_server_allows() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "worker", "image": "w:1", "args": ["--attempt", "x"]}],
        "restartPolicy": "Never"}});
    let mut deadline = pod.clone();
    deadline["spec"]["activeDeadlineSeconds"] = json!(600);
    assert_eq!(pod_update_problem(&pod, &deadline), None, "set once");
    let mut shorter = deadline.clone();
    shorter["spec"]["activeDeadlineSeconds"] = json!(300);
    assert_eq!(pod_update_problem(&deadline, &shorter), None, "shortened");
    assert!(
        pod_update_problem(&shorter, &deadline).is_some(),
        "lengthened"
    );
    assert!(pod_update_problem(&deadline, &pod).is_some(), "removed");
    let mut image = pod.clone();
    image["spec"]["containers"][0]["image"] = json!("w:2");
    assert_eq!(pod_update_problem(&pod, &image), None);
    let mut args = pod.clone();
    args["spec"]["containers"][0]["args"] = json!([]);
    assert!(pod_update_problem(&pod, &args).is_some());
}
