//! `GET /orgs/{org}/audit-events`

use actix_web::web;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::AuditEvent;
use shared::db::schema::audit_events;
use shared::wire::{self, ErrorBody, Page};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{Admin, OrgAuth};
use crate::error::{ApiError, ApiResult};
use crate::routes::OrgPath;
use crate::state::AppState;

/// Query of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAuditEvents {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
    /// Only events of this action, e.g. `tasks.update`.
    pub action: Option<String>,
}

/// The org's audit log, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/audit-events", tag = "audit",
    params(("org" = String, Path, description = "Organization slug"), ListAuditEvents),
    responses(
        (status = 200, description = "A page of audit events", body = Page<wire::AuditEvent>),
        (status = 400, description = "Malformed query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Caller lacks the admin scope", body = ErrorBody),
        (status = 404, description = "No such org for this caller", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["admin"])))]
pub async fn list(
    auth: OrgAuth<Admin>,
    state: web::Data<AppState>,
    _path: web::Path<OrgPath>,
    query: web::Query<ListAuditEvents>,
) -> ApiResult<web::Json<Page<wire::AuditEvent>>> {
    let limit = crate::routes::paging::page_limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(Cursor::parse).transpose()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let mut q = audit_events::table
        .filter(audit_events::org_id.eq(auth.org_id()))
        .select(AuditEvent::as_select())
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(action) = &query.action {
        q = q.filter(audit_events::action.eq(action));
    }
    if let Some(c) = cursor {
        q = q.filter(
            audit_events::created_at
                .lt(c.created_at)
                .or(audit_events::created_at
                    .eq(c.created_at)
                    .and(audit_events::id.lt(c.id))),
        );
    }
    let mut rows: Vec<AuditEvent> = q.load(&mut conn).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|e| Cursor::after(e).encode())
    } else {
        None
    };
    Ok(web::Json(Page {
        items: rows.into_iter().map(wire::AuditEvent::from).collect(),
        next_cursor,
    }))
}

/// Where a page ends: the sort key of its last event (Postgres keeps microseconds, so
/// the time round-trips exactly).
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    fn after(event: &AuditEvent) -> Cursor {
        Cursor {
            created_at: event.created_at,
            id: event.id,
        }
    }

    fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.simple()
        )
    }

    fn parse(s: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::InvalidQuery("invalid cursor".into());
        let (micros, id) = s.split_once('_').ok_or_else(invalid)?;
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(invalid)?;
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(Cursor { created_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_microsecond() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time"),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&c.encode()).ok(), Some(c));
        for bad in [
            "",
            "garbage",
            "12_nope",
            "x_00000000000000000000000000000000",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?}");
        }
    }
}
