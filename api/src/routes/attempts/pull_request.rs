//! `POST /orgs/{org}/attempts/{id}/pull-request` and `POST /orgs/{org}/attempts/{id}/merge`

use actix_web::{HttpResponse, web};
use shared::wire::{self, ErrorBody};

use crate::auth::{OrgAuth, Runs};
use crate::error::ApiResult;
use crate::routes::{IdPath, record_attempt};
use crate::state::AppState;

/// Opens a pull request on GitHub from the attempt's branch into its base branch, titled
/// after the task and described with the task's description and the attempt's summary.
/// The attempt must have ended (succeeded or failed) with commits on its branch, on a
/// repository the GitHub App reaches.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/pull-request", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 201, description = "The attempt with its pull request", body = wire::Attempt),
        (status = 400, description = "Malformed id; the repository is not on GitHub (`not_on_github`) or the App is not configured (`github_app_not_configured`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 409, description = "A pull request exists (`pull_request_exists`), the attempt is not finished (`attempt_busy`), has no commits (`nothing_to_merge`), or GitHub refused (`github_refused`)", body = ErrorBody),
        (status = 502, description = "GitHub unavailable (`upstream_unavailable`)", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn open(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<HttpResponse> {
    record_attempt(path.id);
    let attempt = crate::github::pulls::open(&state, auth.org_id(), &path.org, path.id).await?;
    Ok(HttpResponse::Created().json(wire::Attempt::from(attempt)))
}

/// Merges the attempt's pull request with the project's merge method (`merge`, `squash`
/// or `rebase`); the task moves to done. Merging a merged pull request answers the
/// attempt as it is.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/attempts/{id}/merge", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "The attempt with its merged pull request", body = wire::Attempt),
        (status = 400, description = "Malformed id; the repository is not on GitHub (`not_on_github`) or the App is not configured (`github_app_not_configured`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the runs scope", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 409, description = "No pull request (`no_pull_request`), or GitHub refused the merge (`github_refused`)", body = ErrorBody),
        (status = 502, description = "GitHub unavailable (`upstream_unavailable`)", body = ErrorBody),
    ),
    security(("token" = ["runs"])))]
pub async fn merge(
    auth: OrgAuth<Runs>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<wire::Attempt>> {
    record_attempt(path.id);
    let attempt = crate::github::pulls::merge(&state, auth.org_id(), path.id).await?;
    Ok(web::Json(wire::Attempt::from(attempt)))
}
