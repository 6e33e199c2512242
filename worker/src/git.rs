//! The repository cache and attempt worktrees, with git2. Everything here blocks: call it
//! from `spawn_blocking`.
//!
//! Layout under the worker's data dir:
//! - `repos/<repository id>.git` — a bare cache of the repository; every remote branch is
//!   fetched into `refs/heads/`, and attempt branches live beside them;
//! - `repos/<repository id>.lock` — serialises cache changes between worker processes
//!   sharing the data dir;
//! - `worktrees/<attempt id>` — the attempt's working tree on its own branch.

use git2::{
    AutotagOption, BranchType, Cred, CredentialType, FetchOptions, IndexAddOption, Oid,
    PushOptions, RemoteCallbacks, Repository, ResetType, Signature, StatusOptions,
    WorktreeAddOptions, WorktreePruneOptions,
};
use secrecy::{ExposeSecret, SecretString};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Author and committer of the commits the worker makes.
pub const AUTHOR_NAME: &str = "Switchyard";
pub const AUTHOR_EMAIL: &str = "switchyard@localhost";

/// Why a worktree could not be prepared or committed. The message is shown to people as
/// the attempt's failure reason.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("repository {url} could not be fetched: {message}")]
    Fetch { url: String, message: String },
    #[error("base branch '{branch}' does not exist in repository {url}")]
    MissingBaseBranch { url: String, branch: String },
    /// The remote refused the credentials (an installation token that expired or was
    /// revoked): the caller mints a new one and tries once more.
    #[error("repository {url} refused the credentials")]
    CredentialsRefused { url: String },
    #[error("branch '{branch}' could not be pushed to {url}: {message}")]
    Push {
        url: String,
        branch: String,
        message: String,
    },
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
    #[error("worker data dir: {0}")]
    Io(#[from] io::Error),
}

/// What an attempt needs checked out.
#[derive(Debug, Clone)]
pub struct WorktreeSpec {
    pub data_dir: PathBuf,
    pub repository_id: Uuid,
    /// A git URL or a path to a local repository.
    pub url: String,
    pub attempt_id: Uuid,
    pub branch: String,
    pub base_branch: String,
    /// The base commit recorded by an earlier run of this attempt, if any.
    pub base_commit: Option<String>,
    /// How to authenticate to `url` (a GitHub repository), if at all.
    pub auth: Option<GitAuth>,
}

/// An HTTPS credential for a remote: GitHub's `x-access-token` user with an installation
/// token as the password. It reaches libgit2 only through the credentials callback, so it
/// is never written into a remote URL, a git config, a log line or an error; `Debug`
/// hides it.
#[derive(Clone)]
pub struct GitAuth {
    token: SecretString,
}

impl GitAuth {
    pub fn new(token: SecretString) -> GitAuth {
        GitAuth { token }
    }
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitAuth([REDACTED])")
    }
}

/// Remote callbacks that answer one credential request with `auth`. libgit2 asks again
/// when the remote refuses what it was given; the second request is refused here and
/// recorded in `refused`, so the caller can tell a refused token from any other failure.
fn callbacks<'a>(auth: Option<&'a GitAuth>, refused: &'a Cell<bool>) -> RemoteCallbacks<'a> {
    let mut cbs = RemoteCallbacks::new();
    let asked = Cell::new(false);
    cbs.credentials(move |_url, _user, allowed| {
        let Some(auth) = auth else {
            refused.set(true);
            return Err(git2::Error::from_str("the remote asks for credentials"));
        };
        if asked.replace(true) || !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            refused.set(true);
            return Err(git2::Error::from_str("the remote refused the credentials"));
        }
        Cred::userpass_plaintext("x-access-token", auth.token.expose_secret())
    });
    cbs
}

impl WorktreeSpec {
    /// The bare cache of the repository.
    pub fn cache_path(&self) -> PathBuf {
        self.data_dir
            .join("repos")
            .join(format!("{}.git", self.repository_id))
    }

    /// The attempt's working tree.
    pub fn worktree_path(&self) -> PathBuf {
        self.data_dir
            .join("worktrees")
            .join(self.attempt_id.to_string())
    }

    fn lock_path(&self) -> PathBuf {
        self.data_dir
            .join("repos")
            .join(format!("{}.lock", self.repository_id))
    }
}

/// A worktree ready for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedWorktree {
    pub path: PathBuf,
    /// The commit the attempt's diff is taken against.
    pub base_commit: String,
    /// False when an existing worktree (follow-up, retry) was reset and reused.
    pub created: bool,
}

