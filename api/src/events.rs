//! Org events (DESIGN.md §4): what a write tells every open board, published on Redis
//! only after the write committed, so no viewer sees a change that was rolled back.
//!
//! The services (`boards`, `runs`) collect the events of a write in [`Events`] while its
//! transaction runs and hand them back with the rows; the caller, a route or a GitHub
//! handler, publishes them once the transaction has committed.

use serde::Serialize;
use shared::wire::OrgEvent;
use uuid::Uuid;

use crate::state::AppState;

/// Publishes an org event after the write committed, best effort (see `shared::bus::emit`).
pub async fn emit<T: Serialize>(state: &AppState, org_id: Uuid, kind: &str, data: &T) {
    let mut redis = state.redis();
    shared::bus::emit(&mut redis, &state.keys, org_id, kind, data).await;
}

/// The events a write owes its org, in the order they happened.
#[derive(Debug, Default)]
#[must_use = "events are published with `Events::emit` once the write has committed"]
pub struct Events(Vec<OrgEvent>);

impl Events {
    /// Records an event; one whose data cannot be encoded is logged and dropped, as
    /// `shared::bus::emit` does (a lost live event is recovered by re-reading the resource).
    pub fn push<T: Serialize>(&mut self, kind: &str, data: &T) {
        match serde_json::to_value(data) {
            Ok(data) => self.0.push(OrgEvent {
                kind: kind.to_owned(),
                data,
            }),
            Err(e) => tracing::warn!(kind, error = %e, "org event not encodable"),
        }
    }

    /// Appends the events of a later step of the same write.
    pub fn extend(&mut self, later: Events) {
        self.0.extend(later.0);
    }

    /// Whether the write changed nothing anyone must hear of.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Publishes the events to the org's stream, best effort like [`emit`].
    pub async fn emit(self, state: &AppState, org_id: Uuid) {
        let mut redis = state.redis();
        for event in self.0 {
            if let Err(e) =
                shared::bus::publish_org_event(&mut redis, &state.keys, org_id, &event).await
            {
                tracing::warn!(%org_id, kind = %event.kind, error = %e, "org event not published");
            }
        }
    }
}
