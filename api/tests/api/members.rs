//! Members: listing (emails only for admins and the person), joining only by accepting
//! an invitation, changing roles and removing, with the owner rules (only owners touch
//! the owner role; the last owner stays).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use shared::db::schema::{memberships, users};
use shared::domain::{MemberRole, TokenScope};
use shared::wire::{self, Page};
use uuid::Uuid;

use crate::helpers::{Person, TestApp, assert_error, json_as};

/// A signed-in person who is a member of `acme` with `role`.
async fn member(app: &TestApp, login: &str, role: MemberRole) -> Person {
    let person = app.sign_in(login).await;
    app.add_member(app.org.id, person.user_id, role).await;
    person
}

async fn set_role(app: &TestApp, as_token: &str, user: Uuid, role: &str) -> Response {
    app.request_as(as_token, Method::PATCH, &format!("members/{user}"))
        .json(&json!({ "role": role }))
        .send()
        .await
        .expect("PATCH member")
}

async fn remove(app: &TestApp, as_token: &str, user: Uuid) -> Response {
    app.request_as(as_token, Method::DELETE, &format!("members/{user}"))
        .send()
        .await
        .expect("DELETE member")
}

/// The role of `user` in acme, from the database (`None`: not a member).
async fn role_of(app: &TestApp, user: Uuid) -> Option<MemberRole> {
    let mut conn = app.db.system().await.expect("conn");
    memberships::table
        .filter(memberships::org_id.eq(app.org.id))
        .filter(memberships::user_id.eq(user))
        .select(memberships::role)
        .first(&mut conn)
        .await
        .optional()
        .expect("role")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_lists_members_but_cannot_invite() {
    let app = TestApp::spawn().await;
    let alice = member(&app, "alice", MemberRole::Owner).await;
    let vera = member(&app, "vera", MemberRole::Viewer).await;

    let res = app
        .request_as(&vera.access_token, Method::GET, "members")
        .send()
        .await
        .expect("GET members");
    let page: Page<wire::Member> = json_as(res, StatusCode::OK).await;
    let listed: Vec<(String, MemberRole)> = page
        .items
        .iter()
        .map(|m| (m.user.login.clone(), m.role))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("alice".to_owned(), MemberRole::Owner),
            ("vera".to_owned(), MemberRole::Viewer)
        ]
    );
    assert_eq!(page.items[0].user.id, alice.user_id);
    assert!(page.items[0].joined_at <= page.items[1].joined_at);

    let res = app
        .request_as(&vera.access_token, Method::POST, "invitations")
        .json(&json!({ "github_login": "mallory", "role": "viewer" }))
        .send()
        .await
        .expect("POST invitation");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // A read-only token lists members too.
    let read = app.mint_token(&[TokenScope::Read], None).await;
    let res = app
        .request_as(&read, Method::GET, "members?limit=1")
        .send()
        .await
        .expect("GET members");
    let first: Page<wire::Member> = json_as(res, StatusCode::OK).await;
    assert_eq!(first.items.len(), 1);
    let cursor = first.next_cursor.expect("a second page");
    let res = app
        .request_as(
            &read,
            Method::GET,
            &format!("members?limit=1&cursor={cursor}"),
        )
        .send()
        .await
        .expect("GET members");
    let second: Page<wire::Member> = json_as(res, StatusCode::OK).await;
    assert_eq!(second.items[0].user.id, vera.user_id);
    assert!(second.next_cursor.is_none());
}

