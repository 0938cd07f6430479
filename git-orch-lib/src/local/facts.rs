//! `<common>/orch/local.json`: each worker's checkout on this machine and
//! the contract this coordinator pinned at spawn.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{local_dir, remove_file_if_exists, remove_hook_shims};
use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::Repo;

/// The isolation of a sandboxed worker, in its facts.
pub const SANDBOX: &str = "sandbox";

/// The isolation of a worker in a clone of its own (trusted), in its facts.
pub const CLONE: &str = "clone";

/// Facts about a worker that only hold on this machine. Kept out of the refs
/// so that a fetch of `refs/orch/*` never carries another machine's paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Local {
    /// Absolute path of the worker's checkout.
    pub path: PathBuf,
    /// Name of its linked worktree under `<git-common-dir>/worktrees/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub worktree: String,
    /// The contract as this coordinator recorded it at spawn: the authority
    /// when the one in the refs differs (say, after a fetch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// `clone` for a worker in its own clone (`spawn --isolation clone`),
    /// `sandbox` for a sandboxed one (`spawn --sandbox`); empty for a
    /// linked worktree.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    /// A sandboxed worker whose agent runs without the network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub network_off: bool,
    /// The first of its [`PORTS_PER_WORKER`] ports (`ORCH_PORT`), free
    /// again when it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// The ports each worker gets: `ORCH_PORT` to `ORCH_PORT + 9`.
pub const PORTS_PER_WORKER: u16 = 10;

/// The first port of the lowest slot of [`PORTS_PER_WORKER`] ports from
/// `base` that none of `workers` holds; `None` when every slot is taken.
fn free_port_slot(workers: &BTreeMap<String, Local>, base: u16) -> Option<u16> {
    let taken: std::collections::BTreeSet<u16> =
        workers.values().filter_map(|local| local.port).collect();
    (0..)
        .map_while(|slot: u32| {
            u16::try_from(u32::from(base) + slot * u32::from(PORTS_PER_WORKER))
                .ok()
                .filter(|port| port.checked_add(PORTS_PER_WORKER - 1).is_some())
        })
        .find(|port| !taken.contains(port))
}

/// `<common>/orch/local.json`: the machine-local facts of every worker on
/// this machine, in one file so `list` reads them with one read.
fn locals_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("local.json")
}

#[derive(Default, Serialize, Deserialize)]
struct LocalsFile {
    v: u32,
    workers: BTreeMap<String, Local>,
}

/// `local.json` decoded as `T` (a view of it), or `None` when there is none.
fn read_locals_file<T: serde::de::DeserializeOwned>(repo: &Repo) -> Result<Option<T>> {
    let path = locals_path(repo);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
            Hint::new(format!("cannot parse '{}': {err}", path.display()))
                .hint("it holds this machine's checkout paths; move it aside, then `git worker doctor` shows what is affected")
                .into()
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read '{}'", path.display())),
    }
}

/// The machine-local facts of every worker on this machine.
pub fn load_locals(repo: &Repo) -> Result<BTreeMap<String, Local>> {
    Ok(read_locals_file::<LocalsFile>(repo)?
        .map(|file| file.workers)
        .unwrap_or_default())
}

/// Only the checkout path of every worker on this machine (what `list`
/// needs), without decoding the pinned contracts.
pub fn load_local_paths(repo: &Repo) -> Result<BTreeMap<String, PathBuf>> {
    #[derive(Deserialize)]
    struct PathOnly {
        path: PathBuf,
    }
    #[derive(Deserialize)]
    struct PathsFile {
        workers: BTreeMap<String, PathOnly>,
    }
    Ok(read_locals_file::<PathsFile>(repo)?
        .map(|file| {
            file.workers
                .into_iter()
                .map(|(id, local)| (id, local.path))
                .collect()
        })
        .unwrap_or_default())
}

/// One worker's local facts. Only its entry is decoded: the pre-commit hook
/// reads this on every commit, and the file holds every worker's contract.
pub fn load_local(repo: &Repo, id: &str) -> Result<Option<Local>> {
    #[derive(Deserialize)]
    struct Raw {
        workers: BTreeMap<String, Box<serde_json::value::RawValue>>,
    }
    let Some(mut raw) = read_locals_file::<Raw>(repo)? else {
        return Ok(None);
    };
    raw.workers
        .remove(id)
        .map(|value| serde_json::from_str(value.get()))
        .transpose()
        .with_context(|| {
            format!(
                "cannot parse the local facts of '{id}' in '{}'",
                locals_path(repo).display()
            )
        })
}

/// Read-modify-write of the local facts, under the machine lock.
fn update_locals(repo: &Repo, change: impl FnOnce(&mut BTreeMap<String, Local>)) -> Result<()> {
    let _lock = repo.lock_machine()?;
    let mut workers = load_locals(repo)?;
    change(&mut workers);
    let path = locals_path(repo);
    if workers.is_empty() {
        return remove_file_if_exists(&path);
    }
    let json = serde_json::to_vec_pretty(&LocalsFile {
        v: super::FORMAT,
        workers,
    })
    .context("cannot encode local facts")?;
    crate::fs::write_atomically(&path, &json)
}

