//! What the API and its streams send and accept. These types are the public contract:
//! the OpenAPI document is generated from them, and nothing here touches the database.
//! The limits a body's `#[schema(max_length, ...)]` documents are the ones the api
//! enforces; its generated bad-input tests send values at and one past each of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::models;
use crate::domain::{
    AttemptStatus, GithubRunPolicy, MemberRole, MergeMethod, ProcessStatus, RunReason, TaskOrigin,
    TaskPriority, TaskStatus,
};
use crate::error_code::ErrorCode;
use crate::executors::{ExecutorKind, ProfileOptions, ProfileSource, ResolvedProfile};

/// The error envelope every failing request answers with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable, snake_case `code` for programs and a `message` for people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// One page of a list; `next_cursor` is absent on the last page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub key_prefix: String,
    pub repository: Repository,
    pub default_branch: String,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
    pub dev_script: Option<String>,
    pub default_executor: String,
    /// On a GitHub repository, an issue labelled with this starts a run.
    #[serde(default = "default_trigger_label")]
    pub github_trigger_label: String,
    /// How an attempt's pull request is merged.
    #[serde(default = "default_merge_method")]
    pub merge_method: MergeMethod,
    /// Whether GitHub may trigger runs of the `script` executor, which runs the issue's
    /// text as a shell script. Off unless an admin turns it on.
    #[serde(default)]
    pub github_allow_script: bool,
    /// What GitHub-triggered runs may use: `restricted` (the default: no org secrets
    /// beyond the agent's own credential, supervised where the agent supports it) or
    /// `trusted` (the profile as it is, with every org secret).
    #[serde(default = "default_github_run_policy")]
    pub github_run_policy: GithubRunPolicy,
    /// The profile GitHub-triggered runs use when the comment names none (`name` or
    /// `name:variant`); absent: the default executor's.
    #[serde(default)]
    pub github_profile: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn default_trigger_label() -> String {
    "switchyard".to_owned()
}

fn default_merge_method() -> MergeMethod {
    MergeMethod::Squash
}

fn default_github_run_policy() -> GithubRunPolicy {
    GithubRunPolicy::Restricted
}

