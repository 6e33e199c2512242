//! B8: the scheduler's rate and fairness. Attempts are queued straight into Postgres
//! across orgs of very different backlogs (the scheduler cannot tell); a no-op executor
//! stands in for the workers by ending every scheduled attempt at once and waking the
//! dispatcher, as a worker does, so each org's concurrency limit, and not a process, holds
//! its backlog back. The queued backlog wakes it too, as the api does.

use anyhow::{Context, bail};
use diesel::sql_types::{Double, Integer, Text, Uuid as SqlUuid};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::stats::jain;
use crate::{Args, row};

/// Shares of the backlog, biggest org first (they add up to 1,000).
const SHARES: [u64; 10] = [400, 200, 150, 100, 60, 40, 25, 12, 8, 5];

/// Orgs made by scripts/bench for this benchmark: `bench-sched-00` … `-09`.
const ORGS: &str = "SELECT id FROM organizations WHERE slug LIKE 'bench-sched-%'";

#[derive(QueryableByName)]
struct OrgProject {
    #[diesel(sql_type = SqlUuid)]
    org_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    project_id: Uuid,
}

#[derive(QueryableByName)]
struct Waited {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Double)]
    wait_ms: f64,
}

/// When the backlog became visible to other transactions (the database's clock).
#[derive(QueryableByName)]
struct Visible {
    #[diesel(sql_type = Text)]
    at: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub async fn fairness(args: &Args) -> anyhow::Result<()> {
    let url = args.str("db")?;
    let wakes = Wakes::connect(args.str("redis")?, args.str("prefix")?).await?;
    let total: u64 = args.num("attempts", 10_000)?;
    let limit: i32 = args.num("limit", 50)?;
    let mut conn = AsyncPgConnection::establish(url).await?;
    let orgs: Vec<OrgProject> = sql_query(format!(
        "SELECT DISTINCT ON (o.slug) o.id AS org_id, p.id AS project_id FROM organizations o \
         JOIN projects p ON p.org_id = o.id WHERE o.id IN ({ORGS}) ORDER BY o.slug"
    ))
    .load(&mut conn)
    .await?;
    if orgs.len() != SHARES.len() {
        bail!(
            "b8 needs the {} orgs bench-sched-* with a project each",
            SHARES.len()
        );
    }
    sql_query(format!(
        "UPDATE organizations SET max_concurrent_attempts = $1 WHERE id IN ({ORGS})"
    ))
    .bind::<Integer, _>(limit)
    .execute(&mut conn)
    .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let completer = tokio::spawn(complete_scheduled(
        url.to_owned(),
        wakes.clone(),
        stop.clone(),
    ));

    let tag = format!("b8-{}", Uuid::new_v4().simple());
    let backlogs: Vec<u64> = SHARES.iter().map(|s| (s * total / 1_000).max(1)).collect();
    let t0 = Instant::now();
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        for (org, backlog) in orgs.iter().zip(&backlogs) {
            sql_query(
                "INSERT INTO tasks (id, org_id, project_id, number, title, status) \
                 SELECT gen_random_uuid(), $1, $2, \
                        (SELECT coalesce(max(number), 0) FROM tasks WHERE project_id = $2) + g, $3, 'inprogress' \
                 FROM generate_series(1, $4) g",
            )
            .bind::<SqlUuid, _>(org.org_id)
            .bind::<SqlUuid, _>(org.project_id)
            .bind::<Text, _>(&tag)
            .bind::<Integer, _>(*backlog as i32)
            .execute(conn)
            .await?;
        }
        sql_query(
            "INSERT INTO task_attempts (id, org_id, task_id, executor, base_branch, branch) \
             SELECT gen_random_uuid(), org_id, id, 'script', 'main', 'sy/' || id FROM tasks WHERE title = $1",
        )
        .bind::<Text, _>(&tag)
        .execute(conn)
        .await?;
        Ok(())
    })
    .await?;
    // The scheduler can see the backlog only once it is committed: waits count from then
    // (queued_at is the transaction's start, before the 10,000 rows were written).
    let visible: Visible = sql_query("SELECT now()::text AS at")
        .get_result(&mut conn)
        .await?;
    wakes.wake().await;
    eprintln!(
        "b8: {total} attempts queued in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let deadline = Instant::now() + Duration::from_secs(args.num("timeout", 300)?);
    loop {
        let left: Count = sql_query(
            "SELECT count(*) AS n FROM task_attempts a JOIN tasks t ON t.id = a.task_id \
             WHERE t.title = $1 AND a.status = 'queued'",
        )
        .bind::<Text, _>(&tag)
        .get_result(&mut conn)
        .await?;
        if left.n == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("b8: {} attempts still queued after the timeout", left.n);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    AtomicBool::store(&stop, true, Ordering::Relaxed);
    completer.await??;

    let waits: Vec<Waited> = sql_query(
        "SELECT o.slug, \
                extract(epoch FROM a.scheduled_at - greatest(a.queued_at, $2::timestamptz))::float8 \
                * 1000 AS wait_ms \
         FROM task_attempts a JOIN tasks t ON t.id = a.task_id JOIN organizations o ON o.id = a.org_id \
         WHERE t.title = $1",
    )
    .bind::<Text, _>(&tag)
    .bind::<Text, _>(&visible.at)
    .load(&mut conn)
    .await?;
    let n = waits.len() as f64;
    let makespan_ms = waits.iter().map(|w| w.wait_ms).fold(0.0, f64::max);
    let rate = n / (makespan_ms / 1e3).max(1e-9);

    // Fair share: perfect round-robin over the orgs that still have a backlog, at the
    // measured rate. x = the org's fair mean wait over its actual mean wait, at most 1.
    let mut fair_sum = vec![0.0; backlogs.len()];
    let mut position = 0.0;
    for round in 0..*backlogs.iter().max().unwrap_or(&0) {
        for (i, b) in backlogs.iter().enumerate() {
            if *b > round {
                position += 1.0;
                fair_sum[i] += position / rate * 1e3;
            }
        }
    }
    let mut actual: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for w in &waits {
        let e = actual.entry(w.slug.as_str()).or_default();
        e.0 += w.wait_ms;
        e.1 += 1.0;
    }
    let mut x = Vec::new();
    for ((slug, (sum, count)), (fair, backlog)) in actual.iter().zip(fair_sum.iter().zip(&backlogs))
    {
        let (mean, fair_mean) = (sum / count, fair / *backlog as f64);
        eprintln!(
            "b8: {slug}: {count} attempts, mean wait {mean:.0} ms (fair share {fair_mean:.0} ms)"
        );
        // The target is that no org waits longer than its fair share: one served sooner
        // (all of a small org's backlog in the first batch) is not treated unfairly, and
        // counts as exactly fair rather than as an outlier.
        x.push((fair_mean / mean.max(1e-9)).min(1.0));
    }
    let index = jain(&x);
    eprintln!("b8: {n} scheduled in {makespan_ms:.0} ms: {rate:.0}/s, Jain's index {index:.3}");
    row("b8_rate", rate, None);
    row("b8_jain", index, None);
    Ok(())
}

/// The scheduler's wake-up channel, as the api and the workers publish on it.
#[derive(Clone)]
struct Wakes {
    redis: redis::aio::ConnectionManager,
    keys: shared::keys::Keys,
}

impl Wakes {
    async fn connect(url: &str, prefix: &str) -> anyhow::Result<Wakes> {
        Ok(Wakes {
            redis: shared::redis_conn::manager(url)
                .await
                .context("connecting to Redis")?,
            keys: shared::keys::Keys::new(prefix),
        })
    }

    async fn wake(&self) {
        shared::bus::wake_dispatcher(&mut self.redis.clone(), &self.keys).await;
    }
}

/// The no-op executor: every few milliseconds, ends the benchmark orgs' scheduled attempts,
/// and wakes the dispatcher when it ended any (their slots are free).
async fn complete_scheduled(
    url: String,
    wakes: Wakes,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(&url)
        .await
        .context("the no-op executor's connection")?;
    while !AtomicBool::load(&stop, Ordering::Relaxed) {
        let ended = sql_query(format!(
            "UPDATE task_attempts SET status = 'succeeded', started_at = now(), finished_at = now(), \
             updated_at = now() WHERE status = 'scheduled' AND org_id IN ({ORGS})"
        ))
        .execute(&mut conn)
        .await?;
        if ended > 0 {
            wakes.wake().await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}
