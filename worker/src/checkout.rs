//! The worker's own checkout of a commit into a new, empty working tree, for trees that
//! convert nothing on the way out (no `.gitattributes`: [`Listing::has_attributes`]).
//!
//! libgit2's checkout writes one file at a time and, per file, validates and resolves its
//! folder on disk again; a checkout is mostly the kernel making inodes, which two writers
//! in different folders do side by side. So: every folder is made first, in tree order;
//! then the files and links are written by several threads, each with its own handle on
//! the objects, each on a contiguous run of paths (its own folders, mostly); then the
//! index is written from the stat data each write returned, so the first diff hashes
//! nothing that did not change.
//!
//! The tree may come from anyone: a name that could leave the working tree or reach its
//! `.git` is refused, and nothing is written through a link. Folders are made with
//! `mkdir` and files with `O_CREAT | O_EXCL | O_NOFOLLOW` in a tree nothing else writes
//! to yet, so a name given twice (a link and a folder, say) fails instead of following.

use git2::{FileMode, Index, IndexEntry, IndexTime, Oid, Repository, Tree};
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// At most this many threads write files.
const MAX_WRITERS: usize = 4;

/// Below this many files one thread writes them all: threads cost more than they save.
const FILES_PER_WRITER: usize = 256;

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("the tree names a path that cannot be checked out: {0:?}")]
    InvalidPath(String),
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
    #[error("writing {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// One thing of the tree to put on disk.
struct Leaf {
    path: Vec<u8>,
    id: Oid,
    mode: FileMode,
}

/// A tree listed for checkout: its folders (parents before children) and its leaves, in
/// tree order, which is also the index's order. Listing it checks every name.
pub struct Listing {
    folders: Vec<Vec<u8>>,
    leaves: Vec<Leaf>,
}

impl Listing {
    pub fn of(repo: &Repository, tree: &Tree<'_>) -> Result<Listing, CheckoutError> {
        let mut listing = Listing {
            folders: Vec::new(),
            leaves: Vec::new(),
        };
        collect(repo, tree, &mut Vec::new(), &mut listing)?;
        Ok(listing)
    }

    /// Whether the tree holds a `.gitattributes` at any depth: attributes may convert
    /// files on the way out (eol, `ident`, filters), which this checkout does not do.
    pub fn has_attributes(&self) -> bool {
        self.leaves
            .iter()
            .any(|leaf| leaf.path.rsplit(|b| *b == b'/').next() == Some(b".gitattributes"))
    }

    /// Writes the tree into `workdir` (which holds nothing but the repository's `.git`)
    /// and the index recording it to `index_path`.
    pub fn write(
        &self,
        repo: &Repository,
        workdir: &Path,
        index_path: &Path,
    ) -> Result<(), CheckoutError> {
        for folder in &self.folders {
            let path = workdir.join(OsStr::from_bytes(folder));
            std::fs::create_dir(&path).map_err(|source| io_error(folder, source))?;
        }

        let leaves = &self.leaves;
        let writers = (leaves.len() / FILES_PER_WRITER).clamp(1, max_writers());
        let run = leaves.len().div_ceil(writers).max(1);
        let gitdir = repo.path();
        let stats: Vec<Vec<Stat>> = std::thread::scope(|scope| {
            let handles: Vec<_> = leaves
                .chunks(run)
                .map(|chunk| scope.spawn(move || write_leaves(gitdir, workdir, chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect::<Result<_, _>>()
        })?;

        let mut index = Index::open(index_path)?;
        for (leaf, stat) in leaves.iter().zip(stats.into_iter().flatten()) {
            index.add(&entry(leaf, &stat))?;
        }
        index.write()?;
        Ok(())
    }
}

fn max_writers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WRITERS))
}

