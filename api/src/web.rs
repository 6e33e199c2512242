//! The dashboard: the built single-page app in `api.web_dir` (Vite's `web/dist`), served
//! as static files at every GET path outside `/api` and the probes.
//!
//! - `/assets/*` are content-hashed by the build, so they are cached for a year as
//!   `immutable` (by browsers and any CDN in front); a missing one is a 404, never the
//!   app's HTML under a script's name.
//! - Every other existing file (`index.html`, `favicon.svg`, ...) is `no-cache`: always
//!   revalidated, with a strong ETag of its content (equal on every replica) and
//!   `Last-Modified`, so a deploy shows at the next load.
//! - Any other path answers `index.html` (client-side routing: `/orgs/acme/tasks/...`).
//! - A `.gz` sibling made by the build is sent instead to clients accepting gzip.
//! - The path is percent-decoded, then every segment must be a plain name: `..`, `.`,
//!   backslashes and NUL never reach the file system, and the resolved file must lie
//!   below the (canonical) web dir, so a symlink cannot lead out of it either.
//!
//! With no `web_dir`, or for `/api/...`, other methods and the probes, the request gets
//! the JSON 404 of [`error::no_route`].

use actix_web::http::header::{self, EntityTag, Header, HttpDate, IfModifiedSince, IfNoneMatch};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use crate::error::{self, ApiError};
use crate::state::AppState;

/// Build outputs whose names carry a content hash.
const HASHED_PREFIX: &str = "/assets/";

/// What the hashed assets may be cached for: a year, never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The app's HTML and unhashed files: cacheable, but always revalidated.
const REVALIDATE: &str = "no-cache";

/// Paths the dashboard never answers, however the server is configured.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The policy for the app's pages: its own scripts and styles only, API calls to this
/// origin, pictures (GitHub avatars) from anywhere over HTTPS, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self' data:; \
    connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

/// The app's default service: the dashboard where it applies, the JSON 404 elsewhere.
pub async fn fallback(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(dir) = state.settings.api.web_dir.as_deref() else {
        return error::no_route(req).await;
    };
    if !serves(&req) {
        return error::no_route(req).await;
    }
    let Some(segments) = segments(req.uri().path()) else {
        return error::no_route(req).await;
    };
    match resolve(dir, &segments, req.path().starts_with(HASHED_PREFIX)).await? {
        Some(file) => Ok(respond(&req, file).await?),
        None => error::no_route(req).await,
    }
}

/// Whether the request is one the dashboard answers: a GET or HEAD outside the API.
fn serves(req: &HttpRequest) -> bool {
    let path = req.path();
    (req.method() == Method::GET || req.method() == Method::HEAD)
        && path != "/api"
        && !path.starts_with("/api/")
        && !PROBES.contains(&path)
}

/// The request path as plain file-name segments, or `None` when it is not one: it does
/// not decode to UTF-8, or a segment is `.` or `..` or holds a backslash or NUL.
fn segments(raw_path: &str) -> Option<Vec<String>> {
    let decoded = percent_decode(raw_path)?;
    let mut out = Vec::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.contains(['\\', '\0']) {
            return None;
        }
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(_)), None) => out.push(segment.to_owned()),
            _ => return None,
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A file to send: where it is and how it may be cached.
struct Resolved {
    path: PathBuf,
    cache_control: &'static str,
    is_app: bool,
}

/// Finds the file for the segments: the file itself when it exists below `dir`; else
/// `index.html`, unless the path names a hashed asset (which then does not exist).
async fn resolve(
    dir: &Path,
    segments: &[String],
    hashed: bool,
) -> Result<Option<Resolved>, ApiError> {
    let root = tokio::fs::canonicalize(dir)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("api.web_dir {dir:?}: {e}")))?;
    if !segments.is_empty() {
        let wanted: PathBuf = segments.iter().fold(root.clone(), |p, s| p.join(s));
        if let Ok(real) = tokio::fs::canonicalize(&wanted).await
            && real.starts_with(&root)
            && tokio::fs::metadata(&real).await.is_ok_and(|m| m.is_file())
        {
            let is_app = real == root.join("index.html");
            let cache_control = if hashed { IMMUTABLE } else { REVALIDATE };
            return Ok(Some(Resolved {
                path: real,
                cache_control,
                is_app,
            }));
        }
    }
    if hashed {
        return Ok(None);
    }
    let index = root.join("index.html");
    if tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file()) {
        Ok(Some(Resolved {
            path: index,
            cache_control: REVALIDATE,
            is_app: true,
        }))
    } else {
        // A web dir without a build in it: say so in the log, answer the plain 404.
        tracing::warn!(dir = %root.display(), "api.web_dir holds no index.html; run `npm run build` in web/");
        Ok(None)
    }
}

