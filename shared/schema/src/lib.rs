//! The one Postgres schema every service shares: the migrations, the domain's enums and
//! values, a row type per table, and the queries more than one service needs.
//!
//! - [`MIGRATOR`] embeds `migrations/` at compile time; [`migrate`] applies it under
//!   Postgres's advisory lock, so replicas starting together serialise and each applies
//!   nothing twice.
//! - Enums are spelled the same in Postgres, JSON, `Display` and `FromStr` (see
//!   [`ParseError`]); `Severity` displays as `SEV1`, `IncidentNumber` as `INC-42`.
//! - Queries are plain `async fn`s over `&mut PgConnection` (a pooled connection or a
//!   transaction) returning `sqlx::Error`, written with runtime `query_as`. Every read of
//!   tenant data takes the workspace id: another workspace's rows are never returned.
//!
//! Tables written by one service only (alerts, postmortems, SLA events) have their row
//! types here and their queries in the owning service's `store` module.

#![warn(missing_docs)]

pub mod access;
pub mod alert;
pub mod analytics;
pub mod auth;
pub mod contract;
pub mod drill;
pub mod event;
pub mod incident;
mod parse;
pub mod postmortem;
pub mod sla;
pub mod text;
pub mod timeline;
pub mod timestamp;
pub mod user;
pub mod workspace;

use sqlx::PgPool;

pub use alert::{Alert, AlertGroup, AlertGroupStatus, AlertStatus, Integration, IntegrationKind};
pub use auth::{AccessRole, ApiToken};
pub use incident::{
    AffectedService, Incident, IncidentNumber, IncidentStatus, Role, ServiceImpact, Severity,
    Visibility,
};
pub use parse::ParseError;
pub use postmortem::{
    ActionItem, ActionItemPriority, ActionItemStatus, Postmortem, PostmortemStatus,
};
pub use sla::{SlaEvent, SlaEventKind, SlaPolicy, SlaTarget};
pub use timeline::{TimelineEntry, TimelineKind};
pub use timestamp::Timestamp;
pub use user::User;
pub use workspace::Workspace;

/// The schema's migrations (`migrations/` at the repository root), embedded at compile
/// time. Also what `#[sqlx::test(migrator = "incident_schema::MIGRATOR")]` applies.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies every pending migration. Safe to call from any number of replicas at once:
/// the migrator holds a Postgres advisory lock while it works, and an up-to-date database
/// is left untouched.
///
/// Migrations a newer release applied and this binary does not know are tolerated, so a
/// rollback to the previous release starts instead of crash-looping. That holds because
/// migrations stay additive (new tables, nullable or defaulted columns, new enum values):
/// an older binary never needs to know about them.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("../../migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
