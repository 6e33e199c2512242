//! Black-box tests of the api: the real server on port 0 against real PostgreSQL, Redis
//! and S3, driven over HTTP; `e2e` adds the scheduler and real worker processes.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a setup step that fails fails the test, with its message"
)]

mod approvals;
mod attempt_views;
mod attempts;
mod audit_log;
mod auth;
mod bad_input;
mod bad_input_generated;
mod comments;
mod dashboard;
mod deployment;
mod e2e;
mod e2e_real_agent;
mod events;
mod executors;
mod fake_github;
mod fake_github_app;
mod fake_github_repos;
mod faults;
mod forbidden_env;
mod github_install;
mod github_oauth;
mod github_push;
mod github_signin;
mod github_tokens;
mod github_triggers;
mod github_webhooks;
mod health;
mod helpers;
mod idempotency;
mod invitations;
mod isolation;
mod logs;
mod members;
mod metrics;
mod openapi;
mod orgs;
mod pooling;
mod profiles;
mod projects;
mod rate_limits;
mod repository_hosts;
mod rls;
mod role_matrix;
mod secrets;
mod sessions;
mod streams;
mod tasks;
mod tokens;
mod web;
mod webhook_intake;
