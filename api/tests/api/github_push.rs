//! Attempts on GitHub repositories, end to end: the api, the scheduler with real
//! `switchyard-worker` processes, and the fake GitHub serving git smart HTTP
//! (`git http-backend`) behind installation-token credentials. The worker mints its own
//! repository token with the App settings it shares, fetches and pushes with it through
//! libgit2's credential callback, and renews it when GitHub refuses it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use shared::db::schema::repositories;
use shared::domain::AttemptStatus;
use shared::shutdown::CancellationToken;
use shared::wire;
use std::time::Duration;
use uuid::Uuid;

use crate::fake_github::FakeGithub;
use crate::github_webhooks::{HELLO_WORLD, INSTALLATION, app_with_github, link_installation};
use crate::helpers::{TestApp, json_as};

/// The fixtures' repository.
pub const FULL_NAME: &str = "Codertocat/Hello-World";

/// The fake GitHub with the fixtures' installation linked to the test org, the repository
/// on it (a bare repository with `main`), a project on it, and a scheduler running one
/// local worker.
pub struct GithubStack {
    pub fake: FakeGithub,
    pub app: TestApp,
    pub project: wire::Project,
    shutdown: CancellationToken,
    scheduler: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl GithubStack {
    pub async fn start() -> GithubStack {
        let (fake, app) = app_with_github().await;
        fake.repos().create_repo(FULL_NAME);
        link_installation(&app).await;
        let url = format!("{}/{FULL_NAME}.git", fake.url());
        {
            // What the installation sync records for a granted repository.
            let mut conn = app.db.system().await.expect("db");
            diesel::insert_into(repositories::table)
                .values((
                    repositories::id.eq(Uuid::now_v7()),
                    repositories::org_id.eq(app.org.id),
                    repositories::name.eq("Hello-World"),
                    repositories::url.eq(&url),
                    repositories::default_branch.eq("main"),
                    repositories::github_repo_id.eq(HELLO_WORLD),
                    repositories::github_full_name.eq(FULL_NAME),
                    repositories::github_installation_id.eq(INSTALLATION),
                ))
                .execute(&mut conn)
                .await
                .expect("repository");
        }
        let res = app
            .post(
                "projects",
                &serde_json::json!({"name": "Hello", "repository_url": url, "key_prefix": "HW"}),
            )
            .await;
        let project: wire::Project = json_as(res, StatusCode::CREATED).await;
        // The tests' "agent" is `script`, so the issue text is the script: the project
        // opts in to GitHub-triggered script runs.
        let res = app
            .patch(
                &format!("projects/{}", project.id),
                &serde_json::json!({ "github_allow_script": true }),
            )
            .await;
        let project: wire::Project = json_as(res, StatusCode::OK).await;
        assert!(project.github_allow_script);
        let mut settings = app.env.settings.clone();
        settings.scheduler.local_workers = 1;
        // The worker shares the App settings (it mints its own repository tokens).
        settings.github = fake.app_settings();
        let shutdown = CancellationToken::new();
        let scheduler = tokio::spawn(scheduler::run(
            settings,
            scheduler::WorkerPool::default(),
            shutdown.clone(),
        ));
        GithubStack {
            fake,
            app,
            project,
            shutdown,
            scheduler,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.scheduler).await;
        self.app.stop().await;
    }

    /// Every file under the worker data dir that could hold a git config or log.
    fn worker_files(&self) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.app.env.settings.worker.data_dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.is_file() {
                    out.push(path);
                }
            }
        }
        out
    }

    /// Asserts no issued installation token was written anywhere under the worker's data
    /// dir (git configs, FETCH_HEAD, packed refs, logs).
    pub fn assert_no_token_on_disk(&self) {
        let tokens = self.fake.app().issued_tokens();
        assert!(!tokens.is_empty(), "the worker used installation tokens");
        for file in self.worker_files() {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            for token in &tokens {
                assert!(
                    !text.contains(token.as_str()),
                    "a token was written to {}",
                    file.display()
                );
            }
            assert!(
                !text.contains("x-access-token"),
                "credentials were written to {}",
                file.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_on_a_github_repository_pushes_its_branch_with_an_installation_token() {
    let stack = GithubStack::start().await;
    let task = stack.app.create_task(stack.project.id, "Say hi").await;
    let attempt = stack
        .app
        .start_attempt(task.id, "echo hi > pushed.txt")
        .await;

    let done = stack.app.wait_finished(attempt.id).await;
    assert_eq!(done.status, AttemptStatus::Succeeded, "{done:?}");
    let repos = stack.fake.repos();
    // The branch is on GitHub at the attempt's head, with the agent's change.
    assert_eq!(
        repos.branch_head(FULL_NAME, &done.branch),
        done.head_commit,
        "the attempt branch was pushed"
    );
    assert_eq!(
        repos
            .file_at(FULL_NAME, &done.branch, "pushed.txt")
            .as_deref(),
        Some("hi\n")
    );
    let counts = repos.git_counts();
    assert_eq!(counts.fetches, 1);
    assert_eq!(counts.pushes, 1);
    // Each connection first went anonymously and was challenged: the token was only
    // ever sent in answer to GitHub's challenge, through the credential callback.
    assert!(counts.refused >= 2, "{counts:?}");
    // The token reached only this repository and never the disk.
    for token in stack.fake.app().issued_tokens() {
        assert_eq!(
            stack.fake.app().token_scope(&token),
            Some(Some(vec![HELLO_WORLD]))
        );
    }
    // Git fetched and pushed with tokens that hold `contents: write` and nothing else.
    let git_tokens = repos.git_tokens();
    assert!(git_tokens.len() >= 2, "{git_tokens:?}");
    for token in &git_tokens {
        assert_eq!(
            stack.fake.app().token_permissions(token),
            Some(Some([("contents".to_owned(), "write".to_owned())].into())),
            "a git token asked for more than contents: write"
        );
    }
    stack.assert_no_token_on_disk();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_installation_token_is_renewed_for_the_push() {
    let stack = GithubStack::start().await;
    // The token used for the clone has expired by the time the branch is pushed.
    stack.fake.repos().expire_tokens_after_fetch(true);
    let task = stack.app.create_task(stack.project.id, "Renew").await;
    let attempt = stack
        .app
        .start_attempt(task.id, "echo renewed > renewed.txt")
        .await;

    let done = stack.app.wait_finished(attempt.id).await;
    assert_eq!(done.status, AttemptStatus::Succeeded, "{done:?}");
    assert_eq!(
        stack.fake.repos().branch_head(FULL_NAME, &done.branch),
        done.head_commit
    );
    assert_eq!(stack.fake.repos().git_counts().pushes, 1);
    assert_eq!(
        stack.fake.app().counts().tokens_minted,
        2,
        "one token for the fetch, a new one once GitHub refused it for the push"
    );
    stack.assert_no_token_on_disk();
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_the_app_cannot_reach_fails_the_attempt_without_leaking_a_token() {
    let stack = GithubStack::start().await;
    // The App loses the repository: GitHub refuses to mint a token for it.
    stack.fake.app().remove_repo(INSTALLATION, HELLO_WORLD);
    let task = stack.app.create_task(stack.project.id, "Lost").await;
    let attempt = stack.app.start_attempt(task.id, "echo no > no.txt").await;

    let done = stack.app.wait_finished(attempt.id).await;
    assert_eq!(done.status, AttemptStatus::Failed);
    let reason = done.failure_reason.unwrap_or_default();
    assert!(reason.contains("installation token"), "{reason}");
    assert!(!reason.contains("ghs_"), "{reason}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_branch_carrying_an_org_secret_is_not_pushed() {
    use base64::Engine;
    const SECRET: &str = "sk-live-push-guard-9f8e7d6c5b4a";
    let stack = GithubStack::start().await;
    let res = stack
        .app
        .request(reqwest::Method::PUT, "secrets/DEPLOY_TOKEN")
        .json(&serde_json::json!({ "value": SECRET }))
        .send()
        .await
        .expect("PUT secret");
    assert!(res.status().is_success(), "{}", res.status());

    // The control: with the secret set, a clean attempt is pushed.
    let task = stack.app.create_task(stack.project.id, "Clean").await;
    let clean = stack
        .app
        .start_attempt(task.id, "echo clean > clean.txt")
        .await;
    let clean = stack.app.wait_finished(clean.id).await;
    assert_eq!(clean.status, AttemptStatus::Succeeded, "{clean:?}");
    assert_eq!(
        stack.fake.repos().branch_head(FULL_NAME, &clean.branch),
        clean.head_commit
    );

    // One agent writes the value as it is, another base64 of a text holding it (the
    // value at byte offset 2, so its own base64 is not a substring of the file).
    let plain = format!("mkdir -p config && printf 'TOKEN=%s\\n' '{SECRET}' > config/deploy.env");
    let encoded = format!("printf 'xx%s and more' '{SECRET}' | base64 -w0 > blob.b64");
    let text_b64 = base64::engine::general_purpose::STANDARD.encode(format!("xx{SECRET} and more"));
    let own_b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(SECRET);
    assert!(!text_b64.contains(&own_b64[..own_b64.len() - 1]));
    for (script, file, encoding) in [
        (plain, "config/deploy.env", "plain"),
        (encoded, "blob.b64", "base64"),
    ] {
        let task = stack.app.create_task(stack.project.id, "Leak").await;
        let attempt = stack.app.start_attempt(task.id, &script).await;
        let done = stack.app.wait_finished(attempt.id).await;
        assert_eq!(done.status, AttemptStatus::Failed, "{done:?}");
        let reason = done.failure_reason.clone().unwrap_or_default();
        assert!(reason.starts_with("refused to push: "), "{reason}");
        assert!(reason.contains(file), "{reason}");
        assert!(reason.contains("DEPLOY_TOKEN"), "{reason}");
        assert!(reason.contains(&format!("({encoding})")), "{reason}");
        assert!(!reason.contains(SECRET), "the reason shows the value");
        assert!(
            !reason.contains(&own_b64[..12]),
            "the reason shows the value"
        );
        // The commit is kept (in the worker's cache), but GitHub never got the branch.
        assert!(done.head_commit.is_some(), "{done:?}");
        assert_eq!(
            stack.fake.repos().branch_head(FULL_NAME, &done.branch),
            None,
            "the branch reached GitHub"
        );
    }
    assert_eq!(
        stack.fake.repos().git_counts().pushes,
        1,
        "only the clean push"
    );
    stack.stop().await;
}
