//! `GET /orgs/{org}/projects/{id}/tasks`

use actix_web::web;
use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::expression::{ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Bool, Double, Integer, Text};
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use shared::db::models::Task;
use shared::db::schema::tasks;
use shared::domain::TaskStatus;
use shared::wire::{self, ErrorBody, Page};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::{OrgAuth, Read};
use crate::error::{ApiError, ApiResult};
use crate::routes::paging::page_limit;
use crate::routes::{IdPath, lookup};
use crate::state::AppState;

diesel::define_sql_function! {
    /// Board order of the status columns: the database's `switchyard_board_rank`, which the
    /// index `tasks_board_order_idx` is built on, so a page is read in order from it.
    fn switchyard_board_rank(status: Text) -> Integer;
}

/// Query of the task list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTasks {
    /// Only tasks in this column.
    pub status: Option<TaskStatus>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// The board's tasks in board order (column, then position), a page at a time.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{id}/tasks", tag = "tasks",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = uuid::Uuid, Path, description = "Project id"),
        ListTasks,
    ),
    responses(
        (status = 200, description = "A page of tasks", body = Page<wire::Task>),
        (status = 400, description = "Malformed id, query or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such project in this org", body = ErrorBody),
        (status = 422, description = "Limit out of range", body = ErrorBody),
    ),
    security(("token" = ["read"])))]
pub async fn list(
    auth: OrgAuth<Read>,
    state: web::Data<AppState>,
    path: web::Path<IdPath>,
    query: web::Query<ListTasks>,
) -> ApiResult<web::Json<Page<wire::Task>>> {
    let limit = page_limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(Cursor::parse).transpose()?;
    let mut conn = state.db.org(auth.org_id()).await?;
    let (project, _) = lookup::project(&mut conn, auth.org_id(), path.id).await?;

    let mut rows: Vec<Task> =
        page_query(auth.org_id(), project.id, query.status, cursor, limit + 1)
            .load(&mut conn)
            .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|t| Cursor::after(t).encode())
    } else {
        None
    };
    Ok(web::Json(Page {
        items: rows
            .into_iter()
            .map(|t| wire::Task::from_row(t, &project.key_prefix))
            .collect(),
        next_cursor,
    }))
}

/// Up to `rows` of the project's tasks in board order, after `cursor` and in one column if
/// asked.
fn page_query(
    org_id: Uuid,
    project_id: Uuid,
    status: Option<TaskStatus>,
    cursor: Option<Cursor>,
    rows: i64,
) -> tasks::BoxedQuery<'static, Pg, SqlTypeOf<AsSelect<Task, Pg>>> {
    let mut q = tasks::table
        .filter(tasks::org_id.eq(org_id))
        .filter(tasks::project_id.eq(project_id))
        .select(Task::as_select())
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(tasks::status.eq(status));
    }
    if let Some(c) = cursor {
        q = q.filter(c);
    }
    q.order((
        switchyard_board_rank(tasks::status).asc(),
        tasks::position.asc(),
        tasks::id.asc(),
    ))
    .limit(rows)
}

/// Where a page ends: the sort key of its last task. As a filter, it keeps the tasks after
/// it in board order.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    rank: i32,
    position: f64,
    id: Uuid,
}

impl Cursor {
    fn after(task: &Task) -> Cursor {
        Cursor {
            rank: status_rank(task.status),
            position: task.position,
            id: task.id,
        }
    }

    fn encode(&self) -> String {
        format!("{}_{}_{}", self.rank, self.position, self.id.simple())
    }

    fn parse(s: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::InvalidQuery("invalid cursor".into());
        let mut parts = s.splitn(3, '_');
        let rank = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let position: f64 = parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(invalid)?;
        let id = parts
            .next()
            .and_then(|p| Uuid::parse_str(p).ok())
            .ok_or_else(invalid)?;
        if !position.is_finite() {
            return Err(invalid());
        }
        Ok(Cursor { rank, position, id })
    }
}

// The filter is written out with binds rather than as literal SQL, because diesel never
// prepares a statement holding literal SQL: each page would be parsed and planned again.
impl Expression for Cursor {
    type SqlType = Bool;
}

impl AppearsOnTable<tasks::table> for Cursor {}

impl SelectableExpression<tasks::table> for Cursor {}

impl ValidGrouping<()> for Cursor {
    type IsAggregate = is_aggregate::Never;
}

impl QueryFragment<Pg> for Cursor {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // A row comparison, which the board-order index serves as one range.
        out.push_sql("(switchyard_board_rank(tasks.status), tasks.position, tasks.id) > (");
        out.push_bind_param::<Integer, _>(&self.rank)?;
        out.push_sql(", ");
        out.push_bind_param::<Double, _>(&self.position)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The Rust twin of `switchyard_board_rank` (the migration `board_indexes` defines that one).
fn status_rank(status: TaskStatus) -> i32 {
    match status {
        TaskStatus::Todo => 0,
        TaskStatus::InProgress => 1,
        TaskStatus::InReview => 2,
        TaskStatus::Done => 3,
        TaskStatus::Cancelled => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_including_negative_and_fractional_positions() {
        for position in [1000.0, -2.5, 0.1 + 0.2, 1e300] {
            let c = Cursor {
                rank: 2,
                position,
                id: Uuid::now_v7(),
            };
            assert_eq!(Cursor::parse(&c.encode()).ok(), Some(c));
        }
        assert!(Cursor::parse("garbage").is_err());
        assert!(Cursor::parse("1_NaN_00000000000000000000000000000000").is_err());
    }

    #[test]
    fn every_shape_of_the_page_query_can_be_prepared() {
        let cursor = Cursor {
            rank: 1,
            position: 2.5,
            id: Uuid::now_v7(),
        };
        for status in [None, Some(TaskStatus::InReview)] {
            for cursor in [None, Some(cursor.clone())] {
                let q = page_query(Uuid::now_v7(), Uuid::now_v7(), status, cursor, 51);
                let cacheable = QueryFragment::<Pg>::is_safe_to_cache_prepared(&q, &Pg);
                assert_eq!(cacheable.ok(), Some(true));
            }
        }
    }

    #[test]
    fn status_rank_follows_board_order() {
        let ranks: Vec<i32> = TaskStatus::ALL.iter().map(|s| status_rank(*s)).collect();
        assert_eq!(ranks, vec![0, 1, 2, 3, 4]);
    }
}
