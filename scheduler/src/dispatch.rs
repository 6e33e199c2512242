//! Moves queued attempts to scheduled, within each org's concurrency limit and fairly
//! across orgs, then hands them to the Redis queue.

use diesel::dsl::{count_star, now};
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use redis::aio::ConnectionManager;
use shared::db::Db;
use shared::db::schema::{organizations, task_attempts};
use shared::domain::AttemptStatus;
use shared::keys::Keys;
use shared::queue::{self, QueueEntry};
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

diesel::define_sql_function! {
    /// Transaction-scoped advisory lock: one dispatcher at a time across replicas, so two
    /// schedulers can never both fill the same org's last slot.
    fn pg_try_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

/// Advisory-lock key of the dispatcher ("SYDISPAT" in ASCII).
const DISPATCH_LOCK: i64 = 0x5359_4449_5350_4154;

/// A queued attempt waiting for a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub attempt_id: Uuid,
    pub org_id: Uuid,
    pub traceparent: Option<String>,
}

/// Picks which waiting attempts to schedule: round-robin across orgs (each org's own
/// attempts oldest first), never past an org's free slots. `waiting` is oldest first.
pub fn fair_pick(waiting: Vec<Waiting>, free_slots: &HashMap<Uuid, i64>) -> Vec<Waiting> {
    let mut per_org: Vec<(Uuid, VecDeque<Waiting>)> = Vec::new();
    for w in waiting {
        match per_org.iter_mut().find(|(org, _)| *org == w.org_id) {
            Some((_, q)) => q.push_back(w),
            None => per_org.push((w.org_id, VecDeque::from([w]))),
        }
    }
    let mut left: HashMap<Uuid, i64> = free_slots.clone();
    let mut picked = Vec::new();
    loop {
        let mut progressed = false;
        for (org, q) in per_org.iter_mut() {
            let slots = left.entry(*org).or_insert(0);
            if *slots > 0
                && let Some(w) = q.pop_front()
            {
                *slots -= 1;
                picked.push(w);
                progressed = true;
            }
        }
        if !progressed {
            return picked;
        }
    }
}

/// One dispatch round; returns how many attempts were scheduled.
pub async fn dispatch_once(
    db: &Db,
    redis: &mut ConnectionManager,
    keys: &Keys,
    batch: i64,
) -> anyhow::Result<usize> {
    let mut conn = db.conn().await?;
    let picked: Vec<Waiting> = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            async move {
                let locked: bool = diesel::select(pg_try_advisory_xact_lock(DISPATCH_LOCK))
                    .get_result(conn)
                    .await?;
                if !locked {
                    return Ok(Vec::new());
                }
                let rows: Vec<(Uuid, Uuid, Option<String>)> = task_attempts::table
                    .filter(task_attempts::status.eq(AttemptStatus::Queued))
                    .order(task_attempts::queued_at.asc())
                    .limit(batch)
                    .select((
                        task_attempts::id,
                        task_attempts::org_id,
                        task_attempts::trace_context,
                    ))
                    .for_update()
                    .skip_locked()
                    .load(conn)
                    .await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let org_ids: Vec<Uuid> = rows.iter().map(|r| r.1).collect();
                let limits: Vec<(Uuid, i32)> = organizations::table
                    .filter(organizations::id.eq_any(&org_ids))
                    .select((organizations::id, organizations::max_concurrent_attempts))
                    .load(conn)
                    .await?;
                let active: Vec<(Uuid, i64)> = task_attempts::table
                    .filter(task_attempts::org_id.eq_any(&org_ids))
                    .filter(
                        task_attempts::status
                            .eq_any([AttemptStatus::Scheduled, AttemptStatus::Running]),
                    )
                    .group_by(task_attempts::org_id)
                    .select((task_attempts::org_id, count_star()))
                    .load(conn)
                    .await?;
                let active: HashMap<Uuid, i64> = active.into_iter().collect();
                let free: HashMap<Uuid, i64> = limits
                    .into_iter()
                    .map(|(org, limit)| {
                        (
                            org,
                            i64::from(limit) - active.get(&org).copied().unwrap_or(0),
                        )
                    })
                    .collect();
                let waiting = rows
                    .into_iter()
                    .map(|(attempt_id, org_id, traceparent)| Waiting {
                        attempt_id,
                        org_id,
                        traceparent,
                    })
                    .collect();
                let picked = fair_pick(waiting, &free);
                let ids: Vec<Uuid> = picked.iter().map(|w| w.attempt_id).collect();
                diesel::update(task_attempts::table.filter(task_attempts::id.eq_any(&ids)))
                    .set((
                        task_attempts::status.eq(AttemptStatus::Scheduled),
                        task_attempts::scheduled_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                Ok(picked)
            }
            .scope_boxed()
        })
        .await?;
    if picked.is_empty() {
        return Ok(0);
    }
    // After commit, keyed by attempt id: if this push fails, the reconciler re-enqueues.
    let entries: Vec<QueueEntry> = picked
        .iter()
        .map(|w| QueueEntry {
            attempt_id: w.attempt_id,
            org_id: w.org_id,
            traceparent: w.traceparent.clone(),
        })
        .collect();
    queue::enqueue(redis, keys, &entries).await?;
    for w in &picked {
        tracing::debug!(attempt.id = %w.attempt_id, org.id = %w.org_id, "attempt scheduled");
    }
    Ok(picked.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(org: u128, n: u128) -> Waiting {
        Waiting {
            attempt_id: Uuid::from_u128(org * 1000 + n),
            org_id: Uuid::from_u128(org),
            traceparent: None,
        }
    }

    #[test]
    fn fair_pick_alternates_between_orgs_and_respects_limits() {
        let waiting = vec![w(1, 1), w(1, 2), w(1, 3), w(1, 4), w(2, 1), w(2, 2)];
        let free = HashMap::from([(Uuid::from_u128(1), 3), (Uuid::from_u128(2), 1)]);
        let picked = fair_pick(waiting, &free);
        assert_eq!(picked, vec![w(1, 1), w(2, 1), w(1, 2), w(1, 3)]);
    }

    #[test]
    fn fair_pick_gives_nothing_to_a_full_org() {
        let free = HashMap::from([(Uuid::from_u128(1), 0)]);
        assert!(fair_pick(vec![w(1, 1)], &free).is_empty());
        let free = HashMap::from([(Uuid::from_u128(1), -2)]);
        assert!(fair_pick(vec![w(1, 1)], &free).is_empty());
    }
}
