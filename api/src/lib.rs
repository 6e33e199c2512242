//! Switchyard's HTTP API: org-scoped REST resources under `/api/v1`, server-sent event
//! streams fed by Redis pub/sub, the OpenAPI document generated from the handlers, and
//! the built dashboard (`web/dist`) as static files.
//!
//! [`spawn`] starts the server (the binary and tests both use it);
//! [`bootstrap::bootstrap_org`] creates an org and its first token.

pub mod app;
pub mod audit;
pub mod auth;
pub mod boards;
pub mod bootstrap;
pub mod client_addr;
pub mod error;
pub mod events;
pub mod github;
pub mod hub;
pub mod idempotency;
pub mod json_body;
pub mod lookup;
pub mod members;
pub mod openapi;
pub mod profiles;
pub mod quotas;
pub mod ratelimit;
pub mod readable_url;
pub mod repository;
pub mod request_id;
pub mod routes;
pub mod runs;
pub mod sse;
pub mod state;
pub mod web;

pub use app::{ApiHandle, RunningApi, spawn, spawn_with_shutdown};
pub use error::ApiError;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `dir`, with its path relative to `src/`.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&src).expect("under src");
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((relative.display().to_string(), text));
            }
        }
    }

    /// Routes and GitHub handlers call the services (`boards`, `runs`, ...), never each
    /// other: outside `routes/`, only the router and the OpenAPI document name a route.
    #[test]
    fn nothing_outside_the_routes_reaches_into_them() {
        let mut files = Vec::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.iter().any(|(path, _)| path == "runs.rs"));
        let offenders: Vec<&str> = files
            .iter()
            .filter(|(path, _)| !path.starts_with("routes/"))
            .filter(|(path, _)| !["app.rs", "openapi.rs", "lib.rs"].contains(&path.as_str()))
            .filter(|(_, text)| text.contains("crate::routes::"))
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(offenders.is_empty(), "{offenders:?} import from routes/");
    }

    /// The identifiers after each `crate::routes::` in `text`: `a::b` as `["a", "b"]`.
    fn route_references(text: &str) -> Vec<Vec<&str>> {
        text.match_indices("crate::routes::")
            .map(|(at, prefix)| {
                let rest = &text[at + prefix.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                rest[..end].split("::").filter(|s| !s.is_empty()).collect()
            })
            .collect()
    }

    /// A route module uses its own area's helpers and the routes' commons (`IdPath`,
    /// `paging`, ...), never another area's or another verb's logic: what two of them need
    /// lives in a service (`boards`, `runs`, `members`, ...).
    #[test]
    fn no_route_module_imports_another_ones_logic() {
        let routes = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
        let mut files = Vec::new();
        sources(&routes, &mut files);
        let is_area = |name: &str| routes.join(name).is_dir();
        let is_module =
            |area: &str, name: &str| routes.join(area).join(format!("{name}.rs")).is_file();
        let mut offenders = Vec::new();
        for (path, text) in &files {
            let Some((area, module)) = path
                .strip_prefix("routes/")
                .and_then(|p| p.strip_suffix(".rs"))
                .and_then(|p| p.split_once('/'))
            else {
                continue;
            };
            for reference in route_references(text) {
                let [target, rest @ ..] = reference.as_slice() else {
                    continue;
                };
                let foreign_area = is_area(target) && *target != area;
                let sibling = *target == area
                    && rest.first().is_some_and(|verb| {
                        is_module(area, verb)
                            && !module.starts_with(&format!("{verb}/"))
                            && module != *verb
                    });
                if foreign_area || sibling {
                    offenders.push(format!("{path}: crate::routes::{}", reference.join("::")));
                }
            }
        }
        assert!(
            files
                .iter()
                .any(|(path, _)| path == "routes/tasks/create.rs"),
            "the walk found the route modules"
        );
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
