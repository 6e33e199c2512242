//! The GitHub sign-in client against the fake GitHub, over real HTTP: the code flow with
//! PKCE, the user and email calls, the device flow, and an unreachable GitHub.

use api::auth::github::{
    DevicePoll, GithubAccess, GithubError, GithubOAuth, GithubUser, PendingLogin,
};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use std::collections::HashMap;
use url::Url;

use crate::fake_github::{CLIENT_SECRET, FakeEmail, FakeGithub};

const PUBLIC_URL: &str = "https://switchyard.example";
const CALLBACK: &str = "https://switchyard.example/api/v1/auth/github/callback";

fn client(fake: &FakeGithub) -> GithubOAuth {
    GithubOAuth::new(&fake.settings(), PUBLIC_URL)
        .expect("valid settings")
        .expect("sign-in configured")
}

/// Opens the authorize URL as the browser does and reads GitHub's redirect to the callback
/// (without following it): the code and the state.
async fn browse_to_authorize(url: &Url) -> (String, String) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser client");
    let res = browser.get(url.clone()).send().await.expect("authorize");
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()[LOCATION].to_str().expect("ascii location");
    let callback = Url::parse(location).expect("callback URL");
    assert_eq!(callback.as_str().split('?').next(), Some(CALLBACK));
    let query: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    (query["code"].clone(), query["state"].clone())
}

/// Starts a code flow as the browser's signed-in user and returns its callback's code.
async fn start_code_flow(github: &GithubOAuth) -> (String, PendingLogin) {
    let (url, pending) = github.authorize_url();
    let (code, state) = browse_to_authorize(&url).await;
    assert_eq!(state, pending.state);
    (code, pending)
}

