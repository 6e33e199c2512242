//! [`Conn`]: a pooled connection that names its tenant inside every transaction.
//!
//! Row-level security reads the tenant from `switchyard.org_id` / `switchyard.system`.
//! Those are written with `set_config(…, true)`, which lasts until the end of the
//! current transaction, and every statement runs inside one: a statement sent outside a
//! transaction gets one of its own (`BEGIN; set_config…`, the statement, `COMMIT`), and a
//! transaction begun with [`AsyncConnection::transaction`] names the tenant right after
//! its `BEGIN`. Nothing is left on the server session, so a pooler in transaction mode
//! (PgBouncer), which hands each transaction whatever server connection is free, can
//! neither drop the tenant nor hand it to another client.
//!
//! `Conn` deliberately does not dereference to the raw `AsyncPgConnection`: a query run
//! on that would bypass the tenant.

use diesel::connection::{CacheSize, Instrumentation, TransactionManagerStatus};
use diesel::pg::{Pg, PgMetadataCacheKey, PgMetadataLookup, PgTypeMetadata};
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{
    AsQuery, CollectedQuery, MoveableBindCollector, Query, QueryBuilder, QueryFragment, QueryId,
};
use diesel::result::QueryResult;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncConnectionCore, AsyncPgConnection,
    SimpleAsyncConnection, TransactionManager,
};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt};
use std::sync::LazyLock;
use uuid::Uuid;

use super::prepared::PreparedStatements;

/// A row as the Postgres connection returns it.
type PgRow = <AsyncPgConnection as AsyncConnectionCore>::Row<'static, 'static>;

/// Whose rows a connection may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    /// One org's rows.
    Org(Uuid),
    /// Every org's rows: cross-org work that filters by org itself.
    System,
    /// No tenant row at all (users and sessions only).
    None,
}

/// A pooled connection acting for one [`Tenant`]; see the module documentation.
pub struct Conn {
    inner: Object<AsyncPgConnection>,
    /// What each transaction of this connection sets.
    settings: TenantSettings,
}

impl Conn {
    pub(crate) fn new(inner: Object<AsyncPgConnection>, tenant: Tenant, timeout_ms: u64) -> Conn {
        Conn {
            inner,
            settings: TenantSettings::of(tenant, timeout_ms),
        }
    }

    /// True outside any transaction, false inside one. A transaction state that is broken
    /// (a statement of this connection was dropped mid-flight, or its end failed) is an
    /// error: the connection's session is unknown, so nothing more runs on it, and the
    /// pool closes it when it comes back.
    fn outside_transaction(&mut self) -> QueryResult<bool> {
        <TenantTransactions as TransactionManager<Conn>>::transaction_manager_status_mut(self)
            .transaction_depth()
            .map(|depth| depth.is_none())
    }

