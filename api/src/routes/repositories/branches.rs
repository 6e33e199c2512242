//! `GET /orgs/{org}/repositories/{id}/branches`

use actix_web::web;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::Repository;
use shared::db::schema::repositories;
use shared::wire::{Branch, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::IdPath;
use crate::state::AppState;

/// The repository's branches, by name: from GitHub (through the App) for a GitHub
/// repository, from the repository itself for a local one. A remote repository not on
/// GitHub answers 400 `branches_unavailable` (the api does not fetch arbitrary remotes).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/repositories/{id}/branches", tag = "repositories",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Repository id"),
    ),
    responses(
        (status = 200, description = "The branches, sorted by name", body = Vec<Branch>),
        (status = 400, description = "Malformed id, or branches not listable (`branches_unavailable`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such repository in this org", body = ErrorBody),
        (status = 502, description = "GitHub unavailable (`upstream_unavailable`)", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn branches(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<web::Json<Vec<Branch>>> {
    let mut conn = state.db.org(auth.org_id()).await?;
    let repo: Repository = repositories::table
        .filter(repositories::org_id.eq(auth.org_id()))
        .filter(repositories::id.eq(path.id))
        .select(Repository::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound("repository"))?;
    drop(conn);
    let mut list = match (
        repo.github_installation_id,
        repo.github_repo_id,
        repo.github_full_name.as_deref(),
        state.github_app.as_deref(),
    ) {
        (Some(installation), Some(repo_id), Some(full_name), Some(app)) => app
            .branches(installation, repo_id, full_name)
            .await
            .map_err(|e| {
                if e.is_transient() {
                    ApiError::Upstream("GitHub could not list the branches just now".into())
                } else {
                    ApiError::BadRequest {
                        code: ErrorCode::BranchesUnavailable,
                        message: format!("GitHub refused to list the branches: {e}"),
                    }
                }
            })?
            .into_iter()
            .map(|b| Branch {
                name: b.name,
                commit: b.commit.sha,
            })
            .collect(),
        _ => local_branches(&repo.url).await?,
    };
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(web::Json(list))
}

/// The branches of a local repository.
async fn local_branches(url: &str) -> Result<Vec<Branch>, ApiError> {
    let crate::repository::Location::Local(path) = crate::repository::classify(url)? else {
        return Err(ApiError::BadRequest {
            code: ErrorCode::BranchesUnavailable,
            message: "the repository is remote and not on GitHub: its branches are not listed"
                .into(),
        });
    };
    shared::blocking::run(move || {
        let unavailable = |e: git2::Error| ApiError::BadRequest {
            code: ErrorCode::BranchesUnavailable,
            message: format!("the repository cannot be read: {}", e.message()),
        };
        let repo = git2::Repository::open(&path).map_err(unavailable)?;
        let mut out = Vec::new();
        for branch in repo
            .branches(Some(git2::BranchType::Local))
            .map_err(unavailable)?
        {
            let (branch, _) = branch.map_err(unavailable)?;
            if let (Ok(Some(name)), Some(target)) = (branch.name(), branch.get().target()) {
                out.push(Branch {
                    name: name.to_owned(),
                    commit: target.to_string(),
                });
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("listing branches")))?
}
