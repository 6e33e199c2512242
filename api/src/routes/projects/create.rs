//! `POST /orgs/{org}/projects`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::{NewProject, NewRepository, Project, Repository};
use shared::db::schema::{projects, repositories};
use shared::wire::OrgEvent;
use shared::wire::{self, CreateProject, ErrorBody};
use uuid::Uuid;

use super::{check_executor, check_key_prefix, default_key_prefix};
use crate::auth::{OrgAuth, Write};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::repository;
use crate::routes::{OrgPath, emit, optional_script, required_text};
use crate::state::AppState;

/// Creates a project on a repository (registered for the org on first use).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects", tag = "projects",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = CreateProject,
    responses(
        (status = 201, description = "The project", body = wire::Project),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the write scope", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid value, repository or executor; `repository_host_forbidden` when the repository's host is, or resolves to, a loopback, private, link-local, CGNAT, unique-local or reserved address; `repository_local_forbidden` for a path on the server outside development mode", body = ErrorBody),
    ),
    security(("token" = ["write"])))]
pub async fn create(
    auth: OrgAuth<Write>,
    state: web::Data<AppState>,
    path: web::Path<OrgPath>,
    body: JsonBody<CreateProject>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let org_id = auth.org_id();
    let name = required_text("name", &body.name, 200)?;
    let key_prefix = match body.key_prefix {
        Some(prefix) => {
            check_key_prefix(&prefix)?;
            prefix
        }
        None => default_key_prefix(&name),
    };
    let executor = body.default_executor.unwrap_or_else(|| "script".to_owned());
    check_executor(&executor)?;
    let hosts = repository::HostPolicy::from_settings(&state.settings);
    let repo =
        repository::inspect(&body.repository_url, body.default_branch.as_deref(), &hosts).await?;
    let setup_script = optional_script(body.setup_script.as_deref());
    let cleanup_script = optional_script(body.cleanup_script.as_deref());
    let dev_script = optional_script(body.dev_script.as_deref());

    let mut conn = state.db.org(auth.org_id()).await?;
    let (project, repository) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let repository: Repository = diesel::insert_into(repositories::table)
                .values(NewRepository {
                    id: Uuid::now_v7(),
                    org_id,
                    name: &repo.name,
                    url: &repo.url,
                    default_branch: &repo.default_branch,
                })
                .on_conflict((repositories::org_id, repositories::url))
                .do_update()
                .set(repositories::updated_at.eq(diesel::dsl::now))
                .returning(Repository::as_returning())
                .get_result(conn)
                .await?;
            let project: Project = diesel::insert_into(projects::table)
                .values(NewProject {
                    id: Uuid::now_v7(),
                    org_id,
                    repository_id: repository.id,
                    name: &name,
                    key_prefix: &key_prefix,
                    default_branch: &repo.default_branch,
                    setup_script: setup_script.as_deref(),
                    cleanup_script: cleanup_script.as_deref(),
                    dev_script: dev_script.as_deref(),
                    default_executor: &executor,
                })
                .returning(Project::as_returning())
                .get_result(conn)
                .await?;
            Ok((project, repository))
        })
        .await?;
    drop(conn);

    let project = wire::Project::from_rows(project, repository);
    emit(&state, org_id, OrgEvent::ProjectCreated(project.clone())).await;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/orgs/{}/projects/{}", path.org, project.id),
        ))
        .json(project))
}