    /// Runs statements in one flight inside the caller's open transaction: `statements`
    /// starts each on the shared connection (with `futures::join!`, which polls in order),
    /// the server runs them one after another, each with a fresh snapshot, and answers
    /// all in one round trip. Outside a transaction it is an error: a lone statement gets
    /// its own transaction from the connection already.
    pub async fn pipelined<R>(
        &mut self,
        statements: impl for<'c> FnOnce(&'c AsyncPgConnection) -> BoxFuture<'c, R>,
    ) -> QueryResult<R> {
        if self.outside_transaction()? {
            return Err(diesel::result::Error::NotInTransaction);
        }
        Ok(statements(&self.inner).await)
    }

    /// Runs one statement in a transaction of its own. The `BEGIN` naming the tenant goes
    /// out in the same flight as the statement (the server runs them in order). Where the
    /// statement goes out whole on its first poll ([`Flight::One`]), its `COMMIT` follows
    /// in that flight too: one round trip. Otherwise the end waits for the statement's
    /// answer: `COMMIT`, or `ROLLBACK` if either failed. (A `COMMIT` after a failed
    /// statement ends its transaction as a rollback.)
    ///
    /// Until that end has answered, the connection's transaction state reads as broken.
    /// A request dropped mid-flight (a client gone, a timeout) thus leaves a connection
    /// the pool closes instead of handing on inside an open transaction.
    async fn in_own_transaction<R>(
        &mut self,
        flight: Flight,
        statement: impl for<'c> FnOnce(&'c AsyncPgConnection) -> BoxFuture<'c, QueryResult<R>>,
    ) -> QueryResult<R> {
        <TenantTransactions as TransactionManager<Conn>>::transaction_manager_status_mut(self)
            .set_in_error();
        let prepared_settings = PreparedStatements::on(&mut self.inner, &SETTINGS_SQL);
        let settings = &self.settings;
        let conn: &AsyncPgConnection = &self.inner;
        let begin = async move {
            if prepared_settings {
                let (begun, set) = futures::join!(simple(conn, "BEGIN"), settings.apply(conn));
                begun.and(set)
            } else {
                simple(conn, &settings.begin_sql()).await
            }
        };
        // `join!` polls in order: each statement is queued on the connection before the
        // next is polled. Unconstrained, so tokio's task budget cannot park a statement
        // before it has queued its messages while the one behind it goes out.
        let (begun, result, ended) = tokio::task::unconstrained(async {
            match &flight {
                Flight::One => futures::join!(begin, statement(conn), simple(conn, "COMMIT")),
                Flight::Two { .. } => {
                    let (begun, result) = futures::join!(begin, statement(conn));
                    let end = if begun.is_ok() && result.is_ok() {
                        "COMMIT"
                    } else {
                        "ROLLBACK"
                    };
                    (begun, result, simple(conn, end).await)
                }
            }
        })
        .await;
        if ended.is_ok() {
            *<TenantTransactions as TransactionManager<Conn>>::transaction_manager_status_mut(
                self,
            ) = TransactionManagerStatus::default();
        }
        if let (Flight::Two { cached: Some(sql) }, Ok(()), Ok(_), Ok(())) =
            (flight, &begun, &result, &ended)
        {
            PreparedStatements::record(&mut self.inner, sql);
        }
        begun?;
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// Runs `sql` by the simple query protocol, which never prepares: it is queued whole on
/// its first poll.
async fn simple(conn: &AsyncPgConnection, sql: &str) -> QueryResult<()> {
    let mut conn = conn;
    conn.batch_execute(sql).await
}

diesel::define_sql_function! {
    /// `set_config(setting, value, is_local)`: a local value lasts until the transaction ends.
    fn set_config(
        setting: diesel::sql_types::Text,
        value: diesel::sql_types::Text,
        is_local: diesel::sql_types::Bool,
    ) -> diesel::sql_types::Text;
}

/// What a transaction sets for its tenant: `switchyard.org_id` and `switchyard.system`
/// (read by the row-level security policies) and the statement timeout, all local to
/// the transaction.
struct TenantSettings {
    org: String,
    system: &'static str,
    timeout_ms: String,
}

impl TenantSettings {
    fn of(tenant: Tenant, timeout_ms: u64) -> TenantSettings {
        let (org, system) = match tenant {
            Tenant::Org(id) => (id.to_string(), "off"),
            Tenant::System => (String::new(), "on"),
            Tenant::None => (String::new(), "off"),
        };
        TenantSettings {
            org,
            system,
            timeout_ms: timeout_ms.to_string(),
        }
    }

    /// `BEGIN` and the settings as one simple query, for a connection that does not hold
    /// [`TenantSettings::statement`] prepared (its statement cache is off behind a
    /// pooler, or it has not run it yet). Only a UUID, a fixed word and a number are
    /// formatted in, never caller text.
    fn begin_sql(&self) -> String {
        let TenantSettings {
            org,
            system,
            timeout_ms,
        } = self;
        format!(
            "BEGIN; SELECT set_config('switchyard.org_id', '{org}', true), \
             set_config('switchyard.system', '{system}', true), \
             set_config('statement_timeout', '{timeout_ms}', true)"
        )
    }

    /// The settings as one statement with binds, which the connection prepares once
    /// ([`prepare_tenant_settings`]) so the server neither parses nor plans it again.
    fn statement(&self) -> impl Query + QueryFragment<Pg> + QueryId + Send + 'static {
        diesel::select((
            set_config("switchyard.org_id", self.org.clone(), true),
            set_config("switchyard.system", self.system, true),
            set_config("statement_timeout", self.timeout_ms.clone(), true),
        ))
    }

    /// Sets them in the open transaction on `conn`.
    async fn apply(&self, conn: &AsyncPgConnection) -> QueryResult<()> {
        let mut conn = conn;
        AsyncConnectionCore::load(&mut conn, self.statement())
            .await?
            .try_for_each(|_| futures::future::ok(()))
            .await
    }
}

/// The SQL of [`TenantSettings::statement`], by which the connection's record of its
/// prepared statements knows it.
static SETTINGS_SQL: LazyLock<String> = LazyLock::new(|| {
    let mut sql = diesel::pg::PgQueryBuilder::default();
    TenantSettings::of(Tenant::None, 0)
        .statement()
        .to_sql(&mut sql, &Pg)
        .map(|()| sql.finish())
        .unwrap_or_default()
});

