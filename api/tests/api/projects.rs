//! Projects: create, read, update, delete.

use reqwest::StatusCode;
use shared::wire::{self, Page};

use crate::helpers::{TestApp, assert_error, init_repo, json_as};

#[tokio::test(flavor = "multi_thread")]
async fn project_crud_round_trip() {
    let app = TestApp::spawn().await;
    let repo = app.git_repo("widgets");
    let res = app
        .post(
            "projects",
            &serde_json::json!({
                "name": "Widget factory",
                "repository_url": repo.to_string_lossy(),
                "setup_script": "make deps",
            }),
        )
        .await;
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a Location header");
    let created: wire::Project = json_as(res, StatusCode::CREATED).await;
    assert_eq!(created.name, "Widget factory");
    assert_eq!(created.key_prefix, "WIDG");
    assert_eq!(created.default_branch, "main");
    assert_eq!(created.default_executor, "script");
    assert_eq!(created.setup_script.as_deref(), Some("make deps"));
    assert_eq!(created.repository.name, "widgets");
    let canonical = std::fs::canonicalize(&repo).expect("canonical");
    assert_eq!(created.repository.url, canonical.to_string_lossy());
    assert!(location.ends_with(&format!("/projects/{}", created.id)));

    let fetched: wire::Project = json_as(
        app.get(&format!("projects/{}", created.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched.id, created.id);
    assert_eq!(fetched.repository.id, created.repository.id);

    let list: Page<wire::Project> = json_as(app.get("projects").await, StatusCode::OK).await;
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.next_cursor, None);

    let updated: wire::Project = json_as(
        app.patch(
            &format!("projects/{}", created.id),
            &serde_json::json!({"name": "Widgets", "cleanup_script": "make clean"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated.name, "Widgets");
    assert_eq!(updated.setup_script.as_deref(), Some("make deps"));
    assert_eq!(updated.cleanup_script.as_deref(), Some("make clean"));

    // `null` clears a script; an absent field stays.
    let cleared: wire::Project = json_as(
        app.patch(
            &format!("projects/{}", created.id),
            &serde_json::json!({"setup_script": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared.setup_script, None);
    assert_eq!(cleared.cleanup_script.as_deref(), Some("make clean"));
    assert_eq!(cleared.name, "Widgets");

    let res = app.delete(&format!("projects/{}", created.id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get(&format!("projects/{}", created.id)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.delete(&format!("projects/{}", created.id)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_on_the_same_repository_share_its_row() {
    let app = TestApp::spawn().await;
    let repo = app.git_repo("shared");
    let mut ids = Vec::new();
    for (name, url) in [
        ("One", repo.to_string_lossy().into_owned()),
        ("Two", format!("{}/", repo.to_string_lossy())),
        ("Three", format!("file://{}", repo.to_string_lossy())),
    ] {
        let p: wire::Project = json_as(
            app.post(
                "projects",
                &serde_json::json!({"name": name, "repository_url": url}),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        ids.push(p.repository.id);
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_branch_comes_from_head_and_must_exist() {
    let app = TestApp::spawn().await;
    let path = app.env.dir.join("trunk-repo");
    init_repo(&path);
    let repo = git2::Repository::open(&path).expect("open");
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    repo.branch("trunk", &head, false).expect("branch");
    repo.set_head("refs/heads/trunk").expect("set head");

    let p: wire::Project = json_as(
        app.post(
            "projects",
            &serde_json::json!({"name": "T", "repository_url": path.to_string_lossy()}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(p.default_branch, "trunk");
    assert_eq!(p.key_prefix, "T");

    let res = app
        .post(
            "projects",
            &serde_json::json!({"name": "U", "repository_url": path.to_string_lossy(), "default_branch": "nope"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_repository").await;

    let res = app
        .patch(
            &format!("projects/{}", p.id),
            &serde_json::json!({"default_branch": "gone"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let ok: wire::Project = json_as(
        app.patch(
            &format!("projects/{}", p.id),
            &serde_json::json!({"default_branch": "main"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ok.default_branch, "main");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_repository_url_is_accepted_without_fetching() {
    let app = TestApp::spawn().await;
    let p: wire::Project = json_as(
        app.post(
            "projects",
            &serde_json::json!({"name": "Remote", "key_prefix": "RM", "repository_url": "https://github.com/acme/remote.git"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(p.repository.name, "remote");
    assert_eq!(p.default_branch, "main");
    assert_eq!(p.key_prefix, "RM");
}

#[tokio::test(flavor = "multi_thread")]
async fn project_list_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_project(&format!("P{i}"), None).await.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("projects?limit=2&cursor={c}"),
            None => "projects?limit=2".to_owned(),
        };
        let page: Page<wire::Project> = json_as(app.get(&path).await, StatusCode::OK).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|p| p.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_with_an_active_attempt_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Busy", None).await;
    let task = app.create_task(project.id, "t").await;
    let attempt = app.start_attempt(task.id, "sleep 1").await;
    let res = app.delete(&format!("projects/{}", project.id)).await;
    assert_error(res, StatusCode::CONFLICT, "project_busy").await;
    let res = app.delete(&format!("tasks/{}", task.id)).await;
    assert_error(res, StatusCode::CONFLICT, "task_busy").await;

    let stopped: wire::Attempt = json_as(
        app.post(
            &format!("attempts/{}/stop", attempt.id),
            &serde_json::json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stopped.status, shared::domain::AttemptStatus::Cancelled);
    let res = app.delete(&format!("projects/{}", project.id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get(&format!("tasks/{}", task.id)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}