fn assert_rejected<T: std::fmt::Debug>(result: Result<T, GithubError>, expected: &str) {
    match result {
        Err(GithubError::Rejected { code, .. }) => assert_eq!(code, expected),
        other => panic!("expected a {expected} rejection, got {other:?}"),
    }
}

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, GithubError>) {
    match result {
        Err(GithubError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn code_flow_signs_in_the_browser_user() {
    let fake = FakeGithub::start().await;
    let id = fake.add_user(
        "octocat",
        Some("The Octocat"),
        Some("octocat@github.example"),
        vec![FakeEmail::primary("octocat@github.example")],
    );
    fake.set_browser_user("octocat");
    let github = client(&fake);

    let (code, pending) = start_code_flow(&github).await;
    let access = github
        .exchange_code(&code, &pending.pkce_verifier)
        .await
        .expect("exchange code");
    let user = github.user(&access).await.expect("user");

    assert_eq!(
        user,
        GithubUser {
            id,
            login: "octocat".into(),
            name: Some("The Octocat".into()),
            email: Some("octocat@github.example".into()),
            avatar_url: Some(format!("https://avatars.githubusercontent.com/u/{id}?v=4")),
        }
    );
    let counts = fake.counts();
    assert_eq!(counts.tokens_issued, 1);
    assert_eq!(counts.user_requests, 1);
    assert_eq!(
        counts.email_requests, 0,
        "a public email needs no /user/emails"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_pkce_verifier_is_rejected() {
    let fake = FakeGithub::start().await;
    fake.add_user("octocat", None, None, vec![]);
    fake.set_browser_user("octocat");
    let github = client(&fake);

    let (code, _) = start_code_flow(&github).await;
    let (_, other) = github.authorize_url();
    let result = github.exchange_code(&code, &other.pkce_verifier).await;

    assert_rejected(result, "bad_verification_code");
    assert_eq!(fake.counts().tokens_issued, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn reused_code_is_rejected() {
    let fake = FakeGithub::start().await;
    fake.add_user("octocat", None, None, vec![]);
    fake.set_browser_user("octocat");
    let github = client(&fake);

    let (code, pending) = start_code_flow(&github).await;
    github
        .exchange_code(&code, &pending.pkce_verifier)
        .await
        .expect("first exchange");
    let again = github.exchange_code(&code, &pending.pkce_verifier).await;

    assert_rejected(again, "bad_verification_code");
    let counts = fake.counts();
    assert_eq!((counts.token_requests, counts.tokens_issued), (2, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_client_secret_is_rejected_without_echoing_it() {
    let fake = FakeGithub::start().await;
    fake.add_user("octocat", None, None, vec![]);
    fake.set_browser_user("octocat");
    let mut settings = fake.settings();
    settings.client_secret = Some("not-the-secret".to_owned().into());
    let github = GithubOAuth::new(&settings, PUBLIC_URL)
        .expect("valid settings")
        .expect("configured");

    let (code, pending) = start_code_flow(&github).await;
    let err = github
        .exchange_code(&code, &pending.pkce_verifier)
        .await
        .expect_err("a wrong secret is refused");

    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("not-the-secret") && !shown.contains(CLIENT_SECRET));
    assert_rejected(Err::<(), _>(err), "incorrect_client_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn private_email_is_the_primary_verified_address() {
    let fake = FakeGithub::start().await;
    fake.add_user(
        "hubot",
        None,
        None,
        vec![
            FakeEmail::secondary("hubot@old.example"),
            FakeEmail::primary("hubot@github.example"),
        ],
    );
    fake.set_browser_user("hubot");
    let github = client(&fake);

    let (code, pending) = start_code_flow(&github).await;
    let access = github
        .exchange_code(&code, &pending.pkce_verifier)
        .await
        .expect("exchange code");
    let user = github.user(&access).await.expect("user");

    assert_eq!(user.email.as_deref(), Some("hubot@github.example"));
    assert_eq!(user.name, None);
    assert_eq!(fake.counts().email_requests, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unverified_primary_email_is_not_used() {
    let fake = FakeGithub::start().await;
    fake.add_user(
        "hubot",
        None,
        None,
        vec![FakeEmail::primary_unverified("hubot@github.example")],
    );
    let github = client(&fake);
    let access = GithubAccess::new(fake.issue_token("hubot", &["read:user", "user:email"]));

    let user = github.user(&access).await.expect("user");

    assert_eq!(user.email, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_that_may_not_read_emails_signs_in_without_an_email() {
    let fake = FakeGithub::start().await;
    fake.add_user(
        "hubot",
        None,
        None,
        vec![FakeEmail::primary("hubot@github.example")],
    );
    let github = client(&fake);
    let access = GithubAccess::new(fake.issue_token("hubot", &["read:user"]));

    let user = github.user(&access).await.expect("user");

    assert_eq!((user.login.as_str(), user.email), ("hubot", None));
    assert_eq!(fake.counts().email_requests, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_token_is_rejected_as_bad_credentials() {
    let fake = FakeGithub::start().await;
    let github = client(&fake);

    let result = github.user(&GithubAccess::new("gho_not_a_token")).await;

    assert_rejected(result, "bad_credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_is_pending_until_approved_then_authorized_once() {
    let fake = FakeGithub::start().await;
    fake.add_user(
        "octocat",
        None,
        Some("octocat@github.example"),
        vec![FakeEmail::primary("octocat@github.example")],
    );
    let github = client(&fake);

    let device = github.device_code().await.expect("device code");
    assert_eq!(
        device.verification_uri,
        format!("{}/login/device", fake.url())
    );
    assert_eq!(device.interval, 0);
    assert!(device.expires_in > 0);
    assert!(matches!(
        device.user_code.as_bytes(),
        [_, _, _, _, b'-', _, _, _, _]
    ));
    assert!(!format!("{device:?}").contains(&device.device_code));

    let first = github.poll_device(&device.device_code).await;
    assert!(matches!(first, Ok(DevicePoll::Pending)), "{first:?}");

    fake.approve_device(&device.user_code, "octocat");
    let access = match github.poll_device(&device.device_code).await {
        Ok(DevicePoll::Authorized(access)) => access,
        other => panic!("expected Authorized, got {other:?}"),
    };
    let user = github.user(&access).await.expect("user");
    assert_eq!(user.login, "octocat");

    let spent = github.poll_device(&device.device_code).await;
    assert_rejected(spent, "incorrect_device_code");
    assert_eq!(fake.counts().tokens_issued, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn device_poll_faster_than_the_interval_is_told_to_slow_down() {
    let fake = FakeGithub::start().await;
    fake.set_device_interval(60);
    let github = client(&fake);

    let device = github.device_code().await.expect("device code");
    assert_eq!(device.interval, 60);
    let poll = github.poll_device(&device.device_code).await;

    assert!(
        matches!(poll, Ok(DevicePoll::SlowDown { interval: 65 })),
        "{poll:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_device_code_reports_expired() {
    let fake = FakeGithub::start().await;
    let github = client(&fake);

    let device = github.device_code().await.expect("device code");
    fake.expire_device(&device.user_code);
    let poll = github.poll_device(&device.device_code).await;

    assert!(matches!(poll, Ok(DevicePoll::Expired)), "{poll:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_device_code_reports_denied() {
    let fake = FakeGithub::start().await;
    let github = client(&fake);

    let device = github.device_code().await.expect("device code");
    fake.deny_device(&device.user_code);
    let poll = github.poll_device(&device.device_code).await;

    assert!(matches!(poll, Ok(DevicePoll::Denied)), "{poll:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_device_code_is_rejected() {
    let fake = FakeGithub::start().await;
    let github = client(&fake);

    let poll = github.poll_device("0123456789abcdef").await;

    assert_rejected(poll, "incorrect_device_code");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_github_is_unavailable() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let fake = FakeGithub::start().await;
    let mut settings = fake.settings();
    settings.web_url = format!("http://{closed}");
    settings.api_url = format!("http://{closed}");
    let github = GithubOAuth::new(&settings, PUBLIC_URL)
        .expect("valid settings")
        .expect("configured");

    assert_unavailable(github.exchange_code("code", "verifier").await);
    assert_unavailable(github.device_code().await);
    assert_unavailable(github.poll_device("device").await);
    assert_unavailable(github.user(&GithubAccess::new("gho_token")).await);
}