impl Project {
    /// Joins a project row with its repository row.
    pub fn from_rows(p: models::Project, r: models::Repository) -> Project {
        Project {
            id: p.id,
            name: p.name,
            key_prefix: p.key_prefix,
            repository: r.into(),
            default_branch: p.default_branch,
            setup_script: p.setup_script,
            cleanup_script: p.cleanup_script,
            dev_script: p.dev_script,
            default_executor: p.default_executor,
            github_trigger_label: p.github_trigger_label,
            merge_method: p.merge_method,
            github_allow_script: p.github_allow_script,
            github_run_policy: p.github_run_policy,
            github_profile: p.github_profile,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Repository {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub default_branch: String,
    /// `owner/name` when the org's GitHub App installation reaches it: pull requests
    /// and issue triggers work for its projects.
    #[serde(default)]
    pub github_full_name: Option<String>,
}

impl From<models::Repository> for Repository {
    fn from(r: models::Repository) -> Self {
        Repository {
            id: r.id,
            name: r.name,
            url: r.url,
            default_branch: r.default_branch,
            github_full_name: r.github_full_name,
        }
    }
}

/// Body of `POST /orgs/{org}/projects`. The repository is a git URL or, in the embedded
/// default, a path to a local repository.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[schema(max_length = 200)]
    pub name: String,
    pub repository_url: String,
    /// Defaults to the first letters of the name, upper-cased.
    pub key_prefix: Option<String>,
    /// Defaults to the repository's current HEAD branch.
    pub default_branch: Option<String>,
    pub setup_script: Option<String>,
    pub cleanup_script: Option<String>,
    pub dev_script: Option<String>,
    pub default_executor: Option<String>,
}

/// Body of `PATCH /orgs/{org}/projects/{id}`; absent fields are left alone, `null`
/// clears an optional script.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    pub default_branch: Option<String>,
    #[serde(default, with = "double_option")]
    pub setup_script: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub cleanup_script: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub dev_script: Option<Option<String>>,
    pub default_executor: Option<String>,
    /// 1 to 50 characters; compared with issue labels case-insensitively.
    #[schema(max_length = 50)]
    pub github_trigger_label: Option<String>,
    pub merge_method: Option<MergeMethod>,
    /// Turning it on needs the `admin` scope.
    pub github_allow_script: Option<bool>,
    /// Setting `trusted` needs the `admin` scope.
    pub github_run_policy: Option<GithubRunPolicy>,
    /// `null` clears it.
    #[serde(default, with = "double_option")]
    pub github_profile: Option<Option<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub project_id: Uuid,
    /// Short human key, e.g. `SY-42`.
    pub key: String,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub position: f64,
    pub priority: TaskPriority,
    pub labels: Vec<String>,
    pub assignee_ids: Vec<Uuid>,
    pub parent_task_id: Option<Uuid>,
    pub origin: TaskOrigin,
    #[serde(serialize_with = "whole_timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "whole_timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// The wire form of a task row; the key needs the project's prefix.
    pub fn from_row(t: models::Task, key_prefix: &str) -> Task {
        Task {
            key: format!("{key_prefix}-{}", t.number),
            id: t.id,
            project_id: t.project_id,
            title: t.title,
            description: t.description,
            status: t.status,
            position: t.position,
            priority: t.priority,
            labels: t.labels.into_iter().flatten().collect(),
            assignee_ids: t.assignee_ids.into_iter().flatten().collect(),
            parent_task_id: t.parent_task_id,
            origin: t.origin,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// Body of `POST /orgs/{org}/projects/{id}/tasks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    #[schema(max_length = 500)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub description: String,
    pub status: Option<TaskStatus>,
    /// Defaults to the end of the column.
    pub position: Option<f64>,
    pub priority: Option<TaskPriority>,
    /// Each 1 to 50 characters (trimmed; repeats are dropped).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub labels: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub assignee_ids: Vec<Uuid>,
    pub parent_task_id: Option<Uuid>,
}

/// Body of `PATCH /orgs/{org}/tasks/{id}`; absent fields are left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    #[schema(max_length = 500)]
    pub title: Option<String>,
    #[schema(max_length = 100_000)]
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub position: Option<f64>,
    pub priority: Option<TaskPriority>,
    /// Each 1 to 50 characters (trimmed; repeats are dropped).
    #[schema(max_items = 20)]
    pub labels: Option<Vec<String>>,
    #[schema(max_items = 20)]
    pub assignee_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub id: Uuid,
    pub task_id: Uuid,
    pub executor: String,
    pub base_branch: String,
    pub branch: String,
    pub base_commit: Option<String>,
    pub head_commit: Option<String>,
    pub status: AttemptStatus,
    pub stop_requested: bool,
    pub retry_count: i32,
    pub max_retries: i32,
    pub failure_reason: Option<String>,
    pub diff_summary: Option<DiffSummary>,
    pub pr_url: Option<String>,
    /// The pull request's number on the project's GitHub repository.
    #[serde(default)]
    pub pr_number: Option<i64>,
    /// `open`, `closed` or `merged`, kept current by GitHub's `pull_request` events.
    #[serde(default)]
    pub pr_state: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The profile the attempt runs with, resolved when it started; absent on attempts
    /// started before profiles existed.
    #[serde(default)]
    pub profile: Option<ResolvedProfile>,
    /// What the agent reported using, summed over the attempt's processes.
    #[serde(default)]
    pub usage: Usage,
}

/// Tokens and cost an agent reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// In US dollars, when the agent reports a cost.
    pub cost_usd: Option<f64>,
}

impl From<models::TaskAttempt> for Attempt {
    fn from(a: models::TaskAttempt) -> Self {
        Attempt {
            id: a.id,
            task_id: a.task_id,
            executor: a.executor,
            base_branch: a.base_branch,
            branch: a.branch,
            base_commit: a.base_commit,
            head_commit: a.head_commit,
            status: a.status,
            stop_requested: a.stop_requested,
            retry_count: a.retry_count,
            max_retries: a.max_retries,
            failure_reason: a.failure_reason,
            diff_summary: a.diff_summary.and_then(|v| serde_json::from_value(v).ok()),
            pr_url: a.pr_url,
            pr_number: a.pr_number,
            pr_state: a.pr_state,
            queued_at: a.queued_at,
            scheduled_at: a.scheduled_at,
            started_at: a.started_at,
            finished_at: a.finished_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
            profile: a
                .executor_profile
                .and_then(|v| serde_json::from_value(v).ok()),
            usage: Usage {
                input_tokens: a.input_tokens,
                output_tokens: a.output_tokens,
                cost_usd: a.cost_usd,
            },
        }
    }
}

/// Body of `POST /orgs/{org}/tasks/{id}/attempts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAttempt {
    /// For the `script` executor, the shell script to run.
    #[schema(max_length = 100_000)]
    pub prompt: String,
    /// Defaults to the project's default executor. With `profile`, it must be the
    /// profile's executor.
    pub executor: Option<String>,
    /// Defaults to the project's default branch.
    pub base_branch: Option<String>,
    /// `name` or `name:variant` (variant `default` when left out), resolved project
    /// override → org profile → built-in. Defaults to the profile named after
    /// `executor` (or the project's default executor).
    #[serde(default)]
    pub profile: Option<String>,
}

