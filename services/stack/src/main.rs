//! The `incident-stack` binary: every service in one process.

fn main() -> anyhow::Result<()> {
    incident_bus::service::main("incident-stack", incident_stack::run)
}
