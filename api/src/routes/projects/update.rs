//! `PATCH /orgs/{org}/projects/{id}`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Project;
use shared::db::schema::projects;
use shared::domain::GithubRunPolicy;
use shared::executors::ProfileRef;
use shared::wire::OrgEvent;
use shared::wire::{self, ErrorBody, UpdateProject};

use super::check_executor;
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::repository;
use crate::routes::{IdPath, emit, lookup, optional_script, required_text};
use crate::state::AppState;

/// The columns a PATCH may change; `None` leaves a column alone, `Some(None)` clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = projects)]
struct Changes {
    name: Option<String>,
    default_branch: Option<String>,
    setup_script: Option<Option<String>>,
    cleanup_script: Option<Option<String>>,
    dev_script: Option<Option<String>>,
    default_executor: Option<String>,
    github_trigger_label: Option<String>,
    merge_method: Option<shared::domain::MergeMethod>,
    github_allow_script: Option<bool>,
    github_run_policy: Option<GithubRunPolicy>,
    github_profile: Option<Option<String>>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.default_branch.is_none()
            && self.setup_script.is_none()
            && self.cleanup_script.is_none()
            && self.dev_script.is_none()
            && self.default_executor.is_none()
            && self.github_trigger_label.is_none()
            && self.merge_method.is_none()
            && self.github_allow_script.is_none()
            && self.github_run_policy.is_none()
            && self.github_profile.is_none()
    }
}

/// Changes a project's name, default branch, scripts, default executor, GitHub trigger
/// label, pull request merge method (`merge`, `squash` or `rebase`), or what runs started
/// from GitHub may use. Loosening the latter — letting GitHub trigger `script` runs, or
/// the `trusted` policy that hands them every org secret — needs the `admin` scope (403
/// `admin_required`): it exposes the org's secrets to text from outside the org.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/projects/{id}", tag = "projects",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
    ),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The updated project", body = wire::Project),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope, or loosening the GitHub run policy without the admin scope (`admin_required`)", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
        (status = 422, description = "Invalid value", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn update(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    body: JsonBody<UpdateProject>,
) -> ApiResult<web::Json<wire::Project>> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let mut conn = state.db.org(auth.org_id()).await?;
    let (current, repo) = lookup::project(&mut conn, org_id, path.id).await?;

    let mut changes = Changes::default();
    if let Some(name) = &body.name {
        changes.name = Some(required_text("name", name, 200)?);
    }
    if let Some(branch) = &body.default_branch {
        repository::check_branch_exists(&repo.url, branch).await?;
        changes.default_branch = Some(branch.clone());
    }
    if let Some(executor) = &body.default_executor {
        check_executor(executor)?;
        changes.default_executor = Some(executor.clone());
    }
    if let Some(label) = &body.github_trigger_label {
        changes.github_trigger_label = Some(required_text("github_trigger_label", label, 50)?);
    }
    changes.merge_method = body.merge_method;
    let loosens = body.github_allow_script == Some(true)
        || body.github_run_policy == Some(GithubRunPolicy::Trusted);
    if loosens && !auth.is_admin() {
        return Err(ApiError::refused(
            ErrorCode::AdminRequired,
            "only an owner or admin may let GitHub trigger script runs or use the trusted policy: runs started from GitHub would get the org's secrets",
        ));
    }
    changes.github_allow_script = body.github_allow_script;
    changes.github_run_policy = body.github_run_policy;
    if let Some(profile) = body.github_profile {
        changes.github_profile = Some(match profile {
            Some(text) => {
                ProfileRef::parse(text.trim())?;
                Some(text.trim().to_owned())
            }
            None => None,
        });
    }
    changes.setup_script = body.setup_script.map(|s| optional_script(s.as_deref()));
    changes.cleanup_script = body.cleanup_script.map(|s| optional_script(s.as_deref()));
    changes.dev_script = body.dev_script.map(|s| optional_script(s.as_deref()));
    if changes.is_empty() {
        return Ok(web::Json(wire::Project::from_rows(current, repo)));
    }

    let project: Project = diesel::update(
        projects::table
            .filter(projects::id.eq(path.id))
            .filter(projects::org_id.eq(org_id)),
    )
    .set(&changes)
    .returning(Project::as_returning())
    .get_result(&mut conn)
    .await
    .optional()?
    .ok_or(ApiError::NotFound("project"))?;
    drop(conn);

    let project = wire::Project::from_rows(project, repo);
    emit(&state, org_id, OrgEvent::ProjectUpdated(project.clone())).await;
    Ok(web::Json(project))
}
