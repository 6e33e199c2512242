//! Bad input gets a clear JSON error with a stable code, and changes nothing.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use shared::db::schema::{projects, repositories, tasks};

use crate::helpers::{TestApp, assert_error};

async fn count_tasks(app: &TestApp) -> i64 {
    let mut conn = app.db.system().await.expect("conn");
    tasks::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_invalid_json_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let res = app
        .request(Method::POST, &format!("projects/{}/tasks", project.id))
        .header("content-type", "application/json")
        .body("{\"title\": \"unterminated")
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(count_tasks(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_are_invalid_json() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let res = app
        .post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "x", "colour": "red"}),
        )
        .await;
    let message = assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert!(message.contains("colour"), "{message}");
    assert_eq!(count_tasks(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_and_unknown_enum_values_are_invalid_json() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    for body in [
        serde_json::json!({"title": 42}),
        serde_json::json!({"title": "x", "position": "top"}),
        serde_json::json!({"title": "x", "status": "someday"}),
        serde_json::json!({"title": "x", "labels": "one"}),
        serde_json::json!(["not", "an", "object"]),
        serde_json::json!({}),
    ] {
        let res = app
            .post(&format!("projects/{}/tasks", project.id), &body)
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
    assert_eq!(count_tasks(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_without_json_content_type_is_unsupported() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::POST, "projects")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_uuid_in_the_path_is_invalid_id() {
    let app = TestApp::spawn().await;
    for path in [
        "projects/not-a-uuid",
        "tasks/123",
        "attempts/zzzz/processes",
        "processes/%20/logs",
    ] {
        let res = app.get(path).await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_id").await;
    }
    let res = app
        .patch("tasks/nope", &serde_json::json!({"title": "x"}))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_id").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_payload_too_large() {
    let app = TestApp::spawn_with(|s| s.api.max_body_bytes = 1024).await;
    let project = app.create_project("Demo", None).await;
    let res = app
        .post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "x", "description": "y".repeat(4096)}),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Chunked, so the size is only known while reading.
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok("{\"title\": \"x\", \"description\": \"".to_owned()),
        Ok("z".repeat(4096)),
        Ok("\"}".to_owned()),
    ];
    let res = app
        .request(Method::POST, &format!("projects/{}/tasks", project.id))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(count_tasks(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_that_is_not_a_git_repository_is_refused() {
    let app = TestApp::spawn().await;
    let plain = app.env.dir.join("plain-dir");
    std::fs::create_dir_all(&plain).expect("mkdir");
    for url in [
        plain.to_string_lossy().into_owned(),
        app.env.dir.join("missing").to_string_lossy().into_owned(),
        "relative/path".to_owned(),
    ] {
        let res = app
            .post(
                "projects",
                &serde_json::json!({"name": "Demo", "repository_url": url}),
            )
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_repository").await;
    }
    let mut conn = app.db.system().await.expect("conn");
    let n: i64 = projects::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    let r: i64 = repositories::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    assert_eq!((n, r), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn values_out_of_range_are_validation_failed() {
    let app = TestApp::spawn().await;
    let repo = app.git_repo("r");
    let res = app
        .post(
            "projects",
            &serde_json::json!({"name": "  ", "repository_url": repo.to_string_lossy()}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            "projects",
            &serde_json::json!({"name": "x", "key_prefix": "bad-prefix", "repository_url": repo.to_string_lossy()}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let project = app.create_project("Demo", None).await;
    let res = app
        .post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "x".repeat(501)}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "ok", "parent_task_id": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "ok", "assignee_ids": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .get(&format!("projects/{}/tasks?limit=0", project.id))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .get(&format!("projects/{}/tasks?limit=abc", project.id))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app
        .get(&format!("projects/{}/tasks?cursor=garbage", project.id))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app
        .get(&format!("projects/{}/tasks?status=someday", project.id))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(count_tasks(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_executor_is_refused_and_queues_nothing() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let task = app.create_task(project.id, "t").await;
    let res = app
        .post(
            &format!("tasks/{}/attempts", task.id),
            &serde_json::json!({"prompt": "echo", "executor": "hal9000"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_executor").await;
    let res = app
        .patch(
            &format!("projects/{}", project.id),
            &serde_json::json!({"default_executor": "hal9000"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_executor").await;
    let attempts: shared::wire::Page<shared::wire::Attempt> = crate::helpers::json_as(
        app.get(&format!("tasks/{}/attempts", task.id)).await,
        StatusCode::OK,
    )
    .await;
    assert!(attempts.items.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/api/v1/nowhere"))
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.client.get(app.url("/")).send().await.expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .request(Method::PUT, "projects")
        .send()
        .await
        .expect("PUT");
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}
