//! Every route of the API, a folder per area and a file per verb.

pub mod approvals;
pub mod attempts;
pub mod audit;
pub mod auth;
pub mod comments;
pub mod executors;
pub mod github;
pub mod health;
pub mod invitations;
pub mod members;
pub mod metrics;
pub mod orgs;
pub mod paging;
pub mod processes;
pub mod profiles;
pub mod projects;
pub mod repositories;
pub mod secrets;
pub mod streams;
pub mod tasks;
pub mod tokens;

use actix_web::http::Method;
use actix_web::web;
use serde::Deserialize;
use std::sync::LazyLock;
use uuid::Uuid;

pub use crate::events::emit;
pub use crate::lookup;

/// `/orgs/{org}/...` paths.
#[derive(Debug, Deserialize)]
pub struct OrgPath {
    pub org: String,
}

/// `/orgs/{org}/<resource>/{id}...` paths. A malformed id answers 400 `invalid_id`.
#[derive(Debug, Deserialize)]
pub struct IdPath {
    pub org: String,
    pub id: Uuid,
}

/// Declares every route once, by its handler: the handler's `#[utoipa::path]` says its
/// method and path, and from that one declaration [`declared`] builds both the actix
/// route ([`configure`]) and the route's part of the OpenAPI document
/// ([`crate::openapi::document`]). A handler missing here is neither served nor documented.
///
/// Each handler gets a one-path document of its own (a derived `OpenApi`), which is how
/// its method and path are read at run time without naming utoipa's generated types.
macro_rules! routes {
    ($($($segment:ident)::+,)*) => {
        /// Every route in declaration order: its one-path document and its handler.
        fn handlers() -> Vec<(utoipa::openapi::OpenApi, fn() -> actix_web::Route)> {
            vec![$({
                #[derive(utoipa::OpenApi)]
                #[openapi(paths($($segment)::+))]
                struct Route;
                let handler: fn() -> actix_web::Route = || web::route().to($($segment)::+);
                (<Route as utoipa::OpenApi>::openapi(), handler)
            }),*]
        }
    };
}

routes! {
    health::healthz,
    health::readyz,
    metrics::metrics,
    crate::openapi::serve,
    auth::github::login,
    auth::github::callback,
    auth::device::code,
    auth::device::token,
    auth::dev::login,
    auth::refresh::refresh,
    auth::logout::logout,
    auth::me::me,
    projects::list::list,
    projects::create::create,
    projects::get::get,
    projects::update::update,
    projects::delete::delete,
    tasks::list::list,
    tasks::create::create,
    tasks::get::get,
    tasks::update::update,
    tasks::delete::delete,
    comments::list::list,
    comments::create::create,
    attempts::list::list,
    attempts::start::start,
    attempts::get::get,
    attempts::stop::stop,
    attempts::follow_up::follow_up,
    attempts::pull_request::open,
    attempts::pull_request::merge,
    attempts::processes::processes,
    attempts::diff::diff,
    approvals::list::list,
    approvals::decide::decide,
    executors::list::list,
    processes::logs::logs,
    streams::events::events,
    streams::logs::logs_stream,
    streams::diff::diff_stream,
    profiles::list::list,
    profiles::create::create,
    profiles::get::get,
    profiles::update::update,
    profiles::delete::delete,
    profiles::project::list::list,
    profiles::project::get::get,
    profiles::project::put::put,
    profiles::project::delete::delete,
    secrets::list::list,
    secrets::get::get,
    secrets::put::put,
    secrets::delete::delete,
    orgs::list::list,
    orgs::create::create,
    orgs::get::get,
    orgs::update::update,
    members::list::list,
    members::update::update,
    members::remove::remove,
    invitations::list::list,
    invitations::create::create,
    invitations::revoke::revoke,
    invitations::accept::accept,
    tokens::list::list,
    tokens::create::create,
    tokens::revoke::revoke,
    audit::list::list,
    repositories::list::list,
    repositories::branches::branches,
    github::install::install,
    github::setup::setup,
    github::setup::preview,
    github::setup::finish,
    github::webhook::receive,
}

/// One declared route: where it is, its part of the OpenAPI document, and its handler.
pub struct Declared {
    pub method: Method,
    /// The full path, in the syntax actix and OpenAPI share (`/api/v1/orgs/{org}`).
    pub path: String,
    /// The one-path document of the route (its operation and the schemas it uses).
    pub document: utoipa::openapi::OpenApi,
    handler: fn() -> actix_web::Route,
}

/// Every route, as the handlers' `#[utoipa::path]` attributes declare them.
pub fn declared() -> Vec<Declared> {
    handlers()
        .into_iter()
        .flat_map(|(document, handler)| {
            let found: Vec<(String, Method)> = document
                .paths
                .paths
                .iter()
                .flat_map(|(path, item)| {
                    methods(item)
                        .into_iter()
                        .map(move |method| (path.clone(), method))
                })
                .collect();
            found.into_iter().map(move |(path, method)| Declared {
                method,
                path,
                document: document.clone(),
                handler,
            })
        })
        .collect()
}

/// The methods a path item has operations for.
fn methods(item: &utoipa::openapi::PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::DELETE, item.delete.is_some()),
        (Method::OPTIONS, item.options.is_some()),
        (Method::HEAD, item.head.is_some()),
        (Method::PATCH, item.patch.is_some()),
        (Method::TRACE, item.trace.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// Each path with its methods and handlers, in declaration order.
type RouteTable = Vec<(String, Vec<(Method, fn() -> actix_web::Route)>)>;

/// The route table, read from the declarations once per process. Every actix worker
/// registers the routes, and the one-path documents they are read from are costly: built
/// in each worker, they left ~12 MiB of freed memory in each worker thread's malloc arena,
/// a third of the idle api's RSS.
pub static ROUTE_TABLE: LazyLock<RouteTable> = LazyLock::new(|| {
    let mut paths: RouteTable = Vec::new();
    for route in declared() {
        let handler = (route.method, route.handler);
        match paths.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, handlers)) => handlers.push(handler),
            None => paths.push((route.path, vec![handler])),
        }
    }
    paths
});

/// Registers every declared route, one resource per path (so a path answers 405
/// `method_not_allowed` to a method it has no handler for).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, handlers) in ROUTE_TABLE.iter() {
        let resource = handlers.iter().fold(
            web::resource(path.as_str()),
            |resource, (method, handler)| resource.route(handler().method(method.clone())),
        );
        cfg.service(resource);
    }
}

/// Records the attempt a request is about on the request span.
pub fn record_attempt(attempt_id: Uuid) {
    tracing::Span::current().record("attempt.id", tracing::field::display(attempt_id));
}

/// Trims a required text field and checks its length in characters.
pub fn required_text(
    field: &str,
    value: &str,
    max: usize,
) -> Result<String, crate::error::ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(crate::error::ApiError::validation(format!(
            "{field} must not be empty"
        )));
    }
    if trimmed.chars().count() > max {
        return Err(crate::error::ApiError::validation(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(trimmed.to_owned())
}

/// An optional script: blank means none.
pub fn optional_script(value: Option<&str>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty()).map(str::to_owned)
}
