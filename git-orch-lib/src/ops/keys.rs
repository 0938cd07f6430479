//! Workers' signing keys: a joined worker makes its key where it runs
//! ([`join_key`]), and the coordinator admits it into the worker's contract
//! ([`admit`]); see [`crate::registry::trust`].

use anyhow::Result;

use crate::exit::Hint;
use crate::git::Repo;
use crate::git::sign::PublicKey;
use crate::local;
use crate::registry::{self, Actor, Change, Entry};

/// Parse `key`: an OpenSSH public key line, or the path of a `.pub` file.
pub fn parse_key(key: &str) -> Result<PublicKey> {
    let path = std::path::Path::new(key);
    if !key.starts_with("ssh-") && path.is_file() {
        let text = std::fs::read_to_string(path)?;
        return PublicKey::parse(&text);
    }
    PublicKey::parse(key)
}

/// Record `key` as worker `id`'s signing key: an `admitted` event, signed
/// by the coordinator, whose contract names it (and this machine's pinned
/// copy of the contract too).
pub fn admit(repo: &Repo, id: &str, key: &PublicKey) -> Result<Entry> {
    crate::contract::validate_id(id)?;
    let Some(entry) = registry::load(repo, id)? else {
        return Err(Hint::new(format!("worker '{id}' is not registered"))
            .hint("`git worker list` shows the registered workers")
            .into());
    };
    let line = key.openssh();
    if entry.contract.key == line {
        eprintln!("worker '{id}' has this key already ({})", key.fingerprint());
        return Ok(entry);
    }
    let entry = registry::update(repo, &entry.refname, |entry| {
        let mut contract = entry.contract.clone();
        contract.key = line.clone();
        let mut change = Change::new("admitted", Actor::Coordinator, entry.status.state)
            .with("fingerprint", key.fingerprint())
            .reason(entry.status.reason.clone());
        change.contract = Some(contract);
        Ok(Some(change))
    })?;
    local::update_pinned_contract(repo, id, |pinned| pinned.key = line)?;
    eprintln!(
        "admitted the key {} of worker '{id}'; `git worker sync` shares it",
        key.fingerprint()
    );
    Ok(entry)
}

/// List `key` as reviewer `name`'s in the registry's key record.
pub fn admit_reviewer(repo: &Repo, name: &str, key: &PublicKey) -> Result<()> {
    crate::contract::validate_id(name)?;
    registry::keys::add_reviewer(repo, name, key)?;
    let (_, coordinator) = local::coordinator_key()?;
    eprintln!(
        "admitted the key {} of reviewer '{name}': verdicts it signs count; `git worker sync` shares it",
        key.fingerprint()
    );
    eprintln!(
        "hint: in the reviewer's clone: git config orch.coordinatorKey '{}'",
        coordinator.openssh()
    );
    Ok(())
}

/// A joined worker's key on this host, made now if needed, and the
/// coordinator key it pins (from the registry's key record) when it has
/// none pinned yet. Returns the worker's public key.
pub fn join_key(repo: &Repo, id: &str) -> Result<PublicKey> {
    if local::pinned_coordinator_key(repo).is_none()
        && let Some(coordinator) = registry::keys::recorded_coordinator_key(repo)?
    {
        local::pin_coordinator_key(repo, &coordinator)?;
        eprintln!(
            "trusting the coordinator key {} recorded in {} (check it with the coordinator, or join with --coordinator-key)",
            coordinator.fingerprint(),
            registry::KEYS
        );
    }
    if local::pinned_coordinator_key(repo).is_none() {
        eprintln!(
            "warning: the registry has no key record ({}): it was written by a version that does not sign, and what this host reads cannot be checked until the coordinator writes with this version",
            registry::KEYS
        );
    }
    local::ensure_worker_key(repo, id)
}

/// `join --coordinator-key`: pin `key` (an OpenSSH line or a `.pub` file)
/// before anything is read. Returns it, and whether it was pinned now.
pub fn pin_given(repo: &Repo, key: Option<&str>) -> Result<Option<(PublicKey, bool)>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let given = parse_key(key)?;
    match local::pinned_coordinator_key(repo) {
        Some(pinned) if pinned != given => Err(Hint::new(format!(
            "this clone trusts the coordinator key {} already, not {}",
            pinned.fingerprint(),
            given.fingerprint()
        ))
        .into()),
        Some(_) => Ok(Some((given, false))),
        None => {
            local::pin_coordinator_key(repo, &given)?;
            Ok(Some((given, true)))
        }
    }
}

/// After the first fetch: the registry must record the key given to
/// [`pin_given`]; if not, the pin made then goes again.
pub fn check_given(
    repo: &Repo,
    (given, pinned_now): (PublicKey, bool),
    remote: &str,
) -> Result<()> {
    let recorded = registry::keys::recorded_coordinator_key(repo);
    let Ok(Some(recorded)) = recorded else {
        return Ok(());
    };
    if recorded == given {
        return Ok(());
    }
    if pinned_now {
        local::unpin_coordinator_key(repo);
    }
    Err(Hint::new(format!(
        "the registry on '{remote}' records the coordinator key {}, not {}",
        recorded.fingerprint(),
        given.fingerprint()
    ))
    .hint("check the key with the coordinator; a registry signed by another key is not the one you were given")
    .into())
}
