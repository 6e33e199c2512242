//! Starting a process inside the sandbox: the code that runs between `fork` and `exec`.
//!
//! With namespaces, the forked child (call it the *keeper*, still root) unshares pid,
//! mount, network, IPC and UTS namespaces, rebuilds its view of the filesystem, brings
//! up its loopback, and waits at a gate until the worker has set up the network
//! namespace's listeners (loopback forwards, egress proxy). It then forks the
//! sandbox's *init* (pid 1 of the new pid namespace), which mounts a fresh `/proc`,
//! becomes the attempt's uid, and forks the process that `exec`s the command. Init
//! reaps orphans and exits when the command does, which makes the kernel kill every
//! process left in the namespace; the keeper passes the command's status on to the
//! worker. Without namespaces the child only becomes the attempt's uid before `exec`.
//!
//! Everything here after `fork` must be async-signal-safe: plain system calls on data
//! prepared beforehand, no allocation, no locks.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Descriptor numbers the keeper parks its bind sources and the gate on; above anything
/// a worker has open when it spawns (the keeper closes everything else).
const FIRST_PARKED_FD: RawFd = 900;
const GATE_FD: RawFd = 899;

/// What a sandboxed process sees and is.
#[derive(Debug, Clone)]
pub struct Launch {
    pub uid: u32,
    pub namespaces: bool,
    /// The worker's data dir: inside the sandbox an empty tmpfs but for the binds.
    pub data_dir: PathBuf,
    /// Folders the sandbox sees at their own paths, (path, writable): its worktree, home
    /// and cache in the otherwise empty data dir, and the folders of the programs the
    /// operator configured for agents, which a private /tmp may otherwise hide.
    pub binds: Vec<(PathBuf, bool)>,
    /// Replacement `/etc/passwd` and `/etc/group` (see `super::account_files`).
    pub passwd: PathBuf,
    pub group: PathBuf,
    pub cwd: PathBuf,
}

/// `setrlimit` calls the sandboxed process gets, after it has become the attempt's uid.
pub type Limits = Vec<(libc::__rlimit_resource_t, u64, u64)>;

/// The prepared form of a [`Launch`]: every path as a C string, built before `fork`.
struct Plan {
    uid: libc::uid_t,
    namespaces: bool,
    limits: Limits,
    /// (source, target, writable, `/proc/self/fd/N` of the parked source)
    binds: Vec<(CString, CString, bool, CString)>,
    data_dir: CString,
    /// Made before the data dir's tmpfs is mounted (its ancestors, when a private /tmp
    /// hid them), and after (the bind targets' folders), in order.
    mkdir_before: Vec<CString>,
    mkdir_after: Vec<CString>,
    cwd: CString,
    hostname: CString,
    /// (target, options) of each private tmpfs.
    private_tmpfs: Vec<(CString, CString)>,
    data_tmpfs_options: CString,
    tmpfs: CString,
    proc_fs: CString,
    gate: RawFd,
}

/// The worker's side of the keeper's gate: open it once the network namespace is ready.
#[derive(Debug)]
pub struct Gate {
    /// Kept open until the spawn has forked (the keeper parks its copy).
    read: OwnedFd,
    write: OwnedFd,
}

impl Gate {
    /// Lets the sandboxed command start.
    pub fn open(self) -> io::Result<()> {
        drop(self.read);
        let byte = [b'g'];
        // SAFETY: writing one byte from a live buffer to a descriptor we own.
        let n = unsafe { libc::write(self.write.as_raw_fd(), byte.as_ptr().cast(), 1) };
        if n == 1 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other(format!("path with a NUL byte: {}", path.display())))
}

/// Every folder from the root down to `path` itself.
fn ancestry(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    out.reverse();
    out.retain(|p| p.as_os_str().len() > 1);
    out
}

