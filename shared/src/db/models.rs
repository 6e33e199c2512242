//! Row models: one `Queryable` struct per table, plus the `Insertable` forms the services
//! write. Conversions into wire types live in `crate::wire`.
//!
//! Postgres arrays come back as `Vec<Option<T>>` (array elements are nullable in SQL);
//! the columns are never written with NULL elements, and `crate::wire` flattens them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::*;
use crate::domain::{
    ActorType, AttemptStatus, DeliveryStatus, MemberRole, ProcessStatus, RunReason, SessionMethod,
    TaskOrigin, TaskPriority, TaskStatus,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations, check_for_backend(diesel::pg::Pg))]
pub struct Organization {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub max_concurrent_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub github_id: Option<i64>,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships, check_for_backend(diesel::pg::Pg))]
pub struct Membership {
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub role: MemberRole,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    pub scopes: Vec<Option<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a [u8],
    pub scopes: Vec<Option<String>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = repositories, check_for_backend(diesel::pg::Pg))]
pub struct Repository {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub url: String,
    pub default_branch: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// GitHub's stable id of the repository, for one reached through the GitHub App.
    pub github_repo_id: Option<i64>,
    /// `owner/name` on GitHub.
    pub github_full_name: Option<String>,
    /// The installation whose tokens reach it; `None` once the App lost access.
    pub github_installation_id: Option<i64>,
    pub private: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = repositories)]
pub struct NewRepository<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: &'a str,
    pub url: &'a str,
    pub default_branch: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = projects, check_for_backend(diesel::pg::Pg))]
pub struct Project {
    pub id: Uuid,
    pub org_id: Uuid,
    pub repository_id: Uuid,
    pub name: String,
    pub key_prefix: String,
    pub task_counter: i64,
    pub default_branch: String,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
    pub dev_script: Option<String>,
    pub default_executor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// An issue labelled with this starts a run (GitHub repositories).
    pub github_trigger_label: String,
    /// How the attempt's pull request is merged.
    pub merge_method: crate::domain::MergeMethod,
    /// GitHub may trigger runs of the `script` executor (the issue text runs as bash).
    pub github_allow_script: bool,
    /// What GitHub-triggered runs may use.
    pub github_run_policy: crate::domain::GithubRunPolicy,
    /// The profile GitHub-triggered runs use when the comment names none.
    pub github_profile: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = projects)]
pub struct NewProject<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub repository_id: Uuid,
    pub name: &'a str,
    pub key_prefix: &'a str,
    pub default_branch: &'a str,
    pub setup_script: Option<&'a str>,
    pub cleanup_script: Option<&'a str>,
    pub dev_script: Option<&'a str>,
    pub default_executor: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub struct Task {
    pub id: Uuid,
    pub org_id: Uuid,
    pub project_id: Uuid,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub position: f64,
    pub priority: TaskPriority,
    pub labels: Vec<Option<String>>,
    pub assignee_ids: Vec<Option<Uuid>>,
    pub parent_task_id: Option<Uuid>,
    pub origin: TaskOrigin,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tasks)]
pub struct NewTask<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub project_id: Uuid,
    pub number: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub status: TaskStatus,
    pub position: f64,
    pub priority: TaskPriority,
    pub labels: Vec<Option<String>>,
    pub assignee_ids: Vec<Option<Uuid>>,
    pub parent_task_id: Option<Uuid>,
    pub origin: TaskOrigin,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = task_attempts, check_for_backend(diesel::pg::Pg))]
pub struct TaskAttempt {
    pub id: Uuid,
    pub org_id: Uuid,
    pub task_id: Uuid,
    pub executor: String,
    pub base_branch: String,
    pub branch: String,
    pub base_commit: Option<String>,
    pub head_commit: Option<String>,
    pub status: AttemptStatus,
    pub stop_requested: bool,
    pub worker_id: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub retry_count: i32,
    pub max_retries: i32,
    pub failure_reason: Option<String>,
    pub diff_summary: Option<serde_json::Value>,
    pub diff_object_key: Option<String>,
    pub pr_url: Option<String>,
    pub pr_state: Option<String>,
    pub trace_context: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The profile the attempt runs with (`crate::executors::ResolvedProfile` as JSON);
    /// absent on attempts made before profiles existed.
    pub executor_profile: Option<serde_json::Value>,
    /// Tokens and cost the agent reported, summed over the attempt's processes.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: Option<f64>,
    /// The pull request's number on the project's GitHub repository.
    pub pr_number: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = task_attempts)]
