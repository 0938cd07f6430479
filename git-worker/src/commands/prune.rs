//! `git worker prune`: remove debris of crashed spawns and vanished checkouts.
//! [`find_debris`] is shared with `doctor`, which reports the same things.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::require_coordinator;
use super::rm::unlanded;
use super::spawn::{delete_branch, disable_worktree_config_if_unused, remove_worktree};
use crate::cli::PruneArgs;
use crate::exit::Outcome;
use crate::git::Repo;
use crate::registry::{self, Actor, Change, SpawnJournal, State};

/// Something left behind that `prune` removes.
#[derive(Debug)]
pub enum Debris {
    /// A spawn whose process is gone: its journal, and what it created.
    CrashedSpawn { id: String, journal: SpawnJournal },
    /// A live worker whose checkout on this machine no longer exists.
    VanishedCheckout { id: String, path: PathBuf },
    /// Local facts of a worker that is no longer registered.
    StaleLocal { id: String },
    /// git's record of a linked worktree whose directory is gone.
    StaleWorktree { line: String },
    /// The scratch clone of a `git review-gate run` that was killed.
    GateCheckout { name: String, path: PathBuf },
}

impl Debris {
    pub fn describe(&self) -> String {
        match self {
            Debris::CrashedSpawn { id, journal } => format!(
                "crashed spawn of '{id}' (pid {}, branch '{}', checkout '{}')",
                journal.pid,
                journal.branch,
                journal.path.display()
            ),
            Debris::VanishedCheckout { id, path } => {
                format!("worker '{id}' whose checkout '{}' is gone", path.display())
            }
            Debris::StaleLocal { id } => format!("local facts of unregistered worker '{id}'"),
            Debris::StaleWorktree { line } => format!("stale worktree record: {line}"),
            Debris::GateCheckout { path, .. } => format!(
                "temporary checkout of a killed `git review-gate run`: {}",
                path.display()
            ),
        }
    }
}

pub fn find_debris(repo: &Repo) -> Result<Vec<Debris>> {
    let mut out = Vec::new();
    let journals = registry::journal_ids(repo)?;
    for id in &journals {
        let journal =
            registry::read_journal(&registry::journal_path(repo, id))?.unwrap_or_default();
        // A journal without a pid is being written right now, or is garbage
        // from a crash while writing it; only the second is debris, and its
        // file is older than any spawn takes to write one line.
        if journal.pid == 0 && !is_old(&registry::journal_path(repo, id)) {
            continue;
        }
        if journal.pid != 0 && registry::pid_alive(journal.pid) {
            continue;
        }
        out.push(Debris::CrashedSpawn {
            id: id.clone(),
            journal,
        });
    }
    for id in registry::local_ids(repo)? {
        if journals.contains(&id) {
            continue;
        }
        let Some(local) = registry::load_local(repo, &id)? else {
            continue;
        };
        match registry::load(repo, &id) {
            Ok(None) => out.push(Debris::StaleLocal { id }),
            Ok(Some(entry))
                if entry.status.state != State::Spawning && !local.path.join(".git").exists() =>
            {
                out.push(Debris::VanishedCheckout {
                    id,
                    path: local.path,
                });
            }
            _ => {}
        }
    }
    // Locked, so `git worktree prune` never takes them: ours to remove.
    for (name, path) in crate::gate::stale_checkouts(repo)? {
        out.push(Debris::GateCheckout { name, path });
    }
    let stale = {
        let _lock = repo.lock_machine()?;
        repo.git(["worktree", "prune", "--dry-run", "--verbose"])
            .output()?
    };
    for line in stale.stdout.lines().chain(stale.stderr.lines()) {
        if line.starts_with("Removing ") {
            out.push(Debris::StaleWorktree {
                line: line.trim_start_matches("Removing ").to_string(),
            });
        }
    }
    Ok(out)
}

fn is_old(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 60)
}

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
            Debris::CrashedSpawn { id, journal } => undo_spawn(repo, id, journal)?,
            Debris::VanishedCheckout { id, .. } => {
                let entry = registry::load(repo, id)?;
                let mut kept = false;
                if let Some(entry) = &entry {
                    repo.prune_worktrees()?;
                    if unlanded(repo, &entry.contract)?.is_some() {
                        kept = true;
                        eprintln!(
                            "kept branch '{}' of '{id}': it has unlanded commits",
                            entry.contract.branch
                        );
                    } else if let Some(head) =
                        repo.ref_target(&format!("refs/heads/{}", entry.contract.branch))?
                    {
                        delete_branch(repo, &entry.contract.branch, &head.to_string())?;
                    }
                    registry::archive(repo, id, || {
                        Change::new("pruned", Actor::Coordinator, State::Removed)
                            .reason("its checkout was deleted")
                            .with("branch_kept", kept)
                    })?;
                }
                registry::remove_local(repo, id)?;
            }
            Debris::StaleLocal { id } => registry::remove_local(repo, id)?,
            Debris::GateCheckout { name, path } => {
                if !path.as_os_str().is_empty() {
                    crate::git::remove_dir_forcefully(path)?;
                }
                registry::end_gate_run(repo, name)?;
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

/// Roll back what a killed spawn created, using its journal.
fn undo_spawn(repo: &Repo, id: &str, journal: &SpawnJournal) -> Result<()> {
    let entry = registry::load(repo, id)?;
    let half_made = entry
        .as_ref()
        .is_none_or(|e| e.status.state == State::Spawning);
    if half_made {
        if !journal.path.as_os_str().is_empty() && is_our_worktree(repo, &journal.path) {
            remove_worktree(repo, &journal.path, journal.created_parent, true)?;
        } else {
            repo.prune_worktrees()?;
        }
        if let Some(entry) = &entry {
            delete_branch(repo, &entry.contract.branch, &entry.contract.base)?;
            registry::discard(repo, id, entry.tip)?;
        }
        registry::remove_local(repo, id)?;
        if journal.enables_worktree_config {
            disable_worktree_config_if_unused(repo, id)?;
        }
    }
    registry::end_spawn(repo, id)
}

/// Whether removing `path` removes nothing of the user's: a linked
/// worktree of this repository, or a directory without `.git` at the path a
/// killed spawn was creating (the spawn checked that nothing was there).
fn is_our_worktree(repo: &Repo, path: &Path) -> bool {
    repo.owns_checkout(path) || (path.exists() && !path.join(".git").exists())
}
