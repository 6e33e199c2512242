//! Tenant isolation behind a transaction-mode pooler (PgBouncer, as docs/DEPLOY.md
//! recommends), and the refusal of a database role that row-level security does not bind.

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared::db::{Conn, Db, DbError};
use shared::domain::AttemptStatus;
use shared::testing::{PgBouncer, THROUGH_PGBOUNCER, TestEnv, fixtures};
use std::process::Command;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `sql`'s one `n`, through a tenant connection or a plain one (the admin's).
async fn count<C>(conn: &mut C, sql: &str) -> i64
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .expect("count")
        .n
}

/// The test server's admin URL.
fn admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Starts a PgBouncer before the test Postgres, failing with the reason when there is
/// none: these tests never pass without one.
fn pgbouncer(pool_size: u32) -> PgBouncer {
    PgBouncer::start(&admin_url(), pool_size).unwrap_or_else(|e| panic!("{e}"))
}

/// Two connections of different orgs share PgBouncer's one server connection: each
/// transaction must carry its own tenant. A tenant written to the session by one client
/// would be what the next client's statements run under.
#[tokio::test(flavor = "multi_thread")]
async fn each_transaction_carries_its_own_tenant_through_pgbouncer() {
    let env = TestEnv::new().await;
    let direct = Db::new(&env.settings.database).expect("pool");
    let mut orgs = Vec::new();
    {
        let mut conn = direct.system().await.expect("conn");
        for slug in ["pool-a", "pool-b"] {
            let org = fixtures::org(&mut conn, slug, 4).await;
            let project = fixtures::project(&mut conn, org, "/nowhere", None).await;
            let task = fixtures::task(&mut conn, org, project, 1).await;
            fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;
            orgs.push(org);
        }
    }
    let bouncer = pgbouncer(1);
    let mut settings = env.settings.database.clone();
    settings.url = bouncer.url(shared::testing::APP_ROLE, &env.db_name);
    settings.prepared_statement_cache = false;
    let db = Db::new(&settings).expect("pool through pgbouncer");

    let mut a = db.org(orgs[0]).await.expect("conn a");
    let mut b = db.org(orgs[1]).await.expect("conn b");
    let mut none = db.untenanted().await.expect("conn without org");
    for _ in 0..3 {
        for (conn, org) in [(&mut a, orgs[0]), (&mut b, orgs[1])] {
            assert_eq!(count(conn, "SELECT count(*) AS n FROM tasks").await, 1);
            let foreign = count(
                conn,
                &format!("SELECT count(*) AS n FROM tasks WHERE org_id <> '{org}'"),
            )
            .await;
            assert_eq!(foreign, 0, "a statement ran as another client's org");
        }
        assert_eq!(count(&mut none, "SELECT count(*) AS n FROM tasks").await, 0);
    }

    // A transaction keeps its tenant across statements and savepoints.
    let seen: (i64, i64) = a
        .transaction::<_, diesel::result::Error, _>(async |c| {
            let outer = count(c, "SELECT count(*) AS n FROM task_attempts").await;
            let inner = c
                .transaction::<_, diesel::result::Error, _>(async |c| {
                    Ok(count(c, "SELECT count(*) AS n FROM projects").await)
                })
                .await?;
            Ok((outer, inner))
        })
        .await
        .expect("transaction");
    assert_eq!(seen, (1, 1));

    // Writes commit: another client sees them.
    let renamed = diesel::sql_query("UPDATE tasks SET title = $1")
        .bind::<Text, _>("renamed through the pooler")
        .execute(&mut b)
        .await
        .expect("update");
    assert_eq!(renamed, 1);
    let mut system = direct.system().await.expect("conn");
    assert_eq!(
        count(
            &mut system,
            "SELECT count(*) AS n FROM tasks WHERE title = 'renamed through the pooler'"
        )
        .await,
        1
    );
}

/// The isolation suites (`isolation`, `rls`) again, with every connection of the api and
/// of the tests' own pools going through a PgBouncer in transaction mode.
#[test]
fn the_isolation_suites_pass_through_pgbouncer_in_transaction_mode() {
    // Fails here, with the reason, when PgBouncer is missing.
    drop(pgbouncer(1));

    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["isolation::", "rls::", "--test-threads", "2"])
        .env(THROUGH_PGBOUNCER, "1")
        .output()
        .expect("run the isolation suites");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the isolation suites failed behind PgBouncer:\n{stdout}\n{stderr}"
    );
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed >= 6, "only {passed} tests ran:\n{stdout}");
}

/// A services role that row-level security would not bind is refused before anything is
/// served: a superuser (what a development setup connecting as `postgres` would be) and
/// an owner of the tables.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_role_that_bypasses_row_level_security_is_refused_at_start() {
    let env = TestEnv::new().await;
    let owner_url = env
        .settings
        .database
        .migration_url
        .clone()
        .expect("owner url");

    let mut superuser = env.settings.clone();
    superuser.database.url = owner_url.clone();
    let err = api::spawn(superuser)
        .await
        .err()
        .expect("an api connecting as a superuser must not start");
    let message = format!("{err:#}");
    assert!(message.contains("is a superuser"), "{message}");

    // A plain role that owns one tenant table.
    let role = format!("sy_owner_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let mut admin = AsyncPgConnection::establish(&owner_url)
        .await
        .expect("admin");
    diesel::sql_query(format!("CREATE ROLE {role} LOGIN"))
        .execute(&mut admin)
        .await
        .expect("create role");
    diesel::sql_query(format!("ALTER TABLE tasks OWNER TO {role}"))
        .execute(&mut admin)
        .await
        .expect("give it a table");
    let mut settings = env.settings.database.clone();
    settings.url = owner_url.replacen("postgres@", &format!("{role}@"), 1);
    let refused = Db::new(&settings).expect("pool").verify_role().await;
    diesel::sql_query("ALTER TABLE tasks OWNER TO postgres")
        .execute(&mut admin)
        .await
        .expect("take the table back");
    diesel::sql_query(format!("DROP ROLE {role}"))
        .execute(&mut admin)
        .await
        .expect("drop role");
    match refused {
        Err(DbError::UnsafeRole(message)) => {
            assert!(message.contains("owns the tables"), "{message}")
        }
        other => panic!("an owner of the tables must be refused: {other:?}"),
    }

    // The services' own role starts.
    Db::new(&env.settings.database)
        .expect("pool")
        .verify_role()
        .await
        .expect("switchyard_app is fine");
}

