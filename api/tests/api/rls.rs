//! Row-level security: the services' role sees one org's rows per connection, whatever a
//! query forgets to filter, and nothing at all before it names an org.

use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared::db::{Conn, Db};
use shared::domain::AttemptStatus;
use shared::testing::{TestEnv, fixtures};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut Conn, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .expect("count")
        .n
}

/// Two orgs with a project, a task and an attempt each, written as the system.
async fn two_orgs(db: &Db, env: &TestEnv) -> (uuid::Uuid, uuid::Uuid) {
    let mut conn = db.system().await.expect("test setup");
    let mut ids = Vec::new();
    for slug in ["org-a", "org-b"] {
        let org = fixtures::org(&mut conn, slug, 4).await;
        let repo = env.dir.join(slug);
        let project = fixtures::project(&mut conn, org, &repo.to_string_lossy(), None).await;
        let task = fixtures::task(&mut conn, org, project, 1).await;
        fixtures::attempt(&mut conn, org, task, AttemptStatus::Queued, "true").await;
        ids.push(org);
    }
    (ids[0], ids[1])
}

#[tokio::test]
async fn an_unfiltered_query_sees_only_the_connections_org() {
    let env = TestEnv::new().await;
    let db = Db::new(&env.settings.database).unwrap();
    let (a, b) = two_orgs(&db, &env).await;

    for (org, other) in [(a, b), (b, a)] {
        let mut conn = db.org(org).await.unwrap();
        for table in [
            "projects",
            "tasks",
            "task_attempts",
            "repositories",
            "organizations",
        ] {
            assert_eq!(
                count(&mut conn, &format!("SELECT count(*) AS n FROM {table}")).await,
                1,
                "{table} as {org}"
            );
        }
        let foreign = count(
            &mut conn,
            &format!("SELECT count(*) AS n FROM tasks WHERE org_id = '{other}'"),
        )
        .await;
        assert_eq!(
            foreign, 0,
            "asking for the other org by id still finds nothing"
        );
    }

    // A connection that named no org sees no tenant row at all.
    let mut conn = db.untenanted().await.unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM tasks").await, 0);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM organizations").await,
        0
    );
    // The system scope (scheduler, workers) sees both.
    let mut conn = db.system().await.unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM tasks").await, 2);
}

