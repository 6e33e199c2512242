//! Black-box tests of the api: the real server on port 0 against real PostgreSQL, Redis
//! and S3, driven over HTTP; `e2e` adds the scheduler and real worker processes.

mod approvals;
mod attempts;
mod auth;
mod bad_input;
mod e2e;
mod events;
mod executors;
mod health;
mod helpers;
mod logs;
mod openapi;
mod profiles;
mod projects;
mod secrets;
mod tasks;
