//! An attempt's pull request on GitHub: opened from its branch ([`open`]), merged with
//! the project's merge method ([`merge`]), and kept current by `pull_request` events
//! ([`on_pull_request`]): the attempt's `pr_state` follows GitHub's, and a merged pull
//! request moves the task to done.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Deserialize;
use shared::db::Conn;
use shared::db::models::{Project, Repository, Task, TaskAttempt};
use shared::db::schema::{projects, repositories, task_attempts, tasks};
use shared::domain::{AttemptStatus, TaskStatus};
use shared::github::GithubApp;
use shared::wire::OrgEvent;
use shared::wire::{self, DiffSummary};
use uuid::Uuid;

use super::events::{Delivery, HandlerError, Outcome};
use crate::error::{ApiError, ErrorCode};
use crate::events::emit;
use crate::state::AppState;

/// Longest pull request body taken from a task description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 20_000;

/// The attempt with everything a pull request needs, in the caller's org.
struct PullContext {
    attempt: TaskAttempt,
    task: Task,
    project: Project,
    repository: Repository,
}

impl PullContext {
    /// The repository on GitHub: installation, repository id and `owner/name`; a 422
    /// `not_on_github` when the App does not reach it.
    fn github(&self) -> Result<(i64, i64, &str), ApiError> {
        match (
            self.repository.github_installation_id,
            self.repository.github_repo_id,
            self.repository.github_full_name.as_deref(),
        ) {
            (Some(installation), Some(repo), Some(name)) => Ok((installation, repo, name)),
            _ => Err(ApiError::BadRequest {
                code: ErrorCode::NotOnGithub,
                message: "the project's repository is not reached through the GitHub App".into(),
            }),
        }
    }
}

async fn load(conn: &mut Conn, org_id: Uuid, attempt_id: Uuid) -> Result<PullContext, ApiError> {
    let attempt = crate::lookup::attempt_for_update(conn, org_id, attempt_id).await?;
    let (task, project, repository): (Task, Project, Repository) = tasks::table
        .inner_join(projects::table.inner_join(repositories::table))
        .filter(tasks::id.eq(attempt.task_id))
        .select((
            Task::as_select(),
            Project::as_select(),
            Repository::as_select(),
        ))
        .first(conn)
        .await?;
    Ok(PullContext {
        attempt,
        task,
        project,
        repository,
    })
}

fn app(state: &AppState) -> Result<&GithubApp, ApiError> {
    state
        .github_app
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest {
            code: ErrorCode::GithubAppNotConfigured,
            message: "the GitHub App is not configured on this server".into(),
        })
}

/// GitHub's refusal of a pull request action, as the api answers it.
fn github_error(e: shared::github::GithubError, what: &str) -> ApiError {
    if e.is_transient() {
        tracing::warn!(error = %e, "GitHub unavailable for {what}");
        return ApiError::Upstream(format!("GitHub could not {what} just now"));
    }
    ApiError::conflict(
        ErrorCode::GithubRefused,
        format!("GitHub refused to {what}: {e}"),
    )
}

/// The pull request's body: the task's description, the attempt's summary and a link.
fn pull_body(state: &AppState, ctx: &PullContext, org_slug: &str) -> String {
    let key = format!("{}-{}", ctx.project.key_prefix, ctx.task.number);
    let mut body = String::new();
    let description: String = ctx
        .task
        .description
        .chars()
        .take(MAX_DESCRIPTION_CHARS)
        .collect();
    if !description.trim().is_empty() {
        body.push_str(description.trim());
        body.push_str("\n\n");
    }
    body.push_str(&format!(
        "---\nMade by Switchyard for [{key}]({}/orgs/{org_slug}/tasks/{}) with `{}` on `{}`.",
        state.settings.api.public_url.trim_end_matches('/'),
        ctx.task.id,
        ctx.attempt.executor,
        ctx.attempt.branch,
    ));
    if let Some(stat) = diff_stat(ctx.attempt.diff_summary.as_ref()) {
        body.push_str(&format!(" {stat}."));
    }
    body
}

