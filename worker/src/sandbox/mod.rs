//! The sandbox every attempt process runs in (docs/SECURITY.md).
//!
//! The worker holds the platform's credentials; nothing an attempt runs may. So every
//! attempt process (agent, tools, setup and cleanup scripts) runs:
//! - as an unprivileged uid and gid of its own, taken from a pool for as long as the
//!   attempt runs on this host ([`Identity`]): it cannot read the worker's memory or
//!   environment, another attempt's files or processes, and every process it leaves
//!   behind, `setsid` or not, is found and killed by that uid ([`kill_uid`]);
//! - with `namespaces`, in new pid, mount, network, IPC and UTS namespaces
//!   ([`launch`]): it sees only its own processes, a filesystem where the worker's data
//!   dir holds nothing but its worktree, its agent home and its repository cache (read
//!   only), private `/tmp` and `/run`, and a network namespace with only a loopback
//!   interface; its way out is the worker's egress proxy ([`net`]). When the sandbox's
//!   first process ends, the kernel kills everything left in its pid namespace.

pub mod launch;
pub mod net;

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shared::config::SandboxSettings;

pub use launch::Launch;

/// The uid (and gid, the same number) an attempt runs as on this host, held until drop.
#[derive(Debug)]
pub struct Identity {
    pub uid: u32,
    /// The pool slot's lock: held by this worker process while the attempt runs here, and
    /// released by the kernel if the worker dies.
    _lock: File,
}

impl Identity {
    /// Takes a free uid of the pool (a free slot's lock), kills whatever a crashed worker
    /// may have left running under it, and returns it. Blocking.
    pub fn acquire(settings: &SandboxSettings, data_dir: &Path) -> io::Result<Identity> {
        // The pool is the host's, whatever data dir each worker on it has: the locks live
        // in /run when it can hold them (a read-only root in a pod: the data dir).
        let dir = [
            PathBuf::from("/run/switchyard/sandbox-uids"),
            data_dir.join("sandbox").join("uids"),
        ]
        .into_iter()
        .find(|d| private_dir(d).is_ok())
        .ok_or_else(|| io::Error::other("no folder for the sandbox uid locks"))?;
        let count = settings.uid_count.max(1);
        // Start at a different slot per worker process, so workers sharing a host rarely
        // contend for the same lock.
        let start = std::process::id() % count;
        for i in 0..count {
            let uid = settings.uid_base.saturating_add((start + i) % count);
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!("{uid}.lock")))?;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                kill_uid(uid);
                return Ok(Identity { uid, _lock: file });
            }
        }
        Err(io::Error::other(format!(
            "all {count} sandbox uids from {} are in use on this host",
            settings.uid_base
        )))
    }
}

/// Creates `dir` (and its parents) readable by root only.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Creates `dir` so that others may pass through it but not list it: the worker's data
/// dir and its per-kind folders, where each attempt's own folder carries its own owner.
pub fn passage_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
}

/// Gives `root` and everything below it to `uid`, without following symbolic links (what
/// an earlier turn left there may point anywhere). Call only while nothing runs as the
/// tree's current owner.
pub fn chown_tree(root: &Path, uid: u32) -> io::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.uid() != uid || meta.gid() != uid {
            std::os::unix::fs::lchown(&path, Some(uid), Some(uid))?;
        }
        if meta.file_type().is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// The live (not zombie) processes of `uid`. The owner of `/proc/<pid>` is the
/// process's effective uid, which for an attempt is its uid for good (it holds no
/// capability and `no_new_privs` stops setuid programs), so one `stat` per entry picks
/// them out before their `stat` file is read: this runs on the watchdog's every tick.
pub fn processes_of(uid: u32) -> Vec<crate::runner::ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| crate::runner::parse_stat(&text))
        .filter(|p| p.state != 'Z' && p.state != 'X')
        .collect()
}

/// SIGKILLs every process of `uid` until none is left (or ten seconds pass): what an
/// attempt started, including what escaped its process group with `setsid` or a double
/// fork, since it cannot change its uid.
pub fn kill_uid(uid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = processes_of(uid);
        if pids.is_empty() {
            return;
        }
        for p in pids {
            // SAFETY: kill only sends a signal.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
        }
        if Instant::now() >= deadline {
            tracing::warn!(uid, "processes of the sandbox uid survive SIGKILL");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `/etc/passwd` and `/etc/group` the sandbox sees: root, the attempt's own user and
/// nobody (tools such as ssh and Node's `os.userInfo()` want their user to exist).
/// Written under the worker's private folder; returns their paths.
pub fn account_files(data_dir: &Path, uid: u32, home: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("sandbox").join("etc").join(uid.to_string());
    std::fs::create_dir_all(&dir)?;
    let passwd = dir.join("passwd");
    let group = dir.join("group");
    std::fs::write(
        &passwd,
        format!(
            "root:x:0:0:root:/root:/usr/sbin/nologin\n\
             sandbox:x:{uid}:{uid}:Switchyard attempt:{}:/bin/bash\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            home.display()
        ),
    )?;
    std::fs::write(
        &group,
        format!("root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n"),
    )?;
    for f in [&passwd, &group] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok((passwd, group))
}

/// Reads files as `uid` on this thread for as long as the guard lives (Linux keeps the
/// filesystem uid per thread): the worker reads what an attempt wrote with the attempt's
/// own rights, so a symbolic link swapped in mid-read can only lead where the attempt
/// could already read.
pub struct FsIdentity {
    previous_uid: u32,
    previous_gid: u32,
}

impl FsIdentity {
    pub fn assume(uid: u32) -> FsIdentity {
        // SAFETY: setfsuid/setfsgid change this thread's filesystem ids; the previous
        // values are returned and restored on drop.
        let previous_gid = unsafe { libc::setfsgid(uid) } as u32;
        let previous_uid = unsafe { libc::setfsuid(uid) } as u32;
        FsIdentity {
            previous_uid,
            previous_gid,
        }
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        // SAFETY: as in `assume`.
        unsafe {
            libc::setfsuid(self.previous_uid);
            libc::setfsgid(self.previous_gid);
        }
    }
}

/// Whether this process can run sandboxes: it must be able to switch uids.
pub fn can_switch_uid() -> bool {
    // SAFETY: geteuid only reads this process's credentials.
    unsafe { libc::geteuid() == 0 }
}
