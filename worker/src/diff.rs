//! An attempt's diff: the base commit's tree against the working directory (through the
//! index, untracked files included, `.gitignore` respected), as [`wire::Diff`]; and the
//! tracker that uploads a new version to the object store whenever it changes.
//!
//! A diff is bounded ([`DiffLimits`]): past `max_files` files or `max_bytes` of hunks,
//! the remaining files keep their path, change and line counts but no hunks, and the
//! diff says it is `truncated`, so a tree full of generated files cannot make every
//! version megabytes long.

use crate::git::{self, WorktreeView};
use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, Oid, Patch};
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use shared::bus;
use shared::keys::Keys;
use shared::store::{self, ObjectStore};
use shared::wire::{self, Diff, DiffLine, DiffSummary, FileChange, FileDiff, Hunk};
use uuid::Uuid;

/// Files larger than this are shown as binary rather than as text hunks, so one generated
/// file cannot make every diff version megabytes long.
pub const MAX_TEXT_FILE_BYTES: i64 = 4 * 1024 * 1024;

/// How much of a diff keeps its hunks (`worker.diff_max_files`, `worker.diff_max_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffLimits {
    /// Files shown with hunks, in path order.
    pub max_files: usize,
    /// Bytes of hunk text (as git prints it) across the diff.
    pub max_bytes: usize,
}

impl DiffLimits {
    /// The limits the worker's settings name.
    pub fn from_settings(settings: &shared::config::WorkerSettings) -> DiffLimits {
        DiffLimits {
            max_files: settings.diff_max_files,
            max_bytes: settings.diff_max_bytes,
        }
    }
}

/// Computes the diff of the working tree against `base_commit` (version 0; the tracker
/// numbers versions), through the worker's own view of it, within `limits`. Blocking.
pub fn compute(
    view: &WorktreeView,
    base_commit: &str,
    limits: DiffLimits,
) -> Result<Diff, git2::Error> {
    let repo = view.open()?;
    let base = repo.find_commit(Oid::from_str(base_commit)?)?.tree()?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .include_typechange(true)
        // A submodule's state is read by opening its `.git`, which may name any
        // repository on the disk: submodules are not the attempt's work.
        .ignore_submodules(true)
        .context_lines(3)
        .max_size(MAX_TEXT_FILE_BYTES);
    let mut diff = repo.diff_tree_to_workdir_with_index(Some(&base), Some(&mut opts))?;
    let mut find = DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find))?;

    let mut files: Vec<(usize, Vec<u8>, FileDiff)> = Vec::new();
    for idx in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(idx) else {
            continue;
        };
        let change = match delta.status() {
            Delta::Added | Delta::Untracked | Delta::Copied => FileChange::Added,
            Delta::Deleted => FileChange::Deleted,
            Delta::Modified | Delta::Typechange => FileChange::Modified,
            Delta::Renamed => FileChange::Renamed,
            Delta::Unmodified | Delta::Ignored | Delta::Unreadable | Delta::Conflicted => continue,
        };
        // What git::commit_all leaves out is not shown either.
        if !git::is_attempts_work(&delta) {
            continue;
        }
        let (new_file, old_file) = (delta.new_file(), delta.old_file());
        let path = match change {
            FileChange::Deleted => old_file.path_bytes(),
            _ => new_file.path_bytes(),
        }
        .unwrap_or_default();
        let mut file = FileDiff::new(path, change);
        if change == FileChange::Renamed {
            file.set_old_path(old_file.path_bytes());
        }
        file.symlink = [new_file.mode(), old_file.mode()].contains(&FileMode::Link);
        files.push((idx, path.to_vec(), file));
    }
    // Which files keep their hunks is decided in path order (of the paths' bytes, which
    // unlike their text tell every path apart), so it does not depend on the order git
    // happens to find them in.
    files.sort_by(|(_, a, _), (_, b, _)| a.cmp(b));
    let plain = without_attributes(view, &base, &files)?;
    let mut hunk_bytes = 0usize;
    let mut truncated = false;
    for (n, (idx, path, file)) in files.iter_mut().enumerate() {
        let Some(delta) = diff.get_delta(*idx) else {
            continue;
        };
        file.too_large = [delta.new_file().size(), delta.old_file().size()]
            .iter()
            .any(|&size| size > MAX_TEXT_FILE_BYTES as u64);
        // Past the size limit git takes a file for binary without reading it.
        if file.too_large {
            file.binary = true;
            continue;
        }
        let contents;
        let patch = if plain && delta.status() != Delta::Typechange {
            contents = Contents::read(&repo, view, &delta, path)?;
            Patch::from_buffers(&contents.old, None, &contents.new, None, Some(&mut opts))?
        } else {
            match Patch::from_diff(&diff, *idx)? {
                Some(patch) => patch,
                None => continue,
            }
        };
        file.binary = patch.delta().flags().is_binary();
        if file.binary {
            continue;
        }
        let (_, additions, deletions) = patch.line_stats()?;
        file.additions = additions as u32;
        file.deletions = deletions as u32;
        let size = patch.size(true, true, false);
        if truncated || n >= limits.max_files || hunk_bytes + size > limits.max_bytes {
            // Past the caps: the file is listed with its counts, without hunks, and so
            // is every file after it.
            truncated = true;
            file.truncated = true;
            continue;
        }
        hunk_bytes += size;
        file.hunks = hunks_of(&patch)?;
    }
    let files: Vec<FileDiff> = files.into_iter().map(|(_, _, f)| f).collect();
    let summary = DiffSummary {
        files_changed: files.len() as u32,
        additions: files.iter().map(|f| f.additions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
    };
    Ok(Diff {
        version: 0,
        base_commit: Some(base_commit.to_owned()),
        summary,
        files,
        truncated,
    })
}

