//! Integration tests of the worker, on real PostgreSQL, Redis and S3 (via
//! `shared::testing::TestEnv`), real git repositories and real processes.

#![expect(
    clippy::expect_used,
    reason = "test helpers: a setup step that fails fails the test, with its message"
)]

mod agent_acp;
mod agent_codex;
mod agent_opencode;
mod attempt;
mod fakes;
mod git;
mod helpers;
mod hostile;
mod logship;
mod one_shot;
mod pump;
mod real_acp;
mod real_agents;
mod real_claude;
mod real_codex;
mod real_openai_chat;
mod runner;
mod sandbox;
mod sessions;
