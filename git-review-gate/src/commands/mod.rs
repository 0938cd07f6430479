//! One module per `git review-gate` subcommand: each parses its
//! arguments, calls the library, and prints.

use anyhow::Result;

use orch::exit::Outcome;
use orch::git::Repo;

use crate::cli::{Cli, Command};

mod hook;
mod run;
mod status;
mod verdict;

pub fn run(cli: Cli) -> Result<Outcome> {
    let repo = Repo::discover()?;
    // What sandboxed workers wrote in their clones, before it is judged.
    orch::ops::collect::collect_all(&repo)?;
    match cli.command {
        Command::Run(args) => run::run_verification(&repo, &args),
        Command::Approve(args) => verdict::approve(&repo, &args),
        Command::Reject(args) => verdict::reject(&repo, &args),
        Command::Status(args) => status::status(&repo, &args),
        Command::Wait(args) => status::wait(&repo, &args),
        Command::Hook(args) => hook::hook(&repo, &args),
    }
}
