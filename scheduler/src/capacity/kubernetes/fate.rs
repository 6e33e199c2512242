//! What a worker pod's or Job's status says happened, in words a person reading the
//! attempt's `failure_reason` understands, and whether another try could go better.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use std::time::Duration;

/// How a worker pod stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodFate {
    /// Waiting to start or running.
    Alive {
        /// The container has started (a warm pod counts as idle capacity from here).
        running: bool,
    },
    /// Its image cannot be pulled (or its container cannot be made) — for `for_long`
    /// longer than the grace period the kubelet gets to retry.
    Stuck { reason: String, for_long: bool },
    /// It ended without trouble (exit code 0).
    Succeeded,
    /// It ended in a way its worker could not record.
    Failed(Failure),
}

/// Why a worker pod or Job ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The attempt's (and its interrupted processes') `failure_reason`.
    pub reason: String,
    /// Whether running it again elsewhere may succeed (eviction, a crash) or not (out of
    /// memory, out of time, a broken image).
    pub retry: bool,
}

/// Reads a worker pod's status. `memory_limit` names the class limit in an OOM reason;
/// `deadline_secs` the pod's deadline in a timeout reason.
pub fn pod_fate(
    pod: &Pod,
    memory_limit: Option<&str>,
    deadline_secs: Option<i64>,
    image_pull_grace: Duration,
) -> PodFate {
    let Some(status) = &pod.status else {
        return PodFate::Alive { running: false };
    };
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let containers: &[ContainerStatus] = status.container_statuses.as_deref().unwrap_or(&[]);
    let terminated = containers.iter().find_map(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| c.last_state.as_ref().and_then(|s| s.terminated.as_ref()))
    });
    if status.reason.as_deref() == Some("Evicted") {
        let message = status
            .message
            .clone()
            .unwrap_or_else(|| "no reason given".to_owned());
        return PodFate::Failed(Failure {
            reason: format!(
                "the worker pod was evicted from its node: {}",
                message.trim()
            ),
            retry: true,
        });
    }
    if let Some(t) = terminated
        && t.reason.as_deref() == Some("OOMKilled")
    {
        let limit = memory_limit
            .map(|l| format!(" (memory limit {l})"))
            .unwrap_or_default();
        return PodFate::Failed(Failure {
            reason: format!(
                "out of memory: the worker pod was OOM-killed{limit}; a larger resource class may help"
            ),
            retry: false,
        });
    }
    if status.reason.as_deref() == Some("DeadlineExceeded") {
        return PodFate::Failed(Failure {
            reason: deadline_reason(deadline_secs, None),
            retry: false,
        });
    }
    match phase {
        "Succeeded" => return PodFate::Succeeded,
        "Failed" => {
            let what = match terminated {
                Some(t) => {
                    let mut s = format!("its container exited with code {}", t.exit_code);
                    if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
                        s.push_str(&format!(" ({r})"));
                    }
                    if let Some(m) = t
                        .message
                        .as_deref()
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                    {
                        s.push_str(&format!(": {}", last_line(m)));
                    }
                    s
                }
                None => status
                    .message
                    .clone()
                    .or_else(|| status.reason.clone())
                    .unwrap_or_else(|| "no reason given".to_owned()),
            };
            return PodFate::Failed(Failure {
                reason: format!("the worker pod failed: {what}"),
                retry: true,
            });
        }
        _ => {}
    }
    for c in containers {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let why = waiting.reason.as_deref().unwrap_or("");
        let what = match why {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => {
                format!("the worker image {} could not be pulled", c.image)
            }
            "CreateContainerConfigError" | "CreateContainerError" => {
                "the worker container could not be created".to_owned()
            }
            _ => continue,
        };
        let message = waiting
            .message
            .as_deref()
            .map(|m| format!(": {}", last_line(m.trim())))
            .unwrap_or_default();
        let created = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(k8s_openapi::jiff::Timestamp::now);
        let waited = k8s_openapi::jiff::Timestamp::now()
            .duration_since(created)
            .unsigned_abs();
        return PodFate::Stuck {
            reason: format!("{what} ({why}{message})"),
            for_long: waited >= image_pull_grace,
        };
    }
    PodFate::Alive {
        running: phase == "Running",
    }
}