/// "3 files changed, +10 −2", from an attempt's diff summary.
pub fn diff_stat(summary: Option<&serde_json::Value>) -> Option<String> {
    let summary: DiffSummary = serde_json::from_value(summary?.clone()).ok()?;
    Some(summary.describe())
}

/// Opens the attempt's pull request (its branch into its base branch). The attempt must
/// have ended with commits on its branch; one with a pull request answers 409
/// `pull_request_exists`.
pub async fn open(
    state: &AppState,
    org_id: Uuid,
    org_slug: &str,
    attempt_id: Uuid,
) -> Result<TaskAttempt, ApiError> {
    let mut conn = state.db.org(org_id).await?;
    let ctx = load(&mut conn, org_id, attempt_id).await?;
    drop(conn);
    let app = app(state)?;
    let (installation, repo_id, full_name) = ctx.github()?;
    if ctx.attempt.pr_number.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::PullRequestExists,
            "the attempt already has a pull request",
        ));
    }
    if !matches!(
        ctx.attempt.status,
        AttemptStatus::Succeeded | AttemptStatus::Failed
    ) {
        return Err(ApiError::conflict(
            ErrorCode::AttemptBusy,
            format!(
                "the attempt is {}; a pull request needs a finished attempt",
                ctx.attempt.status
            ),
        ));
    }
    if ctx.attempt.head_commit.is_none() || ctx.attempt.head_commit == ctx.attempt.base_commit {
        return Err(ApiError::conflict(
            ErrorCode::NothingToMerge,
            "the attempt's branch has no commits of its own",
        ));
    }
    let title = format!(
        "{}-{}: {}",
        ctx.project.key_prefix, ctx.task.number, ctx.task.title
    );
    let body = pull_body(state, &ctx, org_slug);
    let pull = app
        .create_pull(
            installation,
            repo_id,
            full_name,
            &ctx.attempt.branch,
            &ctx.attempt.base_branch,
            &title,
            &body,
        )
        .await
        .map_err(|e| github_error(e, "open the pull request"))?;
    let mut conn = state.db.org(org_id).await?;
    let attempt: TaskAttempt = diesel::update(task_attempts::table.find(attempt_id))
        .set((
            task_attempts::pr_number.eq(pull.number),
            task_attempts::pr_url.eq(&pull.html_url),
            task_attempts::pr_state.eq("open"),
        ))
        .returning(TaskAttempt::as_returning())
        .get_result(&mut conn)
        .await?;
    drop(conn);
    emit(
        state,
        org_id,
        OrgEvent::AttemptUpdated(wire::Attempt::from(attempt.clone())),
    )
    .await;
    Ok(attempt)
}

/// Merges the attempt's open pull request with the project's merge method; the task
/// moves to done (GitHub's `pull_request.closed` event says the same later, harmlessly).
pub async fn merge(
    state: &AppState,
    org_id: Uuid,
    attempt_id: Uuid,
) -> Result<TaskAttempt, ApiError> {
    let mut conn = state.db.org(org_id).await?;
    let ctx = load(&mut conn, org_id, attempt_id).await?;
    drop(conn);
    let app = app(state)?;
    let (installation, repo_id, full_name) = ctx.github()?;
    let Some(number) = ctx.attempt.pr_number else {
        return Err(ApiError::conflict(
            ErrorCode::NoPullRequest,
            "the attempt has no pull request; open one first",
        ));
    };
    if ctx.attempt.pr_state.as_deref() == Some("merged") {
        return Ok(ctx.attempt);
    }
    app.merge_pull(
        installation,
        repo_id,
        full_name,
        number,
        ctx.project.merge_method.as_str(),
    )
    .await
    .map_err(|e| github_error(e, "merge the pull request"))?;
    let (attempt, task) = record_state(state, org_id, attempt_id, "merged").await?;
    announce(
        state,
        org_id,
        &ctx.project.key_prefix,
        attempt.clone(),
        task,
    )
    .await;
    Ok(attempt)
}

