//! Org events (docs/API.md, "Streams"): what a write tells every open board, published on Redis
//! only after the write committed, so no viewer sees a change that was rolled back.
//!
//! The services (`boards`, `runs`) collect the events of a write in [`Events`] while its
//! transaction runs and hand them back with the rows; the caller, a route or a GitHub
//! handler, publishes them once the transaction has committed.

use shared::wire::OrgEvent;
use uuid::Uuid;

use crate::state::AppState;

/// Publishes an org event after the write committed, best effort (see `shared::bus::emit`).
pub async fn emit(state: &AppState, org_id: Uuid, event: OrgEvent) {
    let mut redis = state.redis();
    shared::bus::emit(&mut redis, &state.keys, org_id, event).await;
}

/// The events a write owes its org, in the order they happened.
#[derive(Debug, Default)]
#[must_use = "events are published with `Events::emit` once the write has committed"]
pub struct Events(Vec<OrgEvent>);

impl Events {
    /// Records an event.
    pub fn push(&mut self, event: OrgEvent) {
        self.0.push(event);
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
            shared::bus::emit(&mut redis, &state.keys, org_id, event).await;
        }
    }
}
