//! The OpenAPI document.

use reqwest::StatusCode;
use serde_json::json;
use shared::error_code::ErrorCode;
use shared::wire;
use std::collections::BTreeSet;
use uuid::Uuid;

use crate::helpers::{TestApp, json_as};

/// The document as `/api/v1/openapi.json` serves it.
async fn document(app: &TestApp) -> serde_json::Value {
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("GET");
    json_as(res, StatusCode::OK).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let expected = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/auth/github/login"),
        ("get", "/api/v1/auth/github/callback"),
        ("post", "/api/v1/auth/device/code"),
        ("post", "/api/v1/auth/device/token"),
        ("post", "/api/v1/auth/dev/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/orgs/{org}/projects"),
        ("post", "/api/v1/orgs/{org}/projects"),
        ("get", "/api/v1/orgs/{org}/projects/{id}"),
        ("patch", "/api/v1/orgs/{org}/projects/{id}"),
        ("delete", "/api/v1/orgs/{org}/projects/{id}"),
        ("get", "/api/v1/orgs/{org}/projects/{id}/tasks"),
        ("post", "/api/v1/orgs/{org}/projects/{id}/tasks"),
        ("get", "/api/v1/orgs/{org}/tasks/{id}"),
        ("patch", "/api/v1/orgs/{org}/tasks/{id}"),
        ("delete", "/api/v1/orgs/{org}/tasks/{id}"),
        ("get", "/api/v1/orgs/{org}/tasks/{id}/comments"),
        ("post", "/api/v1/orgs/{org}/tasks/{id}/comments"),
        ("get", "/api/v1/orgs/{org}/tasks/{id}/attempts"),
        ("post", "/api/v1/orgs/{org}/tasks/{id}/attempts"),
        ("get", "/api/v1/orgs/{org}/attempts/{id}"),
        ("post", "/api/v1/orgs/{org}/attempts/{id}/stop"),
        ("post", "/api/v1/orgs/{org}/attempts/{id}/pull-request"),
        ("post", "/api/v1/orgs/{org}/attempts/{id}/merge"),
        ("post", "/api/v1/orgs/{org}/attempts/{id}/follow-up"),
        ("get", "/api/v1/orgs/{org}/attempts/{id}/processes"),
        ("get", "/api/v1/orgs/{org}/executors"),
        ("get", "/api/v1/orgs/{org}/attempts/{id}/approvals"),
        (
            "post",
            "/api/v1/orgs/{org}/attempts/{id}/approvals/{approval_id}",
        ),
        ("get", "/api/v1/orgs/{org}/attempts/{id}/diff"),
        ("get", "/api/v1/orgs/{org}/attempts/{id}/diff/stream"),
        ("get", "/api/v1/orgs/{org}/processes/{id}/logs"),
        ("get", "/api/v1/orgs/{org}/processes/{id}/logs/stream"),
        ("get", "/api/v1/orgs/{org}/events"),
        ("get", "/api/v1/orgs/{org}/executor-profiles"),
        ("post", "/api/v1/orgs/{org}/executor-profiles"),
        ("get", "/api/v1/orgs/{org}/executor-profiles/{name}"),
        ("patch", "/api/v1/orgs/{org}/executor-profiles/{name}"),
        ("delete", "/api/v1/orgs/{org}/executor-profiles/{name}"),
        ("get", "/api/v1/orgs/{org}/projects/{id}/executor-profiles"),
        (
            "get",
            "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}",
        ),
        (
            "put",
            "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}",
        ),
        (
            "delete",
            "/api/v1/orgs/{org}/projects/{id}/executor-profiles/{name}",
        ),
        ("get", "/api/v1/orgs/{org}/secrets"),
        ("get", "/api/v1/orgs/{org}/secrets/{name}"),
        ("put", "/api/v1/orgs/{org}/secrets/{name}"),
        ("delete", "/api/v1/orgs/{org}/secrets/{name}"),
        ("get", "/api/v1/orgs"),
        ("post", "/api/v1/orgs"),
        ("get", "/api/v1/orgs/{org}"),
        ("patch", "/api/v1/orgs/{org}"),
        ("get", "/api/v1/orgs/{org}/members"),
        ("patch", "/api/v1/orgs/{org}/members/{user}"),
        ("delete", "/api/v1/orgs/{org}/members/{user}"),
        ("get", "/api/v1/orgs/{org}/invitations"),
        ("post", "/api/v1/orgs/{org}/invitations"),
        ("delete", "/api/v1/orgs/{org}/invitations/{id}"),
        ("post", "/api/v1/invitations/accept"),
        ("get", "/api/v1/orgs/{org}/tokens"),
        ("post", "/api/v1/orgs/{org}/tokens"),
        ("delete", "/api/v1/orgs/{org}/tokens/{id}"),
        ("get", "/api/v1/orgs/{org}/audit-events"),
        ("get", "/api/v1/orgs/{org}/repositories"),
        ("get", "/api/v1/orgs/{org}/repositories/{id}/branches"),
        ("get", "/api/v1/orgs/{org}/github/install"),
        ("get", "/api/v1/github/setup"),
        ("get", "/api/v1/github/setup/preview"),
        ("post", "/api/v1/github/setup"),
        ("post", "/api/v1/github/webhooks"),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let operations: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(
        operations,
        expected.len(),
        "undocumented extras or duplicates"
    );

    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Project",
        "Task",
        "Attempt",
        "Process",
        "Diff",
        "ErrorBody",
        "LogPatch",
        "OrgEvent",
        "ExecutorProfile",
        "ProfileOptions",
        "ResolvedProfile",
        "SecretInfo",
        "PutSecret",
        "Organization",
        "Member",
        "Invitation",
        "CreatedInvitation",
        "ApiTokenInfo",
        "CreatedApiToken",
        "AuditEvent",
        "OrgRepository",
        "GithubRepositoryLink",
        "GithubInstallLink",
        "WebhookReceipt",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["scheme"].as_str(),
        Some("bearer")
    );
}

