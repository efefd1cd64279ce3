//! The `incident-postmortem` binary.

fn main() -> anyhow::Result<()> {
    incident_bus::service::main("incident-postmortem", incident_postmortem::run)
}
