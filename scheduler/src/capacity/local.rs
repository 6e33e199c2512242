//! The local capacity backend: keeps N `switchyard-worker` processes alive, restarting any
//! that exit, and stops them on shutdown (SIGTERM, then SIGKILL after a grace period).

use shared::config::Settings;
use shared::shutdown::CancellationToken;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};

/// Live view of the worker processes, for operators and tests.
#[derive(Clone, Default)]
pub struct WorkerPool {
    pids: Arc<Mutex<Vec<Option<u32>>>>,
}

impl WorkerPool {
    /// Process ids of the workers alive right now.
    pub fn pids(&self) -> Vec<u32> {
        self.pids
            .lock()
            .map(|p| p.iter().flatten().copied().collect())
            .unwrap_or_default()
    }

    fn set(&self, slot: usize, pid: Option<u32>) {
        if let Ok(mut pids) = self.pids.lock() {
            if pids.len() <= slot {
                pids.resize(slot + 1, None);
            }
            pids[slot] = pid;
        }
    }
}

/// The worker binary: configured, else `switchyard-worker` next to this executable (or one
/// folder up, where cargo puts binaries relative to test executables).
pub fn worker_binary(settings: &Settings) -> anyhow::Result<PathBuf> {
    if let Some(bin) = &settings.scheduler.worker_bin {
        return Ok(bin.clone());
    }
    let exe = std::env::current_exe()?;
    let here = exe.parent();
    let candidates = [here, here.and_then(Path::parent)];
    if let Some(found) = candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("switchyard-worker"))
        .find(|c| c.is_file())
    {
        return Ok(found);
    }
    anyhow::bail!(
        "switchyard-worker not found next to {}; set scheduler.worker_bin",
        exe.display()
    )
}

/// Runs `settings.scheduler.local_workers` workers until `shutdown`, then stops them.
/// Workers get this process's settings through a JSON config file.
pub async fn run(
    settings: Settings,
    pool: WorkerPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let bin = worker_binary(&settings)?;
    std::fs::create_dir_all(&settings.worker.data_dir)?;
    // The settings hold every credential: they reach the workers in memory only, never
    // as a file an attempt could find.
    let config = std::sync::Arc::new(settings_memfd(&serde_json::to_vec(&settings)?)?);
    tracing::info!(workers = settings.scheduler.local_workers, bin = %bin.display(), "starting local workers");

    let grace = settings.worker.stop_grace();
    let mut slots = Vec::new();
    for slot in 0..settings.scheduler.local_workers {
        let bin = bin.clone();
        let config = config.clone();
        let pool = pool.clone();
        let shutdown = shutdown.clone();
        slots.push(tokio::spawn(async move {
            keep_alive(slot, &bin, &config, pool, grace, shutdown).await
        }));
    }
    for s in slots {
        s.await?;
    }
    Ok(())
}

/// Keeps one worker slot filled, with a short backoff when workers exit quickly.
async fn keep_alive(
    slot: usize,
    bin: &Path,
    config: &OwnedFd,
    pool: WorkerPool,
    grace: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let started = tokio::time::Instant::now();
        let mut child = match spawn_worker(slot, bin, config) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(slot, error = %e, "could not start worker");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        pool.set(slot, child.id());
        tokio::select! {
            status = child.wait() => {
                pool.set(slot, None);
                tracing::warn!(slot, ?status, "worker exited; restarting");
                if started.elapsed() > Duration::from_secs(5) {
                    backoff = Duration::from_millis(100);
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            _ = shutdown.cancelled() => {
                stop_worker(&mut child, grace).await;
                pool.set(slot, None);
                return;
            }
        }
    }
}

/// The descriptor number a worker finds its settings on.
const CONFIG_FD: RawFd = 3;

fn spawn_worker(slot: usize, bin: &Path, config: &OwnedFd) -> std::io::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.env_remove("SWITCHYARD_CONFIG")
        .env("SWITCHYARD_CONFIG_FD", CONFIG_FD.to_string())
        .env("SWITCHYARD_WORKER_SLOT", slot.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let source = config.as_raw_fd();
    // SAFETY: dup2 between two descriptors is async-signal-safe; each worker gets its
    // own copy of the settings descriptor as fd 3 (without close-on-exec).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(source, CONFIG_FD) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// An anonymous in-memory file holding `bytes` (sealed against writes).
fn settings_memfd(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    use std::io::Write;
    // SAFETY: memfd_create takes a NUL-terminated name and flags.
    let fd = unsafe { libc::memfd_create(c"switchyard-settings".as_ptr(), libc::MFD_CLOEXEC) };
    if fd == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is ours alone.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(owned);
    file.write_all(bytes)?;
    Ok(OwnedFd::from(file))
}

/// SIGTERM, then SIGKILL once `grace` (the worker's drain plus teardown) has passed.
async fn stop_worker(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        // SAFETY: plain kill(2) on a pid we own; no memory is touched.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
