//! What a shared hub accepts of the registry: it is append-only.
//! Fast-forwards and creations only; a worker's log leaves
//! `refs/orch/workers/` only for the archive, a removed worker does not come
//! back, and a contract never changes once recorded.

use anyhow::Result;

use super::{ARCHIVE, NAMESPACE, WORKERS, archived_past, decode};
use crate::git::{Oid, Repo};

/// One line of pre-receive input.
pub struct Update {
    pub old: Oid,
    pub new: Oid,
    pub refname: String,
}

/// The registry is append-only: fast-forwards and creations only; a
/// worker's log may only leave `refs/orch/workers/` for the archive, and a
/// contract never changes once recorded.
pub fn judge_registry_update(
    repo: &Repo,
    update: &Update,
    all: &[Update],
) -> Result<Option<String>> {
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
            "{name}: deleting registry refs is not allowed ({NAMESPACE} is append-only)"
        )));
    }
    if update.old.is_zero() {
        // A removed worker's log does not come back from a stale clone.
        if let Some(id) = name.strip_prefix(WORKERS)
            && archived_past(repo, id, update.new)?
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
        && !archived_past(repo, id, update.new)?
    {
        // The archive is here already, or arrives in this same push.
        let archived_here = archived_past(repo, id, update.old)?;
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
            "{name}: rewrites history (not a fast-forward; {NAMESPACE} is append-only)"
        )));
    }
    if name.starts_with(WORKERS) {
        let old = decode(repo, name, update.old);
        let new = decode(repo, name, update.new);
        match (old, new) {
            // A key the coordinator admitted, a base it moved (its
            // signature is checked next, and a worker's commit may not
            // change the contract).
            (Ok(old), Ok(new)) if old.contract.changed_later(&new.contract) => {}
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
