//! A worker killed mid-run, and a worker whose host vanishes (every process of it
//! frozen, so its lease simply stops renewing): the attempt is retried elsewhere within
//! 30 s and nothing stays `running`.

use shared::domain::{AttemptStatus, ProcessStatus};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::{printing, process_tree, report};
use crate::helpers::TestApp;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL of the worker process.
    Kill,
    /// SIGSTOP of the worker and everything it started (a host gone silent), thawed
    /// once the attempt has moved on: the old run must notice and write nothing more.
    Freeze,
}

async fn lose_a_worker_mid_run(fault: Fault) {
    let app = TestApp::spawn().await;
    let cluster = Cluster::start(app, 1, 2, |_| {}).await;
    let app = &cluster.app;
    let project = app.create_project("Crash", None).await;
    let task = app.create_task(project.id, "Survive a lost worker").await;
    let attempt = app.start_attempt(task.id, &printing(40, "0.1")).await;
    app.wait_running(attempt.id).await;
    let first = app.processes(attempt.id).await;
    let first_process = first[0].id;
    // Output has started, so there is something the lost run must not lose.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.logs(first_process).await["entries"]
        .as_array()
        .is_none_or(|e| e.len() < 3)
    {
        assert!(Instant::now() < deadline, "no output from the first run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victim = cluster.worker_running(attempt.id).await;
    let tree = process_tree(cluster.workers[victim].pid());
    let lost_at = Instant::now();
    match fault {
        Fault::Kill => cluster.workers[victim].signal(libc::SIGKILL),
        Fault::Freeze => {
            for pid in &tree {
                // SAFETY: kill(2) on processes of a worker this test started.
                unsafe { libc::kill(*pid, libc::SIGSTOP) };
            }
        }
    }
    // Recovered when the attempt runs again on the other worker: within 30 s, as the
    // design promises.
    let rerun = app
        .wait_attempt(attempt.id, Duration::from_secs(30), |a| {
            a.retry_count == 1 && a.status == AttemptStatus::Running
        })
        .await;
    let recovery = lost_at.elapsed();
    assert_eq!(rerun.retry_count, 1);
    if let Fault::Freeze = fault {
        for pid in &tree {
            // SAFETY: as above.
            unsafe { libc::kill(*pid, libc::SIGCONT) };
        }
    }
    let done = cluster.wait_succeeded(attempt.id).await;
    assert_eq!(done.retry_count, 1, "{done:?}");
    let processes = app.processes(attempt.id).await;
    assert_eq!(processes.len(), 2, "{processes:?}");
    assert_eq!(processes[0].status, ProcessStatus::Failed);
    assert!(
        processes[0]
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("worker lost")),
        "{processes:?}"
    );
    assert_eq!(processes[1].status, ProcessStatus::Succeeded);
    // The lost run's output up to the loss is kept, in order.
    let kept = app.logs(first_process).await;
    let kept: Vec<String> = kept["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect();
    assert!(kept.len() >= 3, "{kept:?}");
    for (i, line) in kept.iter().enumerate() {
        assert_eq!(line, &format!("line {}", i + 1), "{kept:?}");
    }
    // The retry printed everything.
    let second = app.logs(processes[1].id).await;
    assert_eq!(second["entries"].as_array().map(Vec::len), Some(40));
    if let Fault::Freeze = fault {
        // Thawed, the old worker learns its lease is gone and stops its run without
        // touching the attempt: the outcome above stands, and the frozen agent is gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        let agents = || {
            tree[1..]
                .iter()
                .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
                .count()
        };
        while agents() > 0 {
            assert!(
                Instant::now() < deadline,
                "the thawed worker left its agent running\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = app.attempt(attempt.id).await;
        assert_eq!(after.status, AttemptStatus::Succeeded);
        let summary = |ps: &[shared::wire::Process]| {
            ps.iter()
                .map(|p| (p.id, p.status, p.failure_reason.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            summary(&app.processes(attempt.id).await),
            summary(&processes)
        );
    }
    report(
        match fault {
            Fault::Kill => "worker SIGKILL mid-run",
            Fault::Freeze => "worker host vanishes (frozen, lease unrenewed)",
        },
        "attempt retried on the other worker, lost run's log kept, retry complete, nothing left running",
        "nothing lost",
        Some(recovery),
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_run_is_retried_elsewhere_and_its_output_kept() {
    lose_a_worker_mid_run(Fault::Kill).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_host_vanishes_is_retried_and_its_thawed_run_writes_nothing() {
    lose_a_worker_mid_run(Fault::Freeze).await;
}
