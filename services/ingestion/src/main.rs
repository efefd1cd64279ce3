//! The `incident-ingestion` binary.

fn main() -> anyhow::Result<()> {
    incident_runtime::launch("incident-ingestion", incident_ingestion::run)
}
