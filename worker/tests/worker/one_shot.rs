//! `--attempt <id>` (a Kubernetes Job's pod) and `worker.resource_class` (a warm pod).

use shared::domain::AttemptStatus;
use shared::queue;
use shared::shutdown::CancellationToken;
use std::time::Duration;
use worker::attempt::AttemptOutcome;

use crate::attempt::scenario;

#[tokio::test(flavor = "multi_thread")]
async fn one_shot_mode_runs_its_attempt_and_takes_its_entry_out_of_the_queue() {
    let s = scenario("echo one-shot > done.txt", None, None).await;
    s.enqueue().await;

    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        worker::run_attempt(s.settings(), s.attempt, CancellationToken::new()),
    )
    .await
    .expect("the one-shot worker returns")
    .expect("runs");

    assert_eq!(outcome, AttemptOutcome::Finished(AttemptStatus::Succeeded));
    let attempt = s.attempt_row().await;
    assert_eq!(attempt.status, AttemptStatus::Succeeded);
    assert_eq!(attempt.worker_id.as_deref(), Some("test-worker"));
    let mut redis = s.redis().await;
    let members = queue::members(&mut redis, &s.keys).await.expect("members");
    assert!(members.is_empty(), "its queue entry is gone: {members:?}");
    assert!(
        queue::find(&mut redis, &s.keys, s.attempt)
            .await
            .expect("find")
            .is_none()
    );

    // Run again, it finds nothing to claim and says so.
    let again = worker::run_attempt(s.settings(), s.attempt, CancellationToken::new())
        .await
        .expect("runs");
    assert_eq!(again, AttemptOutcome::NotClaimed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_for_one_resource_class_hands_other_classes_attempts_back() {
    let s = scenario("true", None, None).await;
    s.enqueue().await;
    // The attempt has no class in its profile: it runs in the default class (medium).
    let mut large = s.settings();
    large.worker.resource_class = Some("large".into());
    let stop = CancellationToken::new();
    let worker = tokio::spawn(worker::run(large, stop.clone()));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Scheduled);
    stop.cancel();
    worker.await.expect("join").expect("clean exit");

    let mut medium = s.settings();
    medium.worker.resource_class = Some("medium".into());
    tokio::time::timeout(
        Duration::from_secs(60),
        worker::run(medium, CancellationToken::new()),
    )
    .await
    .expect("the medium worker runs it")
    .expect("clean exit");
    assert_eq!(s.attempt_row().await.status, AttemptStatus::Succeeded);
}
