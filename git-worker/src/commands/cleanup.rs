//! `git worker cleanup`: remove landed and abandoned work, deciding
//! "landed" by what HEAD holds, not by branch names: ancestry, patch
//! equivalence (rebase), and a merge that would add nothing (squash).

use anyhow::{Context as _, Result};

use crate::cli::CleanupArgs;
use orch::config::Settings;
use orch::exit::{Hint, Outcome, render};
use orch::git::{Oid, Repo};
use orch::local;
use orch::registry::{self, State};
use orch::role::require_coordinator;

/// One thing to remove.
struct Removal {
    /// The worker id, or none for a branch no worker owns.
    worker: Option<String>,
    branch: String,
    /// Its tip before the removal (what the remote's copy is checked against).
    tip: Option<Oid>,
    why: String,
    /// How its commits are in HEAD, when they are.
    landed: Option<&'static str>,
    /// It holds work that has not landed (needs --force).
    unlanded: bool,
    /// Only its copy on the remote is left.
    remote_only: bool,
}

impl Removal {
    /// A landed branch no worker owns (here, or only on the remote).
    fn landed_branch(
        branch: String,
        tip: Oid,
        how: &'static str,
        why: String,
        remote_only: bool,
    ) -> Removal {
        Removal {
            worker: None,
            branch,
            tip: Some(tip),
            why,
            landed: Some(how),
            unlanded: false,
            remote_only,
        }
    }
}

pub fn cleanup(repo: &Repo, args: &CleanupArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker cleanup")?;
    let settings = Settings::load(repo)?;
    let prefix = args.prefix.clone().unwrap_or(settings.prefix.clone());
    if prefix.is_empty() {
        return Err(Hint::new("an empty --prefix would take every branch")
            .hint("give the workers' branch prefix, e.g. --prefix orch/ (orch.prefix)")
            .into());
    }
    if let Some(remote) = &args.remote
        && !repo.has_remote(remote)?
    {
        return Err(Hint::new(format!("no remote named '{remote}'"))
            .hint("`git remote -v` lists the remotes; nothing was removed")
            .into());
    }
    let (landed, abandoned) = match (args.landed, args.abandoned) {
        (false, false) => (true, false),
        flags => flags,
    };
    let head = repo
        .head_commit()?
        .context("HEAD has no commit to compare the work with")?;
    let mut owned = std::collections::BTreeSet::new();
    let mut removals = workers(repo, &prefix, (landed, abandoned), head, &mut owned)?;
    // Branches a removed worker left (`rm --keep-branch`), when landed: only
    // branches the registry knows were workers', never the user's own.
    if landed {
        removals.extend(former_branches(
            repo,
            &prefix,
            args.remote.as_deref(),
            head,
            &owned,
        )?);
    }
    if removals.is_empty() {
        eprintln!("nothing to clean up");
        return Ok(Outcome::Success);
    }
    let _signals = orch::interrupt::guard()?;
    let mut failed = Vec::new();
    for removal in &removals {
        failed.extend(remove(repo, removal, args, head)?);
    }
    if !failed.is_empty() {
        return Err(Hint::new(format!(
            "{} branch(es) could not be removed on the remote ({})",
            failed.len(),
            failed.join(", ")
        ))
        .into());
    }
    Ok(Outcome::Success)
}

