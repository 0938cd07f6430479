//! What a worker may write into its own log, and the state each event leads
//! to: one definition for the worker's own commands (a trusted worker
//! appends to its log itself) and for the coordinator collecting a
//! sandboxed worker's outbox (it appends them for the worker, after
//! checking each against this definition).
//!
//! A sandboxed worker writes into its own clone only: its events go to
//! `refs/orch/outbox/<id>` there (a chain of commits, each an event), and the
//! coordinator takes them from there.

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value};

use super::{
    Actor, CAS_ATTEMPTS, Change, Entry, Event, FORMAT, Logged, State, backoff, event_id, history,
    now, outbox_ref,
};
use crate::git::{Cas, Oid, Repo};

/// The longest text a worker's notice may carry.
pub const MAX_TEXT: usize = 64 * 1024;

/// An event a worker writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// `git worker notify`: `info`, or `blocking` (it stops and asks).
    Notice { level: String, text: String },
    /// `git handoff report`: the handoff commit it recorded, and what it says.
    Reported {
        handoff: Oid,
        fingerprint: String,
        head: Oid,
        tree: Oid,
        files: u64,
    },
    /// `git worker inbox`: messages read, up to the one with event id `upto`.
    Read { upto: String, count: u64 },
    /// Its own check said no: `by` the commit hook (`pre-commit`) or
    /// `report` (outside the contract, or the repository's own hook), with
    /// the paths at fault (at most [`MAX_REFUSED_PATHS`]) and how many there
    /// were. Informational: an honest worker's record of its refusals.
    Refused {
        by: String,
        paths: Vec<String>,
        count: u64,
    },
}

/// The paths a `refused` event names at most.
pub const MAX_REFUSED_PATHS: usize = 20;

impl WorkerEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerEvent::Notice { .. } => "notice",
            WorkerEvent::Reported { .. } => "reported",
            WorkerEvent::Read { .. } => "read",
            WorkerEvent::Refused { .. } => "refused",
        }
    }

    /// The event's data, as it is stored.
    pub fn data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        let mut put = |key: &str, value: Value| {
            data.insert(key.to_string(), value);
        };
        match self {
            WorkerEvent::Notice { level, text } => {
                put("level", level.as_str().into());
                put("text", text.as_str().into());
            }
            WorkerEvent::Reported {
                handoff,
                fingerprint,
                head,
                tree,
                files,
            } => {
                put("fingerprint", fingerprint.as_str().into());
                put("head", head.to_string().into());
                put("tree", tree.to_string().into());
                put("handoff", handoff.to_string().into());
                put("files", (*files).into());
            }
            WorkerEvent::Read { upto, count } => {
                put("upto", upto.as_str().into());
                put("count", (*count).into());
            }
            WorkerEvent::Refused { by, paths, count } => {
                put("by", by.as_str().into());
                put("paths", paths.clone().into());
                put("count", (*count).into());
            }
        }
        data
    }

    /// The event `kind` with `data` says, if it is one a worker may write,
    /// with exactly the data such an event has; else why not.
    pub fn parse(
        kind: &str,
        data: &Map<String, Value>,
    ) -> std::result::Result<WorkerEvent, String> {
        let keys = |expected: &[&str]| -> std::result::Result<(), String> {
            let mut found: Vec<&str> = data.keys().map(String::as_str).collect();
            found.sort_unstable();
            let mut want = expected.to_vec();
            want.sort_unstable();
            if found == want {
                Ok(())
            } else {
                Err(format!(
                    "a '{kind}' event has exactly {}, not {}",
                    want.join(", "),
                    found.join(", ")
                ))
            }
        };
        let text = |key: &str| -> std::result::Result<String, String> {
            data.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("'{key}' is not a string"))
        };
        let number = |key: &str| -> std::result::Result<u64, String> {
            data.get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("'{key}' is not a whole number"))
        };
        let oid = |key: &str| -> std::result::Result<Oid, String> {
            let value = text(key)?;
            Oid::from_str(&value)
                .ok()
                .filter(|oid| value.len() == 40 && !oid.is_zero())
                .ok_or_else(|| format!("'{key}' is not an object id"))
        };
        Ok(match kind {
            "notice" => {
                keys(&["level", "text"])?;
                let level = text("level")?;
                let text = text("text")?;
                if !matches!(level.as_str(), "info" | "warning" | "blocking") {
                    return Err(format!(
                        "notice level '{level}' is not info, warning or blocking"
                    ));
                }
                if text.trim().is_empty() || text.len() > MAX_TEXT {
                    return Err(format!("a notice's text is 1 to {MAX_TEXT} bytes"));
                }
                WorkerEvent::Notice { level, text }
            }
            "reported" => {
                keys(&["fingerprint", "head", "tree", "handoff", "files"])?;
                let fingerprint = text("fingerprint")?;
                if fingerprint.is_empty()
                    || fingerprint.len() > 64
                    || !fingerprint.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    return Err("'fingerprint' is not a fingerprint".to_string());
                }
                WorkerEvent::Reported {
                    handoff: oid("handoff")?,
                    fingerprint,
                    head: oid("head")?,
                    tree: oid("tree")?,
                    files: number("files")?,
                }
            }
            "read" => {
                keys(&["upto", "count"])?;
                let upto = text("upto")?;
                if upto.is_empty() || upto.len() > 64 {
                    return Err("'upto' is not an event id".to_string());
                }
                WorkerEvent::Read {
                    upto,
                    count: number("count")?,
                }
            }
            "refused" => {
                keys(&["by", "paths", "count"])?;
                let by = text("by")?;
                if !matches!(by.as_str(), "pre-commit" | "report") {
                    return Err(format!("'{by}' is not what refuses a worker's change"));
                }
                let paths = data
                    .get("paths")
                    .and_then(Value::as_array)
                    .filter(|paths| paths.len() <= MAX_REFUSED_PATHS)
                    .and_then(|paths| {
                        paths
                            .iter()
                            .map(|p| p.as_str().filter(|p| p.len() <= 4096).map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| {
                        format!("'paths' is not a list of at most {MAX_REFUSED_PATHS} paths")
                    })?;
                WorkerEvent::Refused {
                    by,
                    paths,
                    count: number("count")?,
                }
            }
            other => return Err(format!("a worker does not write '{other}' events")),
        })
    }

    /// The change this event makes to `entry`: a notice keeps the state
    /// (a blocking one blocks, remembering the state it interrupts), a
    /// report makes it `reported`, reading messages keeps it.
    pub fn change(&self, repo: &Repo, entry: &Entry) -> Result<Change> {
        let mut change = Change::new(self.kind(), Actor::Worker, entry.status.state)
            .reason(entry.status.reason.clone());
        change.data = self.data();
        match self {
            WorkerEvent::Notice { level, text } if level == "blocking" => {
                let was = match entry.status.state {
                    State::Blocked => state_before_blocking(repo, entry)?,
                    state => state,
                };
                change.state = State::Blocked;
                change.reason = text.clone();
                change = change.with("was", was.as_str());
            }
            WorkerEvent::Reported { .. } => {
                change.state = State::Reported;
                change.reason = String::new();
            }
            _ => {}
        }
        Ok(change)
    }
}