/// A branch of a repository (`GET /orgs/{org}/repositories/{id}/branches`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Branch {
    pub name: String,
    /// The commit it points at.
    pub commit: String,
}

/// A comment on a task (`GET`/`POST /orgs/{org}/tasks/{id}/comments`; also the
/// `comment.created` org event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Comment {
    pub id: Uuid,
    pub task_id: Uuid,
    /// The person who wrote it (`None` for an org API token or a removed person).
    pub author_user_id: Option<Uuid>,
    /// The person's login or the token's name, as it was when written.
    pub author_label: String,
    /// Markdown.
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<models::TaskComment> for Comment {
    fn from(c: models::TaskComment) -> Self {
        Comment {
            id: c.id,
            task_id: c.task_id,
            author_user_id: c.author_user_id,
            author_label: c.author_label,
            body: c.body,
            created_at: c.created_at,
        }
    }
}

/// Body of `POST /orgs/{org}/tasks/{id}/comments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComment {
    /// Markdown, 1 to 20,000 characters.
    #[schema(max_length = 20_000)]
    pub body: String,
}

/// Body of `POST /orgs/{org}/attempts/{id}/follow-up`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    #[schema(max_length = 100_000)]
    pub prompt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Process {
    pub id: Uuid,
    pub attempt_id: Uuid,
    pub run_reason: RunReason,
    pub status: ProcessStatus,
    pub exit_code: Option<i32>,
    pub failure_reason: Option<String>,
    pub entry_count: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// What the agent reported using in this process.
    #[serde(default)]
    pub usage: Usage,
    /// The process printed more than the worker keeps (`worker.max_log_bytes_per_process`):
    /// its log ends with a system message saying so, and the rest was dropped.
    #[serde(default)]
    pub log_truncated: bool,
}

impl From<models::ExecutionProcess> for Process {
    fn from(p: models::ExecutionProcess) -> Self {
        Process {
            id: p.id,
            attempt_id: p.attempt_id,
            run_reason: p.run_reason,
            status: p.status,
            exit_code: p.exit_code,
            failure_reason: p.failure_reason,
            entry_count: p.entry_count,
            started_at: p.started_at,
            finished_at: p.finished_at,
            created_at: p.created_at,
            usage: Usage {
                input_tokens: p.input_tokens,
                output_tokens: p.output_tokens,
                cost_usd: p.cost_usd,
            },
            log_truncated: p.log_truncated,
        }
    }
}

/// Totals of a diff, kept on the attempt row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiffSummary {
    pub files_changed: u32,
    pub additions: u32,
    pub deletions: u32,
}

impl DiffSummary {
    /// "3 files changed, +10 −2": what comments and pull requests say of a diff.
    pub fn describe(&self) -> String {
        format!(
            "{} file{} changed, +{} −{}",
            self.files_changed,
            if self.files_changed == 1 { "" } else { "s" },
            self.additions,
            self.deletions
        )
    }
}

