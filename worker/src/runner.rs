//! Runs one executor command as a child in its own process group, under resource limits,
//! and streams its output as lines.
//!
//! Containment, in layers:
//! - the child calls `setsid` before `exec`, so it and everything it starts share one
//!   process group (and session) that can be signalled as a whole;
//! - rlimits (`RLIMIT_CPU`, `RLIMIT_AS`, `RLIMIT_NOFILE`, `RLIMIT_NPROC`) are set in the
//!   child before `exec` and inherited by every descendant;
//! - a watchdog polls `/proc` every [`WATCHDOG_INTERVAL`] and sums the resident memory and
//!   CPU time of the whole group, because rlimits only ever see one process at a time;
//! - a wall-clock timer, a stop request and an abort (lost lease, shutdown) kill the group.
//!
//! The leader is observed with `waitid(WNOWAIT)` and reaped only after the rest of its
//! group is dead, so the group id can never be recycled by an unrelated process while we
//! still send signals to it.

use crate::sandbox;
use chrono::{DateTime, Utc};
use shared::config::{ExecutionLimits, SandboxSettings};
use shared::logs::OutputStream;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the watchdog samples the group's memory and CPU use.
pub const WATCHDOG_INTERVAL: Duration = Duration::from_millis(50);
/// Time a stopped group gets between SIGTERM and SIGKILL to clean up after itself.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Longest line kept as one entry; longer output is split into entries of this size so a
/// process printing without newlines cannot make the worker buffer without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// After the group is dead, how long its output pipes may take to drain. A descendant that
/// escaped the group (its own `setsid`) can hold a pipe open for ever; we stop reading then.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a SIGKILLed group may take to disappear (processes in uninterruptible sleep).
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// One line (or [`MAX_LINE_BYTES`] piece of a line) a process printed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputLine {
    pub stream: OutputStream,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// What to run: `bash -c <script>` in `cwd` with exactly `env`.
#[derive(Debug)]
pub struct RunRequest {
    pub script: String,
    pub cwd: PathBuf,
    /// The complete environment; the worker's own (with its secrets) is not inherited.
    pub env: Vec<(String, String)>,
    pub limits: ExecutionLimits,
    /// What to write to the process's stdin, chunk by chunk; stdin closes when the sender
    /// is dropped. `None`: stdin is `/dev/null` (scripts must not wait for input).
    pub stdin: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    /// Where the process runs: the attempt's sandbox, or (tests of the runner itself, a
    /// development worker that is not root) as the worker's own user.
    pub sandbox: Option<SandboxRun>,
}

/// A process's sandbox: who it runs as, what it sees, and its network.
#[derive(Debug)]
pub struct SandboxRun {
    pub launch: sandbox::Launch,
    pub settings: SandboxSettings,
    /// Filled with the sandbox's network once it is up, for drivers that reach a server
    /// the agent runs on its own loopback.
    pub bridge: sandbox::net::Bridge,
}

/// Which processes make up a run: its process group, or (sandboxed) every process of the
/// attempt's uid, which also finds what left the group with `setsid`.
#[derive(Debug, Clone, Copy)]
enum Members {
    Group(libc::pid_t),
    Uid(u32),
}

impl Members {
    fn list(self) -> Vec<ProcStat> {
        match self {
            Members::Group(pgid) => group_members(pgid),
            Members::Uid(uid) => sandbox::processes_of(uid),
        }
    }
}

/// Why the worker killed a process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Someone asked for the attempt to stop.
    Stopped,
    /// The worker gave the run up (lost lease or shutdown); nothing is recorded.
    Aborted,
    /// The group's resident memory passed the limit (MiB).
    Memory(u64),
    /// The group's CPU time passed the limit (seconds).
    Cpu(u64),
    /// The run took longer than the limit (seconds).
    WallClock(u64),
}

impl fmt::Display for KillReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillReason::Stopped => f.write_str("stopped by user"),
            KillReason::Aborted => f.write_str("aborted by the worker"),
            KillReason::Memory(mb) => write!(f, "memory limit exceeded ({mb} MiB)"),
            KillReason::Cpu(s) => write!(f, "CPU time limit exceeded ({s} s)"),
            KillReason::WallClock(s) => write!(f, "wall-clock limit exceeded ({s} s)"),
        }
    }
}

/// How the group leader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Signaled(i32),
}