/// What to remove of the live workers under `prefix`: landed ones when
/// `wanted.0`, abandoned ones when `wanted.1` (and those that need
/// --force, marked). Their branches go into `owned`.
fn workers(
    repo: &Repo,
    prefix: &str,
    (landed, abandoned): (bool, bool),
    head: Oid,
    owned: &mut std::collections::BTreeSet<String>,
) -> Result<Vec<Removal>> {
    let mut removals = Vec::new();
    for entry in registry::list(repo)?.into_iter().flatten() {
        let contract = &entry.contract;
        owned.insert(contract.branch.clone());
        if !contract.branch.starts_with(prefix) || entry.status.state == State::Spawning {
            continue;
        }
        // A worker on another host: its branch as the hub has it.
        let tip = orch::ops::landed::newest_tip(repo, &contract.branch)?;
        let base = Oid::from_str(&contract.base).ok();
        // What is read of a checkout another process is removing (its
        // files go one by one, then the directory) is torn, or an error:
        // that worker is not this cleanup's to judge.
        let judged = (|| -> Result<_> {
            let checkout = local::load_local(repo, entry.id())?
                .map(|l| l.path)
                .filter(|p| p.join(".git").exists());
            let dirty = match &checkout {
                Some(path) => Repo::checkout_is_dirty(path)?,
                None => false,
            };
            let applied = entry.status.state == State::Applied
                && orch::ops::landed::landed_by_handoff(repo, &entry, checkout.as_deref())?;
            Ok((dirty, applied))
        })();
        if orch::registry::being_removed(repo, entry.id())? {
            continue;
        }
        let (dirty, applied) = judged?;
        let how = match tip {
            Some(tip) if !dirty => orch::ops::landed::landed_how(repo, base, tip, head)?,
            _ => None,
        };
        let idle = tip.is_none_or(|t| Some(t) == base) && !dirty;
        let (take, why, landed_as, unlanded) = if applied {
            (
                landed,
                "landed: applied by git handoff apply".to_string(),
                Some("applied"),
                false,
            )
        } else if let Some(how) = how {
            (landed, format!("landed: {how}"), Some(how), false)
        } else if entry.status.state == State::Rejected {
            (abandoned, "abandoned: rejected".to_string(), None, !idle)
        } else if idle && matches!(entry.status.state, State::Active | State::Blocked) {
            (
                abandoned,
                "abandoned: it did nothing".to_string(),
                None,
                false,
            )
        } else {
            (false, String::new(), None, true)
        };
        if take {
            removals.push(Removal {
                worker: Some(entry.id().to_string()),
                branch: contract.branch.clone(),
                tip,
                why,
                landed: landed_as,
                unlanded,
                remote_only: false,
            });
        }
    }
    Ok(removals)
}

/// Landed branches of removed workers under `prefix` that no live worker
/// owns: here, and (with `remote`) copies left on the remote.
fn former_branches(
    repo: &Repo,
    prefix: &str,
    remote: Option<&str>,
    head: Oid,
    owned: &std::collections::BTreeSet<String>,
) -> Result<Vec<Removal>> {
    let mut removals = Vec::new();
    let current = repo.head_branch()?;
    let mut former = std::collections::BTreeSet::new();
    for (refname, tip) in repo.refs_under(registry::ARCHIVE)? {
        if let Ok(entry) = registry::decode(repo, &refname, tip) {
            former.insert(entry.contract.branch);
        }
    }
    for (name, tip) in repo.refs_under(&format!("refs/heads/{prefix}"))? {
        let branch = name.trim_start_matches("refs/heads/").to_string();
        if owned.contains(&branch)
            || !former.contains(&branch)
            || current.as_deref() == Some(name.as_str())
        {
            continue;
        }
        if let Some(how) = orch::ops::landed::landed_how(repo, None, tip, head)? {
            let why = format!("landed: {how} (no worker owns it)");
            removals.push(Removal::landed_branch(branch, tip, how, why, false));
        }
    }
    // Remote copies of branches removed here before their remote copy
    // went (a cleanup killed in between, or one without --remote): by
    // their remote-tracking refs, when landed.
    if let Some(remote) = remote {
        let tracking = format!("refs/remotes/{remote}/");
        for (name, tip) in repo.refs_under(&format!("{tracking}{prefix}"))? {
            let branch = name.trim_start_matches(&tracking).to_string();
            if owned.contains(&branch)
                || !former.contains(&branch)
                || repo.ref_target(&format!("refs/heads/{branch}"))?.is_some()
            {
                continue;
            }
            if let Some(how) = orch::ops::landed::landed_how(repo, None, tip, head)? {
                let why = format!("landed: {how} (removed here, left on '{remote}')");
                removals.push(Removal::landed_branch(branch, tip, how, why, true));
            }
        }
    }
    Ok(removals)
}

