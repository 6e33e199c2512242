//! The org's repositories: the ones its projects were created on, and the ones its GitHub
//! App installations grant (kept in sync by [`crate::github::installations`]).

pub mod branches;
pub mod list;
