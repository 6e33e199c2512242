//! The repository cache and attempt worktrees, with git2. Everything here blocks: call it
//! from `shared::blocking::run`.
//!
//! Layout under the worker's data dir:
//! - `repos/<repository id>.git` — a bare cache of the repository; every remote branch is
//!   fetched into `refs/heads/`, and attempt branches live beside them;
//! - `repos/<repository id>.lock` — serialises cache changes between worker processes
//!   sharing the data dir;
//! - `worktrees/<attempt id>` — the attempt's working tree, given to the attempt's
//!   sandbox uid: a repository of its own on the attempt's branch whose objects come from
//!   the cache (`objects/info/alternates`, mounted read only in the sandbox), so the agent
//!   can run git as it likes without write access to anything shared;
//! - `indexes/<attempt id>` — the worker's own index of that working tree.
//!
//! The worker never opens the attempt's `.git` (its config, hooks and alternates are the
//! agent's to write): it reads the working tree through its [`WorktreeView`], the cache
//! (whose config only the worker writes) with the working tree as its workdir and the
//! worker's own index, and commits to the branch in the cache, from where it pushes.

use crate::checkout;
use git2::build::CheckoutBuilder;
use git2::{
    AutotagOption, BranchType, Cred, CredentialType, DiffDelta, DiffOptions, FetchOptions,
    FileMode, Index, Oid, PushOptions, RemoteCallbacks, Repository, RepositoryInitOptions,
    Signature, Tree, TreeWalkMode, TreeWalkResult,
};
use secrecy::{ExposeSecret, SecretString};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
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
    #[error("checkout: {0}")]
    Checkout(#[from] checkout::CheckoutError),
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
fn callbacks<'a>(
    auth: Option<&'a GitAuth>,
    refused: &'a Cell<bool>,
    expected_url: &'a str,
) -> RemoteCallbacks<'a> {
    let mut cbs = RemoteCallbacks::new();
    let asked = Cell::new(false);
    cbs.credentials(move |url, _user, allowed| {
        let Some(auth) = auth else {
            refused.set(true);
            return Err(git2::Error::from_str("the remote asks for credentials"));
        };
        // The token is for the repository's own host over its own scheme, never for a
        // host a rewritten or redirected URL leads to.
        if origin_of(url) != origin_of(expected_url) {
            refused.set(true);
            return Err(git2::Error::from_str(
                "credentials asked for by another host than the repository's",
            ));
        }
        if asked.replace(true) || !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            refused.set(true);
            return Err(git2::Error::from_str("the remote refused the credentials"));
        }
        Cred::userpass_plaintext("x-access-token", auth.token.expose_secret())
    });
    cbs
}

/// `scheme://host[:port]` of a URL, lower-cased; the whole string when it has no scheme.
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_ascii_lowercase();
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}").to_ascii_lowercase()
}

/// Stops libgit2 from reading any configuration but a repository's own: no system file,
/// and no global one from `$HOME` (the agent's home is the agent's to write). Call once
/// at start, before any repository is opened.
pub fn isolate_config() -> Result<(), git2::Error> {
    use git2::ConfigLevel;
    for level in [
        ConfigLevel::System,
        ConfigLevel::XDG,
        ConfigLevel::Global,
        ConfigLevel::ProgramData,
    ] {
        // SAFETY: called at start-up, before any thread uses libgit2.
        unsafe { git2::opts::set_search_path(level, "")? };
    }
    Ok(())
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

    pub fn index_path(&self) -> PathBuf {
        self.data_dir
            .join("indexes")
            .join(self.attempt_id.to_string())
    }

    /// How the worker reads and commits this attempt's working tree.
    pub fn view(&self) -> WorktreeView {
        WorktreeView {
            cache: self.cache_path(),
            worktree: self.worktree_path(),
            index: self.index_path(),
            branch: self.branch.clone(),
        }
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
    /// Always true: a follow-up's or retry's tree is made anew from the branch.
    pub created: bool,
    pub view: WorktreeView,
}

/// The worker's trusted way into an attempt's working tree (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeView {
    pub cache: PathBuf,
    pub worktree: PathBuf,
    pub index: PathBuf,
    pub branch: String,
}