/// Sets the attempt's `pr_state`; `merged` also moves its task to done. Returns the
/// attempt and the task when the task moved.
async fn record_state(
    state: &AppState,
    org_id: Uuid,
    attempt_id: Uuid,
    pr_state: &str,
) -> Result<(TaskAttempt, Option<Task>), ApiError> {
    let mut conn = state.db.org(org_id).await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let attempt: TaskAttempt = diesel::update(task_attempts::table.find(attempt_id))
            .set(task_attempts::pr_state.eq(pr_state))
            .returning(TaskAttempt::as_returning())
            .get_result(conn)
            .await?;
        let task = if pr_state == "merged" {
            diesel::update(
                tasks::table
                    .find(attempt.task_id)
                    .filter(tasks::status.ne(TaskStatus::Done)),
            )
            .set(tasks::status.eq(TaskStatus::Done))
            .returning(Task::as_returning())
            .get_result(conn)
            .await
            .optional()?
        } else {
            None
        };
        Ok((attempt, task))
    })
    .await
}

async fn announce(
    state: &AppState,
    org_id: Uuid,
    key_prefix: &str,
    attempt: TaskAttempt,
    task: Option<Task>,
) {
    emit(
        state,
        org_id,
        OrgEvent::AttemptUpdated(wire::Attempt::from(attempt)),
    )
    .await;
    if let Some(task) = task {
        emit(
            state,
            org_id,
            OrgEvent::TaskUpdated(wire::Task::from_row(task, key_prefix)),
        )
        .await;
    }
}

#[derive(Debug, Deserialize)]
struct PullRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Debug, Deserialize)]
struct PullPayload {
    number: i64,
    html_url: String,
    state: String,
    #[serde(default)]
    merged: bool,
    head: PullRef,
}

#[derive(Debug, Deserialize)]
struct PayloadRepo {
    id: i64,
}

/// `pull_request` payload.
#[derive(Debug, Deserialize)]
struct PullRequestEvent {
    pull_request: PullPayload,
    repository: PayloadRepo,
}

/// `pull_request`: an attempt's pull request (by number, or by its branch when it was
/// opened on GitHub) gets GitHub's state; merged moves the task to done.
pub async fn on_pull_request(
    state: &AppState,
    delivery: &Delivery,
) -> Result<Outcome, HandlerError> {
    let (Some(org_id), Some(installation_id)) = (delivery.org_id, delivery.installation_id) else {
        return Ok(Outcome::Ignored("the installation is not linked".into()));
    };
    let event: PullRequestEvent = delivery.payload_as()?;
    let pull = &event.pull_request;
    let mut conn = state.db.org(org_id).await?;
    let found: Option<(TaskAttempt, String)> = task_attempts::table
        .inner_join(tasks::table.inner_join(projects::table.inner_join(repositories::table)))
        .filter(task_attempts::org_id.eq(org_id))
        .filter(repositories::github_repo_id.eq(event.repository.id))
        .filter(repositories::github_installation_id.eq(installation_id))
        .filter(
            task_attempts::pr_number
                .eq(pull.number)
                .or(task_attempts::branch.eq(&pull.head.name)),
        )
        .order(task_attempts::created_at.desc())
        .select((TaskAttempt::as_select(), projects::key_prefix))
        .first(&mut conn)
        .await
        .optional()?;
    drop(conn);
    let Some((attempt, key_prefix)) = found else {
        return Ok(Outcome::Ignored(
            "the pull request is not an attempt's".into(),
        ));
    };
    let pr_state = if pull.merged {
        "merged"
    } else if pull.state == "closed" {
        "closed"
    } else {
        "open"
    };
    if attempt.pr_number.is_none() {
        // Opened on GitHub from the attempt's branch: adopt it.
        let mut conn = state.db.org(org_id).await?;
        diesel::update(task_attempts::table.find(attempt.id))
            .set((
                task_attempts::pr_number.eq(pull.number),
                task_attempts::pr_url.eq(&pull.html_url),
            ))
            .execute(&mut conn)
            .await?;
    }
    let (attempt, task) = record_state(state, org_id, attempt.id, pr_state)
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
    announce(state, org_id, &key_prefix, attempt, task).await;
    Ok(Outcome::Processed)
}
