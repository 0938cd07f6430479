//! `git worker rebase`: move a worker onto the coordinator's HEAD (or
//! another commit). Its commits are replayed in memory ([`Repo::replay`]),
//! its checkout and branch move to the result ([`Repo::move_checkout`]),
//! and its contract's base moves with a `rebased` event; the contract is
//! then judged again on the moved change. Nothing the worker's checkout
//! configures runs. A conflict changes nothing.

use anyhow::{Context as _, Result, bail};

use crate::contract::validate_id;
use crate::enforce;
use crate::exit::{Hint, Outcome};
use crate::git::{Oid, Replayed, Repo};
use crate::local;
use crate::policy::Policy;
use crate::registry::{self, Actor, Change, State};
use crate::ui::short;

/// A worker about to be rebased: all checked.
struct Target {
    entry: crate::registry::Entry,
    facts: local::Local,
    contract: crate::contract::Contract,
    onto: Oid,
    base: Oid,
}

/// Rebase worker `id` onto `onto` (a revision; HEAD when `None`).
pub fn rebase(repo: &Repo, id: &str, onto: Option<&str>) -> Result<Outcome> {
    crate::role::require_coordinator(repo, "git worker rebase")?;
    let Some(Target {
        entry,
        facts,
        contract,
        onto,
        base,
    }) = target(repo, id, onto)?
    else {
        return Ok(Outcome::Success);
    };
    let checkout = facts.path.clone();
    let branch = format!("refs/heads/{}", contract.branch);
    let worker = Repo::open(&checkout)?;
    let tip = worker
        .ref_target(&branch)?
        .with_context(|| format!("worker '{id}' has no branch {branch}"))?;
    // Its work must be here: taken from a sandboxed clone (every command of
    // the coordinator collects first), synced from a trusted one. Objects
    // are never borrowed from a clone.
    if repo.commit_tree(tip).is_err() {
        return Err(Hint::new(format!(
            "the branch of worker '{id}' is at {tip}, which this repository does not have yet; nothing was rebased"
        ))
        .hint(format!(
            "the worker sends it first: git -C {} worker sync, then here: git worker sync {}",
            checkout.display(),
            local::INBOX_REMOTE
        ))
        .into());
    }
    let (new_tip, commits) = match repo.replay(onto, base, tip, None)? {
        Replayed::Done { tip, commits } => (tip, commits),
        Replayed::Conflict { commit, paths } => {
            eprintln!(
                "error: the commit {} of worker '{id}' conflicts with {}; nothing was rebased",
                short(&commit.to_string()),
                short(&onto.to_string())
            );
            for path in &paths {
                eprintln!("  conflict: {path}");
            }
            eprintln!(
                "hint: the worker merges {} into its branch itself, resolves the conflict and reports again",
                short(&onto.to_string())
            );
            return Ok(Outcome::CheckFailed);
        }
        Replayed::Merges => {
            return Err(Hint::new(format!(
                "the branch of worker '{id}' has merge commits, which rebase does not replay; nothing was rebased"
            ))
            .hint("the worker rebases its branch itself, or reports it as it is")
            .into());
        }
    };

    // The contract, judged again on the moved change (before anything moves).
    let mut moved = contract.clone();
    moved.base = onto.to_string();
    let changes = repo.diff_trees(
        Some(repo.commit_tree(onto)?),
        Some(repo.commit_tree(new_tip)?),
    )?;
    let violations = Policy::of(&moved, repo.folds_case()?)?
        .check(&changes, &repo.links_of(repo.commit_tree(new_tip)?));
    // Still clean (the worker may have written since it was looked at);
    // a sandboxed worker's files are moved inside its sandbox.
    if Repo::checkout_is_dirty(&checkout)? {
        bail!("worker '{id}' changed its checkout while it was being rebased; nothing was rebased");
    }
    crate::interrupt::checkpoint("rebase:checked")?;
    let sandbox = match crate::ops::confine::git_spec(&facts) {
        Some(spec) => crate::sandbox::prefix(&spec)?,
        None => Vec::new(),
    };
    let _signals = crate::interrupt::guard()?;
    repo.move_checkout(&checkout, &branch, tip, new_tip, &sandbox)?;
    // Moved: recorded, or moved back (a kill here leaves it moved and the
    // base not: rebasing again finishes it, its replay finding the rest).
    let recorded = crate::interrupt::checkpoint("rebase:moved")
        .and_then(|()| record(repo, &entry, base, onto, new_tip, commits, violations.len()));
    if let Err(err) = recorded {
        repo.move_checkout(&checkout, &branch, new_tip, tip, &sandbox)?;
        return Err(err.context(format!("worker '{id}' was moved back; nothing was rebased")));
    }
    if facts.isolation == crate::local::CLONE {
        refresh_clone_entry(repo, &worker, id)?;
        refresh_inbox_branch(repo, &branch, tip, new_tip)?;
    }
    eprintln!(
        "rebased worker '{id}' onto {} ({commits} commit(s)); it reports again from there",
        short(&onto.to_string())
    );
    if violations.is_empty() {
        return Ok(Outcome::Success);
    }
    eprintln!(
        "error: on its new base, worker '{id}' touches {} path(s) outside its contract:",
        violations.len()
    );
    eprint!("{}", enforce::explain(&violations, &moved));
    Ok(Outcome::CheckFailed)
}

