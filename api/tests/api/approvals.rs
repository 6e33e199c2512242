//! Approvals: pending supervised tool calls, listed and decided through the api.

use reqwest::StatusCode;
use shared::approvals::{self, Decision, PendingApproval};
use shared::domain::TokenScope;
use std::time::Duration;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

/// An attempt with one tool call waiting for a decision, as a worker files it.
async fn pending_approval(app: &TestApp) -> PendingApproval {
    let project = app.create_project("Approvals", None).await;
    let task = app.create_task(project.id, "Needs a reviewer").await;
    let attempt = app.start_attempt(task.id, "true").await;
    let now = chrono::Utc::now();
    let pending = PendingApproval {
        id: Uuid::new_v4(),
        attempt_id: attempt.id,
        process_id: Uuid::now_v7(),
        tool_name: "Bash".into(),
        tool_call_id: Some("toolu_1".into()),
        input: serde_json::json!({ "command": "rm -rf build" }),
        requested_at: now,
        expires_at: now + chrono::Duration::minutes(10),
    };
    let mut redis = app.redis().await;
    approvals::request(&mut redis, &app.keys, &pending)
        .await
        .expect("file the approval");
    pending
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_tool_call_is_listed_and_its_decision_reaches_the_waiting_worker() {
    let app = TestApp::spawn().await;
    let pending = pending_approval(&app).await;
    let listed: Vec<PendingApproval> = json_as(
        app.get(&format!("attempts/{}/approvals", pending.attempt_id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed, vec![pending.clone()]);

    let mut blocking = app.redis().await;
    let (keys, attempt, id) = (app.keys.clone(), pending.attempt_id, pending.id);
    let waiter = tokio::spawn(async move {
        approvals::wait(&mut blocking, &keys, attempt, id, Duration::from_secs(10)).await
    });
    let url = format!("attempts/{}/approvals/{}", pending.attempt_id, pending.id);
    let body = serde_json::json!({ "approve": false, "reason": "not on main" });
    let decided: Decision = json_as(app.post(&url, &body).await, StatusCode::OK).await;
    assert!(!decided.approve);
    let received = waiter
        .await
        .unwrap()
        .unwrap()
        .expect("the worker gets the decision");
    assert_eq!(
        received,
        Decision {
            approve: false,
            reason: Some("not on main".into())
        }
    );

    // Decided once: a second decision, and the listing, find nothing.
    assert_error(
        app.post(&url, &body).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed: Vec<PendingApproval> = json_as(
        app.get(&format!("attempts/{}/approvals", pending.attempt_id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(listed.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_of_another_org_are_not_found_and_deciding_needs_the_runs_scope() {
    let app = TestApp::spawn().await;
    let pending = pending_approval(&app).await;
    let url = format!("attempts/{}/approvals/{}", pending.attempt_id, pending.id);
    let body = serde_json::json!({ "approve": true });

    let (other, other_token) = app.other_org("other-org").await;
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("attempts/{}/approvals", pending.attempt_id),
        ),
        (reqwest::Method::POST, url.clone()),
    ] {
        let res = app
            .client
            .request(
                method,
                format!("{}/api/v1/orgs/{}/{path}", app.base, other.slug),
            )
            .bearer_auth(&other_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }

    let reader = app
        .mint_token(&[TokenScope::Read, TokenScope::Write], None)
        .await;
    let res = app
        .request_as(&reader, reqwest::Method::POST, &url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let bad = format!("attempts/{}/approvals/not-a-uuid", pending.attempt_id);
    assert_error(
        app.post(&bad, &body).await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    )
    .await;
    let wrong = serde_json::json!({ "approve": "yes" });
    assert_error(
        app.post(&url, &wrong).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;

    // Still pending after all that: only a valid decision by this org takes it.
    let decided: Decision = json_as(app.post(&url, &body).await, StatusCode::OK).await;
    assert!(decided.approve);
}
