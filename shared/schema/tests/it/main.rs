//! Integration tests of the schema crate against real Postgres: each `#[sqlx::test]`
//! gets a fresh database (with the migrations applied unless it says otherwise). One
//! binary for the crate: linking dominates on 2 cores.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo test -p incident-schema`.

mod access;
mod auth;
mod enums;
mod fixture;
mod gauges;
mod incident;
mod lifecycle;
mod migrations;
mod rows;
mod sla;
mod timeline;
mod user;
mod workspace;