/// Makes the attempt's worktree ready:
/// - an existing worktree is reset hard to its branch head and cleaned of untracked files
///   (what a crashed run left behind);
/// - a branch already in the cache gets a new worktree;
/// - otherwise the repository is fetched and the branch created from the base branch.
pub fn prepare_worktree(spec: &WorktreeSpec) -> Result<PreparedWorktree, GitError> {
    std::fs::create_dir_all(spec.data_dir.join("repos"))?;
    std::fs::create_dir_all(spec.data_dir.join("worktrees"))?;
    let _lock = FileLock::acquire(&spec.lock_path())?;
    let cache = open_or_init_cache(&spec.cache_path())?;
    let path = spec.worktree_path();

    if path.exists() {
        match reuse_worktree(&path, &spec.branch) {
            Ok(head) => {
                let base_commit = spec.base_commit.clone().unwrap_or_else(|| head.to_string());
                return Ok(PreparedWorktree {
                    path,
                    base_commit,
                    created: false,
                });
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "worktree unusable; recreating it");
                std::fs::remove_dir_all(&path)?;
            }
        }
    }
    prune_stale_worktree(&cache, &spec.attempt_id.to_string())?;

    let branch_exists = cache.find_branch(&spec.branch, BranchType::Local).is_ok();
    let base_commit = if branch_exists {
        match &spec.base_commit {
            Some(c) => c.clone(),
            None => cache
                .find_branch(&spec.branch, BranchType::Local)?
                .get()
                .peel_to_commit()?
                .id()
                .to_string(),
        }
    } else {
        fetch(&cache, &spec.url, spec.auth.as_ref())?;
        // A branch an earlier run pushed (this attempt ran on another worker before) comes
        // back with the fetch: go on from it.
        if let Ok(pushed) = cache.find_branch(&spec.branch, BranchType::Local) {
            let head = pushed.get().peel_to_commit()?.id().to_string();
            let base_commit = spec.base_commit.clone().unwrap_or(head);
            return add_worktree(&cache, spec, path, base_commit);
        }
        let base = match spec
            .base_commit
            .as_deref()
            .and_then(|c| Oid::from_str(c).ok())
            .and_then(|oid| cache.find_commit(oid).ok())
        {
            Some(commit) => commit,
            None => cache
                .find_branch(&spec.base_branch, BranchType::Local)
                .map_err(|_| GitError::MissingBaseBranch {
                    url: spec.url.clone(),
                    branch: spec.base_branch.clone(),
                })?
                .get()
                .peel_to_commit()?,
        };
        cache.branch(&spec.branch, &base, false)?;
        base.id().to_string()
    };
    add_worktree(&cache, spec, path, base_commit)
}

/// Checks the attempt's branch out in a new worktree at `path`.
fn add_worktree(
    cache: &Repository,
    spec: &WorktreeSpec,
    path: PathBuf,
    base_commit: String,
) -> Result<PreparedWorktree, GitError> {
    let branch = cache.find_branch(&spec.branch, BranchType::Local)?;
    let reference = branch.into_reference();
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(&reference));
    cache.worktree(&spec.attempt_id.to_string(), &path, Some(&opts))?;
    Ok(PreparedWorktree {
        path,
        base_commit,
        created: true,
    })
}

fn open_or_init_cache(path: &Path) -> Result<Repository, GitError> {
    match Repository::open_bare(path) {
        Ok(repo) => Ok(repo),
        Err(_) => {
            if path.exists() {
                // A cache left half-made by a crash: start it again.
                std::fs::remove_dir_all(path)?;
            }
            Ok(Repository::init_bare(path)?)
        }
    }
}

/// Fetches every branch of `url` into the cache's `refs/heads/`. The remote is anonymous
/// (nothing is written to the cache's config) and `auth` goes only to the callback.
fn fetch(cache: &Repository, url: &str, auth: Option<&GitAuth>) -> Result<(), GitError> {
    let refused = Cell::new(false);
    let fetch_err = |e: git2::Error| {
        if refused.get() && auth.is_some() {
            GitError::CredentialsRefused {
                url: url.to_owned(),
            }
        } else {
            GitError::Fetch {
                url: url.to_owned(),
                message: e.message().to_owned(),
            }
        }
    };
    let mut remote = cache.remote_anonymous(url).map_err(fetch_err)?;
    let mut opts = FetchOptions::new();
    opts.download_tags(AutotagOption::None);
    opts.remote_callbacks(callbacks(auth, &refused));
    remote
        .fetch(&["+refs/heads/*:refs/heads/*"], Some(&mut opts), None)
        .map_err(fetch_err)?;
    Ok(())
}