impl WorktreeView {
    /// The cache, with the working tree as its workdir and the worker's index.
    pub fn open(&self) -> Result<Repository, git2::Error> {
        let repo = Repository::open_bare(&self.cache)?;
        repo.set_workdir(&self.worktree, false)?;
        let mut index = Index::open(&self.index)?;
        repo.set_index(&mut index)?;
        Ok(repo)
    }

    fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }
}

/// Makes the attempt's worktree ready:
/// - an existing worktree is reset hard to its branch head and cleaned of untracked files
///   (what a crashed run left behind);
/// - a branch already in the cache gets a new worktree;
/// - otherwise the repository is fetched and the branch created from the base branch.
pub fn prepare_worktree(spec: &WorktreeSpec) -> Result<PreparedWorktree, GitError> {
    for dir in ["", "repos", "worktrees", "indexes"] {
        crate::sandbox::passage_dir(&spec.data_dir.join(dir))?;
    }
    let _lock = FileLock::acquire(&spec.lock_path())?;
    let cache = open_or_init_cache(&spec.cache_path())?;
    let path = spec.worktree_path();

    if path.exists() {
        // A turn of this attempt ran here before; the worker committed what it left, so
        // the branch holds it. Whatever came after (a crashed run) is dropped with the
        // tree, which is recreated from the branch below. Removal does not follow links.
        std::fs::remove_dir_all(&path)?;
    }

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
        if let Ok(pushed) = cache.find_branch(&spec.branch, BranchType::Local) {
            let head = pushed.get().peel_to_commit()?.id().to_string();
            let base_commit = spec.base_commit.clone().unwrap_or(head);
            return check_out(&cache, spec, path, base_commit);
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
    check_out(&cache, spec, path, base_commit)
}

/// Makes the attempt's own repository at `path`: its objects from the cache, its branch at
/// the cache's branch head, checked out; then the worker's index, from that checkout.
fn check_out(
    cache: &Repository,
    spec: &WorktreeSpec,
    path: PathBuf,
    base_commit: String,
) -> Result<PreparedWorktree, GitError> {
    let head = cache
        .find_branch(&spec.branch, BranchType::Local)?
        .get()
        .peel_to_commit()?
        .id();
    let mut init = RepositoryInitOptions::new();
    init.no_reinit(true).mkpath(true).initial_head(&spec.branch);
    drop(Repository::init_opts(&path, &init)?);
    let objects = cache.path().join("objects");
    std::fs::write(
        path.join(".git/objects/info/alternates"),
        format!("{}\n", objects.display()),
    )?;
    let repo = Repository::open(&path)?;
    let refname = format!("refs/heads/{}", spec.branch);
    repo.reference(&refname, head, true, "switchyard: the attempt's branch")?;
    let tree = repo.find_commit(head)?.tree()?;
    let index = path.join(".git/index");
    let listing = checkout::Listing::of(&repo, &tree)?;
    if listing.has_attributes() {
        // libgit2 applies what the attributes say.
        let mut checkout = CheckoutBuilder::new();
        checkout.force();
        repo.checkout_head(Some(&mut checkout))?;
    } else {
        // Every file is written as stored, which the worker's own checkout does in
        // parallel (see `checkout`).
        listing.write(&repo, &path, &index)?;
    }
    // The checkout's index carries the stat data of the files just written: the worker's
    // own copy lets its diffs hash only what changes.
    std::fs::copy(&index, spec.index_path())?;
    Ok(PreparedWorktree {
        view: spec.view(),
        path,
        base_commit,
        created: true,
    })
}

/// Whether `tree` holds a `.gitattributes` at any depth: what decides whether a diff
/// must look attributes up (the worker's hosts set no attributes or `core.autocrlf` of
/// their own).
pub(crate) fn has_attributes_file(tree: &Tree<'_>) -> Result<bool, git2::Error> {
    let mut found = false;
    tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.name_bytes() == b".gitattributes" {
            found = true;
            TreeWalkResult::Abort
        } else {
            TreeWalkResult::Ok
        }
    })
    .or_else(|e| if found { Ok(()) } else { Err(e) })?;
    Ok(found)
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
    opts.remote_callbacks(callbacks(auth, &refused, url));
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
    let mut cbs = callbacks(auth, &refused, url);
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

