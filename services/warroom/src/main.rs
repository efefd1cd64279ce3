//! The `incident-warroom` binary.

fn main() -> anyhow::Result<()> {
    incident_bus::service::main("incident-warroom", incident_warroom::run)
}
