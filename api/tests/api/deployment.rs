//! A deployment (anything but `development` mode) fails closed: it refuses to start on
//! the development shortcuts, and refuses what only a developer's machine may do.

use reqwest::StatusCode;
use secrecy::SecretString;
use shared::config::Settings;

use crate::helpers::{TestApp, assert_error};

/// Turns a test's settings into a deployment's: development mode off, a real sealing
/// key (the test environment already has a signing key).
pub fn deployment(s: &mut Settings) {
    s.development = false;
    s.auth.dev_login = false;
    s.secrets.allow_dev_key = false;
    s.secrets.keys.insert(
        "k1".into(),
        SecretString::from("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
    );
    assert!(!s.auth.signing_keys.is_empty());
}

/// Why `api::spawn` refused `settings`, or a panic when it started.
async fn refusal(settings: Settings) -> String {
    match api::spawn(settings).await {
        Ok(_) => panic!("the api must refuse to start"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_development_mode_the_api_refuses_to_start_on_development_shortcuts() {
    let app = TestApp::spawn_with(deployment).await;
    let mut base = app.env.settings.clone();
    deployment(&mut base);

    // Environment variables only: no sealing key, no signing key.
    let mut bare = base.clone();
    bare.secrets.keys.clear();
    assert!(refusal(bare).await.contains("secrets.keys is empty"));
    let mut unsigned = base.clone();
    unsigned.auth.signing_keys.clear();
    assert!(
        refusal(unsigned)
            .await
            .contains("auth.signing_keys is empty")
    );
    // The public development key and the development sign-in, when asked for.
    let mut dev_key = base.clone();
    dev_key.secrets.allow_dev_key = true;
    assert!(refusal(dev_key).await.contains("secrets.allow_dev_key"));
    let mut login = base.clone();
    login.auth.dev_login = true;
    assert!(refusal(login).await.contains("auth.dev_login"));
    // Development mode itself only on a loopback URL.
    let mut public_dev = base.clone();
    public_dev.development = true;
    public_dev.api.public_url = "https://switchyard.example.com".into();
    assert!(refusal(public_dev).await.contains("loopback"));

    // With real keys it serves, and the development sign-in is not there.
    let res = app
        .client
        .post(app.url("/api/v1/auth/dev/login"))
        .json(&serde_json::json!({ "login": "mallory" }))
        .send()
        .await
        .expect("POST /auth/dev/login");
    assert_error(res, StatusCode::FORBIDDEN, "dev_login_disabled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_development_mode_projects_on_local_paths_are_refused() {
    let app = TestApp::spawn_with(deployment).await;
    let repo = app.git_repo("on-the-server");
    for url in [
        repo.to_string_lossy().into_owned(),
        format!("file://{}", repo.display()),
    ] {
        let res = app
            .post(
                "projects",
                &serde_json::json!({ "name": "Local", "repository_url": url }),
            )
            .await;
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "repository_local_forbidden",
        )
        .await;
    }
    // Development mode (every other test) accepts them.
    let dev = TestApp::spawn().await;
    dev.create_project("Local", None).await;
}
