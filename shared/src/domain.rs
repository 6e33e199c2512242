//! Domain enums and the state machines they move through. Stored as checked text in
//! Postgres; the string forms here are the single source of truth for both.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a text-backed enum usable in diesel models, serde and the OpenAPI document.
/// `$text` is a `tt`, not a `literal`: utoipa reads `serde(rename)` only from a plain
/// token, and would otherwise document the variants' Rust names (`Todo`, not `todo`).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize,
                 AsExpression, FromSqlRow, utoipa::ToSchema)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownVariant { kind: stringify!($name), value: other.to_owned() }),
                }
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                Ok(s.parse()?)
            }
        }
    };
}

/// A stored string that names no variant (a schema and code out of step).
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

text_enum!(
    /// A person's role in an organization.
    MemberRole { Owner => "owner", Admin => "admin", Member => "member", Viewer => "viewer" }
);

impl MemberRole {
    /// What the role may do, in the scopes org API tokens use, so one check serves both.
    pub fn scopes(self) -> &'static [TokenScope] {
        match self {
            MemberRole::Owner | MemberRole::Admin => TokenScope::ALL,
            MemberRole::Member => &[TokenScope::Read, TokenScope::Write, TokenScope::Runs],
            MemberRole::Viewer => &[TokenScope::Read],
        }
    }
}

text_enum!(
    /// How a person signed in.
    SessionMethod { Web => "web", Device => "device", Dev => "dev" }
);

text_enum!(
    /// Who made a change recorded in the audit log.
    ActorType { User => "user", Token => "token", Github => "github", System => "system" }
);

text_enum!(
    /// Board columns; attempts move tasks between them (docs/ARCHITECTURE.md, "The life of an attempt").
    TaskStatus {
        Todo => "todo",
        InProgress => "inprogress",
        InReview => "inreview",
        Done => "done",
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// How urgent a task is.
    TaskPriority { None => "none", Low => "low", Medium => "medium", High => "high", Urgent => "urgent" }
);

text_enum!(
    /// How an attempt's pull request is merged on GitHub (a project setting).
    MergeMethod { Merge => "merge", Squash => "squash", Rebase => "rebase" }
);

text_enum!(
    /// What a run started from GitHub may use (a project setting): the trigger is written
    /// by anyone with write access to the repository, the issue by anyone at all.
    GithubRunPolicy {
        /// No org secrets beyond the agent's own credential; supervised where the agent
        /// supports it. The default.
        Restricted => "restricted",
        /// The profile as it is, with every org secret, as a run started in Switchyard.
        Trusted => "trusted",
    }
);

text_enum!(
    /// Where a task came from.
    TaskOrigin { Ui => "ui", Api => "api", Github => "github" }
);

text_enum!(
    /// queued → scheduled → running → succeeded | failed | cancelled. A follow-up or a
    /// lost lease sends a finished or running attempt back to queued.
    AttemptStatus {
        Queued => "queued",
        Scheduled => "scheduled",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl AttemptStatus {
    /// The attempt holds (or waits for) a worker slot.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AttemptStatus::Queued | AttemptStatus::Scheduled | AttemptStatus::Running
        )
    }

    /// Whether an attempt may go from this status to `to` in one step (the moves of
    /// `shared::attempts`): dispatch, claim, a recorded end, a stop before any worker
    /// took it, a lost worker's retry or failure, a follow-up. A cancelled attempt is final.
    pub fn can_move_to(self, to: AttemptStatus) -> bool {
        use AttemptStatus::*;
        matches!(
            (self, to),
            (Queued, Scheduled | Cancelled)
                | (Scheduled, Running | Queued | Failed | Cancelled)
                | (Running, Succeeded | Failed | Cancelled | Queued)
                | (Succeeded | Failed, Queued)
        )
    }
}

text_enum!(
    /// The lifecycle of one executor run inside an attempt.
    ProcessStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Killed => "killed",
    }
);

impl ProcessStatus {
    /// The process will produce no more output.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ProcessStatus::Succeeded | ProcessStatus::Failed | ProcessStatus::Killed
        )
    }
}

text_enum!(
    /// Why an execution process runs.
    RunReason {
        SetupScript => "setupscript",
        CodingAgent => "codingagent",
        FollowUp => "followup",
        CleanupScript => "cleanupscript",
        DevServer => "devserver",
    }
);

text_enum!(
    /// What an org API token may do.
    TokenScope { Read => "read", Write => "write", Runs => "runs", Admin => "admin" }
);

text_enum!(
    /// Where a GitHub webhook delivery is in its processing.
    DeliveryStatus {
        /// Stored and acknowledged; waiting for a processor.
        Received => "received",
        /// Claimed by a processor, until its lease (`locked_until`) runs out.
        Processing => "processing",
        /// Handled.
        Processed => "processed",
        /// The last attempt failed: retried at `next_attempt_at`, or dead without one.
        Failed => "failed",
        /// An event or action nothing handles: stored and acknowledged, nothing done.
        Ignored => "ignored",
    }
);

#[cfg(test)]
mod tests {
    use super::AttemptStatus::{self, *};

    #[test]
    fn attempt_moves_follow_the_lifecycle() {
        // (from, to, legal): every pair of statuses, spelled out.
        let table = [
            (Queued, Queued, false),
            (Queued, Scheduled, true),
            (Queued, Running, false),
            (Queued, Succeeded, false),
            (Queued, Failed, false),
            (Queued, Cancelled, true),
            (Scheduled, Queued, true),
            (Scheduled, Scheduled, false),
            (Scheduled, Running, true),
            (Scheduled, Succeeded, false),
            (Scheduled, Failed, true),
            (Scheduled, Cancelled, true),
            (Running, Queued, true),
            (Running, Scheduled, false),
            (Running, Running, false),
            (Running, Succeeded, true),
            (Running, Failed, true),
            (Running, Cancelled, true),
            (Succeeded, Queued, true),
            (Succeeded, Scheduled, false),
            (Succeeded, Running, false),
            (Succeeded, Succeeded, false),
            (Succeeded, Failed, false),
            (Succeeded, Cancelled, false),
            (Failed, Queued, true),
            (Failed, Scheduled, false),
            (Failed, Running, false),
            (Failed, Succeeded, false),
            (Failed, Failed, false),
            (Failed, Cancelled, false),
            (Cancelled, Queued, false),
            (Cancelled, Scheduled, false),
            (Cancelled, Running, false),
            (Cancelled, Succeeded, false),
            (Cancelled, Failed, false),
            (Cancelled, Cancelled, false),
        ];
        assert_eq!(table.len(), AttemptStatus::ALL.len().pow(2));
        for (from, to, legal) in table {
            assert_eq!(from.can_move_to(to), legal, "{from} -> {to}");
        }
    }

    #[test]
    fn only_finished_attempts_are_continued_and_a_cancelled_one_is_final() {
        for &s in AttemptStatus::ALL {
            assert_eq!(
                s.can_move_to(Queued),
                !matches!(s, Queued | Cancelled),
                "{s}"
            );
        }
        assert!(
            AttemptStatus::ALL
                .iter()
                .all(|&to| !Cancelled.can_move_to(to))
        );
    }
}
