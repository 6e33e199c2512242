//! Organizations: a person's orgs, creating one (slug rules, ownership), reading and
//! changing its settings, and reading its audit log.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::db::schema::audit_events;
use shared::domain::{ActorType, MemberRole};
use shared::wire::{self, MyOrg, Page};
use uuid::Uuid;

use crate::helpers::{Person, TestApp, assert_error, json_as};

/// `POST /api/v1/orgs` as `person`.
async fn create_org(app: &TestApp, person: &Person, slug: &str) -> reqwest::Response {
    app.request_path_as(&person.access_token, Method::POST, "/api/v1/orgs")
        .json(&json!({ "slug": slug, "name": format!("{slug} inc.") }))
        .send()
        .await
        .expect("POST /orgs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_creates_an_org_and_becomes_its_owner() {
    let app = TestApp::spawn().await;
    let alice = app.sign_in("alice").await;

    let res = create_org(&app, &alice, "rocket-42").await;
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/api/v1/orgs/rocket-42")
    );
    let org: wire::Organization = json_as(res, StatusCode::CREATED).await;
    assert_eq!(org.slug, "rocket-42");
    assert_eq!(org.name, "rocket-42 inc.");
    assert_eq!(org.max_concurrent_attempts, 4);

    let res = app
        .request_path_as(&alice.access_token, Method::GET, "/api/v1/orgs")
        .send()
        .await
        .expect("GET /orgs");
    let mine: Page<MyOrg> = json_as(res, StatusCode::OK).await;
    assert_eq!(mine.items.len(), 1, "alice is in no other org");
    assert_eq!(mine.items[0].id, org.id);
    assert_eq!(mine.items[0].role, MemberRole::Owner);

    let res = app
        .request_path_as(&alice.access_token, Method::GET, "/api/v1/orgs/rocket-42")
        .send()
        .await
        .expect("GET org");
    let got: wire::Organization = json_as(res, StatusCode::OK).await;
    assert_eq!(got.id, org.id);

    let res = app
        .request_path_as(
            &alice.access_token,
            Method::GET,
            "/api/v1/orgs/rocket-42/members",
        )
        .send()
        .await
        .expect("GET members");
    let members: Page<wire::Member> = json_as(res, StatusCode::OK).await;
    assert_eq!(members.items.len(), 1);
    assert_eq!(members.items[0].user.id, alice.user_id);
    assert_eq!(members.items[0].role, MemberRole::Owner);

    // Someone else does not see it, and gets 404 rather than 403.
    let bob = app.sign_in("bob").await;
    let res = app
        .request_path_as(&bob.access_token, Method::GET, "/api/v1/orgs")
        .send()
        .await
        .expect("GET /orgs");
    let theirs: Page<MyOrg> = json_as(res, StatusCode::OK).await;
    assert!(theirs.items.is_empty());
    let res = app
        .request_path_as(&bob.access_token, Method::GET, "/api/v1/orgs/rocket-42")
        .send()
        .await
        .expect("GET org");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_and_reserved_slugs_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.sign_in("alice").await;
    let too_long = "a".repeat(41);
    for slug in [
        "ab",
        too_long.as_str(),
        "-rocket",
        "rocket-",
        "Rocket",
        "rock_et",
        "rock et",
        "",
        "api",
        "admin",
        "settings",
        "github",
        "orgs",
    ] {
        let res = create_org(&app, &alice, slug).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app
        .request_path_as(&alice.access_token, Method::POST, "/api/v1/orgs")
        .json(&json!({ "slug": "rocket", "name": "   " }))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app
        .request_path_as(&alice.access_token, Method::POST, "/api/v1/orgs")
        .json(&json!({ "slug": "rocket" }))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;

    let res = app
        .request_path_as(&alice.access_token, Method::GET, "/api/v1/orgs")
        .send()
        .await
        .expect("GET /orgs");
    let mine: Page<MyOrg> = json_as(res, StatusCode::OK).await;
    assert!(mine.items.is_empty(), "no refused org was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_slug_is_a_conflict() {
    let app = TestApp::spawn().await;
    let alice = app.sign_in("alice").await;
    // `acme` belongs to an org alice cannot even see.
    let res = create_org(&app, &alice, "acme").await;
    assert_error(res, StatusCode::CONFLICT, "slug_taken").await;

    let res = create_org(&app, &alice, "rocket").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bob = app.sign_in("bob").await;
    let res = create_org(&app, &bob, "rocket").await;
    assert_error(res, StatusCode::CONFLICT, "slug_taken").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn org_api_tokens_cannot_list_or_create_orgs() {
    let app = TestApp::spawn().await;
    let res = app
        .request_path_as(&app.token, Method::GET, "/api/v1/orgs")
        .send()
        .await
        .expect("GET /orgs");
    assert_error(res, StatusCode::FORBIDDEN, "person_required").await;
    let res = app
        .request_path_as(&app.token, Method::POST, "/api/v1/orgs")
        .json(&json!({ "slug": "rocket", "name": "Rocket" }))
        .send()
        .await
        .expect("POST /orgs");
    assert_error(res, StatusCode::FORBIDDEN, "person_required").await;

    let res = app
        .client
        .get(app.url("/api/v1/orgs"))
        .send()
        .await
        .expect("GET /orgs");
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_renames_the_org_and_sets_its_concurrency_limit() {
    let app = TestApp::spawn().await;
    let res = app
        .request_path_as(&app.token, Method::PATCH, "/api/v1/orgs/acme")
        .json(&json!({ "name": "Acme Corp", "max_concurrent_attempts": 12 }))
        .send()
        .await
        .expect("PATCH");
    let org: wire::Organization = json_as(res, StatusCode::OK).await;
    assert_eq!(org.name, "Acme Corp");
    assert_eq!(org.max_concurrent_attempts, 12);
    assert_eq!(org.slug, "acme");

    // Past the default ceiling (`quotas.max_concurrent_attempts`, 20) as below 1.
    for limit in [0, 21, 1001, -1] {
        let res = app
            .request_path_as(&app.token, Method::PATCH, "/api/v1/orgs/acme")
            .json(&json!({ "max_concurrent_attempts": limit }))
            .send()
            .await
            .expect("PATCH");
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app
        .request_path_as(&app.token, Method::PATCH, "/api/v1/orgs/acme")
        .json(&json!({ "slug": "other" }))
        .send()
        .await
        .expect("PATCH");
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;

    // A member reads the org but may not change it.
    let bob = app.sign_in("bob").await;
    app.add_member(app.org.id, bob.user_id, MemberRole::Member)
        .await;
    let res = app
        .request_path_as(&bob.access_token, Method::GET, "/api/v1/orgs/acme")
        .send()
        .await
        .expect("GET");
    let seen: wire::Organization = json_as(res, StatusCode::OK).await;
    assert_eq!(seen.max_concurrent_attempts, 12);
    let res = app
        .request_path_as(&bob.access_token, Method::PATCH, "/api/v1/orgs/acme")
        .json(&json!({ "name": "Bob's" }))
        .send()
        .await
        .expect("PATCH");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Another org's token: 404.
    let (_, other_token) = app.other_org("globex").await;
    let res = app
        .request_path_as(&other_token, Method::PATCH, "/api/v1/orgs/acme")
        .json(&json!({ "name": "Taken over" }))
        .send()
        .await
        .expect("PATCH");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// Inserts an audit event `age_secs` seconds old.
async fn audit_event(app: &TestApp, org_id: Uuid, action: &str, age_secs: i64) -> Uuid {
    let id = Uuid::now_v7();
    let mut conn = app.db.system().await.expect("conn");
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(id),
            audit_events::org_id.eq(org_id),
            audit_events::actor_type.eq(ActorType::Token),
            audit_events::actor_id.eq(Some(Uuid::now_v7())),
            audit_events::actor_label.eq("ci"),
            audit_events::action.eq(action),
            audit_events::target_type.eq(Some("tasks")),
            audit_events::target_id.eq(Some(id.to_string())),
            audit_events::method.eq("PATCH"),
            audit_events::path.eq("/api/v1/orgs/acme/tasks/x"),
            audit_events::status.eq(200),
            audit_events::source_ip.eq(Some("10.0.0.7")),
            audit_events::request_id.eq(Some("req-1")),
            audit_events::created_at.eq(Utc::now() - Duration::seconds(age_secs)),
        ))
        .execute(&mut conn)
        .await
        .expect("insert audit event");
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_reads_newest_first_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for (i, action) in [
        "tasks.update",
        "tasks.create",
        "tasks.update",
        "projects.create",
        "tasks.update",
    ]
    .into_iter()
    .enumerate()
    {
        // Oldest first: the first inserted is 50 s old, the last 10 s.
        ids.push(audit_event(&app, app.org.id, action, 50 - 10 * i as i64).await);
    }
    let (globex, _) = app.other_org("globex").await;
    audit_event(&app, globex.id, "tasks.update", 1).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let rel = match &cursor {
            None => "audit-events?limit=2".to_owned(),
            Some(c) => format!("audit-events?limit=2&cursor={c}"),
        };
        let page: Page<wire::AuditEvent> = json_as(app.get(&rel).await, StatusCode::OK).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let newest_first: Vec<Uuid> = ids.iter().rev().copied().collect();
    assert_eq!(
        seen.iter().map(|e| e.id).collect::<Vec<_>>(),
        newest_first,
        "every event of this org once, newest first, none of globex's"
    );
    let first = &seen[0];
    assert_eq!(first.actor_type, ActorType::Token);
    assert_eq!(first.actor_label, "ci");
    assert_eq!(first.method, "PATCH");
    assert_eq!(first.status, 200);
    assert_eq!(first.source_ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(first.request_id.as_deref(), Some("req-1"));
    assert_eq!(first.target_type.as_deref(), Some("tasks"));

    let page: Page<wire::AuditEvent> = json_as(
        app.get("audit-events?action=tasks.update").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[4], ids[2], ids[0]]
    );

    let res = app.get("audit-events?cursor=garbage").await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = app.get("audit-events?limit=0").await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Admins only: a member's person and a write token are refused.
    let bob = app.sign_in("bob").await;
    app.add_member(app.org.id, bob.user_id, MemberRole::Member)
        .await;
    let res = app
        .request_as(&bob.access_token, Method::GET, "audit-events")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let write = app
        .mint_token(
            &[
                shared::domain::TokenScope::Read,
                shared::domain::TokenScope::Write,
            ],
            None,
        )
        .await;
    let res = app
        .request_as(&write, Method::GET, "audit-events")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_quotas_cap_what_tenants_set_for_themselves() {
    let app = TestApp::spawn_with(|s| {
        s.quotas.max_orgs_per_person = 2;
        s.quotas.max_concurrent_attempts = 30;
        s.quotas.allowed_resource_classes = vec!["small".into()];
        s.quotas
            .org_resource_classes
            .insert("roomy".into(), vec!["small".into(), "large".into()]);
    })
    .await;

    // The concurrency an org sets stops at the operator's ceiling, not at 1000.
    let patch = |limit: i32| {
        app.request_path_as(&app.token, Method::PATCH, "/api/v1/orgs/acme")
            .json(&json!({ "max_concurrent_attempts": limit }))
            .send()
    };
    let message = assert_error(
        patch(31).await.expect("PATCH"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(message.contains("between 1 and 30"), "{message}");
    let org: wire::Organization = json_as(patch(30).await.expect("PATCH"), StatusCode::OK).await;
    assert_eq!(org.max_concurrent_attempts, 30);

    // A person creates at most `max_orgs_per_person` orgs; others still can.
    let carol = app.sign_in("carol").await;
    for slug in ["carol-one", "roomy"] {
        assert_eq!(
            create_org(&app, &carol, slug).await.status(),
            StatusCode::CREATED
        );
    }
    assert_error(
        create_org(&app, &carol, "carol-three").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "org_limit_reached",
    )
    .await;
    let dave = app.sign_in("dave").await;
    assert_eq!(
        create_org(&app, &dave, "dave-one").await.status(),
        StatusCode::CREATED
    );

    // Resource classes: the default list for most orgs, the org's own list where set.
    let profile = |class: &str| {
        json!({
            "name": format!("sized-{class}"),
            "executor": "script",
            "variants": { "default": {}, "big": { "resource_class": class } },
        })
    };
    let message = assert_error(
        app.post("executor-profiles", &profile("large")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "resource_class_not_allowed",
    )
    .await;
    assert!(message.contains("variants.big.resource_class"), "{message}");
    assert_eq!(
        app.post("executor-profiles", &profile("small"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .request_path_as(
            &carol.access_token,
            Method::POST,
            "/api/v1/orgs/roomy/executor-profiles",
        )
        .json(&profile("large"))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);

    // A profile stored before the operator narrowed the list cannot start an attempt.
    let mut conn = app.db.system().await.expect("conn");
    diesel::insert_into(shared::db::schema::executor_profiles::table)
        .values(shared::db::models::NewExecutorProfile {
            id: Uuid::now_v7(),
            org_id: app.org.id,
            project_id: None,
            name: "old-large",
            executor: "script",
            variants: json!({ "default": { "resource_class": "large" } }),
        })
        .execute(&mut conn)
        .await
        .expect("insert profile");
    drop(conn);
    let project = app.create_project("Quota", None).await;
    let task = app.create_task(project.id, "t").await;
    assert_error(
        app.post(
            &format!("tasks/{}/attempts", task.id),
            &json!({ "prompt": "echo", "profile": "old-large" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "resource_class_not_allowed",
    )
    .await;
}
