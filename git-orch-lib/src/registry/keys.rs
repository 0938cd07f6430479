//! The keys behind the signatures: which key a registry write is signed
//! with, the registry's key record (`refs/orch/keys`), and the coordinator
//! keys a reader trusts. What a signature entitles its signer to is
//! [`super::trust`]'s.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::{KEYS, NAMESPACE};
use crate::git::sign::PublicKey;
use crate::git::{Oid, Repo, TreeEntry};
use crate::local;

/// The config key (multi-valued) of coordinator keys a hub trusts, set by
/// `git worker hub init`.
pub const KEY_COORDINATOR: &str = "orch.coordinatorKey";

/// Write a registry commit, signed by whoever this process writes as: the
/// coordinator's key, or the key of the worker whose checkout this is.
pub fn commit(repo: &Repo, tree: Oid, parents: &[Oid], message: &str) -> Result<Oid> {
    match signing_key(repo)? {
        Some(key) => repo.create_signed_commit(tree, parents, message, &key),
        None => repo.create_commit(tree, parents, message),
    }
}

/// The private key this process signs registry commits with.
fn signing_key(repo: &Repo) -> Result<Option<PathBuf>> {
    if repo.is_bare() {
        // A hub, or the inbox of clone workers: it receives, never writes.
        return Ok(None);
    }
    match crate::role::role(repo)? {
        crate::role::Role::Worker(id) => {
            let path = local::worker_key_path(repo, &id);
            Ok(path.is_file().then_some(path))
        }
        crate::role::Role::Coordinator => {
            if local::pinned_coordinator_key(repo).is_some() {
                // A joined worker's clone before it took its role: it
                // never writes as the coordinator.
                return Ok(None);
            }
            let (path, key) = local::coordinator_key()?;
            ensure_key_record(repo, &key, &path)?;
            Ok(Some(path))
        }
    }
}

/// `refs/orch/keys`: the coordinator's public key, for hosts that join
/// later, and the unsigned tips the registry had before its first signed
/// write (they stay readable). Made once, signed; later commits of it
/// (signed by the coordinator too) list reviewers.
fn ensure_key_record(repo: &Repo, key: &PublicKey, path: &std::path::Path) -> Result<()> {
    if repo.ref_target(KEYS)?.is_some() {
        return Ok(());
    }
    let mut legacy = String::new();
    for (name, tip) in repo.refs_under(NAMESPACE)? {
        if repo.commit_signature(tip)?.is_none() {
            legacy.push_str(&format!("{tip} {name}\n"));
        }
    }
    let mut tree = BTreeMap::new();
    tree.insert(
        "format".to_string(),
        TreeEntry::Blob(format!("{}\n", super::FORMAT).into_bytes()),
    );
    tree.insert(
        "coordinator".to_string(),
        TreeEntry::Blob(format!("{}\n", key.openssh()).into_bytes()),
    );
    if !legacy.is_empty() {
        eprintln!(
            "note: the registry was unsigned (format 1): its {} ref(s) are read as they are, as history from before signing; every new entry is signed",
            legacy.lines().count()
        );
        tree.insert("legacy".to_string(), TreeEntry::Blob(legacy.into_bytes()));
    }
    let tree = repo.write_tree(&tree)?;
    let commit = repo.create_signed_commit(tree, &[], "keys\n", path)?;
    // Another process may have written it first: theirs is as good.
    let _ = repo.cas_ref(KEYS, commit, None, "git-worker: keys")?;
    Ok(())
}

/// The coordinator keys this machine trusts: those configured
/// (`orch.coordinatorKey`: a hub's, a reviewer's clone, a CI job's) and
/// the one a joined worker pinned when it joined; when there are none,
/// this user's own (on the coordinator's machine).
pub fn anchors(repo: &Repo) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    for line in repo.config_multi(KEY_COORDINATOR)? {
        keys.push(PublicKey::parse(&line)?);
    }
    keys.extend(local::pinned_coordinator_key(repo));
    if keys.is_empty()
        && !repo.is_bare()
        && let Some(own) = local::coordinator_public_key()
    {
        keys.push(own);
    }
    Ok(keys)
}

/// The coordinator key a registry records (`refs/orch/keys`), as a new
/// host finds it; `None` for a registry that was never signed.
pub fn recorded_coordinator_key(repo: &Repo) -> Result<Option<PublicKey>> {
    let Some(tip) = repo.ref_target(KEYS)? else {
        return Ok(None);
    };
    let Some(text) = repo.tree_blob(repo.commit_tree(tip)?, "coordinator")? else {
        return Ok(None);
    };
    let key = PublicKey::parse(String::from_utf8_lossy(&text).lines().next().unwrap_or(""))?;
    // The record is signed by the key it names.
    match repo.commit_signature(tip)? {
        Some((signature, payload)) if key.verifies(&payload, &signature) => Ok(Some(key)),
        _ => anyhow::bail!("{KEYS} is not signed by the key it records: forged"),
    }
}

/// The reviewers a key record lists (`reviewers`: `<name> <OpenSSH key>`
/// per line): keys whose holders may record verdicts as the coordinator's
/// side, from machines of their own.
pub fn reviewers_in(repo: &Repo, record: Oid) -> Result<Vec<(String, PublicKey)>> {
    let Some(text) = repo.tree_blob(repo.commit_tree(record)?, "reviewers")? else {
        return Ok(Vec::new());
    };
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let (name, key) = line.split_once(' ')?;
            Some((name.to_string(), PublicKey::parse(key).ok()?))
        })
        .collect())
}

/// List `key` as reviewer `name` in the key record: a new commit of it,
/// signed by the coordinator (replacing a key `name` had).
pub fn add_reviewer(repo: &Repo, name: &str, key: &PublicKey) -> Result<()> {
    // Any write makes the record first.
    let (path, own) = local::coordinator_key()?;
    ensure_key_record(repo, &own, &path)?;
    for attempt in 0..super::CAS_ATTEMPTS {
        let tip = repo
            .ref_target(KEYS)?
            .ok_or_else(|| anyhow::anyhow!("{KEYS} is missing"))?;
        let mut lines: Vec<String> = reviewers_in(repo, tip)?
            .into_iter()
            .filter(|(other, _)| other != name)
            .map(|(other, key)| format!("{other} {}", key.openssh()))
            .collect();
        lines.push(format!("{name} {}", key.openssh()));
        let mut tree = BTreeMap::new();
        for entry in repo.read_tree(repo.commit_tree(tip)?)?.blobs {
            tree.insert(entry.0, TreeEntry::Blob(entry.1));
        }
        tree.insert(
            "reviewers".to_string(),
            TreeEntry::Blob(format!("{}\n", lines.join("\n")).into_bytes()),
        );
        let tree = repo.write_tree(&tree)?;
        let commit =
            repo.create_signed_commit(tree, &[tip], &format!("keys: reviewer {name}\n"), &path)?;
        if repo.cas_ref(KEYS, commit, Some(tip), "git-worker: reviewer")?
            == crate::git::Cas::Updated
        {
            return Ok(());
        }
        super::backoff(attempt);
    }
    anyhow::bail!("{KEYS} kept changing while adding reviewer '{name}'; try again")
}
