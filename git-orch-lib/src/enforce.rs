//! Contracts enforced on real changes: what a worker changed since its
//! base, judged by the coordinator's copy of its contract.
//!
//! Hooks in a worker's checkout can be bypassed (`--no-verify`,
//! `-c core.hooksPath=/dev/null`, plumbing, libgit2 tools), so this is the
//! binding check: `git worker check`, the shared remote's pre-receive hook
//! and `git handoff` all call it on what is really there.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::{Oid, Repo};
use crate::local;
use crate::policy::{PathChange, Policy, Violation};
use crate::registry::Entry;

/// A worker's changes and what its contract says of them.
pub struct Judgement {
    pub id: String,
    /// The contract the changes were judged by.
    pub contract: Contract,
    pub changes: Vec<PathChange>,
    pub violations: Vec<Violation>,
    /// Fields in which the registry's contract differs from the one this
    /// coordinator recorded at spawn (then the recorded one was used).
    pub contract_mismatch: Vec<&'static str>,
}

/// The contract to enforce for `entry`: the copy this coordinator pinned in
/// its machine-local facts at spawn time, so a contract that arrives
/// through a fetch (or is rewritten in the refs) is reported, never
/// adopted. Returns the fields in which the registry's copy differs.
///
/// Without a pinned copy it is an error for the coordinator: the
/// registry's copy is the worker's to rewrite. A worker's own checkout
/// (its hook, its report, `check` there) reads the registry's copy: those
/// checks are advisory, and the coordinator judges again.
pub fn authoritative_contract(repo: &Repo, entry: &Entry) -> Result<(Contract, Vec<&'static str>)> {
    match local::pinned_contract(repo, entry.id())? {
        Some(pinned) => {
            let differences = pinned.differences(&entry.contract);
            Ok((pinned, differences))
        }
        None if matches!(crate::role::role(repo)?, crate::role::Role::Worker(_)) => {
            Ok((entry.contract.clone(), Vec::new()))
        }
        None => {
            let id = entry.id();
            Err(Hint::new(format!(
                "worker '{id}' has no contract pinned on this machine, and the registry's copy is not trusted"
            ))
            .hint("a worker's contract is pinned where it was spawned; judge and apply it there")
            .hint(format!(
                "for a handoff brought here: git handoff import --trust-contract <bundle> pins the bundle's contract (`git worker show {id}` shows it)"
            ))
            .into())
        }
    }
}

/// Everything the worker has changed since its base: the commits on its
/// branch and, when its checkout is on this machine, staged, unstaged and
/// untracked files there. Each path appears once.
pub fn worker_changes(
    repo: &Repo,
    contract: &Contract,
    checkout: Option<&Path>,
) -> Result<Vec<PathChange>> {
    let base = base_tree(repo, contract)?;
    let mut changes = Vec::new();
    if let Some(tip) = repo.ref_target(&format!("refs/heads/{}", contract.branch))? {
        changes = repo.diff_trees(Some(base), Some(repo.commit_tree(tip)?))?;
    }
    if let Some(checkout) = checkout.filter(|path| path.join(".git").exists()) {
        let worktree = Repo::open(checkout)?;
        changes.extend(worktree.diff_tree_to_workdir(Some(base))?);
    }
    Ok(dedup(changes))
}

/// Paths changed between two commits.
pub fn range_changes(repo: &Repo, from: Oid, to: Oid) -> Result<Vec<PathChange>> {
    repo.diff_trees(Some(repo.commit_tree(from)?), Some(repo.commit_tree(to)?))
}

fn base_tree(repo: &Repo, contract: &Contract) -> Result<Oid> {
    let base = Oid::from_str(&contract.base)
        .with_context(|| format!("bad base '{}' in the contract", contract.base))?;
    repo.commit_tree(base).with_context(|| {
        format!(
            "the base {} of worker '{}' is not in this repository",
            contract.base, contract.id
        )
    })
}

/// Keep the last change recorded for each path (the checkout's state wins
/// over the branch's), in path order.
fn dedup(changes: Vec<PathChange>) -> Vec<PathChange> {
    let mut by_path = std::collections::BTreeMap::new();
    for change in changes {
        by_path.insert(change.path.clone(), change);
    }
    by_path.into_values().collect()
}

/// Judge a live worker: its authoritative contract against its changes
/// (or against `range` when given).
pub fn judge(repo: &Repo, entry: &Entry, range: Option<(Oid, Oid)>) -> Result<Judgement> {
    let (contract, contract_mismatch) = authoritative_contract(repo, entry)?;
    let policy = Policy::of(&contract, repo.folds_case()?)?;
    let (changes, violations) = match range {
        Some((from, to)) => {
            let changes = range_changes(repo, from, to)?;
            let violations = policy.check(&changes, &repo.links_of(repo.commit_tree(to)?));
            (changes, violations)
        }
        None => {
            let checkout = local::load_local(repo, entry.id())?
                .map(|local| local.path)
                .filter(|path| path.join(".git").exists());
            let changes = worker_changes(repo, &contract, checkout.as_deref())?;
            let branch = repo.ref_target(&format!("refs/heads/{}", contract.branch))?;
            let violations = match (&checkout, branch) {
                // What is on disk is what a checkout of it would hold.
                (Some(path), _) => policy.check(&changes, &CheckoutLinks(path)),
                (None, Some(tip)) => policy.check(&changes, &repo.links_of(repo.commit_tree(tip)?)),
                (None, None) => policy.check(&changes, &crate::policy::NoLinks),
            };
            (changes, violations)
        }
    };
    Ok(Judgement {
        id: entry.id().to_string(),
        contract,
        changes,
        violations,
        contract_mismatch,
    })
}

/// The symlinks of a checkout on this machine, as its files have them.
pub struct CheckoutLinks<'a>(pub &'a Path);

impl crate::policy::Links for CheckoutLinks<'_> {
    fn target(&self, path: &[u8]) -> Option<Vec<u8>> {
        let file = self.0.join(crate::policy::to_path(path));
        if !file.symlink_metadata().ok()?.file_type().is_symlink() {
            return None;
        }
        Some(
            std::fs::read_link(file)
                .ok()?
                .into_os_string()
                .into_encoded_bytes(),
        )
    }
}

/// The refusal text for violations: each path with the rule it breaks, the
/// globs, and what to do.
pub fn explain(violations: &[Violation], contract: &Contract) -> String {
    let width = violations
        .iter()
        .map(|v| crate::policy::display_path(&v.path).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for violation in violations {
        out.push_str(&format!(
            "  {:<width$}  {}; {}\n",
            crate::policy::display_path(&violation.path),
            violation.kind.as_str(),
            violation.reason(),
        ));
    }
    let globs = |list: &[String]| {
        if list.is_empty() {
            "-".to_string()
        } else {
            list.join(" ")
        }
    };
    out.push_str(&format!(
        "allowed: {}\ndenied:  {}\n",
        if contract.allow.is_empty() {
            "everything".to_string()
        } else {
            globs(&contract.allow)
        },
        globs(&contract.deny)
    ));
    out
}
