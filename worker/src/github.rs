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
