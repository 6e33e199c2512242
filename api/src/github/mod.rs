//! The GitHub App inside the api: webhook deliveries stored by `POST /github/webhooks`
//! are processed here, asynchronously, and installations keep the org's repositories in
//! sync.
//!
//! - [`processor`]: claims stored deliveries (`FOR UPDATE SKIP LOCKED`, so replicas share
//!   them), hands each to [`events::dispatch`], retries failures with backoff and takes
//!   back deliveries a dead replica left `processing`.
//! - [`intake`]: what the webhook route reads of a delivery (headers, JSON payload).
//! - [`events`]: the dispatch seam: one match arm per event. New event handlers (issues,
//!   comments, pull requests) are added there.
//! - [`installations`]: linking an installation to an org, and reconciling the org's
//!   repositories with what the installation grants.
//! - [`sweeper`]: asks GitHub to redeliver deliveries that never reached us.
//! - [`triggers`]: runs started by a labelled issue or a `/switchyard` comment.
//! - [`pulls`]: an attempt's pull request: opening, merging, and `pull_request` events.
//! - [`sanitize`]: issue and comment text stripped of what GitHub does not show.
//!
//! The App client itself ([`shared::github::GithubApp`]: the app JWT, installation tokens,
//! REST calls) lives in `shared`, because the worker needs it too.

pub mod events;
pub mod installations;
pub mod intake;
pub mod processor;
pub mod pulls;
pub mod sanitize;
pub mod sweeper;
pub mod triggers;

use shared::loops::Loops;

use crate::state::AppState;

/// Starts this replica's delivery processor and redelivery sweeper in `loops`. The
/// processor runs whether or not the App is configured (it finds nothing to do without
/// deliveries); the sweeper only with the App.
pub fn start(state: &AppState, loops: &mut Loops) {
    loops.spawn(
        "webhook-processor",
        processor::run(state.clone(), loops.stop_token()),
    );
    loops.spawn(
        "webhook-sweeper",
        sweeper::run(state.clone(), loops.stop_token()),
    );
}
