//! The runner: process groups, limits, stop, output lines.

use shared::config::ExecutionLimits;
use shared::logs::OutputStream;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use worker::runner::{self, KillReason, OutputLine, RunRequest, RunResult, Termination};

use crate::helpers::limits;

struct Running {
    lines: mpsc::Receiver<OutputLine>,
    stop: CancellationToken,
    abort: CancellationToken,
    handle: tokio::task::JoinHandle<std::io::Result<RunResult>>,
}

fn start(script: &str, limits: ExecutionLimits) -> Running {
    let (tx, rx) = mpsc::channel(1024);
    let stop = CancellationToken::new();
    let abort = CancellationToken::new();
    let request = RunRequest {
        script: script.to_owned(),
        cwd: std::env::temp_dir(),
        env: runner::executor_env(&[]),
        limits,
        stdin: None,
        sandbox: None,
    };
    let handle = tokio::spawn(runner::run(request, tx, stop.clone(), abort.clone()));
    Running {
        lines: rx,
        stop,
        abort,
        handle,
    }
}

impl Running {
    /// Waits for the next line, failing the test after 20 s.
    async fn next_line(&mut self) -> OutputLine {
        tokio::time::timeout(Duration::from_secs(20), self.lines.recv())
            .await
            .expect("a line within 20 s")
            .expect("the output is still open")
    }

    /// Waits for the run to end and returns it with every line not yet read.
    async fn finish(mut self) -> (RunResult, Vec<OutputLine>) {
        let result = tokio::time::timeout(Duration::from_secs(60), self.handle)
            .await
            .expect("run ends within 60 s")
            .expect("run task")
            .expect("process started");
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            rest.push(line);
        }
        (result, rest)
    }
}

/// Reads the `pgid N` line the test scripts print first.
async fn read_pgid(run: &mut Running) -> i32 {
    let line = run.next_line().await;
    line.text
        .strip_prefix("pgid ")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected a pgid line, got {line:?}"))
}