/// The end of a run: how the leader ended and, if the worker killed the group, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunResult {
    pub termination: Termination,
    pub killed: Option<KillReason>,
    /// Resident memory of the whole group at its largest sample, in bytes.
    pub peak_rss_bytes: u64,
}

impl RunResult {
    /// The exit code, when the leader exited on its own rather than by a signal.
    pub fn exit_code(&self) -> Option<i32> {
        match self.termination {
            Termination::Exited(code) => Some(code),
            Termination::Signaled(_) => None,
        }
    }

    /// Why the run counts as killed: the worker's own reason, or the kernel enforcing
    /// `RLIMIT_CPU` (SIGXCPU) before the watchdog noticed.
    pub fn kill_reason(&self, limits: &ExecutionLimits) -> Option<KillReason> {
        match (self.killed, self.termination) {
            (Some(reason), _) => Some(reason),
            (None, Termination::Signaled(libc::SIGXCPU)) => {
                Some(KillReason::Cpu(limits.cpu_seconds))
            }
            _ => None,
        }
    }

    /// A person-readable reason for anything but a clean exit.
    pub fn failure_reason(&self, limits: &ExecutionLimits) -> Option<String> {
        if let Some(reason) = self.kill_reason(limits) {
            return Some(reason.to_string());
        }
        match self.termination {
            Termination::Exited(0) => None,
            Termination::Exited(code) => Some(format!("exited with code {code}")),
            Termination::Signaled(sig) => {
                Some(format!("terminated by signal {sig} ({})", signal_name(sig)))
            }
        }
    }
}

/// `RLIMIT_AS` is a backstop set well above the memory limit: it counts reserved address
/// space, which runtimes (JVM, Go, V8, glibc arenas) map far beyond what they touch, so an
/// `RLIMIT_AS` equal to the limit would break ordinary programs. The watchdog enforces the
/// real limit on resident memory; this only catches one process allocating faster than
/// the watchdog samples.
pub fn address_space_backstop_mb(memory_mb: u64) -> u64 {
    memory_mb
        .saturating_mul(4)
        .max(memory_mb.saturating_add(1024))
}

/// Runs `request`, sending every output line to `out`, until it ends or is killed.
/// `stop` kills the group gracefully (SIGTERM, then SIGKILL after [`STOP_GRACE`]);
/// `abort` kills it at once. Returns an error only when the process could not start.
pub async fn run(
    mut request: RunRequest,
    out: mpsc::Sender<OutputLine>,
    stop: CancellationToken,
    abort: CancellationToken,
) -> io::Result<RunResult> {
    let limits = request.limits.clone();
    let (mut child, gate) = spawn(&request)?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("child exited before its pid was read"))?
        as libc::pid_t;
    // After setsid the leader's pid is the group id.
    let pgid = pid;
    let members = match &request.sandbox {
        Some(s) => Members::Uid(s.launch.uid),
        None => Members::Group(pgid),
    };
    let kill_rest = move || async move {
        if let Members::Uid(uid) = members {
            let _ = shared::blocking::run(move || sandbox::kill_uid(uid)).await;
        }
    };
    if let (Some(gate), Some(sandboxed)) = (gate, &request.sandbox) {
        // The command waits at the gate until its loopback forwards and proxy listen.
        match sandbox::net::SandboxNet::serve(pid, &sandboxed.settings).await {
            Ok(net) => {
                sandboxed.bridge.set(net);
                gate.open()?;
            }
            Err(e) => {
                drop(gate);
                kill_group(pgid, Duration::ZERO).await;
                let _ = child.wait().await;
                return Err(io::Error::other(format!("the sandbox's network: {e}")));
            }
        }
    }

    if let (Some(mut input), Some(mut stdin)) = (request.stdin.take(), child.stdin.take()) {
        // A process that stops reading (or exits) just ends the writer: the run goes on.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Some(chunk) = input.recv().await {
                if stdin.write_all(&chunk).await.is_err() || stdin.flush().await.is_err() {
                    break;
                }
            }
        });
    }
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(read_lines(
            stdout,
            OutputStream::Stdout,
            out.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(read_lines(stderr, OutputStream::Stderr, out)));
    }

    let mut exited = tokio::task::spawn_blocking(move || wait_exit_nowait(pid));
    let mut watchdog = Watchdog::new(members, &limits);
    let wall = Duration::from_secs(limits.wall_clock_secs);
    let mut leader_gone = false;
    let killed = tokio::select! {
        _ = &mut exited => { leader_gone = true; None }
        reason = watchdog.watch() => Some(reason),
        _ = tokio::time::sleep(wall) => Some(KillReason::WallClock(limits.wall_clock_secs)),
        _ = stop.cancelled() => Some(KillReason::Stopped),
        _ = abort.cancelled() => Some(KillReason::Aborted),
    };
    if let Some(reason) = killed {
        let grace = match reason {
            KillReason::Stopped => STOP_GRACE,
            _ => Duration::ZERO,
        };
        tracing::info!(pgid, %reason, "killing process group");
        kill_group(pgid, grace).await;
    }
    if !leader_gone {
        // The leader is dead or dying now; wait until it is a zombie.
        let _ = exited.await;
    }
    // The leader is a zombie that still pins the group id: kill whatever it left behind
    // (background jobs, and in a sandbox whatever escaped the group), then reap it.
    kill_group(pgid, Duration::ZERO).await;
    kill_rest().await;
    if let Some(sandboxed) = &request.sandbox {
        sandboxed.bridge.clear();
    }
    let status = child.wait().await?;
    let termination = match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(sig)) => Termination::Signaled(sig),
        (None, None) => Termination::Signaled(0),
    };

    let drain = futures::future::join_all(readers.iter_mut());
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!(
            pgid,
            "output pipes still open after the group died; a process escaped the group"
        );
        for r in &readers {
            r.abort();
        }
    }
    Ok(RunResult {
        termination,
        killed,
        peak_rss_bytes: watchdog.peak_rss_bytes,
    })
}