/// A connection that breaks under a query (a crash, a restart, a failover) reads as the
/// database being unreachable, so callers that wait out an outage retry the step; a
/// query's own error does not. The pool then replaces the broken connection.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_lost_mid_query_reads_as_unreachable_and_a_bad_query_does_not() {
    let env = TestEnv::new().await;
    let db = Db::new(&env.settings.database).expect("pool");
    let mut conn = db.system().await.expect("conn");
    let pid = backend_pid(&mut conn).await;
    let mut admin = AsyncPgConnection::establish(&admin_url())
        .await
        .expect("admin connection");
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut admin)
        .await
        .expect("terminate the backend");

    let lost = DbError::from(
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .expect_err("the connection is gone"),
    );
    assert!(lost.is_unreachable(), "not taken for an outage: {lost:?}");
    drop(conn);

    let mut fresh = db.system().await.expect("the pool opens a new connection");
    let bad = DbError::from(
        diesel::sql_query("SELECT no_such_column FROM organizations")
            .execute(&mut fresh)
            .await
            .expect_err("a bad query"),
    );
    assert!(
        !bad.is_unreachable(),
        "a query's own error taken for an outage: {bad:?}"
    );
    assert_eq!(count(&mut fresh, "SELECT 1::bigint AS n").await, 1);
}

/// A statement runs in a transaction of its own, its `BEGIN` sent in one flight with it. A
/// request dropped while the statement runs (a client gone, a timeout) must not leave that
/// transaction, with its tenant, to whoever takes the connection next: the pool closes the
/// connection instead.
#[tokio::test(flavor = "multi_thread")]
async fn a_statement_dropped_mid_flight_leaves_its_transaction_to_no_one() {
    let env = TestEnv::new().await;
    let mut settings = env.settings.database.clone();
    settings.pool_size = 1;
    let db = Db::new(&settings).expect("pool");
    let org = {
        let mut conn = db.system().await.expect("conn");
        fixtures::org(&mut conn, "dropped", 4).await
    };
    let mut conn = db.org(org).await.expect("conn");
    let pid = backend_pid(&mut conn).await;
    let mut admin = AsyncPgConnection::establish(&admin_url())
        .await
        .expect("admin connection");
    let in_transaction = format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE pid = {pid} AND state = 'active' AND xact_start IS NOT NULL \
         AND query LIKE '%pg_sleep%'"
    );

    {
        let sleeping = diesel::sql_query("SELECT pg_sleep(30)").execute(&mut conn);
        tokio::pin!(sleeping);
        // Drive the statement until the server runs it inside its transaction.
        loop {
            tokio::select! {
                r = &mut sleeping => panic!("the statement ended before it was dropped: {r:?}"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
            }
            if count(&mut admin, &in_transaction).await == 1 {
                break;
            }
        }
    } // dropped here, mid-flight
    drop(conn);

    let mut next = db.system().await.expect("the pool hands out a connection");
    assert_ne!(
        backend_pid(&mut next).await,
        pid,
        "the connection left inside the dropped statement's transaction was handed on"
    );
    assert_eq!(
        count(&mut next, "SELECT count(*) AS n FROM organizations").await,
        1
    );
    count(
        &mut admin,
        &format!("SELECT count(*) AS n FROM (SELECT pg_terminate_backend({pid})) AS ended"),
    )
    .await;
}

/// The server process behind a connection.
async fn backend_pid(conn: &mut Conn) -> i32 {
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(conn)
        .await
        .expect("pid")
        .pid
}

/// New connections set themselves up (time zone, encoding) through PgBouncer in
/// transaction mode, many at once over few server connections: each setup statement is a
/// Parse then a Bind, and behind such a pooler the two must not reach different servers.
#[tokio::test(flavor = "multi_thread")]
async fn many_connections_open_at_once_through_pgbouncer() {
    let env = TestEnv::new().await;
    let bouncer = pgbouncer(4);
    let mut settings = env.settings.database.clone();
    settings.url = bouncer.url(shared::testing::APP_ROLE, &env.db_name);
    settings.prepared_statement_cache = false;
    settings.pool_size = 48;
    // A few bursts on fresh pools: one burst alone split a setup about half the time.
    for _ in 0..4 {
        let db = Db::new(&settings).expect("pool through pgbouncer");
        let opened = futures::future::join_all((0..48).map(|_| db.system())).await;
        let failed: Vec<String> = opened
            .iter()
            .filter_map(|c| c.as_ref().err().map(|e| e.to_string()))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of 48 failed: {failed:?}",
            failed.len()
        );
    }
}
