//! Attempts: start, stop, follow-up, processes, diff.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use shared::db::models::ExecutionProcess;
use shared::db::schema::{execution_processes, task_attempts};
use shared::domain::{AttemptStatus, ProcessStatus, RunReason, TaskStatus};
use shared::wire::{self, Diff, DiffSummary};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

async fn process_rows(app: &TestApp, attempt: Uuid) -> Vec<ExecutionProcess> {
    let mut conn = app.db.system().await.expect("conn");
    execution_processes::table
        .filter(execution_processes::attempt_id.eq(attempt))
        .select(ExecutionProcess::as_select())
        .order((execution_processes::created_at, execution_processes::id))
        .load(&mut conn)
        .await
        .expect("processes")
}

async fn set_attempt_status(app: &TestApp, attempt: Uuid, status: AttemptStatus) {
    let mut conn = app.db.system().await.expect("conn");
    shared::attempts::force_status(&mut conn, attempt, status)
        .await
        .expect("set status");
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_an_attempt_queues_the_setup_script_then_the_agent_and_moves_the_task() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", Some("npm ci")).await;
    let task = app.create_task(project.id, "Do it").await;
    let res = app
        .post(
            &format!("tasks/{}/attempts", task.id),
            &serde_json::json!({"prompt": "echo hello"}),
        )
        .await;
    let attempt: wire::Attempt = json_as(res, StatusCode::CREATED).await;
    assert_eq!(attempt.status, AttemptStatus::Queued);
    assert_eq!(attempt.executor, "script");
    assert_eq!(attempt.base_branch, "main");
    assert_eq!(attempt.max_retries, 2);
    assert_eq!(attempt.retry_count, 0);
    assert!(!attempt.stop_requested);
    let hex = attempt.id.simple().to_string();
    assert_eq!(attempt.branch, format!("sy/demo-1-{}", &hex[..8]));

    let rows = process_rows(&app, attempt.id).await;
    let summary: Vec<_> = rows
        .iter()
        .map(|p| (p.run_reason, p.status, p.prompt.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (RunReason::SetupScript, ProcessStatus::Queued, "npm ci"),
            (RunReason::CodingAgent, ProcessStatus::Queued, "echo hello"),
        ]
    );
    assert!(rows[0].created_at < rows[1].created_at);

    let listed: wire::Page<wire::Process> = json_as(
        app.get(&format!("attempts/{}/processes", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.next_cursor, None);
    assert_eq!(
        listed.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        rows.iter().map(|p| p.id).collect::<Vec<_>>()
    );

    let task: wire::Task =
        json_as(app.get(&format!("tasks/{}", task.id)).await, StatusCode::OK).await;
    assert_eq!(task.status, TaskStatus::InProgress);

    let fetched: wire::Attempt = json_as(
        app.get(&format!("attempts/{}", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched.id, attempt.id);
    let all: wire::Page<wire::Attempt> = json_as(
        app.get(&format!("tasks/{}/attempts", task.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all.items.len(), 1);
}

/// Every page of `rel` (a list paged by `?limit=&cursor=`), `limit` rows at a time.
async fn pages<T: serde::de::DeserializeOwned>(
    app: &TestApp,
    rel: &str,
    limit: usize,
) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{rel}?limit={limit}&cursor={c}"),
            None => format!("{rel}?limit={limit}"),
        };
        let page: wire::Page<T> = json_as(app.get(&url).await, StatusCode::OK).await;
        assert!(page.items.len() <= limit, "{url}: more than {limit} rows");
        out.push(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tasks_attempts_and_an_attempts_processes_come_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", Some("npm ci")).await;
    let task = app.create_task(project.id, "t").await;
    let mut started = Vec::new();
    for n in 0..3 {
        started.push(app.start_attempt(task.id, &format!("echo {n}")).await.id);
    }
    let rel = format!("tasks/{}/attempts", task.id);
    let attempts: Vec<Vec<wire::Attempt>> = pages(&app, &rel, 2).await;
    assert_eq!(
        attempts.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let ids: Vec<Uuid> = attempts.into_iter().flatten().map(|a| a.id).collect();
    assert_eq!(ids, started, "oldest first across pages");

    let rel = format!("attempts/{}/processes", started[0]);
    let processes: Vec<Vec<wire::Process>> = pages(&app, &rel, 1).await;
    assert_eq!(processes.len(), 2);
    let ids: Vec<Uuid> = processes.into_iter().flatten().map(|p| p.id).collect();
    let rows: Vec<Uuid> = process_rows(&app, started[0])
        .await
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, rows, "in the order they run");

    for rel in [
        format!("tasks/{}/attempts?cursor=nope", task.id),
        format!("tasks/{}/attempts?cursor={}", task.id, Uuid::new_v4()),
        format!(
            "attempts/{}/processes?cursor={}",
            started[0],
            Uuid::new_v4()
        ),
    ] {
        assert_error(
            app.get(&rel).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
    assert_error(
        app.get(&format!("tasks/{}/attempts?limit=0", task.id))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_setup_script_only_the_agent_is_queued() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let a1 = app.start_attempt(task.id, "echo one").await;
    let a2 = app.start_attempt(task.id, "echo two").await;
    assert_ne!(a1.branch, a2.branch, "two attempts never share a branch");
    let rows = process_rows(&app, a1.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].run_reason, RunReason::CodingAgent);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_needs_a_prompt_and_an_existing_base_branch() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let res = app
        .post(
            &format!("tasks/{}/attempts", task.id),
            &serde_json::json!({"prompt": "  "}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            &format!("tasks/{}/attempts", task.id),
            &serde_json::json!({"prompt": "echo", "base_branch": "missing"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            &format!("tasks/{}/attempts", Uuid::new_v4()),
            &serde_json::json!({"prompt": "echo"}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let task: wire::Task =
        json_as(app.get(&format!("tasks/{}", task.id)).await, StatusCode::OK).await;
    assert_eq!(task.status, TaskStatus::Todo);
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_queued_attempt_cancels_it_and_kills_its_processes() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", Some("setup")).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;
    set_attempt_status(&app, attempt.id, AttemptStatus::Scheduled).await;

    let stopped: wire::Attempt = json_as(
        app.post(
            &format!("attempts/{}/stop", attempt.id),
            &serde_json::json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped.status, AttemptStatus::Cancelled);
    assert!(stopped.stop_requested);
    assert!(stopped.finished_at.is_some());
    let rows = process_rows(&app, attempt.id).await;
    assert!(
        rows.iter()
            .all(|p| p.status == ProcessStatus::Killed && p.finished_at.is_some())
    );

    // Stopping again changes nothing.
    let again: wire::Attempt = json_as(
        app.post(
            &format!("attempts/{}/stop", attempt.id),
            &serde_json::json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again.status, AttemptStatus::Cancelled);
    assert_eq!(again.updated_at, stopped.updated_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_running_attempt_asks_its_worker_to_stop() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "sleep 100").await;
    set_attempt_status(&app, attempt.id, AttemptStatus::Running).await;
    let stopped: wire::Attempt = json_as(
        app.post(
            &format!("attempts/{}/stop", attempt.id),
            &serde_json::json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped.status, AttemptStatus::Running);
    assert!(stopped.stop_requested);
    assert!(
        process_rows(&app, attempt.id)
            .await
            .iter()
            .all(|p| p.status == ProcessStatus::Queued)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_needs_a_finished_attempt() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;
    for status in [
        AttemptStatus::Queued,
        AttemptStatus::Running,
        AttemptStatus::Cancelled,
    ] {
        set_attempt_status(&app, attempt.id, status).await;
        let res = app
            .post(
                &format!("attempts/{}/follow-up", attempt.id),
                &serde_json::json!({"prompt": "more"}),
            )
            .await;
        assert_error(res, StatusCode::CONFLICT, "attempt_busy").await;
    }
    assert_eq!(process_rows(&app, attempt.id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_requeues_a_finished_attempt_with_a_fresh_retry_budget() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;
    {
        let mut conn = app.db.system().await.expect("conn");
        shared::attempts::force_status(&mut conn, attempt.id, AttemptStatus::Failed)
            .await
            .expect("fail attempt");
        diesel::update(task_attempts::table.find(attempt.id))
            .set((
                task_attempts::failure_reason.eq("worker lost"),
                task_attempts::retry_count.eq(2),
                task_attempts::stop_requested.eq(true),
                task_attempts::finished_at.eq(diesel::dsl::now),
            ))
            .execute(&mut conn)
            .await
            .expect("fail attempt");
        diesel::update(
            execution_processes::table.filter(execution_processes::attempt_id.eq(attempt.id)),
        )
        .set(execution_processes::status.eq(ProcessStatus::Failed))
        .execute(&mut conn)
        .await
        .expect("fail process");
    }
    let res = app
        .patch(
            &format!("tasks/{}", task.id),
            &serde_json::json!({"status": "inreview"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let process: wire::Process = json_as(
        app.post(
            &format!("attempts/{}/follow-up", attempt.id),
            &serde_json::json!({"prompt": "now fix the tests"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(process.run_reason, RunReason::FollowUp);
    assert_eq!(process.status, ProcessStatus::Queued);

    let requeued: wire::Attempt = json_as(
        app.get(&format!("attempts/{}", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(requeued.status, AttemptStatus::Queued);
    assert_eq!(requeued.failure_reason, None);
    assert_eq!(requeued.retry_count, 0);
    assert!(!requeued.stop_requested);
    assert_eq!(requeued.finished_at, None);
    assert_eq!(requeued.branch, attempt.branch);

    let rows = process_rows(&app, attempt.id).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].id, process.id);
    assert_eq!(rows[1].prompt, "now fix the tests");
    let task: wire::Task =
        json_as(app.get(&format!("tasks/{}", task.id)).await, StatusCode::OK).await;
    assert_eq!(task.status, TaskStatus::InProgress);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diff_is_empty_before_the_first_upload_then_read_from_the_store() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;

    let empty: Diff = json_as(
        app.get(&format!("attempts/{}/diff", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(empty.version, 0);
    assert!(empty.files.is_empty());
    assert_eq!(empty.summary, DiffSummary::default());

    let uploaded = sample_diff(3);
    app.store
        .put(
            &shared::store::diff_key(app.org.id, attempt.id),
            serde_json::to_vec(&uploaded).expect("encode"),
            "application/json",
        )
        .await
        .expect("upload diff");
    let got: Diff = json_as(
        app.get(&format!("attempts/{}/diff", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got, uploaded);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diff_is_served_as_the_worker_stored_it_without_re_encoding() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;
    // Bytes a re-encoding would change: indentation, and a field this api does not know.
    let mut stored = serde_json::to_value(sample_diff(7)).expect("json");
    stored["written_by"] = serde_json::json!("a newer worker");
    let stored = serde_json::to_vec_pretty(&stored).expect("encode");
    app.store
        .put(
            &shared::store::diff_key(app.org.id, attempt.id),
            stored.clone(),
            "application/json",
        )
        .await
        .expect("upload diff");

    let res = app.get(&format!("attempts/{}/diff", attempt.id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body = res.bytes().await.expect("body");
    assert_eq!(body.as_ref(), stored.as_slice());
}

/// A one-file diff at `version`.
pub fn sample_diff(version: u64) -> Diff {
    Diff {
        version,
        base_commit: Some("abc123".into()),
        summary: DiffSummary {
            files_changed: 1,
            additions: version as u32,
            deletions: 0,
        },
        files: vec![wire::FileDiff {
            additions: version as u32,
            hunks: vec![wire::Hunk {
                header: "@@ -0,0 +1 @@".into(),
                old_start: 0,
                old_lines: 0,
                new_start: 1,
                new_lines: 1,
                lines: vec![wire::DiffLine {
                    origin: '+',
                    content: format!("v{version}\n"),
                }],
            }],
            ..wire::FileDiff::new(b"hello.txt", wire::FileChange::Added)
        }],
        truncated: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diff_stream_sends_the_current_diff_then_each_new_version() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;
    let key = shared::store::diff_key(app.org.id, attempt.id);

    let mut stream = app
        .sse(&format!("attempts/{}/diff/stream", attempt.id), None)
        .await;
    let first = stream.next().await;
    assert_eq!(
        (first.event.as_str(), first.id.as_deref()),
        ("diff", Some("0"))
    );
    assert_eq!(first.json::<Diff>().version, 0);

    let mut redis = app.redis().await;
    for version in 1..=2 {
        app.store
            .put(
                &key,
                serde_json::to_vec(&sample_diff(version)).expect("encode"),
                "application/json",
            )
            .await
            .expect("upload");
        shared::bus::publish_diff_version(&mut redis, &app.keys, attempt.id, version)
            .await
            .expect("announce");
        let event = stream.next().await;
        assert_eq!(event.id, Some(version.to_string()));
        assert_eq!(event.json::<Diff>(), sample_diff(version));
    }

    // Resuming with the version held: nothing until a newer one.
    let mut resumed = app
        .sse(&format!("attempts/{}/diff/stream", attempt.id), Some("2"))
        .await;
    assert!(
        resumed
            .next_within(std::time::Duration::from_millis(500))
            .await
            .is_none()
    );
    app.store
        .put(
            &key,
            serde_json::to_vec(&sample_diff(3)).expect("encode"),
            "application/json",
        )
        .await
        .expect("upload");
    shared::bus::publish_diff_version(&mut redis, &app.keys, attempt.id, 3)
        .await
        .expect("announce");
    assert_eq!(resumed.next().await.id.as_deref(), Some("3"));
    assert_eq!(stream.next().await.id.as_deref(), Some("3"));
}
