//! Files an attempt can leave in its working tree that would block the worker's git.
//!
//! libgit2 reads the `.gitignore` and `.gitattributes` of every folder it walks with a
//! plain `open`, following links; on a FIFO that `open` waits for a writer for ever, so
//! a FIFO (or a link to one) by one of those names stops a diff or a commit, and with it
//! the attempt. Everything else it reads is classified by `lstat` first, so other FIFOs,
//! sockets and devices are skipped, never opened.
//!
//! [`release`] runs once nothing of the attempt runs any more (nothing can be swapped
//! while it looks): it wakes a diff stuck on such a FIFO (opening the FIFO for writing,
//! without blocking, gives the waiting reader an empty file) and removes what could stop
//! the next one: every FIFO, socket and device node in the tree (git can commit none of
//! them), and every `.gitignore` or `.gitattributes` link that leads to anything but a
//! regular file or a folder.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The names libgit2 opens in every folder it walks.
const RULE_FILES: &[&str] = &[".gitignore", ".gitattributes"];

/// Wakes whatever waits on a blocking file in `worktree` and removes those files (see
/// the module docs). `reader_uid` is the uid the live diff reads as: a FIFO a link leads
/// to outside the tree is opened with its rights only. Returns what was removed. Call
/// only once every process of the attempt is gone. Blocking.
pub fn release(worktree: &Path, reader_uid: Option<u32>) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut folders = vec![worktree.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            // The attempt's own repository is not walked by the worker's git.
            if folder == worktree && entry.file_name() == ".git" {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_fifo()
                || kind.is_socket()
                || kind.is_block_device()
                || kind.is_char_device()
            {
                if kind.is_fifo() {
                    wake_readers(&path, libc::O_NOFOLLOW);
                }
                std::fs::remove_file(&path)?;
                removed.push(path);
            } else if kind.is_symlink()
                && RULE_FILES.iter().any(|n| entry.file_name() == *n)
                && leads_to_a_blocking_file(&path, reader_uid)
            {
                std::fs::remove_file(&path)?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}

/// Whether the link at `path` leads to something git's `open` could block on (anything
/// but a regular file or a folder); a FIFO it leads to has its readers woken, with the
/// rights of `reader_uid`.
fn leads_to_a_blocking_file(path: &Path, reader_uid: Option<u32>) -> bool {
    let Ok(target) = std::fs::metadata(path) else {
        // Dangling, or out of reach: git's `stat` fails the same way and reads nothing.
        return false;
    };
    let kind = target.file_type();
    if kind.is_fifo() {
        let _as_reader = reader_uid.map(crate::sandbox::FsIdentity::assume);
        wake_readers(path, 0);
    }
    !(kind.is_file() || kind.is_dir())
}

/// Opens the FIFO at `path` for writing without blocking (with `flags` besides) and
/// closes it: a reader waiting in `open` returns and reads end of file. Fails harmlessly
/// when nobody waits.
fn wake_readers(path: &Path, flags: libc::c_int) {
    let _ = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(path);
}
