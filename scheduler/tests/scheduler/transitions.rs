//! `shared::attempts` against real Postgres: every move applies from the states its
//! guard names, and from no other.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::attempts::{self, AttemptEnd, Move, Requeue};
use shared::db::Conn;
use shared::db::models::TaskAttempt;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;
use shared::testing::fixtures;
use std::time::Duration;
use uuid::Uuid;

use crate::{Ctx, status_of};

const WORKER: &str = "worker-1";

/// Makes `step` on `id` with the function that owns it.
async fn make(conn: &mut Conn, step: Move, id: Uuid) -> diesel::QueryResult<Option<TaskAttempt>> {
    match step {
        Move::Schedule => Ok(attempts::schedule(conn, &[id]).await?.pop()),
        Move::Claim => attempts::claim(conn, id, WORKER, Duration::from_secs(60)).await,
        Move::Finish(status) => {
            let end = AttemptEnd {
                status,
                failure_reason: None,
                head_commit: Some("abc".into()),
                diff_summary: None,
                diff_object_key: None,
            };
            attempts::finish(conn, id, WORKER, end).await
        }
        Move::CancelUnstarted => attempts::cancel_unstarted(conn, id).await,
        Move::Retry => attempts::requeue(conn, id, Requeue::Retry).await,
        Move::FollowUp => {
            let why = Requeue::FollowUp {
                trace_context: None,
            };
            attempts::requeue(conn, id, why).await
        }
        Move::FailLost => attempts::fail_lost(conn, id, "gone").await,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_move_applies_only_from_the_states_it_may_leave() {
    let Ctx {
        env: _env,
        mut conn,
        ..
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "moves", 100).await;
    let project = fixtures::project(&mut conn, org, "/nonexistent", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    for &step in Move::ALL {
        for &from in AttemptStatus::ALL {
            let (id, _) = fixtures::attempt(&mut conn, org, task, from, "true").await;
            // Held by the worker that makes the worker's moves.
            diesel::update(task_attempts::table.find(id))
                .set(task_attempts::worker_id.eq(WORKER))
                .execute(&mut conn)
                .await
                .unwrap();
            let moved = make(&mut conn, step, id).await.unwrap();
            let legal = step.from().contains(&from);
            assert_eq!(moved.is_some(), legal, "{step:?} from {from}");
            assert!(
                !legal || from.can_move_to(step.to()),
                "{step:?} from {from}"
            );
            let now = status_of(&mut conn, id).await;
            assert_eq!(
                now,
                if legal { step.to() } else { from },
                "{step:?} from {from}"
            );
            if let Some(row) = moved {
                assert_eq!(row.status, step.to());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_finishes_only_the_run_it_holds_and_not_with_an_active_status() {
    let Ctx {
        env: _env,
        mut conn,
        ..
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "finish", 100).await;
    let project = fixtures::project(&mut conn, org, "/nonexistent", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;
    let (id, _) = fixtures::attempt(&mut conn, org, task, AttemptStatus::Scheduled, "true").await;
    attempts::claim(&mut conn, id, WORKER, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("claimed");
    let end = |status| AttemptEnd {
        status,
        failure_reason: None,
        head_commit: None,
        diff_summary: None,
        diff_object_key: None,
    };
    let other = attempts::finish(&mut conn, id, "worker-2", end(AttemptStatus::Succeeded));
    assert!(other.await.unwrap().is_none(), "another worker's run");
    for active in [AttemptStatus::Queued, AttemptStatus::Running] {
        let moved = attempts::finish(&mut conn, id, WORKER, end(active)).await;
        assert!(moved.unwrap().is_none(), "{active} is no end");
    }
    let done = attempts::finish(&mut conn, id, WORKER, end(AttemptStatus::Failed))
        .await
        .unwrap()
        .expect("finished");
    assert_eq!(done.status, AttemptStatus::Failed);
    assert!(done.lease_expires_at.is_none() && done.finished_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn both_requeues_leave_the_attempt_like_a_fresh_queued_one() {
    let Ctx {
        env: _env,
        mut conn,
        ..
    } = Ctx::new(None).await;
    let org = fixtures::org(&mut conn, "requeue", 100).await;
    let project = fixtures::project(&mut conn, org, "/nonexistent", None).await;
    let task = fixtures::task(&mut conn, org, project, 1).await;

    // A lost run: scheduled, claimed, asked to stop, then requeued for a retry.
    let (lost, _) = fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;
    attempts::schedule(&mut conn, &[lost]).await.unwrap();
    attempts::claim(&mut conn, lost, WORKER, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("claimed");
    attempts::request_stop(&mut conn, lost)
        .await
        .unwrap()
        .expect("stop asked");
    let retried = attempts::requeue(&mut conn, lost, Requeue::Retry)
        .await
        .unwrap()
        .expect("requeued");

    // A finished run continued by a follow-up.
    let (done, _) = fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;
    attempts::schedule(&mut conn, &[done]).await.unwrap();
    attempts::claim(&mut conn, done, WORKER, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("claimed");
    let end = AttemptEnd {
        status: AttemptStatus::Failed,
        failure_reason: Some("exited with code 1".into()),
        head_commit: None,
        diff_summary: None,
        diff_object_key: None,
    };
    attempts::finish(&mut conn, done, WORKER, end)
        .await
        .unwrap()
        .expect("finished");
    let why = Requeue::FollowUp {
        trace_context: Some("00-trace-span-01".into()),
    };
    let followed = attempts::requeue(&mut conn, done, why)
        .await
        .unwrap()
        .expect("requeued");

    for row in [&retried, &followed] {
        assert_eq!(row.status, AttemptStatus::Queued);
        assert_eq!(row.worker_id, None, "{}", row.id);
        assert_eq!(row.lease_expires_at, None, "{}", row.id);
        assert_eq!(row.scheduled_at, None, "{}", row.id);
        assert_eq!(row.finished_at, None, "{}", row.id);
        assert_eq!(row.failure_reason, None, "{}", row.id);
        assert!(row.started_at.is_some(), "the first start is kept");
    }
    // What differs: the retry spends one and keeps the stop; the follow-up starts over.
    assert_eq!(retried.retry_count, 1);
    assert!(retried.stop_requested);
    assert_eq!(followed.retry_count, 0);
    assert!(!followed.stop_requested);
    assert_eq!(followed.trace_context.as_deref(), Some("00-trace-span-01"));
}
