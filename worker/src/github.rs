//! The worker's side of the GitHub App: installation tokens for the git operations of an
//! attempt on a GitHub repository. The worker shares the App settings of the api (app id
//! and private key from its own config or environment) and mints each token itself, for
//! the one repository, when it needs one: no token crosses Redis, Postgres or the queue.
//! Tokens are cached in the process until shortly before they expire
//! ([`shared::github::tokens`]); one GitHub refused is dropped and minted again, once.

use secrecy::SecretString;
use shared::db::models::Repository;
use shared::github::{GithubApp, TokenScope};

use crate::git::{GitAuth, GitError};

/// Where an attempt's repository lives on GitHub, when the App reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GithubTarget {
    pub scope: TokenScope,
}

impl GithubTarget {
    /// The target of `repository`: `None` when it is not on GitHub, or the App has no
    /// installation granting it (then it is fetched anonymously and never pushed).
    pub fn of(repository: &Repository) -> Option<GithubTarget> {
        Some(GithubTarget {
            scope: TokenScope::Repository {
                installation_id: repository.github_installation_id?,
                repository_id: repository.github_repo_id?,
            },
        })
    }
}

/// The credential for a git operation on `target`, minted (or taken from the cache) with
/// `app`; with `renew`, a cached token is dropped first (GitHub refused it).
pub async fn git_auth(
    app: Option<&GithubApp>,
    target: Option<GithubTarget>,
    url: &str,
    renew: bool,
) -> Result<Option<GitAuth>, GitError> {
    let Some(target) = target else {
        return Ok(None);
    };
    let Some(app) = app else {
        return Err(GitError::Fetch {
            url: url.to_owned(),
            message: "the repository is on GitHub but this worker has no GitHub App configured \
                      (github.app_id and github.private_key)"
                .into(),
        });
    };
    if renew {
        app.forget_token(target.scope).await;
    }
    let token = app.token(target.scope).await.map_err(|e| GitError::Fetch {
        url: url.to_owned(),
        // GithubError never carries a token.
        message: format!("no installation token: {e}"),
    })?;
    Ok(Some(GitAuth::new(SecretString::from(token.expose()))))
}

/// Comments the result of a finished run on every issue or pull request that started it
/// (a `github_triggers` row of the attempt still owing its result comment), then marks
/// the comment posted. Best effort: a failure is logged and the comment stays owed, so
/// the next end of this attempt posts it.
pub async fn report_result(
    worker: &crate::Worker,
    attempt: &shared::db::models::TaskAttempt,
    task_key: &str,
    repository: &Repository,
) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use shared::db::schema::github_triggers;

    let (Some(app), Some(target)) = (worker.github.as_deref(), GithubTarget::of(repository)) else {
        return;
    };
    let TokenScope::Repository {
        installation_id,
        repository_id,
    } = target.scope
    else {
        return;
    };
    let owed = async {
        let mut conn = worker.db.system().await?;
        let rows: Vec<(uuid::Uuid, String, i64)> = github_triggers::table
            .filter(github_triggers::attempt_id.eq(attempt.id))
            .filter(github_triggers::result_comment_at.is_null())
            .filter(github_triggers::refused_reason.is_null())
            .select((
                github_triggers::id,
                github_triggers::repository_full_name,
                github_triggers::issue_number,
            ))
            .load(&mut conn)
            .await?;
        Ok::<_, anyhow::Error>(rows)
    }
    .await;
    let rows = match owed {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "GitHub result comments not looked up"
            );
            return;
        }
    };
    if rows.is_empty() {
        return;
    }
    let body = result_comment(attempt, task_key);
    for (id, full_name, issue_number) in rows {
        if let Err(e) = app
            .comment(
                installation_id,
                repository_id,
                &full_name,
                issue_number,
                &body,
            )
            .await
        {
            tracing::warn!(error = %e, issue = issue_number, "GitHub result comment not posted");
            continue;
        }
        let marked = async {
            let mut conn = worker.db.system().await?;
            diesel::update(github_triggers::table.find(id))
                .set(github_triggers::result_comment_at.eq(diesel::dsl::now))
                .execute(&mut conn)
                .await?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(e) = marked {
            tracing::warn!(
                error = format!("{e:#}"),
                "GitHub result comment not marked posted"
            );
        }
    }
}

/// The result comment: status, diff stat, branch, and the failure reason if any.
pub fn result_comment(attempt: &shared::db::models::TaskAttempt, task_key: &str) -> String {
    let stat = attempt
        .diff_summary
        .clone()
        .and_then(|v| serde_json::from_value::<shared::wire::DiffSummary>(v).ok())
        .map(|s| s.describe())
        .unwrap_or_else(|| "no changes".to_owned());
    let mut body = format!(
        "Switchyard's run for {task_key} {}: {stat} on branch `{}`.",
        attempt.status, attempt.branch
    );
    if let Some(reason) = &attempt.failure_reason {
        body.push_str(&format!("\n\nWhy it failed: {reason}"));
    }
    body
}
