//! Checking a project's repository before it is stored.
//!
//! A local repository (an absolute path or a `file://` URL, as the embedded default uses)
//! must open with git2 and have the branch the project builds on; its default branch
//! comes from HEAD when not given. A remote URL (https, ssh, git, or scp-like
//! `user@host:path`) is checked for shape only: it is not fetched from the api.

use std::path::{Path, PathBuf};

use crate::error::ApiError;

/// What the api stores about a checked repository.
#[derive(Debug, Clone)]
pub struct RepoInfo {
    /// The normalized URL: a canonical absolute path for local repositories.
    pub url: String,
    pub name: String,
    pub default_branch: String,
}

/// Where a repository URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Remote(String),
}

/// Branch used for a remote repository when none is given.
const REMOTE_DEFAULT_BRANCH: &str = "main";

/// Sorts a URL into local or remote, or refuses it.
pub fn classify(url: &str) -> Result<Location, ApiError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(ApiError::validation("repository_url must not be empty"));
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Location::Local(PathBuf::from(path)));
    }
    if url.starts_with('/') {
        return Ok(Location::Local(PathBuf::from(url)));
    }
    let remote_scheme = ["https://", "http://", "ssh://", "git://"]
        .iter()
        .any(|scheme| {
            url.strip_prefix(scheme)
                .is_some_and(|rest| rest.contains('/'))
        });
    let scp_like = url
        .split_once(':')
        .is_some_and(|(host, path)| host.contains('@') && !host.contains('/') && !path.is_empty());
    if remote_scheme || scp_like {
        return Ok(Location::Remote(url.to_owned()));
    }
    Err(ApiError::InvalidRepository(format!(
        "{url:?} is neither an absolute path to a git repository nor a git URL"
    )))
}

/// Checks the repository and settles its default branch (the requested one, else HEAD's).
pub async fn inspect(url: &str, branch: Option<&str>) -> Result<RepoInfo, ApiError> {
    if let Some(b) = branch {
        check_branch_name(b)?;
    }
    match classify(url)? {
        Location::Remote(url) => Ok(RepoInfo {
            name: repo_name(&url),
            default_branch: branch.unwrap_or(REMOTE_DEFAULT_BRANCH).to_owned(),
            url,
        }),
        Location::Local(path) => {
            let branch = branch.map(str::to_owned);
            blocking(move || inspect_local(&path, branch.as_deref())).await
        }
    }
}

/// Checks that `branch` exists in a local repository (remote ones are not checked).
pub async fn check_branch_exists(info_url: &str, branch: &str) -> Result<(), ApiError> {
    check_branch_name(branch)?;
    let Location::Local(path) = classify(info_url)? else {
        return Ok(());
    };
    let branch = branch.to_owned();
    blocking(move || {
        let repo = open(&path)?;
        if repo.find_branch(&branch, git2::BranchType::Local).is_err() {
            return Err(ApiError::validation(format!(
                "branch {branch:?} does not exist in the repository"
            )));
        }
        Ok(())
    })
    .await
}

/// Branch names must be valid git ref names.
pub fn check_branch_name(branch: &str) -> Result<(), ApiError> {
    if git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{branch:?} is not a valid branch name"
        )))
    }
}

fn inspect_local(path: &Path, branch: Option<&str>) -> Result<RepoInfo, ApiError> {
    let repo = open(path)?;
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        ApiError::InvalidRepository(format!("{} cannot be resolved: {e}", path.display()))
    })?;
    let default_branch = match branch {
        Some(b) => b.to_owned(),
        None => head_branch(&repo)?,
    };
    if repo
        .find_branch(&default_branch, git2::BranchType::Local)
        .is_err()
    {
        return Err(ApiError::InvalidRepository(format!(
            "branch {default_branch:?} does not exist in {} (does the repository have a commit?)",
            canonical.display()
        )));
    }
    let url = canonical.to_string_lossy().into_owned();
    Ok(RepoInfo {
        name: repo_name(&url),
        url,
        default_branch,
    })
}

fn open(path: &Path) -> Result<git2::Repository, ApiError> {
    git2::Repository::open(path).map_err(|e| {
        ApiError::InvalidRepository(format!(
            "{} is not a git repository: {}",
            path.display(),
            e.message()
        ))
    })
}

/// The branch HEAD points at, even in a repository without commits.
fn head_branch(repo: &git2::Repository) -> Result<String, ApiError> {
    let head = repo.find_reference("HEAD").map_err(|e| {
        ApiError::InvalidRepository(format!("the repository has no HEAD: {}", e.message()))
    })?;
    head.symbolic_target()
        .ok()
        .flatten()
        .and_then(|target| target.strip_prefix("refs/heads/"))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::InvalidRepository(
                "the repository's HEAD is detached; give default_branch".into(),
            )
        })
}

/// The last path segment without `.git`, as people name a repository.
fn repo_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() {
        trimmed.to_owned()
    } else {
        name.to_owned()
    }
}

/// Runs git2 work off the async threads, in the caller's span.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("repository check panicked: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_sorted_into_local_and_remote() {
        assert_eq!(
            classify("/srv/repo").ok(),
            Some(Location::Local("/srv/repo".into()))
        );
        assert_eq!(
            classify("file:///srv/repo").ok(),
            Some(Location::Local("/srv/repo".into()))
        );
        assert!(matches!(
            classify("https://github.com/a/b.git"),
            Ok(Location::Remote(_))
        ));
        assert!(matches!(
            classify("git@github.com:a/b.git"),
            Ok(Location::Remote(_))
        ));
        assert!(matches!(
            classify("relative/path"),
            Err(ApiError::InvalidRepository(_))
        ));
        assert!(matches!(
            classify("https://"),
            Err(ApiError::InvalidRepository(_))
        ));
        assert!(matches!(classify("  "), Err(ApiError::Validation(_))));
    }

    #[test]
    fn repository_names_drop_dot_git() {
        assert_eq!(repo_name("https://github.com/acme/widgets.git"), "widgets");
        assert_eq!(repo_name("git@github.com:acme/widgets.git"), "widgets");
        assert_eq!(repo_name("/srv/repos/demo/"), "demo");
    }

    #[test]
    fn branch_names_follow_git_rules() {
        assert!(check_branch_name("main").is_ok());
        assert!(check_branch_name("feature/x").is_ok());
        assert!(check_branch_name("bad..name").is_err());
        assert!(check_branch_name("").is_err());
    }
}
