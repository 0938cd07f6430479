//! `git worker prune`: remove debris of crashed spawns and vanished checkouts.
//! [`find_debris`] is shared with `doctor`, which reports the same things.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::require_coordinator;
use super::rm::unlanded;
use super::spawn::{delete_branch, disable_worktree_config_if_unused, remove_worktree};
use crate::cli::PruneArgs;
use crate::exit::Hint;
use crate::exit::Outcome;
use crate::git::Oid;
use crate::git::Repo;
use crate::registry::{self, Actor, ApplyJournal, Change, RemovalJournal, SpawnJournal, State};

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
    for (id, journal) in registry::apply_journals(repo)? {
        if !journal.running() && registry::apply_journal(repo, &id).as_ref() == Some(&journal) {
            out.push(Debris::InterruptedApply { id, journal });
        }
    }
    // A worker being removed is not debris: its checkout, branch, entry and
    // local facts go one after the other. One whose removal was killed is.
    let removals = registry::removals(repo);
    for (id, journal) in &removals {
        if !registry::process_alive(journal.pid, journal.pid_start)
            && registry::removal_journal(repo, id).as_ref() == Some(journal)
        {
            out.push(Debris::InterruptedRemoval {
                id: id.clone(),
                journal: journal.clone(),
            });
        }
    }
    let removing = |id: &str| removals.iter().any(|(other, _)| other == id);
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
        if journal.pid != 0
            && (registry::pid_alive(journal.pid)
                || registry::read_journal(&registry::journal_path(repo, id))?.as_ref()
                    != Some(&journal))
        {
            continue;
        }
        out.push(Debris::CrashedSpawn {
            id: id.clone(),
            journal,
        });
    }
    for id in registry::local_ids(repo)? {
        if journals.contains(&id) || removing(&id) {
            continue;
        }
        let Some(local) = registry::load_local(repo, &id)? else {
            continue;
        };
        // Each judged, then asked again: a removal that began after
        // `removals` was read takes the checkout, then the entry, then the
        // local facts, and must not look like debris half-way.
        match registry::load(repo, &id) {
            Ok(None)
                if registry::removal_running(repo, &id).is_none()
                    && registry::load_local(repo, &id)?.is_some() =>
            {
                out.push(Debris::StaleLocal { id });
            }
            Ok(Some(entry))
                if entry.status.state != State::Spawning
                    && !local.path.join(".git").exists()
                    && !super::removed_meanwhile(repo, &id)? =>
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
                    pid_start: registry::process_start(pid),
                    entry: entry.tip.to_string(),
                    keep_branch: false,
                    landed: None,
                };
                if registry::claim_removal(repo, id, &journal)?.is_err() {
                    continue;
                }
                // Still so, now that it is this process's to remove (not a
                // worker spawned again under its id since it was judged).
                let vanished = registry::load_local(repo, id)?
                    .is_some_and(|local| !local.path.join(".git").exists());
                if !vanished {
                    registry::end_removal(repo, id)?;
                    continue;
                }
                retire(repo, id, "its checkout was deleted", false)?;
                registry::end_removal(repo, id)?;
            }
            Debris::InterruptedRemoval { id, .. } if applying(repo, id) => continue,
            // Taken over first: an rm of it started meanwhile, or another
            // prune, has it now, or leaves it to this one.
            Debris::InterruptedRemoval { id, journal }
                if !registry::take_over_removal(repo, id, journal)? =>
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
                    if let Some(local) = registry::load_local(repo, id)?
                        && !local.path.as_os_str().is_empty()
                        && repo.owns_checkout(&local.path)
                    {
                        remove_worktree(repo, &local.path, false, true)?;
                    }
                    retire(repo, id, "its removal was interrupted", journal.keep_branch)?;
                } else if began.is_some() && registry::load(repo, id)?.is_none() {
                    // Killed after it archived the worker: only its local
                    // facts may be left.
                    registry::remove_local(repo, id)?;
                }
                registry::end_removal(repo, id)?;
            }
            Debris::StaleLocal { id } => registry::remove_local(repo, id)?,
            Debris::GateCheckout { name, path } => {
                if !path.as_os_str().is_empty() {
                    crate::git::remove_dir_forcefully(path)?;
                }
                registry::end_gate_run(repo, name)?;
            }
            Debris::InterruptedApply { id, journal } => {
                // Under the lock of its checkout, if it is still there: an
                // apply starting there meanwhile undoes it first.
                let checkout = Repo::open(&journal.workdir).ok();
                let _lock = checkout.as_ref().map(Repo::lock_checkout).transpose()?;
                let still = registry::apply_journals(repo)?
                    .into_iter()
                    .any(|(other, again)| other == *id && again == *journal);
                if still {
                    eprintln!("{}", undo_apply(repo, id, journal)?);
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
    registry::apply_journal(repo, id).is_some_and(|journal| journal.running())
}

/// Archive worker `id`, whose checkout is gone, as `pruned` (with
/// `reason`), deleting its branch unless `keep_branch` or it has commits
/// that have not landed; drop its local facts.
fn retire(repo: &Repo, id: &str, reason: &str, keep_branch: bool) -> Result<()> {
    if let Some(entry) = registry::load(repo, id)? {
        repo.prune_worktrees()?;
        let branch = &entry.contract.branch;
        let mut kept = keep_branch;
        if !kept && unlanded(repo, &entry.contract)?.is_some() {
            kept = true;
            eprintln!("kept branch '{branch}' of '{id}': it has unlanded commits");
        } else if !kept && let Some(head) = repo.ref_target(&format!("refs/heads/{branch}"))? {
            delete_branch(repo, branch, &head.to_string())?;
        }
        registry::archive(repo, id, || {
            Change::new("pruned", Actor::Coordinator, State::Removed)
                .reason(reason)
                .with("branch_kept", kept)
        })?;
    }
    registry::remove_local(repo, id)
}

/// Undo every `git handoff apply` in this checkout whose process was
/// killed (see [`undo_apply`]), saying what was done: `apply` calls it
/// before it starts, holding the checkout's lock ([`Repo::lock_checkout`]).
/// An apply of `id` still running elsewhere is an error, and so is a killed
/// one here for a dry run (which changes nothing). Killed applies in other
/// checkouts are left to `git worker prune`.
pub fn recover_applies(repo: &Repo, id: &str, dry_run: bool) -> Result<()> {
    let here = repo.git_dir().canonicalize().ok();
    for (other, journal) in registry::apply_journals(repo)? {
        if journal.running() {
            if other == id {
                return Err(Hint::new(format!(
                    "the handoff of '{id}' is being applied right now (pid {})",
                    journal.pid
                ))
                .hint("wait for it to finish")
                .into());
            }
            continue;
        }
        let there = Repo::open(&journal.workdir)
            .ok()
            .and_then(|r| r.git_dir().canonicalize().ok());
        if there.is_some() && there != here {
            continue;
        }
        if dry_run {
            return Err(Hint::new(format!(
                "an apply of '{other}' was interrupted, and its changes may still be in '{}'",
                journal.workdir.display()
            ))
            .hint("`git worker prune`, or an apply without --dry-run, undoes it first")
            .into());
        }
        eprintln!("{}", undo_apply(repo, &other, &journal)?);
    }
    Ok(())
}

/// Finish a killed `git handoff apply` from its journal, and drop the
/// journal. Kept when its `applied` event made it into the log. Otherwise
/// rolled back the way apply itself rolls back: its commit goes (by
/// compare-and-swap on the branch) and the handoff's paths, and nothing
/// else, return to HEAD as it was before. Left alone, with the reason, when
/// HEAD moved or those paths were changed since: nothing of the user's is
/// overwritten. Returns what it did, for the user.
pub fn undo_apply(repo: &Repo, id: &str, journal: &ApplyJournal) -> Result<String> {
    let parse = |text: &str| Oid::from_str(text).ok();
    let (Some(head), Some(base), Some(handoff)) = (
        parse(&journal.head),
        parse(&journal.base),
        parse(&journal.handoff),
    ) else {
        registry::end_apply(repo, id)?;
        return Ok(format!(
            "dropped the unreadable journal of an interrupted apply of '{id}'"
        ));
    };
    if apply_was_kept(repo, id, journal)? {
        registry::end_apply(repo, id)?;
        return Ok(format!(
            "the interrupted apply of '{id}' had finished: it is kept"
        ));
    }
    let checkout = match Repo::open(&journal.workdir) {
        Ok(checkout) => checkout,
        Err(_) => {
            registry::end_apply(repo, id)?;
            return Ok(format!(
                "the checkout of the interrupted apply of '{id}' ('{}') is gone: nothing to undo",
                journal.workdir.display()
            ));
        }
    };
    let result = registry::decode_handoff(repo, id, handoff)?.meta.tree;
    let result = Oid::from_str(&result).context("bad tree in the handoff")?;
    let paths: Vec<Vec<u8>> = repo
        .diff_trees(Some(repo.commit_tree(base)?), Some(result))?
        .into_iter()
        .map(|c| c.path)
        .collect();
    let now = checkout.head_commit()?;
    // The commit may be made and the journal not yet say so.
    let committed = match journal.committed.as_deref().and_then(parse) {
        Some(commit) => Some(commit),
        None => match now {
            Some(now) if now != head => {
                let info = checkout.commit_info(now)?;
                (info.parents == [head]
                    && info
                        .message
                        .contains(&format!("Handoff: {}", journal.handoff)))
                .then_some(now)
            }
            _ => None,
        },
    };
    let left = |why: String| -> Result<String> {
        registry::end_apply(repo, id)?;
        Ok(format!(
            "warning: the interrupted apply of '{id}' was not rolled back: {why}\n\
             hint: its change is unverified; see it with `git -C {} diff {}`{}",
            journal.workdir.display(),
            short(&journal.head),
            committed
                .filter(|c| Some(*c) == now)
                .map_or(String::new(), |c| format!(
                    ", undo its commit with `git revert {c}`"
                ))
        ))
    };
    // HEAD at the apply's commit, or where it began (never committed, or
    // a rollback killed after it moved the branch back).
    let rewound = now == Some(head);
    if checkout.head_branch()? != journal.branch || !(rewound || now == committed) {
        return left("HEAD moved since".to_string());
    }
    // What the apply left in the index and the files: its commit's tree, or
    // the index it wrote. Unknown (killed before it was written down), or
    // changed since in either: not ours to take back.
    let expected = match committed {
        Some(commit) => Some(checkout.commit_tree(commit)?),
        None => journal.applied.as_deref().and_then(parse),
    };
    let Some(expected) = expected else {
        return left("what it wrote is not known".to_string());
    };
    let Some(index) = checkout.index_tree()? else {
        return left("the index has unmerged entries".to_string());
    };
    let files = Repo::snapshot_tree(&journal.workdir)?;
    let mut edited = checkout.differing_paths(expected, index, &paths)?;
    edited.extend(checkout.differing_paths(expected, files, &paths)?);
    if !edited.is_empty() {
        edited.sort();
        edited.dedup();
        let names: Vec<String> = edited
            .iter()
            .map(|p| crate::policy::display_path(p))
            .collect();
        return left(format!(
            "its paths were changed since: {}",
            names.join(", ")
        ));
    }
    if let Some(commit) = committed
        && !rewound
        && !checkout.rewind_head(journal.branch.as_deref(), head, commit)?
    {
        return left("HEAD moved during the rollback".to_string());
    }
    checkout.restore_paths(head, &paths)?;
    registry::end_apply(repo, id)?;
    Ok(format!(
        "rolled back the interrupted apply of '{id}' in '{}' ({} path(s))",
        journal.workdir.display(),
        paths.len()
    ))
}

/// Whether the apply `journal` describes recorded its `applied` event: in
/// the worker's log after where the apply began, live or archived (the
/// worker may have been removed since).
pub fn apply_was_kept(repo: &Repo, id: &str, journal: &ApplyJournal) -> Result<bool> {
    let before: std::collections::HashSet<Oid> = match Oid::from_str(&journal.log_tip) {
        Ok(tip) => registry::history(repo, tip)?
            .into_iter()
            .map(|l| l.commit)
            .collect(),
        Err(_) => return Ok(false),
    };
    let mut logs: Vec<Oid> = repo
        .refs_under(&format!("{}{id}/", registry::ARCHIVE))?
        .into_iter()
        .map(|(_, tip)| tip)
        .collect();
    logs.extend(repo.ref_target(&registry::live_ref(id))?);
    for tip in logs {
        let kept = registry::history(repo, tip)?.iter().any(|l| {
            l.event.kind == "applied"
                && !before.contains(&l.commit)
                && l.event.data.get("fingerprint").and_then(|f| f.as_str())
                    == Some(journal.fingerprint.as_str())
        });
        if kept {
            return Ok(true);
        }
    }
    Ok(false)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
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