/// An attempt's changes against its base commit, untracked files included.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Diff {
    /// Increases each time the worker uploads a changed diff; the diff stream's event id.
    pub version: u64,
    pub base_commit: Option<String>,
    pub summary: DiffSummary,
    pub files: Vec<FileDiff>,
    /// Past the worker's caps (`worker.diff_max_files`, `worker.diff_max_bytes`) some
    /// files are listed without their hunks (each marked `truncated`).
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    Added,
    Modified,
    Deleted,
    Renamed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileDiff {
    /// The file's path. Git paths are bytes: where they are not UTF-8, this shows each
    /// invalid sequence as U+FFFD and `path_raw` holds the exact bytes.
    pub path: String,
    /// The exact bytes of `path`, in standard padded base64, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Byte)]
    pub path_raw: Option<String>,
    /// A renamed file's path before (shown as `path` is).
    pub old_path: Option<String>,
    /// The exact bytes of `old_path`, as `path_raw` for `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Byte)]
    pub old_path_raw: Option<String>,
    pub change: FileChange,
    /// Shown without hunks: git takes the content for binary (or the file is
    /// `too_large`).
    pub binary: bool,
    /// Over the worker's size limit for text (4 MiB) on either side: shown without its
    /// content (and `binary`), whatever it holds.
    #[serde(default)]
    pub too_large: bool,
    /// A symbolic link on either side: its lines are the path the link points to, never
    /// what is there.
    #[serde(default)]
    pub symlink: bool,
    pub additions: u32,
    pub deletions: u32,
    pub hunks: Vec<Hunk>,
    /// Listed past the diff's caps: counts only, no hunks.
    #[serde(default)]
    pub truncated: bool,
}

impl FileDiff {
    /// A file `change`d at `path` (its bytes, as git gives them), nothing counted yet.
    pub fn new(path: &[u8], change: FileChange) -> FileDiff {
        let (path, path_raw) = path_text(path);
        FileDiff {
            path,
            path_raw,
            old_path: None,
            old_path_raw: None,
            change,
            binary: false,
            too_large: false,
            symlink: false,
            additions: 0,
            deletions: 0,
            hunks: Vec::new(),
            truncated: false,
        }
    }

    /// Sets the path the file had before (a rename's), from its bytes.
    pub fn set_old_path(&mut self, old_path: Option<&[u8]>) {
        (self.old_path, self.old_path_raw) = match old_path.map(path_text) {
            Some((text, raw)) => (Some(text), raw),
            None => (None, None),
        };
    }

    /// The exact bytes of the path; `None` when `path_raw` is not base64.
    pub fn path_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        match &self.path_raw {
            None => Some(self.path.clone().into_bytes()),
            Some(raw) => base64::engine::general_purpose::STANDARD.decode(raw).ok(),
        }
    }
}

