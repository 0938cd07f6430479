//! `git worker hook <name>`: what the shims in `hooks/` run, and
//! `git worker hub init`, which installs them in a shared repository.

use std::collections::HashMap;
use std::io::Read as _;

use anyhow::{Context as _, Result, bail};

use crate::cli::{HookArgs, HubInitArgs};
use orch::config::DEFAULT_PREFIX;
use orch::contract::Contract;
use orch::enforce;
use orch::exit::Outcome;
use orch::git::{Oid, Repo};
use orch::hooks;
use orch::policy::Policy;
use orch::registry::{self, ARCHIVE, WORKERS};
use orch::role::{Role, role};

pub fn hook(repo: &Repo, args: &HookArgs) -> Result<Outcome> {
    if hooks::is_chained(&args.name) {
        // Our shim, chained to by our shim: the work is already done.
        return Ok(Outcome::Success);
    }
    match args.name.as_str() {
        name @ ("pre-commit" | "pre-merge-commit") => pre_commit(repo, name, &args.args),
        "pre-receive" => pre_receive(repo, &args.args),
        name => chain(repo, name, &args.args, None),
    }
}

/// Run the repository's own hook and pass its status on.
fn chain(repo: &Repo, name: &str, args: &[String], stdin: Option<&[u8]>) -> Result<Outcome> {
    Ok(match hooks::run_original(repo, name, args, stdin)? {
        0 => Outcome::Success,
        code => Outcome::Code(u8::try_from(code).unwrap_or(1).max(1)),
    })
}

/// pre-commit, and pre-merge-commit (a merge commit runs no pre-commit).
fn pre_commit(repo: &Repo, name: &str, args: &[String]) -> Result<Outcome> {
    if let Role::Worker(id) = role(repo)? {
        // git lists the staged paths while the contract is read here.
        let staged = repo.start_staged_changes()?;
        let Some(entry) = registry::load(repo, &id)? else {
            eprintln!(
                "error: commit refused: this checkout belongs to worker '{id}', which is not registered"
            );
            eprintln!("hint: the coordinator may have removed it; ask the coordinator");
            return Ok(Outcome::CheckFailed);
        };
        let (contract, _) = enforce::authoritative_contract(repo, &entry)?;
        let policy = Policy::of(&contract)?;
        let violations = policy.check(&staged.finish(repo)?);
        if !violations.is_empty() {
            let count = violations.len();
            eprintln!(
                "error: commit refused: worker '{id}' may not change {count} of the staged paths:"
            );
            eprint!("{}", enforce::explain(&violations, &contract));
            eprintln!("hint: unstage them with `git restore --staged <path>...`");
            eprintln!(
                "hint: if the task needs them, ask the coordinator: git worker notify --level blocking \"<what you need and why>\""
            );
            return Ok(Outcome::CheckFailed);
        }
    }
    chain(repo, name, args, None)
}

/// One line of pre-receive input.
struct Update {
    old: Oid,
    new: Oid,
    refname: String,
}

fn pre_receive(repo: &Repo, args: &[String]) -> Result<Outcome> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read the pushed refs")?;
    let mut updates = Vec::new();
    for line in String::from_utf8_lossy(&input).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("unexpected pre-receive input: {line}");
        };
        updates.push(Update {
            old: Oid::from_str(old)?,
            new: Oid::from_str(new)?,
            refname: refname.to_string(),
        });
    }
    let refusals = judge_push(repo, &updates)?;
    if !refusals.is_empty() {
        for refusal in &refusals {
            eprintln!("error: {refusal}");
        }
        eprintln!(
            "hint: worker branches may only change the paths their contract allows (git worker check <id>)"
        );
        return Ok(Outcome::CheckFailed);
    }
    chain(repo, "pre-receive", args, Some(&input))
}

/// Every reason to refuse this push, one line each.
fn judge_push(repo: &Repo, updates: &[Update]) -> Result<Vec<String>> {
    let mut refusals = Vec::new();
    // Contracts by branch: the hub's registry, plus entries this push creates.
    let mut contracts: HashMap<String, Contract> = HashMap::new();
    for (name, tip) in repo.refs_under(WORKERS)? {
        if let Ok(entry) = registry::decode(repo, &name, tip) {
            contracts.insert(entry.contract.branch.clone(), entry.contract);
        }
    }
    for update in updates
        .iter()
        .filter(|u| u.refname.starts_with(WORKERS) && u.old.is_zero() && !u.new.is_zero())
    {
        match registry::decode(repo, &update.refname, update.new) {
            // A new entry may not take over a branch another contract governs.
            Ok(entry) => match contracts.get(&entry.contract.branch) {
                Some(other) if other.id != entry.contract.id => refusals.push(format!(
                    "{}: claims branch '{}', which the contract of worker '{}' governs",
                    update.refname, entry.contract.branch, other.id
                )),
                _ => {
                    contracts.insert(entry.contract.branch.clone(), entry.contract);
                }
            },
            Err(err) => refusals.push(format!("{}: {err:#}", update.refname)),
        }
    }
    let prefix = repo
        .config_string(orch::config::KEY_PREFIX)?
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());

    for update in updates {
        let name = &update.refname;
        if name.starts_with("refs/orch/") {
            if let Some(refusal) = judge_registry_update(repo, update, updates)? {
                refusals.push(refusal);
            }
        } else if let Some(branch) = name.strip_prefix("refs/heads/") {
            if update.new.is_zero() {
                continue;
            }
            match contracts.get(branch) {
                Some(contract) => refusals.extend(judge_branch(repo, name, contract, update.new)?),
                None if !prefix.is_empty() && branch.starts_with(&prefix) => refusals.push(format!(
                    "{name}: no worker contract names branch '{branch}'; push the registry (refs/orch/*) first"
                )),
                None => {}
            }
        }
    }
    Ok(refusals)
}

