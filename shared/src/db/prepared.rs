//! Which statements a connection holds prepared under their SQL and bind types (the
//! statement cache's key for a statement run alone, recorded as the SQL and the query's
//! Rust type, which fixes the bind types), so a
//! [`Conn`](super::Conn) knows when a statement will go out whole (bind and execute) the
//! first time its future is polled. One the cache must still prepare first waits for
//! the server's answer to its parse: a transaction's end queued behind it would
//! overtake it. The record is written only where that is certain: after the tenant
//! settings are prepared as the connection opens, and after a statement run in its own
//! transaction (so cached under that key) has succeeded. Statements run inside
//! transactions are cached under their Rust type instead, so a record learned from the
//! cache's events would claim SQL the cache does not hold under that key.

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use std::collections::HashSet;

/// Kept in the connection's instrumentation slot, the one place a diesel-async connection
/// carries data of ours; installed when the statement cache is on, listening to nothing.
#[derive(Default)]
pub(crate) struct PreparedStatements {
    held: HashSet<String>,
}

impl PreparedStatements {
    /// Whether `conn`'s statement cache holds the statement `key` names (false when the
    /// cache is off).
    pub(crate) fn on(conn: &mut AsyncPgConnection, key: &str) -> bool {
        let instrumentation: &dyn Instrumentation = conn.instrumentation();
        instrumentation
            .downcast_ref::<PreparedStatements>()
            .is_some_and(|prepared| prepared.held.contains(key))
    }

    /// Records that `conn`'s statement cache now holds the statement `key` names (nothing
    /// when the cache is off).
    pub(crate) fn record(conn: &mut AsyncPgConnection, key: String) {
        if let Some(prepared) = conn.instrumentation().downcast_mut::<PreparedStatements>() {
            prepared.held.insert(key);
        }
    }
}

impl Instrumentation for PreparedStatements {
    fn on_connection_event(&mut self, _: InstrumentationEvent<'_>) {}
}
