//! Process logs: the JSON snapshot and the SSE stream, against patches published the way
//! a worker does (tail + pub/sub) and segments put in S3.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use shared::db::schema::execution_processes;
use shared::domain::ProcessStatus;
use shared::logs::{EntryContent, LogEntry, LogPatch, OutputStream, PatchOp, segments};
use std::time::Duration;
use uuid::Uuid;

use crate::helpers::{CuttableProxy, SseClient, TestApp, json_as};

/// The seq-th output line as an append patch.
fn line(seq: u64) -> LogPatch {
    LogPatch {
        seq,
        op: PatchOp::Append,
        index: seq,
        entry: LogEntry {
            timestamp: Utc::now(),
            content: EntryContent::Output {
                stream: OutputStream::Stdout,
                text: format!("line {seq}"),
            },
        },
    }
}

fn lines(range: std::ops::RangeInclusive<u64>) -> Vec<LogPatch> {
    range.map(line).collect()
}

/// A process of a fresh attempt.
async fn a_process(app: &TestApp) -> Uuid {
    let project = app.create_project("Logs", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo").await;
    let processes: shared::wire::Page<shared::wire::Process> = json_as(
        app.get(&format!("attempts/{}/processes", attempt.id)).await,
        StatusCode::OK,
    )
    .await;
    processes.items[0].id
}

async fn put_segment(app: &TestApp, process: Uuid, patches: &[LogPatch]) {
    let first = patches.first().expect("patches").seq;
    let last = patches.last().expect("patches").seq;
    app.store
        .put(
            &segments::key(app.org.id, process, first, last),
            segments::encode(patches),
            "application/x-ndjson",
        )
        .await
        .expect("put segment");
}

async fn publish(app: &TestApp, process: Uuid, patches: Vec<LogPatch>) {
    let mut redis = app.redis().await;
    shared::bus::publish_segment(&mut redis, &app.keys, process, &segments::encode(&patches))
        .await
        .expect("publish");
}

async fn finish(app: &TestApp, process: Uuid, total: u64) {
    let mut conn = app.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(process))
        .set((
            execution_processes::status.eq(ProcessStatus::Succeeded),
            execution_processes::entry_count.eq(total as i64),
            execution_processes::finished_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await
        .expect("finish process");
    let mut redis = app.redis().await;
    shared::bus::publish_log_end(&mut redis, &app.keys, process, total)
        .await
        .expect("end");
}

/// Reads `n` patch events and returns their seqs, checking id == seq.
async fn seqs(stream: &mut SseClient, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        let event = stream.next().await;
        assert_eq!(event.event, "patch", "{event:?}");
        let patch: LogPatch = event.json();
        assert_eq!(event.id, Some(patch.seq.to_string()));
        out.push(patch.seq);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_stream_replays_history_then_goes_live_without_gap_or_duplicate() {
    let app = TestApp::spawn().await;
    let process = a_process(&app).await;
    // Durable: 0..=4 in S3. Tail: 3..=7 (the worker has not trimmed 3..=4 yet).
    put_segment(&app, process, &lines(0..=4)).await;
    publish(&app, process, lines(3..=5)).await;
    publish(&app, process, lines(6..=7)).await;

    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), None)
        .await;
    assert_eq!(seqs(&mut stream, 8).await, (0..=7).collect::<Vec<_>>());

    publish(&app, process, lines(8..=9)).await;
    // A re-sent batch (a worker retrying a publish) is not delivered twice.
    publish(&app, process, lines(8..=9)).await;
    publish(&app, process, lines(10..=10)).await;
    assert_eq!(seqs(&mut stream, 3).await, vec![8, 9, 10]);

    finish(&app, process, 11).await;
    let end = stream.next().await;
    assert_eq!(end.event, "end");
    assert_eq!(end.json::<serde_json::Value>()["total"], 11);
    assert!(stream.closes_within(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_stream_resumes_after_last_event_id() {
    let app = TestApp::spawn().await;
    let process = a_process(&app).await;
    put_segment(&app, process, &lines(0..=9)).await;
    publish(&app, process, lines(10..=12)).await;
    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), Some("5"))
        .await;
    assert_eq!(seqs(&mut stream, 7).await, (6..=12).collect::<Vec<_>>());
    let res = app
        .request(
            reqwest::Method::GET,
            &format!("processes/{process}/logs/stream"),
        )
        .header("last-event-id", "five")
        .send()
        .await
        .expect("GET");
    crate::helpers::assert_error(res, StatusCode::BAD_REQUEST, "invalid_header").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_process_replays_from_the_store_and_ends() {
    let app = TestApp::spawn().await;
    let process = a_process(&app).await;
    put_segment(&app, process, &lines(0..=2)).await;
    put_segment(&app, process, &lines(3..=4)).await;
    finish(&app, process, 5).await;
    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), None)
        .await;
    assert_eq!(seqs(&mut stream, 5).await, vec![0, 1, 2, 3, 4]);
    assert_eq!(stream.next().await.event, "end");
    assert!(stream.closes_within(Duration::from_secs(5)).await);

    // Resuming at the end: just the end event.
    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), Some("4"))
        .await;
    assert_eq!(stream.next().await.event, "end");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_batch_that_skips_ahead_is_filled_from_the_tail() {
    let app = TestApp::spawn().await;
    let process = a_process(&app).await;
    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), None)
        .await;
    publish(&app, process, lines(0..=1)).await;
    assert_eq!(seqs(&mut stream, 2).await, vec![0, 1]);

    // 2..=3 reach the tail but their announcement is lost.
    let mut redis = app.redis().await;
    let batch = serde_json::to_string(&lines(2..=3)).expect("encode");
    redis::cmd("RPUSH")
        .arg(app.keys.log_tail(process))
        .arg(batch)
        .query_async::<()>(&mut redis)
        .await
        .expect("rpush");
    publish(&app, process, lines(4..=4)).await;
    assert_eq!(seqs(&mut stream, 3).await, vec![2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_whose_worker_died_ends_when_its_row_is_finished() {
    let app = TestApp::spawn_with(|s| s.api.streams.heartbeat_ms = 1_000).await;
    let process = a_process(&app).await;
    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), None)
        .await;
    publish(&app, process, lines(0..=2)).await;
    assert_eq!(seqs(&mut stream, 3).await, vec![0, 1, 2]);
    // The reaper marks it failed; no end is ever published.
    let mut conn = app.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(process))
        .set(execution_processes::status.eq(ProcessStatus::Failed))
        .execute(&mut conn)
        .await
        .expect("fail");
    let end = stream.next().await;
    assert_eq!(end.event, "end");
    assert_eq!(end.json::<serde_json::Value>()["total"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_stream_loses_nothing_when_the_pubsub_connection_drops() {
    let proxy = CuttableProxy::start(CuttableProxy::redis_target()).await;
    let proxy_url = format!("redis://{}/", proxy.addr);
    let app = TestApp::spawn_with(|s| s.redis.url = proxy_url).await;
    let process = a_process(&app).await;
    let mut stream = app
        .sse(&format!("processes/{process}/logs/stream"), None)
        .await;
    publish(&app, process, lines(0..=2)).await;
    assert_eq!(seqs(&mut stream, 3).await, vec![0, 1, 2]);

    proxy.go_down().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    publish(&app, process, lines(3..=5)).await;
    publish(&app, process, lines(6..=6)).await;
    assert!(stream.is_quiet_for(Duration::from_millis(300)).await);
    proxy.come_back();
    // Nothing new is published: only the hub's resync can deliver 3..=6.
    assert_eq!(seqs(&mut stream, 4).await, vec![3, 4, 5, 6]);
    publish(&app, process, lines(7..=8)).await;
    assert_eq!(seqs(&mut stream, 2).await, vec![7, 8]);
    assert!(stream.is_quiet_for(Duration::from_millis(300)).await);
}

/// Seq 3: entry 1 rewritten.
fn replace_patch() -> LogPatch {
    let mut replace = line(3);
    replace.op = PatchOp::Replace;
    replace.index = 1;
    replace.entry.content = EntryContent::Output {
        stream: OutputStream::Stderr,
        text: "rewritten".into(),
    };
    replace
}

/// A page of `GET …/logs`.
#[derive(Debug, serde::Deserialize)]
struct LogPage {
    patches: Vec<LogPatch>,
    next_cursor: Option<String>,
    next_seq: u64,
    finished: bool,
    truncated: bool,
}

async fn log_page(app: &TestApp, process: Uuid, query: &str) -> LogPage {
    json_as(
        app.get(&format!("processes/{process}/logs{query}")).await,
        StatusCode::OK,
    )
    .await
}

/// Every page from the start, `limit` patches at a time, each page's cursor passed on.
async fn all_pages(app: &TestApp, process: Uuid, limit: usize) -> Vec<LogPage> {
    let mut pages = Vec::new();
    let mut query = format!("?limit={limit}");
    loop {
        let page = log_page(app, process, &query).await;
        assert!(page.patches.len() <= limit);
        let next = page.next_cursor.clone();
        pages.push(page);
        match next {
            Some(after) => query = format!("?limit={limit}&after={after}"),
            None => return pages,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_comes_in_pages_that_merge_store_and_tail_and_carry_replacements() {
    let app = TestApp::spawn().await;
    let process = a_process(&app).await;
    put_segment(&app, process, &lines(0..=2)).await;
    publish(&app, process, vec![line(2), replace_patch()]).await;

    let pages = all_pages(&app, process, 3).await;
    assert_eq!(
        pages
            .iter()
            .map(|p| p.next_cursor.clone())
            .collect::<Vec<_>>(),
        vec![Some("2".to_owned()), None]
    );
    let last = pages.last().expect("a page");
    assert_eq!(last.next_seq, 4);
    assert!(!last.finished);
    assert!(!last.truncated);
    let mut entries = Vec::new();
    for patch in pages.iter().flat_map(|p| &p.patches) {
        shared::logs::apply(&mut entries, patch);
    }
    let texts: Vec<String> = entries
        .iter()
        .map(|e| match &e.content {
            EntryContent::Output { text, .. } => text.clone(),
            other => panic!("unexpected entry {other:?}"),
        })
        .collect();
    assert_eq!(texts, vec!["line 0", "rewritten", "line 2"]);

    // Past the end: nothing yet, and where the stream resumes.
    let page = log_page(&app, process, "?after=3").await;
    assert!(page.patches.is_empty());
    assert_eq!((page.next_seq, page.next_cursor), (4, None));

    // The worker stores the last segment before it ends the log (which drops the tail).
    put_segment(&app, process, &[line(2), replace_patch()]).await;
    finish(&app, process, 4).await;
    let mut conn = app.db.system().await.expect("conn");
    diesel::update(execution_processes::table.find(process))
        .set(execution_processes::log_truncated.eq(true))
        .execute(&mut conn)
        .await
        .expect("mark truncated");
    drop(conn);
    let page = log_page(&app, process, "").await;
    assert!(page.finished);
    assert!(page.truncated);
    assert_eq!(page.patches.len(), 4);

    for (query, status, code) in [
        (
            "?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "?limit=1001",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        ("?after=four", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        crate::helpers::assert_error(
            app.get(&format!("processes/{process}/logs{query}")).await,
            status,
            code,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_page_reads_only_the_segments_it_reaches() {
    let app = TestApp::spawn().await;
    let process = a_process(&app).await;
    put_segment(&app, process, &lines(0..=9)).await;
    put_segment(&app, process, &lines(10..=19)).await;
    // Unreadable, far past the first pages: a page that loaded the whole log fails on it.
    app.store
        .put(
            &segments::key(app.org.id, process, 20, 29),
            b"not json\n".to_vec(),
            "application/x-ndjson",
        )
        .await
        .expect("put");

    let page = log_page(&app, process, "?limit=4").await;
    let seqs: Vec<u64> = page.patches.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3]);
    assert_eq!(page.next_cursor.as_deref(), Some("3"));
    let page = log_page(&app, process, "?after=3&limit=8").await;
    let seqs: Vec<u64> = page.patches.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, (4..=11).collect::<Vec<_>>());
    assert_eq!(page.next_cursor.as_deref(), Some("11"));
    // The page that reaches it answers an error, not a silently short log.
    let res = app
        .get(&format!("processes/{process}/logs?after=15&limit=10"))
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
