//! `PUT /orgs/{org}/secrets/{name}`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::schema::org_secrets;
use shared::secrets::{self, MAX_SECRETS_PER_ORG, Written};
use shared::wire::{self, ErrorBody, PutSecret};

use super::{SecretPath, info};
use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::state::AppState;

/// Sets a secret's value (sealed under the active key, with a fresh nonce). The value
/// is write-only: the answer shows the name, key id and times, never the value. 201 when
/// the secret is new, 200 when its value was replaced.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/secrets/{name}", tag = "secrets",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("name" = String, Path, description = "Secret name, `^[A-Z_][A-Z0-9_]{0,63}$`: the environment variable it becomes"),
    ),
    request_body = PutSecret,
    responses(
        (status = 200, description = "Replaced", body = wire::SecretInfo),
        (status = 201, description = "Created", body = wire::SecretInfo),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid name, or value empty or over 16 KiB; `secret_name_forbidden` when the name is an environment variable that changes how programs load or run, or that the worker sets (`LD_PRELOAD`, `PATH`, `GIT_*`, `HTTPS_PROXY`, ...)", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn put(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<SecretPath>,
    body: JsonBody<PutSecret>,
) -> ApiResult<HttpResponse> {
    let org_id = auth.org_id();
    let name = path.name.clone();
    secrets::check_name(&name).map_err(ApiError::Validation)?;
    if let Some(why) = shared::executors::forbidden_env_var(&name) {
        return Err(ApiError::unprocessable(
            ErrorCode::SecretNameForbidden,
            format!(
                "a secret cannot be named {name}: secrets become environment variables of attempts, and {why}"
            ),
        ));
    }
    let keyring = state.keyring()?;
    let value = body.into_inner().value;

    let mut conn = state.db.org(auth.org_id()).await?;
    let (row, written) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let others: i64 = org_secrets::table
                .filter(org_secrets::org_id.eq(org_id))
                .filter(org_secrets::name.ne(&name))
                .count()
                .get_result(conn)
                .await?;
            if others >= MAX_SECRETS_PER_ORG {
                return Err(ApiError::validation(format!(
                    "an org may hold at most {MAX_SECRETS_PER_ORG} secrets"
                )));
            }
            Ok(secrets::put_secret(conn, &keyring, org_id, &name, &value).await?)
        })
        .await?;
    drop(conn);

    tracing::info!(
        secret.name = %row.name,
        key_id = %row.key_id,
        actor = %auth.actor.label(),
        created = written == Written::Created,
        "org secret written"
    );
    let body = info(&row);
    Ok(match written {
        Written::Created => HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/orgs/{}/secrets/{}", path.org, row.name),
            ))
            .json(body),
        Written::Replaced => HttpResponse::Ok().json(body),
    })
}
