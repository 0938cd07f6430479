//! `git worker rm`: remove a worker's checkout, branch and live entry, and
//! archive its history.
//!
//! Removal rolls forward: each step (`rm:worktree`, `rm:branch`,
//! `rm:archive`) leaves a state that running `rm` again, or `prune`, finishes.

use anyhow::Result;

use crate::cli::RmArgs;
use orch::contract::validate_id;
use orch::exit::{Outcome, render};
use orch::git::Repo;
use orch::interrupt;
use orch::role::require_coordinator;

pub fn rm(repo: &Repo, args: &RmArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker rm")?;
    for id in &args.ids {
        validate_id(id)?;
    }
    let _signals = interrupt::guard()?;
    let mut failed = Vec::new();
    for id in &args.ids {
        match orch::ops::remove::rm_one(repo, id, options(args), None) {
            Ok(()) => eprintln!("removed worker '{id}'"),
            Err(err) if args.ids.len() == 1 => return Err(err),
            Err(err) => {
                eprint!("{}", render(&err.context(format!("cannot remove '{id}'"))));
                failed.push(id.clone());
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} workers were not removed ({})",
            failed.len(),
            args.ids.len(),
            failed.join(", ")
        );
    }
    Ok(Outcome::Success)
}

/// What the command line asks of a removal.
fn options(args: &RmArgs) -> orch::ops::remove::Options<'_> {
    orch::ops::remove::Options {
        force: args.force,
        keep_branch: args.keep_branch,
        reason: args
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty()),
    }
}
