//! Log shipping: patches to Redis and segments to S3, the tail trimmed behind them.

use redis::AsyncCommands;
use shared::keys::Keys;
use shared::logs::{EntryContent, LogPatch, OutputStream, segments};
use shared::logstore;
use shared::store::ObjectStore;
use shared::testing::{OwnRedis, TestEnv};
use std::time::Duration;
use uuid::Uuid;
use worker::logship::{self, EntryChange, ShipTarget};
use worker::runner::OutputLine;

fn line(i: usize) -> EntryChange {
    EntryChange {
        op: shared::logs::PatchOp::Append,
        index: i as u64,
        entry: worker::pump::output_entry(OutputLine {
            stream: OutputStream::Stdout,
            text: format!("line {i}"),
            at: chrono::Utc::now(),
        }),
    }
}

fn text(p: &LogPatch) -> &str {
    match &p.entry.content {
        EntryContent::Output { text, .. } => text,
        other => panic!("unexpected entry {other:?}"),
    }
}

async fn target(env: &TestEnv, redis_url: &str, max_entries: usize) -> ShipTarget {
    ShipTarget {
        redis: shared::redis_conn::manager(redis_url).await.expect("redis"),
        store: ObjectStore::new(&env.settings.s3),
        keys: Keys::new(env.settings.redis.prefix.clone()),
        org_id: Uuid::now_v7(),
        process_id: Uuid::now_v7(),
        max_entries,
        flush: Duration::from_millis(50),
        max_bytes: u64::MAX,
        max_unstored_bytes: u64::MAX,
        patience: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_segments_are_trimmed_from_the_tail_while_the_process_runs() {
    let env = TestEnv::new().await;
    let t = target(&env, &env.settings.redis.url, 4).await;
    let (tx, shipper) = logship::spawn(t.clone());
    for i in 0..10 {
        tx.send(line(i)).await.expect("send");
    }
    // Past the flush interval everything published is stored and out of the tail.
    let mut redis = t.redis.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = logstore::stored_patches(&t.store, t.org_id, t.process_id, 0)
            .await
            .expect("stored");
        let tail: usize = redis
            .llen(t.keys.log_tail(t.process_id))
            .await
            .expect("llen");
        if stored.len() == 10 && tail == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stored {} tail {tail}",
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 10..13 {
        tx.send(line(i)).await.expect("send");
    }
    drop(tx);
    let summary = shipper.await.expect("shipper");

    assert_eq!(summary.total, 13);
    assert!(summary.durable);
    let stored = logstore::stored_patches(&t.store, t.org_id, t.process_id, 0)
        .await
        .expect("stored");
    let seqs: Vec<u64> = stored.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, (0..13).collect::<Vec<u64>>());
    let texts: Vec<&str> = stored.iter().map(text).collect();
    assert_eq!(texts[12], "line 12");
    for key in t
        .store
        .list(&segments::prefix(t.org_id, t.process_id))
        .await
        .expect("list")
    {
        let (first, last) = segments::range(&key).expect("range");
        assert!(last - first < 4, "segment {key} exceeds 4 entries");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_reach_the_store_when_redis_is_gone() {
    let env = TestEnv::new().await;
    let own = OwnRedis::start();
    let t = target(&env, &own.url, 100).await;
    let (tx, shipper) = logship::spawn(t.clone());
    tx.send(line(0)).await.expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(own);
    for i in 1..5 {
        tx.send(line(i)).await.expect("send");
    }
    drop(tx);
    let summary = tokio::time::timeout(Duration::from_secs(60), shipper)
        .await
        .expect("the shipper ends")
        .expect("shipper");

    assert_eq!(summary.total, 5);
    assert!(summary.durable);
    let stored = logstore::stored_patches(&t.store, t.org_id, t.process_id, 0)
        .await
        .expect("stored");
    let texts: Vec<&str> = stored.iter().map(text).collect();
    assert_eq!(
        texts,
        vec!["line 0", "line 1", "line 2", "line 3", "line 4"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_stops_at_its_byte_cap_with_a_message_saying_so() {
    let env = TestEnv::new().await;
    let mut t = target(&env, &env.settings.redis.url, 100).await;
    let entry_bytes = serde_json::to_vec(&line(0).entry).expect("json").len() as u64;
    // Room for three lines (numbered below 10, all of one size), not four.
    t.max_bytes = entry_bytes * 3 + entry_bytes / 2;
    let (tx, shipper) = logship::spawn(t.clone());
    // Far more output than the cap: the process is never blocked by its pipe.
    for i in 0..(logship::CHANNEL_CAPACITY + 100) {
        let mut change = line(i % 10);
        change.index = i as u64;
        tx.send(change).await.expect("send");
    }
    drop(tx);
    let summary = shipper.await.expect("shipper");

    assert!(summary.truncated);
    assert!(summary.durable);
    assert_eq!(summary.total, 4);
    let stored = logstore::stored_patches(&t.store, t.org_id, t.process_id, 0)
        .await
        .expect("stored");
    assert_eq!(stored.len(), 4);
    let texts: Vec<&str> = stored[..3].iter().map(text).collect();
    assert_eq!(texts, vec!["line 0", "line 1", "line 2"]);
    let last = &stored[3];
    assert_eq!((last.seq, last.index), (3, 3));
    match &last.entry.content {
        EntryContent::SystemMessage { text } => {
            assert!(text.contains("Log truncated"), "{text}")
        }
        other => panic!("expected the truncation message, got {other:?}"),
    }
}
