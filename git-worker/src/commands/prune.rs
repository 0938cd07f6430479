//! `git worker prune`: remove debris of crashed spawns and vanished checkouts
//! (found by `orch::ops::debris`, which `doctor` reports from too).

use anyhow::Result;

use orch::exit::Outcome;
use orch::git::{Oid, Repo};
use orch::local::{self, RemovalJournal};
use orch::ops::debris::{Debris, find_debris};
use orch::registry::{self};
use orch::role::require_coordinator;

use crate::cli::PruneArgs;
use orch::ops::remove::{remove_worktree, retire};

pub fn prune(repo: &Repo, args: &PruneArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker prune")?;
    let debris = find_debris(repo)?;
    if debris.is_empty() {
        eprintln!("nothing to prune");
        return Ok(Outcome::Success);
    }
    let mut worktrees_pruned = false;
    for item in &debris {
        if args.dry_run {
            println!("would remove {}", item.describe());
            continue;
        }
        match item {
            Debris::CrashedSpawn { id, journal } => {
                orch::ops::spawn::undo_spawn(repo, id, journal)?
            }
            Debris::VanishedCheckout { id, .. } => {
                // Unless an apply of it runs (it needs the entry). Removed
                // as rm removes, under a removal journal of this process:
                // an rm that began meanwhile finishes the job instead, and
                // one that begins now leaves it to this one.
                if applying(repo, id) {
                    continue;
                }
                let Some(entry) = registry::load(repo, id)? else {
                    continue;
                };
                let pid = std::process::id();
                let journal = RemovalJournal {
                    pid,
                    pid_start: local::process_start(pid),
                    entry: entry.tip.to_string(),
                    keep_branch: false,
                    landed: None,
                };
                if local::claim_removal(repo, id, &journal)?.is_err() {
                    continue;
                }
                // Still so, now that it is this process's to remove (not a
                // worker spawned again under its id since it was judged).
                let vanished = local::load_local(repo, id)?
                    .is_some_and(|local| !local.path.join(".git").exists());
                if !vanished {
                    local::end_removal(repo, id)?;
                    continue;
                }
                retire(repo, id, "its checkout was deleted", false)?;
                local::end_removal(repo, id)?;
            }
            Debris::InterruptedRemoval { id, .. } if applying(repo, id) => continue,
            // Taken over first: an rm of it started meanwhile, or another
            // prune, has it now, or leaves it to this one.
            Debris::InterruptedRemoval { id, journal }
                if !local::take_over_removal(repo, id, journal)? =>
            {
                continue;
            }
            Debris::InterruptedRemoval { id, journal } => {
                // Only the worker it was removing: not one spawned again
                // under its id since, and nothing on a journal that cannot
                // be read.
                let began = Oid::from_str(&journal.entry).ok();
                let same = match (began, repo.ref_target(&registry::live_ref(id))?) {
                    (Some(began), Some(tip)) => repo.is_ancestor(began, tip).unwrap_or(false),
                    _ => false,
                };
                if same {
                    // What was left of the checkout goes (rm had checked it
                    // before it began), then the rest as for a vanished one.
                    if let Some(local) = local::load_local(repo, id)?
                        && !local.path.as_os_str().is_empty()
                        && repo.owns_checkout(&local.path)
                    {
                        remove_worktree(repo, &local.path, false, true)?;
                    }
                    retire(repo, id, "its removal was interrupted", journal.keep_branch)?;
                } else if began.is_some() && registry::load(repo, id)?.is_none() {
                    // Killed after it archived the worker: only its local
                    // facts may be left.
                    local::remove_local(repo, id)?;
                }
                local::end_removal(repo, id)?;
            }
            Debris::StaleLocal { id } => local::remove_local(repo, id)?,
            Debris::GateCheckout { name, path } => {
                if !path.as_os_str().is_empty() {
                    orch::fs::remove_dir_forcefully(path)?;
                }
                local::end_gate_run(repo, name)?;
            }
            Debris::InterruptedApply { id, journal } => {
                // Under the lock of its checkout, if it is still there: an
                // apply starting there meanwhile undoes it first.
                let checkout = Repo::open(&journal.workdir).ok();
                let _lock = checkout.as_ref().map(Repo::lock_checkout).transpose()?;
                let still = local::apply_journals(repo)?
                    .into_iter()
                    .any(|(other, again)| other == *id && again == *journal);
                if still {
                    eprintln!("{}", orch::ops::undo::undo_apply(repo, id, journal)?);
                }
                continue;
            }
            Debris::StaleWorktree { .. } => {
                if !worktrees_pruned {
                    repo.prune_worktrees()?;
                    worktrees_pruned = true;
                }
            }
        }
        println!("removed {}", item.describe());
    }
    Ok(Outcome::Success)
}

/// Whether a process is applying `id`'s handoff right now.
fn applying(repo: &Repo, id: &str) -> bool {
    local::apply_journal(repo, id).is_some_and(|journal| journal.running())
}
