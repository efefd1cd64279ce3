//! The `incident-warroom` binary.

fn main() -> anyhow::Result<()> {
    incident_runtime::launch("incident-warroom", incident_warroom::run)
}
