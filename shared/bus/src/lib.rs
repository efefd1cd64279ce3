//! The reliable messaging layer every service uses to talk to the others.
//!
//! - [`topology`]: the exchanges, the per-service quorum queues and the dead-letter
//!   queue, declared idempotently on every (re)connect;
//! - [`envelope`]: the JSON envelope every message travels in;
//! - [`trace_context`]: W3C trace context carried in AMQP headers;
//! - [`supervisor`]: the [`Bus`] — one supervised connection that reconnects with
//!   backoff, re-declares topology, resumes consumers and reports readiness;
//! - [`publisher`]: publishing with confirms, where only a confirmed message is sent;
//! - [`dispatch`]: typed handlers of the contract's messages, each payload parsed once;
//! - [`consumer`]: the runner — manual ack after commit, bounded prefetch, transient
//!   failures retried, permanent ones dead-lettered, duplicates absorbed by the inbox;
//! - [`outbox`]: events written in the caller's transaction (the storage);
//! - [`relay`]: the [`OutboxRelay`] that publishes them;
//! - [`inbox`]: the consumed-message ledger;
//! - [`service`]: a service's bus, relay and pruning, started the same way everywhere.
//!
//! The guarantee is at-least-once delivery with idempotent effects: a broker restart, a
//! killed worker or a database blip delays work and never drops or duplicates it.

pub mod consumer;
pub mod dispatch;
pub mod envelope;
pub mod inbox;
pub mod outbox;
pub mod publisher;
pub mod relay;
pub mod service;
pub mod supervisor;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topology;
pub mod trace_context;

pub use consumer::{Handler, HandlerError, RetryPolicy};
pub use dispatch::{Dispatch, Handles};
pub use envelope::Envelope;
pub use outbox::OutgoingMessage;
pub use publisher::{PublishError, Publisher};
pub use relay::OutboxRelay;
pub use supervisor::{Bus, BusBuilder};
pub use topology::QueueSpec;
