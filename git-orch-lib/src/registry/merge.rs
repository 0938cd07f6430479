//! Joining a fetched registry ref with the local one without losing what
//! either side wrote (docs/registry-format.md, "Merging").

use anyhow::{Context as _, Result};

use super::handoff::SYNC_MERGE_TRAILER;
use super::log::event_commit;
use super::{
    ARCHIVE, Actor, Event, FORMAT, HANDOFFS, KEYS, Status, VERDICTS, Verdict, WORKERS, decode,
    decode_handoff, event_id, history, now,
};
use crate::git::{Oid, Repo};

/// What merging a fetched registry ref into the local one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The same already.
    Same,
    /// Only the fetched side moved: taken as it is (a fast-forward).
    Took(Oid),
    /// Only the local side moved: nothing to take.
    Ahead,
    /// Both moved: a merge commit joins them.
    Merged(Oid),
    /// Both moved in ways that cannot be joined; the local side is kept.
    Refused(String),
}

/// Join `theirs` (fetched) with the local `refname`, without losing
/// anything either side wrote, by the rules of docs/registry-format.md
/// ("Merging"). Nothing is written to `refname` here: the caller moves it
/// (by compare-and-swap) to the commit returned.
pub fn merge_ref(repo: &Repo, refname: &str, theirs: Oid, removed: bool) -> Result<Merge> {
    if removed {
        // A worker removed here (perhaps spawned again since): its old
        // entry over there is retired, never taken or merged.
        return Ok(Merge::Ahead);
    }
    let Some(ours) = repo.ref_target(refname)? else {
        return Ok(Merge::Took(theirs));
    };
    if ours == theirs {
        return Ok(Merge::Same);
    }
    if repo.is_ancestor(ours, theirs)? {
        return Ok(Merge::Took(theirs));
    }
    if repo.is_ancestor(theirs, ours)? {
        return Ok(Merge::Ahead);
    }
    if refname.starts_with(WORKERS) || refname.starts_with(ARCHIVE) {
        merge_logs(repo, refname, ours, theirs)
    } else if refname == VERDICTS {
        merge_notes(repo, ours, theirs).map(Merge::Merged)
    } else if refname.starts_with(HANDOFFS) {
        merge_handoffs(repo, refname, ours, theirs)
    } else if refname == KEYS && same_blob(repo, ours, theirs, "coordinator")? {
        // Two records of the same coordinator key (made by two of its
        // clones): either will do, the remote's is everyone's.
        Ok(Merge::Took(theirs))
    } else {
        Ok(Merge::Refused(format!(
            "'{refname}' differs here and there, and is written once: kept this side's"
        )))
    }
}

/// Two event logs appended independently: a merge commit with both as
/// parents, so every event of both stays in the log; the state is the one
/// after the event that sorts last (clock, time, commit), which every
/// machine computes the same.
fn merge_logs(repo: &Repo, refname: &str, ours: Oid, theirs: Oid) -> Result<Merge> {
    let mine = decode(repo, refname, ours)?;
    let other = decode(repo, refname, theirs)?;
    if repo.merge_base(ours, theirs)?.is_none() {
        return Ok(Merge::Refused(format!(
            "'{refname}' is another worker there with the same id (spawned separately): kept this side's"
        )));
    }
    let our_events = history(repo, ours)?;
    let their_events = history(repo, theirs)?;
    // A contract changes only by the coordinator (a key admitted, a base
    // moved): the side with the later such event has the current one.
    let changed = |events: &[super::Logged]| {
        events
            .iter()
            .filter(|l| crate::contract::Contract::CHANGE_EVENTS.contains(&l.event.kind.as_str()))
            .map(|l| l.event.clock)
            .max()
    };
    let contract = if mine.contract == other.contract {
        mine.contract.clone()
    } else if mine.contract.changed_later(&other.contract)
        && changed(&our_events) != changed(&their_events)
    {
        if changed(&our_events) > changed(&their_events) {
            mine.contract.clone()
        } else {
            other.contract.clone()
        }
    } else {
        return Ok(Merge::Refused(format!(
            "'{refname}' has a different contract there (in: {}); kept this side's",
            mine.contract.differences(&other.contract).join(", ")
        )));
    };
    let mut events = our_events;
    events.extend(their_events);
    events.sort_by(|a, b| {
        (a.event.clock, a.event.time, a.commit.as_bytes()).cmp(&(
            b.event.clock,
            b.event.time,
            b.commit.as_bytes(),
        ))
    });
    events.dedup_by_key(|l| l.commit);
    // Replay: in that order, each event that changed the state (its
    // state.toml differs from its parent's) sets it; the others (messages,
    // notices, verdicts) leave it as they found it, whatever their own
    // side's state was then.
    let mut after = decode(
        repo,
        refname,
        events
            .first()
            .context("a registry entry without events")?
            .commit,
    )?
    .status;
    for logged in &events {
        if logged.event.kind == "merged" {
            continue;
        }
        let own = decode(repo, refname, logged.commit)?.status;
        let before = match repo.commit_info(logged.commit)?.parents.first() {
            Some(parent) => Some(decode(repo, refname, *parent)?.status),
            None => None,
        };
        let changed = before
            .as_ref()
            .is_none_or(|b| b.state != own.state || b.reason != own.reason);
        if changed {
            after.state = own.state;
            after.reason = own.reason;
        }
        after.updated = after.updated.max(own.updated);
    }
    let clock = events.iter().map(|l| l.event.clock).max().unwrap_or(0) + 1;
    let time = now().max(after.updated);
    let event = Event {
        id: event_id(),
        v: FORMAT,
        kind: "merged".into(),
        time,
        actor: Actor::Coordinator,
        clock,
        data: [
            (
                "ours".to_string(),
                serde_json::Value::from(ours.to_string()),
            ),
            (
                "theirs".to_string(),
                serde_json::Value::from(theirs.to_string()),
            ),
        ]
        .into_iter()
        .collect(),
    };
    let status = Status {
        state: after.state,
        reason: after.reason,
        created: mine.status.created.min(other.status.created),
        updated: time,
        clock,
    };
    Ok(Merge::Merged(event_commit(
        repo,
        &contract,
        &status,
        &event,
        &[ours, theirs],
    )?))
}

