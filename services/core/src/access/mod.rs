//! Workspaces, users and API tokens: who may call the API, and as whom.

pub mod admin;
pub mod auth;
pub mod bootstrap;
pub mod settings;
pub mod sso;
