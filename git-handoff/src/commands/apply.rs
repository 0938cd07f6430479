//! `git handoff apply`: see `orch::ops::apply`.

use anyhow::Result;

use orch::exit::Outcome;
use orch::git::Repo;

use crate::cli::ApplyArgs;

pub(super) fn apply(repo: &Repo, args: &ApplyArgs) -> Result<Outcome> {
    orch::ops::apply::apply(repo, &args.id, apply_options(args, true))
}

/// What the command line asks of an apply (`print`: the commit on stdout).
pub(super) fn apply_options(args: &ApplyArgs, print: bool) -> orch::ops::apply::Options {
    orch::ops::apply::Options {
        dry_run: args.dry_run,
        no_commit: args.no_commit,
        timeout: args.timeout,
        print,
        accept_merged: args.accept_merged,
        keep_commits: match (args.keep_commits, args.no_keep_commits) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    }
}