/// Whether no attribute can apply to any file of the diff: no `.gitattributes` in the
/// base tree or among the changed files, and none in the cache's `info`. Then a file's
/// patch is made from its two contents alone ([`Contents`]), which is what libgit2 would
/// make, without looking attributes up for each file (a `realpath` of its folder and a
/// `stat` of every candidate attributes file, twice per file: most of a diff's time).
fn without_attributes(
    view: &WorktreeView,
    base: &git2::Tree<'_>,
    files: &[(usize, Vec<u8>, FileDiff)],
) -> Result<bool, git2::Error> {
    // A renamed file's old path is in the base tree, which is looked through whole.
    let changed_attributes = files
        .iter()
        .any(|(_, path, _)| path.rsplit(|b| *b == b'/').next() == Some(b".gitattributes"));
    Ok(!changed_attributes
        && !view.cache.join("info/attributes").exists()
        && !git::has_attributes_file(base)?)
}

/// The two sides of a changed file, as stored: the base's blob, and the working tree's
/// file (a link's target for a link), read without following a link.
struct Contents {
    old: Vec<u8>,
    new: Vec<u8>,
}

impl Contents {
    fn read(
        repo: &git2::Repository,
        view: &WorktreeView,
        delta: &git2::DiffDelta<'_>,
        new_path: &[u8],
    ) -> Result<Contents, git2::Error> {
        let old = match delta.old_file().exists() {
            true => repo.find_blob(delta.old_file().id())?.content().to_vec(),
            false => Vec::new(),
        };
        let new = match delta.new_file().exists() {
            true => read_worktree_file(&view.worktree, new_path, delta.new_file().mode()).map_err(
                |e| git2::Error::from_str(&format!("{}: {e}", String::from_utf8_lossy(new_path))),
            )?,
            false => Vec::new(),
        };
        Ok(Contents { old, new })
    }
}