/// A path's text, and its bytes in base64 when they are not UTF-8.
fn path_text(bytes: &[u8]) -> (String, Option<String>) {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hunk {
    pub header: String,
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiffLine {
    /// `+` added, `-` removed, ` ` context.
    pub origin: char,
    pub content: String,
}

/// Declares the org events once: the enum (adjacently tagged, so each travels as
/// `{"kind": "<kind>", "data": <payload>}`) and each variant's kind, which is also the SSE
/// event name.
macro_rules! org_events {
    ($($(#[doc = $doc:literal])* $variant:ident = $kind:tt ($data:ty),)*) => {
        /// An event on the org stream: something the caller's org can see changed. `kind`
        /// says what happened and fixes the type of `data`.
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        #[serde(tag = "kind", content = "data")]
        pub enum OrgEvent {
            $($(#[doc = $doc])* #[serde(rename = $kind)] $variant($data),)*
        }

        impl OrgEvent {
            /// Every kind, in declaration order.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// What happened, e.g. `task.created`: the SSE event name.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $kind,)*
                }
            }
        }
    };
}

org_events! {
    OrgUpdated = "org.updated" (Organization),
    ProjectCreated = "project.created" (Project),
    ProjectUpdated = "project.updated" (Project),
    ProjectDeleted = "project.deleted" (Deleted),
    TaskCreated = "task.created" (Task),
    TaskUpdated = "task.updated" (Task),
    TaskDeleted = "task.deleted" (Deleted),
    CommentCreated = "comment.created" (Comment),
    AttemptCreated = "attempt.created" (Attempt),
    /// Any change of an attempt: its status (queued → scheduled → running → an end), its
    /// pull request, its merge.
    AttemptUpdated = "attempt.updated" (Attempt),
    ProcessCreated = "process.created" (Process),
    ProcessUpdated = "process.updated" (Process),
    ApprovalRequested = "approval.requested" (crate::approvals::PendingApproval),
    /// A person decided; the agent has not necessarily received it yet.
    ApprovalDecided = "approval.decided" (ApprovalDecided),
    /// The agent received a decision (a person's, or the timeout's denial).
    ApprovalResolved = "approval.resolved" (ApprovalResolved),
    ExecutorProfileCreated = "executor_profile.created" (ExecutorProfile),
    ExecutorProfileUpdated = "executor_profile.updated" (ExecutorProfile),
    ExecutorProfileDeleted = "executor_profile.deleted" (ExecutorProfileDeleted),
    MemberCreated = "member.created" (Member),
    MemberUpdated = "member.updated" (Member),
    MemberDeleted = "member.deleted" (Deleted),
}

/// The `data` of a `*.deleted` org event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub id: Uuid,
}

/// The `data` of an `approval.decided` org event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalDecided {
    /// The approval's id.
    pub id: Uuid,
    pub attempt_id: Uuid,
    pub approve: bool,
    pub reason: Option<String>,
}

/// The `data` of an `approval.resolved` org event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalResolved {
    /// The approval's id.
    pub id: Uuid,
    pub attempt_id: Uuid,
    pub approve: bool,
}

/// `/readyz` answer: each dependency and whether it answered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub postgres: bool,
    pub redis: bool,
    pub s3: bool,
}

/// A timestamp written as chrono writes it (RFC 3339, UTC, `Z`, as many fraction digits as
/// it needs), but as one string. chrono's own `Serialize` hands serde_json a `Display`,
/// which it escapes a character at a time: a tenth of the api's CPU on a board's page of
/// tasks, where every card carries two.
mod whole_timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Lets PATCH bodies tell an absent field (leave alone) from `null` (clear).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// An executor profile: an executor and its named variants of options. Built-in
/// profiles are named after their executor; an org profile of the same name replaces a
/// built-in one for the org, and a project override replaces either for the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecutorProfile {
    pub name: String,
    pub executor: ExecutorKind,
    pub source: ProfileSource,
    /// The project a `project` profile belongs to.
    pub project_id: Option<Uuid>,
    /// The source of the profile of the same name this one hides, if any.
    pub overrides: Option<ProfileSource>,
    /// Variant name → options; always has `default`.
    pub variants: std::collections::BTreeMap<String, ProfileOptions>,
    /// Absent on built-in profiles.
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Body of `POST /orgs/{org}/executor-profiles`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExecutorProfile {
    /// `^[a-z0-9][a-z0-9-]{0,62}$`; an executor's name replaces its built-in profile.
    #[schema(max_length = 63)]
    pub name: String,
    pub executor: String,
    /// Variant name → options; must include `default`.
    #[schema(value_type = std::collections::BTreeMap<String, ProfileOptions>)]
    pub variants: serde_json::Value,
}

/// Body of `PATCH /orgs/{org}/executor-profiles/{name}`: absent fields are left alone;
/// each variant given replaces that variant, and a variant given as `null` is removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateExecutorProfile {
    pub executor: Option<String>,
    /// Variant name → options, or `null` to remove that variant.
    #[schema(value_type = Option<std::collections::BTreeMap<String, ProfileOptions>>)]
    pub variants: Option<serde_json::Value>,
}

/// Body of `PUT /orgs/{org}/projects/{id}/executor-profiles/{name}`: the whole override.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutExecutorProfile {
    pub executor: String,
    /// Variant name → options; must include `default`.
    #[schema(value_type = std::collections::BTreeMap<String, ProfileOptions>)]
    pub variants: serde_json::Value,
}

/// The `data` of an `executor_profile.deleted` org event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutorProfileDeleted {
    pub name: String,
    /// Set when a project override was removed.
    pub project_id: Option<Uuid>,
}

