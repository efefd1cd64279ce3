//! The `incident-core` binary.

fn main() -> anyhow::Result<()> {
    incident_bus::service::main("incident-core", incident_core::run)
}