/// The state a worker was in before its latest blocking notice.
pub fn state_before_blocking(repo: &Repo, entry: &Entry) -> Result<State> {
    let history = history(repo, entry.tip)?;
    let was = history
        .iter()
        .rev()
        .find(|l| {
            l.event.kind == "notice"
                && l.event.data.get("level").and_then(|v| v.as_str()) == Some("blocking")
        })
        .and_then(|l| l.event.data.get("was").cloned())
        .and_then(|v| serde_json::from_value::<State>(v).ok());
    Ok(match was {
        Some(State::Blocked) | None => State::Active,
        Some(state) => state,
    })
}

/// Append `event` to the outbox of worker `id` in `repo` (the worker's own
/// clone): a commit on `refs/orch/outbox/<id>` whose message holds the
/// event, as the log's do. The coordinator takes it from there.
pub fn append_outbox(repo: &Repo, id: &str, event: &WorkerEvent) -> Result<Oid> {
    let refname = outbox_ref(id);
    let stored = Event {
        id: event_id(),
        v: FORMAT,
        kind: event.kind().to_string(),
        time: now(),
        actor: Actor::Worker,
        clock: 0,
        data: event.data(),
    };
    let json = serde_json::to_string(&stored).context("cannot encode event")?;
    let message = format!("{} {id}\n\n{json}\n", stored.kind);
    let empty = repo.write_tree(&Default::default())?;
    for attempt in 0..CAS_ATTEMPTS {
        let previous = repo.ref_target(&refname)?;
        let parents: Vec<Oid> = previous.into_iter().collect();
        let commit = repo.create_commit(empty, &parents, &message)?;
        match repo.cas_ref(&refname, commit, previous, "git-worker: outbox")? {
            Cas::Updated => return Ok(commit),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!("gave up writing to {refname}: too much contention")
}

/// The events of an outbox from its tip back to (not including) `since`,
/// oldest first; `Err` when the chain does not reach `since` (rewritten),
/// or holds what is not an outbox event.
pub fn outbox_since(
    repo: &Repo,
    tip: Oid,
    since: Option<Oid>,
) -> Result<std::result::Result<Vec<Logged>, String>> {
    let mut out = Vec::new();
    let mut next = Some(tip);
    while let Some(commit) = next {
        if Some(commit) == since {
            out.reverse();
            return Ok(Ok(out));
        }
        let info = repo.commit_info(commit)?;
        if info.parents.len() > 1 {
            return Ok(Err(format!(
                "{commit} is a merge, and an outbox is a chain"
            )));
        }
        let Some(event) = super::parse_event(&info.message) else {
            return Ok(Err(format!("{commit} holds no event")));
        };
        out.push(Logged {
            commit,
            author: info.author,
            event,
        });
        next = info.parents.first().copied();
    }
    match since {
        None => {
            out.reverse();
            Ok(Ok(out))
        }
        Some(since) => Ok(Err(format!(
            "it no longer contains {since}, the last event taken from it (rewritten)"
        ))),
    }
}