/// Pushes the attempt's branch from the repository cache to the spec's URL, replacing
/// what is there (the branch belongs to the attempt: a retried run on a fresh cache
/// rewrites it). A refusal of the ref by the remote (a protected branch, a hook) is an
/// error too.
pub fn push_branch(spec: &WorktreeSpec) -> Result<(), GitError> {
    let _lock = FileLock::acquire(&spec.lock_path())?;
    let (url, branch, auth) = (spec.url.as_str(), spec.branch.as_str(), spec.auth.as_ref());
    let cache = Repository::open_bare(spec.cache_path())?;
    let refused = Cell::new(false);
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let push_err = |e: git2::Error| {
        if refused.get() && auth.is_some() {
            GitError::CredentialsRefused {
                url: url.to_owned(),
            }
        } else {
            GitError::Push {
                url: url.to_owned(),
                branch: branch.to_owned(),
                message: e.message().to_owned(),
            }
        }
    };
    let mut remote = cache.remote_anonymous(url).map_err(push_err)?;
    let mut cbs = callbacks(auth, &refused);
    cbs.push_update_reference(|_refname, status| {
        if let Some(status) = status {
            *rejected.borrow_mut() = Some(status.to_owned());
        }
        Ok(())
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(cbs);
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    remote
        .push(&[refspec.as_str()], Some(&mut opts))
        .map_err(push_err)?;
    drop(opts);
    if let Some(message) = rejected.into_inner() {
        return Err(GitError::Push {
            url: url.to_owned(),
            branch: branch.to_owned(),
            message: format!("the remote rejected it: {message}"),
        });
    }
    Ok(())
}

/// Drops worktree metadata whose directory is gone, so the name can be used again.
fn prune_stale_worktree(cache: &Repository, name: &str) -> Result<(), GitError> {
    if let Ok(wt) = cache.find_worktree(name) {
        let mut opts = WorktreePruneOptions::new();
        opts.valid(true).locked(true).working_tree(false);
        wt.prune(Some(&mut opts))?;
    }
    Ok(())
}

/// Resets an existing worktree to its branch head and removes untracked files (ignored
/// ones stay: they are build caches, not work). Returns the head commit.
fn reuse_worktree(path: &Path, branch: &str) -> Result<Oid, GitError> {
    let repo = Repository::open(path)?;
    let refname = format!("refs/heads/{branch}");
    let current = repo
        .head()
        .ok()
        .and_then(|h| h.name().ok().map(str::to_owned));
    if current.as_deref() != Some(refname.as_str()) {
        repo.set_head(&refname)?;
    }
    let head = repo.find_reference(&refname)?.peel_to_commit()?;
    repo.reset(head.as_object(), ResetType::Hard, None)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let workdir = repo
        .workdir()
        .ok_or_else(|| git2::Error::from_str("worktree has no working directory"))?
        .to_path_buf();
    for entry in repo.statuses(Some(&mut opts))?.iter() {
        if !entry.status().is_wt_new() {
            continue;
        }
        let rel = std::ffi::OsStr::from_bytes(entry.path_bytes());
        let target = workdir.join(rel);
        let removed = if target.is_dir() {
            std::fs::remove_dir_all(&target)
        } else {
            std::fs::remove_file(&target)
        };
        if let Err(e) = removed
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(e.into());
        }
    }
    Ok(head.id())
}

/// Commits everything in the worktree (untracked files included, `.gitignore` respected,
/// deletions staged) on its branch. Returns the branch head, which is unchanged when there
/// was nothing to commit.
pub fn commit_all(worktree: &Path, message: &str) -> Result<String, GitError> {
    let repo = Repository::open(worktree)?;
    let mut index = repo.index()?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"], None)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let parent = repo.head()?.peel_to_commit()?;
    if parent.tree_id() == tree_id {
        return Ok(parent.id().to_string());
    }
    let tree = repo.find_tree(tree_id)?;
    let sig = Signature::now(AUTHOR_NAME, AUTHOR_EMAIL)?;
    let oid = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])?;
    Ok(oid.to_string())
}

/// An exclusive `flock` on a file, released on drop (or when the process dies).
struct FileLock {
    file: File,
}

impl FileLock {
    fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock { file });
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor we own; closing it would release the lock anyway.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}
