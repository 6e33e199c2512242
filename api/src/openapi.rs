//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! the wire types, served at `/api/v1/openapi.json` (the dashboard's types come from it).

use actix_web::HttpResponse;
use std::sync::LazyLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;
use crate::routes::{
    approvals, attempts, audit, auth, comments, executors, github, health, invitations, members,
    orgs, processes, profiles, projects, repositories, secrets, streams, tasks, tokens,
};

/// The API description: every route, its parameters, bodies and error answers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard API",
        description = "Plan work on a kanban board and run AI coding agents on it. \
            Every error answers `{\"error\": {\"code\", \"message\"}}` with a stable code. \
            A malformed id in a path answers 400 `invalid_id`; a resource of another \
            organization answers 404 `not_found`.",
    ),
    paths(
        health::healthz,
        health::readyz,
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
        members::add::add,
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
        github::webhook::receive,
    ),
    components(schemas(crate::routes::Deleted, shared::wire::ExecutorProfileDeleted)),
    modifiers(&BearerToken),
    tags(
        (name = "projects", description = "Boards on repositories"),
        (name = "tasks", description = "Cards on a board"),
        (name = "attempts", description = "Agent runs on a task"),
        (name = "logs", description = "Process logs"),
        (name = "streams", description = "Server-sent event streams"),
        (name = "profiles", description = "Executor profiles: which agent runs, with which options"),
        (name = "secrets", description = "Org secrets for agents (values are write-only)"),
        (name = "auth", description = "Signing people in and out"),
        (name = "orgs", description = "Organizations: the person's orgs, creating one, its settings"),
        (name = "members", description = "Members of an org and their roles"),
        (name = "invitations", description = "Inviting people into an org"),
        (name = "tokens", description = "Org API tokens (secrets shown once)"),
        (name = "audit", description = "The org's audit log"),
        (name = "repositories", description = "The org's repositories, local and on GitHub"),
        (name = "github", description = "The GitHub App: installing it, and its webhooks"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// Declares the org API token as the `token` bearer scheme the paths refer to.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON, built once: it depends only on the code.
static DOCUMENT: LazyLock<Result<String, String>> =
    LazyLock::new(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()));

/// `GET /api/v1/openapi.json`
pub async fn serve() -> Result<HttpResponse, ApiError> {
    match &*DOCUMENT {
        Ok(json) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(json.clone())),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "encoding the OpenAPI document: {e}"
        ))),
    }
}
