//! Integration tests of the `incident` CLI: the built binary run as a subprocess against
//! core's and the postmortem service's real routers (one port, as the stack serves them)
//! over a fresh database per test.

mod completions;
mod errors;
mod lifecycle;
mod login;
mod postmortem;
mod support;
