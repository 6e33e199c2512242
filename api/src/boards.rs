//! Boards: a project's cards, their numbers and their places in a column. A card made
//! from the dashboard or the API (`POST …/projects/{id}/tasks`) and one made from a
//! GitHub issue both come through [`create_task`], so every card is numbered and placed
//! by the same rules.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnectionCore, RunQueryDsl};
use futures::FutureExt;
use shared::db::Conn;
use shared::db::models::{NewTask, Task};
use shared::db::schema::{memberships, projects, tasks};
use shared::domain::{TaskOrigin, TaskPriority, TaskStatus};
use shared::wire::{self, OrgEvent};
use uuid::Uuid;

use crate::error::ApiError;
use crate::events::Events;

/// Gap between a column's last card and a card appended after it, so later moves can
/// land between two cards without renumbering.
pub const POSITION_STEP: f64 = 1000.0;
const MAX_ASSIGNEES: usize = 20;

/// The position after the last card of a column (`POSITION_STEP` in an empty one), on
/// any connection (a pipelined one too).
pub async fn end_of_column<C>(
    conn: &mut C,
    project_id: Uuid,
    status: TaskStatus,
) -> QueryResult<f64>
where
    C: AsyncConnectionCore<Backend = Pg>,
{
    let max: Option<f64> = tasks::table
        .filter(tasks::project_id.eq(project_id))
        .filter(tasks::status.eq(status))
        .select(diesel::dsl::max(tasks::position))
        .first(conn)
        .await?;
    Ok(max.map_or(POSITION_STEP, |m| m + POSITION_STEP))
}

/// Assignees must be members of the org; returns them deduplicated, as stored.
pub async fn check_assignees(
    conn: &mut Conn,
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

/// A card to put on a board; its text and labels already checked by the caller.
pub struct NewCard<'a> {
    pub project_id: Uuid,
    pub title: &'a str,
    pub description: &'a str,
    pub status: TaskStatus,
    /// Where in its column; the end of the column when `None`.
    pub position: Option<f64>,
    pub priority: TaskPriority,
    pub labels: Vec<Option<String>>,
    pub assignee_ids: &'a [Uuid],
    pub parent_task_id: Option<Uuid>,
    pub origin: TaskOrigin,
    /// The GitHub issue the card was made from.
    pub github_issue_number: Option<i64>,
}

/// Creates a task inside the caller's transaction. Its number is the project's next (so
/// keys read `PREFIX-1`, `PREFIX-2`, ...); it goes to the end of its column unless a
/// position is given. A project not in the org answers 404; assignees outside the org and
/// a parent on another board answer 422. Returns the task, its project's key prefix and
/// its `task.created` event.
pub async fn create_task(
    conn: &mut Conn,
    org_id: Uuid,
    card: NewCard<'_>,
) -> Result<(Task, String, Events), ApiError> {
    let project_id = card.project_id;
    // Taking the number locks the project row until commit, so numbers never repeat, and
    // every card made meanwhile waits. The end of the column goes out in the same flight:
    // the server reads it once the lock is held, with a snapshot that sees every card
    // committed before, and the lock is held one round trip less.
    let take_number = diesel::update(
        projects::table
            .filter(projects::id.eq(project_id))
            .filter(projects::org_id.eq(org_id)),
    )
    .set(projects::task_counter.eq(projects::task_counter + 1))
    .returning((projects::task_counter, projects::key_prefix));
    let (status, given) = (card.status, card.position);
    let (taken, position) = conn
        .pipelined(move |pg| {
            async move {
                let (mut first, mut second) = (pg, pg);
                let place = async {
                    match given {
                        Some(p) => Ok(p),
                        None => end_of_column(&mut second, project_id, status).await,
                    }
                };
                futures::join!(take_number.get_result::<(i64, String)>(&mut first), place)
            }
            .boxed()
        })
        .await?;
    let (number, key_prefix) = taken.optional()?.ok_or(ApiError::NotFound("project"))?;
    let position = position?;
    let assignee_ids = check_assignees(conn, org_id, card.assignee_ids).await?;
    if let Some(parent) = card.parent_task_id {
        check_parent(conn, project_id, parent).await?;
    }
    let task: Task = diesel::insert_into(tasks::table)
        .values((
            NewTask {
                id: Uuid::now_v7(),
                org_id,
                project_id,
                number,
                title: card.title,
                description: card.description,
                status: card.status,
                position,
                priority: card.priority,
                labels: card.labels,
                assignee_ids,
                parent_task_id: card.parent_task_id,
                origin: card.origin,
            },
            tasks::github_issue_number.eq(card.github_issue_number),
        ))
        .returning(Task::as_returning())
        .get_result(conn)
        .await?;
    let mut events = Events::default();
    events.push(OrgEvent::TaskCreated(wire::Task::from_row(
        task.clone(),
        &key_prefix,
    )));
    Ok((task, key_prefix, events))
}

/// A parent task must be on the same board.
async fn check_parent(conn: &mut Conn, project_id: Uuid, parent: Uuid) -> Result<(), ApiError> {
    let found: i64 = tasks::table
        .filter(tasks::id.eq(parent))
        .filter(tasks::project_id.eq(project_id))
        .count()
        .get_result(conn)
        .await?;
    if found == 0 {
        return Err(ApiError::validation(
            "parent_task_id must name a task of the same project",
        ));
    }
    Ok(())
}
