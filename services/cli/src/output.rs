//! [`Output`]: what a command prints on success: the API's JSON for `--json`, text for a
//! person otherwise, or the same bytes either way (a Markdown export, a completion
//! script). Printing to a closed pipe (`incident list | head -1`) ends quietly.

use std::io::{self, Write};

use serde_json::Value;

use crate::failure::Failure;

/// A command's result.
#[derive(Debug)]
pub enum Output {
    /// JSON for scripts, text for people.
    Report {
        /// What `--json` prints (pretty, one document).
        json: Value,
        /// What a person reads, without a trailing newline.
        human: String,
    },
    /// Printed as is in both modes.
    Raw(String),
}

impl Output {
    /// Prints to stdout.
    pub fn print(&self, json: bool) {
        let text = match self {
            Self::Report { json: value, .. } if json => {
                let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
                text.push('\n');
                text
            }
            Self::Report { human, .. } if human.is_empty() => String::new(),
            Self::Report { human, .. } => format!("{human}\n"),
            Self::Raw(text) => text.clone(),
        };
        write_quietly(&mut io::stdout().lock(), &text);
    }
}

/// Prints `failure` to stderr: `error: …` for people, the problem JSON (one line) with
/// `--json`.
pub fn print_failure(failure: &Failure, json: bool) {
    let text = if json {
        format!("{}\n", failure.to_json())
    } else {
        format!("error: {failure}\n")
    };
    write_quietly(&mut io::stderr().lock(), &text);
}

/// A note for the person at the terminal (stderr, so stdout stays the command's result).
pub fn note(text: &str) {
    write_quietly(&mut io::stderr().lock(), &format!("{text}\n"));
}

fn write_quietly(out: &mut impl Write, text: &str) {
    // A reader that went away (a closed pipe) is not the command's failure.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
