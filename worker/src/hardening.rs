//! What the worker does to itself before running anyone's agent.
//!
//! The agent runs as the same user as the worker, and the worker's environment holds the
//! database URL (system scope: every org's rows), the S3 keys and the secret-encryption
//! keys. A same-user process may read `/proc/<pid>/environ` and `/proc/<pid>/mem` of a
//! dumpable process, so the worker makes itself non-dumpable: those files then belong to
//! root and ptrace is refused. (Against an agent running as root this does nothing; the
//! images run the worker as an unprivileged user.)

/// Marks this process non-dumpable. Children reset the flag when they exec, so agents
/// stay debuggable by their own tools.
pub fn deny_same_user_inspection() -> std::io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes one integer argument and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_no_longer_dumpable() {
        super::deny_same_user_inspection().unwrap();
        // SAFETY: PR_GET_DUMPABLE takes no argument and returns the flag.
        let flag = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert_eq!(flag, 0);
        // /proc/self/environ now belongs to root, not to the worker's user.
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata("/proc/self/environ").unwrap();
        assert_eq!(meta.uid(), 0);
    }
}