/// Remove one thing cleanup found (unless it needs --force, or this is a
/// dry run), then its copy on the remote. `Some(branch)` when the remote
/// copy could not be removed.
fn remove(repo: &Repo, removal: &Removal, args: &CleanupArgs, head: Oid) -> Result<Option<String>> {
    let what = match &removal.worker {
        Some(id) => format!("worker '{id}' (branch '{}')", removal.branch),
        None => format!("branch '{}'", removal.branch),
    };
    if removal.unlanded && !args.force {
        eprintln!(
            "kept {what}: {}, and it holds work that has not landed (--force removes it)",
            removal.why
        );
        return Ok(None);
    }
    if args.dry_run {
        println!("would remove {what}: {}", removal.why);
        return Ok(None);
    }
    // "Landed" was judged against HEAD as it was: an apply rolled back
    // since (its commit was in HEAD, unverified) must not count.
    if removal.landed.is_some() && repo.head_commit()? != Some(head) {
        eprintln!("kept {what}: HEAD moved while cleaning up; run cleanup again");
        return Ok(None);
    }
    let result = match &removal.worker {
        _ if removal.remote_only => Ok(()),
        // rm's own checks stay: uncommitted changes, commits on a
        // detached HEAD, a running agent (all but with --force).
        Some(id) => orch::ops::remove::rm_one(
            repo,
            id,
            orch::ops::remove::Options {
                force: args.force,
                keep_branch: false,
                reason: None,
            },
            removal.landed,
        ),
        None => match removal.tip {
            Some(tip) => {
                let branch = format!("refs/heads/{}", removal.branch);
                match repo.cas_delete(&branch, tip)? {
                    orch::git::Cas::Updated => Ok(()),
                    // Another cleanup deleted it first.
                    orch::git::Cas::Raced if repo.ref_target(&branch)?.is_none() => {
                        return Ok(None);
                    }
                    orch::git::Cas::Raced => Err(anyhow::anyhow!("it moved meanwhile")),
                }
            }
            None => Ok(()),
        },
    };
    if let Err(err) = result {
        // Ctrl-C (or an injected failure) stops the cleanup there.
        if orch::interrupt::stops_everything(&err) {
            return Err(err);
        }
        // Another cleanup (or an rm) took it first: not kept, gone. (A
        // removal of ours that failed half-way left its own journal.)
        if let Some(id) = &removal.worker
            && local::removal_journal(repo, id)
                .is_none_or(|journal| journal.pid != std::process::id())
            && orch::registry::being_removed(repo, id)?
        {
            return Ok(None);
        }
        eprintln!(
            "kept {what}: {}",
            orch::exit::render(&err)
                .trim_start_matches("error: ")
                .trim_end()
        );
        return Ok(None);
    }
    if !removal.remote_only {
        println!("removed {what}: {}", removal.why);
        // Killed here, the remote copy stays: the next `cleanup
        // --remote` finds it by its remote-tracking ref.
        orch::interrupt::checkpoint("cleanup:local")?;
    }
    if let (Some(remote), Some(tip)) = (&args.remote, removal.tip) {
        match delete_remote_branch(repo, remote, &removal.branch, tip, head) {
            Ok(true) => println!("removed '{}' on '{remote}'", removal.branch),
            Ok(false) => {}
            Err(err) => {
                eprint!("{}", render(&err));
                return Ok(Some(removal.branch.clone()));
            }
        }
    }
    Ok(None)
}

/// Delete `branch` on `remote` when its copy there holds nothing HEAD does
/// not: the same commit as ours, or landed itself; by compare-and-swap
/// (`--force-with-lease`), so a push made meanwhile is not lost. `Ok(false)`
/// when there is nothing to delete, or it is kept (and says why).
fn delete_remote_branch(
    repo: &Repo,
    remote: &str,
    branch: &str,
    tip: Oid,
    head: Oid,
) -> Result<bool> {
    let theirs = match repo.remote_branch(remote, branch)? {
        Ok(Some(theirs)) => theirs,
        Ok(None) => return Ok(false),
        Err(message) => {
            return Err(Hint::new(format!(
                "cannot read branch '{branch}' on '{remote}': {message}"
            ))
            .hint("check the network and your access; the local removal is done")
            .into());
        }
    };
    let safe = theirs == tip
        || (repo.commit_info(theirs).is_ok()
            && orch::ops::landed::landed_how(repo, None, theirs, head)?.is_some());
    if !safe {
        eprintln!(
            "kept '{branch}' on '{remote}': it holds commits that are not in HEAD (fetch and look)"
        );
        return Ok(false);
    }
    let out = repo.delete_remote_branch(remote, branch, theirs)?;
    if out.status != 0 {
        return Err(Hint::new(format!(
            "cannot delete branch '{branch}' on '{remote}': {}",
            out.stderr.trim()
        ))
        .hint("the local removal is done; try again, or delete it by hand")
        .into());
    }
    let tracking = format!("refs/remotes/{remote}/{branch}");
    if repo.ref_target(&tracking)?.is_some() {
        repo.delete_ref(&tracking)?;
    }
    Ok(true)
}
