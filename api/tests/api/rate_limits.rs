//! Request budgets per token, per person and per address, shared by api replicas.

use api::RunningApi;
use api::auth::jwt::Signer;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use shared::config::Settings;
use shared::domain::TokenScope;
use uuid::Uuid;

use crate::helpers::{CuttableProxy, TestApp, assert_error};

/// Small budgets: 5 a minute per token and per person, 50 per address.
fn small_limits(s: &mut Settings) {
    s.rate_limit.enabled = true;
    s.rate_limit.token_per_minute = 5;
    s.rate_limit.user_per_minute = 5;
    s.rate_limit.address_per_minute = 50;
    s.auth.signing_keys.insert(
        "test".into(),
        SecretString::from("rate-limit-test-signing-key-of-32-bytes-or-more"),
    );
}

/// GET the project list with `token`.
async fn list_projects(app: &TestApp, token: &str) -> Response {
    app.request_as(token, reqwest::Method::GET, "projects")
        .send()
        .await
        .expect("GET projects")
}

/// GET `url` with no credential.
async fn anonymous_get(app: &TestApp, url: &str) -> Response {
    app.client.get(url).send().await.expect("GET")
}

/// Asserts a 429 `rate_limited` envelope with a sane `Retry-After`; returns its seconds.
async fn assert_rate_limited(res: Response) -> u64 {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(
        res.headers().contains_key("x-request-id"),
        "the 429 carries its request id"
    );
    assert_eq!(
        res.headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    retry_after
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_over_its_budget_gets_429_and_another_token_of_the_org_does_not() {
    let app = TestApp::spawn_with(small_limits).await;
    for left in (0..5).rev() {
        let res = list_projects(&app, &app.token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()
                .get("ratelimit-remaining")
                .and_then(|v| v.to_str().ok()),
            Some(left.to_string().as_str())
        );
    }
    let retry_after = assert_rate_limited(list_projects(&app, &app.token).await).await;
    // 5 a minute: the next request is earned in 12 s.
    assert!(
        (11..=12).contains(&retry_after),
        "Retry-After {retry_after}"
    );

    let other = app.mint_token(&[TokenScope::Read], None).await;
    assert_eq!(list_projects(&app, &other).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_one_tokens_budget() {
    let app = TestApp::spawn_with(small_limits).await;
    // A second api on the same database and Redis prefix, as a second replica would be.
    let mut settings = app.env.settings.clone();
    small_limits(&mut settings);
    let RunningApi {
        addr,
        handle,
        server,
    } = api::spawn(settings).await.expect("spawn second replica");
    let server = tokio::spawn(server);
    let second = format!("http://{addr}/api/v1/orgs/{}/projects", app.org.slug);

    let mut allowed = 0;
    let mut refused = Vec::new();
    for i in 0..8 {
        let res = if i % 2 == 0 {
            list_projects(&app, &app.token).await
        } else {
            app.client
                .get(&second)
                .bearer_auth(&app.token)
                .send()
                .await
                .expect("GET second replica")
        };
        if res.status() == StatusCode::OK {
            allowed += 1;
        } else {
            refused.push(res);
        }
    }
    assert_eq!(
        allowed, 5,
        "the two replicas allowed one budget between them"
    );
    for res in refused {
        assert_rate_limited(res).await;
    }
    handle.stop();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_person_has_a_budget_across_sessions() {
    let app = TestApp::spawn_with(small_limits).await;
    let mut settings = app.env.settings.clone();
    small_limits(&mut settings);
    let signer = Signer::new(&settings.auth).expect("signer");
    let user = Uuid::now_v7();
    // Whatever the session's fate (these are not in the database), the person is counted.
    let sessions: Vec<String> = (0..2)
        .map(|_| signer.mint(user, Uuid::now_v7()).expect("mint"))
        .collect();
    for i in 0..5 {
        let res = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&sessions[i % 2])
            .send()
            .await
            .expect("GET /me");
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&sessions[1])
        .send()
        .await
        .expect("GET /me");
    assert_rate_limited(res).await;

    let someone_else = signer.mint(Uuid::now_v7(), Uuid::now_v7()).expect("mint");
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&someone_else)
        .send()
        .await
        .expect("GET /me");
    assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unverifiable_access_token_counts_against_the_address_only() {
    let app = TestApp::spawn_with(small_limits).await;
    // Signed with another key: its claims name a user, but nothing vouches for them.
    let mut forger_settings = Settings::default();
    forger_settings.auth.signing_keys.insert(
        "test".into(),
        SecretString::from("a-forgers-own-signing-key-of-32-bytes-or-more"),
    );
    let forged = Signer::new(&forger_settings.auth)
        .expect("signer")
        .mint(Uuid::now_v7(), Uuid::now_v7())
        .expect("mint");
    for _ in 0..10 {
        let res = app
            .client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&forged)
            .send()
            .await
            .expect("GET /me");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_requests_are_limited_by_address() {
    let app = TestApp::spawn_with(|s| {
        small_limits(s);
        s.rate_limit.address_per_minute = 10;
    })
    .await;
    let url = app.url("/api/v1/openapi.json");
    for _ in 0..10 {
        assert_eq!(anonymous_get(&app, &url).await.status(), StatusCode::OK);
    }
    assert_rate_limited(anonymous_get(&app, &url).await).await;
    // The address budget covers authenticated requests from there too.
    assert_rate_limited(list_projects(&app, &app.token).await).await;
}

/// An anonymous GET of the OpenAPI document claiming to come from `client`, through both
/// forwarding headers.
async fn get_as_forwarded(app: &TestApp, client: &str) -> Response {
    app.client
        .get(app.url("/api/v1/openapi.json"))
        .header("x-forwarded-for", client)
        .header("forwarded", format!("for={client}"))
        .send()
        .await
        .expect("GET")
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_from_an_untrusted_peer_do_not_change_its_address() {
    // The test client (127.0.0.1) is not among the trusted proxies.
    let app = TestApp::spawn_with(|s| {
        small_limits(s);
        s.rate_limit.address_per_minute = 3;
        s.api.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await;
    for i in 0..3 {
        let res = get_as_forwarded(&app, &format!("203.0.113.{i}")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A fresh address claimed in the headers still counts against the peer's budget.
    assert_rate_limited(get_as_forwarded(&app, "198.51.100.77").await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_client_has_its_own_address_budget() {
    // The test client plays the Ingress: its peer address is trusted.
    let app = TestApp::spawn_with(|s| {
        small_limits(s);
        s.rate_limit.address_per_minute = 3;
        s.api.trusted_proxies = vec!["127.0.0.0/8".into(), "::1".into()];
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            get_as_forwarded(&app, "203.0.113.1").await.status(),
            StatusCode::OK
        );
    }
    assert_rate_limited(get_as_forwarded(&app, "203.0.113.1").await).await;
    // Another client behind the same proxy is not held back by the first one.
    assert_eq!(
        get_as_forwarded(&app, "203.0.113.2").await.status(),
        StatusCode::OK
    );
    // A client that forges an extra hop on the left is still counted by the hop the
    // proxy appended.
    let forged = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.1")
        .send()
        .await
        .expect("GET");
    assert_rate_limited(forged).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_are_never_limited_nor_counted() {
    let app = TestApp::spawn_with(|s| {
        small_limits(s);
        s.rate_limit.address_per_minute = 2;
    })
    .await;
    for _ in 0..10 {
        let res = anonymous_get(&app, &app.url("/healthz")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!res.headers().contains_key("ratelimit-remaining"));
    }
    let url = app.url("/api/v1/openapi.json");
    for _ in 0..2 {
        assert_eq!(anonymous_get(&app, &url).await.status(), StatusCode::OK);
    }
    assert_rate_limited(anonymous_get(&app, &url).await).await;
    let res = anonymous_get(&app, &app.url("/healthz")).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_limits_never_answer_429() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.enabled = false;
        s.rate_limit.token_per_minute = 1;
        s.rate_limit.user_per_minute = 1;
        s.rate_limit.address_per_minute = 1;
    })
    .await;
    for _ in 0..10 {
        let res = list_projects(&app, &app.token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!res.headers().contains_key("ratelimit-remaining"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_go_through_when_redis_is_down() {
    let proxy = CuttableProxy::start(CuttableProxy::redis_target()).await;
    let proxy_url = format!("redis://{}/", proxy.addr);
    let app = TestApp::spawn_with(|s| {
        small_limits(s);
        s.rate_limit.token_per_minute = 1;
        s.redis.url = proxy_url;
    })
    .await;
    assert_eq!(
        list_projects(&app, &app.token).await.status(),
        StatusCode::OK
    );
    assert_rate_limited(list_projects(&app, &app.token).await).await;

    proxy.go_down().await;
    for _ in 0..3 {
        assert_eq!(
            list_projects(&app, &app.token).await.status(),
            StatusCode::OK,
            "the api stays available without its limiter"
        );
    }
}