/// An org secret as listings show it: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    /// The environment variable it is injected as.
    pub name: String,
    /// The encryption key it is sealed with (rotation moves secrets to the active key).
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `PUT /orgs/{org}/secrets/{name}`. The value is write-only: no response
/// carries it back.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// At most 16 KiB.
    #[schema(value_type = String, format = Password)]
    pub value: secrecy::SecretString,
}

/// A person, as the API shows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    pub id: Uuid,
    pub login: String,
    pub name: Option<String>,
    /// Shown only to the person themselves and to admins of an org they joined.
    pub email: Option<String>,
    pub avatar_url: Option<String>,
}

impl From<models::User> for UserInfo {
    fn from(u: models::User) -> UserInfo {
        UserInfo {
            id: u.id,
            login: u.login,
            name: u.name,
            email: u.email,
            avatar_url: u.avatar_url,
        }
    }
}

/// Tokens for an API client (the CLI): send `access_token` as a bearer token until it
/// expires, then exchange `refresh_token` (once) at `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    pub refresh_token: String,
    pub user: UserInfo,
}

/// `POST /auth/dev/login`: sign in by login, without GitHub (development only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLogin {
    pub login: String,
}

/// `POST /auth/refresh`: the refresh token, unless the `sy_refresh` cookie carries it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

/// `POST /auth/device/code`: what the CLI shows its user (GitHub's device flow).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceCode {
    /// Polled with `POST /auth/device/token`.
    pub device_code: String,
    /// The code the person types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// `POST /auth/device/token`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTokenRequest {
    pub device_code: String,
}

/// One org the signed-in person belongs to, and their role in it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyOrg {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub role: MemberRole,
}

/// `GET /me`: the signed-in person and their orgs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: UserInfo,
    pub orgs: Vec<MyOrg>,
}

/// An organization: the tenant every project, task, token and member belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    /// The URL name (`/orgs/{slug}/...`): 3-40 lower-case letters, digits or hyphens.
    pub slug: String,
    pub name: String,
    /// How many of the org's attempts may run at once.
    pub max_concurrent_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<models::Organization> for Organization {
    fn from(o: models::Organization) -> Organization {
        Organization {
            id: o.id,
            slug: o.slug,
            name: o.name,
            max_concurrent_attempts: o.max_concurrent_attempts,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// Body of `POST /orgs`: the signed-in person becomes the new org's owner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// 3-40 lower-case letters, digits or hyphens, no hyphen first or last, not a
    /// reserved word (`api`, `admin`, `settings`, ...).
    #[schema(min_length = 3, max_length = 40)]
    pub slug: String,
    #[schema(max_length = 200)]
    pub name: String,
}

/// Body of `PATCH /orgs/{org}`; absent fields are left alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// 1 to the operator's ceiling (`quotas.max_concurrent_attempts`, 20 by default).
    pub max_concurrent_attempts: Option<i32>,
}

/// A person's membership of an org.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user: UserInfo,
    pub role: MemberRole,
    pub joined_at: DateTime<Utc>,
}

/// Body of `PATCH /orgs/{org}/members/{user}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: MemberRole,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Expired,
    Accepted,
    Revoked,
}

/// An invitation to join an org, for a GitHub login or an email address. Its secret is
/// shown once, when it is created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub role: MemberRole,
    pub github_login: Option<String>,
    pub email: Option<String>,
    pub status: InvitationStatus,
    /// The person who sent it (absent when an API token did).
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Invitation {
    /// The wire form of a row, its status judged at `now`.
    pub fn from_row(row: models::Invitation, now: DateTime<Utc>) -> Invitation {
        let status = if row.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if row.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if row.expires_at <= now {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        };
        Invitation {
            id: row.id,
            role: row.role,
            github_login: row.github_login,
            email: row.email,
            status,
            invited_by: row.invited_by,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
            accepted_by: row.accepted_by,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
        }
    }
}

/// Body of `POST /orgs/{org}/invitations`: exactly one of `github_login` and `email`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub github_login: Option<String>,
    pub email: Option<String>,
    pub role: MemberRole,
}

