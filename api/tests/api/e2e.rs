//! End to end: the api, the scheduler with its local capacity backend and real
//! `switchyard-worker` processes, on real Postgres, Redis, S3 and git repositories.

use reqwest::StatusCode;
use scheduler::WorkerPool;
use shared::domain::{AttemptStatus, ProcessStatus, RunReason, TaskStatus};
use shared::logs::LogPatch;
use shared::shutdown::CancellationToken;
use shared::testing::OwnRedis;
use shared::wire;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::attempt_views::{assert_gap_free, read_to_end, texts};
use crate::helpers::{SseClient, TestApp, json_as};

/// The api plus a scheduler running the local backend with `workers` worker processes.
pub(crate) struct Stack {
    pub(crate) app: TestApp,
    workers: WorkerPool,
    shutdown: CancellationToken,
    scheduler: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Stack {
    async fn start(workers: usize) -> Stack {
        Self::start_with(workers, None).await
    }

    /// With `redis`, every component uses that server instead of the shared one.
    async fn start_with(workers: usize, redis: Option<&OwnRedis>) -> Stack {
        Self::start_configured(workers, redis, |_| {}).await
    }

    /// As [`Stack::start_with`], with `configure` applied last to the settings the
    /// scheduler hands its local workers.
    pub(crate) async fn start_configured(
        workers: usize,
        redis: Option<&OwnRedis>,
        configure: impl FnOnce(&mut shared::config::Settings),
    ) -> Stack {
        let redis_url = redis.map(|r| r.url.clone());
        let app = TestApp::spawn_with(|s| {
            if let Some(url) = &redis_url {
                s.redis.url = url.clone();
            }
        })
        .await;
        let mut settings = app.env.settings.clone();
        if let Some(url) = redis_url {
            settings.redis.url = url;
        }
        settings.scheduler.local_workers = workers;
        // The fake Claude Code stands in for the real CLI (the worker passes the real flags).
        let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../worker/tests/fake_agents/claude_code.py");
        settings.worker.agent_commands.insert(
            "claude-code".into(),
            vec!["python3".into(), fake.display().to_string()],
        );
        configure(&mut settings);
        let pool = WorkerPool::default();
        let shutdown = CancellationToken::new();
        let scheduler = tokio::spawn(scheduler::run(settings, pool.clone(), shutdown.clone()));
        Stack {
            app,
            workers: pool,
            shutdown,
            scheduler,
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.scheduler).await;
        self.app.stop().await;
    }
}

fn git(repo: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The script of the main scenario: prints 40 numbered lines slowly, edits, creates and
/// deletes files.
const EDITING_SCRIPT: &str = r##"
sleep 0.5
for i in $(seq 1 40); do echo "line $i"; sleep 0.05; done
echo "# Edited by the agent" >> README.md
mkdir -p src && printf 'fn main() {}\n' > src/main.rs
rm -f obsolete.txt
echo "done" >&2
"##;

#[tokio::test(flavor = "multi_thread")]
async fn a_task_runs_end_to_end_with_live_logs_diff_and_commit() {
    let mut stack = Stack::start(2).await;
    let app = &stack.app;
    let repo = app.git_repo("e2e");
    std::fs::write(repo.join("obsolete.txt"), "old\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "add obsolete",
        ],
    );
    let project: wire::Project = json_as(
        app.post(
            "projects",
            &serde_json::json!({"name": "E2E", "repository_url": repo.to_string_lossy()}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let task = app.create_task(project.id, "Edit the readme").await;

    let mut org_events = app.sse("events", None).await;
    let started = Instant::now();
    let attempt = app.start_attempt(task.id, EDITING_SCRIPT).await;
    assert_eq!(attempt.status, AttemptStatus::Queued);
    let process = stack
        .app
        .processes(attempt.id)
        .await
        .into_iter()
        .next()
        .expect("agent process");
    assert_eq!(process.run_reason, RunReason::CodingAgent);

    // A client connected before the process starts sees every entry in order.
    let mut early = app
        .sse(&format!("processes/{}/logs/stream", process.id), None)
        .await;
    let mut early_patches: Vec<LogPatch> = Vec::new();
    let mut first_entry_after = None;
    while early_patches.len() < 15 {
        let e = early
            .next_within(Duration::from_secs(60))
            .await
            .expect("entry");
        if e.event == "patch" {
            first_entry_after.get_or_insert_with(|| started.elapsed());
            early_patches.push(e.json());
        }
    }
    // A second client joins mid-run: history, then live, no duplicate.
    let mut late = app
        .sse(&format!("processes/{}/logs/stream", process.id), None)
        .await;
    early_patches.extend(read_to_end(&mut early).await);
    let late_patches = read_to_end(&mut late).await;
    assert_gap_free(&early_patches);
    assert_eq!(late_patches, early_patches);
    let lines = texts(&early_patches);
    assert_eq!(lines.len(), 41);
    assert_eq!(lines[0], "line 1");
    assert_eq!(lines[39], "line 40");
    assert_eq!(lines[40], "done");

    let finished = stack.app.wait_finished(attempt.id).await;
    let total = started.elapsed();
    assert_eq!(finished.status, AttemptStatus::Succeeded, "{finished:?}");
    let summary = finished.diff_summary.clone().expect("diff summary");
    assert_eq!(summary.files_changed, 3);
    println!(
        "attempt timing: POST → first SSE entry {:?} (the script sleeps 0.5 s first), POST → finished {:?}",
        first_entry_after.expect("an entry"),
        total
    );

    // The diff endpoint shows the edit, the new file and the deletion.
    let diff: wire::Diff = json_as(
        app.get(&format!("attempts/{}/diff", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    let by_path = |p: &str| {
        diff.files
            .iter()
            .find(|f| f.path == p)
            .unwrap_or_else(|| panic!("{p} in diff"))
    };
    assert_eq!(by_path("README.md").change, wire::FileChange::Modified);
    assert!(
        by_path("README.md").hunks[0]
            .lines
            .iter()
            .any(|l| l.origin == '+' && l.content.contains("Edited by the agent"))
    );
    assert_eq!(by_path("src/main.rs").change, wire::FileChange::Added);
    assert_eq!(by_path("obsolete.txt").change, wire::FileChange::Deleted);

    // The branch holds a commit with the changes (in the workers' repository cache).
    let cache = app
        .env
        .settings
        .worker
        .data_dir
        .join("repos")
        .join(format!("{}.git", project.repository.id));
    let head = finished.head_commit.clone().expect("head commit");
    assert_eq!(git(&cache, &["rev-parse", &finished.branch]).trim(), head);
    let changed = git(
        &cache,
        &[
            "diff",
            "--name-status",
            finished.base_commit.as_deref().unwrap(),
            &head,
        ],
    );
    assert!(
        changed.contains("M\tREADME.md")
            && changed.contains("A\tsrc/main.rs")
            && changed.contains("D\tobsolete.txt"),
        "{changed}"
    );

    // The task moved to in review, and the org stream said so.
    let task_now: wire::Task =
        json_as(app.get(&format!("tasks/{}", task.id)).await, StatusCode::OK).await;
    assert_eq!(task_now.status, TaskStatus::InReview);
    let mut kinds = Vec::new();
    while let Some(e) = org_events.next_within(Duration::from_secs(5)).await {
        let event: wire::OrgEvent = e.json();
        let is_review =
            matches!(&event, wire::OrgEvent::TaskUpdated(t) if t.status == TaskStatus::InReview);
        kinds.push(event.kind().to_owned());
        if is_review {
            break;
        }
    }
    assert!(kinds.contains(&"attempt.created".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"attempt.updated".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"process.updated".to_owned()), "{kinds:?}");

    // After an api restart, logs and diff are still served (from S3: the tail is gone).
    let logs_before = stack.app.logs(process.id).await;
    stack.app.restart().await;
    let logs_after = stack.app.logs(process.id).await;
    assert_eq!(logs_after, logs_before);
    assert_eq!(logs_after["entries"].as_array().map(Vec::len), Some(41));
    let diff_after: wire::Diff = json_as(
        stack
            .app
            .get(&format!("attempts/{}/diff", attempt.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(diff_after, diff);
    let mut replay = stack
        .app
        .sse(&format!("processes/{}/logs/stream", process.id), None)
        .await;
    assert_eq!(read_to_end(&mut replay).await, early_patches);
    // Resuming after entry 29 gives exactly 30..=40.
    let mut resumed = stack
        .app
        .sse(&format!("processes/{}/logs/stream", process.id), Some("29"))
        .await;
    let rest = read_to_end(&mut resumed).await;
    assert_eq!(rest, early_patches[30..].to_vec());

    // A follow-up runs another script in the same worktree, on the same branch.
    let res = stack
        .app
        .post(
            &format!("attempts/{}/follow-up", attempt.id),
            &serde_json::json!({"prompt": "test -f src/main.rs && echo again >> src/main.rs"}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let followed = stack
        .app
        .wait_attempt(attempt.id, Duration::from_secs(90), |a| {
            a.status == AttemptStatus::Succeeded && a.head_commit.as_deref() != Some(head.as_str())
        })
        .await;
    let processes = stack.app.processes(attempt.id).await;
    assert_eq!(processes.len(), 2);
    assert_eq!(processes[1].run_reason, RunReason::FollowUp);
    assert_eq!(processes[1].status, ProcessStatus::Succeeded);
    let new_head = followed.head_commit.expect("new head");
    assert_eq!(
        git(&cache, &["rev-parse", &format!("{new_head}^")]).trim(),
        head,
        "the follow-up commit builds on the first"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_org_stream_shows_an_attempt_queued_then_scheduled_then_running() {
    let stack = Stack::start(1).await;
    let app = &stack.app;
    let project = app.create_project("Stream", None).await;
    let task = app.create_task(project.id, "Watch it move").await;
    let mut events = app.sse("events", None).await;
    let attempt = app.start_attempt(task.id, "sleep 1; echo done").await;

    // What a dashboard reads: each attempt event's status, a repeat counted once.
    let mut seen: Vec<String> = Vec::new();
    while seen
        .last()
        .is_none_or(|s| !["succeeded", "failed", "cancelled"].contains(&s.as_str()))
    {
        let e = events
            .next_within(Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("the attempt's events stopped after {seen:?}"));
        let event: serde_json::Value = e.json();
        let kind = event["kind"].as_str().unwrap_or_default();
        if !kind.starts_with("attempt.") || event["data"]["id"] != attempt.id.to_string() {
            continue;
        }
        let status = event["data"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if seen.last() != Some(&status) {
            seen.push(status);
        }
    }
    assert_eq!(seen, ["queued", "scheduled", "running", "succeeded"]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_with_no_retries_left_fails_the_attempt_with_a_reason() {
    let stack = Stack::start(1).await;
    let app = &stack.app;
    let project = app.create_project("Crash", None).await;
    let task = app.create_task(project.id, "Crash for good").await;
    let attempt = app.start_attempt(task.id, "echo started; sleep 30").await;
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::task_attempts;
        let mut conn = app.db.system().await.unwrap();
        diesel::update(task_attempts::table.find(attempt.id))
            .set(task_attempts::max_retries.eq(0))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    stack.app.wait_running(attempt.id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for pid in stack.workers.pids() {
        // SAFETY: kill(2) on worker processes this test's scheduler started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let done = stack.app.wait_finished(attempt.id).await;
    assert_eq!(done.status, AttemptStatus::Failed);
    let reason = done.failure_reason.unwrap_or_default();
    assert!(
        reason.contains("worker lost") && reason.contains("no retries left"),
        "{reason}"
    );
    assert!(done.finished_at.is_some());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attempts_queued_when_redis_is_flushed_all_still_run() {
    let redis = OwnRedis::start();
    let stack = Stack::start_with(2, Some(&redis)).await;
    let app = &stack.app;
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::organizations;
        let mut conn = app.db.system().await.unwrap();
        diesel::update(organizations::table.find(app.org.id))
            .set(organizations::max_concurrent_attempts.eq(1))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let project = app.create_project("Flush", None).await;
    let mut attempts = Vec::new();
    for n in 0..5 {
        let task = app.create_task(project.id, &format!("Task {n}")).await;
        attempts.push(
            app.start_attempt(task.id, &format!("sleep 0.4; echo run {n}"))
                .await
                .id,
        );
    }
    stack
        .app
        .wait_attempt(attempts[0], Duration::from_secs(60), |a| {
            a.status == AttemptStatus::Running
        })
        .await;
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();

    for id in &attempts {
        let done = stack.app.wait_finished(*id).await;
        assert_eq!(done.status, AttemptStatus::Succeeded, "{done:?}");
    }
    stack.stop().await;
}

/// A fallback poll that never comes within a test: only wakes dispatch.
const FALLBACK_NEVER_MS: u64 = 3_600_000;

impl Stack {
    /// Sets the org's concurrency limit through the api, as an admin does.
    async fn set_org_limit(&self, limit: i32) {
        let app = &self.app;
        let res = app
            .request_path_as(
                &app.token,
                reqwest::Method::PATCH,
                &format!("/api/v1/orgs/{}", app.org.slug),
            )
            .json(&serde_json::json!({ "max_concurrent_attempts": limit }))
            .send()
            .await
            .expect("PATCH org");
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_slot_orgs_attempts_run_back_to_back_on_wakes_alone() {
    let stack = Stack::start_configured(1, None, |s| s.scheduler.tick_ms = FALLBACK_NEVER_MS).await;
    stack.set_org_limit(1).await;
    let app = &stack.app;
    let project = app.create_project("Wakes", None).await;
    // The start's wake dispatches the first; the worker's end, the second.
    let mut attempts = Vec::new();
    for n in 0..2 {
        let task = app.create_task(project.id, &format!("Task {n}")).await;
        attempts.push(
            app.start_attempt(task.id, &format!("echo run {n}"))
                .await
                .id,
        );
    }
    for id in attempts {
        let done = app.wait_finished(id).await;
        assert_eq!(done.status, AttemptStatus::Succeeded, "{done:?}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn raising_the_org_limit_wakes_the_scheduler_for_the_attempt_waiting_on_it() {
    // No workers: scheduled attempts stay scheduled, holding their slots.
    let stack = Stack::start_configured(0, None, |s| s.scheduler.tick_ms = FALLBACK_NEVER_MS).await;
    stack.set_org_limit(1).await;
    let app = &stack.app;
    let project = app.create_project("Limit", None).await;
    let mut attempts = Vec::new();
    for n in 0..2 {
        let task = app.create_task(project.id, &format!("Task {n}")).await;
        attempts.push(app.start_attempt(task.id, "echo hi").await.id);
    }
    let scheduled = |a: &wire::Attempt| a.status == AttemptStatus::Scheduled;
    app.wait_attempt(attempts[0], Duration::from_secs(30), scheduled)
        .await;
    assert_eq!(app.attempt(attempts[1]).await.status, AttemptStatus::Queued);

    stack.set_org_limit(2).await;
    app.wait_attempt(attempts[1], Duration::from_secs(30), scheduled)
        .await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_running_attempt_kills_every_process_it_started() {
    let stack = Stack::start(1).await;
    let app = &stack.app;
    let project = app.create_project("Stop", None).await;
    let task = app.create_task(project.id, "Stop me").await;
    let marker = format!("{}.5", 1000 + rand_suffix());
    let script =
        format!("sleep {marker} & (sleep {marker}; echo never) & echo children started; wait");
    let attempt = app.start_attempt(task.id, &script).await;
    let process = stack.app.processes(attempt.id).await.remove(0);
    let mut logs = app
        .sse(&format!("processes/{}/logs/stream", process.id), None)
        .await;
    let first = loop {
        let e = logs
            .next_within(Duration::from_secs(60))
            .await
            .expect("first entry");
        if e.event == "patch" {
            break e.json::<LogPatch>();
        }
    };
    assert_eq!(texts(&[first]), vec!["children started"]);
    assert!(!processes_with(&marker).is_empty(), "the children run");

    let res = app
        .post(
            &format!("attempts/{}/stop", attempt.id),
            &serde_json::json!({}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let done = stack.app.wait_finished(attempt.id).await;
    assert_eq!(done.status, AttemptStatus::Cancelled);
    assert_eq!(
        stack.app.processes(attempt.id).await[0].status,
        ProcessStatus::Killed
    );
    assert!(
        processes_with(&marker).is_empty(),
        "no process of the group survives"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_org_concurrency_limit_holds_with_twenty_attempts_started_at_once() {
    let stack = Stack::start(4).await;
    let app = &stack.app;
    {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::organizations;
        let mut conn = app.db.system().await.unwrap();
        diesel::update(organizations::table.find(app.org.id))
            .set(organizations::max_concurrent_attempts.eq(2))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let project = app.create_project("Busy", None).await;
    let mut tasks = Vec::new();
    for n in 0..20 {
        tasks.push(app.create_task(project.id, &format!("Task {n}")).await.id);
    }
    let starts = tasks
        .iter()
        .map(|t| app.start_attempt(*t, "sleep 0.3; echo ok"));
    let attempts: Vec<wire::Attempt> = futures::future::join_all(starts).await;
    let mut intervals = Vec::new();
    for a in &attempts {
        let done = stack.app.wait_finished(a.id).await;
        assert_eq!(done.status, AttemptStatus::Succeeded, "{done:?}");
        intervals.push((
            done.started_at.expect("started"),
            done.finished_at.expect("finished"),
        ));
    }
    // The most attempts ever running at once, from their recorded intervals.
    let mut edges: Vec<(chrono::DateTime<chrono::Utc>, i32)> = intervals
        .iter()
        .flat_map(|(s, e)| [(*s, 1), (*e, -1)])
        .collect();
    edges.sort_by_key(|(t, d)| (*t, *d));
    let (mut running, mut peak) = (0, 0);
    for (_, d) in edges {
        running += d;
        peak = peak.max(running);
    }
    assert!(peak <= 2, "{peak} attempts ran at once with a limit of 2");
    assert_eq!(peak, 2, "the limit is used, not undershot");
    stack.stop().await;
}

fn rand_suffix() -> u32 {
    Uuid::new_v4().as_u128() as u32 % 100_000
}

/// Pids of live (not zombie) processes whose command line contains `needle`.
fn processes_with(needle: &str) -> HashSet<i32> {
    let mut found = HashSet::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'));
        if !zombie
            && String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(needle)
        {
            found.insert(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_trace_rides_from_the_request_into_the_queue_entry() {
    // Spans get trace ids only with the telemetry layer installed (once per test process).
    let _telemetry =
        shared::telemetry::init("api-test", &shared::config::Settings::default().telemetry)
            .expect("telemetry");
    let app = TestApp::spawn().await;
    let project = app.create_project("Traced", None).await;
    let task = app.create_task(project.id, "Follow the trace").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let res = app
        .request(
            reqwest::Method::POST,
            &format!("tasks/{}/attempts", task.id),
        )
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&serde_json::json!({"prompt": "true"}))
        .send()
        .await
        .unwrap();
    let attempt: wire::Attempt = json_as(res, StatusCode::CREATED).await;

    let mut redis = shared::redis_conn::manager(&app.env.settings.redis.url)
        .await
        .unwrap();
    scheduler::dispatch::dispatch_once(
        &app.db,
        &mut redis,
        &app.keys,
        10,
        &shared::metrics::Metrics::new().expect("metrics"),
    )
    .await
    .unwrap();
    let mut reader = shared::redis_conn::dedicated(&app.env.settings.redis.url)
        .await
        .unwrap();
    let delivery = shared::queue::next(&mut reader, &app.keys, "trace-test", 2_000)
        .await
        .unwrap()
        .expect("the attempt is queued");
    assert_eq!(delivery.entry.attempt_id, attempt.id);
    let traceparent = delivery
        .entry
        .traceparent
        .expect("the queue entry carries a trace");
    assert_eq!(
        shared::telemetry::trace_id_of(&traceparent),
        Some(trace_id),
        "{traceparent}"
    );
    app.stop().await;
}

/// Waits on the org stream for the next `approval.requested`; returns its data.
async fn next_approval(events: &mut SseClient) -> serde_json::Value {
    loop {
        let e = events
            .next_within(Duration::from_secs(60))
            .await
            .expect("an approval request");
        let event: serde_json::Value = e.json();
        if event["kind"] == "approval.requested" {
            return event["data"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_agent_runs_through_the_stack_and_its_follow_up_resumes_on_another_worker() {
    let stack = Stack::start(2).await;
    let app = &stack.app;
    let project = app.create_project("Agents", None).await;
    let task = app.create_task(project.id, "Greet the team").await;
    let mut events = app.sse("events", None).await;
    let start = serde_json::json!({
        "prompt": "say hi team\nwrite hello.txt hello from the agent",
        "executor": "claude-code",
        "profile": "claude-code:supervised",
    });
    let attempt: wire::Attempt = json_as(
        app.post(&format!("tasks/{}/attempts", task.id), &start)
            .await,
        StatusCode::CREATED,
    )
    .await;

    // The Write waits for a reviewer, who approves it through the api.
    let request = next_approval(&mut events).await;
    assert_eq!(request["tool_name"], "Write");
    let url = format!(
        "attempts/{}/approvals/{}",
        attempt.id,
        request["id"].as_str().expect("approval id")
    );
    let res = app
        .post(&url, &serde_json::json!({ "approve": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let first = stack.app.wait_finished(attempt.id).await;
    assert_eq!(first.status, AttemptStatus::Succeeded, "{first:?}");
    assert!(
        first.usage.input_tokens > 0,
        "usage is summed on the attempt: {first:?}"
    );
    let process = stack.app.processes(attempt.id).await.remove(0);
    let logs = stack.app.logs(process.id).await;
    let entries = logs["entries"].as_array().expect("entries").clone();
    assert!(
        entries
            .iter()
            .any(|e| e["type"] == "assistant_message" && e["text"] == "hi team"),
        "{logs}"
    );
    assert!(
        !entries.iter().any(|e| e["type"] == "output"),
        "every line was understood: {logs}"
    );

    // The worker that ran the first turn dies, and the agent's home goes with it: the
    // follow-up runs on another worker process, its session restored from the store.
    let worker_pid = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use shared::db::schema::task_attempts;
        let mut conn = app.db.system().await.unwrap();
        let id: Option<String> = task_attempts::table
            .find(attempt.id)
            .select(task_attempts::worker_id)
            .get_result(&mut conn)
            .await
            .unwrap();
        id.expect("worker id")
            .rsplit('-')
            .next()
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    // SAFETY: kill(2) on a worker process this test's scheduler started.
    assert_eq!(unsafe { libc::kill(worker_pid, libc::SIGKILL) }, 0);
    let home = app
        .env
        .settings
        .worker
        .data_dir
        .join("homes")
        .join(attempt.id.to_string());
    std::fs::remove_dir_all(&home).expect("the agent home existed");

    let res = app
        .post(
            &format!("attempts/{}/follow-up", attempt.id),
            &serde_json::json!({ "prompt": "history\nwrite bye.txt bye" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let request = next_approval(&mut events).await;
    let url = format!(
        "attempts/{}/approvals/{}",
        attempt.id,
        request["id"].as_str().expect("approval id")
    );
    assert_eq!(
        app.post(&url, &serde_json::json!({ "approve": true }))
            .await
            .status(),
        StatusCode::OK
    );
    let second = stack
        .app
        .wait_attempt(attempt.id, Duration::from_secs(90), |a| {
            a.status == AttemptStatus::Succeeded && a.head_commit != first.head_commit
        })
        .await;
    let processes = stack.app.processes(attempt.id).await;
    let follow_up = processes.last().expect("follow-up process");
    let logs = stack.app.logs(follow_up.id).await;
    assert!(
        logs.to_string()
            .contains("resumed session with 1 earlier turns"),
        "{logs}"
    );
    let diff: wire::Diff = json_as(
        app.get(&format!("attempts/{}/diff", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    let paths: Vec<&str> = diff.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["bye.txt", "hello.txt"]);
    assert!(
        second.usage.input_tokens > first.usage.input_tokens,
        "usage grows with the follow-up"
    );
    stack.stop().await;
}
