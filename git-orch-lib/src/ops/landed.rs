//! Whether a worker's work has landed: the one rule `rm`, `cleanup` and
//! `prune` judge by. Landed means its commits are in HEAD (merged, rebased
//! or squash-merged: decided by what HEAD holds, not by branch names), or
//! its applied handoff is all it has.

use anyhow::Result;

use crate::contract::Contract;
use crate::git::{Oid, Repo};
use crate::registry::{self, State};

/// Whether all the worker has is what its applied handoff landed: state
/// `applied`, the commit apply made of it is in HEAD (or in its base
/// branch) and says so (its `Handoff:` trailer), and its checkout (or
/// branch) holds exactly the handoff's tree. Its commits are then
/// "unlanded" only by name: their change is in HEAD. An `applied` event
/// alone (written by hand into the log) proves nothing.
pub fn landed_by_handoff(
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
    if !applied_commit_landed(repo, entry, &handoff)? {
        return Ok(false);
    }
    let tip = newest_tip(repo, &entry.contract.branch)?;
    let current = match checkout {
        Some(path) => Repo::read_snapshot(path)?,
        None => match tip {
            Some(tip) => repo.commit_tree(tip)?,
            None => return Ok(true),
        },
    };
    // Nothing of its own here: no commit on its branch, and its checkout
    // (if any) as it was spawned. A worker on another host, whose report
    // (made there, uncommitted) is what landed.
    if let Ok(base) = Oid::from_str(&entry.contract.base)
        && tip.is_none_or(|tip| tip == base)
        && current == repo.commit_tree(base)?
    {
        return Ok(true);
    }
    Ok(current.to_string() == handoff.meta.tree)
}

/// The newest tip of a worker's `branch` this machine knows: the local
/// branch, or a remote's copy that is ahead of it (a worker on another
/// host pushes its branch to the hub; the local one stays where it was
/// spawned).
pub fn newest_tip(repo: &Repo, branch: &str) -> Result<Option<Oid>> {
    let mut newest = repo.ref_target(&format!("refs/heads/{branch}"))?;
    for remote in repo.remotes()? {
        let Some(theirs) = repo.ref_target(&format!("refs/remotes/{remote}/{branch}"))? else {
            continue;
        };
        newest = match newest {
            Some(ours) if ours == theirs || !repo.is_ancestor(ours, theirs)? => Some(ours),
            _ => Some(theirs),
        };
    }
    Ok(newest)
}

/// Whether the commit the `applied` event of `handoff` names is in HEAD or
/// in the worker's base branch, and is that handoff's (its trailer).
fn applied_commit_landed(
    repo: &Repo,
    entry: &registry::Entry,
    handoff: &registry::Handoff,
) -> Result<bool> {
    let commit = registry::outcome_of(repo, Some(entry), handoff)?
        .filter(|done| done.event.kind == "applied")
        .and_then(|done| {
            done.event
                .data
                .get("commit")
                .and_then(|c| c.as_str())
                .and_then(|c| Oid::from_str(c).ok())
        });
    let Some(commit) = commit.filter(|c| repo.has_object(*c)) else {
        return Ok(false);
    };
    let trailer = format!("Handoff: {}", handoff.commit);
    if !repo
        .commit_info(commit)?
        .message
        .lines()
        .any(|l| l == trailer)
    {
        return Ok(false);
    }
    for target in ["HEAD", entry.contract.base_ref.as_str()] {
        if let Some(tip) = repo.resolve_commit(target).ok().flatten()
            && repo.is_ancestor(commit, tip)?
        {
            return Ok(true);
        }
    }
    Ok(false)
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

/// Why the work at `tip` (started from `base`) is in `head`, if it is.
pub fn landed_how(
    repo: &Repo,
    base: Option<Oid>,
    tip: Oid,
    head: Oid,
) -> Result<Option<&'static str>> {
    if Some(tip) == base {
        return Ok(None);
    }
    if repo.is_ancestor(tip, head)? {
        return Ok(Some("merged: its branch is in HEAD"));
    }
    if repo.all_picked(head, tip)? {
        return Ok(Some("rebased: every commit has an equivalent in HEAD"));
    }
    if repo.merge_tree(head, tip)? == Some(repo.commit_tree(head)?) {
        return Ok(Some("squash-merged: merging it would add nothing"));
    }
    Ok(None)
}
