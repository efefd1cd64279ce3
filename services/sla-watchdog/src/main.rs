//! The `incident-sla-watchdog` binary.

fn main() -> anyhow::Result<()> {
    incident_runtime::launch("incident-sla-watchdog", incident_sla_watchdog::run)
}
