//! Org events (docs/API.md, "Streams"): what a write tells every open board, published on Redis
//! only after the write committed, so no viewer sees a change that was rolled back.
//!
//! The services (`boards`, `runs`) collect the events of a write in [`Events`] while its
//! transaction runs and hand them back with the rows; the caller, a route or a GitHub
//! handler, publishes them once the transaction has committed. A write that gives the
//! scheduler work (an attempt queued, a slot freed) says so in the same [`Events`], and
//! the scheduler is woken with them.

use shared::wire::OrgEvent;
use uuid::Uuid;

use crate::state::AppState;

/// Publishes an org event after the write committed, best effort (see `shared::bus::emit`).
pub async fn emit(state: &AppState, org_id: Uuid, event: OrgEvent) {
    let mut redis = state.redis();
    shared::bus::emit(&mut redis, &state.keys, org_id, event).await;
}

/// The events a write owes its org, in the order they happened, and whether it owes
/// the scheduler a wake.
#[derive(Debug, Default)]
#[must_use = "events are published with `Events::emit` once the write has committed"]
pub struct Events {
    events: Vec<OrgEvent>,
    wakes_dispatcher: bool,
}

impl Events {
    /// Records an event.
    pub fn push(&mut self, event: OrgEvent) {
        self.events.push(event);
    }

    /// Records that the write gave the scheduler something to dispatch: an attempt
    /// queued, or an org's slot freed.
    pub fn wake_dispatcher(&mut self) {
        self.wakes_dispatcher = true;
    }

    /// Appends the events of a later step of the same write.
    pub fn extend(&mut self, later: Events) {
        self.events.extend(later.events);
        self.wakes_dispatcher |= later.wakes_dispatcher;
    }

    /// Whether the write changed nothing anyone (a board or the scheduler) must hear of.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && !self.wakes_dispatcher
    }

    /// Publishes the events to the org's stream, then wakes the scheduler if the write
    /// owes it a wake (after the events, so no board hears of an attempt scheduled
    /// before it hears of it queued); best effort like [`emit`].
    pub async fn emit(self, state: &AppState, org_id: Uuid) {
        let mut redis = state.redis();
        for event in self.events {
            shared::bus::emit(&mut redis, &state.keys, org_id, event).await;
        }
        if self.wakes_dispatcher {
            shared::bus::wake_dispatcher(&mut redis, &state.keys).await;
        }
    }
}
