//! The GitHub App, for every service that talks to GitHub as the App: the api (install
//! flow, webhooks, the redelivery sweeper) and the worker (clone, fetch and push with an
//! installation token).
//!
//! - [`jwt`]: the RS256 app JWT that authenticates the App itself.
//! - [`tokens`]: installation access tokens, minted per installation or per repository
//!   and cached in the process until five minutes before they expire.
//! - [`client`]: [`GithubApp`], the REST client (`/app/...` with the JWT, everything else
//!   with an installation token), and the REST shapes it reads.
//! - [`webhook`]: `X-Hub-Signature-256` signatures.
//!
//! Tokens, the JWT and the private key never reach a log line, an error message or a
//! `Debug` output: they live in [`secrecy::SecretString`]s and errors name only the
//! method, path and status of a call.

pub mod client;
pub mod jwt;
pub mod tokens;
pub mod webhook;

pub use client::{
    Auth, Branch, CollaboratorPermission, GithubApp, GithubError, GithubRepo, HookDelivery,
    Installation, OrgMembership, PullRequest,
};
pub use tokens::{InstallationToken, TokenScope};
