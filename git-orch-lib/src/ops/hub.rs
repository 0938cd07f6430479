//! Shared hubs: a bare repository whose hooks check every push against the
//! workers' contracts (`git worker hub init`, and the inbox of clone
//! workers).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::config::DEFAULT_PREFIX;
use crate::contract::Contract;
use crate::enforce;
use crate::exit::Hint;
use crate::git::{Oid, Repo};
use crate::hooks;
use crate::policy::Policy;
use crate::registry::{self, WORKERS, rules::Update};

/// Make `path` a hub (creating the bare repository if needed): the hub
/// hooks, chained to its own, receive and maintenance settings, and the
/// worker branch prefix of `coordinator`, if given.
pub fn prepare_hub(path: &Path, coordinator: Option<&Repo>) -> Result<()> {
    if !path.exists() {
        let parent = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create '{}'", parent.display()))?;
        crate::git::remote::init_bare(path)?;
    }
    let hub = Repo::open(path)?;
    if !hub.is_bare() {
        return Err(
            Hint::new(format!("'{}' is not a bare repository", path.display()))
                .hint("a hub receives pushes: create it with `git worker hub init <new-path>`")
                .into(),
        );
    }
    let dir = hooks::install(&hub, true)?;
    // A hooks directory the hub already had keeps running, chained.
    if let Some(existing) = hub.config_string("core.hooksPath")?
        && Path::new(&existing) != dir
        && hub.config_string(hooks::KEY_CHAINED)?.is_none()
    {
        hub.set_config(hooks::KEY_CHAINED, &existing)?;
        eprintln!("kept the hub's own hooks in '{existing}': they run after the contract checks");
    }
    hub.set_config("core.hooksPath", &dir.to_string_lossy())?;
    // Receive and maintenance settings for a shared registry: objects
    // checked on the way in, a reflog of every ref update (a bare
    // repository keeps none by default) to audit and recover from, and
    // housekeeping that packs the many small pushes (loose objects and refs).
    for (key, value) in [
        ("receive.fsckObjects", "true"),
        ("core.logAllRefUpdates", "always"),
        ("gc.auto", "1000"),
        ("gc.autoPackLimit", "20"),
        ("gc.packRefs", "true"),
    ] {
        hub.set_config(key, value)?;
    }
    // The hub has no working tree, so no .orch.toml: it learns the worker
    // branch prefix from the coordinator this runs in, if any.
    if let Some(coordinator) = coordinator
        && let Ok(settings) = crate::config::Settings::load(coordinator)
    {
        hub.set_config(crate::config::KEY_PREFIX, &settings.prefix)?;
    }
    // The coordinator's key: the hub refuses registry commits nobody
    // entitled signed (see registry::trust).
    if coordinator.is_some() {
        let (_, key) = crate::local::coordinator_key()?;
        let line = key.openssh();
        if !hub
            .config_multi(registry::keys::KEY_COORDINATOR)?
            .contains(&line)
        {
            hub.add_config(registry::keys::KEY_COORDINATOR, &line)?;
        }
    }
    Ok(())
}

/// Every reason to refuse this push, one line each.
pub fn judge_push(repo: &Repo, updates: &[Update]) -> Result<Vec<String>> {
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
        .config_string(crate::config::KEY_PREFIX)?
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());

    let mut verifier = registry::trust::Verifier::new(repo)?;
    for update in updates.iter().filter(|u| !u.new.is_zero()) {
        verifier.expect(&update.refname, update.new);
    }
    for update in updates {
        let name = &update.refname;
        if name.starts_with(registry::NAMESPACE) {
            if let Some(refusal) = registry::rules::judge_registry_update(repo, update, updates)? {
                refusals.push(refusal);
            } else if !update.new.is_zero()
                && let Err(why) = verifier.check(name, update.new)?
            {
                refusals.push(format!("{name}: {why}"));
            }
        } else if let Some(branch) = name.strip_prefix("refs/heads/") {
            if update.new.is_zero() {
                continue;
            }
            match contracts.get(branch) {
                Some(contract) => refusals.extend(judge_branch(repo, name, contract, update.new)?),
                None if !prefix.is_empty() && branch.starts_with(&prefix) => refusals.push(format!(
                    "{name}: no worker contract names branch '{branch}'; push the registry ({}*) first",
                    registry::NAMESPACE
                )),
                None => {}
            }
        }
    }
    Ok(refusals)
}

pub fn judge_branch(
    repo: &Repo,
    refname: &str,
    contract: &Contract,
    new: Oid,
) -> Result<Vec<String>> {
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
    let violations = Policy::of(contract, repo.folds_case()?)?
        .check(&changes, &repo.links_of(repo.commit_tree(new)?));
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
                crate::policy::display_path(&v.path),
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
