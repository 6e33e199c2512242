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

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
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

/// The `data` of a `*.deleted` org event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub id: Uuid,
}

/// Registers every route (health at the root, the rest under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(
            web::scope("/api/v1")
                .service(web::resource("/openapi.json").get(crate::openapi::serve))
                .service(web::resource("/auth/github/login").get(auth::github::login))
                .service(web::resource("/auth/github/callback").get(auth::github::callback))
                .service(web::resource("/auth/device/code").post(auth::device::code))
                .service(web::resource("/auth/device/token").post(auth::device::token))
                .service(web::resource("/auth/dev/login").post(auth::dev::login))
                .service(web::resource("/auth/refresh").post(auth::refresh::refresh))
                .service(web::resource("/auth/logout").post(auth::logout::logout))
                .service(web::resource("/me").get(auth::me::me))
                .service(web::resource("/github/webhooks").post(github::webhook::receive))
                .service(web::resource("/github/setup").get(github::setup::setup))
                .service(web::resource("/orgs/{org}/github/install").get(github::install::install))
                .service(web::resource("/orgs/{org}/repositories").get(repositories::list::list))
                .service(
                    web::resource("/orgs/{org}/repositories/{id}/branches")
                        .get(repositories::branches::branches),
                )
                .service(
                    web::resource("/orgs")
                        .get(orgs::list::list)
                        .post(orgs::create::create),
                )
                .service(
                    web::resource("/orgs/{org}")
                        .get(orgs::get::get)
                        .patch(orgs::update::update),
                )
                .service(
                    web::resource("/orgs/{org}/members")
                        .get(members::list::list)
                        .post(members::add::add),
                )
                .service(
                    web::resource("/orgs/{org}/members/{user}")
                        .patch(members::update::update)
                        .delete(members::remove::remove),
                )
                .service(
                    web::resource("/orgs/{org}/invitations")
                        .get(invitations::list::list)
                        .post(invitations::create::create),
                )
                .service(
                    web::resource("/orgs/{org}/invitations/{id}")
                        .delete(invitations::revoke::revoke),
                )
                .service(web::resource("/invitations/accept").post(invitations::accept::accept))
                .service(
                    web::resource("/orgs/{org}/tokens")
                        .get(tokens::list::list)
                        .post(tokens::create::create),
                )
                .service(web::resource("/orgs/{org}/tokens/{id}").delete(tokens::revoke::revoke))
                .service(web::resource("/orgs/{org}/audit-events").get(audit::list::list))
                .service(
                    web::resource("/orgs/{org}/projects")
                        .get(projects::list::list)
                        .post(projects::create::create),
                )
                .service(
                    web::resource("/orgs/{org}/projects/{id}")
                        .get(projects::get::get)
                        .patch(projects::update::update)
                        .delete(projects::delete::delete),
                )
                .service(
                    web::resource("/orgs/{org}/projects/{id}/tasks")
                        .get(tasks::list::list)
                        .post(tasks::create::create),
                )
                .service(
                    web::resource("/orgs/{org}/tasks/{id}")
                        .get(tasks::get::get)
                        .patch(tasks::update::update)
                        .delete(tasks::delete::delete),
                )
                .service(
                    web::resource("/orgs/{org}/tasks/{id}/comments")
                        .get(comments::list::list)
                        .post(comments::create::create),
                )
                .service(
                    web::resource("/orgs/{org}/tasks/{id}/attempts")
                        .get(attempts::list::list)
                        .post(attempts::start::start),
                )
                .service(web::resource("/orgs/{org}/attempts/{id}").get(attempts::get::get))
                .service(web::resource("/orgs/{org}/attempts/{id}/stop").post(attempts::stop::stop))
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/pull-request")
                        .post(attempts::pull_request::open),
                )
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/merge")
                        .post(attempts::pull_request::merge),
                )
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/follow-up")
                        .post(attempts::follow_up::follow_up),
                )
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/processes")
                        .get(attempts::processes::processes),
                )
                .service(web::resource("/orgs/{org}/attempts/{id}/diff").get(attempts::diff::diff))
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/approvals").get(approvals::list::list),
                )
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/approvals/{approval_id}")
                        .post(approvals::decide::decide),
                )
                .service(
                    web::resource("/orgs/{org}/attempts/{id}/diff/stream")
                        .get(streams::diff::diff_stream),
                )
                .service(
                    web::resource("/orgs/{org}/processes/{id}/logs").get(processes::logs::logs),
                )
                .service(
                    web::resource("/orgs/{org}/processes/{id}/logs/stream")
                        .get(streams::logs::logs_stream),
                )
                .service(web::resource("/orgs/{org}/events").get(streams::events::events))
                .service(web::resource("/orgs/{org}/executors").get(executors::list::list))
                .service(
                    web::resource("/orgs/{org}/executor-profiles")
                        .get(profiles::list::list)
                        .post(profiles::create::create),
                )
                .service(
                    web::resource("/orgs/{org}/executor-profiles/{name}")
                        .get(profiles::get::get)
                        .patch(profiles::update::update)
                        .delete(profiles::delete::delete),
                )
                .service(
                    web::resource("/orgs/{org}/projects/{id}/executor-profiles")
                        .get(profiles::project::list::list),
                )
                .service(
                    web::resource("/orgs/{org}/projects/{id}/executor-profiles/{name}")
                        .get(profiles::project::get::get)
                        .put(profiles::project::put::put)
                        .delete(profiles::project::delete::delete),
                )
                .service(web::resource("/orgs/{org}/secrets").get(secrets::list::list))
                .service(
                    web::resource("/orgs/{org}/secrets/{name}")
                        .get(secrets::get::get)
                        .put(secrets::put::put)
                        .delete(secrets::delete::delete),
                ),
        );
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
