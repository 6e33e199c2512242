//! The dashboard in a real browser: `web/e2e/run.mjs` (playwright-core driving Debian's
//! Chromium) against the whole stack — the api serving `web/dist`, the scheduler with its
//! local backend and real worker processes running `script` attempts — on real Postgres,
//! Redis, S3 and git. This test sets the stack and its fixtures up, runs the suite, and
//! fails with it. It never skips: without Chromium, Node.js, `web/node_modules`, a built
//! `web/dist` or the installed agent CLIs it fails and says what to run (`scripts/test`
//! provides all five).
//!
//! Two scenarios run the real Claude Code and Codex CLIs (`SWITCHYARD_TEST_AGENTS`) from
//! org executor profiles pointed at local fakes of their vendors' APIs, and screenshot
//! their conversations (under .dev/screenshots/, or docs/screenshots/ with
//! `SWITCHYARD_REFRESH_SCREENSHOTS=1`).

use reqwest::StatusCode;
use scheduler::WorkerPool;
use serde_json::json;
use shared::domain::{AttemptStatus, MemberRole};
use shared::shutdown::CancellationToken;
use shared::testing::model_api::{FakeModelApi, Turn};
use shared::wire;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::e2e_real_agent::{agent_commands, claude_gateway_profile};
use crate::helpers::{TestApp, json_as};

/// How long the browser suite may take before the test gives up on it (two scenarios run
/// real agent CLIs).
const SUITE_LIMIT: Duration = Duration::from_secs(360);
/// Codex's shell tool with the model's default metadata.
const CODEX_SHELL: &str = "exec_command";
/// Lines the big run prints: one conversation entry each.
const BIG_RUN_LINES: u32 = 100_000;
/// Tasks on the board whose first render is timed.
const TIMED_BOARD_TASKS: usize = 100;

