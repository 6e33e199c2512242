//! Tasks: CRUD, keys, board positions, listing.

use reqwest::StatusCode;
use shared::domain::{TaskPriority, TaskStatus};
use shared::wire::{self, Page};
use std::collections::HashSet;

use crate::helpers::{TestApp, assert_error, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn task_crud_round_trip() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let created: wire::Task = json_as(
        app.post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({
                "title": "  Fix the flux capacitor ",
                "description": "It is leaking.",
                "priority": "high",
                "labels": ["bug", "bug", "time"],
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created.title, "Fix the flux capacitor");
    assert_eq!(created.key, "DEMO-1");
    assert_eq!(created.status, TaskStatus::Todo);
    assert_eq!(created.priority, TaskPriority::High);
    assert_eq!(created.labels, vec!["bug", "time"]);
    assert_eq!(created.project_id, project.id);

    let fetched: wire::Task = json_as(
        app.get(&format!("tasks/{}", created.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched.key, "DEMO-1");
    assert_eq!(fetched.description, "It is leaking.");

    let updated: wire::Task = json_as(
        app.patch(
            &format!("tasks/{}", created.id),
            &serde_json::json!({"title": "Fixed title", "labels": [], "priority": "low"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated.title, "Fixed title");
    assert!(updated.labels.is_empty());
    assert_eq!(updated.priority, TaskPriority::Low);
    assert_eq!(updated.description, "It is leaking.");
    assert!(updated.updated_at >= created.updated_at);

    let res = app.delete(&format!("tasks/{}", created.id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get(&format!("tasks/{}", created.id)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn task_keys_count_up_per_project_and_never_repeat() {
    let app = TestApp::spawn().await;
    let a = app.create_project("Alpha", None).await;
    let b: wire::Project = json_as(
        app.post(
            "projects",
            &serde_json::json!({"name": "Beta", "key_prefix": "BX9", "repository_url": app.git_repo("b").to_string_lossy()}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let a1 = app.create_task(a.id, "one").await;
    let a2 = app.create_task(a.id, "two").await;
    let b1 = app.create_task(b.id, "one").await;
    assert_eq!(
        (a1.key.as_str(), a2.key.as_str(), b1.key.as_str()),
        ("ALPH-1", "ALPH-2", "BX9-1")
    );

    // A deleted task's number is not handed out again.
    let res = app.delete(&format!("tasks/{}", a2.id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.create_task(a.id, "three").await.key, "ALPH-3");

    // Concurrent creates get distinct numbers.
    let titles: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let results = futures::future::join_all(titles.iter().map(|t| app.create_task(a.id, t))).await;
    let keys: HashSet<String> = results.into_iter().map(|t| t.key).collect();
    assert_eq!(keys.len(), 8);
    assert!(keys.iter().all(|k| {
        let n: i64 = k.trim_start_matches("ALPH-").parse().expect("number");
        (4..=11).contains(&n)
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn new_tasks_go_to_the_end_of_their_column() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let t1 = app.create_task(project.id, "one").await;
    let t2 = app.create_task(project.id, "two").await;
    assert_eq!((t1.position, t2.position), (1000.0, 2000.0));
    let done: wire::Task = json_as(
        app.post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "old", "status": "done"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(done.position, 1000.0);
    let placed: wire::Task = json_as(
        app.post(
            &format!("projects/{}/tasks", project.id),
            &serde_json::json!({"title": "first", "position": 500.5}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(placed.position, 500.5);
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_a_task_changes_its_column_and_board_position() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    let a = app.create_task(project.id, "a").await;
    let b = app.create_task(project.id, "b").await;
    let c = app.create_task(project.id, "c").await;

    // Into another column without a position: the end of that column.
    let moved: wire::Task = json_as(
        app.patch(
            &format!("tasks/{}", a.id),
            &serde_json::json!({"status": "inreview"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved.status, TaskStatus::InReview);
    assert_eq!(moved.position, 1000.0);

    // Between two cards of the same column.
    let between: wire::Task = json_as(
        app.patch(
            &format!("tasks/{}", c.id),
            &serde_json::json!({"position": 1500.0}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(between.position, 1500.0);
    let res = app
        .patch(
            &format!("tasks/{}", c.id),
            &serde_json::json!({"title": ""}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let page: Page<wire::Task> = json_as(
        app.get(&format!("projects/{}/tasks", project.id)).await,
        StatusCode::OK,
    )
    .await;
    let order: Vec<_> = page.items.iter().map(|t| t.id).collect();
    // todo column (c at 1500 before b at 2000), then inreview.
    assert_eq!(order, vec![c.id, b.id, a.id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn task_list_filters_by_status_and_pages_in_board_order() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Demo", None).await;
    // Made in the reverse of board order, so neither the order of creation nor the
    // order of the status names can pass for it.
    let mut columns: Vec<(&str, Vec<uuid::Uuid>)> = ["cancelled", "done", "inreview", "inprogress"]
        .into_iter()
        .map(|s| (s, Vec::new()))
        .collect();
    for (status, bucket) in &mut columns {
        for i in 0..3 {
            let t: wire::Task = json_as(
                app.post(
                    &format!("projects/{}/tasks", project.id),
                    &serde_json::json!({"title": format!("{status} {i}"), "status": status}),
                )
                .await,
                StatusCode::CREATED,
            )
            .await;
            bucket.push(t.id);
        }
    }
    let mut expected_todo = Vec::new();
    for i in 0..5 {
        expected_todo.push(app.create_task(project.id, &format!("todo {i}")).await.id);
    }
    let expected_done = columns[1].1.clone();
    // Board order: todo, inprogress, inreview, done, cancelled; then position.
    let expected: Vec<_> = expected_todo
        .iter()
        .chain(columns.iter().rev().flat_map(|(_, ids)| ids))
        .copied()
        .collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("projects/{}/tasks?limit=4&cursor={c}", project.id),
            None => format!("projects/{}/tasks?limit=4", project.id),
        };
        let page: Page<wire::Task> = json_as(app.get(&path).await, StatusCode::OK).await;
        pages += 1;
        seen.extend(page.items.iter().map(|t| t.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected);

    let done: Page<wire::Task> = json_as(
        app.get(&format!("projects/{}/tasks?status=done", project.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        done.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        expected_done
    );
    assert!(done.items.iter().all(|t| t.status == TaskStatus::Done));

    let res = app
        .get(&format!("projects/{}/tasks", uuid::Uuid::new_v4()))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cards_made_at_once_on_one_board_get_distinct_numbers_and_places_in_order() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Rush", None).await;
    let titles: Vec<String> = (0..24).map(|n| format!("Card {n}")).collect();
    let made: Vec<wire::Task> =
        futures::future::join_all(titles.iter().map(|t| app.create_task(project.id, t))).await;
    let mut by_number: Vec<(i64, f64)> = made
        .iter()
        .map(|t| {
            let number = t
                .key
                .strip_prefix("RUSH-")
                .expect("key")
                .parse()
                .expect("n");
            (number, t.position)
        })
        .collect();
    by_number.sort_by_key(|(n, _)| *n);
    let numbers: Vec<i64> = by_number.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=24).collect::<Vec<i64>>(), "{made:#?}");
    // Each card goes after every card numbered before it: the end of the column is read
    // while the number is held.
    assert!(
        by_number.windows(2).all(|w| w[0].1 < w[1].1),
        "{by_number:?}"
    );
}