/// Sends the file (or its `.gz` sibling), or 304 when the client's copy is current.
async fn respond(req: &HttpRequest, file: Resolved) -> Result<HttpResponse, ApiError> {
    let io = |e: std::io::Error| {
        ApiError::Internal(anyhow::anyhow!("reading {}: {e}", file.path.display()))
    };
    let metadata = tokio::fs::metadata(&file.path).await.map_err(io)?;
    let body = tokio::fs::read(&file.path).await.map_err(io)?;
    let gzipped = match accepts_gzip(req) {
        true => tokio::fs::read(gz_sibling(&file.path)).await.ok(),
        false => None,
    };
    // A strong tag per representation: the gzip one differs from the plain one.
    let digest = hex::encode(&Sha256::digest(&body)[..16]);
    let etag = EntityTag::new_strong(match gzipped {
        Some(_) => format!("{digest}-gz"),
        None => digest,
    });
    let modified = metadata.modified().ok().map(whole_seconds);

    let mut res = HttpResponse::build(StatusCode::OK);
    res.insert_header((header::CACHE_CONTROL, file.cache_control))
        .insert_header(header::ETag(etag.clone()))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(modified) = modified {
        res.insert_header(header::LastModified(HttpDate::from(modified)));
    }
    if file.is_app {
        res.insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::REFERRER_POLICY, "same-origin"));
    }
    if not_modified(req, &etag, modified) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    res.insert_header((header::CONTENT_TYPE, content_type(&file.path)));
    match gzipped {
        Some(gz) => Ok(res
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(gz)),
        None => Ok(res.body(body)),
    }
}

/// `If-None-Match` decides when present (RFC 9110 13.2.2); else `If-Modified-Since`.
fn not_modified(req: &HttpRequest, etag: &EntityTag, modified: Option<SystemTime>) -> bool {
    if req.headers().contains_key(header::IF_NONE_MATCH) {
        return match IfNoneMatch::parse(req) {
            Ok(IfNoneMatch::Any) => true,
            Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(etag)),
            Err(_) => false,
        };
    }
    match (IfModifiedSince::parse(req), modified) {
        (Ok(IfModifiedSince(since)), Some(modified)) => modified <= SystemTime::from(since),
        _ => false,
    }
}

/// HTTP dates have whole seconds; compare at that precision.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// Whether the client takes `Content-Encoding: gzip` (and has not refused it with `q=0`).
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| p.replace(' ', "") == "q=0" || p == "q=0.0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `x.js` → `x.js.gz`.
fn gz_sibling(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// The media type of a build output, by extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_split_into_segments() {
        assert_eq!(
            segments("/orgs/acme/tasks/1"),
            Some(vec![
                "orgs".into(),
                "acme".into(),
                "tasks".into(),
                "1".into()
            ])
        );
        assert_eq!(segments("/"), Some(vec![]));
        assert_eq!(
            segments("//assets//a.js"),
            Some(vec!["assets".into(), "a.js".into()])
        );
        assert_eq!(segments("/a%20b.txt"), Some(vec!["a b.txt".into()]));
    }

    #[test]
    fn traversal_and_odd_segments_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/assets/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2fetc%2fpasswd",
            "/assets/%2e%2e%5c%2e%2e%5cwin.ini",
            "/./index.html",
            "/a%00b",
            "/a%5c..%5cb",
            "/%",
            "/%zz",
            "/%ff",
        ] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        let req = |v: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, v))
                .to_http_request()
        };
        assert!(accepts_gzip(&req("gzip, deflate, br")));
        assert!(accepts_gzip(&req("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&req("*")));
        assert!(!accepts_gzip(&req("br")));
        assert!(!accepts_gzip(&req("gzip;q=0")));
        assert!(!accepts_gzip(
            &actix_web::test::TestRequest::default().to_http_request()
        ));
    }

    #[test]
    fn build_outputs_get_their_media_types() {
        assert_eq!(
            content_type(Path::new("a/index-1a2b.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.CSS")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("logo.svg")), "image/svg+xml");
        assert_eq!(
            content_type(Path::new("LICENSE")),
            "application/octet-stream"
        );
    }
}