/// Where the suite writes its screenshots and figures: `.dev/screenshots` (ignored by git),
/// so a test run leaves the work tree as it found it; `docs/screenshots` (the committed
/// ones) when `SWITCHYARD_REFRESH_SCREENSHOTS=1` asks for a refresh.
fn screenshots_dir() -> PathBuf {
    let refresh = std::env::var("SWITCHYARD_REFRESH_SCREENSHOTS").is_ok_and(|v| v == "1");
    repo_root().join(if refresh {
        "docs/screenshots"
    } else {
        ".dev/screenshots"
    })
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// What the suite needs on this machine, or a failure that says how to get it.
struct Prerequisites {
    chromium: PathBuf,
    web_dist: PathBuf,
    suite: PathBuf,
}

fn prerequisites() -> Prerequisites {
    let root = repo_root();
    let chromium = std::env::var_os("SY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "Chromium is missing at {}: install it (`apt-get install chromium`; scripts/test does) \
         or point SY_CHROMIUM at it",
        chromium.display()
    );
    let web_dist = std::env::var_os("SWITCHYARD_TEST_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("web/dist"));
    assert!(
        web_dist.join("index.html").is_file(),
        "the dashboard is not built ({} has no index.html): run `npm run build` in web/ \
         (scripts/test does)",
        web_dist.display()
    );
    assert!(
        root.join("web/node_modules/playwright-core/package.json")
            .is_file(),
        "web/node_modules has no playwright-core: run `npm ci` in web/ (scripts/test does)"
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "Node.js is missing: scripts/test installs it ({node:?})"
    );
    Prerequisites {
        chromium,
        web_dist,
        suite: root.join("web/e2e/run.mjs"),
    }
}

/// The api serving the dashboard (plain http, development sign-in) and a scheduler with
/// two local worker processes.
struct Stack {
    app: TestApp,
    shutdown: CancellationToken,
    scheduler: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Stack {
    /// `configure` is applied last to the settings the scheduler hands its workers.
    async fn start(
        web_dist: PathBuf,
        configure: impl FnOnce(&mut shared::config::Settings),
    ) -> Stack {
        let app = TestApp::spawn_with(|s| {
            s.api.web_dir = Some(web_dist);
            s.auth.dev_login = true;
            s.auth.cookie_secure = false;
        })
        .await;
        let mut settings = app.env.settings.clone();
        settings.scheduler.local_workers = 2;
        configure(&mut settings);
        let shutdown = CancellationToken::new();
        let scheduler = tokio::spawn(scheduler::run(
            settings,
            WorkerPool::default(),
            shutdown.clone(),
        ));
        Stack {
            app,
            shutdown,
            scheduler,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.scheduler).await;
        self.app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_end_to_end_in_chromium() {
    let pre = prerequisites();
    // The real Claude Code and Codex, each against its own fake of its vendor's API.
    let mut agents = agent_commands();
    let claude = agents
        .remove("claude-code")
        .expect("claude-code among the installed agents");
    let codex = agents
        .remove("codex")
        .expect("codex among the installed agents");
    let claude_api = FakeModelApi::start();
    let codex_api = FakeModelApi::start();
    let ports = vec![claude_api.port(), codex_api.port()];
    let stack = Stack::start(pre.web_dist.clone(), move |settings| {
        let commands = &mut settings.worker.agent_commands;
        commands.insert("claude-code".into(), claude);
        commands.insert("codex".into(), codex);
        settings.worker.sandbox.loopback_ports = ports;
    })
    .await;
    let app = &stack.app;

    // Two people, both members of acme: an owner and a member.
    api::bootstrap::add_owner(&app.db, app.org.id, "ada")
        .await
        .expect("ada owns acme");
    let grace = app.sign_in("grace").await;
    app.add_member(app.org.id, grace.user_id, MemberRole::Member)
        .await;

    // The project the scenarios work on, on a local repository.
    let repo = app.git_repo("dashboard");
    let project: wire::Project = json_as(
        app.post(
            "projects",
            &serde_json::json!({
                "name": "Dashboard",
                "repository_url": repo.to_string_lossy(),
                "key_prefix": "WEB",
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    // A busier board for timing the first render.
    let timed = app.create_project("Timed board", None).await;
    let statuses = ["todo", "inprogress", "inreview", "done"];
    for n in 0..TIMED_BOARD_TASKS {
        let res = app
            .post(
                &format!("projects/{}/tasks", timed.id),
                &serde_json::json!({
                    "title": format!("Task number {n}"),
                    "status": statuses[n % statuses.len()],
                    "labels": if n % 3 == 0 { vec!["backend"] } else { vec!["web"] },
                }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    // The 100k-entry run, started now so it is done by the time the suite measures it.
    let big_project = app.create_project("Big run", None).await;
    let big_task = app
        .create_task(big_project.id, "Print a hundred thousand lines")
        .await;
    let big_started = Instant::now();
    let big = app
        .start_attempt(big_task.id, &format!("seq 1 {BIG_RUN_LINES}"))
        .await;

    // Workers take attempts: otherwise every scenario would wait in vain.
    let picked_up = loop {
        let a: wire::Attempt = json_as(
            app.get(&format!("attempts/{}", big.id)).await,
            StatusCode::OK,
        )
        .await;
        if a.status != AttemptStatus::Queued && a.status != AttemptStatus::Scheduled {
            break Instant::now();
        }
        assert!(
            big_started.elapsed() < Duration::from_secs(60),
            "no worker picked an attempt up in 60 s: is target/debug/switchyard-worker current \
             (`cargo build --workspace --bins`)? {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let real_agents = real_agent_fixtures(app, &claude_api, &codex_api).await;

    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).expect("the screenshots folder");
    let mut suite = tokio::process::Command::new("node");
    suite
        .arg(&pre.suite)
        .current_dir(repo_root().join("web"))
        .env("SY_CHROMIUM", &pre.chromium)
        .env("SY_E2E_BASE", &app.base)
        .env("SY_E2E_ORG", &app.org.slug)
        // A full-scope org token, for the suite's own checks of what the server holds.
        .env("SY_E2E_TOKEN", &app.token)
        .env("SY_E2E_OWNER", "ada")
        .env("SY_E2E_MEMBER", &grace.login)
        .env("SY_E2E_PROJECT", project.id.to_string())
        .env("SY_E2E_PROJECT_NAME", &project.name)
        .env("SY_E2E_TIMED_PROJECT", timed.id.to_string())
        .env("SY_E2E_TIMED_TASKS", TIMED_BOARD_TASKS.to_string())
        .env("SY_E2E_BIG_TASK", big_task.id.to_string())
        .env("SY_E2E_BIG_ATTEMPT", big.id.to_string())
        .env("SY_E2E_BIG_LINES", BIG_RUN_LINES.to_string())
        .env("SY_E2E_SHOTS", &shots)
        .env("SY_E2E_WEB_DIST", &pre.web_dist)
        .env("SY_E2E_REAL_AGENTS", real_agents.to_string())
        .kill_on_drop(true);
    if let Some(file) = std::env::var_os("SY_E2E_SERVE") {
        serve_until_removed(&suite, Path::new(&file)).await;
        stack.stop().await;
        return;
    }
    let status = match tokio::time::timeout(SUITE_LIMIT, suite.status()).await {
        Ok(status) => status.expect("run node web/e2e/run.mjs"),
        Err(_) => panic!("the browser suite took longer than {SUITE_LIMIT:?}"),
    };
    assert!(status.success(), "the browser suite failed: {status}");

    // What the browser did is on the server too.
    let tasks: wire::Page<wire::Task> = json_as(
        app.get(&format!("projects/{}/tasks?limit=100", project.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        tasks
            .items
            .iter()
            .any(|t| t.title == "Edit the readme from the browser"
                && t.status == shared::domain::TaskStatus::Done),
        "the task the browser created and dragged is done: {:?}",
        tasks.items
    );
    let big_now: wire::Attempt = json_as(
        app.get(&format!("attempts/{}", big.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(big_now.status, AttemptStatus::Succeeded, "{big_now:?}");
    // The conversations the browser showed came from the real CLIs talking to the fakes.
    for (name, fake) in [("Claude Code", &claude_api), ("Codex", &codex_api)] {
        assert_eq!(fake.remaining(), 0, "{name} asked for every scripted turn");
        assert!(
            fake.turn_requests()[0]
                .body_text()
                .contains("release notes"),
            "{name} sent the browser's prompt"
        );
    }
    if let (Some(start), Some(end)) = (big_now.started_at, big_now.finished_at) {
        println!(
            "the {BIG_RUN_LINES}-line run: queued → running {:?}, ran {} ms",
            picked_up.duration_since(big_started),
            (end - start).num_milliseconds()
        );
    }
    stack.stop().await;
}

/// A project for the real agents, a task and an org executor profile for each of Claude
/// Code and Codex pointed at its fake (as docs/EXECUTORS.md says a team points them at its
/// gateway), and the model's turns scripted: a shell command writing a file and showing
/// it, then a final answer. Returns what the suite's scenarios need, as JSON.
async fn real_agent_fixtures(
    app: &TestApp,
    claude_api: &FakeModelApi,
    codex_api: &FakeModelApi,
) -> serde_json::Value {
    let provider = format!(
        r#"model_providers.fake={{name="fake",base_url="{}/v1",wire_api="responses",env_key="OPENAI_API_KEY"}}"#,
        codex_api.url()
    );
    for profile in [
        claude_gateway_profile(&claude_api.url()),
        json!({
            "name": "gateway-codex",
            "executor": "codex",
            "variants": { "default": {
                "permission_policy": "auto",
                "model": "gpt-5-codex",
                "extra_args": ["-c", "model_provider=fake", "-c", provider],
                "env": { "OPENAI_API_KEY": "sk-fake-codex" },
            }},
        }),
    ] {
        let res = app.post("executor-profiles", &profile).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{profile}");
    }
    claude_api.script([
        Turn::tool(
            "Bash",
            json!({
                "command": "printf '# Release notes\\n\\n- Real agents in the task view\\n' > NOTES.md && cat NOTES.md",
                "description": "Write the release notes",
            }),
        )
        .with_text("I'll write the release notes to NOTES.md.")
        .with_usage(2140, 48),
        Turn::text("The release notes are in **NOTES.md**: one entry, for real agents in the task view.")
            .with_usage(2310, 27),
    ]);
    codex_api.script([
        Turn::tool(
            CODEX_SHELL,
            json!({
                "cmd": "printf '# Release notes\\n\\n- Real agents in the task view\\n' > NOTES.md && cat NOTES.md",
            }),
        )
        .with_text("Writing the release notes to NOTES.md.")
        .with_usage(3120, 52),
        Turn::text("The release notes are in **NOTES.md**: one entry, for real agents in the task view.")
            .with_usage(3290, 25),
    ]);

    let project = app.create_project("Real agents", None).await;
    let claude_task = app
        .create_task(project.id, "Release notes by Claude Code")
        .await;
    let codex_task = app.create_task(project.id, "Release notes by Codex").await;
    json!({
        "claude-code": { "task": claude_task.id, "profile": "gateway-claude" },
        "codex": { "task": codex_task.id, "profile": "gateway-codex" },
    })
}

/// For working on the suite: instead of running it, writes its environment to `file` as
/// shell `export` lines (`SY_E2E_SERVE=/tmp/e2e.env cargo nextest run -p api dashboard
/// --no-capture`, then `. /tmp/e2e.env && node web/e2e/run.mjs` as often as needed) and
/// keeps the stack up until the file is removed.
async fn serve_until_removed(suite: &tokio::process::Command, file: &Path) {
    let exports: String = suite
        .as_std()
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?, v?.to_str()?)))
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    std::fs::write(file, exports).expect("write the suite's environment");
    println!(
        "stack up; its environment is in {}: remove it to stop",
        file.display()
    );
    while file.exists() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