fn spawn(
    request: &RunRequest,
) -> io::Result<(tokio::process::Child, Option<sandbox::launch::Gate>)> {
    let limits = request.limits.clone();
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(&request.script)
        .current_dir(&request.cwd)
        .env_clear()
        .envs(request.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if request.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let cpu = limits.cpu_seconds;
    let nofile = limits.open_files;
    let nproc = limits.processes;
    // The watchdog enforces the group's CPU total; the per-process rlimit is a backstop
    // one second later (SIGXCPU), then SIGKILL one second after that.
    let (cpu_soft, cpu_hard) = (cpu.saturating_add(1), cpu.saturating_add(2));
    if let Some(sandboxed) = &request.sandbox {
        // The attempt's own uid makes RLIMIT_NPROC count exactly its processes. No
        // RLIMIT_AS: runtimes reserve far more address space than they use (Node's
        // WebAssembly reserves ~10 GiB per memory); the watchdog limits resident memory.
        let gate = sandboxed.launch.install(
            &mut cmd,
            vec![
                (libc::RLIMIT_CPU, cpu_soft, cpu_hard),
                (libc::RLIMIT_NOFILE, nofile, nofile),
                (libc::RLIMIT_NPROC, nproc, nproc),
            ],
        )?;
        return Ok((cmd.spawn()?, gate));
    }
    let mem_bytes = address_space_backstop_mb(limits.memory_mb).saturating_mul(1024 * 1024);
    // SAFETY: the closure runs in the forked child before exec and calls only setsid and
    // setrlimit, which are async-signal-safe system calls; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            set_limit(libc::RLIMIT_CPU, cpu_soft, cpu_hard)?;
            set_limit(libc::RLIMIT_AS, mem_bytes, mem_bytes)?;
            set_limit(libc::RLIMIT_NOFILE, nofile, nofile)?;
            // RLIMIT_NPROC counts every process of the user, not of the group: a fork-bomb
            // backstop only (and ignored for root); sandboxed runs have a uid of their own.
            set_limit(libc::RLIMIT_NPROC, nproc, nproc)?;
            Ok(())
        });
    }
    Ok((cmd.spawn()?, None))
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(resource, &limit) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks until child `pid` has exited, leaving it unreaped (a zombie), so its pid, which
/// is also the group id, cannot be reused while we signal the group.
fn wait_exit_nowait(pid: libc::pid_t) -> io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a plain system call on our own child.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// With a non-zero `grace`, sends SIGINT, then SIGTERM, waiting up to half the grace
/// after each for the group to go; then SIGKILLs it until no live member remains.
pub async fn kill_group(pgid: libc::pid_t, grace: Duration) {
    // A graceful stop escalates: SIGINT (what Ctrl-C sends: agents save their session on
    // it), then SIGTERM, each with half the grace, then SIGKILL.
    if !grace.is_zero() {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            if !signal_group(pgid, sig) {
                break;
            }
            let deadline = Instant::now() + grace / 2;
            while Instant::now() < deadline {
                if live_members(pgid).is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        signal_group(pgid, libc::SIGKILL);
        if live_members(pgid).is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(pgid, "process group still has live members after SIGKILL");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signals every member of the group; false when the group no longer exists.
fn signal_group(pgid: libc::pid_t, sig: libc::c_int) -> bool {
    // SAFETY: kill with a negative pid signals a process group; no memory is touched.
    unsafe { libc::kill(-pgid, sig) == 0 }
}

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: libc::pid_t,
    pub ppid: libc::pid_t,
    pub pgid: libc::pid_t,
    pub state: char,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks; with the pid it names one process for good.
    pub start_ticks: u64,
    pub rss_pages: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The command name may itself hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state) of proc(5).
    let field = |n: usize| rest.get(n - 3).copied();
    let num = |n: usize| field(n).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgid: field(5)?.parse().ok()?,
        cpu_ticks: num(14)? + num(15)?,
        start_ticks: num(22)?,
        rss_pages: num(24)?,
    })
}

