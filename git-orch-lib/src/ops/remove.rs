//! Removing a worker: its agent stopped, its checkout (only one this
//! repository owns, and only after rm's safety checks), its branch (by
//! compare-and-swap), its live entry archived and its local facts dropped;
//! journaled, so that readers pass over it and `git worker prune`
//! finishes a removal that was killed.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::Repo;
use crate::interrupt::checkpoint;
use crate::local::{self};
use crate::ops::landed::{landed_by_handoff, unlanded};
use crate::registry::{self, Actor, Change, Entry, State};

/// What `git worker rm` was asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// Remove even with uncommitted changes, unlanded commits or a running agent.
    pub force: bool,
    /// Keep the worker's branch.
    pub keep_branch: bool,
    /// Why it goes (in its `removed` event: abandoned work, say).
    pub reason: Option<&'a str>,
}

/// Stop an agent's process group (its supervisor leads it): SIGTERM, up to
/// five seconds to go, then SIGKILL; an error if it still runs.
pub fn stop_agent(id: &str, agent: &local::Agent) -> Result<()> {
    let (group, pid) = agent_processes(id, agent);
    if group.is_none() && pid.is_none() {
        return Err(Hint::new(format!(
            "the agent of '{id}' is recorded as running (pid {}, supervisor {}), but no such process is its agent: nothing was signalled, nothing removed",
            agent.pid, agent.supervisor
        ))
        .hint(format!(
            "look at those processes; stop the agent yourself, then `git worker rm --force {id}`"
        ))
        .into());
    }
    let signal = |sig: &str| {
        if let Some(group) = group {
            crate::verify::signal_group(sig, group);
        }
        // An agent whose supervisor died is in the same group; signal it too.
        if let Some(pid) = pid {
            crate::verify::signal_process(sig, pid);
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
    } else if let Some(group) = group {
        // The agent went (bubblewrap ends on TERM), its children may not
        // have (they may ignore TERM): what is left of its group goes too.
        crate::verify::signal_group("-KILL", group);
    }
    if agent.running() {
        anyhow::bail!(
            "the agent (pid {}) does not stop; nothing was removed",
            agent.pid
        );
    }
    Ok(())
}

/// The process group and the process to signal to stop the agent of `id`,
/// each only while it is the one recorded: the same start time, and for the
/// group, its leader still the supervisor of `id` (`git-worker agent-run
/// <id>`), for the agent, a member of that group started as the agent of
/// `id` (`ORCH_WORKER=<id>` in its environment). Never group 0 or 1, nor
/// this process's own group, nor this process: a rewritten record cannot
/// turn `rm --force` against another process.
fn agent_processes(id: &str, agent: &local::Agent) -> (Option<u32>, Option<u32>) {
    let me = std::process::id();
    let own_group = local::process_group(me);
    let group = agent.supervisor;
    let is_supervisor = group > 1
        && agent.supervisor_start.is_some()
        && local::process_alive(group, agent.supervisor_start)
        && local::process_group(group) == Some(group)
        && local::process_command(group).is_some_and(|cmd| {
            cmd.split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w == ["agent-run", id])
        });
    // The agent itself: started with its worker's id in its environment
    // (another process of the user's, even one leading a group the record
    // names as the supervisor's, is not).
    let pid = (agent.pid > 1
        && agent.pid != me
        && agent.pid_start.is_some()
        && local::process_alive(agent.pid, agent.pid_start)
        && local::process_group(agent.pid) == Some(agent.supervisor)
        && Some(agent.supervisor) != own_group
        && local::process_env(agent.pid, local::AGENT_ID_ENV).as_deref() == Some(id))
    .then_some(agent.pid);
    // The group, when its leader is the supervisor, or the agent (after
    // its supervisor died) is in it: the agent's children are there too.
    let group =
        ((is_supervisor || pid.is_some()) && group > 1 && Some(group) != own_group && group != me)
            .then_some(group);
    (group, pid)
}