pub fn save_local(repo: &Repo, id: &str, local: &Local) -> Result<()> {
    update_locals(repo, |workers| {
        workers.insert(id.to_string(), local.clone());
    })
}

/// [`save_local`] of a new worker, with the lowest free slot of ports from
/// `base` (none when `base` is 0 or every slot is taken), chosen and
/// recorded in one read-modify-write under the machine lock, so two spawns
/// never take the same one. Returns its first port.
pub fn save_new_local(repo: &Repo, id: &str, local: &Local, base: u16) -> Result<Option<u16>> {
    let mut port = None;
    update_locals(repo, |workers| {
        let mut local = local.clone();
        workers.remove(id);
        port = (base != 0).then(|| free_port_slot(workers, base)).flatten();
        local.port = port;
        workers.insert(id.to_string(), local);
    })?;
    Ok(port)
}

pub fn remove_local(repo: &Repo, id: &str) -> Result<()> {
    update_locals(repo, |workers| {
        workers.remove(id);
    })?;
    update_trusted(repo, |trusted| {
        trusted.remove(id);
    })?;
    tidy_local_dir(repo)
}

/// `<common>/orch/trusted.json`: contracts the coordinator took as its own
/// for workers with no checkout here (`git handoff import
/// --trust-contract`), as authoritative as one pinned at spawn.
fn trusted_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("trusted.json")
}

fn load_trusted(repo: &Repo) -> Result<BTreeMap<String, Contract>> {
    let path = trusted_path(repo);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("cannot parse '{}'", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(err) => Err(err).with_context(|| format!("cannot read '{}'", path.display())),
    }
}

fn update_trusted(repo: &Repo, change: impl FnOnce(&mut BTreeMap<String, Contract>)) -> Result<()> {
    let _lock = repo.lock_machine()?;
    let mut trusted = load_trusted(repo)?;
    let before = trusted.len();
    change(&mut trusted);
    let path = trusted_path(repo);
    if trusted.is_empty() {
        return if before == 0 {
            Ok(())
        } else {
            remove_file_if_exists(&path)
        };
    }
    let json = serde_json::to_vec_pretty(&trusted).context("cannot encode trusted contracts")?;
    crate::fs::write_atomically(&path, &json)
}

/// Take `contract` as the authority for worker `id` on this machine.
pub fn trust_contract(repo: &Repo, id: &str, contract: &Contract) -> Result<()> {
    update_trusted(repo, |trusted| {
        trusted.insert(id.to_string(), contract.clone());
    })
}

/// The contract this machine holds as the authority for `id`: pinned at
/// spawn, or trusted on import.
pub fn pinned_contract(repo: &Repo, id: &str) -> Result<Option<Contract>> {
    if let Some(contract) = load_local(repo, id)?.and_then(|local| local.contract) {
        return Ok(Some(contract));
    }
    Ok(load_trusted(repo)?.remove(id))
}

/// Change the contract this machine holds as the authority for `id`
/// ([`pinned_contract`]) where it is held; `false` when it holds none.
pub fn update_pinned_contract(
    repo: &Repo,
    id: &str,
    change: impl FnOnce(&mut Contract),
) -> Result<bool> {
    if let Some(mut local) = load_local(repo, id)?
        && let Some(contract) = local.contract.as_mut()
    {
        change(contract);
        save_local(repo, id, &local)?;
        return Ok(true);
    }
    match load_trusted(repo)?.remove(id) {
        Some(mut contract) => {
            change(&mut contract);
            trust_contract(repo, id, &contract)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Once no worker is left on this machine (no local facts, no spawn in
/// progress), remove the hook shims and the `<common>/orch` directories, so
/// the repository is as it was. Under the machine lock, so a concurrent
/// spawn installing hooks is never undone.
pub(crate) fn tidy_local_dir(repo: &Repo) -> Result<()> {
    let _lock = repo.lock_machine()?;
    let local = local_dir(repo);
    let _ = std::fs::remove_dir(&local);
    // A bare repository's hooks are a hub's, not workers'.
    if !local.exists() && !locals_path(repo).exists() && !repo.is_bare() {
        remove_hook_shims(repo);
        if let Some(orch) = local.parent() {
            let _ = std::fs::remove_dir(orch);
        }
    }
    Ok(())
}

/// The sandboxed workers on this machine, with their facts (without
/// decoding the file when it names none: this is asked by every command
/// that reads workers).
pub fn sandboxed(repo: &Repo) -> Result<BTreeMap<String, Local>> {
    match std::fs::read(locals_path(repo)) {
        Ok(bytes) if bytes.windows(9).any(|w| w == b"\"sandbox\"") => {}
        _ => return Ok(BTreeMap::new()),
    }
    let mut locals = load_locals(repo)?;
    locals.retain(|_, local| local.isolation == crate::local::SANDBOX);
    Ok(locals)
}

/// Ids with local facts on this machine.
pub fn local_ids(repo: &Repo) -> Result<Vec<String>> {
    Ok(load_locals(repo)?.into_keys().collect())
}
