//! Installing the GitHub App for an org: the install link, the setup callback that links
//! the installation (and who may finish it), and the `installation` /
//! `installation_repositories` events that keep the org's repositories in sync.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::json;
use shared::db::schema::{audit_events, github_installations, users};
use shared::domain::{DeliveryStatus, MemberRole};
use shared::wire::{self, GithubInstallLink, GithubSetup, OrgRepository, Page};
use uuid::Uuid;

use crate::fake_github_app::{APP_SLUG, FakeRepo};
use crate::github_webhooks::{
    CODERTOCAT_ID, HELLO_WORLD, INSTALLATION, SPACE, app_with_github, deliver_ok, fixture,
    fixture_with, link_installation, wait_for,
};
use crate::helpers::{Person, TestApp, assert_error, json_as};

/// An http client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// A person of `role` in the test org whose GitHub account has id `github_id` (as a
/// GitHub sign-in would have recorded).
async fn person(app: &TestApp, login: &str, github_id: Option<i64>, role: MemberRole) -> Person {
    let person = app.sign_in(login).await;
    if let Some(id) = github_id {
        let mut conn = app.db.untenanted().await.expect("db");
        diesel::update(users::table.find(person.user_id))
            .set(users::github_id.eq(id))
            .execute(&mut conn)
            .await
            .expect("set github id");
    }
    app.add_member(app.org.id, person.user_id, role).await;
    person
}

/// The install link's state, asked for by `who` in `org`.
async fn install_state(app: &TestApp, who: &Person, org: &str) -> String {
    let res = app
        .request_path_as(
            &who.access_token,
            Method::GET,
            &format!("/api/v1/orgs/{org}/github/install"),
        )
        .send()
        .await
        .expect("install link");
    let link: GithubInstallLink = json_as(res, StatusCode::OK).await;
    let url = url::Url::parse(&link.url).expect("absolute url");
    assert_eq!(url.path(), format!("/apps/{APP_SLUG}/installations/new"));
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state in the link")
}

/// GitHub sends `who`'s browser back to the setup URL, which only forwards it to the
/// dashboard's confirmation page; there `who` confirms with `POST /github/setup`.
async fn setup(app: &TestApp, who: &Person, installation: i64, state: &str) -> reqwest::Response {
    let res = no_redirects()
        .get(app.url(&format!(
            "/api/v1/github/setup?installation_id={installation}&setup_action=install&state={state}"
        )))
        .bearer_auth(&who.access_token)
        .send()
        .await
        .expect("setup callback");
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        res.headers()[LOCATION],
        format!("/github/setup?installation_id={installation}&setup_action=install&state={state}")
            .as_str()
    );
    finish(app, who, installation, state).await
}

/// `who` confirms the setup.
async fn finish(app: &TestApp, who: &Person, installation: i64, state: &str) -> reqwest::Response {
    app.request_path_as(&who.access_token, Method::POST, "/api/v1/github/setup")
        .json(&json!({ "installation_id": installation, "state": state }))
        .send()
        .await
        .expect("finish setup")
}

/// What the confirmation page shows `who` before anything changes.
async fn preview(app: &TestApp, who: &Person, installation: i64, state: &str) -> reqwest::Response {
    app.request_path_as(
        &who.access_token,
        Method::GET,
        &format!("/api/v1/github/setup/preview?installation_id={installation}&state={state}"),
    )
    .send()
    .await
    .expect("setup preview")
}

async fn repositories(app: &TestApp) -> Vec<OrgRepository> {
    let page: Page<OrgRepository> = json_as(app.get("repositories").await, StatusCode::OK).await;
    page.items
}

