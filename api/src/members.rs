//! What the members and invitations routes share about memberships: logins and emails
//! compared case-insensitively, and the wire form of a member.

use shared::db::models::{Membership, User};
use shared::wire;

diesel::define_sql_function! {
    /// SQL `lower(text)`: logins and emails compare case-insensitively, as GitHub's do.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The wire form of a membership and its person. The email address (perhaps their
/// private GitHub primary address) is shown only when `show_email`: to the person
/// themselves and to the org's admins — never in events every member receives.
pub fn member(m: Membership, u: User, show_email: bool) -> wire::Member {
    let mut user = wire::UserInfo::from(u);
    if !show_email {
        user.email = None;
    }
    wire::Member {
        user,
        role: m.role,
        joined_at: m.created_at,
    }
}
