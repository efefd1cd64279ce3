//! The `incident-stack` binary: every service in one process.

fn main() -> anyhow::Result<()> {
    incident_runtime::launch("incident-stack", incident_stack::run)
}
