//! Every Redis key and channel name, in one place, under the configured prefix, so tests
//! and deployments sharing a server never see each other's data.

use uuid::Uuid;

/// Builds Redis key and channel names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Keys {
        Keys {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A pending GitHub sign-in (its PKCE verifier and where to return), by OAuth state.
    /// Read and deleted at once by the callback, so a state works once.
    pub fn oauth_state(&self, state: &str) -> String {
        format!("{}:oauth:state:{state}", self.prefix)
    }

    /// A pending GitHub App installation started by `GET /orgs/{org}/github/install`
    /// (the org and who asked), by the `state` GitHub hands back to the setup callback.
    pub fn github_install_state(&self, state: &str) -> String {
        format!("{}:github:install:{state}", self.prefix)
    }

    /// Held by the api replica running this round of the webhook redelivery sweeper.
    pub fn github_sweeper_lock(&self) -> String {
        format!("{}:github:sweeper", self.prefix)
    }

    /// The attempt queue: a stream read by the `workers` consumer group.
    pub fn queue(&self) -> String {
        format!("{}:queue:attempts", self.prefix)
    }

    /// Attempt ids with a live entry in the queue stream. The scheduler compares it with
    /// Postgres to re-enqueue what Redis lost.
    pub fn queue_members(&self) -> String {
        format!("{}:queue:members", self.prefix)
    }

    /// Pub/sub channel of one process's log patches.
    pub fn log_channel(&self, process_id: Uuid) -> String {
        format!("{}:logs:{process_id}", self.prefix)
    }

    /// The patches of one process not yet durable in the object store (a list of JSON
    /// batches); late viewers read it between the store and the live channel.
    pub fn log_tail(&self, process_id: Uuid) -> String {
        format!("{}:logtail:{process_id}", self.prefix)
    }

    /// Pub/sub channel announcing a new diff version of an attempt.
    pub fn diff_channel(&self, attempt_id: Uuid) -> String {
        format!("{}:diff:{attempt_id}", self.prefix)
    }

    /// The org event history (a capped stream) that `Last-Event-ID` resumes from.
    pub fn org_events(&self, org_id: Uuid) -> String {
        format!("{}:org:{org_id}:events", self.prefix)
    }

    /// Pub/sub channel of one org's events.
    pub fn org_channel(&self, org_id: Uuid) -> String {
        format!("{}:org:{org_id}", self.prefix)
    }

    /// Pub/sub channel on which writers tell the scheduler there is work to dispatch (an
    /// attempt queued, an org's slot freed), so it need not poll Postgres for it.
    pub fn dispatch_wakes(&self) -> String {
        format!("{}:scheduler:dispatch-wakes", self.prefix)
    }

    /// Pub/sub channel announcing revoked tokens, ended sessions and removed members, so
    /// every api replica re-checks the event streams they held open.
    pub fn access_revocations(&self) -> String {
        format!("{}:access:revoked", self.prefix)
    }

    /// The open event streams of one credential (a token or a sign-in session): a sorted
    /// set of stream ids scored by when their lease runs out.
    pub fn credential_streams(&self, credential_id: Uuid) -> String {
        format!("{}:streams:credential:{credential_id}", self.prefix)
    }

    /// The open event streams of one org, as [`Keys::credential_streams`].
    pub fn org_streams(&self, org_id: Uuid) -> String {
        format!("{}:streams:org:{org_id}", self.prefix)
    }

    /// Tool calls of an attempt waiting for approval (a hash: approval id → request).
    pub fn approvals(&self, attempt_id: Uuid) -> String {
        format!("{}:approvals:{attempt_id}", self.prefix)
    }

    /// Where the decision on one approval is handed to the waiting worker (a list).
    pub fn approval_decision(&self, approval_id: Uuid) -> String {
        format!("{}:approval:{approval_id}", self.prefix)
    }

    /// The live worker registry (a hash: worker id → what it can run).
    pub fn workers(&self) -> String {
        format!("{}:workers", self.prefix)
    }
}
