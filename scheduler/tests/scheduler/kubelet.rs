//! A kubelet for the fake API server: each worker pod that appears runs as a real
//! `switchyard-worker` process with the pod's arguments and environment (its id from
//! the downward API, its emptyDirs as folders of the test), the pod's status follows the
//! process (Running, then Succeeded or Failed with the exit code), a Job's status follows
//! its pod, and a deleted pod's process gets SIGTERM.
//!
//! A pod's user namespace is played by the uid its attempt runs as: the pod asks for
//! `scheduler.kubernetes.sandbox.uid`, which every pod may use because each has a user
//! namespace of its own; here all pods share the host's, so each gets a host uid of its
//! own instead, held (by a lock under the system's temporary folder) for as long as its
//! process runs, so that no two pods, of this test or another, ever share one.
//!
//! The worker binary comes from the same target folder as this test
//! (`cargo build -p worker` first; `scripts/test` builds every binary). What the pod
//! takes from its ConfigMap and Secret comes from the test's settings, as a config file
//! readable by root only (outside the pod's volumes); a test that gives the kubelet
//! Secrets and ConfigMaps ([`Kubelet::start_with`]) gets them as the pod's `envFrom`
//! names them, as environment variables, the way a kubelet hands them over.

use serde_json::Value;
use shared::config::Settings;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::fake_kube::{FakeKube, Kind};

/// Runs pods until dropped (their processes die with it).
pub struct Kubelet {
    task: JoinHandle<()>,
    pids: Arc<Mutex<HashMap<String, u32>>>,
    uids: Arc<Mutex<HashMap<String, PodUid>>>,
    root: PathBuf,
}

/// The uid a pod asked its attempts to run as, and the host uid that plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodUid {
    /// `SWITCHYARD__WORKER__SANDBOX__UID_BASE` of the pod spec: the uid inside the pod's
    /// user namespace.
    pub in_pod: u32,
    /// The host uid the kubelet leased for it, which attempts really run as here.
    pub host: u32,
}

/// Secrets and ConfigMaps of the cluster, by name: each a set of variables.
#[derive(Debug, Clone, Default)]
pub struct EnvSources {
    pub secrets: HashMap<String, Vec<(String, String)>>,
    pub config_maps: HashMap<String, Vec<(String, String)>>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(pids) = self.pids.lock() {
            for pid in pids.values() {
                // SAFETY: signalling a child this kubelet started.
                unsafe {
                    libc::kill(*pid as i32, libc::SIGKILL);
                }
            }
        }
    }
}

