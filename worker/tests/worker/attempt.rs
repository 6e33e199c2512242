//! Whole attempts through the worker, on real Postgres, Redis and S3.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use redis::AsyncCommands;
use shared::bus;
use shared::db::Db;
use shared::db::models::{ExecutionProcess, NewExecutionProcess, Task, TaskAttempt};
use shared::db::schema::{execution_processes, task_attempts, tasks};
use shared::domain::{AttemptStatus, ProcessStatus, RunReason, TaskStatus};
use shared::keys::Keys;
use shared::logs::{EntryContent, LogMessage, LogPatch, OutputStream, PatchOp};
use shared::logstore;
use shared::queue::{self, QueueEntry};
use shared::store::{self, ObjectStore};
use shared::testing::{TestEnv, fixtures};
use shared::wire::Diff;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use worker::attempt::AttemptOutcome;

use crate::helpers::{git, origin_repo};

/// One org, project, task and scheduled attempt on a fresh repository.
pub(crate) struct Scenario {
    pub(crate) env: TestEnv,
    pub(crate) db: Db,
    pub(crate) store: ObjectStore,
    pub(crate) keys: Keys,
    pub(crate) origin: PathBuf,
    pub(crate) org: Uuid,
    pub(crate) task: Uuid,
    pub(crate) attempt: Uuid,
    /// The coding-agent process.
    pub(crate) process: Uuid,
    /// The setup-script process, when the project has one.
    pub(crate) setup: Option<Uuid>,
}

/// Builds the rows; `repo_url` defaults to a real repository made for the test.
pub(crate) async fn scenario(
    script: &str,
    setup: Option<&str>,
    repo_url: Option<PathBuf>,
) -> Scenario {
    let env = TestEnv::new().await;
    let origin = origin_repo(&env.dir);
    let url = repo_url.unwrap_or_else(|| origin.clone());
    let db = Db::new(&env.settings.database).expect("pool");
    let mut conn = db.system().await.expect("conn");
    let org = fixtures::org(&mut conn, "acme", 4).await;
    let project = fixtures::project(&mut conn, org, &url.display().to_string(), setup).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (attempt, process) =
        fixtures::attempt(&mut conn, org, task, AttemptStatus::Scheduled, script).await;
    let setup = match setup {
        None => None,
        Some(setup) => {
            let id = Uuid::now_v7();
            diesel::insert_into(execution_processes::table)
                .values(NewExecutionProcess {
                    id,
                    org_id: org,
                    attempt_id: attempt,
                    run_reason: RunReason::SetupScript,
                    status: ProcessStatus::Queued,
                    prompt: setup,
                })
                .execute(&mut conn)
                .await
                .expect("insert setup process");
            // The api inserts the setup script first; order it before the agent.
            diesel::sql_query(format!(
                "UPDATE execution_processes SET created_at = now() - interval '1 minute' WHERE id = '{id}'"
            ))
            .execute(&mut conn)
            .await
            .expect("order setup first");
            Some(id)
        }
    };
    let store = ObjectStore::new(&env.settings.s3);
    let keys = Keys::new(env.settings.redis.prefix.clone());
    Scenario {
        env,
        db,
        store,
        keys,
        origin,
        org,
        task,
        attempt,
        process,
        setup,
    }
}

impl Scenario {
    pub(crate) async fn redis(&self) -> redis::aio::ConnectionManager {
        shared::redis_conn::manager(&self.env.settings.redis.url)
            .await
            .expect("redis")
    }

    pub(crate) async fn enqueue(&self) {
        let mut redis = self.redis().await;
        queue::enqueue(
            &mut redis,
            &self.keys,
            &[QueueEntry {
                attempt_id: self.attempt,
                org_id: self.org,
                traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            }],
        )
        .await
        .expect("enqueue");
    }

