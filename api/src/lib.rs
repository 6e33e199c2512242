//! Switchyard's HTTP API: org-scoped REST resources under `/api/v1`, server-sent event
//! streams fed by Redis pub/sub, and the OpenAPI document generated from the handlers.
//!
//! [`spawn`] starts the server (the binary and tests both use it);
//! [`bootstrap::bootstrap_org`] creates an org and its first token.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod error;
pub mod hub;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod sse;
pub mod state;

pub use app::{ApiHandle, RunningApi, spawn, spawn_with_shutdown};
pub use error::ApiError;
