//! The worker's side: where a worker's commands (`report`, `notify`,
//! `inbox`, `current`) read the registry and write their events.
//!
//! A trusted worker (a linked worktree, or a clone that syncs) reads and
//! appends to its log itself. A sandboxed worker can write nothing but its
//! own clone: it reads the coordinator's registry (read-only; its clone
//! knows where it is, `orch.coordinator`), and writes its events to its
//! outbox, from which the coordinator takes them ([`super::collect`]).

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::exit::Hint;
use crate::git::Repo;
use crate::registry::{self, Entry, Logged, WorkerEvent};

/// Set in a sandboxed worker's clone: the coordinator's git directory.
pub const KEY_COORDINATOR: &str = "orch.coordinator";

/// Where a worker's commands read and write.
pub struct Side {
    /// The coordinator's repository, for a sandboxed worker (read-only).
    coordinator: Option<Repo>,
}

impl Side {
    /// The side of the worker whose checkout `repo` is.
    pub fn of(repo: &Repo) -> Result<Side> {
        let coordinator = match repo.worktree_config_string(KEY_COORDINATOR)? {
            Some(dir) if !dir.is_empty() => Some(Repo::open(&PathBuf::from(&dir)).with_context(|| {
                format!("this sandboxed worker's coordinator ('{dir}', {KEY_COORDINATOR}) cannot be read")
            })?),
            _ => None,
        };
        Ok(Side { coordinator })
    }

    /// Whether this worker is sandboxed (it writes its outbox).
    pub fn sandboxed(&self) -> bool {
        self.coordinator.is_some()
    }

    /// Where its registry entry is read: the coordinator's, for a sandboxed
    /// worker, else its own checkout's.
    pub fn registry<'a>(&'a self, own: &'a Repo) -> &'a Repo {
        self.coordinator.as_ref().unwrap_or(own)
    }

    /// The entry of worker `id`, or the error a worker's command gives.
    pub fn entry(&self, own: &Repo, id: &str) -> Result<Entry> {
        registry::load(self.registry(own), id)?.ok_or_else(|| {
            Hint::new(format!(
                "this checkout belongs to worker '{id}', which is not registered"
            ))
            .hint("the coordinator may have removed it; ask the coordinator")
            .into()
        })
    }

    /// Record `event` of worker `id`: in its log (trusted), or in its
    /// outbox in its own clone `own` (sandboxed).
    pub fn record(&self, own: &Repo, id: &str, event: &WorkerEvent) -> Result<()> {
        if self.sandboxed() {
            registry::append_outbox(own, id, event)?;
            return Ok(());
        }
        registry::update(own, &registry::live_ref(id), |entry| {
            Ok(Some(event.change(own, entry)?))
        })?;
        Ok(())
    }

    /// Events of worker `id` recorded but not yet taken by the coordinator
    /// (its outbox since the last one the log names), oldest first.
    pub fn pending(&self, own: &Repo, id: &str) -> Result<Vec<Logged>> {
        let Some(coordinator) = &self.coordinator else {
            return Ok(Vec::new());
        };
        let Some(tip) = own.ref_target(&registry::outbox_ref(id))? else {
            return Ok(Vec::new());
        };
        let since = match registry::load(coordinator, id)? {
            Some(entry) => super::collect::last_taken(coordinator, &entry)?,
            None => None,
        };
        Ok(registry::outbox_since(own, tip, since)?.unwrap_or_default())
    }
}

/// Record, in the log of worker `id` whose checkout `repo` is, that its own
/// check refused its change (`by`: `pre-commit` or `report`), naming the
/// paths at fault: the views then show it. A failure to record is said and
/// does not change the refusal.
pub fn record_refusal(repo: &Repo, id: &str, by: &str, paths: &[String]) {
    let event = WorkerEvent::Refused {
        by: by.to_string(),
        paths: paths
            .iter()
            .take(registry::MAX_REFUSED_PATHS)
            .cloned()
            .collect(),
        count: paths.len() as u64,
    };
    let recorded = Side::of(repo).and_then(|side| side.record(repo, id, &event));
    if let Err(err) = recorded {
        eprintln!("warning: the refusal is not in the log of '{id}': {err:#}");
    }
}
