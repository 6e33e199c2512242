//! The audit log records every state-changing request made in an org: who, what, which
//! resource, from where, the outcome and the request id; reads are not recorded.

use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::db::models::AuditEvent;
use shared::db::schema::audit_events;
use shared::domain::ActorType;

use crate::helpers::TestApp;

async fn events(app: &TestApp, org: uuid::Uuid) -> Vec<AuditEvent> {
    let mut conn = app.db.org(org).await.expect("db");
    audit_events::table
        .filter(audit_events::org_id.eq(org))
        .order(audit_events::id.asc())
        .select(AuditEvent::as_select())
        .load(&mut conn)
        .await
        .expect("audit events")
}

#[tokio::test]
async fn writes_are_recorded_with_actor_action_target_and_outcome() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Audited", None).await;
    let res = app
        .request(Method::PATCH, &format!("projects/{}", project.id))
        .header("x-request-id", "req-audit-1")
        .json(&json!({ "name": "Renamed" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), StatusCode::OK);
    // A refused write is recorded with its status.
    let res = app
        .request(Method::PATCH, &format!("projects/{}", project.id))
        .json(&json!({ "name": "" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Reads, and requests that never authenticated, are not.
    app.get("projects").await;
    let res = app
        .client
        .delete(app.org_url(&format!("projects/{}", project.id)))
        .send()
        .await
        .expect("anonymous delete");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let recorded = events(&app, app.org.id).await;
    let actions: Vec<(&str, i32)> = recorded
        .iter()
        .map(|e| (e.action.as_str(), e.status))
        .collect();
    assert_eq!(
        actions,
        [
            ("projects.create", 201),
            ("projects.update", 200),
            ("projects.update", 422)
        ]
    );
    let update = &recorded[1];
    assert_eq!(update.actor_type, ActorType::Token);
    assert_eq!(update.actor_label, "bootstrap");
    assert_eq!(update.target_type.as_deref(), Some("projects"));
    assert_eq!(update.target_id, Some(project.id.to_string()));
    assert_eq!(update.method, "PATCH");
    assert_eq!(
        update.path,
        format!("/api/v1/orgs/acme/projects/{}", project.id)
    );
    assert_eq!(update.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(update.request_id.as_deref(), Some("req-audit-1"));
}

#[tokio::test]
async fn a_persons_writes_name_them_and_each_org_sees_only_its_own_events() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/dev/login"))
        .json(&json!({ "login": "auditor" }))
        .send()
        .await
        .expect("sign in");
    let signed: shared::wire::SignedIn = res.json().await.expect("tokens");
    {
        let mut conn = app.db.system().await.expect("db");
        diesel::insert_into(shared::db::schema::memberships::table)
            .values((
                shared::db::schema::memberships::id.eq(uuid::Uuid::now_v7()),
                shared::db::schema::memberships::org_id.eq(app.org.id),
                shared::db::schema::memberships::user_id.eq(signed.user.id),
                shared::db::schema::memberships::role.eq(shared::domain::MemberRole::Admin),
            ))
            .execute(&mut conn)
            .await
            .expect("membership");
    }
    let res = app
        .request_as(&signed.access_token, Method::PUT, "secrets/API_KEY")
        .json(&json!({ "value": "s3cret" }))
        .send()
        .await
        .expect("put secret");
    assert!(res.status().is_success(), "{}", res.status());
    let (other, other_token) = app.other_org("umbrella").await;
    let res = app
        .request_as(&other_token, Method::PUT, "secrets/API_KEY")
        .json(&json!({ "value": "x" }))
        .send()
        .await
        .expect("cross-org write");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let recorded = events(&app, app.org.id).await;
    assert_eq!(
        recorded.len(),
        1,
        "the other org's refused token is not in acme's log"
    );
    assert_eq!(recorded[0].actor_type, ActorType::User);
    assert_eq!(recorded[0].actor_label, "auditor");
    assert_eq!(recorded[0].actor_id, Some(signed.user.id));
    assert_eq!(recorded[0].action, "secrets.put");
    assert_eq!(recorded[0].target_id.as_deref(), Some("API_KEY"));
    // Row-level security: the other org's connection sees none of acme's events.
    assert!(events(&app, other.id).await.is_empty());
}
