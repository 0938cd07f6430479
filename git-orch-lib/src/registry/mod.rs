//! The registry: the one place that owns the `refs/orch/` format.
//!
//! Every worker is a ref, `refs/orch/workers/<id>`, whose commit history is
//! the worker's append-only event log (one commit per event, the event as
//! JSON in the commit message) and whose tip tree holds the worker's current
//! contract and state:
//!
//! ```text
//! refs/orch/workers/<id>          live entry
//!   <tip>^{tree}/format           "1": the format version of this entry
//!   <tip>^{tree}/contract.toml    the task contract (base sha, globs, verify, ...)
//!   <tip>^{tree}/state.toml       state, reason, times, Lamport clock
//! refs/orch/archive/<id>/<sha>    history of a removed worker (tip = its last event)
//! ```
//!
//! Every write builds a new commit on top of the tip it read and moves the
//! ref with a compare-and-swap update, retried with jittered backoff on a
//! lost race, so concurrent writers never lose an event. Each event carries a
//! Lamport clock (one more than the highest parent), so logs appended on two
//! machines can later be merged with a merge commit and replayed in a stable
//! order. Machine-local facts (absolute worktree paths, pids) never enter the
//! refs: they live under `<git-common-dir>/orch/`, in [`crate::local`]. The
//! full format is documented in `docs/registry-format.md`.
//!
//! This is the only module that spells a `refs/orch/` name. By topic:
//! [`model`] (states, events, entries), [`log`] (reading and appending
//! worker logs), [`handoff`], [`task`] (planned tasks), [`verdict`] (review
//! verdicts as notes), [`merge`] (joining what two machines wrote) and
//! [`rules`] (what a shared hub accepts).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit::Hint;

pub mod decode;
pub mod handoff;
pub mod keys;
pub mod log;
pub mod merge;
pub mod model;
pub mod rules;
pub mod task;
pub mod trust;
pub mod verdict;
pub mod worker;

pub use decode::*;
pub use handoff::*;
pub use log::*;
pub use merge::*;
pub use model::*;
pub use task::*;
pub use verdict::*;
pub use worker::{
    MAX_REFUSED_PATHS, WorkerEvent, append_outbox, outbox_since, state_before_blocking,
};

/// The registry format this binary writes. It reads this version and every older one.
pub const FORMAT: u32 = 2;
/// Where every registry ref lives.
pub const NAMESPACE: &str = "refs/orch/";
/// Notes refs (review verdicts), under git's notes layout.
pub const NOTES: &str = "refs/orch/notes/";

pub const WORKERS: &str = "refs/orch/workers/";

pub const ARCHIVE: &str = "refs/orch/archive/";

pub const HANDOFFS: &str = "refs/orch/handoffs/";

/// Manifests of exported handoff bundles (`git handoff export`).
pub const EXPORTS: &str = "refs/orch/exports/";

/// The refspec that shares the whole registry through a remote.
pub const REFSPEC: &str = "+refs/orch/*:refs/orch/*";

/// Attempts of a compare-and-swap write before giving up.
const CAS_ATTEMPTS: u32 = 200;

/// 64 random bits as hex, from the OS-seeded hasher keys std uses for HashMap.
pub fn event_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// The worker id a registry ref names (`refs/orch/workers/<id>` or
/// `refs/orch/archive/<id>/<sha>`).
pub fn id_of_ref(refname: &str) -> Option<&str> {
    refname.strip_prefix(WORKERS).or_else(|| {
        refname
            .strip_prefix(ARCHIVE)
            .and_then(|rest| rest.split('/').next())
    })
}

/// The error of a command that read worker `id`, then found it removed
/// (by another process) when it came to change it.
pub fn removed_meanwhile(id: &str) -> anyhow::Error {
    Hint::new(format!("worker '{id}' was removed meanwhile"))
        .hint(format!("its history: git worker show {id}"))
        .into()
}

/// Where `git worker sync` stages what it fetched from `remote` (outside
/// `refs/orch/`, so a sync never fetches or pushes its own staging refs).
pub fn sync_staging(remote: &str) -> String {
    format!("refs/orch-sync/{}/", remote.replace(['/', ':'], "-"))
}

/// Where `git handoff import` stages a bundle's refs for worker `id`.
pub fn import_staging(id: &str) -> String {
    format!("{NAMESPACE}importing/{id}/")
}

/// Where a sandboxed worker writes its events, in its own clone (see
/// [`worker`]); the coordinator never has this ref.
pub const OUTBOX: &str = "refs/orch/outbox/";

pub fn outbox_ref(id: &str) -> String {
    format!("{OUTBOX}{id}")
}

pub fn live_ref(id: &str) -> String {
    format!("{WORKERS}{id}")
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sleep a little longer after each lost race, with jitter so that racing
/// writers spread out (libgit2 fails at once on a held lock; git waits).
pub fn backoff(attempt: u32) {
    let seed = u64::from(std::process::id())
        ^ SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt);
    x ^= x >> 29;
    let cap = 200u64.min(1u64 << attempt.min(7)) * 1000; // up to 128 ms
    std::thread::sleep(Duration::from_micros(500 + x % cap));
}

pub fn handoff_ref(id: &str) -> String {
    format!("{HANDOFFS}{id}")
}

/// Planned tasks: one ref each, a commit whose tree holds `task.toml`.
pub const TASKS: &str = "refs/orch/tasks/";

pub fn task_ref(id: &str) -> String {
    format!("{TASKS}{id}")
}

/// The registry's key record: the coordinator's public key, and the
/// unsigned tips it had before its first signed write (see [`trust`]).
pub const KEYS: &str = "refs/orch/keys";

/// Review verdicts, as a notes ref: `git -c core.notesRef=refs/orch/notes/verdicts
/// log refs/orch/handoffs/<id>` shows them beside the handoffs they judge.
pub const VERDICTS: &str = "refs/orch/notes/verdicts";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_unique() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| event_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 16));
    }
}
