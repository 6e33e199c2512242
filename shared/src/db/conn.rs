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
    AsQuery, CollectedQuery, MoveableBindCollector, QueryBuilder, QueryFragment, QueryId,
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
use uuid::Uuid;

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
    /// `BEGIN` followed by the `set_config` calls naming the tenant (and the statement
    /// timeout) for that transaction only.
    begin: String,
}

impl Conn {
    pub(crate) fn new(inner: Object<AsyncPgConnection>, tenant: Tenant, timeout_ms: u64) -> Conn {
        Conn {
            inner,
            begin: begin_sql(tenant, timeout_ms),
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

    /// Runs one statement in a transaction of its own, in two round trips rather than
    /// three: the `BEGIN` naming the tenant goes out in the same flight as the statement
    /// (the server runs them in order), then `COMMIT`, or `ROLLBACK` if either failed.
    ///
    /// Until that end has answered, the connection's transaction state reads as broken.
    /// A request dropped mid-flight (a client gone, a timeout) thus leaves a connection
    /// the pool closes instead of handing on inside an open transaction.
    async fn in_own_transaction<R>(
        &mut self,
        statement: impl for<'c> FnOnce(&'c AsyncPgConnection) -> BoxFuture<'c, QueryResult<R>>,
    ) -> QueryResult<R> {
        <TenantTransactions as TransactionManager<Conn>>::transaction_manager_status_mut(self)
            .set_in_error();
        let (begun, result) = {
            let conn: &AsyncPgConnection = &self.inner;
            let begin_sql = self.begin.as_str();
            let begin = async move {
                let mut conn = conn;
                conn.batch_execute(begin_sql).await
            };
            // `join!` polls in order: the BEGIN is queued on the connection first.
            futures::join!(begin, statement(conn))
        };
        let end = if begun.is_ok() && result.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = self.inner.batch_execute(end).await;
        if ended.is_ok() {
            *<TenantTransactions as TransactionManager<Conn>>::transaction_manager_status_mut(
                self,
            ) = TransactionManagerStatus::default();
        }
        begun?;
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// The statement that opens a transaction for `tenant`. Only a UUID, a fixed word and a
/// number are formatted in, never caller text.
fn begin_sql(tenant: Tenant, timeout_ms: u64) -> String {
    let (org, system) = match tenant {
        Tenant::Org(id) => (id.to_string(), "off"),
        Tenant::System => (String::new(), "on"),
        Tenant::None => (String::new(), "off"),
    };
    format!(
        "BEGIN; SELECT set_config('switchyard.org_id', '{org}', true), \
         set_config('switchyard.system', '{system}', true), \
         set_config('statement_timeout', '{timeout_ms}', true)"
    )
}

/// A statement with its SQL and bind values collected up front, so it can run after the
/// `BEGIN` of its own transaction (the caller's query only lives as long as the call).
fn collect<T>(query: &T) -> QueryResult<CollectedQuery<RawBytesBindCollector<Pg>>>
where
    T: QueryFragment<Pg>,
{
    let mut binds = RawBytesBindCollector::<Pg>::new();
    query.collect_binds(&mut binds, &mut BuiltinTypesOnly, &Pg)?;
    let mut sql = diesel::pg::PgQueryBuilder::default();
    query.to_sql(&mut sql, &Pg)?;
    let safe_to_cache = query.is_safe_to_cache_prepared(&Pg)?;
    Ok(CollectedQuery::new(
        sql.finish(),
        safe_to_cache,
        binds.moveable(),
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
        self.in_own_transaction(move |conn| {
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
        let query = collect(&source.as_query());
        async move {
            let query = query?;
            let rows = self
                .in_own_transaction(move |conn| {
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
        let query = collect(&source);
        async move {
            let query = query?;
            self.in_own_transaction(move |conn| {
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
        let begun =
            AnsiTransactionManager::begin_transaction_sql(&mut *conn.inner, &conn.begin).await;
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
        let sql = begin_sql(Tenant::Org(org), 1_500);
        assert!(sql.starts_with("BEGIN; "));
        assert!(sql.contains(&format!("set_config('switchyard.org_id', '{org}', true)")));
        assert!(sql.contains("set_config('switchyard.system', 'off', true)"));
        assert!(sql.contains("set_config('statement_timeout', '1500', true)"));
        assert!(
            !sql.contains("false"),
            "nothing is set for the session: {sql}"
        );
        assert!(begin_sql(Tenant::System, 1).contains("'switchyard.system', 'on', true"));
        assert!(begin_sql(Tenant::None, 1).contains("'switchyard.org_id', '', true"));
    }
}
