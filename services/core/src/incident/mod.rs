//! The incident domain: declaring, the lifecycle, fields, visibility, roles, members, the
//! timeline and affected services.
//!
//! Every function takes the caller's transaction, checks the workspace scope, applies
//! the change, writes its timeline entries and its outbox events, and returns the
//! incident as it now stands. Nothing here commits: the HTTP handler or the command
//! consumer does, so state, timeline and events land together or not at all.

pub mod change;
pub mod declare;
pub mod events;
pub mod group_commit;
pub mod lifecycle;
pub mod members;
pub mod query;
pub mod sla_policy;
pub mod store;
pub mod view;

use uuid::Uuid;

/// Who is acting: always a workspace, a user when a person (or their token) acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The workspace everything is scoped to.
    pub workspace_id: Uuid,
    /// The acting user, if any (system actions and user-less tokens have none).
    pub user_id: Option<Uuid>,
}

/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 20_000;
/// Longest free text elsewhere (impact, root cause, timeline messages), in characters.
pub const MAX_TEXT: usize = 20_000;
