//! Executors: what the running workers can run.

pub mod list;