/// A new invitation and its secret, shown this once: send `accept_url` to the invitee.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// The secret (`syi_...`) the invitee presents to `POST /invitations/accept`.
    pub token: String,
    pub accept_url: String,
}

/// Body of `POST /invitations/accept`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
}

/// The org an accepted invitation joined, and the role it granted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AcceptedInvitation {
    pub org: Organization,
    pub role: MemberRole,
}

/// An org API token as listings show it: never the secret or its hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenInfo {
    pub id: Uuid,
    pub name: String,
    /// The secret's first characters, to tell tokens apart.
    pub prefix: String,
    pub scopes: Vec<crate::domain::TokenScope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The person who created it (absent when another token or the bootstrap did).
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<models::ApiToken> for ApiTokenInfo {
    fn from(t: models::ApiToken) -> ApiTokenInfo {
        ApiTokenInfo {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t
                .scopes
                .iter()
                .flatten()
                .filter_map(|s| s.parse().ok())
                .collect(),
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// Body of `POST /orgs/{org}/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// 1 to 100 characters.
    #[schema(max_length = 100)]
    pub name: String,
    /// A non-empty subset of `read`, `write`, `runs`, `admin`.
    pub scopes: Vec<crate::domain::TokenScope>,
    /// 1 to 3650; absent: the deployment's default (`api.token_expiry_days`, 90 unless
    /// the operator changed it; with `0` the token does not expire).
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

/// A new org API token and its secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiToken {
    pub api_token: ApiTokenInfo,
    /// The secret (`sy_...`): send it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// One entry of an org's audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub actor_type: crate::domain::ActorType,
    pub actor_id: Option<Uuid>,
    /// The actor's login or token name at the time.
    pub actor_label: String,
    /// `resource.verb`, e.g. `tasks.update`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub method: String,
    pub path: String,
    /// The HTTP status the request answered.
    pub status: i32,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<models::AuditEvent> for AuditEvent {
    fn from(e: models::AuditEvent) -> AuditEvent {
        AuditEvent {
            id: e.id,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            actor_label: e.actor_label,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            method: e.method,
            path: e.path,
            status: e.status,
            source_ip: e.source_ip,
            request_id: e.request_id,
            created_at: e.created_at,
        }
    }
}

/// A repository of the org, as `GET /orgs/{org}/repositories` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgRepository {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub default_branch: String,
    /// Present for a repository reached through the GitHub App.
    pub github: Option<GithubRepositoryLink>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a repository is reached on GitHub.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GithubRepositoryLink {
    /// GitHub's id of the repository.
    pub repo_id: i64,
    /// `owner/name`.
    pub full_name: String,
    pub private: bool,
    /// The installation that grants access; absent once the App lost access to it.
    pub installation_id: Option<i64>,
    /// Whether Switchyard can reach it now: an installation grants it and is not suspended.
    pub connected: bool,
}

impl OrgRepository {
    /// A repository row, with whether its installation (if any) is suspended.
    pub fn from_row(r: models::Repository, suspended: bool) -> OrgRepository {
        let github = match (r.github_repo_id, r.github_full_name) {
            (Some(repo_id), Some(full_name)) => Some(GithubRepositoryLink {
                repo_id,
                full_name,
                private: r.private,
                installation_id: r.github_installation_id,
                connected: r.github_installation_id.is_some() && !suspended,
            }),
            _ => None,
        };
        OrgRepository {
            id: r.id,
            name: r.name,
            url: r.url,
            default_branch: r.default_branch,
            github,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Answer of `GET /orgs/{org}/github/install`: where an admin installs the GitHub App.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GithubInstallLink {
    /// GitHub's install page, carrying a single-use state that names the org.
    pub url: String,
    /// The state stops working after this.
    pub expires_at: DateTime<Utc>,
}

/// What finishing a GitHub App installation does: which Switchyard org gets which
/// installation. `GET /github/setup/preview` answers it before anything changes, so the
/// person sees where the installation (and its repositories) will go; `POST
/// /github/setup` answers it once done.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GithubSetup {
    /// The Switchyard org that gets (or has) the installation.
    pub org: Organization,
    pub installation_id: i64,
    /// The GitHub account the installation lives on.
    pub account_login: String,
    /// `User` or `Organization`.
    pub account_type: String,
    /// `link` (the install link's org gets the installation) or `sync` (an installation
    /// already linked to the org has its repositories read again).
    pub action: String,
}

/// Body of `POST /github/setup`: the query GitHub sent to the setup URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishGithubSetup {
    pub installation_id: i64,
    /// The install link's state; absent after GitHub's `setup_action=update`.
    #[serde(default)]
    pub state: Option<String>,
}

/// Answer of `POST /github/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookReceipt {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `accepted` (stored, processed shortly), `duplicate` (stored before: nothing more
    /// happens) or `ignored` (stored, no handler for this event).
    pub status: String,
}

#[cfg(test)]
mod org_event_tests {
    use super::*;

    #[test]
    fn an_org_event_travels_as_its_kind_and_data() {
        let id = Uuid::now_v7();
        let event = OrgEvent::TaskDeleted(Deleted { id });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "task.deleted", "data": {"id": id}})
        );
        assert_eq!(event.kind(), "task.deleted");
        let back: OrgEvent = serde_json::from_value(json).unwrap();
        assert!(matches!(back, OrgEvent::TaskDeleted(Deleted { id: got }) if got == id));
    }

    #[test]
    fn a_payload_that_does_not_fit_its_kind_is_refused() {
        let wrong = serde_json::json!({"kind": "task.deleted", "data": {"name": "x"}});
        assert!(serde_json::from_value::<OrgEvent>(wrong).is_err());
        let unknown = serde_json::json!({"kind": "task.archived", "data": {"id": Uuid::nil()}});
        assert!(serde_json::from_value::<OrgEvent>(unknown).is_err());
    }

    #[test]
    fn every_kind_is_documented_in_the_api_reference() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md"))
            .expect("docs/API.md");
        let undocumented: Vec<_> = OrgEvent::KINDS
            .iter()
            .filter(|kind| !doc.contains(&format!("`{kind}`")))
            .collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/API.md: {undocumented:?}"
        );
    }
}

