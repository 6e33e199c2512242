//! Tasks: the cards of a project's board.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shared::db::schema::{memberships, tasks};
use shared::domain::TaskStatus;
use uuid::Uuid;

use crate::error::ApiError;

/// Gap between a column's last card and a card appended after it, so later moves can
/// land between two cards without renumbering.
pub const POSITION_STEP: f64 = 1000.0;
const MAX_LABELS: usize = 20;
const MAX_LABEL_CHARS: usize = 50;
const MAX_ASSIGNEES: usize = 20;
const MAX_DESCRIPTION_CHARS: usize = 100_000;

/// The position after the last card of a column (`POSITION_STEP` in an empty one).
pub async fn end_of_column(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    status: TaskStatus,
) -> Result<f64, ApiError> {
    let max: Option<f64> = tasks::table
        .filter(tasks::project_id.eq(project_id))
        .filter(tasks::status.eq(status))
        .select(diesel::dsl::max(tasks::position))
        .first(conn)
        .await?;
    Ok(max.map_or(POSITION_STEP, |m| m + POSITION_STEP))
}

/// A board position must be a finite number.
pub fn check_position(position: f64) -> Result<f64, ApiError> {
    if position.is_finite() {
        Ok(position)
    } else {
        Err(ApiError::validation("position must be a finite number"))
    }
}

/// Trimmed, non-empty, bounded, deduplicated labels.
pub fn clean_labels(labels: &[String]) -> Result<Vec<Option<String>>, ApiError> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::validation(format!("at most {MAX_LABELS} labels")));
    }
    let mut out: Vec<Option<String>> = Vec::with_capacity(labels.len());
    for label in labels {
        let label = crate::routes::required_text("label", label, MAX_LABEL_CHARS)?;
        if !out.iter().flatten().any(|l| *l == label) {
            out.push(Some(label));
        }
    }
    Ok(out)
}

/// A description within bounds.
pub fn check_description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::validation(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(())
}

/// Assignees must be members of the org.
pub async fn check_assignees(
    conn: &mut AsyncPgConnection,
    org_id: Uuid,
    assignees: &[Uuid],
) -> Result<Vec<Option<Uuid>>, ApiError> {
    let mut unique: Vec<Uuid> = assignees.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() > MAX_ASSIGNEES {
        return Err(ApiError::validation(format!(
            "at most {MAX_ASSIGNEES} assignees"
        )));
    }
    if unique.is_empty() {
        return Ok(Vec::new());
    }
    let members: i64 = memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::user_id.eq_any(&unique))
        .count()
        .get_result(conn)
        .await?;
    if members as usize != unique.len() {
        return Err(ApiError::validation(
            "every assignee must be a member of the organization",
        ));
    }
    Ok(unique.into_iter().map(Some).collect())
}
