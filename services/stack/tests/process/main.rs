//! The `incident-stack` binary as a process: start-up and shutdown, and the fault suite
//! (SIGKILL, broker and database connections cut mid-burst) with counts compared after
//! each. One test binary for the crate: linking dominates on 2 cores.

mod faults;
mod lifecycle;
mod support;