fn judge_branch(repo: &Repo, refname: &str, contract: &Contract, new: Oid) -> Result<Vec<String>> {
    let Ok(base) = Oid::from_str(&contract.base) else {
        return Ok(vec![format!(
            "{refname}: the contract of '{}' has no valid base",
            contract.id
        )]);
    };
    let changes = match enforce::range_changes(repo, base, new) {
        Ok(changes) => changes,
        Err(err) => {
            return Ok(vec![format!(
                "{refname}: cannot compare with the base of '{}': {err:#}",
                contract.id
            )]);
        }
    };
    let violations = Policy::of(contract)?.check(&changes);
    let allowed = if contract.allow.is_empty() {
        "everything".to_string()
    } else {
        contract.allow.join(" ")
    };
    Ok(violations
        .iter()
        .map(|v| {
            format!(
                "{refname}: '{}' {}; {} (worker '{}', allowed: {allowed}{})",
                orch::policy::display_path(&v.path),
                v.kind.as_str(),
                v.reason(),
                contract.id,
                if contract.deny.is_empty() {
                    String::new()
                } else {
                    format!(", denied: {}", contract.deny.join(" "))
                },
            )
        })
        .collect())
}

/// The registry is append-only: fast-forwards and creations only; a
/// worker's log may only leave `refs/orch/workers/` for the archive, and a
/// contract never changes once recorded.
fn judge_registry_update(repo: &Repo, update: &Update, all: &[Update]) -> Result<Option<String>> {
    let name = &update.refname;
    if update.new.is_zero() {
        if let Some(id) = name.strip_prefix(WORKERS) {
            let archived = all.iter().any(|other| {
                other.refname.starts_with(&format!("{ARCHIVE}{id}/"))
                    && !other.new.is_zero()
                    && repo.is_ancestor(update.old, other.new).unwrap_or(false)
            });
            if archived {
                return Ok(None);
            }
            return Ok(Some(format!(
                "{name}: deleting the event log of worker '{id}' is not allowed (archive it with `git worker rm`)"
            )));
        }
        return Ok(Some(format!(
            "{name}: deleting registry refs is not allowed (refs/orch/ is append-only)"
        )));
    }
    if update.old.is_zero() {
        // A removed worker's log does not come back from a stale clone.
        if let Some(id) = name.strip_prefix(WORKERS)
            && registry::archived_past(repo, id, update.new)?
        {
            return Ok(Some(format!(
                "{name}: worker '{id}' was removed (its log is archived); it does not come back"
            )));
        }
        return Ok(None);
    }
    // A worker spawned again after removal replaces its old live entry,
    // whose history is in the archive.
    if let Some(id) = name.strip_prefix(WORKERS)
        && !repo.is_ancestor(update.old, update.new).unwrap_or(false)
        && !registry::archived_past(repo, id, update.new)?
    {
        // The archive is here already, or arrives in this same push.
        let archived_here = registry::archived_past(repo, id, update.old)?;
        let archived_now = all.iter().any(|other| {
            other.refname.starts_with(&format!("{ARCHIVE}{id}/"))
                && !other.new.is_zero()
                && repo
                    .merge_base(update.old, other.new)
                    .ok()
                    .flatten()
                    .is_some()
        });
        if archived_here || archived_now {
            return Ok(None);
        }
    }
    if !repo.is_ancestor(update.old, update.new).unwrap_or(false) {
        return Ok(Some(format!(
            "{name}: rewrites history (not a fast-forward; refs/orch/ is append-only)"
        )));
    }
    if name.starts_with(WORKERS) {
        let old = registry::decode(repo, name, update.old);
        let new = registry::decode(repo, name, update.new);
        match (old, new) {
            (Ok(old), Ok(new)) if old.contract != new.contract => {
                return Ok(Some(format!(
                    "{name}: changes the contract of worker '{}' (in: {}); contracts are set once, by the coordinator",
                    new.contract.id,
                    old.contract.differences(&new.contract).join(", ")
                )));
            }
            (_, Err(err)) => return Ok(Some(format!("{name}: {err:#}"))),
            _ => {}
        }
    }
    Ok(None)
}

pub fn hub_init(args: &HubInitArgs) -> Result<Outcome> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = orch::config::normalize(&cwd.join(&args.path));
    orch::ops::hub::prepare_hub(&path, Repo::discover().ok().as_ref())?;
    eprintln!("hub ready: pushes of worker branches are checked against their contracts");
    eprintln!("hint: git remote add hub {}", path.display());
    eprintln!("hint: git worker sync hub   (the registry first, then worker branches)");
    println!("{}", path.display());
    Ok(Outcome::Success)
}
