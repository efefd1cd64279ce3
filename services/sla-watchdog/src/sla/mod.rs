//! SLA tracking: what is due on an incident ([`finding`]), the sweep that reports it
//! exactly once ([`sweep`]) through its queries ([`store`]), and the events it publishes
//! ([`event`]).

pub mod event;
pub mod finding;
pub mod store;
pub mod sweep;
