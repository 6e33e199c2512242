//! `Idempotency-Key` on every create: the same key and request act once and answer the
//! first answer (also when sent at once), another request with the key is refused, and
//! answers worth retrying are not kept.

use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::AttemptStatus;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

/// One create route, its body, and the table whose rows it adds.
struct Create {
    name: &'static str,
    rel: String,
    body: Value,
    other_body: Value,
    table: &'static str,
}

/// Every create the issue names, on fresh resources of `app`'s org.
async fn creates(app: &TestApp) -> Vec<Create> {
    let project = app.create_project("idem", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "echo hi").await;
    let mut conn = app.db.system().await.expect("conn");
    shared::attempts::force_status(&mut conn, attempt.id, AttemptStatus::Succeeded)
        .await
        .expect("finish the attempt");
    let repo = app.git_repo(&format!("idem-{}", Uuid::new_v4().simple()));
    vec![
        Create {
            name: "project",
            rel: "projects".into(),
            body: json!({ "name": "p1", "repository_url": repo.to_string_lossy() }),
            other_body: json!({ "name": "p2", "repository_url": repo.to_string_lossy() }),
            table: "projects",
        },
        Create {
            name: "task",
            rel: format!("projects/{}/tasks", project.id),
            body: json!({ "title": "one" }),
            other_body: json!({ "title": "two" }),
            table: "tasks",
        },
        Create {
            name: "attempt",
            rel: format!("tasks/{}/attempts", task.id),
            body: json!({ "prompt": "echo one" }),
            other_body: json!({ "prompt": "echo two" }),
            table: "task_attempts",
        },
        Create {
            name: "follow-up",
            rel: format!("attempts/{}/follow-up", attempt.id),
            body: json!({ "prompt": "echo again" }),
            other_body: json!({ "prompt": "echo other" }),
            table: "execution_processes",
        },
        Create {
            name: "comment",
            rel: format!("tasks/{}/comments", task.id),
            body: json!({ "body": "looks good" }),
            other_body: json!({ "body": "looks bad" }),
            table: "task_comments",
        },
        Create {
            name: "token",
            rel: "tokens".into(),
            body: json!({ "name": "ci", "scopes": ["read"] }),
            other_body: json!({ "name": "ci", "scopes": ["write"] }),
            table: "api_tokens",
        },
        Create {
            name: "invitation",
            rel: "invitations".into(),
            body: json!({ "github_login": "newcomer", "role": "member" }),
            other_body: json!({ "github_login": "newcomer", "role": "viewer" }),
            table: "invitations",
        },
    ]
}

async fn rows(app: &TestApp, table: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.system().await.expect("conn");
    let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result(&mut conn)
        .await
        .expect("count rows");
    count.n
}

async fn send(app: &TestApp, rel: &str, key: &str, body: &Value) -> reqwest::Response {
    app.request(Method::POST, rel)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("POST")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_create_acts_once_per_key_and_replays_its_first_answer() {
    let app = TestApp::spawn().await;
    for create in creates(&app).await {
        let before = rows(&app, create.table).await;
        let key = Uuid::new_v4().to_string();

        let first = send(&app, &create.rel, &key, &create.body).await;
        assert_eq!(first.status(), StatusCode::CREATED, "{}", create.name);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let location = first.headers().get("location").cloned();
        let first: Value = first.json().await.expect("first body");

        let again = send(&app, &create.rel, &key, &create.body).await;
        assert_eq!(again.status(), StatusCode::CREATED, "{}", create.name);
        assert_eq!(
            again
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true"),
            "{}",
            create.name
        );
        assert_eq!(again.headers().get("location").cloned(), location);
        let again: Value = again.json().await.expect("replayed body");
        assert_eq!(
            again, first,
            "{}: the replay is the first answer",
            create.name
        );
        assert_eq!(
            rows(&app, create.table).await,
            before + 1,
            "{}: one resource for two requests",
            create.name
        );

        let other = send(&app, &create.rel, &key, &create.other_body).await;
        assert_error(
            other,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        )
        .await;
        assert_eq!(
            rows(&app, create.table).await,
            before + 1,
            "{}",
            create.name
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_retries_create_one_task_and_all_get_its_answer() {
    let app = TestApp::spawn().await;
    let project = app.create_project("idem-race", None).await;
    let rel = format!("projects/{}/tasks", project.id);
    let before = rows(&app, "tasks").await;
    let key = Uuid::new_v4().to_string();
    let body = json!({ "title": "raced" });

    let answers = futures::future::join_all((0..8).map(|_| async {
        let res = send(&app, &rel, &key, &body).await;
        let status = res.status();
        (status, res.json::<Value>().await.expect("body"))
    }))
    .await;
    let ids: Vec<&Value> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            &body["id"]
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one task: {ids:?}");
    assert_eq!(rows(&app, "tasks").await, before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_belong_to_their_caller_and_failed_answers_are_not_kept() {
    let app = TestApp::spawn().await;
    let project = app.create_project("idem-scope", None).await;
    let rel = format!("projects/{}/tasks", project.id);
    let key = Uuid::new_v4().to_string();
    let body = json!({ "title": "mine" });

    let first: Value = json_as(send(&app, &rel, &key, &body).await, StatusCode::CREATED).await;
    // Another caller's identical key is theirs: it creates their own task.
    let other_token = app
        .mint_token(&[shared::domain::TokenScope::Write], None)
        .await;
    let res = app
        .request_as(&other_token, Method::POST, &rel)
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let theirs: Value = json_as(res, StatusCode::CREATED).await;
    assert_ne!(theirs["id"], first["id"]);

    // A refused request (422) is kept: the retry gets the same refusal without acting.
    let invalid = json!({ "title": "" });
    let key2 = Uuid::new_v4().to_string();
    assert_error(
        send(&app, &rel, &key2, &invalid).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let replay = send(&app, &rel, &key2, &invalid).await;
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_error(
        replay,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // A 401 is not kept: once the caller is right, the same key acts.
    let key3 = Uuid::new_v4().to_string();
    let res = app
        .request_as("sy_not_a_real_token_at_all_0000000000", Method::POST, &rel)
        .header("idempotency-key", &key3)
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    json_as::<Value>(send(&app, &rel, &key3, &body).await, StatusCode::CREATED).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_keys_are_refused_and_stored_answers_are_sealed() {
    let app = TestApp::spawn().await;
    for bad in ["", &"k".repeat(256), "has space", "tab\tkey"] {
        let res = app
            .request(Method::POST, "tokens")
            .header("idempotency-key", bad)
            .json(&json!({ "name": "x", "scopes": ["read"] }))
            .send()
            .await
            .expect("POST");
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_header").await;
    }
    let key = Uuid::new_v4().to_string();
    let created: Value = json_as(
        send(
            &app,
            "tokens",
            &key,
            &json!({ "name": "sealed", "scopes": ["read"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let secret = created["token"].as_str().expect("the token's secret");

    #[derive(diesel::QueryableByName)]
    struct Body {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bytea>)]
        body: Option<Vec<u8>>,
    }
    let mut conn = app.db.system().await.expect("conn");
    let stored: Body = diesel::sql_query("SELECT body FROM idempotency_keys WHERE key = $1")
        .bind::<diesel::sql_types::Text, _>(&key)
        .get_result(&mut conn)
        .await
        .expect("the stored answer");
    let stored = stored.body.expect("a body");
    assert!(
        !String::from_utf8_lossy(&stored).contains(secret),
        "the token's secret is not stored in the clear"
    );
}
