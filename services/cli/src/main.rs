//! `incident`: the command-line client of the public API. Parses the command line
//! ([`cli`]), finds the API and token ([`session`]), runs one command, prints its
//! [`output::Output`] and exits with the code [`failure`] documents.
//!
//! It talks to the API only (no database, no service crate): what it can do is what a
//! token can do through `/api/v1`.

mod api;
mod cli;
mod config;
mod failure;
mod incidents;
mod output;
mod postmortem;
mod reference;
mod render;
mod session;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, Postmortem};
use crate::failure::Failure;
use crate::output::Output;

fn main() -> ExitCode {
    // clap prints its own usage errors and exits 2 (and 0 for --help / --version).
    let cli = Cli::parse();
    let json = cli.global.json;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Local(format!("cannot start the runtime: {e}")))
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(output) => {
            output.print(json);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            output::print_failure(&failure, json);
            failure.exit()
        }
    }
}

async fn run(cli: Cli) -> Result<Output, Failure> {
    let global = &cli.global;
    // Only the commands that call the API need a login.
    let api = || session::connect(global);
    match &cli.command {
        Command::Login => session::login(global).await,
        Command::Logout => session::logout(global),
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "incident", &mut script);
            Ok(Output::Raw(String::from_utf8_lossy(&script).into_owned()))
        }
        Command::Declare(args) => incidents::declare(&api()?, args).await,
        Command::List(args) => incidents::list(&api()?, args).await,
        Command::Show(args) => incidents::show(&api()?, args).await,
        Command::Status(args) => incidents::status(&api()?, args).await,
        Command::Ack(args) => incidents::acknowledge(&api()?, args).await,
        Command::Assign(args) => incidents::assign(&api()?, args).await,
        Command::Update(args) => incidents::update(&api()?, args).await,
        Command::Resolve(args) => incidents::resolve(&api()?, args).await,
        Command::Postmortem(Postmortem::Export(args)) => postmortem::export(&api()?, args).await,
    }
}
