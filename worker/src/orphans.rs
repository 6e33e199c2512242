//! Executors left behind by a worker that died without cleaning up (`kill -9`, a crash).
//! Their process groups outlive the worker; the next worker on the same data dir finds
//! them by the marker variables every executor carries and kills them, so a lost worker
//! never leaves an agent editing a worktree that a retry is about to use.

use std::path::Path;

/// Names the worker that started an executor (`<host>-<pid>`).
pub const WORKER_ID_VAR: &str = "SWITCHYARD_WORKER_ID";
/// The data dir of that worker: only workers sharing it may clean up after each other.
pub const DATA_DIR_VAR: &str = "SWITCHYARD_WORKER_DATA_DIR";

/// The marker variables to put in every executor's environment.
pub fn markers(worker_id: &str, data_dir: &Path) -> [(&'static str, String); 2] {
    [
        (WORKER_ID_VAR, worker_id.to_owned()),
        (DATA_DIR_VAR, data_dir.display().to_string()),
    ]
}

/// Kills every process that carries this data dir's marker but belongs to a worker that
/// is no longer alive. Returns the pids killed.
pub fn kill_orphans(data_dir: &Path) -> Vec<i32> {
    let data_dir = data_dir.display().to_string();
    let mut killed = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return killed;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let mut owner = None;
        let mut dir = None;
        for var in environ.split(|b| *b == 0) {
            let var = String::from_utf8_lossy(var);
            if let Some(v) = var
                .strip_prefix(WORKER_ID_VAR)
                .and_then(|r| r.strip_prefix('='))
            {
                owner = Some(v.to_owned());
            } else if let Some(v) = var
                .strip_prefix(DATA_DIR_VAR)
                .and_then(|r| r.strip_prefix('='))
            {
                dir = Some(v.to_owned());
            }
        }
        let (Some(owner), Some(dir)) = (owner, dir) else {
            continue;
        };
        if dir != data_dir || worker_alive(&owner) {
            continue;
        }
        // SAFETY: kill(2) with a pid read from /proc; touches no memory.
        if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
            killed.push(pid);
        }
    }
    if !killed.is_empty() {
        tracing::warn!(
            count = killed.len(),
            "killed executor processes left by a dead worker"
        );
    }
    killed
}

/// Whether the worker named `<host>-<pid>` still runs on this machine.
fn worker_alive(worker_id: &str) -> bool {
    let Some(pid) = worker_id
        .rsplit('-')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return true;
    }
    // A live process whose environment does not carry the marker itself: the worker
    // (executors carry it, workers do not). A recycled pid of some executor counts as dead.
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) => !env
            .split(|b| *b == 0)
            .any(|v| v.starts_with(WORKER_ID_VAR.as_bytes())),
        Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
    }
}