/// Commits everything in the working tree (untracked files included, `.gitignore`
/// respected, deletions staged) on its branch in the cache, through the worker's own
/// index. Returns the branch head, which is unchanged when there was nothing to commit.
/// Call only once nothing of the attempt runs any more (nothing can swap a file for a
/// link while it is read).
///
/// Files and links are the attempt's work; repositories inside the working tree are not:
/// a submodule's entry stays as the branch has it, and a new nested repository is left
/// out, because finding either's commit means opening its `.git`, which may name any
/// repository on the disk. (libgit2's `add_all` and `update_all` open them: so the
/// changes are staged here from a diff that ignores submodules.)
pub fn commit_all(view: &WorktreeView, message: &str) -> Result<String, GitError> {
    let repo = view.open()?;
    let mut index = repo.index()?;
    let changes = {
        let mut opts = DiffOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_typechange(true)
            .ignore_submodules(true);
        let diff = repo.diff_index_to_workdir(Some(&index), Some(&mut opts))?;
        diff.deltas()
            .filter(is_attempts_work)
            .filter_map(|d| {
                let path = d.new_file().path().or(d.old_file().path())?;
                Some((path.to_path_buf(), d.new_file().exists()))
            })
            .collect::<Vec<_>>()
    };
    for (path, exists) in changes {
        if exists {
            index.add_path(&path)?;
        } else {
            index.remove_path(&path)?;
        }
    }
    index.write()?;
    let tree_id = index.write_tree_to(&repo)?;
    let branch = view.branch_ref();
    let parent = repo.find_reference(&branch)?.peel_to_commit()?;
    if parent.tree_id() == tree_id {
        return Ok(parent.id().to_string());
    }
    let tree = repo.find_tree(tree_id)?;
    let sig = Signature::now(AUTHOR_NAME, AUTHOR_EMAIL)?;
    let oid = repo.commit(Some(&branch), &sig, &sig, message, &tree, &[&parent])?;
    Ok(oid.to_string())
}

/// Whether a change git found is the attempt's work. Neither the attempt's own
/// repository (`.git` at the top of the working tree) nor a repository inside the tree (a
/// submodule, or a folder with a `.git` of its own, whose commit git reads only by
/// opening that repository) is.
pub fn is_attempts_work(delta: &DiffDelta<'_>) -> bool {
    let nested = [delta.new_file().mode(), delta.old_file().mode()]
        .iter()
        .any(|m| matches!(m, FileMode::Commit | FileMode::Tree));
    let own = delta
        .new_file()
        .path()
        .or(delta.old_file().path())
        .and_then(|p| p.components().next())
        .is_some_and(|c| c.as_os_str() == ".git");
    !nested && !own
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

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn credentials_go_only_to_the_repositorys_own_scheme_and_host() {
        let real = "https://github.com/acme/app.git";
        assert_eq!(origin_of("https://github.com/other/x"), origin_of(real));
        assert_eq!(
            origin_of("https://x-access-token@GitHub.com/acme/app"),
            origin_of(real)
        );
        for other in [
            "http://github.com/acme/app.git",
            "https://github.com.evil.example/acme/app.git",
            "https://evil.example/github.com/acme/app.git",
            "https://github.com:8443/acme/app.git",
            "ssh://git@github.com/acme/app.git",
        ] {
            assert_ne!(origin_of(other), origin_of(real), "{other}");
        }
    }
}