#[cfg(test)]
mod file_diff_tests {
    use super::*;

    #[test]
    fn a_path_that_is_not_utf8_keeps_its_bytes_and_others_travel_as_text() {
        let file = FileDiff::new(b"caf\xe9.txt", FileChange::Added);
        assert_eq!(file.path, "caf\u{FFFD}.txt");
        assert_eq!(file.path_raw.as_deref(), Some("Y2Fm6S50eHQ="));
        assert_eq!(file.path_bytes().as_deref(), Some(&b"caf\xe9.txt"[..]));

        let mut plain = FileDiff::new("new\nline \"q\".txt".as_bytes(), FileChange::Renamed);
        plain.set_old_path(Some(b"\xff.txt"));
        assert_eq!(plain.path_raw, None);
        assert_eq!(plain.old_path.as_deref(), Some("\u{FFFD}.txt"));
        assert_eq!(plain.old_path_raw.as_deref(), Some("/y50eHQ="));
        let json = serde_json::to_value(&plain).expect("json");
        assert!(
            json.get("path_raw").is_none(),
            "absent when the path is text"
        );
        assert_eq!(
            serde_json::from_value::<FileDiff>(json).expect("back"),
            plain
        );
    }

    #[test]
    fn a_diff_stored_before_the_markers_existed_still_reads() {
        let old = r#"{"path":"a","old_path":null,"change":"added","binary":false,"additions":1,"deletions":0,"hunks":[]}"#;
        let file: FileDiff = serde_json::from_str(old).expect("read");
        assert!(!file.too_large && !file.symlink && file.path_raw.is_none());
    }
}

#[cfg(test)]
mod whole_timestamp_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "super::whole_timestamp::serialize")] DateTime<Utc>);

    #[test]
    fn a_timestamp_reads_exactly_as_chronos_own_at_every_precision() {
        let second = Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 5).unwrap();
        for nanos in [0, 120_000_000, 123_456_000, 123_456_789, 999_999_999] {
            let t = second + chrono::Duration::nanoseconds(nanos);
            assert_eq!(
                serde_json::to_string(&Ours(t)).unwrap(),
                serde_json::to_string(&t).unwrap()
            );
        }
    }
}
