//! Journals of work in progress on this machine: spawns
//! (`orch/local/<id>.spawning`), removals (`orch/removing/`), applies
//! (`orch/apply/`) and review-gate runs (`orch/gate/`). A journal whose
//! process is gone is debris, for `git worker prune`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{
    files_with_extension, local_dir, process_alive, process_start, record_now, records,
    remove_file_if_exists, remove_record, tidy_local_dir, write_record,
};
use crate::git::Repo;

/// A spawn in progress on this machine: created exclusively, so it is also
/// the per-machine lock of the id. A crashed spawn leaves it behind for
/// `git worker prune`, which uses it to find the debris.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SpawnJournal {
    pub pid: u32,
    pub path: PathBuf,
    pub branch: String,
    /// Whether the spawn created the worktree directory's parent.
    #[serde(default)]
    pub created_parent: bool,
    /// Whether the spawn turned `extensions.worktreeConfig` on (recorded
    /// before it does, so a crash cannot hide it).
    #[serde(default)]
    pub enables_worktree_config: bool,
}

/// A `git review-gate run` in progress on this machine: its scratch clone
/// and pid, in `<common>/orch/gate/<name>.json` from before the clone is
/// made until it is removed, so a killed run's clone is found and removed
/// by `git worker prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRun {
    pub pid: u32,
    pub path: PathBuf,
}

fn gate_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("gate")
}

pub fn begin_gate_run(repo: &Repo, name: &str, run: &GateRun) -> Result<()> {
    write_record(&gate_dir(repo), name, run)
}

pub fn end_gate_run(repo: &Repo, name: &str) -> Result<()> {
    remove_record(&gate_dir(repo), name)
}

/// Every gate run recorded on this machine (live or killed), by name.
pub fn gate_runs(repo: &Repo) -> Result<Vec<(String, GateRun)>> {
    Ok(records(&gate_dir(repo)))
}

/// The gate run record `name`, if it is still there.
pub fn gate_run(repo: &Repo, name: &str) -> Option<GateRun> {
    record_now(&gate_dir(repo), name)
}

/// The removal journal of `id`, if there is one (running or killed).
pub fn removal_journal(repo: &Repo, id: &str) -> Option<RemovalJournal> {
    record_now(&removing_dir(repo), id)
}

/// A removal in progress on this machine (`git worker rm`, `cleanup`), in
/// `<common>/orch/removing/<id>.json`, from after rm's checks until the
/// worker is archived: readers skip a worker being removed (its checkout
/// disappears file by file), and `git worker prune` finishes a removal
/// whose process was killed, with the options it was started with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RemovalJournal {
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// The worker's log when the removal began: the removal is of that
    /// worker, not of one spawned again under its id since.
    #[serde(default)]
    pub entry: String,
    #[serde(default)]
    pub keep_branch: bool,
    /// How its commits are in HEAD, when cleanup decided it (see rm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<String>,
}

fn removing_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("removing")
}

pub fn begin_removal(repo: &Repo, id: &str, journal: &RemovalJournal) -> Result<()> {
    write_record(&removing_dir(repo), id, journal)
}

/// Begin the removal of `id` unless another live process is removing it
/// (then its journal): the check and the write under the machine lock, so
/// two removals of one worker (two cleanups, a cleanup and an rm) never
/// both go ahead, the second undoing the first's journal and telling of a
/// branch that "moved". A killed removal's journal is taken over.
pub fn claim_removal(
    repo: &Repo,
    id: &str,
    journal: &RemovalJournal,
) -> Result<std::result::Result<(), RemovalJournal>> {
    let _lock = repo.lock_machine()?;
    if let Some(other) = removal_journal(repo, id)
        && other.pid != std::process::id()
        && process_alive(other.pid, other.pid_start)
    {
        return Ok(Err(other));
    }
    begin_removal(repo, id, journal)?;
    Ok(Ok(()))
}

