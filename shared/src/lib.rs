//! Everything two or more Switchyard services need: domain types and state machines,
//! wire types, the database schema and models, Redis keys, queue and event bus, the
//! object store, configuration, telemetry, shutdown and the registry of background loops.

pub mod approvals;
pub mod attempts;
pub mod blocking;
pub mod bus;
pub mod config;
pub mod db;
pub mod domain;
pub mod error_code;
pub mod executors;
pub mod github;
pub mod keys;
pub mod logs;
pub mod logstore;
pub mod loops;
pub mod metrics;
pub mod netpolicy;
pub mod queue;
pub mod redis_conn;
pub mod secrets;
pub mod shutdown;
pub mod store;
pub mod telemetry;
#[cfg(feature = "test-support")]
#[expect(
    clippy::expect_used,
    reason = "test support: a setup step that fails fails the test, with its message"
)]
pub mod testing;
pub mod wire;
pub mod workers;
