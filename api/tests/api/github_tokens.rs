//! Installation access tokens through the production client (`shared::github::GithubApp`)
//! against the fake GitHub: minted with an RS256 app JWT, scoped to one repository,
//! cached until five minutes before they expire and renewed after, replaced when GitHub
//! refuses one, and never shown in an error, a `Debug` output or a log line.

use reqwest::Method;
use shared::github::{Auth, GithubApp, TokenScope};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fake_github::FakeGithub;
use crate::fake_github_app::FakeRepo;
use crate::github_webhooks::{CODERTOCAT_ID, HELLO_WORLD, INSTALLATION, SPACE};

async fn fake_and_app() -> (FakeGithub, GithubApp) {
    let fake = FakeGithub::start().await;
    fake.app().add_installation(
        INSTALLATION,
        "Codertocat",
        CODERTOCAT_ID,
        "User",
        vec![
            FakeRepo::new(HELLO_WORLD, "Codertocat/Hello-World"),
            FakeRepo::new(SPACE, "Codertocat/Space"),
        ],
    );
    let app = GithubApp::from_settings(&fake.app_settings())
        .expect("valid App settings")
        .expect("App configured");
    (fake, app)
}

#[tokio::test]
async fn an_installation_token_is_cached_then_renewed_before_it_expires() {
    let (fake, app) = fake_and_app().await;
    // Renewal starts five minutes before expiry: these tokens are fresh for two seconds.
    fake.app()
        .set_token_lifetime(Duration::from_secs(5 * 60 + 2));
    let first = app
        .repository_token(INSTALLATION, HELLO_WORLD)
        .await
        .expect("token");
    let again = app
        .repository_token(INSTALLATION, HELLO_WORLD)
        .await
        .expect("cached token");
    assert_eq!(first.expose(), again.expose());
    assert_eq!(fake.app().counts().tokens_minted, 1);

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let renewed = app
        .repository_token(INSTALLATION, HELLO_WORLD)
        .await
        .expect("renewed token");
    assert_ne!(renewed.expose(), first.expose());
    assert_eq!(fake.app().counts().tokens_minted, 2);
    assert_eq!(fake.app().counts().jwt_refused, 0, "every app JWT verified");
}

#[tokio::test]
async fn a_repository_token_reaches_only_that_repository() {
    let (fake, app) = fake_and_app().await;
    let token = app
        .repository_token(INSTALLATION, SPACE)
        .await
        .expect("token");
    assert_eq!(
        fake.app().token_scope(token.expose()),
        Some(Some(vec![SPACE]))
    );
    // Git's token asks for `contents: write` and nothing more.
    assert_eq!(
        fake.app().token_permissions(token.expose()),
        Some(Some([("contents".to_owned(), "write".to_owned())].into()))
    );
    #[derive(serde::Deserialize)]
    struct Listed {
        repositories: Vec<shared::github::GithubRepo>,
    }
    let scope = TokenScope::Repository {
        installation_id: INSTALLATION,
        repository_id: SPACE,
    };
    let listed: Listed = app
        .json(
            Auth::Installation(scope),
            Method::GET,
            "/installation/repositories",
            None::<&()>,
        )
        .await
        .expect("list with the scoped token");
    let ids: Vec<i64> = listed.repositories.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![SPACE]);
    // The installation-wide token sees both.
    let all = app
        .installation_repositories(INSTALLATION)
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn git_tokens_carry_only_contents_write_and_api_tokens_the_apps_permissions() {
    let (fake, app) = fake_and_app().await;
    let git = app
        .repository_token(INSTALLATION, HELLO_WORLD)
        .await
        .expect("git token");
    let api = app
        .token(TokenScope::RepositoryApi {
            installation_id: INSTALLATION,
            repository_id: HELLO_WORLD,
        })
        .await
        .expect("api token");
    assert_ne!(git.expose(), api.expose(), "two scopes, two tokens");
    assert_eq!(
        fake.app().token_permissions(git.expose()),
        Some(Some([("contents".to_owned(), "write".to_owned())].into()))
    );
    assert!(fake.app().token_permits(git.expose(), "contents", "write"));
    for permission in ["pull_requests", "issues", "members"] {
        assert!(
            !fake.app().token_permits(git.expose(), permission, "read"),
            "{permission}"
        );
    }
    // REST calls the platform makes (pull requests, comments) keep the App's permissions.
    assert_eq!(fake.app().token_permissions(api.expose()), Some(None));
    assert_eq!(
        fake.app().token_scope(api.expose()),
        Some(Some(vec![HELLO_WORLD]))
    );
    assert!(
        fake.app()
            .token_permits(api.expose(), "pull_requests", "write")
    );

    // The client comments with the App's token; git's token is refused for it.
    app.comment(
        INSTALLATION,
        HELLO_WORLD,
        "Codertocat/Hello-World",
        1,
        "Done",
    )
    .await
    .expect("comment with the App's token");
    assert_eq!(fake.repos().comments().len(), 1);
    let refused = app
        .json::<serde_json::Value>(
            Auth::Installation(TokenScope::Repository {
                installation_id: INSTALLATION,
                repository_id: HELLO_WORLD,
            }),
            Method::POST,
            "/repos/Codertocat/Hello-World/issues/1/comments",
            Some(&serde_json::json!({"body": "from git's token"})),
        )
        .await
        .expect_err("contents: write cannot comment");
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(403), "{refused}");
    assert_eq!(fake.repos().comments().len(), 1);
}