/// Take over the journal of a killed removal of `id`, read as `expected`,
/// as this process's own (`git worker prune` finishing it): the same
/// removal, by a live process, so that readers pass over the worker and an
/// rm started meanwhile leaves it alone. False if the journal is not that
/// one any more (another process took it over, or finished it).
pub fn take_over_removal(repo: &Repo, id: &str, expected: &RemovalJournal) -> Result<bool> {
    let _lock = repo.lock_machine()?;
    if removal_journal(repo, id).as_ref() != Some(expected) {
        return Ok(false);
    }
    let pid = std::process::id();
    let mine = RemovalJournal {
        pid,
        pid_start: process_start(pid),
        ..expected.clone()
    };
    begin_removal(repo, id, &mine)?;
    Ok(true)
}

pub fn end_removal(repo: &Repo, id: &str) -> Result<()> {
    remove_record(&removing_dir(repo), id)
}

/// Every removal journal on this machine (running or killed), by worker id.
pub fn removals(repo: &Repo) -> Vec<(String, RemovalJournal)> {
    records(&removing_dir(repo))
}

/// The removal of `id` by a process still running, if there is one.
pub fn removal_running(repo: &Repo, id: &str) -> Option<RemovalJournal> {
    removal_journal(repo, id).filter(|journal| process_alive(journal.pid, journal.pid_start))
}

/// A `git handoff apply` in progress on this machine, in
/// `<common>/orch/apply/<id>.json`: written before the patch touches the
/// checkout, updated once the commit is made, removed when the apply is
/// kept or rolled back. A killed apply leaves it behind, and
/// `git worker prune` (or the next apply) uses it to put the checkout back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ApplyJournal {
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// The checkout the handoff is applied in.
    #[serde(with = "path_text")]
    pub workdir: PathBuf,
    /// HEAD's branch (`refs/heads/...`), none when detached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// HEAD before the apply.
    pub head: String,
    /// The worker's log when the apply began: an `applied` event after it
    /// means the apply was kept.
    pub log_tip: String,
    /// The contract's base: the handoff's paths are its diff from here.
    pub base: String,
    /// The handoff commit, its fingerprint, and the commit that recorded it
    /// in the checkout (once made).
    pub handoff: String,
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<String>,
    /// The index's tree right after the patch went in: what a rollback
    /// may put back, and nothing that differs from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<String>,
}

/// A path in JSON: a string when it is UTF-8, else its bytes.
mod path_text {
    use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Text {
        Utf8(String),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(path: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
        match path.to_str() {
            Some(text) => Text::Utf8(text.to_string()),
            None => Text::Bytes(path.as_os_str().as_bytes().to_vec()),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(match Text::deserialize(d)? {
            Text::Utf8(text) => PathBuf::from(text),
            Text::Bytes(bytes) => PathBuf::from(std::ffi::OsString::from_vec(bytes)),
        })
    }
}

/// The claim on applying `id` on this machine: `journal` written to
/// `apply/<id>.json` only if no such journal exists (written aside, then
/// hard-linked into place, so no reader ever sees it half-written). The
/// journal that is there instead, if any. Dropping the claim removes the
/// journal; a killed process leaves it for recovery.
pub fn claim_apply(
    repo: &Repo,
    id: &str,
    journal: &ApplyJournal,
) -> Result<std::result::Result<ApplyClaim, ApplyJournal>> {
    let dir = apply_dir(repo);
    let path = dir.join(format!("{id}.json"));
    let aside = dir.join(format!(".{id}.{}.claim", std::process::id()));
    crate::fs::write_atomically(&aside, &serde_json::to_vec(journal)?)?;
    let linked = std::fs::hard_link(&aside, &path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(Ok(ApplyClaim {
            dir,
            id: id.to_string(),
        })),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let there = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
            Ok(Err(there))
        }
        Err(err) => Err(err).with_context(|| format!("cannot write '{}'", path.display())),
    }
}

/// See [`claim_apply`].
#[must_use]
pub struct ApplyClaim {
    dir: PathBuf,
    id: String,
}

impl Drop for ApplyClaim {
    fn drop(&mut self) {
        if let Err(err) = remove_record(&self.dir, &self.id) {
            eprintln!("warning: {err:#}");
        }
    }
}

impl ApplyJournal {
    /// The journal of an apply by this process in `workdir`, the rest to
    /// be filled in.
    pub fn begun(workdir: PathBuf) -> ApplyJournal {
        ApplyJournal {
            pid: std::process::id(),
            pid_start: process_start(std::process::id()),
            workdir,
            ..Default::default()
        }
    }

