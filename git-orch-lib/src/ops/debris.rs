//! Debris: what crashed or killed commands left behind on this machine
//! (spawn, apply and removal journals whose process is gone, vanished
//! checkouts, stale local facts and worktree records, scratch clones of
//! killed gate runs). `git worker prune` removes it; `doctor` reports it.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::git::Repo;
use crate::local::{self, ApplyJournal, RemovalJournal, SpawnJournal};
use crate::registry::{self, State};

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
    /// A `git handoff apply` that was killed: its journal.
    InterruptedApply { id: String, journal: ApplyJournal },
    /// A `git worker rm` (or cleanup) killed while removing a worker.
    InterruptedRemoval { id: String, journal: RemovalJournal },
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
            Debris::InterruptedApply { id, journal } => format!(
                "interrupted `git handoff apply {id}` in '{}' (pid {})",
                journal.workdir.display(),
                journal.pid
            ),
            Debris::InterruptedRemoval { id, .. } => {
                format!("interrupted removal of worker '{id}'")
            }
        }
    }
}

pub fn find_debris(repo: &Repo) -> Result<Vec<Debris>> {
    let mut out = Vec::new();
    // Killed applies first: what else is done with their workers judges
    // HEAD, which may hold their unverified commits.
    // Each record whose process is gone is read again: an apply, removal,
    // spawn or gate run that finished after the records were read removed
    // its record, then exited, and is not debris.
    for (id, journal) in local::apply_journals(repo)? {
        if !journal.running() && local::apply_journal(repo, &id).as_ref() == Some(&journal) {
            out.push(Debris::InterruptedApply { id, journal });
        }
    }
    // A worker being removed is not debris: its checkout, branch, entry and
    // local facts go one after the other. One whose removal was killed is.
    let removals = local::removals(repo);
    for (id, journal) in &removals {
        if !local::process_alive(journal.pid, journal.pid_start)
            && local::removal_journal(repo, id).as_ref() == Some(journal)
        {
            out.push(Debris::InterruptedRemoval {
                id: id.clone(),
                journal: journal.clone(),
            });
        }
    }
    let removing = |id: &str| removals.iter().any(|(other, _)| other == id);
    let journals = local::journal_ids(repo)?;
    for id in &journals {
        let journal = local::read_journal(&local::journal_path(repo, id))?.unwrap_or_default();
        // A journal without a pid is being written right now, or is garbage
        // from a crash while writing it; only the second is debris, and its
        // file is older than any spawn takes to write one line.
        if journal.pid == 0 && !is_old(&local::journal_path(repo, id)) {
            continue;
        }
        if journal.pid != 0
            && (local::pid_alive(journal.pid)
                || local::read_journal(&local::journal_path(repo, id))?.as_ref() != Some(&journal))
        {
            continue;
        }
        out.push(Debris::CrashedSpawn {
            id: id.clone(),
            journal,
        });
    }
    for id in local::local_ids(repo)? {
        if journals.contains(&id) || removing(&id) {
            continue;
        }
        let Some(local) = local::load_local(repo, &id)? else {
            continue;
        };
        // Each judged, then asked again: a removal that began after
        // `removals` was read takes the checkout, then the entry, then the
        // local facts, and must not look like debris half-way.
        match registry::load(repo, &id) {
            Ok(None)
                if local::removal_running(repo, &id).is_none()
                    && local::load_local(repo, &id)?.is_some() =>
            {
                out.push(Debris::StaleLocal { id });
            }
            Ok(Some(entry))
                if entry.status.state != State::Spawning
                    && !local.path.join(".git").exists()
                    && !crate::registry::being_removed(repo, &id)? =>
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
        repo.stale_worktree_records()?
    };
    for line in &stale {
        // git's own ref locking (`git gc --auto`'s `reflog expire
        // --all`, started by a commit in any checkout) makes the
        // directory of a worktree removed meanwhile again, empty: left
        // for the next `git worktree prune` (every rm runs one), and
        // debris only if it stays.
        if let Some(name) = line
            .strip_prefix("Removing worktrees/")
            .and_then(|rest| rest.strip_suffix(": gitdir file does not exist"))
            && !is_old(&repo.common_dir().join("worktrees").join(name))
        {
            continue;
        }
        out.push(Debris::StaleWorktree {
            line: line.trim_start_matches("Removing ").to_string(),
        });
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
