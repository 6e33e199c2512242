//! The agent output normalizers, on the recorded transcripts in
//! `../shared/fixtures/agent-logs/` (snapshots plus specific facts), on transcripts of
//! the protocols no recording exists for (written from each protocol's documentation),
//! and on garbage, truncated and shuffled input.

#![expect(
    clippy::expect_used,
    reason = "test helpers: a setup step that fails fails the test, with its message"
)]

mod fixtures;
mod helpers;
mod protocols;
mod real_world;
mod robustness;
