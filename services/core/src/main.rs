//! The `incident-core` binary.

fn main() -> anyhow::Result<()> {
    incident_runtime::launch("incident-core", incident_core::run)
}
