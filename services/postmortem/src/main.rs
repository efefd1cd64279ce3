//! The `incident-postmortem` binary.

fn main() -> anyhow::Result<()> {
    incident_runtime::launch("incident-postmortem", incident_postmortem::run)
}
