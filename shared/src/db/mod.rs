//! Postgres access: the generated schema, row models, the connection pool and migrations.

pub mod conn;
pub mod models;
mod prepared;
pub mod schema;

use diesel::ConnectionError;
use diesel::connection::CacheSize;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::config::DatabaseSettings;
pub use conn::{Conn, Tenant};

/// The migrations under `migrations/`, compiled in so every binary can apply them.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Why the database could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    #[error("database connection failed: {0}")]
    Connect(String),
    /// The configured role could read past row-level security: nothing is served.
    #[error("{0}")]
    UnsafeRole(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    /// The database could not be reached, or went away in the middle of a query (a crash,
    /// a restart, a failover): the same step may work on a fresh connection later, unlike
    /// a query's own failure.
    pub fn is_unreachable(&self) -> bool {
        match self {
            DbError::PoolTimeout | DbError::Connect(_) => true,
            DbError::Query(e) => connection_lost(e),
            DbError::UnsafeRole(_) => false,
        }
    }
}

/// Whether a query failed because its connection broke rather than for anything the
/// query did: the socket closed (diesel-async reports it as a command it could not
/// send), or the server said it is going away. diesel does not expose the SQLSTATE, so
/// the server's words for class 57P (a shutdown, a crash of another backend, a server
/// still starting) are matched.
pub fn connection_lost(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    const SERVER_GOING_AWAY: [&str; 2] = ["terminating connection", "the database system is"];
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => SERVER_GOING_AWAY
            .iter()
            .any(|words| info.message().contains(words)),
        _ => false,
    }
}

/// Opens a connection whose setup runs inside a transaction.
///
/// diesel-async's setup sends its two `SET`s (time zone, encoding) pipelined outside any
/// transaction, each as a Parse then a Bind with a Sync after each. Behind PgBouncer in
/// transaction mode (before 1.21) a Sync outside a transaction hands the server connection
/// back, so the Bind could reach another server than its Parse ("prepared statement does
/// not exist"), and the new connection failed. Inside a transaction every message goes to
/// one server.
async fn open_connection(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let failed = |e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string());
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(failed)?;
    {
        // The connection is driven here until the BEGIN is answered, then by diesel-async.
        let begin = client.batch_execute("BEGIN");
        tokio::pin!(begin);
        tokio::select! {
            begun = &mut begin => begun.map_err(failed)?,
            ended = &mut connection => {
                return Err(ConnectionError::BadConnection(match ended {
                    Err(e) => e.to_string(),
                    Ok(()) => "the server closed the connection during setup".into(),
                }));
            }
        }
    }
    let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
    conn.batch_execute("COMMIT")
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Starts the message of a connection refused for its role, so [`Db::checkout`] can
/// tell it from an unreachable server.
const UNSAFE_ROLE: &str = "refusing database role";

/// The connection pools of one process, sized and timed by [`DatabaseSettings`]: one, or
/// one per thread that serves requests ([`Db::per_thread`]).
#[derive(Clone)]
pub struct Db {
    pools: Arc<[Pool<AsyncPgConnection>]>,
    wait: Duration,
    statement_timeout_ms: u64,
}

thread_local! {
    /// The index of this thread's own pool in a [`Db::per_thread`] (0 when not claimed).
    static HOME_POOL: Cell<usize> = const { Cell::new(0) };
}

impl Db {
    /// Builds the pool. Connections are opened lazily; each new one is checked to be
    /// subject to row-level security ([`role_problem`]) before it serves anything.
    pub fn new(settings: &DatabaseSettings) -> anyhow::Result<Db> {
        Db::with_pools(settings, 1)
    }

    /// Builds `threads + 1` pools sharing `pool_size` between them: pool 0 for threads
    /// that claim none, and one for each thread that claims it with
    /// [`Db::claim_pool_for_this_thread`]. A connection's I/O runs as a task on the
    /// runtime of the thread that opened it, so a connection shared by two
    /// single-threaded runtimes (actix's workers) costs two wake-ups of the other thread
    /// per statement. A thread that keeps to its own pool pays none.
    pub fn per_thread(settings: &DatabaseSettings, threads: usize) -> anyhow::Result<Db> {
        Db::with_pools(settings, threads + 1)
    }

    /// Makes pool `index` (1 ..= the `threads` of [`Db::per_thread`]) this thread's own;
    /// on a [`Db::new`] it changes nothing.
    pub fn claim_pool_for_this_thread(index: usize) {
        HOME_POOL.set(index);
    }