    /// The real `switchyard-worker` binary, configured by environment alone (nothing
    /// inherited) for this scenario's services, named `id`, with `database_url`.
    pub(crate) fn worker_command(&self, id: &str, database_url: &str) -> tokio::process::Command {
        let st = &self.env.settings;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard-worker"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SWITCHYARD__DATABASE__URL", database_url)
            .env("SWITCHYARD__REDIS__URL", &st.redis.url)
            .env("SWITCHYARD__REDIS__PREFIX", &st.redis.prefix)
            .env(
                "SWITCHYARD__S3__ENDPOINT",
                st.s3.endpoint.clone().expect("endpoint"),
            )
            .env("SWITCHYARD__S3__BUCKET", &st.s3.bucket)
            .env("SWITCHYARD__S3__ACCESS_KEY", &st.s3.access_key)
            .env("SWITCHYARD__S3__SECRET_KEY", shared::testing::S3_SECRET_KEY)
            .env("SWITCHYARD__WORKER__DATA_DIR", &st.worker.data_dir)
            .env("SWITCHYARD__WORKER__ID", id)
            // A developer's worker: the public key seals the test's secrets.
            .env("SWITCHYARD__DEVELOPMENT", "true")
            .env("SWITCHYARD__SECRETS__ALLOW_DEV_KEY", "true")
            .kill_on_drop(true);
        cmd
    }

    /// Asks for the attempt to stop, as the api does.
    pub(crate) async fn request_stop(&self) {
        let mut conn = self.db.system().await.expect("conn");
        diesel::update(task_attempts::table.find(self.attempt))
            .set(task_attempts::stop_requested.eq(true))
            .execute(&mut conn)
            .await
            .expect("request stop");
    }

    /// The paths of the attempt's stored diff, in its order.
    pub(crate) async fn diff_paths(&self) -> Vec<String> {
        let diff: Diff = serde_json::from_slice(
            &self
                .store
                .get(&store::diff_key(self.org, self.attempt))
                .await
                .expect("get")
                .expect("diff"),
        )
        .expect("diff json");
        diff.files.into_iter().map(|f| f.path).collect()
    }

    pub(crate) fn settings(&self) -> shared::config::Settings {
        let mut settings = self.env.settings.clone();
        settings.worker.max_attempts = 1;
        settings.worker.id = Some("test-worker".into());
        settings
    }

    /// Runs `worker::run` until it has run one attempt.
    pub(crate) async fn run_worker(&self) {
        let run = worker::run(self.settings(), CancellationToken::new());
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the worker finishes within 60 s")
            .expect("the worker runs");
    }

    /// Starts `worker::run` in the background.
    pub(crate) fn spawn_worker(&self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        tokio::spawn(worker::run(self.settings(), CancellationToken::new()))
    }

    /// What the api does for a follow-up: a queued follow-up process, the attempt
    /// scheduled again and enqueued. Returns the new process.
    pub(crate) async fn queue_follow_up(&self, prompt: &str) -> Uuid {
        let mut conn = self.db.system().await.expect("conn");
        let follow_up = Uuid::now_v7();
        diesel::insert_into(execution_processes::table)
            .values(NewExecutionProcess {
                id: follow_up,
                org_id: self.org,
                attempt_id: self.attempt,
                run_reason: RunReason::FollowUp,
                status: ProcessStatus::Queued,
                prompt,
            })
            .execute(&mut conn)
            .await
            .expect("insert follow-up");
        shared::attempts::force_status(&mut conn, self.attempt, AttemptStatus::Scheduled)
            .await
            .expect("schedule again");
        self.enqueue().await;
        follow_up
    }

    /// Makes the attempt run `executor` with a built-in-shaped profile snapshot whose
    /// options are `options` (the variant is named after their permission policy).
    pub(crate) async fn use_agent(&self, executor: &str, options: serde_json::Value) {
        let variant = options["permission_policy"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let snapshot = serde_json::json!({
            "profile": executor,
            "variant": variant,
            "source": "builtin",
            "executor": executor,
            "options": options,
        });
        let mut conn = self.db.system().await.expect("conn");
        diesel::update(task_attempts::table.find(self.attempt))
            .set((
                task_attempts::executor.eq(executor),
                task_attempts::executor_profile.eq(Some(snapshot)),
            ))
            .execute(&mut conn)
            .await
            .expect("set the attempt's agent");
    }

    /// Deletes the agent's home on this worker, as if the next turn ran on another one.
    pub(crate) fn drop_agent_home(&self) {
        let data_dir = std::path::absolute(&self.env.settings.worker.data_dir).expect("abs");
        std::fs::remove_dir_all(worker::sessions::home_dir(&data_dir, self.attempt))
            .expect("drop the agent home");
    }

    /// The attempt's worktree on the test worker.
    pub(crate) fn worktree(&self) -> PathBuf {
        std::path::absolute(&self.env.settings.worker.data_dir)
            .expect("absolute data dir")
            .join("worktrees")
            .join(self.attempt.to_string())
    }

    /// Asserts the attempt succeeded, showing its failure reason otherwise.
    pub(crate) async fn assert_succeeded(&self) -> TaskAttempt {
        let row = self.attempt_row().await;
        assert_eq!(
            row.status,
            AttemptStatus::Succeeded,
            "{:?}",
            row.failure_reason
        );
        row
    }

    pub(crate) async fn attempt_row(&self) -> TaskAttempt {
        let mut conn = self.db.system().await.expect("conn");
        task_attempts::table
            .find(self.attempt)
            .select(TaskAttempt::as_select())
            .get_result(&mut conn)
            .await
            .expect("attempt")
    }

    async fn task_row(&self) -> Task {
        let mut conn = self.db.system().await.expect("conn");
        tasks::table
            .find(self.task)
            .select(Task::as_select())
            .get_result(&mut conn)
            .await
            .expect("task")
    }

    pub(crate) async fn process_row(&self, id: Uuid) -> ExecutionProcess {
        let mut conn = self.db.system().await.expect("conn");
        execution_processes::table
            .find(id)
            .select(ExecutionProcess::as_select())
            .get_result(&mut conn)
            .await
            .expect("process")
    }

    pub(crate) async fn wait_for_process_status(&self, id: Uuid, status: ProcessStatus) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.process_row(id).await.status != status {
            assert!(Instant::now() < deadline, "process never became {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn stored_log(&self, process: Uuid) -> Vec<LogPatch> {
        logstore::stored_patches(&self.store, self.org, process, 0)
            .await
            .expect("stored log")
    }

    async fn tail_exists(&self, process: Uuid) -> bool {
        let mut redis = self.redis().await;
        redis
            .exists(self.keys.log_tail(process))
            .await
            .expect("exists")
    }

    /// Queue entries delivered to a worker and not yet acknowledged.
    async fn pending_entries(&self) -> i64 {
        let mut redis = self.redis().await;
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg(self.keys.queue())
            .arg(queue::GROUP)
            .query_async(&mut redis)
            .await
            .expect("xpending");
        match pending {
            redis::Value::Array(summary) => match <[_]>::first(&summary) {
                Some(redis::Value::Int(n)) => *n,
                other => panic!("unexpected XPENDING count {other:?}"),
            },
            other => panic!("unexpected XPENDING reply {other:?}"),
        }
    }

    pub(crate) fn cache_repo(&self) -> PathBuf {
        // One repository per scenario: find its cache by listing the repos dir.
        let repos = self.env.settings.worker.data_dir.join("repos");
        std::fs::read_dir(&repos)
            .expect("repos dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "git"))
            .expect("a cached repository")
    }
}

pub(crate) fn texts(patches: &[LogPatch], stream: OutputStream) -> Vec<String> {
    patches
        .iter()
        .filter_map(|p| match &p.entry.content {
            EntryContent::Output { stream: s, text } if *s == stream => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn assert_gap_free(patches: &[LogPatch]) {
    for (i, p) in patches.iter().enumerate() {
        assert_eq!(p.seq, i as u64, "seq has a gap or is out of order");
        assert_eq!(p.index, p.seq);
        assert_eq!(p.op, PatchOp::Append);
    }
}

const AGENT_SCRIPT: &str = r#"
for i in $(seq 1 50); do echo "line $i"; done
echo "to stderr" >&2
printf 'agent was here\n' > agent.txt
sed -i 's/two/TWO/' README.md
"#;

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_attempt_runs_end_to_end_with_complete_logs_diff_and_commit() {
    let s = scenario(
        AGENT_SCRIPT,
        Some("echo preparing; echo set > setup.txt"),
        None,
    )
    .await;
    let setup = s.setup.expect("setup process");
    // A live viewer subscribed before the run starts.
    let client = redis::Client::open(s.env.settings.redis.url.as_str()).expect("client");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub
        .subscribe(s.keys.log_channel(s.process))
        .await
        .expect("subscribe");
    let mut settings_small_segments = s.settings();
    settings_small_segments.worker.segment_max_entries = 7;
    s.enqueue().await;

    tokio::time::timeout(
        Duration::from_secs(60),
        worker::run(settings_small_segments, CancellationToken::new()),
    )
    .await
    .expect("the worker finishes within 60 s")
    .expect("the worker runs");

    // The attempt, its task and its processes.
    let attempt = s.attempt_row().await;
    assert_eq!(
        attempt.status,
        AttemptStatus::Succeeded,
        "{:?}",
        attempt.failure_reason
    );
    assert_eq!(attempt.failure_reason, None);
    assert_eq!(attempt.worker_id.as_deref(), Some("test-worker"));
    assert!(attempt.started_at.is_some() && attempt.finished_at.is_some());
    assert_eq!(attempt.lease_expires_at, None);
    let base = git(&s.origin, &["rev-parse", "main"]);
    assert_eq!(attempt.base_commit.as_deref(), Some(base.as_str()));
    assert_eq!(s.task_row().await.status, TaskStatus::InReview);
    let setup_row = s.process_row(setup).await;
    assert_eq!(setup_row.status, ProcessStatus::Succeeded);
    assert_eq!(setup_row.entry_count, 1);
    let agent = s.process_row(s.process).await;
    assert_eq!(agent.status, ProcessStatus::Succeeded);
    assert_eq!(agent.exit_code, Some(0));
    assert!(agent.started_at.is_some() && agent.finished_at.is_some());
    assert!(
        setup_row.finished_at <= agent.started_at,
        "setup runs first"
    );
    assert_eq!(agent.entry_count, 51);

    // The log: complete and in order in S3, in segments of at most 7, the tail gone.
    let log = s.stored_log(s.process).await;
    assert_eq!(log.len(), 51);
    assert_gap_free(&log);
    let expected: Vec<String> = (1..=50).map(|i| format!("line {i}")).collect();
    assert_eq!(texts(&log, OutputStream::Stdout), expected);
    assert_eq!(texts(&log, OutputStream::Stderr), vec!["to stderr"]);
    let segments = s
        .store
        .list(&shared::logs::segments::prefix(s.org, s.process))
        .await
        .expect("list");
    assert!(
        segments.len() >= 8,
        "51 entries in segments of ≤ 7: {segments:?}"
    );
    for key in &segments {
        let (first, last) = shared::logs::segments::range(key).expect("segment key");
        assert!(last - first < 7, "{key} holds more than 7 entries");
    }
    assert!(!s.tail_exists(s.process).await);
    assert!(!s.tail_exists(setup).await);
    assert_eq!(
        texts(&s.stored_log(setup).await, OutputStream::Stdout),
        vec!["preparing"]
    );

    // The live viewer saw every patch once, in order, then the end.
    let mut live = Vec::new();
    let mut stream = pubsub.on_message();
    let total = loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a live message")
            .expect("stream open");
        let payload: String = msg.get_payload().expect("payload");
        match serde_json::from_str::<LogMessage>(&payload).expect("log message") {
            LogMessage::Patches { patches } => live.extend(patches),
            LogMessage::End { total } => break total,
        }
    };
    assert_eq!(total, 51);
    assert_gap_free(&live);
    assert_eq!(live.len(), 51);

    // The diff: stored, summarised on the row.
    let key = store::diff_key(s.org, s.attempt);
    assert_eq!(attempt.diff_object_key.as_deref(), Some(key.as_str()));
    let diff: Diff = serde_json::from_slice(
        &s.store
            .get(&key)
            .await
            .expect("get")
            .expect("a stored diff"),
    )
    .expect("diff json");
    assert!(diff.version >= 1);
    let paths: Vec<&str> = diff.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["README.md", "agent.txt", "setup.txt"]);
    let summary: shared::wire::DiffSummary =
        serde_json::from_value(attempt.diff_summary.clone().expect("summary"))
            .expect("summary json");
    assert_eq!(summary, diff.summary);
    assert_eq!(summary.files_changed, 3);

    // The commit: on the attempt's branch in the cache, holding the changes.
    let head = attempt.head_commit.clone().expect("head commit");
    let cache = s.cache_repo();
    assert_eq!(git(&cache, &["rev-parse", &attempt.branch]), head);
    assert_eq!(git(&cache, &["rev-parse", &format!("{head}^")]), base);
    assert_eq!(
        git(&cache, &["show", &format!("{head}:agent.txt")]),
        "agent was here"
    );
    let message = git(&cache, &["log", "-1", "--format=%s%n%b", &head]);
    assert!(message.starts_with("SY-1: A task"), "{message}");
    assert!(message.contains(&s.attempt.to_string()), "{message}");

    // Org events for the board, and the queue entry is gone.
    let mut redis = s.redis().await;
    let events = bus::org_events_after(&mut redis, &s.keys, s.org, "0", 1000)
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.kind()).collect();
    assert_eq!(<[_]>::first(&kinds), Some(&"attempt.updated"));
    assert_eq!(kinds.iter().filter(|k| **k == "process.updated").count(), 4);
    assert!(kinds.contains(&"task.updated"));
    let last_attempt = events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            shared::wire::OrgEvent::AttemptUpdated(a) => Some(a),
            _ => None,
        })
        .expect("attempt event");
    assert_eq!(last_attempt.status, AttemptStatus::Succeeded);
    let members = queue::members(&mut redis, &s.keys).await.expect("members");
    assert!(!members.contains(&s.attempt));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_that_is_not_git_fails_the_attempt_with_a_clear_reason() {
    let env_less_path = std::env::temp_dir().join(format!("switchyard-plain-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&env_less_path).expect("mkdir");
    std::fs::write(env_less_path.join("file.txt"), "not a repo").expect("write");
    let s = scenario("echo never", None, Some(env_less_path.clone())).await;
    s.enqueue().await;

    s.run_worker().await;

    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Failed);
    let reason = attempt.failure_reason.expect("a reason");
    assert!(
        reason.starts_with("could not prepare the worktree: repository"),
        "{reason}"
    );
    assert!(reason.contains("could not be fetched"), "{reason}");
    assert!(
        reason.contains(&env_less_path.display().to_string()),
        "{reason}"
    );
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(
        process.failure_reason.as_deref(),
        Some("attempt failed before this process ran")
    );
    assert_eq!(s.task_row().await.status, TaskStatus::InReview);
    let _ = std::fs::remove_dir_all(env_less_path);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_setup_script_fails_the_attempt_and_skips_the_agent() {
    let s = scenario("echo should not run", Some("echo preparing; exit 4"), None).await;
    s.enqueue().await;

    s.run_worker().await;

    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Failed);
    assert_eq!(
        attempt.failure_reason.as_deref(),
        Some("exited with code 4")
    );
    let setup = s.process_row(s.setup.expect("setup")).await;
    assert_eq!(setup.status, ProcessStatus::Failed);
    assert_eq!(setup.exit_code, Some(4));
    assert_eq!(setup.entry_count, 1);
    let agent = s.process_row(s.process).await;
    assert_eq!(agent.status, ProcessStatus::Killed);
    assert_eq!(agent.started_at, None);
    assert_eq!(agent.entry_count, 0);
    assert_eq!(s.task_row().await.status, TaskStatus::InReview);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_request_kills_the_process_and_cancels_the_attempt() {
    let s = scenario("echo started; sleep 1000 & sleep 1000", None, None).await;
    s.enqueue().await;
    let worker = s.spawn_worker();
    s.wait_for_process_status(s.process, ProcessStatus::Running)
        .await;
    // Once claimed, the lease guards the run: the queue entry is already acknowledged,
    // so the scheduler never takes a long run for an abandoned delivery.
    assert_eq!(s.pending_entries().await, 0);
    let mut redis = s.redis().await;
    let members = queue::members(&mut redis, &s.keys).await.expect("members");
    assert!(!members.contains(&s.attempt));

    s.request_stop().await;
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stops the run within 30 s")
        .expect("join")
        .expect("worker");

    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Cancelled);
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(process.failure_reason.as_deref(), Some("stopped by user"));
    assert_eq!(process.entry_count, 1);
    assert_eq!(
        texts(&s.stored_log(s.process).await, OutputStream::Stdout),
        vec!["started"]
    );
    assert!(!s.tail_exists(s.process).await);
    // Only succeeded and failed attempts send the task to review.
    assert_eq!(s.task_row().await.status, TaskStatus::InProgress);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_lease_kills_the_run_and_writes_nothing() {
    let s = scenario("echo started; sleep 1000", None, None).await;
    s.enqueue().await;
    let worker = s.spawn_worker();
    s.wait_for_process_status(s.process, ProcessStatus::Running)
        .await;

    // Another worker took the attempt over (as after the reaper re-queued it).
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(task_attempts::table.find(s.attempt))
        .set(task_attempts::worker_id.eq("someone-else"))
        .execute(&mut conn)
        .await
        .expect("steal the lease");
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker gives the run up within 30 s")
        .expect("join")
        .expect("worker");

    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Running);
    assert_eq!(attempt.worker_id.as_deref(), Some("someone-else"));
    assert_eq!(attempt.finished_at, None);
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Running, "nothing written");
    assert_eq!(process.finished_at, None);
    // What it printed is still durable.
    assert_eq!(
        texts(&s.stored_log(s.process).await, OutputStream::Stdout),
        vec!["started"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_continues_on_the_same_branch_and_diff_versions() {
    let s = scenario("echo first > first.txt", None, None).await;
    s.enqueue().await;
    s.run_worker().await;
    let first = s.attempt_row().await;
    assert_eq!(first.status, AttemptStatus::Succeeded);
    let key = store::diff_key(s.org, s.attempt);
    let read_diff = async || -> Diff {
        serde_json::from_slice(&s.store.get(&key).await.expect("get").expect("stored"))
            .expect("diff json")
    };
    let v1 = read_diff().await.version;

    // What the api and scheduler do for a follow-up.
    let follow_up = Uuid::now_v7();
    let mut conn = s.db.system().await.expect("conn");
    diesel::insert_into(execution_processes::table)
        .values(NewExecutionProcess {
            id: follow_up,
            org_id: s.org,
            attempt_id: s.attempt,
            run_reason: RunReason::FollowUp,
            status: ProcessStatus::Queued,
            prompt: "test -f first.txt && echo second > second.txt",
        })
        .execute(&mut conn)
        .await
        .expect("insert follow-up");
    shared::attempts::force_status(&mut conn, s.attempt, AttemptStatus::Scheduled)
        .await
        .expect("schedule again");
    s.enqueue().await;
    s.run_worker().await;

    let second = s.attempt_row().await;
    assert_eq!(
        second.status,
        AttemptStatus::Succeeded,
        "{:?}",
        second.failure_reason
    );
    assert_eq!(second.base_commit, first.base_commit);
    let head = second.head_commit.clone().expect("head");
    let cache = s.cache_repo();
    assert_eq!(
        git(&cache, &["rev-parse", &format!("{head}^")]),
        first.head_commit.clone().expect("first head")
    );
    let diff = read_diff().await;
    assert!(
        diff.version > v1,
        "versions continue: {} then {}",
        v1,
        diff.version
    );
    let paths: Vec<&str> = diff.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["first.txt", "second.txt"]);
    assert_eq!(
        s.process_row(follow_up).await.status,
        ProcessStatus::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_for_an_attempt_that_is_not_scheduled_is_acknowledged_and_skipped() {
    let s = scenario("echo never", None, None).await;
    let mut conn = s.db.system().await.expect("conn");
    shared::attempts::force_status(&mut conn, s.attempt, AttemptStatus::Cancelled)
        .await
        .expect("cancel");
    s.enqueue().await;
    let w = worker::Worker::connect(s.settings()).await.expect("worker");
    let mut queue_conn = shared::redis_conn::dedicated(&s.env.settings.redis.url)
        .await
        .expect("redis");
    let delivery = queue::next(&mut queue_conn, &s.keys, &w.id, 1000)
        .await
        .expect("read")
        .expect("the entry");

    let outcome = w.handle(&delivery, &CancellationToken::new()).await;

    assert_eq!(outcome, AttemptOutcome::NotClaimed);
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Cancelled);
    assert_eq!(s.process_row(s.process).await.status, ProcessStatus::Queued);
    let mut redis = s.redis().await;
    assert!(
        !queue::members(&mut redis, &s.keys)
            .await
            .expect("members")
            .contains(&s.attempt)
    );
    assert_eq!(s.pending_entries().await, 0, "nothing left pending");
}

/// Reads the `pgid N` line a test script prints first, from the process's log.
async fn wait_for_pgid(s: &Scenario, process: Uuid) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut redis = s.redis().await;
    loop {
        let log = logstore::history(&s.store, &mut redis, &s.keys, s.org, process, 0)
            .await
            .expect("log");
        if let Some(pgid) = texts(&log, OutputStream::Stdout)
            .iter()
            .find_map(|t| t.strip_prefix("pgid ").and_then(|n| n.parse().ok()))
        {
            return pgid;
        }
        assert!(
            Instant::now() < deadline,
            "the script never printed its pgid"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a shut-down worker leaves: the attempt and process as they were while running.
/// The run was stopped and the attempt handed back: still `running` under this worker
/// (ending it is the reaper's), with a lease that has already run out.
async fn assert_handed_back(s: &Scenario, worker_id: &str, pgid: i32) {
    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Running);
    assert_eq!(attempt.worker_id.as_deref(), Some(worker_id));
    assert_eq!(attempt.finished_at, None);
    assert!(
        attempt
            .lease_expires_at
            .is_some_and(|at| at <= chrono::Utc::now()),
        "the lease ends at once: {:?}",
        attempt.lease_expires_at
    );
    assert_eq!(
        s.process_row(s.process).await.status,
        ProcessStatus::Running
    );
    assert!(
        worker::runner::live_members(pgid).is_empty(),
        "the run's processes survived the shutdown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_kills_the_run_after_the_drain_and_hands_the_attempt_back() {
    let s = scenario("echo \"pgid $$\"; sleep 1000 & sleep 1000", None, None).await;
    s.enqueue().await;
    let shutdown = CancellationToken::new();
    let mut settings = s.settings();
    settings.worker.max_attempts = 0;
    settings.worker.drain_secs = 1;
    let worker = tokio::spawn(worker::run(settings, shutdown.clone()));
    let pgid = wait_for_pgid(&s, s.process).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), worker)
        .await
        .expect("the worker exits within 20 s")
        .expect("join")
        .expect("clean exit");

    assert_handed_back(&s, "test-worker", pgid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_exits_cleanly_on_sigterm_after_its_drain_and_killing_its_run() {
    let s = scenario("echo \"pgid $$\"; sleep 1000 & sleep 1000", None, None).await;
    s.enqueue().await;
    let st = &s.env.settings;
    let mut child = s
        .worker_command("bin-worker", &st.database.url)
        .env("SWITCHYARD__WORKER__HEARTBEAT_MS", "500")
        .env("SWITCHYARD__WORKER__LEASE_MS", "3000")
        .env("SWITCHYARD__WORKER__DRAIN_SECS", "1")
        .kill_on_drop(true)
        .spawn()
        .expect("start switchyard-worker");
    let pgid = wait_for_pgid(&s, s.process).await;
    let pid = child.id().expect("pid") as i32;

    // SAFETY: signalling the child we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the worker exits within 20 s")
        .expect("wait");

    assert!(status.success(), "exit status {status}");
    assert_handed_back(&s, "bin-worker", pgid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diff_is_stored_and_announced_while_the_process_still_runs() {
    let s = scenario(
        "echo draft > draft.txt; while [ ! -f release.flag ]; do sleep 0.05; done",
        None,
        None,
    )
    .await;
    let client = redis::Client::open(s.env.settings.redis.url.as_str()).expect("client");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub
        .subscribe(s.keys.diff_channel(s.attempt))
        .await
        .expect("subscribe");
    s.enqueue().await;
    let worker = s.spawn_worker();

    let msg = tokio::time::timeout(Duration::from_secs(30), pubsub.on_message().next())
        .await
        .expect("a diff version is announced while the process runs")
        .expect("stream open");
    let version: u64 = msg.get_payload().expect("version");
    let key = store::diff_key(s.org, s.attempt);
    let diff: Diff =
        serde_json::from_slice(&s.store.get(&key).await.expect("get").expect("stored"))
            .expect("diff json");
    assert_eq!(diff.version, version);
    assert_eq!(diff.files.len(), 1);
    assert_eq!(diff.files[0].path, "draft.txt");
    assert_eq!(
        s.process_row(s.process).await.status,
        ProcessStatus::Running
    );
    let row = s.attempt_row().await;
    assert_eq!(row.diff_object_key.as_deref(), Some(key.as_str()));
    assert!(
        row.diff_summary.is_some(),
        "the row follows the stored diff"
    );

    let worktree = s
        .env
        .settings
        .worker
        .data_dir
        .join("worktrees")
        .join(s.attempt.to_string());
    std::fs::write(worktree.join("release.flag"), "").expect("release the script");
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker finishes")
        .expect("join")
        .expect("worker");
    let done: Diff =
        serde_json::from_slice(&s.store.get(&key).await.expect("get").expect("stored"))
            .expect("diff json");
    assert!(done.version > version);
    assert_eq!(done.summary.files_changed, 2);
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_by_a_limit_fails_the_attempt_with_the_limits_reason() {
    let s = scenario("echo working; sleep 30", None, None).await;
    s.enqueue().await;
    let mut settings = s.settings();
    settings.worker.limits.wall_clock_secs = 1;

    tokio::time::timeout(
        Duration::from_secs(30),
        worker::run(settings, CancellationToken::new()),
    )
    .await
    .expect("the worker finishes within 30 s")
    .expect("the worker runs");

    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Killed);
    assert_eq!(process.exit_code, None);
    assert_eq!(
        process.failure_reason.as_deref(),
        Some("wall-clock limit exceeded (1 s)")
    );
    assert_eq!(process.entry_count, 1);
    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Failed);
    assert_eq!(
        attempt.failure_reason.as_deref(),
        Some("wall-clock limit exceeded (1 s)")
    );
    assert_eq!(s.task_row().await.status, TaskStatus::InReview);
}

/// Runs one attempt of `scenario`, the fakes standing in for the agents.
pub(crate) async fn run_agent_worker(s: &Scenario) {
    let mut settings = s.settings();
    settings.worker.agent_commands = crate::fakes::agent_commands();
    let run = worker::run(settings, CancellationToken::new());
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the worker finishes within 60 s")
        .expect("the worker runs");
}

pub(crate) fn entries_of(patches: &[LogPatch]) -> Vec<shared::logs::LogEntry> {
    let mut entries = Vec::new();
    for p in patches {
        shared::logs::apply(&mut entries, p);
    }
    entries
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_runs_normalized_and_a_follow_up_resumes_its_session_from_the_store() {
    let prompt =
        "say hello from the agent\nwrite notes.txt written by the agent\nbash cat notes.txt";
    let s = scenario(prompt, None, None).await;
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(task_attempts::table.find(s.attempt))
        .set(task_attempts::executor.eq("claude-code"))
        .execute(&mut conn)
        .await
        .expect("claude attempt");
    s.enqueue().await;
    run_agent_worker(&s).await;

    let first = s.attempt_row().await;
    assert_eq!(
        first.status,
        AttemptStatus::Succeeded,
        "{:?}",
        first.failure_reason
    );
    let process = s.process_row(s.process).await;
    assert!(
        process.input_tokens > 0 && process.output_tokens > 0,
        "usage recorded: {process:?}"
    );
    assert_eq!(
        (first.input_tokens, first.output_tokens),
        (process.input_tokens, process.output_tokens)
    );
    assert!(
        first.cost_usd.is_some_and(|c| c > 0.0),
        "the agent's cost is summed"
    );
    let session = process
        .agent_session_id
        .clone()
        .expect("the agent's session id is recorded");
    let log = s.stored_log(s.process).await;
    let seqs: Vec<u64> = log.iter().map(|p| p.seq).collect();
    assert_eq!(
        seqs,
        (0..log.len() as u64).collect::<Vec<_>>(),
        "seq runs 0..n"
    );
    assert!(
        log.iter().any(|p| p.op == PatchOp::Replace),
        "tool results update their call's entry"
    );
    let entries = entries_of(&log);
    let shown = format!("{entries:?}");
    assert!(
        entries.iter().any(|e| matches!(&e.content, EntryContent::AssistantMessage { text } if text == "hello from the agent")),
        "{shown}"
    );
    assert!(
        shown.contains("notes.txt"),
        "the Write tool call is an entry: {shown}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e.content, EntryContent::Output { .. })),
        "every line was understood: {shown}"
    );
    assert_eq!(s.diff_paths().await, vec!["notes.txt"]);

    // The follow-up runs where the agent's home is gone (as on another worker): the
    // session files come back from the object store and the agent resumes by its id.
    s.drop_agent_home();
    let follow_up = s.queue_follow_up("history").await;
    run_agent_worker(&s).await;

    let second = s.attempt_row().await;
    assert_eq!(
        second.status,
        AttemptStatus::Succeeded,
        "{:?}",
        second.failure_reason
    );
    let resumed = s.process_row(follow_up).await;
    assert_eq!(
        resumed.agent_session_id.as_deref(),
        Some(session.as_str()),
        "the same session continues"
    );
    let shown = format!("{:?}", entries_of(&s.stored_log(follow_up).await));
    assert!(
        shown.contains("resumed session with 1 earlier turns"),
        "{shown}"
    );
}

/// Runs a one-shot stream-json agent's turn, then a follow-up with its home wiped, and
/// checks that both turns were understood and the second resumed the first's session.
async fn one_shot_agent_runs_and_resumes(executor: &str) {
    let s = scenario(
        "say starting\nbash echo made > made.txt && echo wrote",
        None,
        None,
    )
    .await;
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(task_attempts::table.find(s.attempt))
        .set(task_attempts::executor.eq(executor))
        .execute(&mut conn)
        .await
        .expect("agent attempt");
    s.enqueue().await;
    run_agent_worker(&s).await;
    let first = s.attempt_row().await;
    assert_eq!(
        first.status,
        AttemptStatus::Succeeded,
        "{executor}: {:?}",
        first.failure_reason
    );
    let session = s
        .process_row(s.process)
        .await
        .agent_session_id
        .expect("session id recorded");
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    assert!(
        entries.iter().any(
            |e| matches!(&e.content, EntryContent::AssistantMessage { text } if text == "starting")
        ),
        "{executor}: {shown}"
    );
    assert!(
        shown.contains("made.txt"),
        "{executor}: the command is an entry: {shown}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e.content, EntryContent::Output { .. })),
        "{executor}: {shown}"
    );

    s.drop_agent_home();
    let follow_up = s.queue_follow_up("history").await;
    run_agent_worker(&s).await;
    let second = s.attempt_row().await;
    assert_eq!(
        second.status,
        AttemptStatus::Succeeded,
        "{executor}: {:?}",
        second.failure_reason
    );
    let resumed = s.process_row(follow_up).await;
    assert_eq!(
        resumed.agent_session_id.as_deref(),
        Some(session.as_str()),
        "{executor}"
    );
    let shown = format!("{:?}", entries_of(&s.stored_log(follow_up).await));
    assert!(
        shown.contains("resumed session with 1 earlier turns"),
        "{executor}: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cursor_agent_runs_normalized_and_resumes_its_chat() {
    one_shot_agent_runs_and_resumes("cursor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn droid_runs_normalized_and_resumes_its_session() {
    one_shot_agent_runs_and_resumes("droid").await;
}

/// Makes the scenario's attempt a Claude Code attempt started with `policy`.
async fn make_claude_attempt(s: &Scenario, policy: &str) {
    s.use_agent(
        "claude-code",
        serde_json::json!({ "permission_policy": policy }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_secret_reaches_the_agent_but_never_its_log() {
    let secret = "sk-ant-very-secret-value-123";
    let s = scenario(
        "env ANTHROPIC_API_KEY\nbash echo $ANTHROPIC_API_KEY > key.txt",
        None,
        None,
    )
    .await;
    make_claude_attempt(&s, "auto").await;
    let keyring =
        shared::secrets::Keyring::from_settings(&s.env.settings.secrets).expect("keyring");
    let mut conn = s.db.system().await.expect("conn");
    shared::secrets::put_secret(
        &mut conn,
        &keyring,
        s.org,
        "ANTHROPIC_API_KEY",
        &secrecy::SecretString::from(secret),
    )
    .await
    .expect("store the secret");

    let mut redis = s.redis().await;
    let mut live = redis::Client::open(s.env.settings.redis.url.as_str())
        .expect("client")
        .get_async_pubsub()
        .await
        .expect("pubsub");
    live.subscribe(s.keys.log_channel(s.process))
        .await
        .expect("subscribe");
    s.enqueue().await;
    run_agent_worker(&s).await;
    s.assert_succeeded().await;

    // The agent had it: the file it wrote holds the real value.
    let worktree = s.worktree();
    assert_eq!(
        std::fs::read_to_string(worktree.join("key.txt"))
            .expect("key.txt")
            .trim(),
        secret
    );
    // Nothing that left the worker carries it: stored segments, live messages, the tail.
    let stored = format!("{:?}", s.stored_log(s.process).await);
    assert!(!stored.contains(secret), "{stored}");
    assert!(stored.contains("[REDACTED:ANTHROPIC_API_KEY]"), "{stored}");
    let mut messages = live.into_on_message();
    let mut seen = String::new();
    while let Ok(Some(msg)) =
        tokio::time::timeout(Duration::from_millis(300), messages.next()).await
    {
        seen.push_str(&msg.get_payload::<String>().unwrap_or_default());
    }
    let raw = s
        .store
        .get(&shared::logs::segments::raw_key(s.org, s.process))
        .await
        .expect("get")
        .expect("the raw output is kept beside the entries");
    let raw = String::from_utf8_lossy(&raw);
    assert!(
        !raw.contains(secret) && raw.contains("[REDACTED:ANTHROPIC_API_KEY]"),
        "{raw}"
    );
    assert!(!seen.is_empty(), "live messages were published");
    assert!(!seen.contains(secret), "{seen}");
    let _: () = redis.ping().await.expect("ping");
}

#[tokio::test(flavor = "multi_thread")]
async fn supervised_tool_calls_wait_for_a_decision_and_follow_it() {
    let s = scenario("write approved.txt yes\nwrite denied.txt no", None, None).await;
    make_claude_attempt(&s, "supervised").await;
    s.enqueue().await;
    let worker = {
        let mut settings = s.settings();
        settings.worker.agent_commands = crate::fakes::agent_commands();
        tokio::spawn(worker::run(settings, CancellationToken::new()))
    };
    let mut redis = s.redis().await;
    let mut decided = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while decided < 2 {
        assert!(Instant::now() < deadline, "no approval was requested");
        let pending = shared::approvals::pending(&mut redis, &s.keys, s.attempt)
            .await
            .expect("pending");
        for p in pending {
            assert_eq!(p.tool_name, "Write");
            let approve = p.input["file_path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("approved.txt");
            let decision = shared::approvals::Decision {
                approve,
                reason: Some("not this one".into()),
            };
            assert!(
                shared::approvals::decide(&mut redis, &s.keys, s.attempt, p.id, &decision)
                    .await
                    .expect("decide")
            );
            // A second decision on the same approval is refused.
            assert!(
                !shared::approvals::decide(&mut redis, &s.keys, s.attempt, p.id, &decision)
                    .await
                    .expect("decide")
            );
            decided += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("worker ends")
        .expect("join")
        .expect("run");
    s.assert_succeeded().await;
    let worktree = s.worktree();
    assert!(
        worktree.join("approved.txt").exists(),
        "the approved write happened"
    );
    assert!(
        !worktree.join("denied.txt").exists(),
        "the denied write did not"
    );
    let entries = entries_of(&s.stored_log(s.process).await);
    let shown = format!("{entries:?}");
    assert!(
        shown.contains("not this one"),
        "the reason reached the agent: {shown}"
    );
    let status_of = |file: &str| {
        entries.iter().find_map(|e| match &e.content {
            EntryContent::ToolUse(t) if t.summary.contains(file) => Some(t.status),
            _ => None,
        })
    };
    use shared::logs::ToolStatus;
    assert_eq!(
        status_of("approved.txt"),
        Some(ToolStatus::Success),
        "{shown}"
    );
    assert_eq!(status_of("denied.txt"), Some(ToolStatus::Denied), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn amp_runs_normalized_and_continues_its_thread() {
    one_shot_agent_runs_and_resumes("amp").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_mode_presents_the_plan_for_approval_before_anything_is_written() {
    let s = scenario(
        "write early.txt too soon\nplan Add notes.txt with a greeting\nwrite notes.txt hello",
        None,
        None,
    )
    .await;
    make_claude_attempt(&s, "plan").await;
    s.enqueue().await;
    let worker = {
        let mut settings = s.settings();
        settings.worker.agent_commands = crate::fakes::agent_commands();
        tokio::spawn(worker::run(settings, CancellationToken::new()))
    };
    let mut redis = s.redis().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let plan = loop {
        assert!(Instant::now() < deadline, "the plan was never presented");
        let pending = shared::approvals::pending(&mut redis, &s.keys, s.attempt)
            .await
            .expect("pending");
        if let Some(p) = pending.into_iter().next() {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(plan.tool_name, "ExitPlanMode");
    assert_eq!(plan.input["plan"], "Add notes.txt with a greeting");
    let worktree = s.worktree();
    assert!(
        !worktree.join("notes.txt").exists(),
        "nothing is written before the plan is approved"
    );
    let approve = shared::approvals::Decision {
        approve: true,
        reason: None,
    };
    assert!(
        shared::approvals::decide(&mut redis, &s.keys, s.attempt, plan.id, &approve)
            .await
            .expect("decide")
    );
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("worker ends")
        .expect("join")
        .expect("run");

    s.assert_succeeded().await;
    assert!(
        worktree.join("notes.txt").exists(),
        "the approved plan was carried out"
    );
    assert!(
        !worktree.join("early.txt").exists(),
        "plan mode refused the early write"
    );
    let shown = format!("{:?}", entries_of(&s.stored_log(s.process).await));
    assert!(
        shown.contains("Add notes.txt with a greeting"),
        "the plan is an entry: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_turn_that_reports_failure_fails_the_attempt_even_when_it_exits_zero() {
    let s = scenario("say trying\nfail the model refused", None, None).await;
    make_claude_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    let row = s.attempt_row().await;
    assert_eq!(row.status, AttemptStatus::Failed);
    assert_eq!(
        row.failure_reason.as_deref(),
        Some("agent turn failed: the model refused")
    );
    let process = s.process_row(s.process).await;
    assert_eq!(
        (process.status, process.exit_code),
        (ProcessStatus::Failed, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_without_a_session_to_resume_gets_the_earlier_turns_in_its_prompt() {
    let s = scenario("say first turn done", None, None).await;
    make_claude_attempt(&s, "auto").await;
    s.enqueue().await;
    run_agent_worker(&s).await;
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);

    // The session id was lost (say, the worker died before recording it).
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(s.process))
        .set(execution_processes::agent_session_id.eq(None::<String>))
        .execute(&mut conn)
        .await
        .expect("forget the session");
    let follow_up = s.queue_follow_up("say second turn").await;
    run_agent_worker(&s).await;
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);
    let entries = entries_of(&s.stored_log(follow_up).await);
    let said: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.content {
            EntryContent::AssistantMessage { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    // The fake acts on every line it gets: the replayed first request comes before the new one.
    let first = said
        .iter()
        .position(|t| *t == "first turn done")
        .expect("the earlier request was replayed");
    let second = said
        .iter()
        .position(|t| *t == "second turn")
        .expect("the new request ran");
    assert!(first < second, "{said:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_tool_call_nobody_decides_is_denied_when_the_wait_times_out() {
    let s = scenario("write unattended.txt nobody looked", None, None).await;
    make_claude_attempt(&s, "supervised").await;
    s.enqueue().await;
    let mut settings = s.settings();
    settings.worker.agent_commands = crate::fakes::agent_commands();
    settings.worker.approval_timeout_secs = 1;
    tokio::time::timeout(
        Duration::from_secs(60),
        worker::run(settings, CancellationToken::new()),
    )
    .await
    .expect("the worker finishes")
    .expect("the worker runs");
    s.assert_succeeded().await;
    let worktree = s.worktree();
    assert!(
        !worktree.join("unattended.txt").exists(),
        "an undecided write does not happen"
    );
    let shown = format!("{:?}", entries_of(&s.stored_log(s.process).await));
    assert!(
        shown.contains("no decision within 1 s"),
        "the agent is told why: {shown}"
    );
    let mut redis = s.redis().await;
    assert!(
        shared::approvals::pending(&mut redis, &s.keys, s.attempt)
            .await
            .expect("pending")
            .is_empty()
    );
}

/// Starts a worker with the fake agents in the background.
pub(crate) fn spawn_agent_worker(s: &Scenario) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let mut settings = s.settings();
    settings.worker.agent_commands = crate::fakes::agent_commands();
    tokio::spawn(worker::run(settings, CancellationToken::new()))
}

/// Waits for a worker started by [`spawn_agent_worker`] to finish.
pub(crate) async fn join(worker: tokio::task::JoinHandle<anyhow::Result<()>>) {
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker ends within 30 s")
        .expect("join")
        .expect("the worker runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_in_auto_as_root_without_the_sandbox_fails_before_it_starts() {
    // SAFETY: geteuid only reads this process's credentials.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the worker tests run as root (the sandbox needs it)"
    );
    let s = scenario("write notes.txt written as root", None, None).await;
    let mut conn = s.db.system().await.expect("conn");
    diesel::update(task_attempts::table.find(s.attempt))
        .set(task_attempts::executor.eq("claude-code"))
        .execute(&mut conn)
        .await
        .expect("claude attempt");
    s.enqueue().await;
    let mut settings = s.settings();
    settings.worker.agent_commands = crate::fakes::agent_commands();
    settings.worker.sandbox.enabled = false;
    tokio::time::timeout(
        Duration::from_secs(60),
        worker::run(settings, CancellationToken::new()),
    )
    .await
    .expect("the worker finishes within 60 s")
    .expect("the worker runs");

    let reason = "Claude Code refuses the auto policy as root: enable worker.sandbox or run the worker unprivileged";
    let process = s.process_row(s.process).await;
    assert_eq!(process.status, ProcessStatus::Failed);
    assert_eq!(process.failure_reason.as_deref(), Some(reason));
    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Failed);
    assert_eq!(attempt.failure_reason.as_deref(), Some(reason));
    assert!(
        !s.worktree().join("notes.txt").exists(),
        "the agent never started"
    );
}