#[tokio::test]
async fn writes_into_another_org_and_updates_across_orgs_are_refused() {
    let env = TestEnv::new().await;
    let db = Db::new(&env.settings.database).unwrap();
    let (a, b) = two_orgs(&db, &env).await;
    let mut conn = db.org(a).await.unwrap();

    // Inserting a row for org B while acting in org A violates the policy.
    let insert = diesel::sql_query(
        "INSERT INTO repositories (id, org_id, name, url) VALUES (gen_random_uuid(), $1::uuid, 'x', 'https://example.com/x.git')",
    )
    .bind::<Text, _>(b.to_string())
    .execute(&mut conn)
    .await;
    let err = insert.expect_err("a row of another org must not be insertable");
    assert!(err.to_string().contains("row-level security"), "{err}");

    // An unfiltered update or delete touches only the own org's rows.
    let updated = diesel::sql_query("UPDATE tasks SET title = 'renamed'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(updated, 1);
    let deleted = diesel::sql_query("DELETE FROM task_attempts")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let mut system = db.system().await.unwrap();
    assert_eq!(
        count(
            &mut system,
            "SELECT count(*) AS n FROM tasks WHERE title = 'renamed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&mut system, "SELECT count(*) AS n FROM task_attempts").await,
        1
    );
}

#[tokio::test]
async fn a_pooled_connection_forgets_its_org_when_returned() {
    let env = TestEnv::new().await;
    let mut settings = env.settings.database.clone();
    settings.pool_size = 1; // the same physical connection every time
    let db = Db::new(&settings).unwrap();
    let (a, _) = two_orgs(&db, &env).await;
    drop(db.org(a).await.unwrap());
    let mut conn = db.untenanted().await.unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM tasks").await, 0);
}

/// A statement outside a transaction gets one of its own. Its first run on a connection
/// prepares it, and the transaction's end waits for its answer; later runs send `BEGIN`,
/// the statement and `COMMIT` in one flight (running it in a transaction before does not
/// count as its first run). Either way the statement must run inside
/// that transaction, under its org: a count sees the org's one task, an update
/// commits, and a failed statement leaves nothing behind and the connection usable.
#[tokio::test]
async fn a_statement_runs_inside_its_own_transaction_on_its_first_run_and_after() {
    use diesel::{ExpressionMethods, QueryDsl};
    use shared::db::schema::tasks;
    let env = TestEnv::new().await;
    let db = Db::new(&env.settings.database).unwrap();
    let (a, _) = two_orgs(&db, &env).await;
    let mut system = db.system().await.unwrap();
    let mut conn = db.org(a).await.unwrap();
    // The same statements inside a transaction first: the statement cache keeps those
    // under their Rust type, not their SQL, so they do not make the lone runs' SQL held.
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let seen: i64 = tasks::table.count().get_result(conn).await?;
        assert_eq!(seen, 1);
        diesel::update(tasks::table)
            .set(tasks::title.eq("in a transaction"))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
    .unwrap();
    for run in 0..4 {
        let seen: i64 = tasks::table.count().get_result(&mut conn).await.unwrap();
        assert_eq!(
            seen, 1,
            "run {run}: the count ran outside its org's transaction"
        );

        let title = format!("run {run}");
        let updated = diesel::update(tasks::table)
            .set(tasks::title.eq(&title))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            updated, 1,
            "run {run}: the update ran outside its org's transaction"
        );
        let titles: Vec<String> = tasks::table
            .filter(tasks::org_id.eq(a))
            .select(tasks::title)
            .load(&mut system)
            .await
            .unwrap();
        assert_eq!(
            titles,
            std::slice::from_ref(&title),
            "run {run}: the update was not committed"
        );

        let refused = diesel::update(tasks::table)
            .set((
                tasks::title.eq("never"),
                tasks::project_id.eq(uuid::Uuid::now_v7()),
            ))
            .execute(&mut conn)
            .await;
        assert!(refused.is_err(), "run {run}: a task moved to no project");
        let titles: Vec<String> = tasks::table
            .select(tasks::title)
            .load(&mut conn)
            .await
            .unwrap();
        assert_eq!(titles, [title], "run {run}: the failed update left a trace");
    }
}

#[derive(diesel::QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    rls: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = BigInt)]
    policies: i64,
}

#[derive(diesel::QueryableByName)]
struct Role {
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypass: bool,
    #[diesel(sql_type = BigInt)]
    owned: i64,
}

/// Every table holding tenant rows has RLS and a policy, and the services' role can
/// neither bypass it nor own a table.
#[tokio::test]
async fn every_tenant_table_has_a_policy_and_the_service_role_cannot_bypass_it() {
    let env = TestEnv::new().await;
    let mut conn = AsyncPgConnection::establish(&env.settings.database.url)
        .await
        .unwrap();
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS rls,
                c.relforcerowsecurity AS forced,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
           AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                        AND a.attname = 'org_id' AND NOT a.attisdropped)
                OR c.relname = 'organizations')",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(
        tables.len() >= 12,
        "found only {} tenant tables",
        tables.len()
    );
    for t in &tables {
        assert!(
            t.rls && t.policies >= 1,
            "{} lacks row-level security",
            t.name
        );
        // Forced: the owner (the role migrations run as) is bound by the policies too.
        assert!(t.forced, "{} does not force row-level security", t.name);
    }
    let role: Role = diesel::sql_query(
        "SELECT rolsuper AS superuser, rolbypassrls AS bypass,
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relowner = r.oid) AS owned
         FROM pg_roles r WHERE rolname = current_user",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(
        !role.superuser && !role.bypass,
        "the service role must be subject to RLS"
    );
    assert_eq!(role.owned, 0, "the service role must not own tables");
}
