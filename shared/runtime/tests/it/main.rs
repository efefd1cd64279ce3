//! Integration tests of the runtime crate against a real PostgreSQL (`DATABASE_URL`).

mod database;