/// Waits until the group has at least `n` live members.
async fn wait_for_members(pgid: i32, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while runner::live_members(pgid).len() < n {
        assert!(Instant::now() < deadline, "group never reached {n} members");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stop_kills_the_whole_group_including_background_children() {
    // Background sleeps, a subshell, a nested bash and a child that ignores SIGTERM (so
    // the SIGKILL after the grace period is needed too).
    let script = r#"
        echo "pgid $$"
        sleep 1000 &
        ( sleep 1000; echo never ) &
        bash -c 'sleep 1000' &
        bash -c 'trap "" TERM; echo trapped; while :; do sleep 1; done' &
        wait
    "#;
    let mut run = start(script, limits());
    let pgid = read_pgid(&mut run).await;
    assert_eq!(run.next_line().await.text, "trapped");
    wait_for_members(pgid, 6).await;

    let stopped_at = Instant::now();
    run.stop.cancel();
    let (result, _) = run.finish().await;

    assert_eq!(result.killed, Some(KillReason::Stopped));
    assert_eq!(
        result.failure_reason(&limits()).as_deref(),
        Some("stopped by user")
    );
    // The TERM-ignoring child needed the SIGKILL after the grace period.
    assert!(stopped_at.elapsed() >= runner::STOP_GRACE);
    assert!(
        stopped_at.elapsed() < runner::STOP_GRACE + Duration::from_secs(5),
        "stop took {:?}",
        stopped_at.elapsed()
    );
    assert!(
        runner::live_members(pgid).is_empty(),
        "survivors: {:?}",
        runner::live_members(pgid)
    );
}

#[tokio::test]
async fn abort_kills_the_group_at_once() {
    let mut run = start("echo \"pgid $$\"; sleep 1000 & sleep 1000", limits());
    let pgid = read_pgid(&mut run).await;
    wait_for_members(pgid, 2).await;
    run.abort.cancel();
    let (result, _) = run.finish().await;
    assert_eq!(result.killed, Some(KillReason::Aborted));
    assert!(runner::live_members(pgid).is_empty());
}

#[tokio::test]
async fn background_jobs_do_not_outlive_their_script() {
    let started = Instant::now();
    let mut run = start(
        "echo \"pgid $$\"; sleep 1000 & (sleep 1000 &) ; echo done",
        limits(),
    );
    let pgid = read_pgid(&mut run).await;
    let (result, rest) = run.finish().await;
    assert_eq!(result.termination, Termination::Exited(0));
    assert_eq!(result.killed, None);
    assert_eq!(rest.last().map(|l| l.text.as_str()), Some("done"));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(runner::live_members(pgid).is_empty());
}

#[tokio::test]
async fn memory_hog_is_killed_with_the_memory_reason() {
    let mut l = limits();
    l.memory_mb = 100;
    let script = r#"python3 -c '
import time
chunks = []
while True:
    chunks.append(b"x" * 10_000_000)
    time.sleep(0.05)
'"#;
    let (result, _) = start(script, l.clone()).finish().await;
    assert_eq!(result.killed, Some(KillReason::Memory(100)));
    assert_eq!(
        result.failure_reason(&l).as_deref(),
        Some("memory limit exceeded (100 MiB)")
    );
    assert!(result.peak_rss_bytes > 100 * 1024 * 1024);
}

#[tokio::test]
async fn cpu_hog_is_killed_with_the_cpu_reason() {
    let mut l = limits();
    l.cpu_seconds = 1;
    let (result, _) = start("while :; do :; done", l.clone()).finish().await;
    assert_eq!(result.kill_reason(&l), Some(KillReason::Cpu(1)));
    assert_eq!(
        result.failure_reason(&l).as_deref(),
        Some("CPU time limit exceeded (1 s)")
    );
}

#[tokio::test]
async fn wall_clock_limit_kills_a_slow_process() {
    let mut l = limits();
    l.wall_clock_secs = 1;
    let started = Instant::now();
    let (result, _) = start("sleep 30", l.clone()).finish().await;
    assert_eq!(result.killed, Some(KillReason::WallClock(1)));
    assert_eq!(
        result.failure_reason(&l).as_deref(),
        Some("wall-clock limit exceeded (1 s)")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn exit_code_and_both_streams_are_recorded() {
    let (result, lines) = start("echo out; echo err >&2; exit 3", limits())
        .finish()
        .await;
    assert_eq!(result.termination, Termination::Exited(3));
    assert_eq!(result.exit_code(), Some(3));
    assert_eq!(
        result.failure_reason(&limits()).as_deref(),
        Some("exited with code 3")
    );
    let by_stream = |s: OutputStream| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.stream == s)
            .map(|l| l.text.clone())
            .collect()
    };
    assert_eq!(by_stream(OutputStream::Stdout), vec!["out"]);
    assert_eq!(by_stream(OutputStream::Stderr), vec!["err"]);
}

#[tokio::test]
async fn long_lines_are_split_and_invalid_utf8_is_replaced() {
    let script = r#"
        head -c 200000 /dev/zero | tr '\0' 'a'; echo
        printf 'bad \377\376 bytes\r\n'
        printf 'no newline at the end'
    "#;
    let (result, lines) = start(script, limits()).finish().await;
    assert_eq!(result.termination, Termination::Exited(0));
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let long: Vec<&str> = texts
        .iter()
        .copied()
        .take_while(|t| t.starts_with('a'))
        .collect();
    assert!(long.len() >= 4, "200 kB in pieces of at most 64 KiB");
    assert!(long.iter().all(|t| t.len() <= runner::MAX_LINE_BYTES));
    assert_eq!(long.concat().len(), 200_000);
    assert_eq!(
        &texts[long.len()..],
        &["bad \u{FFFD}\u{FFFD} bytes", "no newline at the end"]
    );
}

#[tokio::test]
async fn the_executor_does_not_inherit_the_workers_environment() {
    // SAFETY: set before any process is started by this test; other tests don't read it.
    unsafe { std::env::set_var("SWITCHYARD__S3__SECRET_KEY", "hunter2") };
    let (_, lines) = start("env", limits()).finish().await;
    assert!(lines.iter().any(|l| l.text.starts_with("PATH=")));
    assert!(!lines.iter().any(|l| l.text.contains("hunter2")));
}

#[tokio::test]
async fn a_missing_working_directory_is_a_start_error() {
    let (tx, _rx) = mpsc::channel(8);
    let request = RunRequest {
        script: "true".into(),
        cwd: std::env::temp_dir().join("switchyard-no-such-dir-for-sure"),
        env: runner::executor_env(&[]),
        limits: limits(),
        stdin: None,
        sandbox: None,
    };
    let result = runner::run(
        request,
        tx,
        CancellationToken::new(),
        CancellationToken::new(),
    )
    .await;
    assert!(result.is_err());
}

#[test]
fn executors_of_a_dead_worker_are_killed_and_others_left_alone() {
    use std::process::{Command, Stdio};
    use worker::orphans::{self, DATA_DIR_VAR, WORKER_ID_VAR};
    let dir = tempfile_dir("orphans");
    let spawn = |owner: &str, data_dir: &std::path::Path| {
        Command::new("sleep")
            .arg("300")
            .env(WORKER_ID_VAR, owner)
            .env(DATA_DIR_VAR, data_dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    // No process can have a pid above the kernel's maximum (2^22 = 4194304).
    let mut orphan = spawn("gone-host-4194399", &dir);
    let mut ours = spawn(&format!("host-{}", std::process::id()), &dir);
    let mut elsewhere = spawn("gone-host-4194399", &dir.join("other"));

    let killed = orphans::kill_orphans(&dir);
    assert_eq!(killed, vec![orphan.id() as i32]);
    assert!(
        orphan.wait().unwrap().code().is_none(),
        "killed by a signal"
    );
    assert!(
        ours.try_wait().unwrap().is_none(),
        "a live worker's executor keeps running"
    );
    assert!(
        elsewhere.try_wait().unwrap().is_none(),
        "another data dir is not ours to clean"
    );
    for mut c in [ours, elsewhere] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sy-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

#[tokio::test]
async fn stdin_chunks_reach_the_process_and_closing_the_sender_ends_its_input() {
    let (tx, mut lines) = mpsc::channel(64);
    let (input, stdin) = mpsc::unbounded_channel();
    let request = RunRequest {
        script: "while read -r line; do echo \"got $line\"; done; echo eof".into(),
        cwd: std::env::temp_dir(),
        env: runner::executor_env(&[]),
        limits: limits(),
        stdin: Some(stdin),
        sandbox: None,
    };
    let run = tokio::spawn(runner::run(
        request,
        tx,
        CancellationToken::new(),
        CancellationToken::new(),
    ));
    input.send(b"one\n".to_vec()).unwrap();
    input.send(b"two\n".to_vec()).unwrap();
    drop(input);
    let result = run.await.unwrap().unwrap();
    assert_eq!(result.exit_code(), Some(0));
    let mut got = Vec::new();
    while let Some(line) = lines.recv().await {
        got.push(line.text);
    }
    assert_eq!(got, vec!["got one", "got two", "eof"]);
}

#[tokio::test]
async fn a_stop_sends_sigint_first_so_a_process_can_save_its_state() {
    let dir = tempfile_dir("sigint");
    let marker = dir.join("saved");
    let script = format!(
        "trap 'echo saved > {}; exit 0' INT; echo ready; while :; do sleep 0.05; done",
        marker.display()
    );
    let (tx, mut lines) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let request = RunRequest {
        script,
        cwd: std::env::temp_dir(),
        env: runner::executor_env(&[]),
        limits: limits(),
        stdin: None,
        sandbox: None,
    };
    let run = tokio::spawn(runner::run(
        request,
        tx,
        stop.clone(),
        CancellationToken::new(),
    ));
    assert_eq!(lines.recv().await.expect("ready").text, "ready");
    stop.cancel();
    let result = run.await.unwrap().unwrap();
    assert_eq!(result.killed, Some(KillReason::Stopped));
    assert!(
        marker.exists(),
        "the process saw SIGINT and saved its state"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