    /// Whether the process that wrote it is still at work.
    pub fn running(&self) -> bool {
        process_alive(self.pid, self.pid_start)
    }
}

fn apply_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("apply")
}

pub fn write_apply_journal(repo: &Repo, id: &str, journal: &ApplyJournal) -> Result<()> {
    write_record(&apply_dir(repo), id, journal)
}

pub fn end_apply(repo: &Repo, id: &str) -> Result<()> {
    remove_record(&apply_dir(repo), id)
}

/// The apply journal of `id` on this machine, if there is one.
pub fn apply_journal(repo: &Repo, id: &str) -> Option<ApplyJournal> {
    record_now(&apply_dir(repo), id)
}

/// Every apply journal on this machine (running or killed), by worker id. A
/// file that cannot be read (hand-edited: it is written by rename) gives a
/// journal with pid 0 and no head, which prune drops.
pub fn apply_journals(repo: &Repo) -> Result<Vec<(String, ApplyJournal)>> {
    Ok(records(&apply_dir(repo)))
}

pub fn journal_path(repo: &Repo, id: &str) -> PathBuf {
    local_dir(repo).join(format!("{id}.spawning"))
}

/// Ids with a spawn journal on this machine.
pub fn journal_ids(repo: &Repo) -> Result<Vec<String>> {
    files_with_extension(&local_dir(repo), "spawning")
}

/// Take the spawn lock of `id` on this machine. `Err(Some(journal))` when
/// another spawn holds it (alive or crashed).
pub fn begin_spawn(
    repo: &Repo,
    id: &str,
    journal: &SpawnJournal,
) -> Result<std::result::Result<(), SpawnJournal>> {
    let path = journal_path(repo, id);
    let text = toml::to_string(journal).context("cannot encode spawn journal")?;
    // A finishing spawn removes the directory once it is empty, possibly
    // between our create_dir_all and open: then create it again.
    let mut opened = Err(std::io::Error::from(std::io::ErrorKind::NotFound));
    for _ in 0..100 {
        match std::fs::create_dir_all(local_dir(repo)) {
            Ok(()) => {}
            // It existed when we tried and was gone when std checked: the
            // same race, the other way round.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot create '{}'", local_dir(repo).display()));
            }
        }
        opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        if !matches!(&opened, Err(err) if err.kind() == std::io::ErrorKind::NotFound) {
            break;
        }
    }
    match opened {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write '{}'", path.display()))?;
            Ok(Ok(()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => match read_journal(&path)? {
            Some(other) => Ok(Err(other)),
            // The other spawn has not written its journal yet: it is alive.
            None => Ok(Err(SpawnJournal::default())),
        },
        Err(err) => Err(err).with_context(|| format!("cannot create '{}'", path.display())),
    }
}

pub fn update_journal(repo: &Repo, id: &str, journal: &SpawnJournal) -> Result<()> {
    let text = toml::to_string(journal).context("cannot encode spawn journal")?;
    crate::fs::write_atomically(&journal_path(repo, id), text.as_bytes())
}

pub fn read_journal(path: &Path) -> Result<Option<SpawnJournal>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(toml::from_str(&text).ok()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read '{}'", path.display())),
    }
}

pub fn end_spawn(repo: &Repo, id: &str) -> Result<()> {
    remove_file_if_exists(&journal_path(repo, id))?;
    tidy_local_dir(repo)
}