/// Sets `user`'s email address, as a GitHub sign-in would have (their primary address,
/// perhaps a private one).
async fn set_email(app: &TestApp, user: Uuid, email: &str) {
    let mut conn = app.db.untenanted().await.expect("conn");
    diesel::update(users::table.find(user))
        .set(users::email.eq(email))
        .execute(&mut conn)
        .await
        .expect("set email");
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_added_without_accepting_and_nothing_tells_who_has_signed_in() {
    let app = TestApp::spawn().await;
    let bob = app.sign_in("bob").await;
    set_email(&app, bob.user_id, "bob@private.example").await;

    // The direct add by login is gone: an admin token (or an admin) cannot put a person
    // into an org, and learns neither whether the login exists nor their email.
    for login in ["bob", "nobody-here"] {
        let res = app
            .post("members", &json!({ "login": login, "role": "admin" }))
            .await;
        let status = res.status();
        let body = res.text().await.expect("body");
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
            "{login}: {status} {body}"
        );
        assert!(!body.contains("private.example"), "{body}");
    }
    assert_eq!(role_of(&app, bob.user_id).await, None);

    // An invitation answers the same whether or not the login has ever signed in.
    let mut answers = Vec::new();
    for login in ["bob", "nobody-here"] {
        let res = app
            .post(
                "invitations",
                &json!({ "github_login": login, "role": "admin" }),
            )
            .await;
        let created: wire::CreatedInvitation = json_as(res, StatusCode::CREATED).await;
        assert_eq!(created.invitation.email, None);
        answers.push(created);
    }
    assert_eq!(role_of(&app, bob.user_id).await, None);

    // Bob joins by accepting, and only then reaches the org.
    let res = app
        .request_as(&bob.access_token, Method::GET, "projects")
        .send()
        .await
        .expect("GET projects");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .request_path_as(
            &bob.access_token,
            Method::POST,
            "/api/v1/invitations/accept",
        )
        .json(&json!({ "token": answers[0].token }))
        .send()
        .await
        .expect("accept");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(role_of(&app, bob.user_id).await, Some(MemberRole::Admin));
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_are_shown_only_to_the_person_and_the_orgs_admins() {
    let app = TestApp::spawn().await;
    let alice = member(&app, "alice", MemberRole::Admin).await;
    let bob = member(&app, "bob", MemberRole::Member).await;
    let vera = member(&app, "vera", MemberRole::Viewer).await;
    for (who, email) in [
        (&alice, "alice@a.example"),
        (&bob, "bob@b.example"),
        (&vera, "vera@v.example"),
    ] {
        set_email(&app, who.user_id, email).await;
    }
    let emails = async |token: &str| -> Vec<(String, Option<String>)> {
        let res = app
            .request_as(token, Method::GET, "members")
            .send()
            .await
            .expect("GET members");
        let page: Page<wire::Member> = json_as(res, StatusCode::OK).await;
        page.items
            .into_iter()
            .map(|m| (m.user.login, m.user.email))
            .collect()
    };
    let everyone = vec![
        ("alice".to_owned(), Some("alice@a.example".to_owned())),
        ("bob".to_owned(), Some("bob@b.example".to_owned())),
        ("vera".to_owned(), Some("vera@v.example".to_owned())),
    ];
    assert_eq!(emails(&alice.access_token).await, everyone);
    assert_eq!(emails(&app.token).await, everyone);
    // A member or a viewer sees their own address, nobody else's.
    assert_eq!(
        emails(&bob.access_token).await,
        vec![
            ("alice".to_owned(), None),
            ("bob".to_owned(), Some("bob@b.example".to_owned())),
            ("vera".to_owned(), None),
        ]
    );
    let read = app.mint_token(&[TokenScope::Read], None).await;
    assert!(emails(&read).await.iter().all(|(_, e)| e.is_none()));
    assert_eq!(
        emails(&vera.access_token).await[2],
        ("vera".to_owned(), Some("vera@v.example".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_owners_grant_take_or_remove_the_owner_role() {
    let app = TestApp::spawn().await;
    let alice = member(&app, "alice", MemberRole::Owner).await;
    let carol = member(&app, "carol", MemberRole::Admin).await;
    let bob = member(&app, "bob", MemberRole::Member).await;
    app.sign_in("dave").await;

    // An admin may not make anyone owner, demote an owner, or remove one.
    let res = set_role(&app, &carol.access_token, bob.user_id, "owner").await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = set_role(&app, &carol.access_token, carol.user_id, "owner").await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = app
        .request_as(&carol.access_token, Method::POST, "invitations")
        .json(&json!({ "github_login": "dave", "role": "owner" }))
        .send()
        .await
        .expect("POST invitation");
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = set_role(&app, &carol.access_token, alice.user_id, "admin").await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = remove(&app, &carol.access_token, alice.user_id).await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    // Nor may an org API token with the admin scope: tokens are never owners.
    let res = set_role(&app, &app.token, bob.user_id, "owner").await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    assert_eq!(role_of(&app, alice.user_id).await, Some(MemberRole::Owner));
    assert_eq!(role_of(&app, bob.user_id).await, Some(MemberRole::Member));

    // An admin manages the other roles.
    let res = set_role(&app, &carol.access_token, bob.user_id, "viewer").await;
    let changed: wire::Member = json_as(res, StatusCode::OK).await;
    assert_eq!(changed.role, MemberRole::Viewer);

    // An owner grants the owner role, and removes an owner when one remains.
    let res = set_role(&app, &alice.access_token, bob.user_id, "owner").await;
    let changed: wire::Member = json_as(res, StatusCode::OK).await;
    assert_eq!(changed.role, MemberRole::Owner);
    let res = remove(&app, &alice.access_token, bob.user_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(role_of(&app, bob.user_id).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_owner_cannot_leave_be_demoted_or_removed() {
    let app = TestApp::spawn().await;
    let alice = member(&app, "alice", MemberRole::Owner).await;
    let carol = member(&app, "carol", MemberRole::Admin).await;

    let res = remove(&app, &alice.access_token, alice.user_id).await;
    assert_error(res, StatusCode::CONFLICT, "last_owner").await;
    let res = set_role(&app, &alice.access_token, alice.user_id, "admin").await;
    assert_error(res, StatusCode::CONFLICT, "last_owner").await;
    // Removal by anyone else needs an owner, and there is no other.
    let res = remove(&app, &carol.access_token, alice.user_id).await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    let res = remove(&app, &app.token, alice.user_id).await;
    assert_error(res, StatusCode::FORBIDDEN, "owner_required").await;
    assert_eq!(role_of(&app, alice.user_id).await, Some(MemberRole::Owner));

    // With a second owner, the first may step down or leave.
    let res = set_role(&app, &alice.access_token, carol.user_id, "owner").await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = set_role(&app, &alice.access_token, alice.user_id, "admin").await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = remove(&app, &alice.access_token, alice.user_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(role_of(&app, alice.user_id).await, None);

    // Carol is now the last owner.
    let res = remove(&app, &carol.access_token, carol.user_id).await;
    assert_error(res, StatusCode::CONFLICT, "last_owner").await;
    let res = set_role(&app, &carol.access_token, carol.user_id, "viewer").await;
    assert_error(res, StatusCode::CONFLICT, "last_owner").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_owners_demoting_each_other_at_once_leave_exactly_one() {
    let app = TestApp::spawn().await;
    let alice = member(&app, "alice", MemberRole::Owner).await;
    let bob = member(&app, "bob", MemberRole::Owner).await;
    for round in 0..5 {
        let (a, b) = tokio::join!(
            set_role(&app, &alice.access_token, bob.user_id, "admin"),
            set_role(&app, &bob.access_token, alice.user_id, "admin"),
        );
        let statuses = [a.status(), b.status()];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "round {round}: exactly one demotion wins, got {statuses:?}"
        );
        let owners = [
            role_of(&app, alice.user_id).await,
            role_of(&app, bob.user_id).await,
        ];
        assert_eq!(
            owners
                .iter()
                .filter(|r| **r == Some(MemberRole::Owner))
                .count(),
            1,
            "round {round}: {owners:?}"
        );
        // Both owners again for the next round.
        let mut conn = app.db.system().await.expect("conn");
        diesel::update(memberships::table.filter(memberships::org_id.eq(app.org.id)))
            .set(memberships::role.eq(MemberRole::Owner))
            .execute(&mut conn)
            .await
            .expect("reset roles");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn members_leave_but_only_admins_remove_others() {
    let app = TestApp::spawn().await;
    member(&app, "alice", MemberRole::Owner).await;
    let bob = member(&app, "bob", MemberRole::Member).await;
    let vera = member(&app, "vera", MemberRole::Viewer).await;

    let res = remove(&app, &bob.access_token, vera.user_id).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = set_role(&app, &bob.access_token, bob.user_id, "admin").await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // A viewer leaves; afterwards the org is out of reach (404, not 403).
    let res = remove(&app, &vera.access_token, vera.user_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .request_as(&vera.access_token, Method::GET, "members")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // An admin token removes a member.
    let res = remove(&app, &app.token, bob.user_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = remove(&app, &app.token, bob.user_id).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let res = set_role(&app, &app.token, Uuid::now_v7(), "viewer").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .request(Method::DELETE, "members/not-a-uuid")
        .send()
        .await
        .expect("DELETE");
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_id").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn members_of_another_org_are_not_found() {
    let app = TestApp::spawn().await;
    let (globex, globex_token) = app.other_org("globex").await;
    let gina = app.sign_in("gina").await;
    app.add_member(globex.id, gina.user_id, MemberRole::Member)
        .await;

    // Acme's admin token cannot reach Gina's membership of Globex.
    let res = set_role(&app, &app.token, gina.user_id, "viewer").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = remove(&app, &app.token, gina.user_id).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Globex's token does not reach acme's members at all.
    let res = app
        .request_as(&globex_token, Method::GET, "members")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}