fn by_github_id(repos: &[OrgRepository], id: i64) -> Option<&OrgRepository> {
    repos
        .iter()
        .find(|r| r.github.as_ref().is_some_and(|g| g.repo_id == id))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_installs_the_app_and_the_setup_callback_links_it_with_its_repositories() {
    let (fake, app) = app_with_github().await;
    let admin = person(&app, "codertocat", Some(CODERTOCAT_ID), MemberRole::Admin).await;

    let state = install_state(&app, &admin, "acme").await;
    let res = setup(&app, &admin, INSTALLATION, &state).await;
    let done: GithubSetup = json_as(res, StatusCode::OK).await;
    assert_eq!(
        (
            done.org.slug.as_str(),
            done.installation_id,
            done.action.as_str()
        ),
        ("acme", INSTALLATION, "link")
    );

    let repos = repositories(&app).await;
    let hello = by_github_id(&repos, HELLO_WORLD).expect("Hello-World synced");
    let github = hello.github.as_ref().expect("github link");
    assert_eq!(github.full_name, "Codertocat/Hello-World");
    assert_eq!(github.installation_id, Some(INSTALLATION));
    assert!(github.connected);
    assert_eq!(hello.name, "Hello-World");
    assert_eq!(
        hello.url,
        format!("{}/Codertocat/Hello-World.git", fake.url())
    );
    assert_eq!(hello.default_branch, "main");

    // The link is recorded and audited; the state worked once.
    let mut conn = app.db.system().await.expect("db");
    let (org, linked_by): (Option<Uuid>, Option<Uuid>) = github_installations::table
        .filter(github_installations::installation_id.eq(INSTALLATION))
        .select((
            github_installations::org_id,
            github_installations::linked_by,
        ))
        .first(&mut conn)
        .await
        .expect("installation");
    assert_eq!((org, linked_by), (Some(app.org.id), Some(admin.user_id)));
    let audited: i64 = audit_events::table
        .filter(audit_events::org_id.eq(app.org.id))
        .filter(audit_events::action.eq("github_installations.link"))
        .count()
        .get_result(&mut conn)
        .await
        .expect("audit");
    assert_eq!(audited, 1);
    let res = setup(&app, &admin, INSTALLATION, &state).await;
    assert_error(res, StatusCode::BAD_REQUEST, "github_state_invalid").await;

    // Another org cannot take the installation over, even with its own valid link.
    let (other, _) = app.other_org("umbrella").await;
    app.add_member(other.id, admin.user_id, MemberRole::Owner)
        .await;
    let state = install_state(&app, &admin, "umbrella").await;
    let res = setup(&app, &admin, INSTALLATION, &state).await;
    assert_error(res, StatusCode::CONFLICT, "installation_linked_elsewhere").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_an_admin_who_controls_the_github_account_can_link_an_installation() {
    let (_fake, app) = app_with_github().await;
    let admin = person(&app, "codertocat", Some(CODERTOCAT_ID), MemberRole::Admin).await;

    // A member may not even ask for the link.
    let member = person(&app, "member-1", Some(77), MemberRole::Member).await;
    let res = app
        .request_path_as(
            &member.access_token,
            Method::GET,
            "/api/v1/orgs/acme/github/install",
        )
        .send()
        .await
        .expect("install link");
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // A forged state, and another admin finishing someone else's link.
    let res = setup(&app, &admin, INSTALLATION, "deadbeefdeadbeef").await;
    assert_error(res, StatusCode::BAD_REQUEST, "github_state_invalid").await;
    let other_admin = person(&app, "other-admin", Some(88), MemberRole::Admin).await;
    let state = install_state(&app, &admin, "acme").await;
    let res = setup(&app, &other_admin, INSTALLATION, &state).await;
    assert_error(res, StatusCode::BAD_REQUEST, "github_state_invalid").await;

    // An admin whose GitHub account is not the installation's account: the edited
    // installation_id of someone else's installation is refused.
    let state = install_state(&app, &other_admin, "acme").await;
    let res = setup(&app, &other_admin, INSTALLATION, &state).await;
    assert_error(res, StatusCode::FORBIDDEN, "installation_not_yours").await;

    // An admin who never signed in with GitHub.
    let local = person(&app, "local-admin", None, MemberRole::Admin).await;
    let state = install_state(&app, &local, "acme").await;
    let res = setup(&app, &local, INSTALLATION, &state).await;
    assert_error(res, StatusCode::FORBIDDEN, "github_account_required").await;

    // An installation GitHub does not know.
    let state = install_state(&app, &admin, "acme").await;
    let res = setup(&app, &admin, 31337, &state).await;
    assert_error(res, StatusCode::BAD_REQUEST, "unknown_installation").await;

    // Nothing was linked by any of it.
    assert!(repositories(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_organization_installation_needs_an_admin_of_that_github_organization() {
    let (fake, app) = app_with_github().await;
    fake.app().add_installation(
        4242,
        "octo-org",
        9001,
        "Organization",
        vec![FakeRepo::new(700, "octo-org/engine")],
    );
    fake.app()
        .add_member("octo-org", "octo-member", 556, "member");
    fake.app()
        .add_member("octo-org", "octo-admin", 555, "admin");

    let member = person(&app, "octo-member", Some(556), MemberRole::Admin).await;
    let state = install_state(&app, &member, "acme").await;
    let res = setup(&app, &member, 4242, &state).await;
    assert_error(res, StatusCode::FORBIDDEN, "installation_not_yours").await;

    let admin = person(&app, "octo-admin", Some(555), MemberRole::Owner).await;
    let state = install_state(&app, &admin, "acme").await;
    let res = setup(&app, &admin, 4242, &state).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(by_github_id(&repositories(&app).await, 700).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installation_announced_before_the_callback_is_linked_by_it() {
    let (_fake, app) = app_with_github().await;
    let guid = deliver_ok(&app, "installation", &fixture("installation.created.json")).await;
    wait_for(&app, &guid, DeliveryStatus::Processed).await;
    // Recorded, but no org sees its repositories yet.
    assert!(repositories(&app).await.is_empty());

    let admin = person(&app, "codertocat", Some(CODERTOCAT_ID), MemberRole::Admin).await;
    let state = install_state(&app, &admin, "acme").await;
    assert_eq!(
        setup(&app, &admin, INSTALLATION, &state).await.status(),
        StatusCode::OK
    );
    assert!(by_github_id(&repositories(&app).await, HELLO_WORLD).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn installation_events_keep_the_orgs_repositories_in_sync() {
    let (fake, app) = app_with_github().await;
    link_installation(&app).await;

    // Space is added to the installation on GitHub.
    fake.app()
        .add_repo(INSTALLATION, FakeRepo::new(SPACE, "Codertocat/Space"));
    let guid = deliver_ok(
        &app,
        "installation_repositories",
        &fixture("installation_repositories.added.json"),
    )
    .await;
    wait_for(&app, &guid, DeliveryStatus::Processed).await;
    let repos = repositories(&app).await;
    assert!(
        by_github_id(&repos, SPACE).is_some_and(|r| r.github.as_ref().is_some_and(|g| g.connected))
    );
    let hello = by_github_id(&repos, HELLO_WORLD)
        .expect("Hello-World")
        .clone();

    // A project is created on Hello-World (by its URL: the same repository row).
    let res = app
        .post(
            "projects",
            &serde_json::json!({"name": "Hello", "repository_url": hello.url}),
        )
        .await;
    let project: wire::Project = json_as(res, StatusCode::CREATED).await;
    assert_eq!(project.repository.id, hello.id);

    // Hello-World is removed from the installation: kept for its project, but detached.
    fake.app().remove_repo(INSTALLATION, HELLO_WORLD);
    let removed = fixture_with("installation_repositories.added.json", |p| {
        p["action"] = "removed".into();
        p["repositories_removed"] = serde_json::json!([{
            "id": HELLO_WORLD, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
            "name": "Hello-World", "full_name": "Codertocat/Hello-World", "private": false
        }]);
        p["repositories_added"] = serde_json::json!([]);
    });
    let guid = deliver_ok(&app, "installation_repositories", &removed).await;
    wait_for(&app, &guid, DeliveryStatus::Processed).await;
    let repos = repositories(&app).await;
    let github = by_github_id(&repos, HELLO_WORLD)
        .and_then(|r| r.github.clone())
        .expect("kept for its project");
    assert_eq!(github.installation_id, None);
    assert!(!github.connected);

    // Suspended: nothing is reachable; unsuspended: back.
    let suspend = fixture_with("installation.created.json", |p| {
        p["action"] = "suspend".into();
        p["installation"]["suspended_at"] = "2026-11-24T08:00:00Z".into();
    });
    let guid = deliver_ok(&app, "installation", &suspend).await;
    wait_for(&app, &guid, DeliveryStatus::Processed).await;
    let space = by_github_id(&repositories(&app).await, SPACE).and_then(|r| r.github.clone());
    assert!(space.is_some_and(|g| !g.connected));
    let unsuspend = fixture_with("installation.created.json", |p| {
        p["action"] = "unsuspend".into();
    });
    let guid = deliver_ok(&app, "installation", &unsuspend).await;
    wait_for(&app, &guid, DeliveryStatus::Processed).await;
    let space = by_github_id(&repositories(&app).await, SPACE).and_then(|r| r.github.clone());
    assert!(space.is_some_and(|g| g.connected));

    // Uninstalled: the installation and its unused repositories go.
    fake.app().delete_installation(INSTALLATION);
    let deleted = fixture_with("installation.created.json", |p| {
        p["action"] = "deleted".into();
    });
    let guid = deliver_ok(&app, "installation", &deleted).await;
    wait_for(&app, &guid, DeliveryStatus::Processed).await;
    let repos = repositories(&app).await;
    assert!(by_github_id(&repos, SPACE).is_none());
    assert!(
        by_github_id(&repos, HELLO_WORLD).is_some(),
        "its project keeps it"
    );
    let mut conn = app.db.system().await.expect("db");
    let left: i64 = github_installations::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_install_link_says_when_the_app_is_not_configured() {
    let app = TestApp::spawn().await;
    let admin = person(&app, "admin", None, MemberRole::Admin).await;
    let res = app
        .request_as(&admin.access_token, Method::GET, "github/install")
        .send()
        .await
        .expect("install link");
    assert_error(res, StatusCode::CONFLICT, "github_app_not_configured").await;
    let res = app
        .client
        .post(app.url("/api/v1/github/webhooks"))
        .header("x-github-event", "ping")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_error(res, StatusCode::CONFLICT, "github_app_not_configured").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_api_token_cannot_start_an_install() {
    let (_fake, app) = app_with_github().await;
    // Even with the admin scope: no person would be bound to the state, and whoever
    // finished it would hand their installation to the org.
    let res = app.get("github/install").await;
    assert_error(res, StatusCode::FORBIDDEN, "person_required").await;
    let admin = person(&app, "codertocat", Some(CODERTOCAT_ID), MemberRole::Admin).await;
    let state = install_state(&app, &admin, "acme").await;
    let res = app
        .client
        .post(app.url("/api/v1/github/setup"))
        .bearer_auth(&app.token)
        .json(&json!({ "installation_id": INSTALLATION, "state": state }))
        .send()
        .await
        .expect("finish as a token");
    assert_error(res, StatusCode::FORBIDDEN, "person_required").await;
    assert!(repositories(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn opening_the_setup_url_changes_nothing_and_the_preview_names_the_org() {
    let (_fake, app) = app_with_github().await;
    // The dashboard's session (cookies), signed in before the account was tied to GitHub.
    let res = app
        .client
        .post(app.url("/api/v1/auth/dev/login"))
        .json(&json!({ "login": "codertocat" }))
        .send()
        .await
        .expect("dev login");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = |name: &str| -> String {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|raw| raw.split(';').next())
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .expect("cookie")
    };
    let (access, csrf) = (cookie("sy_access"), cookie("sy_csrf"));
    let jar = format!("sy_access={access}; sy_csrf={csrf}");
    let admin = person(&app, "codertocat", Some(CODERTOCAT_ID), MemberRole::Admin).await;
    let state = install_state(&app, &admin, "acme").await;

    // The GET GitHub sends the browser to only forwards it: nothing is linked.
    let res = no_redirects()
        .get(app.url(&format!(
            "/api/v1/github/setup?installation_id={INSTALLATION}&setup_action=install&state={state}"
        )))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .expect("setup url");
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(repositories(&app).await.is_empty());
    let mut conn = app.db.system().await.expect("db");
    let linked: i64 = github_installations::table
        .filter(github_installations::org_id.is_not_null())
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    assert_eq!(linked, 0);

    // The preview says which Switchyard org gets which installation, and leaves the
    // state usable.
    for _ in 0..2 {
        let res = preview(&app, &admin, INSTALLATION, &state).await;
        let shown: GithubSetup = json_as(res, StatusCode::OK).await;
        assert_eq!(shown.org.slug, "acme");
        assert_eq!(shown.org.name, app.org.name);
        assert_eq!(shown.account_login, "Codertocat");
        assert_eq!(shown.action, "link");
    }
    assert!(repositories(&app).await.is_empty());

    // Someone else cannot even preview it.
    let other = person(&app, "other-admin", Some(88), MemberRole::Admin).await;
    let res = preview(&app, &other, INSTALLATION, &state).await;
    assert_error(res, StatusCode::BAD_REQUEST, "github_state_invalid").await;

    // Finishing from the dashboard is a write: a cookie session must echo its CSRF token.
    let body = json!({ "installation_id": INSTALLATION, "state": state });
    let res = app
        .client
        .post(app.url("/api/v1/github/setup"))
        .header("cookie", &jar)
        .json(&body)
        .send()
        .await
        .expect("finish without csrf");
    assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    assert!(repositories(&app).await.is_empty());
    let res = app
        .client
        .post(app.url("/api/v1/github/setup"))
        .header("cookie", &jar)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .expect("finish with csrf");
    let done: GithubSetup = json_as(res, StatusCode::OK).await;
    assert_eq!(done.org.slug, "acme");
    assert!(by_github_id(&repositories(&app).await, HELLO_WORLD).is_some());
}
