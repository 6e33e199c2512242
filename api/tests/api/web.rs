//! The dashboard's static files (`api.web_dir`): caching, client-side routing, the API's
//! own 404s, and paths that try to leave the web dir. Requests go over a raw socket where
//! an HTTP client would normalise the path (`..`) or decompress the body.

use crate::helpers::TestApp;
use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const INDEX: &str = "<!doctype html><title>Switchyard</title><div id=root></div>";
const SCRIPT: &str = "console.log('switchyard dashboard');";
const SECRET: &str = "TOP-SECRET-NOT-FOR-BROWSERS";

/// A fake `web/dist` in a fresh folder, with a secret beside it (outside it) and a
/// symlink inside it that points at the secret.
struct FakeDist {
    root: PathBuf,
    dist: PathBuf,
    secret: PathBuf,
}

impl FakeDist {
    fn new() -> FakeDist {
        let root = std::env::temp_dir().join(format!("sy-web-{}", Uuid::new_v4()));
        let dist = root.join("dist");
        std::fs::create_dir_all(dist.join("assets")).expect("dist dir");
        std::fs::write(dist.join("index.html"), INDEX).expect("index");
        std::fs::write(dist.join("favicon.svg"), "<svg/>").expect("favicon");
        std::fs::write(dist.join("assets/index-abc123.js"), SCRIPT).expect("script");
        std::fs::write(dist.join("assets/index-abc123.js.gz"), gzip_bytes()).expect("gz");
        std::fs::write(dist.join("assets/index-abc123.css"), "body{}").expect("css");
        let secret = root.join("secret.txt");
        std::fs::write(&secret, SECRET).expect("secret");
        std::os::unix::fs::symlink(&secret, dist.join("leak.txt")).expect("symlink");
        FakeDist { root, dist, secret }
    }

    async fn app(&self) -> TestApp {
        let dist = self.dist.clone();
        TestApp::spawn_with(move |s| s.api.web_dir = Some(dist)).await
    }
}

impl Drop for FakeDist {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Not real gzip: the test only checks which file is chosen, by its bytes.
fn gzip_bytes() -> Vec<u8> {
    b"\x1f\x8bpretend-gzip".to_vec()
}

/// A response read off a raw socket.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `METHOD target` exactly as written (no normalisation) and reads the answer.
async fn raw(app: &TestApp, method: &str, target: &str, headers: &[(&str, &str)]) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: bytes[split + 4..].to_vec(),
    }
}

