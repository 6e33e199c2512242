//! Org API tokens: minted here, shown once, stored as a SHA-256 hash with a visible
//! prefix; listed without their secrets; revoked at once (the next request with a
//! revoked token answers 401).

pub mod create;
pub mod list;
pub mod revoke;
