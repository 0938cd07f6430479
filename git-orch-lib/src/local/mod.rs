//! Machine-local state: everything under `<git-common-dir>/orch/`, the one
//! place for files that only hold on this machine (absolute checkout paths,
//! pids, journals of work in progress) and are never shared through a
//! remote. The refs under `refs/orch/` are [`crate::registry`]'s.
//!
//! By topic: [`facts`] (each worker's checkout path and pinned contract),
//! [`journal`] (spawns, removals, applies and gate runs in progress),
//! [`agent`] (launched agents) and [`process`] (liveness of recorded pids).
//! Records are written atomically (temporary file, then rename).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::git::Repo;

/// The version of the machine-local files this binary writes.
pub const FORMAT: u32 = 1;

pub mod agent;
pub mod facts;
pub mod journal;
pub mod keys;
pub mod process;

pub use agent::*;
pub use facts::*;
pub use journal::*;
pub use keys::*;
pub use process::*;

/// Where the hook shims live for every worker checkout of this repository
/// (`core.hooksPath` in each worker's own config points here; see
/// [`crate::hooks`]).
pub fn hooks_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("hooks")
}

/// Remove the shims once no worker on this machine uses them: the
/// directory holds nothing but shims (and their temporary files).
fn remove_hook_shims(repo: &Repo) {
    let dir = hooks_dir(repo);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = std::fs::remove_dir(&dir);
}

/// Decoded registry entries, keyed by ref and tip (derived data: see
/// [`crate::registry::list`]).
pub fn cache_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("cache.json")
}

/// Registry commits this machine checked and found entitled, each with
/// the kind of ref it was checked for, under `stamp` (the keys they were
/// checked against): derived data, see [`crate::registry::trust`]. A
/// missing, unreadable or differently stamped file is an empty set.
pub fn read_checked(repo: &Repo, stamp: &str) -> Vec<(String, crate::git::Oid)> {
    let Ok(text) = std::fs::read_to_string(checked_path(repo)) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some(stamp) {
        return Vec::new();
    }
    lines
        .filter_map(|line| {
            let (oid, class) = line.split_once(' ')?;
            Some((class.to_string(), crate::git::Oid::from_str(oid).ok()?))
        })
        .collect()
}

/// Replace the set [`read_checked`] reads.
pub fn write_checked(
    repo: &Repo,
    stamp: &str,
    checked: &[(String, crate::git::Oid)],
) -> Result<()> {
    let mut text = format!("{stamp}\n");
    for (class, oid) in checked {
        text.push_str(&format!("{oid} {class}\n"));
    }
    crate::fs::write_atomically(&checked_path(repo), text.as_bytes())
}

fn checked_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("checked")
}

pub fn local_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("local")
}

/// The hub clone workers push to (`spawn --isolation clone`): a bare
/// repository inside this one, borrowing its objects, whose pre-receive
/// checks every push, so a worker's clone never writes this repository's
/// refs. The coordinator collects from it with `git worker sync orch-inbox`.
pub fn inbox_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("inbox.git")
}

/// The remote name of [`inbox_path`] in the coordinator's repository.
pub const INBOX_REMOTE: &str = "orch-inbox";

/// `<dir>/<name>.json`, written atomically: the records of machine-local
/// work in progress (gate runs, applies).
fn write_record(dir: &Path, name: &str, record: &impl Serialize) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    crate::fs::write_atomically(
        &dir.join(format!("{name}.json")),
        &serde_json::to_vec(record)?,
    )
}

/// Remove `<dir>/<name>.json`, then `dir` and its parent (`orch/`) if that
/// leaves them empty (a writer meanwhile makes them again:
/// [`crate::fs::write_atomically`] retries).
fn remove_record(dir: &Path, name: &str) -> Result<()> {
    remove_file_if_exists(&dir.join(format!("{name}.json")))?;
    if std::fs::remove_dir(dir).is_ok()
        && let Some(orch) = dir.parent()
    {
        let _ = std::fs::remove_dir(orch);
    }
    Ok(())
}

/// Every record in `dir`, by name, sorted. One that cannot be read gives
/// the default value (pid 0): debris, never an error. One that is gone by
/// the time it is read was finished meanwhile (its work ended and removed
/// it after the directory was listed): it is not there, and not debris.
fn records<T: serde::de::DeserializeOwned + Default>(dir: &Path) -> Vec<(String, T)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        if let Some(record) = record_now(dir, name) {
            out.push((name.to_string(), record));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The record `<dir>/<name>.json` as it is now: `None` once it is gone,
/// the default value (pid 0) if it cannot be read. A reader that found a
/// record's process dead asks again: a process that removed its record and
/// exited between the two reads finished, and left nothing behind.
fn record_now<T: serde::de::DeserializeOwned + Default>(dir: &Path, name: &str) -> Option<T> {
    match std::fs::read(dir.join(format!("{name}.json"))) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        read => Some(
            read.ok()
                .and_then(|bytes| serde_json::from_slice::<T>(&bytes).ok())
                .unwrap_or_default(),
        ),
    }
}

/// Held while spawns with a capacity limit count and claim their places.
pub struct CapacityLock {
    _file: std::fs::File,
}

pub fn lock_capacity(repo: &Repo) -> Result<CapacityLock> {
    let dir = repo.common_dir().join("orch");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    let path = dir.join("capacity.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open '{}'", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock '{}'", path.display()))?;
    Ok(CapacityLock { _file: file })
}

fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(err) => return Err(err).with_context(|| format!("cannot read '{}'", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(ext)
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && !stem.starts_with('.')
        {
            out.push(stem.to_string());
        }
    }
    out.sort();
    Ok(out)
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove '{}'", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_gone_before_it_is_read_is_skipped_and_garbage_is_debris() {
        let dir = tempfile::tempdir().unwrap();
        let record = GateRun {
            pid: 7,
            path: "/scratch/orch-gate-1".into(),
        };
        write_record(dir.path(), "live", &record).unwrap();
        std::fs::write(dir.path().join("garbage.json"), b"{not json").unwrap();
        // Listed by read_dir, gone when read: what a record removed by its
        // run between the two looks like.
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("gone.json"))
            .unwrap();
        assert_eq!(
            records::<GateRun>(dir.path()),
            [
                ("garbage".to_string(), GateRun::default()),
                ("live".to_string(), record)
            ]
        );
    }
}