/// How an attempt's Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFate {
    Active,
    Complete,
    /// Failed as a whole; `deadline` when it ran out of time (its pod is then gone).
    Failed {
        reason: String,
        deadline: bool,
    },
}

/// Reads a Job's conditions.
pub fn job_fate(job: &Job) -> JobFate {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    for c in conditions {
        if c.status != "True" {
            continue;
        }
        // The controller sets the *Target conditions as soon as the outcome is decided,
        // before it has terminated the pods; the final ones follow.
        match c.type_.as_str() {
            "Complete" | "SuccessCriteriaMet" => return JobFate::Complete,
            "Failed" | "FailureTarget" => {
                let deadline = c.reason.as_deref() == Some("DeadlineExceeded");
                let reason = if deadline {
                    deadline_reason(
                        job.spec.as_ref().and_then(|s| s.active_deadline_seconds),
                        None,
                    )
                } else {
                    format!(
                        "the worker Job failed: {}",
                        c.message
                            .clone()
                            .or_else(|| c.reason.clone())
                            .unwrap_or_else(|| "no reason given".to_owned())
                    )
                };
                return JobFate::Failed { reason, deadline };
            }
            _ => {}
        }
    }
    JobFate::Active
}

/// Whether a Job has ended (its pod no longer counts against any cap).
pub fn job_finished(job: &Job) -> bool {
    !matches!(job_fate(job), JobFate::Active)
}

/// Whether a pod has ended (or is on its way out).
pub fn pod_finished(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        || matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

/// The timeout reason; `pending` says why the pod never started, when it did not.
pub fn deadline_reason(deadline_secs: Option<i64>, pending: Option<&str>) -> String {
    let limit = deadline_secs
        .map(|s| format!(" of {s} s"))
        .unwrap_or_default();
    let mut reason = format!(
        "wall-clock budget exceeded: the worker pod reached its deadline{limit} (the attempt's wall-clock budget plus start-up allowance) and was stopped"
    );
    if let Some(p) = pending {
        reason.push_str(&format!("; it never started: {p}"));
    }
    reason
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "status": status,
        }))
        .expect("pod")
    }

    #[test]
    fn pod_states_read_as_reasons() {
        let grace = Duration::from_secs(60);
        let oom = pod(
            serde_json::json!({"phase": "Failed", "containerStatuses": [{
            "name": "worker", "image": "w:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
        );
        match pod_fate(&oom, Some("2Gi"), None, grace) {
            PodFate::Failed(f) => {
                assert!(
                    f.reason.contains("out of memory") && f.reason.contains("2Gi"),
                    "{}",
                    f.reason
                );
                assert!(!f.retry);
            }
            other => panic!("{other:?}"),
        }
        let evicted = pod(serde_json::json!({"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: ephemeral-storage."}));
        match pod_fate(&evicted, None, None, grace) {
            PodFate::Failed(f) => {
                assert!(f.reason.contains("evicted") && f.reason.contains("ephemeral-storage"));
                assert!(f.retry);
            }
            other => panic!("{other:?}"),
        }
        let pull = pod(
            serde_json::json!({"phase": "Pending", "containerStatuses": [{
            "name": "worker", "image": "registry.example/w:9", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image \"registry.example/w:9\""}}}]}),
        );
        match pod_fate(&pull, None, None, grace) {
            PodFate::Stuck { reason, for_long } => {
                assert!(
                    reason.contains("registry.example/w:9") && reason.contains("ImagePullBackOff")
                );
                assert!(for_long, "created in 2020");
            }
            other => panic!("{other:?}"),
        }
        let running = pod(serde_json::json!({"phase": "Running"}));
        assert_eq!(
            pod_fate(&running, None, None, grace),
            PodFate::Alive { running: true }
        );
    }
}
