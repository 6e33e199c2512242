//! The dispatch seam of webhook deliveries: [`dispatch`] sends each stored delivery to
//! the handler of its event. To handle a new event, add its name to [`HANDLED_EVENTS`]
//! (deliveries of other events are stored as `ignored` at intake and never dispatched)
//! and an arm to [`dispatch`] calling an `async fn(&AppState, &Delivery) ->
//! Result<Outcome, HandlerError>`.
//!
//! Handlers run at least once per delivery: a replica can die after a handler's writes
//! and before the delivery is marked processed, and the delivery is then processed again.
//! So a handler must be idempotent — key what it creates by something in the payload (an
//! issue id, a comment id, the delivery id) and skip what already exists.

use serde::de::DeserializeOwned;
use shared::db::models::WebhookDelivery;
use shared::github::GithubError;
use std::fmt;
use uuid::Uuid;

use super::{installations, pulls, triggers};
use crate::state::AppState;

/// Events with a handler. Everything else is acknowledged and stored as `ignored`.
pub const HANDLED_EVENTS: &[&str] = &[
    "ping",
    "installation",
    "installation_repositories",
    "issues",
    "issue_comment",
    "pull_request",
];

/// Whether deliveries of `event` are processed (otherwise they are stored as ignored).
pub fn is_handled(event: &str) -> bool {
    HANDLED_EVENTS.contains(&event)
}

/// A delivery being processed, with the org its installation is linked to (if any).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Our row id.
    pub id: Uuid,
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    /// `installation.id` of the payload.
    pub installation_id: Option<i64>,
    /// The org the installation is linked to; `None` for an unlinked installation (a
    /// handler acting in an org ignores such deliveries).
    pub org_id: Option<Uuid>,
    pub payload: serde_json::Value,
}

impl Delivery {
    /// A stored row, with the org resolved for it.
    pub fn from_row(row: WebhookDelivery, org_id: Option<Uuid>) -> Delivery {
        Delivery {
            id: row.id,
            delivery_id: row.delivery_id,
            event: row.event,
            action: row.action,
            installation_id: row.installation_id,
            org_id,
            payload: row.payload,
        }
    }

    /// The action, or `""`.
    pub fn action(&self) -> &str {
        self.action.as_deref().unwrap_or("")
    }

    /// The payload decoded into `T`; a payload that does not fit fails the delivery for
    /// good (retrying cannot fix it).
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        T::deserialize(&self.payload).map_err(|e| {
            HandlerError::Permanent(format!(
                "the {} payload does not have the documented shape: {e}",
                self.event
            ))
        })
    }
}

/// What a handler made of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Processed,
    /// Nothing to do (an action not handled, an installation not linked to any org);
    /// the reason is stored with the delivery.
    Ignored(String),
}

/// Why a handler failed. Messages are stored with the delivery and logged: never put a
/// token in one.
#[derive(Debug)]
pub enum HandlerError {
    /// May succeed later (GitHub or the database unavailable): retried with backoff.
    Transient(String),
    /// Will not succeed however often it is tried (a malformed payload, GitHub refusing
    /// for good): the delivery is failed at once.
    Permanent(String),
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Transient(m) | HandlerError::Permanent(m) => f.write_str(m),
        }
    }
}

impl From<GithubError> for HandlerError {
    fn from(e: GithubError) -> Self {
        if e.is_transient() {
            HandlerError::Transient(e.to_string())
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

impl From<shared::db::DbError> for HandlerError {
    fn from(e: shared::db::DbError) -> Self {
        HandlerError::Transient(format!("database: {e}"))
    }
}

impl From<diesel::result::Error> for HandlerError {
    fn from(e: diesel::result::Error) -> Self {
        HandlerError::Transient(format!("database: {e}"))
    }
}

/// Sends a delivery to its event's handler.
pub async fn dispatch(state: &AppState, delivery: &Delivery) -> Result<Outcome, HandlerError> {
    match delivery.event.as_str() {
        // Sent once when the webhook is set up.
        "ping" => Ok(Outcome::Processed),
        "installation" => installations::on_installation(state, delivery).await,
        "installation_repositories" => {
            installations::on_installation_repositories(state, delivery).await
        }
        "issues" => triggers::on_issues(state, delivery).await,
        "issue_comment" => triggers::on_issue_comment(state, delivery).await,
        "pull_request" => pulls::on_pull_request(state, delivery).await,
        other => Ok(Outcome::Ignored(format!("no handler for {other} events"))),
    }
}