/// Every process of the group still in `/proc`, zombies included.
pub fn group_members(pgid: libc::pid_t) -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| parse_stat(&text))
        .filter(|s| s.pgid == pgid)
        .collect()
}

/// Members of the group that are not zombies: what "nothing of the group survives" means.
pub fn live_members(pgid: libc::pid_t) -> Vec<ProcStat> {
    group_members(pgid)
        .into_iter()
        .filter(|s| s.state != 'Z' && s.state != 'X')
        .collect()
}

/// Samples the group's resident memory and CPU time, and reports the first limit crossed.
struct Watchdog {
    members: Members,
    memory_limit_bytes: u64,
    memory_mb: u64,
    cpu_limit_ticks: u64,
    cpu_seconds: u64,
    page_bytes: u64,
    /// Last CPU sample of every process ever seen in the group, so the time of members
    /// that already exited still counts towards the group's total.
    cpu_seen: HashMap<(libc::pid_t, u64), u64>,
    peak_rss_bytes: u64,
}

impl Watchdog {
    fn new(members: Members, limits: &ExecutionLimits) -> Watchdog {
        let ticks_per_sec = sysconf(libc::_SC_CLK_TCK).unwrap_or(100);
        Watchdog {
            members,
            memory_limit_bytes: limits.memory_mb.saturating_mul(1024 * 1024),
            memory_mb: limits.memory_mb,
            cpu_limit_ticks: limits.cpu_seconds.saturating_mul(ticks_per_sec),
            cpu_seconds: limits.cpu_seconds,
            page_bytes: sysconf(libc::_SC_PAGESIZE).unwrap_or(4096),
            cpu_seen: HashMap::new(),
            peak_rss_bytes: 0,
        }
    }

    /// Resolves when a limit is crossed; runs until then.
    async fn watch(&mut self) -> KillReason {
        let mut tick = tokio::time::interval(WATCHDOG_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(reason) = self.sample() {
                return reason;
            }
        }
    }

    fn sample(&mut self) -> Option<KillReason> {
        let mut rss = 0u64;
        for p in self.members.list() {
            rss += p.rss_pages * self.page_bytes;
            self.cpu_seen.insert((p.pid, p.start_ticks), p.cpu_ticks);
        }
        self.peak_rss_bytes = self.peak_rss_bytes.max(rss);
        if rss > self.memory_limit_bytes {
            return Some(KillReason::Memory(self.memory_mb));
        }
        let cpu: u64 = self.cpu_seen.values().sum();
        if cpu >= self.cpu_limit_ticks {
            return Some(KillReason::Cpu(self.cpu_seconds));
        }
        None
    }
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads a system constant.
    let v = unsafe { libc::sysconf(name) };
    (v > 0).then_some(v as u64)
}

