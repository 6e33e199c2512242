//! Approvals: supervised tool calls waiting for a team member's decision.

pub mod decide;
pub mod list;

use serde::Deserialize;
use uuid::Uuid;

/// `/orgs/{org}/attempts/{id}/approvals/{approval_id}`.
#[derive(Debug, Deserialize)]
pub struct ApprovalPath {
    pub org: String,
    pub id: Uuid,
    pub approval_id: Uuid,
}
