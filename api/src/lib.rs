//! Switchyard's HTTP API: org-scoped REST resources under `/api/v1`, server-sent event
//! streams fed by Redis pub/sub, the OpenAPI document generated from the handlers, and
//! the built dashboard (`web/dist`) as static files.
//!
//! [`spawn`] starts the server (the binary and tests both use it);
//! [`bootstrap::bootstrap_org`] creates an org and its first token.

pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod error;
pub mod github;
pub mod hub;
pub mod openapi;
pub mod ratelimit;
pub mod request_id;
pub mod routes;
pub mod sse;
pub mod state;
pub mod web;

pub use app::{ApiHandle, RunningApi, spawn, spawn_with_shutdown};
pub use error::ApiError;
