//! What the members and invitations routes share about memberships: logins and emails
//! compared case-insensitively, and the wire form of a member.

use shared::db::models::{Membership, User};
use shared::wire;

diesel::define_sql_function! {
    /// SQL `lower(text)`: logins and emails compare case-insensitively, as GitHub's do.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The wire form of a membership and its person.
pub fn member(m: Membership, u: User) -> wire::Member {
    wire::Member {
        user: u.into(),
        role: m.role,
        joined_at: m.created_at,
    }
}
