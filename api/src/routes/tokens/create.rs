//! `POST /orgs/{org}/tokens`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::models::ApiToken;
use shared::db::schema::api_tokens;
use shared::domain::TokenScope;
use shared::wire::{self, CreateApiToken, CreatedApiToken, ErrorBody};
use uuid::Uuid;

use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::json_body::JsonBody;
use crate::routes::{OrgPath, required_text};
use crate::state::AppState;

/// The longest a token may live: ten years.
const MAX_DAYS: i64 = 3650;

/// Mints an org API token with the given scopes and, optionally, an expiry. The secret
/// is in this answer only; Switchyard keeps its hash. The person who created it is
/// recorded.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = CreateApiToken,
    responses(
        (status = 201, description = "The token and its secret, shown once", body = CreatedApiToken),
        (status = 400, description = "Malformed body or unknown scope", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Empty scopes, name or expiry out of range", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn create(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<OrgPath>,
    body: JsonBody<CreateApiToken>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let name = required_text("name", &body.name, 100)?;
    let scopes = scopes(&body.scopes)?;
    let default_days = state.settings.api.token_expiry_days;
    let expires_at = match body.expires_in_days {
        None if default_days > 0 => Some(Utc::now() + TimeDelta::days(default_days)),
        None => None,
        Some(days) if (1..=MAX_DAYS).contains(&days) => Some(Utc::now() + TimeDelta::days(days)),
        Some(_) => {
            return Err(ApiError::validation(format!(
                "expires_in_days must be between 1 and {MAX_DAYS}"
            )));
        }
    };

    let minted = crate::auth::tokens::mint();
    let org_id = auth.org_id();
    let mut conn = state.db.org(org_id).await?;
    let row: ApiToken = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(Uuid::now_v7()),
            api_tokens::org_id.eq(org_id),
            api_tokens::name.eq(&name),
            api_tokens::prefix.eq(&minted.visible_prefix),
            api_tokens::token_hash.eq(&minted.hash),
            api_tokens::scopes.eq(scopes.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>()),
            api_tokens::expires_at.eq(expires_at),
            api_tokens::created_by.eq(auth.actor.user_id()),
        ))
        .returning(ApiToken::as_returning())
        .get_result(&mut conn)
        .await?;
    drop(conn);

    tracing::info!(token.id = %row.id, scopes = ?scopes, actor = %auth.actor.label(), "api token created");
    let location = format!("/api/v1/orgs/{}/tokens/{}", path.org, row.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(CreatedApiToken {
            api_token: wire::ApiTokenInfo::from(row),
            token: minted.secret,
        }))
}

/// The requested scopes, deduplicated in canonical order; at least one.
fn scopes(requested: &[TokenScope]) -> Result<Vec<TokenScope>, ApiError> {
    let scopes: Vec<TokenScope> = TokenScope::ALL
        .iter()
        .filter(|s| requested.contains(s))
        .copied()
        .collect();
    if scopes.is_empty() {
        return Err(ApiError::validation(
            "scopes must name at least one of read, write, runs, admin",
        ));
    }
    Ok(scopes)
}
