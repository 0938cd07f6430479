//! One module per `git handoff` subcommand: each parses its arguments,
//! calls the library, and prints.

use anyhow::Result;

use orch::exit::Outcome;
use orch::git::Repo;

use crate::cli::{Cli, Command};

mod apply;
mod land;
mod list;
mod reject;
mod report;
mod show;

pub fn run(cli: Cli) -> Result<Outcome> {
    let repo = Repo::discover()?;
    // What sandboxed workers wrote in their clones, before it is read (a
    // worker's own report writes its clone, and takes nothing).
    if !matches!(cli.command, Command::Report(_)) {
        orch::ops::collect::collect_all(&repo)?;
    }
    match cli.command {
        Command::Report(args) => report::report(&repo, &args),
        Command::Show(args) => show::show(&repo, &args),
        Command::List(args) => list::list(&repo, &args),
        Command::Apply(args) => apply::apply(&repo, &args),
        Command::Land(args) => land::land(&repo, &args),
        Command::Reject(args) => reject::reject(&repo, &args),
        Command::Export(args) => orch::ops::bundle::export(&repo, &args.id, &args.output),
        Command::Import(args) => orch::ops::bundle::import(&repo, &args.file, args.trust_contract),
    }
}
