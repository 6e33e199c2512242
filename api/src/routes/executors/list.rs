//! `GET /orgs/{org}/executors`

use actix_web::web;
use serde::{Deserialize, Serialize};
use shared::executors::ExecutorKind;
use shared::wire::ErrorBody;
use utoipa::ToSchema;

use crate::auth::{OrgAuth, Read};
use crate::error::ApiResult;
use crate::state::AppState;

/// One executor and how many running workers can run it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecutorAvailability {
    pub name: String,
    /// Live workers that can run it; 0 means an attempt with it would be refused while
    /// other workers run.
    pub workers: usize,
}

/// Every executor Switchyard knows, with the number of live workers able to run it.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/executors", tag = "attempts",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, description = "Executors and their availability", body = Vec<ExecutorAvailability>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the read scope", body = ErrorBody),
        (status = 404, description = "No such org", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    _auth: OrgAuth<Read>,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<ExecutorAvailability>>> {
    let mut redis = state.redis();
    let live = shared::workers::live(&mut redis, &state.keys).await?;
    let out = ExecutorKind::ALL
        .iter()
        .map(|kind| {
            let name = kind.as_str();
            ExecutorAvailability {
                name: name.to_owned(),
                workers: live
                    .iter()
                    .filter(|w| w.executors.iter().any(|e| e == name))
                    .count(),
            }
        })
        .collect();
    Ok(web::Json(out))
}