/// The worker binary beside this test's executable, refused when older than its
/// sources (a stale binary would not read today's settings).
pub fn worker_binary(settings: &Settings) -> PathBuf {
    let bin = scheduler::capacity::local::worker_binary(settings).expect(
        "switchyard-worker is not built: run `cargo build -p worker` (scripts/test builds it)",
    );
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .expect("worker binary mtime");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Test support (`shared::testing`, behind a feature) is not part of the binary.
    let test_support = root.join("shared/src/testing");
    let newest = ["worker/src", "shared/src"]
        .iter()
        .flat_map(|d| walk(&root.join(d)))
        .filter(|f| !f.starts_with(&test_support) && !f.ends_with("shared/src/testing.rs"))
        .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .max();
    if let Some(newest) = newest {
        assert!(
            newest <= built,
            "{} is older than the worker's sources: run `cargo build -p worker`",
            bin.display()
        );
    }
    bin
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

impl Kubelet {
    /// Starts running every worker pod that `run` accepts.
    pub fn start(
        fake: Arc<FakeKube>,
        settings: &Settings,
        root: &Path,
        run: impl Fn(&Value) -> bool + Send + 'static,
    ) -> Kubelet {
        Kubelet::start_with(fake, settings, root, None, run)
    }

    /// As [`Kubelet::start`]; with `sources`, each pod gets the variables of every
    /// Secret and ConfigMap its `envFrom` names (one it names and `sources` lacks fails
    /// the test, as the pod would not start), before its own `env`, which wins.
    pub fn start_with(
        fake: Arc<FakeKube>,
        settings: &Settings,
        root: &Path,
        sources: Option<EnvSources>,
        run: impl Fn(&Value) -> bool + Send + 'static,
    ) -> Kubelet {
        let bin = worker_binary(settings);
        std::fs::create_dir_all(root).expect("kubelet root");
        let config = root.join("worker-config.json");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&config)
                .expect("create worker config");
            file.write_all(&serde_json::to_vec(settings).expect("settings json"))
                .expect("write worker config");
        }
        let sources = Arc::new(sources);
        let pids: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let uids: Arc<Mutex<HashMap<String, PodUid>>> = Arc::default();
        let mut changes = fake.subscribe();
        let kubelet_root = root.to_owned();
        let root = root.to_owned();
        let task = {
            let pids = pids.clone();
            let uids = uids.clone();
            tokio::spawn(async move {
                while let Ok(change) = changes.recv().await {
                    if change.kind != Kind::Pod {
                        continue;
                    }
                    let name = change.object["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    match change.event {
                        "ADDED" if run(&change.object) => {
                            let node = Node {
                                bin: &bin,
                                config: &config,
                                root: &root,
                                sources: sources.as_ref().as_ref(),
                            };
                            start_pod(&node, &fake, &change.object, &pids, &uids);
                        }
                        "DELETED" => {
                            if let Some(pid) = pids.lock().ok().and_then(|mut p| p.remove(&name)) {
                                // SAFETY: signalling a child this kubelet started.
                                unsafe {
                                    libc::kill(pid as i32, libc::SIGTERM);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            })
        };
        Kubelet {
            task,
            pids,
            uids,
            root: kubelet_root,
        }
    }

    /// The uids of pod `name`, once it started.
    pub fn uid_of(&self, name: &str) -> Option<PodUid> {
        self.uids.lock().ok()?.get(name).copied()
    }

    /// The worker process of pod `name`, while it runs.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.pids.lock().ok()?.get(name).copied()
    }

    /// The folders that play pod `name`'s emptyDirs: `workspace` and `tmp`.
    pub fn volumes_of(&self, name: &str) -> [PathBuf; 2] {
        let dir = self.root.join(name);
        [dir.join("workspace"), dir.join("tmp")]
    }
}

/// Host uids the kubelet hands pods: beyond the worker's own default pool (200000..).
const HOST_UIDS: std::ops::Range<u32> = 300_000..302_000;

/// A host uid no other pod holds, and the lock that holds it until dropped.
fn lease_uid() -> (u32, File) {
    let dir = std::env::temp_dir().join("switchyard-kubelet-uids");
    std::fs::create_dir_all(&dir).expect("uid lock dir");
    let offset = std::process::id() % (HOST_UIDS.end - HOST_UIDS.start);
    let len = HOST_UIDS.end - HOST_UIDS.start;
    for i in 0..len {
        let uid = HOST_UIDS.start + (offset + i) % len;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{uid}.lock")))
            .expect("uid lock");
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return (uid, file);
        }
    }
    panic!("every host uid in {HOST_UIDS:?} is held by a running pod");
}

/// What this kubelet starts every pod with.
struct Node<'a> {
    bin: &'a Path,
    config: &'a Path,
    root: &'a Path,
    sources: Option<&'a EnvSources>,
}

fn start_pod(
    node: &Node,
    fake: &Arc<FakeKube>,
    pod: &Value,
    pids: &Arc<Mutex<HashMap<String, u32>>>,
    uids: &Arc<Mutex<HashMap<String, PodUid>>>,
) {
    let Node {
        bin,
        config,
        root,
        sources,
    } = *node;
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let job = pod["metadata"]["labels"]["batch.kubernetes.io/job-name"]
        .as_str()
        .map(str::to_owned);
    let container = &pod["spec"]["containers"][0];
    let dir = root.join(&name);
    let (workspace, tmp) = (dir.join("workspace"), dir.join("tmp"));
    std::fs::create_dir_all(&workspace).expect("workspace");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut cmd = Command::new(bin);
    for arg in container["args"].as_array().into_iter().flatten() {
        cmd.arg(arg.as_str().unwrap_or_default());
    }
    cmd.env("SWITCHYARD_CONFIG", config);
    if let Some(sources) = sources {
        for from in container["envFrom"].as_array().into_iter().flatten() {
            let (source, of_kind) = if from["secretRef"].is_object() {
                (&from["secretRef"], &sources.secrets)
            } else {
                (&from["configMapRef"], &sources.config_maps)
            };
            let source_name = source["name"].as_str().unwrap_or_default();
            let vars = of_kind.get(source_name);
            assert!(
                vars.is_some() || source["optional"] == true,
                "{name}: no Secret or ConfigMap {source_name} for its envFrom"
            );
            for (key, value) in vars.into_iter().flatten() {
                cmd.env(key, value);
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let key = e["name"].as_str().unwrap_or_default();
        if let Some(v) = e["value"].as_str() {
            cmd.env(key, v);
        } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
            cmd.env(key, &name);
        }
    }
    // The pod's user namespace: a host uid of its own for the uid the pod asks for.
    let asked = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "SWITCHYARD__WORKER__SANDBOX__UID_BASE")
        .and_then(|e| e["value"].as_str());
    let asked: u32 = asked
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{name}: the pod names no sandbox uid"));
    let (uid, uid_lock) = lease_uid();
    if let Ok(mut uids) = uids.lock() {
        uids.insert(
            name.clone(),
            PodUid {
                in_pod: asked,
                host: uid,
            },
        );
    }
    cmd.env("SWITCHYARD__WORKER__SANDBOX__UID_BASE", uid.to_string());
    // The pod's emptyDirs, as folders of this test. TMPDIR stays the pod's `/tmp`: the
    // worker hands it on to attempts, whose private `/tmp` has no folder of this test.
    cmd.env("SWITCHYARD__WORKER__DATA_DIR", &workspace)
        .env("HOME", &tmp)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("start {}: {e}", bin.display()),
    };
    if let (Some(pid), Ok(mut p)) = (child.id(), pids.lock()) {
        p.insert(name.clone(), pid);
    }
    fake.pod_running(&name);
    let fake = fake.clone();
    let pids = pids.clone();
    tokio::spawn(async move {
        let code = match child.wait().await {
            Ok(status) => status.code().unwrap_or(137),
            Err(_) => 1,
        };
        // The pod is gone: its uid may serve another.
        drop(uid_lock);
        let was_ours = pids.lock().ok().and_then(|mut p| p.remove(&name)).is_some();
        if !was_ours {
            // Deleted: the pod is gone with its status.
            return;
        }
        let reason = if code == 0 { "Completed" } else { "Error" };
        fake.pod_terminated(&name, code, reason);
        if let Some(job) = job {
            fake.job_finished(&job, code == 0);
        }
    });
}
