//! The `incident-ingestion` binary.

fn main() -> anyhow::Result<()> {
    incident_bus::service::main("incident-ingestion", incident_ingestion::run)
}