/// Prepares the tenant's settings statement on a new connection (whose statement cache
/// is on), inside a transaction of its own so nothing outlasts it.
pub(crate) async fn prepare_tenant_settings(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    conn.transaction(async |c| TenantSettings::of(Tenant::None, 0).apply(c).await)
        .await?;
    PreparedStatements::record(conn, SETTINGS_SQL.clone());
    Ok(())
}

/// How many round trips a statement's own transaction takes (see
/// [`Conn::in_own_transaction`]).
#[derive(Debug)]
enum Flight {
    /// `BEGIN`, the statement and `COMMIT` in one flight: the statement is queued whole
    /// on its first poll (a simple query, or one the connection holds prepared).
    One,
    /// The end waits for the statement's answer: it may have to be prepared first.
    /// `cached`: the key it is recorded under once it has run, when the statement cache
    /// keeps it.
    Two { cached: Option<String> },
}

/// A statement with its SQL and bind values collected up front, so it can run after the
/// `BEGIN` of its own transaction (the caller's query only lives as long as the call),
/// and the flight it can take on `conn`.
fn collect<T>(
    query: &T,
    conn: &mut AsyncPgConnection,
) -> QueryResult<(CollectedQuery<RawBytesBindCollector<Pg>>, Flight)>
where
    T: QueryFragment<Pg>,
{
    let mut binds = RawBytesBindCollector::<Pg>::new();
    query.collect_binds(&mut binds, &mut BuiltinTypesOnly, &Pg)?;
    let mut sql = diesel::pg::PgQueryBuilder::default();
    query.to_sql(&mut sql, &Pg)?;
    let safe_to_cache = query.is_safe_to_cache_prepared(&Pg)?;
    let sql = sql.finish();
    let flight = if safe_to_cache {
        // The statement cache's key for it is its SQL and its binds' types. Those types
        // follow from the query's Rust type (diesel cannot hand out the collected ones),
        // so the record is keyed by both: the same SQL built with other bind types is
        // another query type.
        let key = format!("{sql}\0{}", std::any::type_name::<T>());
        if PreparedStatements::on(conn, &key) {
            Flight::One
        } else {
            Flight::Two { cached: Some(key) }
        }
    } else {
        Flight::Two { cached: None }
    };
    Ok((
        CollectedQuery::new(sql, safe_to_cache, binds.moveable()),
        flight,
    ))
}

/// The schema has no user-defined SQL types, so binds never need a type looked up.
struct BuiltinTypesOnly;

impl PgMetadataLookup for BuiltinTypesOnly {
    fn lookup_type(&mut self, type_name: &str, schema: Option<&str>) -> PgTypeMetadata {
        let key = PgMetadataCacheKey::new(
            schema.map(|s| s.to_owned().into()),
            type_name.to_owned().into(),
        );
        PgTypeMetadata::from_result(Err(diesel::pg::FailedToLookupTypeError::new(key)))
    }
}

impl SimpleAsyncConnection for Conn {
    async fn batch_execute(&mut self, query: &str) -> QueryResult<()> {
        if !self.outside_transaction()? {
            return self.inner.batch_execute(query).await;
        }
        let query = query.to_owned();
        // A simple query is never prepared: it goes out whole on its first poll.
        self.in_own_transaction(Flight::One, move |conn| {
            async move {
                let mut conn = conn;
                conn.batch_execute(&query).await
            }
            .boxed()
        })
        .await
    }
}

impl AsyncConnectionCore for Conn {
    type LoadFuture<'conn, 'query> = BoxFuture<'conn, QueryResult<Self::Stream<'conn, 'query>>>;
    type ExecuteFuture<'conn, 'query> = BoxFuture<'conn, QueryResult<usize>>;
    type Stream<'conn, 'query> = BoxStream<'static, QueryResult<PgRow>>;
    type Row<'conn, 'query> = PgRow;
    type Backend = Pg;

