//! Slack: the Web API client, request signing, form bodies, mrkdwn escaping and Block Kit.

pub mod blocks;
pub mod client;
pub mod form;
pub mod mrkdwn;
pub mod pacing;
pub mod signature;

pub use client::{SlackClient, SlackError};
