//! Attempts: one run of an executor on a task, on its own branch; and its processes.

pub mod diff;
pub mod follow_up;
pub mod get;
pub mod list;
pub mod processes;
pub mod pull_request;
pub mod start;
pub mod stop;
