//! Integration tests of the warroom: core and the warroom started as in the stack, on a
//! fresh database and RabbitMQ vhost per test, against the stateful fake Slack.

mod announce;
mod client;
mod commands;
pub use incident_warroom::testing::fake_slack;
mod handler;
mod inbound;
mod jobs;
mod lifecycle;
mod people;
mod settings_page;
mod support;
mod teams;
