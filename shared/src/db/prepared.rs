//! Which statements a connection holds prepared, learned from its statement cache's own
//! instrumentation events. A held statement goes out whole (bind and execute) the first
//! time its future is polled; one the cache must still prepare first waits for the
//! server's answer to its parse. [`Conn`](super::Conn) ends a transaction in the same
//! flight as its statement only in the first case: behind a prepare, the end would
//! overtake the statement it was meant to follow.

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use std::collections::HashSet;

/// Installed as a connection's instrumentation when its statement cache is on.
#[derive(Default)]
pub(crate) struct PreparedStatements {
    /// The SQL of every statement the cache holds.
    held: HashSet<String>,
    /// Statements being prepared for the cache: held once their first run has finished
    /// without error. (A first run that failed may or may not have left its statement
    /// prepared; it is not counted, so that statement keeps taking two flights here.)
    preparing: Vec<String>,
}

impl PreparedStatements {
    /// Whether `conn`'s statement cache holds `sql` (false when the cache is off).
    pub(crate) fn on(conn: &mut AsyncPgConnection, sql: &str) -> bool {
        let instrumentation: &dyn Instrumentation = conn.instrumentation();
        instrumentation
            .downcast_ref::<PreparedStatements>()
            .is_some_and(|prepared| prepared.held.contains(sql))
    }

    fn preparing(&mut self, sql: &str) {
        self.preparing.push(sql.to_owned());
    }

    fn finished(&mut self, sql: &str, ok: bool) {
        if let Some(at) = self.preparing.iter().position(|p| p == sql) {
            let sql = self.preparing.swap_remove(at);
            if ok {
                self.held.insert(sql);
            }
        }
    }
}

impl Instrumentation for PreparedStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::CacheQuery { sql, .. } => self.preparing(sql),
            InstrumentationEvent::FinishQuery { query, error, .. }
                if !self.preparing.is_empty() =>
            {
                self.finished(&query.to_string(), error.is_none());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_held_once_its_first_run_finished_without_error() {
        let mut prepared = PreparedStatements::default();
        prepared.preparing("SELECT 1");
        prepared.preparing("SELECT 2");
        prepared.finished("BEGIN", true);
        assert!(prepared.held.is_empty(), "not a statement being prepared");
        prepared.finished("SELECT 2", true);
        prepared.finished("SELECT 1", false);
        assert_eq!(prepared.held, HashSet::from(["SELECT 2".to_owned()]));
        assert!(prepared.preparing.is_empty());
    }
}
