//! Scheduler behaviour against real Postgres and Redis.
#![allow(clippy::unwrap_used)]

mod dispatch;
mod reaper;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::db::schema::task_attempts;
use shared::domain::AttemptStatus;
use uuid::Uuid;

/// The attempt's status as stored.
pub async fn status_of(conn: &mut diesel_async::AsyncPgConnection, id: Uuid) -> AttemptStatus {
    task_attempts::table
        .find(id)
        .select(task_attempts::status)
        .get_result(conn)
        .await
        .expect("attempt row")
}
