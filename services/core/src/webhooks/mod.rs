//! Outbound webhooks: per-workspace subscriptions to the bus's event types, each event
//! delivered to every subscription that takes it, signed as the Standard Webhooks
//! specification says, at least once, in order per incident, retried for a day.
//!
//! The path of an event: the owner's outbox → `incidents.events` → the `core.webhooks`
//! queue → [`fanout`] (one `webhook_deliveries` row per subscription, in the inbox's
//! transaction) → [`sender`] (claims, posts, settles; disables a subscription that keeps
//! failing and emits `webhook.subscription_disabled`). Each step commits before the one
//! before it forgets, so a restart loses nothing.
//!
//! - [`subscription`]: the API's domain (validation, views, rotation, re-enabling);
//! - [`delivery`]: the delivery log, retries by hand, the test ping;
//! - [`signature`]: secrets and signatures;
//! - [`store`]: the SQL.

pub mod delivery;
pub mod fanout;
pub mod sender;
pub mod signature;
pub mod store;
pub mod subscription;

pub use fanout::{Fanout, queue};
pub use sender::Sender;