#[tokio::test]
async fn a_token_github_refuses_is_replaced_once() {
    let (fake, app) = fake_and_app().await;
    app.installation_repositories(INSTALLATION)
        .await
        .expect("list");
    fake.app().revoke_tokens();
    let again = app
        .installation_repositories(INSTALLATION)
        .await
        .expect("list after a 401");
    assert_eq!(again.len(), 2);
    assert_eq!(fake.app().counts().tokens_minted, 2);
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_never_appear_in_errors_debug_output_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // This test's runtime is single-threaded: every task it starts logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let (fake, app) = fake_and_app().await;
    let token = app
        .repository_token(INSTALLATION, HELLO_WORLD)
        .await
        .expect("token");
    let jwt = app.app_jwt().expect("jwt");
    assert!(!format!("{token:?}").contains(token.expose()));
    assert!(!format!("{app:?}").contains("PRIVATE KEY"));

    // GitHub refuses: the installation is suspended, the token revoked.
    fake.app().suspend(INSTALLATION, true);
    fake.app().revoke_tokens();
    let mut errors = Vec::new();
    for result in [
        app.installation_repositories(INSTALLATION)
            .await
            .map(|_| ()),
        app.repository_token(INSTALLATION, SPACE).await.map(|_| ()),
        app.json::<serde_json::Value>(
            Auth::Installation(TokenScope::Repository {
                installation_id: INSTALLATION,
                repository_id: HELLO_WORLD,
            }),
            Method::GET,
            "/installation/repositories",
            None::<&()>,
        )
        .await
        .map(|_| ()),
    ] {
        let err = result.expect_err("refused");
        errors.push(format!("{err} {err:?}"));
    }
    // Unreachable GitHub.
    let mut settings = fake.app_settings();
    settings.api_url = "http://127.0.0.1:9".into();
    let down = GithubApp::from_settings(&settings)
        .expect("settings")
        .expect("app");
    let err = down
        .installation_token(INSTALLATION)
        .await
        .expect_err("unreachable");
    errors.push(format!("{err} {err:?}"));

    let logs =
        String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(
        logs.contains("minted a GitHub installation token"),
        "logs captured: {logs}"
    );
    use secrecy::ExposeSecret;
    let mut secrets = fake.app().issued_tokens();
    secrets.push(token.expose().to_owned());
    secrets.push(jwt.expose_secret().to_owned());
    for secret in &secrets {
        for error in &errors {
            assert!(
                !error.contains(secret.as_str()),
                "a secret in an error: {error}"
            );
        }
        assert!(!logs.contains(secret.as_str()), "a secret in the logs");
    }
    assert!(
        errors[0].contains("403") || errors[0].contains("401"),
        "{}",
        errors[0]
    );
}
