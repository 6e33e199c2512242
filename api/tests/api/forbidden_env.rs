//! Profile `env` and org secret names become environment variables of attempts, so
//! they cannot name a variable that changes how programs load or run (`LD_PRELOAD`,
//! `BASH_ENV`, `NODE_OPTIONS`, `GIT_*`, ...), which certificates are trusted, where
//! traffic goes (the proxy variables the worker sets), or that the worker sets for the
//! sandbox (`PATH`, `HOME`, `SWITCHYARD_*`). Such a profile answers 422
//! `profile_env_forbidden`, such a secret 422 `secret_name_forbidden`, each naming the
//! variable; nothing is stored.

use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::wire::{self, Page};

use crate::helpers::{TestApp, assert_error, json_as};

/// One of each family the rule covers.
const FORBIDDEN: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "IFS",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PERL5OPT",
    "RUBYOPT",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "PATH",
    "HOME",
    "SHELL",
    "TMPDIR",
    "GIT_SSH_COMMAND",
    "GIT_CONFIG_GLOBAL",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SWITCHYARD_ATTEMPT_ID",
];

fn profile_with_env(name: &str, var: &str) -> serde_json::Value {
    json!({"name": name, "executor": "codex", "variants": {
        "default": {"model": "gpt-5-codex"},
        "tuned": {"env": {"DISABLE_TELEMETRY": "1", var: "x"}},
    }})
}

async fn assert_env_refused(res: reqwest::Response, var: &str) {
    let message = assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "profile_env_forbidden",
    )
    .await;
    assert!(
        message.contains(&format!("variants.tuned.env.{var}")),
        "{var}: {message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn org_profiles_cannot_set_variables_that_change_how_programs_run() {
    let app = TestApp::spawn().await;
    for var in FORBIDDEN {
        let res = app
            .post("executor-profiles", &profile_with_env("tuned-codex", var))
            .await;
        assert_env_refused(res, var).await;
    }
    let res = app.get("executor-profiles/tuned-codex").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // A harmless variable is fine; a PATCH cannot add a forbidden one later.
    let created: wire::ExecutorProfile = json_as(
        app.post(
            "executor-profiles",
            &profile_with_env("tuned-codex", "RUST_LOG"),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    for var in ["LD_PRELOAD", "GIT_ASKPASS", "HTTPS_PROXY"] {
        let res = app
            .patch(
                "executor-profiles/tuned-codex",
                &json!({"variants": {"tuned": {"env": {var: "/tmp/x"}}}}),
            )
            .await;
        assert_env_refused(res, var).await;
    }
    let after: wire::ExecutorProfile = json_as(
        app.get("executor-profiles/tuned-codex").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after.variants, created.variants);
}

#[tokio::test(flavor = "multi_thread")]
async fn project_profile_overrides_cannot_set_them_either() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Env", None).await;
    let rel = format!("projects/{}/executor-profiles/codex", project.id);
    for var in [
        "LD_AUDIT",
        "BASH_ENV",
        "PYTHONHOME",
        "HOME",
        "SWITCHYARD_TOKEN",
    ] {
        let res = app
            .request(Method::PUT, &rel)
            .json(&json!({"executor": "codex", "variants": {
                "default": {},
                "tuned": {"env": {var: "x"}},
            }}))
            .send()
            .await
            .expect("PUT");
        assert_env_refused(res, var).await;
    }
    let listed: Page<wire::ExecutorProfile> = json_as(
        app.get(&format!("projects/{}/executor-profiles", project.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        listed.items.iter().all(|p| p.project_id.is_none()),
        "no override was stored: {listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn org_secrets_cannot_be_named_after_them() {
    let app = TestApp::spawn().await;
    for name in FORBIDDEN {
        let res = app
            .request(Method::PUT, &format!("secrets/{name}"))
            .json(&json!({ "value": "/tmp/evil.so" }))
            .send()
            .await
            .expect("PUT");
        let message = assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret_name_forbidden",
        )
        .await;
        assert!(message.contains(name), "{name}: {message}");
    }
    let listed: Page<wire::SecretInfo> = json_as(app.get("secrets").await, StatusCode::OK).await;
    assert!(listed.items.is_empty(), "{listed:?}");

    let res = app
        .request(Method::PUT, "secrets/ANTHROPIC_API_KEY")
        .json(&json!({ "value": "sk-ant-fine" }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);
}