impl Launch {
    /// Arranges for `cmd` to start inside this sandbox. With namespaces, returns the gate
    /// to open once the worker has set up the sandbox's network (its command waits until
    /// then, and never starts if the gate is dropped unopened).
    pub fn install(
        &self,
        cmd: &mut tokio::process::Command,
        limits: Limits,
    ) -> io::Result<Option<Gate>> {
        let mut binds = Vec::new();
        let mut mkdir_after = Vec::new();
        let mut mkdir_before: Vec<CString> = ancestry(&self.data_dir)
            .iter()
            .map(|p| cstring(p))
            .collect::<io::Result<_>>()?;
        let targets = self
            .binds
            .iter()
            .map(|(p, w)| (p.clone(), p.clone(), *w))
            .chain([
                (self.passwd.clone(), PathBuf::from("/etc/passwd"), false),
                (self.group.clone(), PathBuf::from("/etc/group"), false),
            ]);
        for (fd, (source, target, writable)) in (FIRST_PARKED_FD..).zip(targets) {
            if let Ok(inside) = target.strip_prefix(&self.data_dir) {
                for dir in ancestry(inside) {
                    let full = cstring(&self.data_dir.join(dir))?;
                    if !mkdir_after.contains(&full) {
                        mkdir_after.push(full);
                    }
                }
            } else if source.is_dir() {
                // Outside the data dir (a program the operator configured, perhaps under
                // a /tmp the sandbox gets privately): its folders may need making again.
                for dir in ancestry(&target) {
                    let full = cstring(&dir)?;
                    if !mkdir_before.contains(&full) {
                        mkdir_before.push(full);
                    }
                }
            }
            binds.push((
                cstring(&source)?,
                cstring(&target)?,
                writable,
                CString::new(format!("/proc/self/fd/{fd}")).map_err(io::Error::other)?,
            ));
        }
        let gate = if self.namespaces {
            let mut fds = [0; 2];
            // SAFETY: pipe2 fills the two-element array.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both descriptors were just created and are ours alone.
            unsafe {
                Some(Gate {
                    read: OwnedFd::from_raw_fd(fds[0]),
                    write: OwnedFd::from_raw_fd(fds[1]),
                })
            }
        } else {
            None
        };
        let plan = Arc::new(Plan {
            uid: self.uid,
            namespaces: self.namespaces,
            limits,
            binds,
            data_dir: cstring(&self.data_dir)?,
            mkdir_before,
            mkdir_after,
            cwd: cstring(&self.cwd)?,
            hostname: CString::new("sandbox").map_err(io::Error::other)?,
            private_tmpfs: [
                ("/tmp", "mode=1777,size=50%"),
                ("/var/tmp", "mode=1777,size=50%"),
                ("/dev/shm", "mode=1777,size=50%"),
                ("/run", "mode=0755,size=1m"),
            ]
            .iter()
            .map(|(t, o)| Ok((CString::new(*t)?, CString::new(*o)?)))
            .collect::<Result<_, std::ffi::NulError>>()
            .map_err(io::Error::other)?,
            data_tmpfs_options: CString::new("mode=0755,size=1m").map_err(io::Error::other)?,
            tmpfs: CString::new("tmpfs").map_err(io::Error::other)?,
            proc_fs: CString::new("proc").map_err(io::Error::other)?,
            gate: gate.as_ref().map_or(-1, |g| g.read.as_raw_fd()),
        });
        let keep = plan.clone();
        // SAFETY: `enter` makes only async-signal-safe system calls on the prepared plan.
        unsafe {
            cmd.pre_exec(move || enter(&keep));
        }
        Ok(gate)
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Becomes the attempt's uid for good: no supplementary groups, no way back, no way up.
fn become_attempt_user(plan: &Plan) -> io::Result<()> {
    // SAFETY: plain credential system calls.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(plan.uid, plan.uid, plan.uid))?;
        check(libc::setresuid(plan.uid, plan.uid, plan.uid))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
    }
    for &(resource, soft, hard) in &plan.limits {
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct we pass.
        check(unsafe { libc::setrlimit(resource, &limit) })?;
    }
    Ok(())
}

fn enter(plan: &Plan) -> io::Result<()> {
    // SAFETY: the system calls below touch only the prepared plan and stack values.
    unsafe {
        check(libc::setsid())?;
        if !plan.namespaces {
            return become_attempt_user(plan);
        }
        check(libc::unshare(
            libc::CLONE_NEWNS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS,
        ))?;
        let none = std::ptr::null::<libc::c_char>();
        check(libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        // Park every bind source before anything covers it.
        for (i, (source, ..)) in plan.binds.iter().enumerate() {
            let fd = libc::open(source.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            check(fd)?;
            check(libc::dup2(fd, FIRST_PARKED_FD + i as RawFd))?;
            libc::close(fd);
        }
        for (target, options) in &plan.private_tmpfs {
            let rc = libc::mount(
                plan.tmpfs.as_ptr(),
                target.as_ptr(),
                plan.tmpfs.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            );
            // A folder the host lacks (/dev/shm in some containers) has nothing to hide.
            if rc == -1 && *libc::__errno_location() != libc::ENOENT {
                return Err(io::Error::last_os_error());
            }
        }
        for dir in plan.mkdir_before.iter() {
            make_dir(dir)?;
        }
        check(libc::mount(
            plan.tmpfs.as_ptr(),
            plan.data_dir.as_ptr(),
            plan.tmpfs.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            plan.data_tmpfs_options.as_ptr().cast(),
        ))?;
        for dir in plan.mkdir_after.iter() {
            make_dir(dir)?;
        }
        for (i, (_, target, writable, parked)) in plan.binds.iter().enumerate() {
            check(libc::mount(
                parked.as_ptr(),
                target.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ))?;
            let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV;
            if !writable {
                flags |= libc::MS_RDONLY;
            }
            check(libc::mount(
                none,
                target.as_ptr(),
                none,
                flags,
                std::ptr::null(),
            ))?;
            libc::close(FIRST_PARKED_FD + i as RawFd);
        }
        check(libc::sethostname(
            plan.hostname.as_ptr(),
            plan.hostname.as_bytes().len(),
        ))?;
        loopback_up()?;

        // Close everything but stdio and the gate (std's exec-error pipe too: the worker's
        // spawn returns now, and the worker sets up the network namespace).
        check(libc::dup2(plan.gate, GATE_FD))?;
        libc::syscall(libc::SYS_close_range, 3u32, (GATE_FD - 1) as u32, 0u32);
        libc::syscall(libc::SYS_close_range, (GATE_FD + 1) as u32, u32::MAX, 0u32);
        let mut byte = 0u8;
        loop {
            let n = libc::read(GATE_FD, (&mut byte as *mut u8).cast(), 1);
            if n == -1 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n != 1 || byte != b'g' {
                libc::_exit(125);
            }
            break;
        }

        let mut status_pipe = [0; 2];
        if libc::pipe2(status_pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            libc::_exit(125);
        }
        let [status_read, status_write] = status_pipe;
        let init = libc::fork();
        if init == -1 {
            libc::_exit(125);
        }
        if init == 0 {
            libc::close(status_read);
            return run_init(plan, status_write);
        }
        keep(init, status_read, status_write)
    }
}

/// The keeper after the fork: holds nothing open, waits for init and exits as the
/// sandboxed command did.
unsafe fn keep(init: libc::pid_t, status_read: RawFd, status_write: RawFd) -> ! {
    // SAFETY: plain system calls on our own descriptors and child.
    unsafe {
        libc::close(status_write);
        for fd in [0, 1, 2, GATE_FD] {
            libc::close(fd);
        }
        // The worker signals the whole group; what counts is how the command ends.
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut init_status = 0;
        while libc::waitpid(init, &mut init_status, 0) == -1
            && *libc::__errno_location() == libc::EINTR
        {}
        let mut status: libc::c_int = 0;
        let n = libc::read(
            status_read,
            (&mut status as *mut libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>(),
        );
        if n != std::mem::size_of::<libc::c_int>() as isize {
            status = init_status;
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

/// Pid 1 of the sandbox: mounts its `/proc`, becomes the attempt's uid, forks the command
/// (which returns to `exec`), then reaps until the command ends and reports its status.
unsafe fn run_init(plan: &Plan, status_write: RawFd) -> io::Result<()> {
    // SAFETY: plain system calls on prepared data.
    unsafe {
        check(libc::mount(
            plan.proc_fs.as_ptr(),
            c"/proc".as_ptr(),
            plan.proc_fs.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ))
        .unwrap_or_else(|_| die());
        become_attempt_user(plan).unwrap_or_else(|_| die());
        // Dies with the keeper (killed by the worker): the namespace then goes with it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        check(libc::chdir(plan.cwd.as_ptr())).unwrap_or_else(|_| die());
        let command = libc::fork();
        if command == -1 {
            libc::_exit(125);
        }
        if command == 0 {
            libc::close(status_write);
            libc::close(GATE_FD);
            return Ok(());
        }
        for fd in [0, 1, 2, GATE_FD] {
            libc::close(fd);
        }
        loop {
            let mut status = 0;
            let pid = libc::waitpid(-1, &mut status, 0);
            if pid == command {
                libc::write(
                    status_write,
                    (&status as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>(),
                );
                libc::_exit(0);
            }
            if pid == -1 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(0);
            }
        }
    }
}

/// Ends a sandbox process that could not become what it must be.
fn die() {
    // SAFETY: _exit ends the process at once.
    unsafe { libc::_exit(125) }
}

fn make_dir(path: &CString) -> io::Result<()> {
    // SAFETY: mkdir reads the path.
    if unsafe { libc::mkdir(path.as_ptr(), 0o755) } == -1 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(err);
        }
    }
    Ok(())
}

/// Brings up `lo` in the new network namespace (it starts down).
fn loopback_up() -> io::Result<()> {
    // SAFETY: an ioctl pair on a socket we open and close, with a zeroed ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(sock)?;
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let rc = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            let rc = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
            libc::close(sock);
            return check(rc);
        }
        let err = io::Error::last_os_error();
        libc::close(sock);
        Err(err)
    }
}