/// Reads `reader` to its end, sending each line (without its `\n` or `\r\n`) to `out`;
/// lines longer than [`MAX_LINE_BYTES`] go out in pieces, cut on character boundaries.
/// Invalid UTF-8 is replaced. Keeps reading when nobody listens, so the writer never blocks.
async fn read_lines<R: AsyncRead + Unpin>(
    reader: R,
    stream: OutputStream,
    out: mpsc::Sender<OutputLine>,
) {
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES, reader);
    let mut line: Vec<u8> = Vec::new();
    let mut open = true;
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                tracing::debug!(error = %e, "output pipe read failed");
                break;
            }
        };
        if buf.is_empty() {
            break;
        }
        let (chunk, complete) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        line.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(complete);
        reader.consume(used);
        while line.len() > MAX_LINE_BYTES {
            let cut = utf8_cut(&line, MAX_LINE_BYTES);
            let piece: Vec<u8> = line.drain(..cut).collect();
            open = emit(&out, stream, &piece, open).await;
        }
        if complete {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            open = emit(&out, stream, &line, open).await;
            line.clear();
        }
    }
    if !line.is_empty() {
        emit(&out, stream, &line, open).await;
    }
}

async fn emit(
    out: &mpsc::Sender<OutputLine>,
    stream: OutputStream,
    bytes: &[u8],
    open: bool,
) -> bool {
    if !open {
        return false;
    }
    let line = OutputLine {
        stream,
        text: String::from_utf8_lossy(bytes).into_owned(),
        at: Utc::now(),
    };
    out.send(line).await.is_ok()
}

/// The largest cut point ≤ `max` that does not split a UTF-8 sequence (when the bytes are
/// UTF-8 at all; otherwise `max`).
fn utf8_cut(bytes: &[u8], max: usize) -> usize {
    let max = max.min(bytes.len());
    // A UTF-8 sequence is at most 4 bytes: back off over continuation bytes.
    for back in 0..4.min(max) {
        let i = max - back;
        if i == bytes.len() || (bytes[i] & 0b1100_0000) != 0b1000_0000 {
            return if i == 0 { max } else { i };
        }
    }
    max
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "signal",
    }
}

/// The environment an executor gets: a few harmless variables of the worker's own (never
/// its configuration, which holds credentials), plus `extra`.
pub fn executor_env(extra: &[(&str, String)]) -> Vec<(String, String)> {
    const PASS: &[&str] = &[
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL",
    ];
    let mut env: Vec<(String, String)> = PASS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    }
    env.push(("TERM".into(), "dumb".into()));
    env.push(("CI".into(), "1".into()));
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_handles_parentheses_and_spaces_in_the_command_name() {
        let text = "4242 (my (weird) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000000 250 18446744073709551615";
        let s = parse_stat(text).expect("parses");
        assert_eq!(s.pid, 4242);
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgid, 4242);
        assert_eq!(s.cpu_ticks, 10);
        assert_eq!(s.start_ticks, 555);
        assert_eq!(s.rss_pages, 250);
    }

    #[test]
    fn utf8_cut_never_splits_a_character() {
        let s = "aé€😀".as_bytes(); // 1 + 2 + 3 + 4 bytes
        for max in 1..s.len() {
            let cut = utf8_cut(s, max);
            assert!(cut <= max);
            assert!(
                std::str::from_utf8(&s[..cut]).is_ok(),
                "cut {cut} for max {max}"
            );
        }
    }

    #[test]
    fn address_space_backstop_is_well_above_the_memory_limit() {
        assert_eq!(address_space_backstop_mb(100), 1124);
        assert_eq!(address_space_backstop_mb(4096), 16384);
    }

    #[test]
    fn failure_reasons_name_the_cause() {
        let limits = ExecutionLimits {
            cpu_seconds: 5,
            memory_mb: 64,
            open_files: 64,
            processes: 64,
            wall_clock_secs: 9,
        };
        let r = |termination, killed| RunResult {
            termination,
            killed,
            peak_rss_bytes: 0,
        };
        assert_eq!(
            r(Termination::Exited(0), None).failure_reason(&limits),
            None
        );
        assert_eq!(
            r(Termination::Exited(3), None)
                .failure_reason(&limits)
                .as_deref(),
            Some("exited with code 3")
        );
        assert_eq!(
            r(Termination::Signaled(libc::SIGXCPU), None)
                .failure_reason(&limits)
                .as_deref(),
            Some("CPU time limit exceeded (5 s)")
        );
        assert_eq!(
            r(Termination::Signaled(9), Some(KillReason::WallClock(9)))
                .failure_reason(&limits)
                .as_deref(),
            Some("wall-clock limit exceeded (9 s)")
        );
        assert_eq!(
            r(Termination::Signaled(libc::SIGSEGV), None)
                .failure_reason(&limits)
                .as_deref(),
            Some("terminated by signal 11 (SIGSEGV)")
        );
    }
}
