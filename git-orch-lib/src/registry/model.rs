//! What the registry records: a worker's entry (contract and state), the
//! events of its log, and the changes that append them.

use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::git::Oid;

/// The lifecycle state of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// A spawn is in progress (or crashed: see `git worker prune`).
    Spawning,
    /// Spawned: the worker has its branch and checkout.
    Active,
    /// The worker stopped and asked for help (`git worker notify --level
    /// blocking`); the reason says what it needs. A message answers it.
    Blocked,
    /// The worker recorded a handoff (`git handoff report`).
    Reported,
    /// The coordinator applied the handoff and its verification passed.
    Applied,
    /// The coordinator rejected the handoff (verification failed, or by hand).
    Rejected,
    /// Removed; only archived entries are in this state.
    Removed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Spawning => "spawning",
            State::Active => "active",
            State::Blocked => "blocked",
            State::Reported => "reported",
            State::Applied => "applied",
            State::Rejected => "rejected",
            State::Removed => "removed",
        }
    }

    pub const ALL: &'static [State] = &[
        State::Spawning,
        State::Active,
        State::Blocked,
        State::Reported,
        State::Applied,
        State::Rejected,
        State::Removed,
    ];
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who wrote an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    Coordinator,
    Worker,
}

/// `state.toml`: the current state, derived from the events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    pub state: State,
    /// Why the worker is in this state (blocked reasons, removal reasons).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Unix time of the first event.
    pub created: i64,
    /// Unix time of the latest event.
    pub updated: i64,
    /// Lamport clock of the latest event.
    pub clock: u64,
}

/// One event of a worker's log, stored as JSON in the body of its commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Random, unique: two events are never the same commit, even with the
    /// same content in the same second (and merged logs can be deduplicated).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Format version of the event.
    pub v: u32,
    pub kind: String,
    /// Unix time.
    pub time: i64,
    pub actor: Actor,
    /// Lamport clock: one more than the highest clock of the parents.
    pub clock: u64,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// An event read back from the log, with the commit that holds it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub commit: Oid,
    pub author: String,
    pub event: Event,
}

/// A worker as the registry knows it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The ref that holds it (`refs/orch/workers/<id>` or an archive ref).
    pub refname: String,
    pub tip: Oid,
    pub format: u32,
    pub contract: Contract,
    pub status: Status,
}

impl Entry {
    pub fn id(&self) -> &str {
        &self.contract.id
    }
}

/// A new event to append, with the state it leads to.
pub struct Change {
    pub kind: &'static str,
    pub actor: Actor,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub state: State,
    pub reason: String,
    /// A replacement contract, if the event changes it.
    pub contract: Option<Contract>,
}

impl Change {
    pub fn new(kind: &'static str, actor: Actor, state: State) -> Change {
        Change {
            kind,
            actor,
            data: serde_json::Map::new(),
            state,
            reason: String::new(),
            contract: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Change {
        self.data.insert(key.to_string(), value.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Change {
        self.reason = reason.into();
        self
    }
}

/// What a verdict says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ruling {
    /// Every verification command passed (`git review-gate run`).
    Pass,
    /// A verification command failed or timed out.
    Fail,
    /// A reviewer approved the change.
    Approve,
    /// A reviewer rejected it, with findings.
    Reject,
}

impl Ruling {
    pub fn as_str(self) -> &'static str {
        match self {
            Ruling::Pass => "pass",
            Ruling::Fail => "fail",
            Ruling::Approve => "approve",
            Ruling::Reject => "reject",
        }
    }

    /// A verification run's verdict (else a reviewer's).
    pub fn is_run(self) -> bool {
        matches!(self, Ruling::Pass | Ruling::Fail)
    }

    /// A verdict against the change.
    pub fn is_negative(self) -> bool {
        matches!(self, Ruling::Fail | Ruling::Reject)
    }
}

impl std::fmt::Display for Ruling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One verdict: a line of JSON in the note of the commit it judges (a
/// worker's handoff commit, or a plain commit). Bound to the change by its
/// `base` and `tree`: a verdict counts only for that exact change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Unix time, seconds (first, so that git's `cat_sort_uniq` notes merge
    /// keeps the lines in time order).
    pub time: i64,
    /// Random, unique.
    pub id: String,
    /// Format version of the verdict.
    pub v: u32,
    pub ruling: Ruling,
    /// Who: `Name <email>` from git's identity, or `--reviewer`.
    pub by: String,
    /// `coordinator`, or `worker:<id>` for a reviewing worker.
    pub actor: String,
    /// The worker whose change it judges (none for a plain commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The commit the change applies to (empty for a root commit).
    pub base: String,
    /// The tree the change results in.
    pub tree: String,
    /// The handoff's fingerprint (`git patch-id --stable`), or the commit id.
    pub fingerprint: String,
    /// An approval's comment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A rejection's findings (at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// A run's commands, each with its exit status, duration and output tail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandResult>,
}

/// How one verification command went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command: String,
    /// Exit status; `None` when killed (timeout, signal).
    pub status: Option<i32>,
    pub timed_out: bool,
    pub millis: u64,
    /// The end of its combined stdout and stderr.
    pub tail: String,
}

impl CommandResult {
    pub fn passed(&self) -> bool {
        self.status == Some(0) && !self.timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_toml_is_stable() {
        let status = Status {
            state: State::Active,
            reason: String::new(),
            created: 1,
            updated: 2,
            clock: 3,
        };
        let text = toml::to_string(&status).unwrap();
        assert_eq!(
            text,
            "state = \"active\"\ncreated = 1\nupdated = 2\nclock = 3\n"
        );
        assert_eq!(toml::from_str::<Status>(&text).unwrap(), status);
    }
}
