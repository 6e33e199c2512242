//! `POST /orgs`

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, RunQueryDsl};
use shared::db::models::Organization;
use shared::db::schema::{memberships, organizations};
use shared::domain::MemberRole;
use shared::wire::{self, CreateOrg, ErrorBody};
use uuid::Uuid;

use super::check_slug;
use crate::auth::{Actor, AuditActor, UserAuth};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json_body::JsonBody;
use crate::routes::required_text;
use crate::state::AppState;

/// Creates an org; the signed-in person becomes its owner, in the same transaction, so
/// no org is ever left without one. People only: an org API token answers 403
/// `person_required`.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs",
    request_body = CreateOrg,
    responses(
        (status = 201, description = "The new org", body = wire::Organization),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An org API token (not a person)", body = ErrorBody),
        (status = 409, description = "The slug is taken (`slug_taken`)", body = ErrorBody),
        (status = 422, description = "Invalid or reserved slug, or invalid name; `org_limit_reached` when the person has created `quotas.max_orgs_per_person` orgs", body = ErrorBody),
    ),
    security(("token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    auth: UserAuth,
    req: HttpRequest,
    body: JsonBody<CreateOrg>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    check_slug(&body.slug)?;
    let name = required_text("name", &body.name, 200)?;
    let org_id = Uuid::now_v7();
    let user_id = auth.user.id;
    {
        let mut conn = state.db.system().await?;
        crate::quotas::check_org_count(&mut conn, &state.settings.quotas, user_id).await?;
    }

    // Acting in the new org from the start: row-level security checks both rows.
    let mut conn = state.db.org(org_id).await?;
    let org: Organization = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let org: Organization = diesel::insert_into(organizations::table)
                .values((
                    organizations::id.eq(org_id),
                    organizations::slug.eq(&body.slug),
                    organizations::name.eq(&name),
                    organizations::created_by.eq(user_id),
                ))
                .returning(Organization::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| match e {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                        ApiError::conflict(
                            ErrorCode::SlugTaken,
                            format!("the slug {:?} is taken; choose another", body.slug),
                        )
                    }
                    other => other.into(),
                })?;
            diesel::insert_into(memberships::table)
                .values((
                    memberships::id.eq(Uuid::now_v7()),
                    memberships::org_id.eq(org_id),
                    memberships::user_id.eq(user_id),
                    memberships::role.eq(MemberRole::Owner),
                ))
                .execute(conn)
                .await?;
            Ok(org)
        })
        .await?;
    drop(conn);

    // The creation is the new org's first audit event.
    req.extensions_mut().insert(AuditActor {
        org_id,
        actor: Actor::User {
            id: user_id,
            login: auth.user.login.clone(),
            session_id: auth.session_id,
        },
    });
    tracing::info!(org.id = %org.id, org.slug = %org.slug, user.id = %user_id, "org created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/orgs/{}", org.slug)))
        .json(wire::Organization::from(org)))
}
