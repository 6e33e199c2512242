//! Execution processes: their logs.

pub mod logs;
