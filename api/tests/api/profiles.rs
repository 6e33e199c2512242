//! Executor profiles: built-in, org and project; validation; resolution when an attempt
//! starts; isolation between orgs.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::db::schema::task_attempts;
use shared::domain::TokenScope;
use shared::executors::{
    ExecutorKind, PermissionPolicy, ProfileSource, ReasoningEffort, ResolvedProfile,
};
use shared::wire::{self, Page};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

async fn list(app: &TestApp, rel: &str) -> Vec<wire::ExecutorProfile> {
    let page: Page<wire::ExecutorProfile> = json_as(app.get(rel).await, StatusCode::OK).await;
    assert_eq!(page.next_cursor, None);
    page.items
}

fn find<'a>(profiles: &'a [wire::ExecutorProfile], name: &str) -> &'a wire::ExecutorProfile {
    profiles
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("profile {name} missing from {profiles:?}"))
}

/// Starts an attempt with `body` (a prompt is added) and returns it.
async fn start(app: &TestApp, task: Uuid, mut body: serde_json::Value) -> wire::Attempt {
    body["prompt"] = json!("echo hi");
    json_as(
        app.post(&format!("tasks/{task}/attempts"), &body).await,
        StatusCode::CREATED,
    )
    .await
}

/// The snapshot stored on the attempt row.
async fn stored_snapshot(app: &TestApp, attempt: Uuid) -> (String, ResolvedProfile) {
    let mut conn = app.db.system().await.expect("conn");
    let (executor, snapshot): (String, Option<serde_json::Value>) = task_attempts::table
        .find(attempt)
        .select((task_attempts::executor, task_attempts::executor_profile))
        .first(&mut conn)
        .await
        .expect("attempt row");
    let snapshot = serde_json::from_value(snapshot.expect("a snapshot")).expect("a profile");
    (executor, snapshot)
}

