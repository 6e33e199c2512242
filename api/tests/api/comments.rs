//! Comments on a task: written by people and tokens, listed oldest first, announced on
//! the org stream, and bad bodies refused.

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::domain::MemberRole;
use shared::wire;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn people_and_tokens_comment_and_every_board_hears_of_it() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "Discuss me").await;
    let rel = format!("tasks/{}/comments", task.id);
    let mut events = app.sse("events", None).await;

    let ada = app.sign_in("ada").await;
    app.add_member(app.org.id, ada.user_id, MemberRole::Member)
        .await;
    let res = app
        .request_as(&ada.access_token, Method::POST, &rel)
        .json(&json!({ "body": "  Shall we **split** this?  " }))
        .send()
        .await
        .unwrap();
    let first: wire::Comment = json_as(res, StatusCode::CREATED).await;
    assert_eq!(first.body, "Shall we **split** this?");
    assert_eq!(first.author_label, "ada");
    assert_eq!(first.author_user_id, Some(ada.user_id));
    assert_eq!(first.task_id, task.id);

    let res = app.post(&rel, &json!({ "body": "Token says yes" })).await;
    let second: wire::Comment = json_as(res, StatusCode::CREATED).await;
    assert_eq!(second.author_user_id, None);
    assert!(!second.author_label.is_empty());

    let listed: Vec<wire::Comment> = json_as(app.get(&rel).await, StatusCode::OK).await;
    assert_eq!(listed, vec![first.clone(), second.clone()]);

    // Both reached the org stream as they were written.
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let event = events.next().await;
        if event.event == "comment.created" {
            let wire::OrgEvent::CommentCreated(comment) = event.json() else {
                panic!("a comment.created event: {}", event.data);
            };
            heard.push(comment);
        }
    }
    assert_eq!(heard, vec![first, second]);

    // A viewer reads them but may not write.
    let vic = app.sign_in("vic").await;
    app.add_member(app.org.id, vic.user_id, MemberRole::Viewer)
        .await;
    let res = app
        .request_as(&vic.access_token, Method::GET, &rel)
        .send()
        .await
        .unwrap();
    let seen: Vec<wire::Comment> = json_as(res, StatusCode::OK).await;
    assert_eq!(seen.len(), 2);
    let res = app
        .request_as(&vic.access_token, Method::POST, &rel)
        .json(&json!({ "body": "me too" }))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Deleting the task takes its comments with it.
    let res = app.delete(&format!("tasks/{}", task.id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&rel).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_comments_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "Quiet").await;
    let rel = format!("tasks/{}/comments", task.id);
    for (body, status, code) in [
        (
            json!({ "body": "   " }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "body": "x".repeat(20_001) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({ "body": "hi", "author": "someone else" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({ "text": "hi" }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (json!("hi"), StatusCode::BAD_REQUEST, "invalid_json"),
    ] {
        assert_error(app.post(&rel, &body).await, status, code).await;
    }
    let res = app
        .post(
            &format!("tasks/{}/comments", Uuid::now_v7()),
            &json!({ "body": "hi" }),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .post("tasks/not-a-uuid/comments", &json!({ "body": "hi" }))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_id").await;
    let listed: Vec<wire::Comment> = json_as(app.get(&rel).await, StatusCode::OK).await;
    assert!(listed.is_empty());
}
