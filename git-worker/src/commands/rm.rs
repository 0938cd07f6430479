//! `git worker rm`: remove a worker's checkout, branch and live entry, and
//! archive its history.
//!
//! Removal rolls forward: each step (`rm:worktree`, `rm:branch`,
//! `rm:archive`) leaves a state that running `rm` again, or `prune`, finishes.

use anyhow::{Context as _, Result};

use super::spawn::remove_worktree;
use crate::cli::RmArgs;
use orch::contract::{Contract, validate_id};
use orch::exit::{Hint, Outcome, render};
use orch::git::Repo;
use orch::interrupt::{self, checkpoint};
use orch::local;
use orch::registry::{self, Actor, Change, State};
use orch::role::require_coordinator;

pub fn rm(repo: &Repo, args: &RmArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker rm")?;
    for id in &args.ids {
        validate_id(id)?;
    }
    let _signals = interrupt::guard()?;
    let mut failed = Vec::new();
    for id in &args.ids {
        match rm_one(repo, id, args, None) {
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

/// Stop an agent's process group (its supervisor leads it): SIGTERM, up to
/// five seconds to go, then SIGKILL; an error if it still runs.
fn stop_agent(agent: &local::Agent) -> Result<()> {
    let group = agent.supervisor;
    let signal = |sig: &str| {
        if group != 0 {
            orch::verify::signal_group(sig, group);
        }
        // An agent whose supervisor died is in the same group; signal it too.
        if agent.pid != 0 && local::process_alive(agent.pid, agent.pid_start) {
            orch::verify::signal_process(sig, agent.pid);
        }
    };
    signal("-TERM");
    let started = std::time::Instant::now();
    while agent.running() && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if agent.running() {
        signal("-KILL");
        let started = std::time::Instant::now();
        while agent.running() && started.elapsed() < std::time::Duration::from_secs(2) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    if agent.running() {
        anyhow::bail!(
            "the agent (pid {}) does not stop; nothing was removed",
            agent.pid
        );
    }
    Ok(())
}

/// Another process (an rm, a cleanup) removes worker `id` right now.
fn being_removed(id: &str, other: &local::RemovalJournal) -> anyhow::Error {
    Hint::new(format!(
        "worker '{id}' is being removed right now (pid {})",
        other.pid
    ))
    .hint(format!(
        "once it is done, `git worker show {id}` shows its history"
    ))
    .into()
}

/// Whether the entry of `id` read at `tip` is still the live one (its log
/// may have grown), not removed (and perhaps spawned again) meanwhile.
fn still_registered(repo: &Repo, id: &str, tip: orch::git::Oid) -> Result<bool> {
    Ok(match repo.ref_target(&registry::live_ref(id))? {
        Some(now) => repo.is_ancestor(tip, now)?,
        None => false,
    })
}

/// rm's safety checks, all but with --force: uncommitted changes, commits
/// that have not landed, work only a clone or a detached HEAD holds.
fn refuse_unsafe(
    repo: &Repo,
    entry: &registry::Entry,
    args: &RmArgs,
    landed: Option<&str>,
    checkout: Option<&std::path::Path>,
    head: Option<orch::git::Oid>,
) -> Result<()> {
    let (id, contract) = (entry.id(), &entry.contract);
    if !args.force && !landed_by_handoff(repo, entry, checkout)? {
        if let Some(checkout) = checkout
            && Repo::checkout_is_dirty(checkout)?
        {
            return Err(Hint::new(format!(
                "worker '{id}' has uncommitted or untracked changes in '{}'",
                checkout.display()
            ))
            .hint("commit or hand them off first, or discard them with --force")
            .into());
        }
        if !args.keep_branch
            && landed.is_none()
            && let Some(count) = unlanded(repo, contract)?
        {
            return Err(Hint::new(format!(
                "worker '{id}' has {count} commit{} on '{}' that {} not on '{}' or HEAD",
                if count == 1 { "" } else { "s" },
                contract.branch,
                if count == 1 { "is" } else { "are" },
                contract.base_ref
            ))
            .hint(
                "land them first, keep the branch with --keep-branch, or delete them with --force",
            )
            .into());
        }
        // A clone's commits live in the clone until its worker syncs them:
        // its HEAD, and its branches, stashes and tags too.
        if let Some(checkout) = checkout
            && repo.owns_clone(checkout)
            && clone_holds_unsent_work(repo, checkout, head)?
        {
            return Err(Hint::new(format!(
                "the clone of worker '{id}' has commits this repository does not have"
            ))
            .hint(format!(
                "send them first: git -C {} worker sync, then here: git worker sync {}",
                checkout.display(),
                local::INBOX_REMOTE
            ))
            .hint("or delete them with --force")
            .into());
        }
        if let Some(checkout) = checkout
            && let Some(count) = detached_work(repo, checkout, head, contract)?
        {
            return Err(Hint::new(format!(
                "the checkout of worker '{id}' has {count} commit{} on its HEAD that {} not on '{}', '{}' or HEAD",
                if count == 1 { "" } else { "s" },
                if count == 1 { "is" } else { "are" },
                contract.branch,
                contract.base_ref
            ))
            .hint(format!(
                "put them on a branch first (git -C {} branch <name>), or delete them with --force",
                checkout.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Remove worker `id`. `landed` says how its branch's commits are in HEAD
/// when the caller has checked (`cleanup`: squash and rebase merges that
/// rm's own ancestry check does not see); every other safety check stays.
pub(super) fn rm_one(repo: &Repo, id: &str, args: &RmArgs, landed: Option<&str>) -> Result<()> {
    let Some(entry) = registry::load(repo, id)? else {
        let mut err = Hint::new(format!("worker '{id}' is not registered"));
        if !registry::archived(repo, id)?.is_empty() {
            err = err.hint(format!(
                "it was removed already; its history: git worker show {id}"
            ));
        }
        return Err(err
            .hint("`git worker list` shows the registered workers")
            .into());
    };
    if entry.status.state == State::Spawning {
        return Err(Hint::new(format!("worker '{id}' is still being spawned"))
            .hint("if that spawn crashed, `git worker prune` removes it")
            .into());
    }
    if let Some(other) = local::removal_running(repo, id)
        && other.pid != std::process::id()
    {
        return Err(being_removed(id, &other));
    }
    // Its commit may be in HEAD, unverified: whether it lands is not known
    // yet (and "landed" judged by HEAD would be wrong).
    if let Some(apply) = local::apply_journal(repo, id)
        && !orch::ops::apply::apply_was_kept(repo, id, &apply)?
    {
        if apply.running() {
            return Err(Hint::new(format!(
                "the handoff of '{id}' is being applied right now (pid {})",
                apply.pid
            ))
            .hint("wait for the apply to finish, then remove it")
            .into());
        }
        return Err(Hint::new(format!(
            "an apply of '{id}' was interrupted, and its change may still be in '{}', unverified",
            apply.workdir.display()
        ))
        .hint("`git worker prune` undoes it first")
        .into());
    }
    // A running agent would go on in a deleted checkout.
    if let Some(agent) = local::load_agent(repo, id)?
        && agent.running()
    {
        if !args.force {
            return Err(Hint::new(format!(
                "the agent of worker '{id}' is still running (pid {})",
                agent.pid
            ))
            .hint(format!("wait for it: git worker wait {id} --until exited"))
            .hint("or stop it and remove the worker with --force")
            .into());
        }
        stop_agent(&agent)?;
    }
    let contract = &entry.contract;
    let checkout = locate_checkout(repo, id)?;
    let branch_ref = format!("refs/heads/{}", contract.branch);
    let head = repo.ref_target(&branch_ref)?;

    // What these read of the checkout fails, or is torn, while another
    // process removes it: that is said, not git's complaint about a
    // missing file.
    let checked = refuse_unsafe(repo, &entry, args, landed, checkout.as_deref(), head);
    if let Err(err) = checked {
        if let Some(other) = local::removal_running(repo, id)
            && other.pid != std::process::id()
        {
            return Err(being_removed(id, &other));
        }
        if !still_registered(repo, id, entry.tip)? {
            return Err(registry::removed_meanwhile(id));
        }
        return Err(err);
    }

    // From here on the removal rolls forward: readers skip the worker, and
    // prune finishes the removal if this process dies.
    if let Err(other) = local::claim_removal(
        repo,
        id,
        &local::RemovalJournal {
            pid: std::process::id(),
            pid_start: local::process_start(std::process::id()),
            entry: entry.tip.to_string(),
            keep_branch: args.keep_branch,
            landed: landed.map(str::to_string),
        },
    )? {
        return Err(being_removed(id, &other));
    }
    // Another removal may have run from start to end since the entry was
    // read (and the id may even have been spawned again).
    if !still_registered(repo, id, entry.tip)? {
        local::end_removal(repo, id)?;
        return Err(registry::removed_meanwhile(id));
    }
    match &checkout {
        Some(path) => remove_worktree(repo, path, false, false)
            .with_context(|| format!("cannot remove the checkout of '{id}'"))?,
        None => repo.prune_worktrees()?,
    }
    checkpoint("rm:worktree")?;

    if !args.keep_branch
        && let Some(head) = head
    {
        // In-process and compare-and-swap: a commit made meanwhile is not lost.
        // (Gone meanwhile is as good as deleted.)
        if repo.cas_delete(&branch_ref, head)? == orch::git::Cas::Raced
            && repo.ref_target(&branch_ref)?.is_some()
        {
            // Not to be finished by prune: it would take the new commit.
            local::end_removal(repo, id)?;
            return Err(Hint::new(format!(
                "branch '{}' moved while '{id}' was being removed",
                contract.branch
            ))
            .hint(format!(
                "its checkout is gone, the branch is kept; run `git worker rm {id}` again"
            ))
            .into());
        }
    }
    checkpoint("rm:branch")?;

    registry::archive(repo, id, || {
        let mut change = Change::new("removed", Actor::Coordinator, State::Removed)
            .with("branch_kept", args.keep_branch)
            .with("forced", args.force)
            .with("head", head.map(|h| h.to_string()).unwrap_or_default());
        if let Some(how) = landed {
            change = change.with("landed", how);
        }
        change
    })?;
    local::remove_local(repo, id)?;
    local::remove_agent(repo, id)?;
    local::end_removal(repo, id)?;
    checkpoint("rm:archive")?;
    Ok(())
}

/// Whether all the worker has is what its applied handoff landed: state
/// `applied`, and its checkout (or branch) holds exactly the handoff's tree.
/// Its commits are then "unlanded" only by name: their change is in HEAD.
pub(super) fn landed_by_handoff(
    repo: &Repo,
    entry: &registry::Entry,
    checkout: Option<&std::path::Path>,
) -> Result<bool> {
    if entry.status.state != State::Applied {
        return Ok(false);
    }
    // The handoff the log names: not one a killed report left unlogged.
    let Some(handoff) = registry::load_current_handoff(repo, entry)? else {
        return Ok(false);
    };
    let current = match checkout {
        Some(path) => Repo::snapshot_tree(path)?,
        None => match repo.ref_target(&format!("refs/heads/{}", entry.contract.branch))? {
            Some(tip) => repo.commit_tree(tip)?,
            None => return Ok(true),
        },
    };
    Ok(current.to_string() == handoff.meta.tree)
}

/// The worker's checkout on this machine: its recorded path when that is
/// still its worktree, else wherever `git worktree move` took it (found by
/// its worktree name). `None` when it is gone.
fn locate_checkout(repo: &Repo, id: &str) -> Result<Option<std::path::PathBuf>> {
    let Some(local) = local::load_local(repo, id)? else {
        return Ok(None);
    };
    let name_matches = local.worktree.is_empty()
        || super::spawn::worktree_name(&local.path).as_deref() == Some(local.worktree.as_str());
    if repo.owns_checkout(&local.path) && name_matches {
        return Ok(Some(local.path));
    }
    if !local.worktree.is_empty()
        && let Some(path) = repo.worktrees()?.remove(&local.worktree)
        && repo.owns_worktree(&path)
    {
        return Ok(Some(path));
    }
    Ok(None)
}

/// Whether the clone at `checkout` holds commits this repository lacks, or
/// a HEAD that is neither on the worker's branch (`branch`) nor in HEAD.
fn clone_holds_unsent_work(
    repo: &Repo,
    checkout: &std::path::Path,
    branch: Option<orch::git::Oid>,
) -> Result<bool> {
    let clone = Repo::open(checkout)?;
    if let Some(tip) = clone.head_commit()? {
        let here = repo.commit_info(tip).is_ok();
        let landed = here
            && (branch.is_some_and(|b| repo.is_ancestor(tip, b).unwrap_or(false))
                || repo.is_ancestor(tip, repo.head_commit()?.unwrap_or(tip))?);
        if !landed {
            return Ok(true);
        }
    }
    for (_, oid) in clone.refs_under_any(&["refs/heads/", "refs/tags/", "refs/stash"])? {
        if repo.commit_info(oid).is_err() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `Some(n)` when the checkout's HEAD has `n` commits reachable neither
/// from the worker's branch nor from its base ref or HEAD: work done on a
/// detached HEAD (or mid-rebase) that removing the checkout would lose.
fn detached_work(
    repo: &Repo,
    checkout: &std::path::Path,
    branch: Option<orch::git::Oid>,
    contract: &Contract,
) -> Result<Option<usize>> {
    let Some(head) = Repo::open(checkout)?.head_commit()? else {
        return Ok(None);
    };
    let targets = [
        branch,
        repo.resolve_commit(&contract.base_ref).ok().flatten(),
        repo.resolve_commit("HEAD").ok().flatten(),
    ];
    for tip in targets.into_iter().flatten() {
        if repo.is_ancestor(head, tip)? {
            return Ok(None);
        }
    }
    let base = orch::git::Oid::from_str(&contract.base)?;
    Ok(Some(repo.ahead(head, base)?.max(1)))
}

/// `Some(n)` when the worker's branch has `n` commits that are neither on
/// the current value of its base ref nor on HEAD (work that would be lost).
pub fn unlanded(repo: &Repo, contract: &Contract) -> Result<Option<usize>> {
    let Some(head) = repo.ref_target(&format!("refs/heads/{}", contract.branch))? else {
        return Ok(None);
    };
    let base = repo.resolve_commit(&contract.base)?;
    if base == Some(head) {
        return Ok(None);
    }
    for target in [contract.base_ref.as_str(), "HEAD"] {
        if let Some(tip) = repo.resolve_commit(target).ok().flatten()
            && repo.is_ancestor(head, tip)?
        {
            return Ok(None);
        }
    }
    let count = match base {
        Some(base) => repo.ahead(head, base)?,
        None => 1,
    };
    Ok(if count == 0 { None } else { Some(count) })
}
