//! Postgres access: the generated schema, row models, the connection pool and migrations.

pub mod models;
pub mod schema;

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;
use uuid::Uuid;

use crate::config::DatabaseSettings;

/// The migrations under `migrations/`, compiled in so every binary can apply them.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A pooled connection.
pub type Conn = Object<AsyncPgConnection>;

/// Why the database could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    #[error("database connection failed: {0}")]
    Connect(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// The connection pool of one process, sized and timed by [`DatabaseSettings`].
#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
    wait: Duration,
}

impl Db {
    /// Builds the pool; connections are opened lazily, each with the statement timeout set.
    pub fn new(settings: &DatabaseSettings) -> anyhow::Result<Db> {
        let statement_timeout_ms = settings.statement_timeout_ms;
        let mut manager_config = ManagerConfig::default();
        manager_config.custom_setup = Box::new(move |url| {
            Box::pin(async move {
                let mut conn = AsyncPgConnection::establish(url).await?;
                diesel::sql_query(format!("SET statement_timeout = {statement_timeout_ms}"))
                    .execute(&mut conn)
                    .await
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
        let manager =
            AsyncDieselConnectionManager::new_with_config(settings.url.clone(), manager_config);
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .build()?;
        Ok(Db {
            pool,
            wait: Duration::from_millis(settings.pool_timeout_ms),
        })
    }

    /// A connection acting in one org: row-level security shows it that org's rows only,
    /// whatever filters its queries forget.
    pub async fn org(&self, org_id: Uuid) -> Result<Conn, DbError> {
        self.checkout(Some(org_id), false).await
    }

    /// A connection for cross-org work (scheduling, workers, sign-in, token lookup): every
    /// tenant row is visible, so each query must filter by org itself.
    pub async fn system(&self) -> Result<Conn, DbError> {
        self.checkout(None, true).await
    }

    /// A connection that sees no tenant row at all (users and sessions only).
    pub async fn untenanted(&self) -> Result<Conn, DbError> {
        self.checkout(None, false).await
    }

    /// Takes a connection from the pool and names its tenant. Both settings are written on
    /// every checkout, so nothing a previous borrower set survives.
    async fn checkout(&self, org_id: Option<Uuid>, system: bool) -> Result<Conn, DbError> {
        let mut conn = match tokio::time::timeout(self.wait, self.pool.get()).await {
            Err(_) => return Err(DbError::PoolTimeout),
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(DbError::Connect(e.to_string())),
        };
        let org = org_id.map(|id| id.to_string()).unwrap_or_default();
        let system = if system { "on" } else { "off" };
        diesel::sql_query(
            "SELECT set_config('switchyard.org_id', $1, false), \
                    set_config('switchyard.system', $2, false)",
        )
        .bind::<diesel::sql_types::Text, _>(org)
        .bind::<diesel::sql_types::Text, _>(system)
        .execute(&mut conn)
        .await?;
        Ok(conn)
    }
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
