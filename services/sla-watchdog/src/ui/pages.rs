//! The drill pages' templates and the plain data they render, so the snapshot tests
//! render them from fixed data.

use askama::Template;
use incident_web::Shell;
#[allow(unused_imports, reason = "the shared layout names sections")]
use incident_web::shell::Section;
pub use incident_web::view::When;

/// A scenario of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioItem {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The drill incident's title and severity, as `SEV3 · Checkout latency`.
    pub story: String,
    /// Its cron schedule (UTC), if any.
    pub schedule: Option<String>,
    /// Its latest scored run: (run id, `3 of 4 met (75 %)`).
    pub last_score: Option<(String, String)>,
}

/// A run of the list, or the run a page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunItem {
    /// Its id.
    pub id: String,
    /// The scenario's name when it started.
    pub scenario: String,
    /// `running`, `completed`, `cancelled` or `timed_out`.
    pub state: String,
    /// Started.
    pub started: When,
    /// Ended.
    pub ended: Option<When>,
    /// Its score, as `3 of 4 met (75 %)`.
    pub score: Option<String>,
    /// Its incident's reference, `INC-42`.
    pub incident: Option<String>,
}

/// `/ui/drills`.
#[derive(Template)]
#[template(path = "ui/drills.html")]
pub struct DrillsPage {
    /// The shell.
    pub shell: Shell,
    /// The workspace's scenarios, by name.
    pub scenarios: Vec<ScenarioItem>,
    /// Its runs, newest first.
    pub runs: Vec<RunItem>,
    /// A fresh key for the "Start run" forms (a form posted twice starts one run).
    pub start_key: String,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepItem {
    /// Its position in the script, from 1.
    pub number: i32,
    /// What it does, as `Hint: look at the deploy`.
    pub what: String,
    /// `pending`, `played` or `failed`.
    pub state: String,
    /// When it was due.
    pub due: When,
    /// When it was played or failed.
    pub done: Option<When>,
    /// Why it failed.
    pub failure: Option<String>,
}

/// One expectation of a run's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectationItem {
    /// What, as `Acknowledged`.
    pub name: String,
    /// `met` or `missed`.
    pub outcome: String,
    /// How long it took, or `did not happen`.
    pub measured: String,
    /// The scenario's target (`—` when it has none).
    pub target: String,
    /// The workspace's SLA target and whether it was met, as `15m (met)`.
    pub sla: Option<String>,
    /// Against the run before: `faster than 4m 10s`.
    pub compared: Option<String>,
}

/// `/ui/drills/runs/{id}`.
#[derive(Template)]
#[template(path = "ui/drill_run.html")]
pub struct RunPage {
    /// The shell.
    pub shell: Shell,
    /// The run.
    pub run: RunItem,
    /// When it times out (running) or its deadline was.
    pub deadline: When,
    /// Who started it by hand (none: its schedule, or a token without a person).
    pub started_by: Option<String>,
    /// Its steps, in the script's order.
    pub steps: Vec<StepItem>,
    /// Its scored expectations (empty until it ends).
    pub expectations: Vec<ExpectationItem>,
    /// The run it was compared with (its id).
    pub previous_run: Option<String>,
    /// Whether the viewer may cancel it (running, and a responder).
    pub can_cancel: bool,
}