#[tokio::test(flavor = "multi_thread")]
async fn builtin_profiles_are_listed_for_every_executor() {
    let app = TestApp::spawn().await;
    let profiles = list(&app, "executor-profiles").await;
    assert_eq!(profiles.len(), ExecutorKind::ALL.len());
    for kind in ExecutorKind::ALL {
        let profile = find(&profiles, kind.as_str());
        assert_eq!(profile.executor, *kind);
        assert_eq!(profile.source, ProfileSource::Builtin);
        assert_eq!(profile.overrides, None);
        assert!(profile.variants.contains_key("default"), "{profile:?}");
        assert_eq!(profile.created_at, None);
    }
    let claude = find(&profiles, "claude-code");
    assert_eq!(
        claude.variants["plan"].permission_policy,
        PermissionPolicy::Plan
    );
    assert_eq!(claude.variants["opus"].model.as_deref(), Some("opus"));
    let codex: wire::ExecutorProfile =
        json_as(app.get("executor-profiles/codex").await, StatusCode::OK).await;
    assert_eq!(
        codex.variants["high"].reasoning_effort,
        Some(ReasoningEffort::High)
    );
    let res = app.get("executor-profiles/no-such-profile").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_profile_is_created_patched_and_deleted() {
    let app = TestApp::spawn().await;
    let mut events = app.sse("events", None).await;
    let res = app
        .post(
            "executor-profiles",
            &json!({
                "name": "fast-claude",
                "executor": "claude-code",
                "variants": {
                    "default": {"model": "sonnet", "env": {"DISABLE_TELEMETRY": "1"}},
                    "deep": {"reasoning_effort": "high"},
                },
            }),
        )
        .await;
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a Location header");
    let created: wire::ExecutorProfile = json_as(res, StatusCode::CREATED).await;
    assert!(
        location.ends_with("/executor-profiles/fast-claude"),
        "{location}"
    );
    assert_eq!(created.source, ProfileSource::Org);
    assert_eq!(created.overrides, None);
    assert_eq!(created.executor, ExecutorKind::ClaudeCode);
    assert_eq!(created.variants["default"].model.as_deref(), Some("sonnet"));
    assert_eq!(created.variants["default"].env["DISABLE_TELEMETRY"], "1");
    assert!(created.created_at.is_some());
    let event = events.next().await;
    assert_eq!(event.event, "executor_profile.created");
    let wire::OrgEvent::ExecutorProfileCreated(sent) = event.json() else {
        panic!("an executor_profile.created event: {}", event.data);
    };
    assert_eq!(sent.name, "fast-claude");

    let listed = list(&app, "executor-profiles").await;
    assert_eq!(find(&listed, "fast-claude"), &created);
    assert_eq!(listed.len(), ExecutorKind::ALL.len() + 1);

    // Each variant given replaces that variant; null removes one; others stay.
    let patched: wire::ExecutorProfile = json_as(
        app.patch(
            "executor-profiles/fast-claude",
            &json!({"variants": {"deep": null, "plan": {"permission_policy": "plan"}}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = patched.variants.keys().map(String::as_str).collect();
    assert_eq!(names, ["default", "plan"]);
    assert_eq!(patched.variants["default"], created.variants["default"]);
    assert_eq!(events.next().await.event, "executor_profile.updated");

    // A new executor must suit every variant kept.
    let res = app
        .patch(
            "executor-profiles/fast-claude",
            &json!({"executor": "codex"}),
        )
        .await;
    let message = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        message.starts_with("variants.plan.permission_policy:"),
        "{message}"
    );
    let res = app
        .patch(
            "executor-profiles/fast-claude",
            &json!({"variants": {"default": null}}),
        )
        .await;
    let message = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(message.contains("default"), "{message}");
    let moved: wire::ExecutorProfile = json_as(
        app.patch(
            "executor-profiles/fast-claude",
            &json!({"executor": "opencode", "variants": {"default": {"model": "anthropic/claude-sonnet-4"}}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved.executor, ExecutorKind::OpenCode);

    let res = app
        .post(
            "executor-profiles",
            &json!({"name": "fast-claude", "executor": "claude-code", "variants": {"default": {}}}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "profile_exists").await;

    let res = app.delete("executor-profiles/fast-claude").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get("executor-profiles/fast-claude").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.delete("executor-profiles/fast-claude").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .patch("executor-profiles/fast-claude", &json!({"variants": {}}))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn patching_a_builtin_profile_gives_the_org_its_own_copy_until_deleted() {
    let app = TestApp::spawn().await;
    // An empty patch changes nothing and stores nothing.
    let same: wire::ExecutorProfile = json_as(
        app.patch("executor-profiles/claude-code", &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(same.source, ProfileSource::Builtin);

    let own: wire::ExecutorProfile = json_as(
        app.patch(
            "executor-profiles/claude-code",
            &json!({"variants": {"opus": {"model": "claude-opus-4-1"}}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(own.source, ProfileSource::Org);
    assert_eq!(own.overrides, Some(ProfileSource::Builtin));
    assert_eq!(
        own.variants["opus"].model.as_deref(),
        Some("claude-opus-4-1")
    );
    assert_eq!(
        own.variants["plan"].permission_policy,
        PermissionPolicy::Plan,
        "the built-in variants are the starting point"
    );
    let listed = list(&app, "executor-profiles").await;
    assert_eq!(listed.len(), ExecutorKind::ALL.len());
    assert_eq!(find(&listed, "claude-code"), &own);

    // A profile named after an executor must run that executor.
    let res = app
        .patch(
            "executor-profiles/claude-code",
            &json!({"executor": "codex"}),
        )
        .await;
    let message = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(message.starts_with("executor:"), "{message}");

    let res = app.delete("executor-profiles/claude-code").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let back: wire::ExecutorProfile = json_as(
        app.get("executor-profiles/claude-code").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(back.source, ProfileSource::Builtin);
    assert_eq!(back.variants["opus"].model.as_deref(), Some("opus"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_profiles_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "Bad Name", "executor": "codex", "variants": {"default": {}}}),
            "validation_failed",
            "name:",
        ),
        (
            json!({"name": "p", "executor": "hal9000", "variants": {"default": {}}}),
            "unknown_executor",
            "hal9000",
        ),
        (
            json!({"name": "p", "executor": "codex", "variants": {"fast": {}}}),
            "validation_failed",
            "variants: must include a \"default\" variant",
        ),
        (
            json!({"name": "p", "executor": "codex", "variants": []}),
            "validation_failed",
            "variants:",
        ),
        (
            json!({"name": "p", "executor": "gemini", "variants": {"default": {"reasoning_effort": "high"}}}),
            "validation_failed",
            "variants.default.reasoning_effort: gemini has no reasoning effort setting",
        ),
        (
            json!({"name": "p", "executor": "codex", "variants": {"default": {}, "plan": {"permission_policy": "plan"}}}),
            "validation_failed",
            "variants.plan.permission_policy: codex supports only auto, supervised",
        ),
        (
            json!({"name": "p", "executor": "codex", "variants": {"default": {"reasoning_effort": "extreme"}}}),
            "validation_failed",
            "variants.default: unknown variant `extreme`",
        ),
        (
            json!({"name": "p", "executor": "codex", "variants": {"default": {"env": {"lower": "x"}}}}),
            "validation_failed",
            "variants.default.env:",
        ),
        (
            json!({"name": "p", "executor": "codex", "variants": {"default": {"turbo": true}}}),
            "validation_failed",
            "unknown field `turbo`",
        ),
        (
            json!({"name": "p", "executor": "script", "variants": {"default": {"model": "opus"}}}),
            "validation_failed",
            "variants.default.model: script does not take a model",
        ),
        (
            json!({"name": "codex", "executor": "gemini", "variants": {"default": {}}}),
            "validation_failed",
            "executor:",
        ),
    ];
    for (body, code, expected) in cases {
        let res = app.post("executor-profiles", &body).await;
        let message = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert!(message.contains(expected), "{body}: {message}");
    }
    let res = app
        .post(
            "executor-profiles",
            &json!({"name": "p", "executor": "codex", "variants": {"default": {}}, "extra": 1}),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(
        list(&app, "executor-profiles").await.len(),
        ExecutorKind::ALL.len(),
        "nothing was stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_override_wins_over_the_org_profile_which_wins_over_the_builtin() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Board", None).await;
    let other_project = app.create_project("Other", None).await;
    let task = app.create_task(project.id, "Use codex").await;
    let other_task = app.create_task(other_project.id, "Also codex").await;

    let builtin = start(&app, task.id, json!({"profile": "codex:high"})).await;
    let profile = builtin.profile.clone().expect("a profile on the attempt");
    assert_eq!(builtin.executor, "codex");
    assert_eq!(profile.source, ProfileSource::Builtin);
    assert_eq!(profile.variant, "high");
    assert_eq!(
        profile.options.reasoning_effort,
        Some(ReasoningEffort::High)
    );
    assert_eq!(
        stored_snapshot(&app, builtin.id).await,
        ("codex".into(), profile)
    );

    let res = app
        .post(
            "executor-profiles",
            &json!({"name": "codex", "executor": "codex", "variants": {
                "default": {"model": "org-default"},
                "high": {"model": "org-high", "reasoning_effort": "high"},
            }}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let org = start(&app, task.id, json!({"profile": "codex:high"})).await;
    let profile = org.profile.clone().expect("profile");
    assert_eq!(profile.source, ProfileSource::Org);
    assert_eq!(profile.options.model.as_deref(), Some("org-high"));

    let res = app
        .request(
            Method::PUT,
            &format!("projects/{}/executor-profiles/codex", project.id),
        )
        .json(&json!({"executor": "codex", "variants": {
            "default": {"model": "project-default"},
            "high": {"model": "project-high", "reasoning_effort": "medium"},
        }}))
        .send()
        .await
        .expect("PUT");
    let put: wire::ExecutorProfile = json_as(res, StatusCode::CREATED).await;
    assert_eq!(put.source, ProfileSource::Project);
    assert_eq!(put.project_id, Some(project.id));
    assert_eq!(put.overrides, Some(ProfileSource::Org));

    let overridden = start(&app, task.id, json!({"profile": "codex:high"})).await;
    let profile = overridden.profile.clone().expect("profile");
    assert_eq!(profile.source, ProfileSource::Project);
    assert_eq!(profile.options.model.as_deref(), Some("project-high"));
    assert_eq!(
        profile.options.reasoning_effort,
        Some(ReasoningEffort::Medium)
    );
    assert_eq!(
        stored_snapshot(&app, overridden.id).await,
        ("codex".into(), profile)
    );
    // `executor` alone names the profile of that executor, default variant.
    let by_executor = start(&app, task.id, json!({"executor": "codex"})).await;
    let profile = by_executor.profile.expect("profile");
    assert_eq!(
        (
            profile.source,
            profile.variant.as_str(),
            profile.options.model.as_deref()
        ),
        (ProfileSource::Project, "default", Some("project-default"))
    );
    // Another project of the org still gets the org's profile.
    let elsewhere = start(&app, other_task.id, json!({"profile": "codex"})).await;
    assert_eq!(
        elsewhere.profile.expect("profile").options.model.as_deref(),
        Some("org-default")
    );
    // Nothing named: the project's default executor (`script`), built-in.
    let plain = start(&app, task.id, json!({})).await;
    assert_eq!(plain.executor, "script");
    assert_eq!(
        plain.profile.expect("profile").source,
        ProfileSource::Builtin
    );

    // The project's view shows the override; the org's view does not.
    let project_view = list(&app, &format!("projects/{}/executor-profiles", project.id)).await;
    assert_eq!(find(&project_view, "codex").source, ProfileSource::Project);
    let org_view = list(&app, "executor-profiles").await;
    assert_eq!(find(&org_view, "codex").source, ProfileSource::Org);
    let one: wire::ExecutorProfile = json_as(
        app.get(&format!("projects/{}/executor-profiles/codex", project.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one, put);
    let gemini: wire::ExecutorProfile = json_as(
        app.get(&format!("projects/{}/executor-profiles/gemini", project.id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(gemini.source, ProfileSource::Builtin);

    // Replacing the override answers 200; removing it brings the org's back.
    let res = app
        .request(
            Method::PUT,
            &format!("projects/{}/executor-profiles/codex", project.id),
        )
        .json(&json!({"executor": "codex", "variants": {"default": {"model": "v2"}}}))
        .send()
        .await
        .expect("PUT");
    let replaced: wire::ExecutorProfile = json_as(res, StatusCode::OK).await;
    assert!(!replaced.variants.contains_key("high"), "replaced whole");
    let res = app
        .delete(&format!("projects/{}/executor-profiles/codex", project.id))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let after = start(&app, task.id, json!({"profile": "codex"})).await;
    assert_eq!(after.profile.expect("profile").source, ProfileSource::Org);
    let res = app
        .delete(&format!("projects/{}/executor-profiles/codex", project.id))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Started attempts keep what they were started with.
    let again: wire::Attempt = json_as(
        app.get(&format!("attempts/{}", overridden.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        again.profile.expect("profile").options.model.as_deref(),
        Some("project-high")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_profiles_and_variants_are_refused_and_queue_nothing() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Board", None).await;
    let task = app.create_task(project.id, "t").await;
    let rel = format!("tasks/{}/attempts", task.id);
    let cases = [
        (
            json!({"profile": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_profile",
            "nope",
        ),
        (
            json!({"profile": "codex:turbo"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_profile",
            "variants: default, high, supervised",
        ),
        (
            json!({"executor": "hal9000"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_executor",
            "claude-code",
        ),
        (
            json!({"profile": "claude-code", "executor": "codex"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "runs claude-code, not codex",
        ),
        (
            json!({"profile": "Codex:High"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "profile:",
        ),
    ];
    for (mut body, status, code, expected) in cases {
        body["prompt"] = json!("echo");
        let message = assert_error(app.post(&rel, &body).await, status, code).await;
        assert!(message.contains(expected), "{body}: {message}");
    }
    let attempts: wire::Page<wire::Attempt> = json_as(app.get(&rel).await, StatusCode::OK).await;
    assert!(attempts.items.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_profiles_are_invisible() {
    let app = TestApp::spawn().await;
    let (other, other_token) = app.other_org("globex").await;
    let other_url = |rel: &str| format!("{}/api/v1/orgs/{}/{rel}", app.base, other.slug);
    let res = app
        .client
        .post(other_url("executor-profiles"))
        .bearer_auth(&other_token)
        .json(&json!({"name": "secret-sauce", "executor": "amp", "variants": {"default": {}}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .client
        .patch(other_url("executor-profiles/codex"))
        .bearer_auth(&other_token)
        .json(&json!({"variants": {"default": {"model": "globex-model"}}}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::OK);

    let mine = list(&app, "executor-profiles").await;
    assert!(mine.iter().all(|p| p.name != "secret-sauce"));
    assert_eq!(find(&mine, "codex").source, ProfileSource::Builtin);
    let res = app.get("executor-profiles/secret-sauce").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let project = app.create_project("Board", None).await;
    let task = app.create_task(project.id, "t").await;
    let res = app
        .post(
            &format!("tasks/{}/attempts", task.id),
            &json!({"prompt": "x", "profile": "secret-sauce"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_profile").await;
    let codex = start(&app, task.id, json!({"profile": "codex"})).await;
    assert_eq!(codex.profile.expect("profile").options.model, None);

    // The other org cannot read or override this org's project.
    let res = app
        .client
        .get(other_url(&format!(
            "projects/{}/executor-profiles",
            project.id
        )))
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .client
        .put(other_url(&format!(
            "projects/{}/executor-profiles/codex",
            project.id
        )))
        .bearer_auth(&other_token)
        .json(&json!({"executor": "codex", "variants": {"default": {}}}))
        .send()
        .await
        .expect("PUT");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_profiles_needs_the_write_scope() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Board", None).await;
    let read = app.mint_token(&[TokenScope::Read], None).await;
    let res = app
        .request_as(&read, Method::GET, "executor-profiles")
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let body = json!({"name": "p", "executor": "codex", "variants": {"default": {}}});
    let put_body = json!({"executor": "codex", "variants": {"default": {}}});
    let attempts = [
        (Method::POST, "executor-profiles".to_owned(), body.clone()),
        (
            Method::PATCH,
            "executor-profiles/codex".to_owned(),
            json!({}),
        ),
        (
            Method::DELETE,
            "executor-profiles/codex".to_owned(),
            json!({}),
        ),
        (
            Method::PUT,
            format!("projects/{}/executor-profiles/codex", project.id),
            put_body,
        ),
        (
            Method::DELETE,
            format!("projects/{}/executor-profiles/codex", project.id),
            json!({}),
        ),
    ];
    for (method, rel, payload) in attempts {
        let res = app
            .request_as(&read, method.clone(), &rel)
            .json(&payload)
            .send()
            .await
            .expect("request");
        let message = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(message.contains("write"), "{method} {rel}: {message}");
    }
    let write = app.mint_token(&[TokenScope::Write], None).await;
    let res = app
        .request_as(&write, Method::POST, "executor-profiles")
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);
}