pub struct NewTaskAttempt<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub task_id: Uuid,
    pub executor: &'a str,
    pub base_branch: &'a str,
    pub branch: &'a str,
    pub status: AttemptStatus,
    pub max_retries: i32,
    pub trace_context: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = execution_processes, check_for_backend(diesel::pg::Pg))]
pub struct ExecutionProcess {
    pub id: Uuid,
    pub org_id: Uuid,
    pub attempt_id: Uuid,
    pub run_reason: RunReason,
    pub status: ProcessStatus,
    pub prompt: String,
    pub exit_code: Option<i32>,
    pub failure_reason: Option<String>,
    pub agent_session_id: Option<String>,
    pub entry_count: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Tokens and cost the agent reported in this process.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: Option<f64>,
    /// Output past `worker.max_log_bytes_per_process` was dropped.
    pub log_truncated: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = execution_processes)]
pub struct NewExecutionProcess<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub attempt_id: Uuid,
    pub run_reason: RunReason,
    pub status: ProcessStatus,
    pub prompt: &'a str,
}

/// An org's executor profile (`project_id` None) or a project's override of one.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = executor_profiles, check_for_backend(diesel::pg::Pg))]
pub struct ExecutorProfileRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: String,
    pub executor: String,
    /// Variant name → `crate::executors::ProfileOptions`, validated before it is written.
    pub variants: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A profile row to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = executor_profiles)]
pub struct NewExecutorProfile<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: &'a str,
    pub executor: &'a str,
    pub variants: serde_json::Value,
}

/// An encrypted org secret; see `crate::secrets` for the sealing scheme.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = org_secrets, check_for_backend(diesel::pg::Pg))]
pub struct OrgSecret {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for OrgSecret {
    /// Leaves the sealed bytes out: they are useless in a log and only invite copying.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgSecret")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A sealed secret to insert (or upsert).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = org_secrets)]
pub struct NewOrgSecret<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: &'a str,
    pub key_id: &'a str,
    pub nonce: &'a [u8],
    pub ciphertext: &'a [u8],
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_sessions, check_for_backend(diesel::pg::Pg))]
pub struct UserSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub method: SessionMethod,
    pub user_agent: Option<String>,
    pub source_ip: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token_hash: Vec<u8>,
    pub used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invitations, check_for_backend(diesel::pg::Pg))]
pub struct Invitation {
    pub id: Uuid,
    pub org_id: Uuid,
    pub role: MemberRole,
    pub github_login: Option<String>,
    pub email: Option<String>,
    pub token_hash: Vec<u8>,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditEvent {
    pub id: Uuid,
    pub org_id: Uuid,
    pub actor_type: ActorType,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub id: Uuid,
    pub org_id: Uuid,
    pub actor_type: ActorType,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

/// An installation of the GitHub App on a GitHub account, linked to an org (or not yet).
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = github_installations, check_for_backend(diesel::pg::Pg))]
pub struct GithubInstallation {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    pub installation_id: i64,
    pub account_id: i64,
    pub account_login: String,
    pub account_type: String,
    pub repository_selection: String,
    pub installed_by_github_id: Option<i64>,
    pub linked_by: Option<Uuid>,
    pub linked_at: Option<DateTime<Utc>>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A webhook delivery from GitHub, as stored before it was acknowledged.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// `X-GitHub-Delivery`: unique per delivery, kept by GitHub's redeliveries.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub org_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A comment on a task, by a person or an org API token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = task_comments, check_for_backend(diesel::pg::Pg))]
pub struct TaskComment {
    pub id: Uuid,
    pub org_id: Uuid,
    pub task_id: Uuid,
    pub author_user_id: Option<Uuid>,
    pub author_token_id: Option<Uuid>,
    pub author_label: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}