/// Two verdict notes trees: every note is the union of both sides' lines
/// (a verdict is never lost), in time order.
fn merge_notes(repo: &Repo, ours: Oid, theirs: Oid) -> Result<Oid> {
    let (our_tree, their_tree) = (repo.commit_tree(ours)?, repo.commit_tree(theirs)?);
    let mine = repo.blobs_under(our_tree)?;
    let mut tree = our_tree;
    for (path, blob) in repo.blobs_under(their_tree)? {
        let merged = match mine.get(&path) {
            Some(own) if *own == blob => continue,
            Some(own) => {
                let mut lines: Vec<(i64, String)> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for id in [*own, blob] {
                    let bytes = repo.blob(id)?;
                    for line in String::from_utf8_lossy(&bytes).lines() {
                        if line.trim().is_empty() || !seen.insert(line.to_string()) {
                            continue;
                        }
                        let time = serde_json::from_str::<Verdict>(line).map_or(0, |v| v.time);
                        lines.push((time, line.to_string()));
                    }
                }
                lines.sort_by_key(|(time, _)| *time);
                lines
                    .into_iter()
                    .map(|(_, l)| l + "\n")
                    .collect::<String>()
                    .into_bytes()
            }
            None => repo.blob(blob)?,
        };
        tree = repo.tree_with_blob(Some(tree), &path, &merged, &[])?;
    }
    super::keys::commit(repo, tree, &[ours, theirs], "verdicts: merged\n")
}

/// Two handoff chains (the worker reported from two places): a commit
/// holding the newer handoff, whose first parent is the newer chain.
fn merge_handoffs(repo: &Repo, refname: &str, ours: Oid, theirs: Oid) -> Result<Merge> {
    let id = refname.trim_start_matches(HANDOFFS);
    let (mine, other) = (
        decode_handoff(repo, id, ours)?,
        decode_handoff(repo, id, theirs)?,
    );
    let (newer, older) =
        if (other.meta.reported, theirs.as_bytes()) > (mine.meta.reported, ours.as_bytes()) {
            (theirs, ours)
        } else {
            (ours, theirs)
        };
    let info = repo.commit_info(newer)?;
    Ok(Merge::Merged(super::keys::commit(
        repo,
        info.tree,
        &[newer, older],
        &format!(
            "handoff {id}: merged\n\n{}\n{SYNC_MERGE_TRAILER}\n",
            info.message.trim_end()
        ),
    )?))
}

/// Whether commits `a` and `b` hold the same blob at `path`.
fn same_blob(repo: &Repo, a: Oid, b: Oid, path: &str) -> Result<bool> {
    let blob = |commit: Oid| -> Result<Option<Vec<u8>>> {
        repo.tree_blob(repo.commit_tree(commit)?, path)
    };
    Ok(blob(a)?.is_some() && blob(a)? == blob(b)?)
}
