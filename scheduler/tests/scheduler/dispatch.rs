use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use scheduler::dispatch::dispatch_once;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;
use shared::metrics::Metrics;
use shared::queue;
use shared::testing::fixtures;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::{Ctx, status_of};

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_schedules_no_more_than_the_org_limit() {
    let Ctx {
        env: _env,
        db,
        mut conn,
        mut redis,
        keys,
        store: _,
    } = Ctx::new(None).await;

    let org = fixtures::org(&mut conn, "limited", 2).await;
    let project = fixtures::project(&mut conn, org, "/nonexistent", None).await;
    let mut attempts = Vec::new();
    for n in 1..=5 {
        let task = fixtures::task(&mut conn, org, project, n).await;
        attempts.push(
            fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true")
                .await
                .0,
        );
    }

    assert_eq!(
        dispatch_once(&db, &mut redis, &keys, 100, &Metrics::new().unwrap())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        dispatch_once(&db, &mut redis, &keys, 100, &Metrics::new().unwrap())
            .await
            .unwrap(),
        0,
        "the org is full"
    );
    // Oldest first.
    assert_eq!(
        status_of(&mut conn, attempts[0]).await,
        AttemptStatus::Scheduled
    );
    assert_eq!(
        status_of(&mut conn, attempts[1]).await,
        AttemptStatus::Scheduled
    );
    assert_eq!(
        status_of(&mut conn, attempts[2]).await,
        AttemptStatus::Queued
    );
    let members = queue::members(&mut redis, &keys).await.unwrap();
    assert_eq!(members, attempts[..2].iter().copied().collect());

    // A finished attempt frees its slot.
    shared::attempts::force_status(&mut conn, attempts[0], AttemptStatus::Succeeded)
        .await
        .unwrap();
    assert_eq!(
        dispatch_once(&db, &mut redis, &keys, 100, &Metrics::new().unwrap())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        status_of(&mut conn, attempts[2]).await,
        AttemptStatus::Scheduled
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_org_is_not_stuck_behind_a_big_backlog() {
    let Ctx {
        env: _env,
        db,
        mut conn,
        mut redis,
        keys,
        store: _,
    } = Ctx::new(None).await;

    let big = fixtures::org(&mut conn, "big-org", 50).await;
    let small = fixtures::org(&mut conn, "small-org", 50).await;
    let big_project = fixtures::project(&mut conn, big, "/big", None).await;
    let small_project = fixtures::project(&mut conn, small, "/small", None).await;
    for n in 1..=20 {
        let task = fixtures::task(&mut conn, big, big_project, n).await;
        fixtures::attempt(&mut conn, big, task, AttemptStatus::Queued, "true").await;
    }
    let task = fixtures::task(&mut conn, small, small_project, 1).await;
    let (late, _) = fixtures::attempt(&mut conn, small, task, AttemptStatus::Queued, "true").await;

    // The small org queued last and the batch holds only 4, yet round-robin gives it one.
    assert_eq!(
        dispatch_once(&db, &mut redis, &keys, 4, &Metrics::new().unwrap())
            .await
            .unwrap(),
        4
    );
    assert_eq!(status_of(&mut conn, late).await, AttemptStatus::Scheduled);

    // A big org at its limit does not clog the batch: its surplus is never a candidate.
    diesel::update(shared::db::schema::organizations::table.find(big))
        .set(shared::db::schema::organizations::max_concurrent_attempts.eq(3))
        .execute(&mut conn)
        .await
        .unwrap();
    let task = fixtures::task(&mut conn, small, small_project, 2).await;
    let (later, _) = fixtures::attempt(&mut conn, small, task, AttemptStatus::Queued, "true").await;
    assert_eq!(
        dispatch_once(&db, &mut redis, &keys, 1, &Metrics::new().unwrap())
            .await
            .unwrap(),
        1
    );
    assert_eq!(status_of(&mut conn, later).await, AttemptStatus::Scheduled);
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_entries_carry_the_attempts_trace_context() {
    let Ctx {
        env,
        db,
        mut conn,
        mut redis,
        keys,
        store: _,
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "traced", 4).await;
    let project = fixtures::project(&mut conn, org, "/x", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (attempt, _) = fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    diesel::update(task_attempts::table.find(attempt))
        .set(task_attempts::trace_context.eq(traceparent))
        .execute(&mut conn)
        .await
        .unwrap();

    dispatch_once(&db, &mut redis, &keys, 10, &Metrics::new().unwrap())
        .await
        .unwrap();
    let mut reader = shared::redis_conn::dedicated(&env.settings.redis.url)
        .await
        .unwrap();
    let delivery = queue::next(&mut reader, &keys, "test-consumer", 1000)
        .await
        .unwrap()
        .expect("an entry");
    assert_eq!(delivery.entry.attempt_id, attempt);
    assert_eq!(delivery.entry.traceparent.as_deref(), Some(traceparent));
}

/// A span seen: its id, name and fields as text.
type SeenSpan = (u64, String, HashMap<String, String>);

/// Spans opened while a test runs.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SeenSpan>>>);

impl Spans {
    fn named(&self, name: &str) -> Vec<HashMap<String, String>> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(_, _, fields)| fields.clone())
            .collect()
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = FieldText::default();
        attrs.record(&mut fields);
        self.0
            .lock()
            .unwrap()
            .push((id.into_u64(), attrs.metadata().name().to_owned(), fields.0));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut fields = FieldText::default();
        values.record(&mut fields);
        let mut spans = self.0.lock().unwrap();
        // Ids are reused once a span closes: the latest span with the id is this one.
        if let Some((_, _, known)) = spans.iter_mut().rev().find(|(i, _, _)| *i == id.into_u64()) {
            known.extend(fields.0);
        }
    }
}

#[derive(Default)]
struct FieldText(HashMap<String, String>);

impl Visit for FieldText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dispatch_pass_records_a_schedule_span_per_attempt() {
    let Ctx {
        env: _env,
        db,
        mut conn,
        mut redis,
        keys,
        store: _,
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "spans", 4).await;
    let project = fixtures::project(&mut conn, org, "/x", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (attempt, _) = fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;

    let spans = Spans::default();
    let metrics = Metrics::new().unwrap();
    // The test's own thread polls the pass, so a thread-local subscriber sees its spans.
    let scheduled = {
        let _subscriber =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
        dispatch_once(&db, &mut redis, &keys, 10, &metrics)
            .await
            .unwrap()
    };
    assert_eq!(scheduled, 1);

    let passes = spans.named("scheduler.dispatch");
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].get("scheduled").map(String::as_str), Some("1"));
    let scheduling = spans.named("scheduler.schedule");
    assert_eq!(scheduling.len(), 1);
    assert_eq!(scheduling[0].get("attempt.id"), Some(&attempt.to_string()));
    assert_eq!(scheduling[0].get("org.id"), Some(&org.to_string()));
    assert_eq!(metrics.queue_wait.get_sample_count(), 1);
}
