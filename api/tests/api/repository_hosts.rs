//! Project repository URLs cannot point the platform at its own networks: a host that
//! is, or resolves to, a loopback, private, link-local (cloud metadata), CGNAT,
//! unique-local or reserved address answers 422 `repository_host_forbidden`, naming
//! the host and the kind of address. Nothing is fetched: every host here is an address
//! literal or `localhost`, judged without a connection.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use shared::db::schema::{projects, repositories};
use shared::wire;

use crate::helpers::{TestApp, assert_error, json_as};

/// Posts a project on `url` and returns the response.
async fn create(app: &TestApp, name: &str, url: &str) -> reqwest::Response {
    app.post(
        "projects",
        &serde_json::json!({"name": name, "repository_url": url}),
    )
    .await
}

/// Asserts `url` is refused, and that the message names `host` and `kind`.
async fn assert_refused(app: &TestApp, url: &str, host: &str, kind: &str) {
    let message = assert_error(
        create(app, "Refused", url).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "repository_host_forbidden",
    )
    .await;
    assert!(
        message.contains(host),
        "{url}: message does not name {host:?}: {message}"
    );
    assert!(
        message.contains(kind),
        "{url}: message does not say {kind:?}: {message}"
    );
}

async fn counts(app: &TestApp) -> (i64, i64) {
    let mut conn = app.db.system().await.expect("conn");
    let p: i64 = projects::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    let r: i64 = repositories::table
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    (p, r)
}

/// Every forbidden kind of host, in every URL form the api accepts.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "https://169.254.169.254/latest/meta-data.git",
        "169.254.169.254",
        "link-local",
    ),
    ("https://10.0.0.5/acme/app.git", "10.0.0.5", "private"),
    ("http://192.168.1.1/acme/app.git", "192.168.1.1", "private"),
    ("https://100.64.0.1/acme/app.git", "100.64.0.1", "CGNAT"),
    ("https://[fd00::1]/x.git", "fd00::1", "unique-local"),
    ("https://[fe80::1]/x.git", "fe80::1", "link-local"),
    ("https://127.0.0.1/x.git", "127.0.0.1", "loopback"),
    ("https://localhost/x.git", "localhost", "loopback"),
    ("https://0.0.0.0/x.git", "0.0.0.0", "unspecified"),
    (
        "https://[::ffff:169.254.169.254]/x.git",
        "169.254.169.254",
        "link-local",
    ),
    // The URL parser reads these as 127.0.0.1 and 169.254.169.254.
    ("http://2130706433/x.git", "127.0.0.1", "loopback"),
    (
        "http://0xa9.0xfe.0xa9.0xfe/x.git",
        "169.254.169.254",
        "link-local",
    ),
    // A user before the host does not hide it (over ssh: over http(s) any user is refused
    // as a credential, see below).
    (
        "ssh://github.com@169.254.169.254/x.git",
        "169.254.169.254",
        "link-local",
    ),
    ("ssh://git@10.0.0.5/acme/app.git", "10.0.0.5", "private"),
    (
        "ssh://git@[fd00::1]:2222/acme/app.git",
        "fd00::1",
        "unique-local",
    ),
    ("git://192.168.1.1/acme/app.git", "192.168.1.1", "private"),
    (
        "git@169.254.169.254:acme/app.git",
        "169.254.169.254",
        "link-local",
    ),
    ("git@[fe80::1]:acme/app.git", "fe80::1", "link-local"),
    ("[git@100.64.0.1:2222]:acme/app.git", "100.64.0.1", "CGNAT"),
    ("git@localhost:acme/app.git", "localhost", "loopback"),
];

#[tokio::test(flavor = "multi_thread")]
async fn repository_hosts_on_platform_networks_are_refused() {
    let app = TestApp::spawn().await;
    for (url, host, kind) in REFUSED {
        assert_refused(&app, url, host, kind).await;
    }
    assert_eq!(counts(&app).await, (0, 0), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn allowing_private_hosts_never_allows_link_local() {
    let app = TestApp::spawn_with(|s| s.api.allow_private_repository_hosts = true).await;
    let mut created = 0;
    for url in [
        "https://10.0.0.5/acme/app.git",
        "http://192.168.1.1/acme/app.git",
        "https://100.64.0.1/acme/app.git",
        "https://[fd00::1]/x.git",
        "https://localhost/x.git",
        "https://127.0.0.1/x.git",
        "ssh://git@10.0.0.5/acme/other.git",
        "git@192.168.1.1:acme/third.git",
    ] {
        created += 1;
        let p: wire::Project = json_as(
            create(&app, &format!("Private {created}"), url).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(p.repository.url, url);
    }
    for (url, host, kind) in [
        (
            "https://169.254.169.254/latest/meta-data.git",
            "169.254.169.254",
            "link-local",
        ),
        ("https://[fe80::1]/x.git", "fe80::1", "link-local"),
        (
            "git@169.254.169.254:acme/app.git",
            "169.254.169.254",
            "link-local",
        ),
        (
            "https://[::ffff:169.254.169.254]/x.git",
            "169.254.169.254",
            "link-local",
        ),
    ] {
        assert_refused(&app, url, host, kind).await;
    }
    assert_eq!(counts(&app).await.0, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn public_and_unresolvable_hosts_and_local_paths_are_still_accepted() {
    let app = TestApp::spawn().await;
    let repo = app.git_repo("local");
    for (name, url) in [
        ("Public", "https://140.82.112.3/acme/app.git".to_owned()),
        ("Scp", "git@140.82.112.4:acme/app.git".to_owned()),
        // Not resolvable here: accepted as before, unfetched.
        (
            "Unresolved",
            "https://git.switchyard-test.invalid/acme/app.git".to_owned(),
        ),
        ("Local", repo.to_string_lossy().into_owned()),
        ("File", format!("file://{}", repo.to_string_lossy())),
    ] {
        json_as::<wire::Project>(create(&app, name, &url).await, StatusCode::CREATED).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repository_urls_with_credentials_are_refused_without_echoing_them() {
    let app = TestApp::spawn().await;
    let before = counts(&app).await;
    for url in [
        "https://ada:ghp_secret123@github.com/acme/app.git",
        "https://ghp_secret123@github.com/acme/app.git",
        "http://ada:ghp_secret123@example.com/acme/app.git",
        "ssh://git:ghp_secret123@example.com/acme/app.git",
        // A user name that looks like a trusted host is refused before any host check.
        "https://github.com@169.254.169.254/x.git",
    ] {
        let message = assert_error(
            create(&app, "Leaky", url).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "repository_credentials_forbidden",
        )
        .await;
        assert!(!message.contains("ghp_secret123"), "{url}: {message}");
    }
    assert_eq!(counts(&app).await, before, "nothing was stored");

    // An ssh user name is no secret.
    let res = create(&app, "Ssh", "ssh://git@github.com/acme/app.git").await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