/// The error codes are one list: `ErrorCode`, which the OpenAPI document gives as the
/// envelope's `code` enum and docs/API.md as its errors table; an envelope cannot carry
/// a code outside it.
#[tokio::test(flavor = "multi_thread")]
async fn every_error_code_is_in_the_openapi_document_and_in_docs_api_md() {
    let codes: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        codes.len(),
        ErrorCode::ALL.len(),
        "a code is declared twice"
    );
    for code in ErrorCode::ALL {
        assert_eq!(
            serde_json::to_value(code).expect("encode"),
            json!(code.as_str())
        );
    }
    let made_up = json!({"error": {"code": "made_up", "message": "no such code"}});
    assert!(serde_json::from_value::<wire::ErrorBody>(made_up).is_err());

    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["code"]["$ref"],
        json!("#/components/schemas/ErrorCode")
    );
    let listed: BTreeSet<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is a string enum")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(listed, codes);

    let api_md = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/API.md"),
    )
    .expect("docs/API.md");
    let errors = api_md
        .split_once("\n## Errors\n")
        .expect("an Errors section")
        .1;
    let documented: BTreeSet<&str> = errors
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(code, _)| code)
        .collect();
    assert_eq!(documented, codes, "docs/API.md's errors table");
}

/// The router and the document come from one route table: the document's operations are
/// the declared routes, each one reaches a handler (whatever it then answers without
/// credentials, never the router's `no route` 404 or its 405), and a method a path does
/// not declare is refused with 405.
#[tokio::test(flavor = "multi_thread")]
async fn the_router_serves_exactly_the_documents_operations() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let declared: BTreeSet<(String, String)> = api::routes::declared()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path))
        .collect();
    assert_eq!(declared, documented);

    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let any_id = Uuid::new_v4().to_string();
    for (method, path) in &documented {
        let url = path
            .split('/')
            .map(|segment| {
                if segment == "{org}" {
                    app.org.slug.as_str()
                } else if segment.starts_with('{') {
                    any_id.as_str()
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let res = anonymous
            .request(method.clone(), app.url(&url))
            .send()
            .await
            .expect("request");
        let status = res.status();
        let body = res.text().await.expect("body");
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {url}: {body}"
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && body.contains("no route for")),
            "{method} {url} reaches no handler: {body}"
        );
    }
    let res = anonymous
        .delete(app.url("/healthz"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}
