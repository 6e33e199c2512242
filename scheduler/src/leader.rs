//! One leader among scheduler replicas, through a `coordination.k8s.io/v1` Lease (the
//! Kubernetes backend; the other backends run every replica, with dispatch serialised by
//! a Postgres advisory lock).
//!
//! Every `renew_every` each replica reads the Lease. The holder writes a fresh
//! `renewTime`; the others take it over once its record has not changed for
//! `lease_duration` *by their own clock* (so clock skew between nodes does not matter),
//! with the read `resourceVersion` as a precondition, so two candidates can never both
//! win. A leader that cannot renew steps down a beat before anyone may take over, and
//! one that shuts down hands the Lease back at once.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use shared::config::LeaderSettings;
use shared::shutdown::CancellationToken;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Contends for one Lease on behalf of this replica.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    renew_every: Duration,
    labels: BTreeMap<String, String>,
}

/// What this replica last saw of someone else's lease, and when it changed.
struct Observed {
    record: (Option<String>, Option<MicroTime>, Option<String>),
    since: Instant,
}

impl LeaderElection {
    /// A contender named `identity` (unique per replica: the pod name).
    pub fn new(
        api: Api<Lease>,
        settings: &LeaderSettings,
        identity: String,
        labels: BTreeMap<String, String>,
    ) -> LeaderElection {
        LeaderElection {
            api,
            name: settings.lease_name.clone(),
            identity,
            duration: Duration::from_secs(settings.lease_duration_secs.max(1)),
            renew_every: Duration::from_millis(settings.renew_every_ms.max(10)),
            labels,
        }
    }

    /// This replica's name in the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The loop that contends until `shutdown`, then releases the Lease if held, for the
    /// caller to run (in its registry of loops). The channel says whether this replica
    /// leads right now.
    pub fn start(
        self,
        shutdown: CancellationToken,
    ) -> (
        watch::Receiver<bool>,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let (tx, rx) = watch::channel(false);
        (rx, self.contend(tx, shutdown))
    }

    async fn contend(self, leading: watch::Sender<bool>, shutdown: CancellationToken) {
        let mut observed: Option<Observed> = None;
        // When this replica last renewed successfully (leaders only).
        let mut renewed_at: Option<Instant> = None;
        loop {
            // A call the client keeps retrying (a 503 storm) must not keep a leader that
            // cannot renew in office: bound each look by what is left of the lease.
            let bound = self
                .duration
                .saturating_sub(self.renew_every * 2)
                .max(self.renew_every);
            let outcome = match tokio::time::timeout(bound, self.step(&mut observed)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {} ms", bound.as_millis())),
            };
            match outcome {
                Ok(true) => {
                    if !*leading.borrow() {
                        tracing::info!(identity = %self.identity, lease = %self.name, "became the leader");
                    }
                    renewed_at = Some(Instant::now());
                    leading.send_replace(true);
                }
                Ok(false) => {
                    if *leading.borrow() {
                        tracing::warn!(identity = %self.identity, lease = %self.name, "lost the lease");
                    }
                    renewed_at = None;
                    leading.send_replace(false);
                }
                Err(e) => {
                    tracing::warn!(identity = %self.identity, lease = %self.name, error = %e, "lease not read or renewed");
                    // Step down before another replica may take over: it waits a whole
                    // `duration` after it saw the record change (up to one look late).
                    if let Some(at) = renewed_at
                        && at.elapsed() + self.renew_every * 2 >= self.duration
                    {
                        tracing::warn!(identity = %self.identity, "could not renew in time; stepping down");
                        renewed_at = None;
                        leading.send_replace(false);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.renew_every) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            let bound = self.renew_every.max(Duration::from_secs(1));
            match tokio::time::timeout(bound, self.release()).await {
                Ok(Ok(())) => tracing::info!(identity = %self.identity, "lease released"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "lease not released; it expires by itself")
                }
                Err(_) => tracing::warn!("lease release timed out; it expires by itself"),
            }
        }
    }

    /// One look at the Lease: renew it, take it, or leave it. `Ok(true)` when this
    /// replica holds it afterwards.
    async fn step(&self, observed: &mut Option<Observed>) -> Result<bool, kube::Error> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let fresh = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    labels: Some(self.labels.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_duration_seconds: Some(self.duration_secs()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &fresh).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(self.identity.as_str()) {
            let mut renewed = lease.clone();
            let s = renewed.spec.get_or_insert_with(LeaseSpec::default);
            s.renew_time = Some(now);
            s.lease_duration_seconds = Some(self.duration_secs());
            *observed = None;
            return match self
                .api
                .replace(&self.name, &PostParams::default(), &renewed)
                .await
            {
                Ok(_) => Ok(true),
                // Someone wrote it meanwhile: look again next time.
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        }
        let record = (
            holder.clone(),
            spec.renew_time.clone(),
            lease.metadata.resource_version.clone(),
        );
        let expired = match observed {
            Some(o) if o.record == record => o.since.elapsed() >= self.duration,
            _ => {
                *observed = Some(Observed {
                    record,
                    since: Instant::now(),
                });
                false
            }
        };
        if holder.is_some() && !expired {
            return Ok(false);
        }
        // Free or expired: take it, on the condition that nobody wrote it since we read it.
        let mut taken = lease.clone();
        let s = taken.spec.get_or_insert_with(LeaseSpec::default);
        s.holder_identity = Some(self.identity.clone());
        s.acquire_time = Some(now.clone());
        s.renew_time = Some(now);
        s.lease_duration_seconds = Some(self.duration_secs());
        s.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &taken)
            .await
        {
            Ok(_) => {
                tracing::info!(identity = %self.identity, previous = ?holder, "took over the lease");
                *observed = None;
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Hands the Lease back so another replica takes over without waiting it out.
    async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let s = lease.spec.get_or_insert_with(LeaseSpec::default);
        if s.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        s.holder_identity = None;
        s.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        s.lease_duration_seconds = Some(1);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// 409: the object exists already, or changed since it was read.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// 404: the object is not there.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
