//! `GET /orgs/{org}/attempts/{id}/diff`

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use shared::wire::{Diff, ErrorBody};

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::routes::{IdPath, lookup, record_attempt};
use crate::runs;
use crate::state::AppState;

/// The attempt's current diff against its base commit, exactly as the worker last
/// uploaded it (the stored JSON passes through unparsed); version 0 and no files before
/// the first upload.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/attempts/{id}/diff", tag = "attempts",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Attempt id"),
    ),
    responses(
        (status = 200, description = "The current diff", body = Diff),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such attempt in this org", body = ErrorBody),
        (status = 503, description = "The object store is unavailable", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn diff(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
) -> ApiResult<HttpResponse> {
    record_attempt(path.id);
    let mut conn = state.db.org(auth.org_id()).await?;
    let attempt = lookup::attempt(&mut conn, auth.org_id(), path.id).await?;
    drop(conn);
    let body = runs::current_diff_json(&state.store, auth.org_id(), &attempt).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}
