//! The Kubernetes capacity backend: a Job per scheduled attempt, a warm pool of idle
//! worker pods, and egress policies, kept level-triggered by the leader.
//!
//! - [`objects`]: the Job, the warm pod and the hardened worker pod they share, derived
//!   from settings and the attempt row alone;
//! - [`fate`]: a pod's or Job's status read as what happened to the attempt;
//! - [`egress`]: the NetworkPolicies (baseline for every worker, one per org);
//! - [`plan`]: what a reconcile pass should create, delete or end, from what it read
//!   (pure);
//! - [`reconcile`]: watches of Jobs and Pods, and the loop that compares them with the
//!   attempts in Postgres and acts: creates Jobs and warm pods within the caps, ends
//!   attempts whose pods died with a readable reason, deletes orphans, labels warm pods
//!   that claimed an attempt.
//!
//! Workers still claim through the Redis queue and the Postgres lease: a Job's pod runs
//! `switchyard-worker --attempt <id>`, a warm pod runs the ordinary loop for one attempt
//! of its class. Whoever claims first runs the attempt; the other Job is an orphan and is
//! deleted.

pub mod egress;
pub mod fate;
pub mod objects;
pub mod plan;
pub mod reconcile;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use shared::config::KubernetesSettings;

/// Every API right the backend uses, all in its one namespace: (API group, resource,
/// verbs). The scheduler's Role in `deploy/k8s/scheduler.yaml` and in the chart is
/// exactly this (`deploy/check/check_manifests.py` reads it from here), and the tests'
/// fake API server refuses anything else with 403, as the cluster would.
///
/// Jobs: one per attempt, watched, looked up, deleted when orphaned. Pods: watched and
/// looked up (their state is the attempt's fate), warm pods created, labelled when they
/// claim an attempt, deleted after use. The Lease: read, created, renewed. Egress
/// NetworkPolicies: listed, created, replaced when their allowlist changes, deleted
/// when their org has nothing running.
pub const RBAC_RULES: &[(&str, &str, &[&str])] = &[
    (
        "batch",
        "jobs",
        &["create", "delete", "get", "list", "watch"],
    ),
    (
        "",
        "pods",
        &["create", "delete", "get", "list", "patch", "watch"],
    ),
    (
        "coordination.k8s.io",
        "leases",
        &["create", "get", "update"],
    ),
    (
        "networking.k8s.io",
        "networkpolicies",
        &["create", "delete", "list", "update"],
    ),
];

/// A client for the cluster and the namespace everything goes in.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub namespace: String,
}

impl Cluster {
    /// Connects with `kubeconfig` when set, else as kube infers (in-cluster service
    /// account, `KUBECONFIG`, `~/.kube/config`).
    pub async fn connect(k: &KubernetesSettings) -> anyhow::Result<Cluster> {
        use anyhow::Context;
        let config = match &k.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path)
                    .with_context(|| format!("read kubeconfig {}", path.display()))?;
                Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                    .await
                    .with_context(|| format!("load kubeconfig {}", path.display()))?
            }
            None => Config::infer()
                .await
                .context("find Kubernetes credentials (in-cluster or kubeconfig)")?,
        };
        let namespace = k
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).context("build the Kubernetes client")?;
        Ok(Cluster { client, namespace })
    }

    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn network_policies(&self) -> Api<NetworkPolicy> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}