    fn with_pools(settings: &DatabaseSettings, count: usize) -> anyhow::Result<Db> {
        let size = (settings.pool_size / count).max(1);
        let pools = (0..count)
            .map(|_| Db::pool(settings, size))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Db {
            pools: pools.into(),
            wait: Duration::from_millis(settings.pool_timeout_ms),
            statement_timeout_ms: settings.statement_timeout_ms,
        })
    }

    fn pool(settings: &DatabaseSettings, size: usize) -> anyhow::Result<Pool<AsyncPgConnection>> {
        let statement_cache = settings.prepared_statement_cache;
        let mut manager_config = ManagerConfig::default();
        manager_config.custom_setup = Box::new(move |url| {
            Box::pin(async move {
                let mut conn = open_connection(url).await?;
                if statement_cache {
                    conn.set_instrumentation(prepared::PreparedStatements::default());
                    conn::prepare_tenant_settings(&mut conn)
                        .await
                        .map_err(ConnectionError::CouldntSetupConfiguration)?;
                } else {
                    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
                }
                let problem = conn
                    .transaction(async |c| role_problem(c).await)
                    .await
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                if let Some(problem) = problem {
                    return Err(ConnectionError::BadConnection(format!(
                        "{UNSAFE_ROLE}: {problem}"
                    )));
                }
                Ok(conn)
            })
        });
        // No query on checkout: a round trip for every request, where the connection
        // already knows when its socket closed (a restart, a crash) and the pool drops it
        // then. A connection that breaks anyway fails its first query as
        // `connection_lost`, which callers treat as the database being unreachable.
        manager_config.recycling_method = RecyclingMethod::Fast;
        let manager =
            AsyncDieselConnectionManager::new_with_config(settings.url.clone(), manager_config);
        Ok(Pool::builder(manager).max_size(size).build()?)
    }

    /// A connection acting in one org: row-level security shows it that org's rows only,
    /// whatever filters its queries forget.
    pub async fn org(&self, org_id: Uuid) -> Result<Conn, DbError> {
        self.checkout(Tenant::Org(org_id)).await
    }

    /// A connection for cross-org work (scheduling, workers, sign-in, token lookup): every
    /// tenant row is visible, so each query must filter by org itself.
    pub async fn system(&self) -> Result<Conn, DbError> {
        self.checkout(Tenant::System).await
    }

    /// A connection that sees no tenant row at all (users and sessions only).
    pub async fn untenanted(&self) -> Result<Conn, DbError> {
        self.checkout(Tenant::None).await
    }

    /// Takes a connection from the pool for `tenant`. Nothing is written to the session:
    /// each transaction names its tenant itself (see [`conn`]).
    async fn checkout(&self, tenant: Tenant) -> Result<Conn, DbError> {
        let pool = &self.pools[HOME_POOL.get() % self.pools.len()];
        let conn = match tokio::time::timeout(self.wait, pool.get()).await {
            Err(_) => return Err(DbError::PoolTimeout),
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                let message = e.to_string();
                return Err(match message.find(UNSAFE_ROLE) {
                    Some(at) => DbError::UnsafeRole(message[at..].to_owned()),
                    None => DbError::Connect(message),
                });
            }
        };
        Ok(Conn::new(conn, tenant, self.statement_timeout_ms))
    }

    /// At process start: refuses a role that row-level security would not bind (a
    /// superuser, `BYPASSRLS`, or an owner of the tables). An unreachable database is only
    /// logged: the process starts and reports not-ready, and every connection it opens
    /// later is checked all the same.
    pub async fn verify_role(&self) -> Result<(), DbError> {
        match self.untenanted().await {
            Ok(_) => Ok(()),
            Err(e @ DbError::UnsafeRole(_)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "database not reachable at start; its role is checked on connect");
                Ok(())
            }
        }
    }
}

/// Why `conn`'s role would see past row-level security, if it would: a superuser or a
/// `BYPASSRLS` role skips every policy, and a table's owner (or a member of the owning
/// role) skips the policies of its tables unless they are forced.
pub async fn role_problem(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Option<String>> {
    #[derive(diesel::QueryableByName)]
    struct Facts {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        superuser: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        bypass: bool,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        owned: i64,
    }
    let facts: Facts = diesel::sql_query(
        "SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass,
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                   AND pg_has_role(r.oid, c.relowner, 'USAGE')) AS owned
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .get_result(conn)
    .await?;
    let why = if facts.superuser {
        "is a superuser"
    } else if facts.bypass {
        "has BYPASSRLS"
    } else if facts.owned > 0 {
        "owns the tables (or is a member of their owner)"
    } else {
        return Ok(None);
    };
    Ok(Some(format!(
        "{:?} {why}, so row-level security would not apply to it; connect database.url as \
         the services' role (switchyard_app) and keep the owner for database.migration_url",
        facts.name
    )))
}

/// Applies every pending migration. Runs the synchronous harness on a blocking thread.
pub async fn run_migrations(url: &str) -> anyhow::Result<()> {
    use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
    let url = url.to_owned();
    crate::blocking::run(move || -> anyhow::Result<()> {
        let mut conn: AsyncConnectionWrapper<AsyncPgConnection> =
            diesel::Connection::establish(&url)?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(())
    })
    .await?
}
