//! Invitations: created by admins for a GitHub login or an email, accepted once by the
//! person they name, refused when expired, used, revoked or for someone else.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use shared::db::schema::{invitations, users};
use shared::domain::{MemberRole, TokenScope};
use shared::wire::{self, AcceptedInvitation, CreatedInvitation, InvitationStatus, MyOrg, Page};
use uuid::Uuid;

use crate::helpers::{Person, TestApp, assert_error, json_as};

/// Invites `body` with the app's full-scope token.
async fn invite(app: &TestApp, body: serde_json::Value) -> CreatedInvitation {
    json_as(app.post("invitations", &body).await, StatusCode::CREATED).await
}

async fn accept(app: &TestApp, person: &Person, token: &str) -> Response {
    app.request_path_as(
        &person.access_token,
        Method::POST,
        "/api/v1/invitations/accept",
    )
    .json(&json!({ "token": token }))
    .send()
    .await
    .expect("POST accept")
}

async fn pending(app: &TestApp) -> Vec<wire::Invitation> {
    let page: Page<wire::Invitation> = json_as(app.get("invitations").await, StatusCode::OK).await;
    page.items
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_login_accepts_once_and_joins_with_the_role() {
    let app = TestApp::spawn().await;
    let created = invite(&app, json!({ "github_login": "Bob", "role": "member" })).await;
    assert!(created.token.starts_with("syi_"));
    assert_eq!(
        created.accept_url,
        format!(
            "{}/invitations/accept?token={}",
            app.env.settings.api.public_url.trim_end_matches('/'),
            created.token
        )
    );
    let invitation = &created.invitation;
    assert_eq!(invitation.status, InvitationStatus::Pending);
    assert_eq!(invitation.github_login.as_deref(), Some("Bob"));
    assert_eq!(invitation.role, MemberRole::Member);
    assert!(invitation.invited_by.is_none(), "sent by a token");
    let ttl = invitation.expires_at - Utc::now();
    let configured = Duration::seconds(app.env.settings.auth.invitation_ttl_secs as i64);
    assert!(ttl <= configured && ttl > configured - Duration::minutes(1));

    let listed = app.get("invitations").await.text().await.expect("body");
    assert!(listed.contains(&invitation.id.to_string()));
    assert!(
        !listed.contains(&created.token),
        "listings never show the secret"
    );

    let bob = app.sign_in("bob").await;
    let res = accept(&app, &bob, &created.token).await;
    let accepted: AcceptedInvitation = json_as(res, StatusCode::OK).await;
    assert_eq!(accepted.org.slug, "acme");
    assert_eq!(accepted.role, MemberRole::Member);

    let res = app
        .request_path_as(&bob.access_token, Method::GET, "/api/v1/orgs")
        .send()
        .await
        .expect("GET /orgs");
    let orgs: Page<MyOrg> = json_as(res, StatusCode::OK).await;
    assert_eq!(orgs.items.len(), 1);
    assert_eq!(orgs.items[0].role, MemberRole::Member);

    // Single use, and gone from the outstanding list.
    let res = accept(&app, &bob, &created.token).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invitation_used").await;
    assert!(pending(&app).await.is_empty());
    // An accepted invitation cannot be revoked.
    let res = app.delete(&format!("invitations/{}", invitation.id)).await;
    assert_error(res, StatusCode::CONFLICT, "invitation_used").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invited_email_matches_the_persons_email_ignoring_case() {
    let app = TestApp::spawn().await;
    let carol = app.sign_in("carol").await;
    let mut conn = app.db.untenanted().await.expect("conn");
    diesel::update(users::table.find(carol.user_id))
        .set(users::email.eq("carol@example.com"))
        .execute(&mut conn)
        .await
        .expect("set email");
    drop(conn);

    let created = invite(
        &app,
        json!({ "email": "Carol@Example.COM", "role": "viewer" }),
    )
    .await;
    let res = accept(&app, &carol, &created.token).await;
    let accepted: AcceptedInvitation = json_as(res, StatusCode::OK).await;
    assert_eq!(accepted.role, MemberRole::Viewer);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_invitation_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let created = invite(&app, json!({ "github_login": "bob", "role": "member" })).await;
    let mut conn = app.db.system().await.expect("conn");
    diesel::update(invitations::table.find(created.invitation.id))
        .set(invitations::expires_at.eq(Utc::now() - Duration::minutes(1)))
        .execute(&mut conn)
        .await
        .expect("expire");
    drop(conn);

    let listed = pending(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, InvitationStatus::Expired);

    let bob = app.sign_in("bob").await;
    let res = accept(&app, &bob, &created.token).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invitation_expired").await;
    let res = app
        .request_as(&bob.access_token, Method::GET, "members")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_invitation_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let created = invite(&app, json!({ "github_login": "bob", "role": "admin" })).await;
    let rel = format!("invitations/{}", created.invitation.id);
    assert_eq!(app.delete(&rel).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&rel).await.status(),
        StatusCode::NO_CONTENT,
        "revoking twice is harmless"
    );
    assert!(pending(&app).await.is_empty());

    let bob = app.sign_in("bob").await;
    let res = accept(&app, &bob, &created.token).await;
    assert_error(res, StatusCode::BAD_REQUEST, "invitation_revoked").await;

    let res = app.delete(&format!("invitations/{}", Uuid::now_v7())).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Another org's admin cannot revoke acme's invitation.
    let again = invite(&app, json!({ "github_login": "bob", "role": "admin" })).await;
    let (_, globex_token) = app.other_org("globex").await;
    let res = app
        .request_path_as(
            &globex_token,
            Method::DELETE,
            &format!("/api/v1/orgs/globex/invitations/{}", again.invitation.id),
        )
        .send()
        .await
        .expect("DELETE");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = accept(&app, &bob, &again.token).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_for_someone_else_is_refused() {
    let app = TestApp::spawn().await;
    let created = invite(&app, json!({ "github_login": "bob", "role": "member" })).await;
    let mallory = app.sign_in("mallory").await;
    let res = accept(&app, &mallory, &created.token).await;
    assert_error(res, StatusCode::FORBIDDEN, "invitation_mismatch").await;

    // It was not used up: Bob still gets in.
    let bob = app.sign_in("BOB").await;
    let res = accept(&app, &bob, &created.token).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Tokens cannot accept anything; unknown secrets are not found.
    let res = app
        .request_path_as(&app.token, Method::POST, "/api/v1/invitations/accept")
        .json(&json!({ "token": created.token }))
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::FORBIDDEN, "person_required").await;
    let unknown = api::auth::tokens::mint_secret("syi_").secret;
    for token in [unknown.as_str(), "garbage", ""] {
        let res = accept(&app, &bob, token).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn members_are_not_invited_and_cannot_accept_again() {
    let app = TestApp::spawn().await;
    let created = invite(&app, json!({ "github_login": "bob", "role": "member" })).await;
    let bob = app.sign_in("bob").await;
    app.add_member(app.org.id, bob.user_id, MemberRole::Viewer)
        .await;

    let res = accept(&app, &bob, &created.token).await;
    assert_error(res, StatusCode::CONFLICT, "already_member").await;
    let res = app
        .post(
            "invitations",
            &json!({ "github_login": "BOB", "role": "admin" }),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "already_member").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invitation_input_and_owner_invites_are_checked() {
    let app = TestApp::spawn().await;
    for body in [
        json!({ "role": "member" }),
        json!({ "github_login": "bob", "email": "bob@example.com", "role": "member" }),
        json!({ "github_login": "-bob", "role": "member" }),
        json!({ "github_login": "bob_underscore", "role": "member" }),
        json!({ "email": "not-an-email", "role": "member" }),
        json!({ "email": "two words@example.com", "role": "member" }),
    ] {
        let res = app.post("invitations", &body).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app
        .post("invitations", &json!({ "github_login": "bob" }))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;

    // Only owners invite owners: not an admin person, not an admin token.
    let alice = app.sign_in("alice").await;
    app.add_member(app.org.id, alice.user_id, MemberRole::Owner)
        .await;
    let carol = app.sign_in("carol").await;
    app.add_member(app.org.id, carol.user_id, MemberRole::Admin)
        .await;
    let owner_invite = json!({ "github_login": "dave", "role": "owner" });
    let res = app
        .request_as(&carol.access_token, Method::POST, "invitations")
        .json(&owner_invite)
        .send()
        .await
        .expect("POST");
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = app.post("invitations", &owner_invite).await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = app
        .request_as(&alice.access_token, Method::POST, "invitations")
        .json(&owner_invite)
        .send()
        .await
        .expect("POST");
    let created: CreatedInvitation = json_as(res, StatusCode::CREATED).await;
    assert_eq!(created.invitation.invited_by, Some(alice.user_id));
    // An admin still invites the other roles.
    let res = app
        .request_as(&carol.access_token, Method::POST, "invitations")
        .json(&json!({ "email": "erin@example.com", "role": "admin" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::CREATED);

    // Listing invitations is for admins.
    let bob = app.sign_in("bob").await;
    app.add_member(app.org.id, bob.user_id, MemberRole::Member)
        .await;
    let res = app
        .request_as(&bob.access_token, Method::GET, "invitations")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let read = app.mint_token(&[TokenScope::Read], None).await;
    let res = app
        .request_as(&read, Method::GET, "invitations")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}