/// Another process (an rm, a cleanup) removes worker `id` right now.
pub fn being_removed(id: &str, other: &local::RemovalJournal) -> anyhow::Error {
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
pub fn still_registered(repo: &Repo, id: &str, tip: crate::git::Oid) -> Result<bool> {
    Ok(match repo.ref_target(&registry::live_ref(id))? {
        Some(now) => repo.is_ancestor(tip, now)?,
        None => false,
    })
}

/// rm's safety checks, all but with --force: uncommitted changes, commits
/// that have not landed, work only a clone or a detached HEAD holds.
pub fn refuse_unsafe(
    repo: &Repo,
    entry: &registry::Entry,
    options: Options<'_>,
    landed: Option<&str>,
    checkout: Option<&std::path::Path>,
    head: Option<crate::git::Oid>,
) -> Result<()> {
    let (id, contract) = (entry.id(), &entry.contract);
    // Landed or not: a submodule commit only the worker's checkout has
    // (what HEAD or its branch points a submodule at) goes with it.
    if !options.force
        && let Some(checkout) = checkout
        && let Some((path, commit, named_by)) = only_copy_of_gitlink(repo, contract, checkout)?
    {
        let path = crate::policy::display_path(&path);
        return Err(Hint::new(format!(
            "the checkout of worker '{id}' has the only copy of submodule commit {commit} ('{path}'), which {named_by} names"
        ))
        .hint(format!(
            "fetch it first: git -C {path} fetch {} {commit}:refs/heads/orch/{id}",
            checkout.join(&path).display()
        ))
        .hint("or delete it with --force")
        .into());
    }
    if !options.force && !landed_by_handoff(repo, entry, checkout)? {
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
        if !options.keep_branch
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

/// A submodule commit that HEAD or the worker's branch names, that the
/// worker's checkout has and this checkout's copy of the submodule lacks:
/// (path, commit, who names it).
fn only_copy_of_gitlink(
    repo: &Repo,
    contract: &crate::contract::Contract,
    checkout: &std::path::Path,
) -> Result<Option<(Vec<u8>, crate::git::Oid, &'static str)>> {
    let (Some(workdir), Ok(worker)) = (repo.workdir(), Repo::open(checkout)) else {
        return Ok(None);
    };
    let mut trees = Vec::new();
    if let Some(head) = repo.head_commit()? {
        trees.push((repo, repo.commit_tree(head)?, "HEAD"));
    }
    if let Some(tip) = worker.ref_target(&format!("refs/heads/{}", contract.branch))? {
        trees.push((&worker, worker.commit_tree(tip)?, "its branch"));
    }
    for (holder, tree, named_by) in trees {
        let paths = holder.gitlink_paths(tree)?;
        for (path, commit) in holder.gitlinks_missing_in(tree, &paths, workdir)? {
            if holder
                .gitlinks_missing_in(tree, std::slice::from_ref(&path), checkout)?
                .is_empty()
            {
                return Ok(Some((path, commit, named_by)));
            }
        }
    }
    Ok(None)
}

/// rm refuses a worker that something else is busy with: being spawned,
/// removed by another process, applied (or its apply killed and not
/// undone), or with a running agent (stopped instead with --force).
fn refuse_busy(repo: &Repo, entry: &Entry, options: Options<'_>) -> Result<()> {
    let id = entry.id();
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
        && !crate::ops::undo::apply_was_kept(repo, id, &apply)?
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
        if !options.force {
            return Err(Hint::new(format!(
                "the agent of worker '{id}' is still running (pid {})",
                agent.pid
            ))
            .hint(format!("wait for it: git worker wait {id} --until exited"))
            .hint("or stop it and remove the worker with --force")
            .into());
        }
        stop_agent(id, &agent)?;
    }
    Ok(())
}

/// Remove worker `id`. `landed` says how its branch's commits are in HEAD
/// when the caller has checked (`cleanup`: squash and rebase merges that
/// rm's own ancestry check does not see); every other safety check stays.
pub fn rm_one(repo: &Repo, id: &str, options: Options<'_>, landed: Option<&str>) -> Result<()> {
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
    refuse_busy(repo, &entry, options)?;
    let contract = &entry.contract;
    let checkout = locate_checkout(repo, id)?;
    let branch_ref = format!("refs/heads/{}", contract.branch);
    let head = repo.ref_target(&branch_ref)?;

    // What these read of the checkout fails, or is torn, while another
    // process removes it: that is said, not git's complaint about a
    // missing file.
    let checked = refuse_unsafe(repo, &entry, options, landed, checkout.as_deref(), head);
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

    // The repository's teardown commands, in the checkout about to go (a
    // failure is said, and does not keep the worker).
    let settings = crate::config::Settings::load(repo)?;
    if !settings.teardown.is_empty()
        && checkout.is_some()
        && let Some(facts) = local::load_local(repo, id)?
        && let Err(err) =
            crate::ops::setup::run(crate::ops::setup::Stage::Teardown, &settings, id, &facts)
    {
        eprintln!("warning: {err:#}; removing '{id}' anyway");
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
            keep_branch: options.keep_branch,
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

    if !options.keep_branch
        && let Some(head) = head
    {
        // In-process and compare-and-swap: a commit made meanwhile is not lost.
        // (Gone meanwhile is as good as deleted.)
        if repo.cas_delete(&branch_ref, head)? == crate::git::Cas::Raced
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
            .with("branch_kept", options.keep_branch)
            .with("forced", options.force)
            .with("head", head.map(|h| h.to_string()).unwrap_or_default());
        if let Some(how) = landed {
            change = change.with("landed", how);
        }
        if let Some(reason) = options.reason {
            change = change.reason(reason).with("reason", reason);
        }
        change
    })?;
    local::remove_local(repo, id)?;
    local::remove_agent(repo, id)?;
    local::remove_worker_key(repo, id);
    local::end_removal(repo, id)?;
    checkpoint("rm:archive")?;
    Ok(())
}

/// The worker's checkout on this machine: the one recorded at spawn, and
/// only while git's records of it agree (a linked worktree: both sides of
/// the `.git` pointer, under the worktree name recorded at spawn). `None`
/// when it is gone; an error when git says it was moved (`git worktree
/// move`): another directory is never deleted in its name.
pub fn locate_checkout(repo: &Repo, id: &str) -> Result<Option<std::path::PathBuf>> {
    let Some(local) = local::load_local(repo, id)? else {
        return Ok(None);
    };
    if local.worktree.is_empty() {
        // A clone: the path recorded at spawn is the authority.
        return Ok(repo.owns_clone(&local.path).then_some(local.path));
    }
    if repo.worktree_at(&local.path).as_deref() == Some(local.worktree.as_str()) {
        return Ok(Some(local.path));
    }
    if let Some(moved) = repo.worktrees()?.remove(&local.worktree)
        && moved.exists()
    {
        if crate::fs::same_file(&moved, &local.path) {
            return Err(Hint::new(format!(
                "the checkout of '{id}' at '{}' is not git's worktree '{}' any more: its .git file points elsewhere",
                local.path.display(),
                local.worktree
            ))
            .hint(format!(
                "nothing was removed; look at '{}', then remove it yourself, and `git worktree prune` and `git worker rm {id}` after",
                local.path.join(".git").display()
            ))
            .into());
        }
        return Err(Hint::new(format!(
            "the checkout of '{id}' is not where it was spawned ('{}'): git has it at '{}'",
            local.path.display(),
            moved.display()
        ))
        .hint(format!(
            "only the checkout a worker was spawned in is removed; remove that one yourself (git worktree remove {}), then `git worker rm {id}` again",
            moved.display()
        ))
        .into());
    }
    Ok(None)
}

/// Whether the clone at `checkout` holds commits this repository lacks, or
/// a HEAD that is neither on the worker's branch (`branch`) nor in HEAD.
pub fn clone_holds_unsent_work(
    repo: &Repo,
    checkout: &std::path::Path,
    branch: Option<crate::git::Oid>,
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
    for (_, oid) in clone.refs_under_any_inprocess(&["refs/heads/", "refs/tags/", "refs/stash"])? {
        if repo.commit_info(oid).is_err() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `Some(n)` when the checkout's HEAD has `n` commits reachable neither
/// from the worker's branch nor from its base ref or HEAD: work done on a
/// detached HEAD (or mid-rebase) that removing the checkout would lose.
pub fn detached_work(
    repo: &Repo,
    checkout: &std::path::Path,
    branch: Option<crate::git::Oid>,
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
    let base = crate::git::Oid::from_str(&contract.base)?;
    Ok(Some(repo.ahead(head, base)?.max(1)))
}

/// Remove a worktree git may or may not have registered, its directory and,
/// with `parent_too`, its parent directory if that is now empty (other
/// workers may have been spawned into it meanwhile). Under the machine lock.
///
/// Only a linked worktree of this repository is removed, or, with
/// `half_made`, a directory without `.git` that a spawn was creating there:
/// anything else at `path` is someone's, and is an error, left in place.
pub fn remove_worktree(repo: &Repo, path: &Path, parent_too: bool, half_made: bool) -> Result<()> {
    let _lock = repo.lock_machine()?;
    if path.exists() {
        let half_made_here = half_made && !path.join(".git").exists();
        if repo.owns_clone(path) {
            crate::fs::remove_dir_forcefully(path)?;
            if parent_too && let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
            return Ok(());
        }
        if !repo.owns_worktree(path) && !half_made_here {
            bail!(
                "'{}' is not a checkout of this repository; left in place",
                path.display()
            );
        }
        let out = repo.remove_worktree_forcefully(path)?;
        if out.status == 0 && !path.exists() {
            // git removed the checkout and its admin directory: nothing to prune.
            if parent_too && let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
            return Ok(());
        }
        if path.exists() {
            std::fs::remove_dir_all(path)
                .with_context(|| format!("cannot remove '{}'", path.display()))?;
        }
    }
    if parent_too && let Some(parent) = path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    repo.prune_worktrees_locked()
}

/// Delete `branch` if it still points at `expected` (a branch that moved has
/// someone's commits on it and is left alone).
pub fn delete_branch(repo: &Repo, branch: &str, expected: &str) -> Result<()> {
    let refname = format!("refs/heads/{branch}");
    match repo.ref_target(&refname)? {
        None => Ok(()),
        Some(oid) if oid.to_string() == expected => match repo.cas_delete(&refname, oid)? {
            crate::git::Cas::Updated => Ok(()),
            crate::git::Cas::Raced => {
                bail!("branch '{branch}' moved while being deleted; left in place")
            }
        },
        Some(oid) => bail!(
            "branch '{branch}' moved to {} since it was created; left in place",
            crate::ui::short(&oid.to_string())
        ),
    }
}

/// Archive worker `id`, whose checkout is gone, as `pruned` (with
/// `reason`), deleting its branch unless `keep_branch` or it has commits
/// that have not landed; drop its local facts.
pub fn retire(repo: &Repo, id: &str, reason: &str, keep_branch: bool) -> Result<()> {
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
    local::remove_worker_key(repo, id);
    local::remove_local(repo, id)
}