    fn load<'conn, 'query, T>(&'conn mut self, source: T) -> Self::LoadFuture<'conn, 'query>
    where
        T: AsQuery + 'query,
        T::Query: QueryFragment<Pg> + QueryId + 'query,
    {
        match self.outside_transaction() {
            Ok(true) => {}
            Ok(false) => return AsyncConnectionCore::load(&mut *self.inner, source),
            Err(e) => return futures::future::ready(Err(e)).boxed(),
        }
        let query = collect(&source.as_query(), &mut self.inner);
        async move {
            let (query, flight) = query?;
            let rows = self
                .in_own_transaction(flight, move |conn| {
                    async move {
                        let mut conn = conn;
                        // Every row is read before the COMMIT goes out behind them.
                        AsyncConnectionCore::load(&mut conn, query)
                            .await?
                            .try_collect::<Vec<_>>()
                            .await
                    }
                    .boxed()
                })
                .await?;
            Ok(futures::stream::iter(rows.into_iter().map(Ok)).boxed())
        }
        .boxed()
    }

    fn execute_returning_count<'conn, 'query, T>(
        &'conn mut self,
        source: T,
    ) -> Self::ExecuteFuture<'conn, 'query>
    where
        T: QueryFragment<Pg> + QueryId + 'query,
    {
        match self.outside_transaction() {
            Ok(true) => {}
            Ok(false) => {
                return AsyncConnectionCore::execute_returning_count(&mut *self.inner, source);
            }
            Err(e) => return futures::future::ready(Err(e)).boxed(),
        }
        let query = collect(&source, &mut self.inner);
        async move {
            let (query, flight) = query?;
            self.in_own_transaction(flight, move |conn| {
                let mut conn = conn;
                AsyncConnectionCore::execute_returning_count(&mut conn, query)
            })
            .await
        }
        .boxed()
    }
}

impl AsyncConnection for Conn {
    type TransactionManager = TenantTransactions;

    async fn establish(_url: &str) -> diesel::ConnectionResult<Self> {
        Err(diesel::ConnectionError::BadConnection(
            "a tenant connection comes from Db::org, Db::system or Db::untenanted".into(),
        ))
    }

    fn transaction_state(&mut self) -> &mut AnsiTransactionManager {
        self.inner.transaction_state()
    }

    fn instrumentation(&mut self) -> &mut dyn Instrumentation {
        self.inner.instrumentation()
    }

    fn set_instrumentation(&mut self, instrumentation: impl Instrumentation) {
        self.inner.set_instrumentation(instrumentation);
    }

    fn set_prepared_statement_cache_size(&mut self, size: CacheSize) {
        self.inner.set_prepared_statement_cache_size(size);
    }
}

/// Transactions of a [`Conn`]: the outermost one names the tenant in the statement that
/// begins it; savepoints, commits and rollbacks are the ANSI ones.
pub struct TenantTransactions;

impl TransactionManager<Conn> for TenantTransactions {
    type TransactionStateData = AnsiTransactionManager;

    async fn begin_transaction(conn: &mut Conn) -> QueryResult<()> {
        if !conn.outside_transaction()? {
            return <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::begin_transaction(
                &mut conn.inner,
            )
            .await;
        }
        let begun = AnsiTransactionManager::begin_transaction_sql(
            &mut *conn.inner,
            &conn.settings.begin_sql(),
        )
        .await;
        if begun.is_err() {
            // The BEGIN may have gone through before the tenant failed to apply.
            let _ = conn.inner.batch_execute("ROLLBACK").await;
        }
        begun
    }

    async fn rollback_transaction(conn: &mut Conn) -> QueryResult<()> {
        <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::rollback_transaction(
            &mut conn.inner,
        )
        .await
    }

    async fn commit_transaction(conn: &mut Conn) -> QueryResult<()> {
        <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::commit_transaction(
            &mut conn.inner,
        )
        .await
    }

    fn transaction_manager_status_mut(conn: &mut Conn) -> &mut TransactionManagerStatus {
        <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::transaction_manager_status_mut(
            &mut conn.inner,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_begin_statement_names_the_tenant_for_the_transaction_only() {
        let org = Uuid::now_v7();
        let sql = TenantSettings::of(Tenant::Org(org), 1_500).begin_sql();
        assert!(sql.starts_with("BEGIN; "));
        assert!(sql.contains(&format!("set_config('switchyard.org_id', '{org}', true)")));
        assert!(sql.contains("set_config('switchyard.system', 'off', true)"));
        assert!(sql.contains("set_config('statement_timeout', '1500', true)"));
        assert!(
            !sql.contains("false"),
            "nothing is set for the session: {sql}"
        );
        let begin = |tenant| TenantSettings::of(tenant, 1).begin_sql();
        assert!(begin(Tenant::System).contains("'switchyard.system', 'on', true"));
        assert!(begin(Tenant::None).contains("'switchyard.org_id', '', true"));
    }

    #[test]
    fn the_prepared_settings_carry_no_tenant_in_their_text() {
        assert_eq!(
            *SETTINGS_SQL,
            "SELECT set_config($1, $2, $3), set_config($4, $5, $6), set_config($7, $8, $9)"
        );
    }
}
