//! The command line: every command, flag and environment variable, as clap parses them.
//!
//! Values the API owns (severities, statuses, impacts) are passed through as typed by the
//! user, upper-cased, so the API stays their one judge: a value a newer server accepts
//! (a `SEV0`) works without a new CLI, and a wrong one is the API's 422 (exit 1) naming
//! the field. What only the CLI knows (the role names, an incident reference, a shell) is
//! checked here, and a mistake is a usage error (exit 2).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::reference::IncidentRef;

/// The exit codes, as `incident --help` lists them.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the API refused the request (4xx other than below), or a local file could not be written
  2  usage error: bad arguments, not logged in
  3  not found (404): no such incident, postmortem or user
  4  authentication or permission refused (401, 403)
  5  server or network error (5xx, connection refused, timeout)

Errors go to stderr as `error: <title>: <detail>`; with --json, as the API's problem JSON.";

/// `incident`: declare and run incidents from a terminal or a script, through the public
/// API.
#[derive(Debug, Parser)]
#[command(
    name = "incident",
    version,
    about = "Declare and run incidents through the incident API",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The API's base URL (overrides the one saved by `login`).
    #[arg(long, global = true, env = "INCIDENT_URL", value_name = "URL")]
    pub url: Option<String>,
    /// An API token (overrides the one saved by `login`).
    #[arg(
        long,
        global = true,
        env = "INCIDENT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print the API's JSON instead of text, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// The configuration file (default: `$XDG_CONFIG_HOME/incident/config.toml`).
    #[arg(long, global = true, env = "INCIDENT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Seconds to wait for each API request.
    #[arg(long, global = true, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save `--url` and `--token` (verified first) in the configuration file (mode 0600);
    /// the token is read from stdin when `--token` is absent, so it stays out of the
    /// shell's history.
    Login,
    /// Remove the saved URL and token.
    Logout,
    /// Declare an incident; prints its reference and link.
    Declare(Declare),
    /// List incidents, newest first.
    List(List),
    /// Show an incident: its fields, roles and latest timeline entries.
    Show(Target),
    /// Move an incident to another status (INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED, CLOSED).
    Status(StatusChange),
    /// Acknowledge an incident.
    Ack(Target),
    /// Give a role to a user (by email or id).
    Assign(Assign),
    /// Post a stakeholder update (internal unless --public).
    Update(Update),
    /// Resolve an incident.
    Resolve(Resolve),
    /// Postmortems.
    #[command(subcommand)]
    Postmortem(Postmortem),
    /// Print a shell completion script.
    Completions(Completions),
}

/// An incident named on the command line.
#[derive(Debug, Args)]
pub struct Target {
    /// `INC-42`, `42`, or the incident's id.
    #[arg(value_name = "INCIDENT")]
    pub incident: IncidentRef,
}

/// `declare`.
#[derive(Debug, Args)]
pub struct Declare {
    /// One line, 1 to 200 characters.
    #[arg(long)]
    pub title: String,
    /// SEV1 (critical) to SEV4 (low).
    #[arg(long)]
    pub severity: String,
    /// An affected service, `NAME` or `NAME=IMPACT` (TOTAL_OUTAGE, PARTIAL_OUTAGE,
    /// DEGRADED; DEGRADED when absent). Repeatable.
    #[arg(long = "service", value_name = "NAME[=IMPACT]")]
    pub services: Vec<String>,
    /// A longer description.
    #[arg(long)]
    pub description: Option<String>,
    /// Only admins, role holders and members may see it.
    #[arg(long)]
    pub private: bool,
    /// A practice run, left out of statistics.
    #[arg(long)]
    pub drill: bool,
    /// Makes retrying this command safe: the same key declares one incident. A fresh key
    /// is generated when absent (retries within one run reuse it).
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

/// `list`.
#[derive(Debug, Args)]
pub struct List {
    /// Only these statuses (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Only these severities (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub severity: Vec<String>,
    /// Only incidents affecting this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only incidents whose title contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// At most this many (1 to 200).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusChange {
    /// `INC-42`, `42`, or the incident's id.
    #[arg(value_name = "INCIDENT")]
    pub incident: IncidentRef,
    /// The new status.
    pub status: String,
    /// Why, for the timeline.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Close even though the postmortem has open action items (recorded on the timeline).
    #[arg(long)]
    pub force: bool,
}

/// The roles of an incident's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleName {
    /// The Incident Commander.
    Commander,
    /// The Tech Lead.
    TechLead,
    /// The Comms Lead.
    CommsLead,
}

impl RoleName {
    /// The role's name in the API's path.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Commander => "commander",
            Self::TechLead => "tech_lead",
            Self::CommsLead => "comms_lead",
        }
    }
}

/// `assign`.
#[derive(Debug, Args)]
pub struct Assign {
    /// `INC-42`, `42`, or the incident's id.
    #[arg(value_name = "INCIDENT")]
    pub incident: IncidentRef,
    /// The role.
    #[arg(long, value_enum)]
    pub role: RoleName,
    /// The user: an email address of the workspace, or a user id.
    #[arg(long, value_name = "EMAIL|ID")]
    pub user: String,
}

/// `update`.
#[derive(Debug, Args)]
pub struct Update {
    /// `INC-42`, `42`, or the incident's id.
    #[arg(value_name = "INCIDENT")]
    pub incident: IncidentRef,
    /// The update's text.
    #[arg(long, short)]
    pub message: String,
    /// Public: shown on the status page. Internal when absent.
    #[arg(long)]
    pub public: bool,
}

/// `resolve`.
#[derive(Debug, Args)]
pub struct Resolve {
    /// `INC-42`, `42`, or the incident's id.
    #[arg(value_name = "INCIDENT")]
    pub incident: IncidentRef,
    /// Why, for the timeline.
    #[arg(long, short)]
    pub message: Option<String>,
}

/// `postmortem …`.
#[derive(Debug, Subcommand)]
pub enum Postmortem {
    /// Export an incident's postmortem as Markdown (to stdout, or a file).
    Export(Export),
}

/// `postmortem export`.
#[derive(Debug, Args)]
pub struct Export {
    /// `INC-42`, `42`, or the incident's id.
    #[arg(value_name = "INCIDENT")]
    pub incident: IncidentRef,
    /// Write the Markdown to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct Completions {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