fn is_json_not_found(res: &Raw) -> bool {
    res.status == 404
        && res
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        && res.text().contains("\"not_found\"")
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_revalidate_by_etag() {
    let dist = FakeDist::new();
    let app = dist.app().await;

    let res = raw(&app, "GET", "/assets/index-abc123.js", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), SCRIPT);
    assert_eq!(
        res.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(res.header("last-modified").is_some());
    let etag = res.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with('"'), "a strong etag: {etag}");

    let again = raw(
        &app,
        "GET",
        "/assets/index-abc123.js",
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let css = raw(&app, "GET", "/assets/index-abc123.css", &[]).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    let last_modified = res.header("last-modified").expect("last-modified");
    let since = raw(
        &app,
        "GET",
        "/assets/index-abc123.js",
        &[("If-Modified-Since", last_modified)],
    )
    .await;
    assert_eq!(since.status, 304);
}

#[tokio::test]
async fn the_app_page_is_never_cached_stale() {
    let dist = FakeDist::new();
    let app = dist.app().await;
    let res = app.client.get(app.url("/")).send().await.expect("get /");
    assert_eq!(res.status(), StatusCode::OK);
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(
        header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(header("etag").is_some());
    assert!(
        header("content-security-policy").is_some_and(|p| p.contains("frame-ancestors 'none'"))
    );
    assert_eq!(res.text().await.expect("body"), INDEX);

    let favicon = raw(&app, "GET", "/favicon.svg", &[]).await;
    assert_eq!(favicon.status, 200);
    assert_eq!(favicon.header("content-type"), Some("image/svg+xml"));
    assert_eq!(favicon.header("cache-control"), Some("no-cache"));

    let head = raw(&app, "HEAD", "/", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn client_side_routes_get_the_app_page() {
    let dist = FakeDist::new();
    let app = dist.app().await;
    for path in [
        "/login?return_to=%2Forgs%2Facme",
        "/orgs/acme",
        "/orgs/acme/projects/0190c2a4-0000-7000-8000-000000000000",
        "/orgs/acme/tasks/0190c2a4-0000-7000-8000-000000000001",
        "/orgs/acme/settings/profiles/claude-code:plan",
        "/index.html",
    ] {
        let res = raw(&app, "GET", path, &[]).await;
        assert_eq!(res.status, 200, "{path}");
        assert_eq!(res.text(), INDEX, "{path}");
        assert_eq!(res.header("cache-control"), Some("no-cache"), "{path}");
    }
}

#[tokio::test]
async fn api_paths_probes_and_missing_assets_keep_their_json_404() {
    let dist = FakeDist::new();
    let app = dist.app().await;
    for path in ["/api/v1/no-such-route", "/api", "/api/"] {
        let res = raw(&app, "GET", path, &[]).await;
        assert!(
            is_json_not_found(&res),
            "{path}: {} {}",
            res.status,
            res.text()
        );
    }
    // A missing hashed asset is not the app page under a script's name.
    let res = raw(&app, "GET", "/assets/index-gone99.js", &[]).await;
    assert!(is_json_not_found(&res), "{} {}", res.status, res.text());
    // Other methods never reach the dashboard.
    let res = raw(&app, "POST", "/orgs/acme", &[("Content-Length", "0")]).await;
    assert!(is_json_not_found(&res), "{} {}", res.status, res.text());
    // Probes still answer as themselves.
    for probe in ["/healthz", "/metrics"] {
        let res = raw(&app, "GET", probe, &[]).await;
        assert_eq!(res.status, 200, "{probe}");
        assert_ne!(res.text(), INDEX, "{probe}");
    }
}

#[tokio::test]
async fn paths_never_lead_out_of_the_web_dir() {
    let dist = FakeDist::new();
    let app = dist.app().await;
    let absolute = dist.secret.display().to_string();
    let encoded_absolute = absolute.replace('/', "%2f");
    let attempts = [
        "/../secret.txt".to_owned(),
        "/assets/../../secret.txt".to_owned(),
        "/%2e%2e/secret.txt".to_owned(),
        "/%2E%2E/secret.txt".to_owned(),
        "/assets/%2e%2e/%2e%2e/secret.txt".to_owned(),
        "/%2e%2e%2fsecret.txt".to_owned(),
        "/..%5csecret.txt".to_owned(),
        "/assets/..%5c..%5csecret.txt".to_owned(),
        "/leak.txt".to_owned(),
        format!("/{absolute}"),
        format!("/{encoded_absolute}"),
        format!("/%2f{encoded_absolute}"),
        "//etc/passwd".to_owned(),
        "/%2fetc%2fpasswd".to_owned(),
    ];
    for path in &attempts {
        let res = raw(&app, "GET", path, &[]).await;
        let body = res.text();
        assert!(!body.contains(SECRET), "{path} leaked the secret");
        assert!(!body.contains("root:"), "{path} leaked /etc/passwd");
        assert!(
            res.status == 404 || (res.status == 200 && body == INDEX) || res.status == 400,
            "{path}: {} {body}",
            res.status
        );
    }
    assert!(Path::new(&dist.secret).exists());
}

#[tokio::test]
async fn gzip_siblings_go_to_clients_that_accept_them() {
    let dist = FakeDist::new();
    let app = dist.app().await;
    let gz = raw(
        &app,
        "GET",
        "/assets/index-abc123.js",
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert_eq!(
        gz.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(gz.body, gzip_bytes());

    let plain = raw(
        &app,
        "GET",
        "/assets/index-abc123.js",
        &[("Accept-Encoding", "br")],
    )
    .await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.text(), SCRIPT);
}

#[tokio::test]
async fn without_a_web_dir_there_is_no_dashboard() {
    let app = TestApp::spawn().await;
    for path in ["/", "/orgs/acme", "/assets/index-abc123.js"] {
        let res = raw(&app, "GET", path, &[]).await;
        assert!(
            is_json_not_found(&res),
            "{path}: {} {}",
            res.status,
            res.text()
        );
    }
}
