//! The `incident-sla-watchdog` binary.

fn main() -> anyhow::Result<()> {
    incident_bus::service::main("incident-sla-watchdog", incident_sla_watchdog::run)
}