/// Adds `tree`'s folders and leaves under `prefix` to `listing`, depth first.
fn collect(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &mut Vec<u8>,
    listing: &mut Listing,
) -> Result<(), CheckoutError> {
    for entry in tree.iter() {
        let name = entry.name_bytes();
        let start = prefix.len();
        if start > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(name);
        if !safe_name(name) {
            return Err(CheckoutError::InvalidPath(
                String::from_utf8_lossy(prefix).into_owned(),
            ));
        }
        match entry.filemode() {
            m if m == i32::from(FileMode::Tree) => {
                listing.folders.push(prefix.clone());
                let subtree = repo.find_tree(entry.id())?;
                collect(repo, &subtree, prefix, listing)?;
            }
            m => {
                let mode = match m {
                    m if m == i32::from(FileMode::BlobExecutable) => FileMode::BlobExecutable,
                    m if m == i32::from(FileMode::Link) => FileMode::Link,
                    m if m == i32::from(FileMode::Commit) => FileMode::Commit,
                    _ => FileMode::Blob,
                };
                listing.leaves.push(Leaf {
                    path: prefix.clone(),
                    id: entry.id(),
                    mode,
                });
            }
        }
        prefix.truncate(start);
    }
    Ok(())
}

/// Whether a tree entry's name is one component that stays inside the working tree and
/// out of its `.git` (in any case, as git itself refuses it).
fn safe_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.eq_ignore_ascii_case(b".git")
        && !name.contains(&b'/')
        && !name.contains(&0)
}

/// What the index records of a file just written.
struct Stat {
    ctime: IndexTime,
    mtime: IndexTime,
    dev: u32,
    ino: u32,
    uid: u32,
    gid: u32,
    size: u32,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        // The index keeps 32 bits of each, as git does.
        Stat {
            ctime: IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
            mtime: IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
            dev: meta.dev() as u32,
            ino: meta.ino() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size() as u32,
        }
    }

    /// A submodule's entry: nothing of it is on disk but its empty folder.
    fn none() -> Stat {
        Stat {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            uid: 0,
            gid: 0,
            size: 0,
        }
    }
}

fn entry(leaf: &Leaf, stat: &Stat) -> IndexEntry {
    IndexEntry {
        ctime: stat.ctime,
        mtime: stat.mtime,
        dev: stat.dev,
        ino: stat.ino,
        mode: u32::from(leaf.mode),
        uid: stat.uid,
        gid: stat.gid,
        file_size: stat.size,
        id: leaf.id,
        flags: 0,
        flags_extended: 0,
        path: leaf.path.clone(),
    }
}

/// One writer: its own handle on the repository's objects, its run of leaves.
fn write_leaves(
    gitdir: &Path,
    workdir: &Path,
    leaves: &[Leaf],
) -> Result<Vec<Stat>, CheckoutError> {
    let repo = Repository::open(gitdir)?;
    let odb = repo.odb()?;
    let mut stats = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        let path: PathBuf = workdir.join(OsStr::from_bytes(&leaf.path));
        let failed = |source| io_error(&leaf.path, source);
        let stat = match leaf.mode {
            FileMode::Commit => {
                // A submodule is not checked out: its folder stays empty, as git leaves it.
                std::fs::create_dir(&path).map_err(failed)?;
                Stat::none()
            }
            FileMode::Link => {
                let object = odb.read(leaf.id)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(object.data()), &path)
                    .map_err(failed)?;
                Stat::of(&std::fs::symlink_metadata(&path).map_err(failed)?)
            }
            mode => {
                let object = odb.read(leaf.id)?;
                let permissions = if mode == FileMode::BlobExecutable {
                    0o755
                } else {
                    0o644
                };
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(permissions)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(failed)?;
                file.write_all(object.data()).map_err(failed)?;
                Stat::of(&file.metadata().map_err(failed)?)
            }
        };
        stats.push(stat);
    }
    Ok(stats)
}

fn io_error(path: &[u8], source: io::Error) -> CheckoutError {
    CheckoutError::Io {
        path: String::from_utf8_lossy(path).into_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_that_leave_the_tree_or_reach_its_git_folder_are_refused() {
        let refused: &[&[u8]] = &[b"", b".", b"..", b".git", b".GIT", b".Git", b"a/b", b"a\0b"];
        let taken: &[&[u8]] = &[b"a", b".gitignore", b".github", b"..a", b"git", b"x.git"];
        for (names, safe) in [(refused, false), (taken, true)] {
            for name in names {
                assert_eq!(safe_name(name), safe, "{}", name.escape_ascii());
            }
        }
    }
}