/// A working tree file's content as git stores it: a link's target, or the file's bytes.
fn read_worktree_file(
    worktree: &std::path::Path,
    path: &[u8],
    mode: FileMode,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let full = worktree.join(std::ffi::OsStr::from_bytes(path));
    if mode == FileMode::Link {
        return Ok(std::fs::read_link(full)?
            .into_os_string()
            .into_encoded_bytes());
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(full)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A patch's hunks as the diff carries them: each line's text without its line ending
/// (`\n`, or `\r\n`), invalid UTF-8 shown as U+FFFD, and git's "no newline at end of
/// file" markers left out.
pub fn hunks_of(patch: &Patch<'_>) -> Result<Vec<Hunk>, git2::Error> {
    let mut hunks = Vec::with_capacity(patch.num_hunks());
    for h in 0..patch.num_hunks() {
        let (hunk, line_count) = patch.hunk(h)?;
        let mut lines = Vec::with_capacity(line_count);
        for l in 0..line_count {
            let line = patch.line_in_hunk(h, l)?;
            // '=', '>' and '<' mark "no newline at end of file"; the +/- lines carry the text.
            let origin = line.origin();
            if !matches!(origin, '+' | '-' | ' ') {
                continue;
            }
            let mut content = String::from_utf8_lossy(line.content()).into_owned();
            if content.ends_with('\n') {
                content.pop();
                if content.ends_with('\r') {
                    content.pop();
                }
            }
            lines.push(DiffLine { origin, content });
        }
        hunks.push(Hunk {
            header: String::from_utf8_lossy(hunk.header()).trim_end().to_owned(),
            old_start: hunk.old_start(),
            old_lines: hunk.old_lines(),
            new_start: hunk.new_start(),
            new_lines: hunk.new_lines(),
            lines,
        });
    }
    Ok(hunks)
}

/// What the tracker remembers of the stored diff: enough to tell a change and to
/// number the next version, not the diff itself.
#[derive(Debug, Clone, PartialEq)]
struct StoredDiff {
    version: u64,
    /// SHA-256 of the diff's JSON with version 0: equal content, equal hash.
    content: [u8; 32],
    summary: DiffSummary,
}

/// The hash of `diff`'s content, whatever its version.
fn content_hash(diff: &Diff) -> Result<[u8; 32], serde_json::Error> {
    let unversioned = Diff {
        version: 0,
        ..diff.clone()
    };
    Ok(Sha256::digest(serde_json::to_vec(&unversioned)?).into())
}

/// Keeps an attempt's stored diff current: recomputes it, and when its content changed
/// (a hash compare) uploads it as the next version, to be announced on the diff channel.
pub struct DiffTracker {
    pub org_id: Uuid,
    pub attempt_id: Uuid,
    pub view: WorktreeView,
    pub base_commit: String,
    /// The attempt's sandbox uid: the working tree is read with its rights while it runs.
    pub reader_uid: Option<u32>,
    pub limits: DiffLimits,
    store: ObjectStore,
    redis: ConnectionManager,
    keys: Keys,
    /// The last stored diff (its version is the current version).
    last: Option<StoredDiff>,
}

impl DiffTracker {
    /// A tracker that continues the version numbering of whatever diff is already stored
    /// for the attempt (an earlier run or follow-up).
    pub async fn resume(
        store: ObjectStore,
        redis: ConnectionManager,
        keys: Keys,
        org_id: Uuid,
        attempt_id: Uuid,
        view: WorktreeView,
        base_commit: String,
    ) -> DiffTracker {
        let key = store::diff_key(org_id, attempt_id);
        let last = match store.get(&key).await {
            Ok(Some(bytes)) => serde_json::from_slice::<Diff>(&bytes).ok().and_then(|d| {
                Some(StoredDiff {
                    version: d.version,
                    content: content_hash(&d).ok()?,
                    summary: d.summary,
                })
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(attempt.id = %attempt_id, error = %e, "stored diff not readable; versions restart");
                None
            }
        };
        DiffTracker {
            org_id,
            attempt_id,
            view,
            base_commit,
            reader_uid: None,
            limits: DiffLimits {
                max_files: usize::MAX,
                max_bytes: usize::MAX,
            },
            store,
            redis,
            keys,
            last,
        }
    }

    /// Keeps the diffs it stores within `limits` from now on.
    pub fn within(mut self, limits: DiffLimits) -> DiffTracker {
        self.limits = limits;
        self
    }

    /// Reads the working tree as the attempt's sandbox `uid` from now on.
    pub fn read_as(mut self, uid: Option<u32>) -> DiffTracker {
        self.reader_uid = uid;
        self
    }

    /// The object-store key of the attempt's diff.
    pub fn key(&self) -> String {
        store::diff_key(self.org_id, self.attempt_id)
    }

    /// The version of the last stored diff, if any.
    pub fn version(&self) -> Option<u64> {
        self.last.as_ref().map(|d| d.version)
    }

    /// Recomputes the diff and stores it when its content changed. Returns the new
    /// version when one was stored; the caller then records it and
    /// [`DiffTracker::announce`]s it.
    pub async fn refresh(&mut self) -> anyhow::Result<Option<u64>> {
        let view = self.view.clone();
        let base = self.base_commit.clone();
        let reader = self.reader_uid;
        let limits = self.limits;
        let mut diff = shared::blocking::run(move || {
            let _as_attempt = reader.map(crate::sandbox::FsIdentity::assume);
            compute(&view, &base, limits)
        })
        .await??;
        let content = content_hash(&diff)?;
        if self.last.as_ref().is_some_and(|l| l.content == content) {
            return Ok(None);
        }
        diff.version = self.last.as_ref().map_or(0, |d| d.version) + 1;
        let body = serde_json::to_vec(&diff)?;
        self.store
            .put(&self.key(), body, "application/json")
            .await?;
        let version = diff.version;
        self.last = Some(StoredDiff {
            version,
            content,
            summary: diff.summary,
        });
        Ok(Some(version))
    }

    /// Tells diff viewers that `version` is stored. Best effort: a viewer that missed it
    /// reads the stored diff on its next (re)connect.
    pub async fn announce(&mut self, version: u64) {
        if let Err(e) =
            bus::publish_diff_version(&mut self.redis, &self.keys, self.attempt_id, version).await
        {
            tracing::warn!(attempt.id = %self.attempt_id, error = %e, "diff version not announced");
        }
    }

    /// The summary kept on the attempt row.
    pub fn summary(&self) -> Option<wire::DiffSummary> {
        self.last.as_ref().map(|d| d.summary.clone())
    }
}