/// A trusted clone's own copy of its entry, as spawn gave it: moved to the
/// coordinator's, in-process (nothing of the clone's config or hooks runs),
/// unless the clone has events it has not sent yet (its next sync merges).
fn refresh_clone_entry(repo: &Repo, worker: &Repo, id: &str) -> Result<()> {
    let refname = registry::live_ref(id);
    let Some(ours) = repo.ref_target(&refname)? else {
        return Ok(());
    };
    let theirs = worker.ref_target(&refname)?;
    if let Some(theirs) = theirs
        && !repo.is_ancestor(theirs, ours).unwrap_or(false)
    {
        eprintln!(
            "note: the clone of '{id}' has events it has not sent: it learns of the rebase when it syncs"
        );
        return Ok(());
    }
    if worker.cas_ref(&refname, ours, theirs, "git-worker: rebase")? != crate::git::Cas::Updated {
        eprintln!("note: the clone of '{id}' learns of the rebase when it syncs");
    }
    Ok(())
}

/// A trusted clone's branch in the inbox (and this repository's copy of
/// it): moved from `old` to the rebased `new` in-process, so that the
/// worker's next sync of its rebased branch is a fast-forward there.
fn refresh_inbox_branch(repo: &Repo, branch: &str, old: Oid, new: Oid) -> Result<()> {
    let inbox = local::inbox_path(repo);
    if let Ok(hub) = Repo::open(&inbox)
        && hub.ref_target(branch)? == Some(old)
    {
        // A lost race: the worker's next sync says what it found.
        let _ = hub.cas_ref(branch, new, Some(old), "git-worker: rebase")?;
    }
    let tracking = format!(
        "refs/remotes/{}/{}",
        local::INBOX_REMOTE,
        branch.trim_start_matches("refs/heads/")
    );
    if repo.ref_target(&tracking)? == Some(old) {
        let _ = repo.cas_ref(&tracking, new, Some(old), "git-worker: rebase")?;
    }
    Ok(())
}

/// Everything checked before anything moves: the worker, its checkout here
/// (clean), the commit to move onto. `None` when it is there already.
fn target(repo: &Repo, id: &str, onto: Option<&str>) -> Result<Option<Target>> {
    validate_id(id)?;
    let Some(entry) = registry::load(repo, id)? else {
        return Err(Hint::new(format!("worker '{id}' is not registered"))
            .hint("`git worker list` shows the registered workers")
            .into());
    };
    if matches!(
        entry.status.state,
        State::Spawning | State::Applied | State::Removed
    ) {
        return Err(Hint::new(format!(
            "worker '{id}' is {}: there is nothing to rebase",
            entry.status.state
        ))
        .into());
    }
    let Some(facts) = local::load_local(repo, id)? else {
        return Err(
            Hint::new(format!("worker '{id}' has no checkout on this machine"))
                .hint("rebase it on the machine that spawned it")
                .into(),
        );
    };
    let (contract, _) = enforce::authoritative_contract(repo, &entry)?;
    let wanted = onto.unwrap_or("HEAD");
    let onto = repo.resolve_commit(wanted)?.ok_or_else(|| {
        anyhow::Error::from(
            Hint::new(format!("'{wanted}' is not a commit here"))
                .hint("pass --onto <commit>, a branch or a commit of this repository"),
        )
    })?;
    let base = Oid::from_str(&contract.base).context("bad base in the contract")?;
    let checkout = &facts.path;
    if !checkout.join(".git").exists() {
        return Err(Hint::new(format!(
            "the checkout of worker '{id}' ('{}') is gone",
            checkout.display()
        ))
        .hint("`git worker prune` tidies up after it")
        .into());
    }
    if onto == base {
        eprintln!(
            "worker '{id}' is based on {} already; nothing to do",
            short(&onto.to_string())
        );
        return Ok(None);
    }
    if Repo::checkout_is_dirty(checkout)? {
        return Err(Hint::new(format!(
            "worker '{id}' has uncommitted changes in '{}'; nothing was rebased",
            checkout.display()
        ))
        .hint("the worker commits them first (its commits are what moves), then rebase again")
        .into());
    }
    Ok(Some(Target {
        entry,
        facts,
        contract,
        onto,
        base,
    }))
}

/// The `rebased` event, with the contract's new base, here and in the
/// contract this machine holds. A rebase answers a worker blocked on
/// asking for one (`git worker notify --rebase`), and what it reported was
/// on the old base: it is active again.
fn record(
    repo: &Repo,
    entry: &crate::registry::Entry,
    base: Oid,
    onto: Oid,
    tip: Oid,
    commits: usize,
    violations: usize,
) -> Result<()> {
    let reason = format!("rebased onto {}: report again", short(&onto.to_string()));
    registry::update(repo, &entry.refname, |entry| {
        let mut contract = entry.contract.clone();
        contract.base = onto.to_string();
        let mut change = Change::new("rebased", Actor::Coordinator, State::Active)
            .reason(reason.clone())
            .with("from", base.to_string())
            .with("onto", onto.to_string())
            .with("tip", tip.to_string())
            .with("commits", commits)
            .with("violations", violations);
        change.contract = Some(contract);
        Ok(Some(change))
    })?;
    local::update_pinned_contract(repo, entry.id(), |pinned| pinned.base = onto.to_string())?;
    Ok(())
}
