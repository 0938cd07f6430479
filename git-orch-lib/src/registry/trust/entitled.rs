//! What each signer may write, commit by commit: the shape a commit of
//! each kind of ref must have, a worker's events and verdicts, a
//! reviewer's (see the module above for who is who).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::super::decode::{decode, parse_event};
use super::super::{ARCHIVE, Actor, HANDOFFS, KEYS, State, TASKS, VERDICTS, WORKERS, id_of_ref};
use super::Verifier;
use crate::git::Oid;

impl Verifier<'_> {
    /// What a commit of `refname` must hold, whoever signed it: a log
    /// entry of that worker, a handoff of that worker, a task, the key
    /// record. `Err(why not)`.
    pub(super) fn shape(
        &self,
        refname: &str,
        commit: Oid,
        tree: Oid,
    ) -> std::result::Result<(), String> {
        let blob = |name: &str| self.repo.tree_blob(tree, name).ok().flatten();
        if let Some(id) = id_of_ref(refname) {
            return match decode(self.repo, refname, commit) {
                Ok(entry) if entry.id() == id => Ok(()),
                Ok(entry) => Err(format!("holds the log of '{}', not of '{id}'", entry.id())),
                Err(_) => Err("is not a log entry".into()),
            };
        }
        if let Some(id) = refname.strip_prefix(HANDOFFS) {
            let named = blob("handoff.toml")
                .and_then(|text| String::from_utf8(text).ok())
                .and_then(|text| text.parse::<toml::Table>().ok())
                .and_then(|table| table.get("id").and_then(|v| v.as_str()).map(str::to_string));
            return match named {
                Some(named) if named == id => Ok(()),
                Some(named) => Err(format!("is a handoff of '{named}', not of '{id}'")),
                None => Err("is not a handoff".into()),
            };
        }
        if refname.starts_with(TASKS) && blob("task.toml").is_none() {
            return Err("is not a planned task".into());
        }
        if refname == KEYS && blob("coordinator").is_none() {
            return Err("is not a key record".into());
        }
        Ok(())
    }

    /// What worker `id` may write in `refname`: `Err(why not)`.
    pub(super) fn worker_may(
        &self,
        refname: &str,
        id: &str,
        commit: Oid,
        parents: &[Oid],
    ) -> Result<std::result::Result<(), String>> {
        if let Some(owner) = refname.strip_prefix(HANDOFFS) {
            return Ok(if owner == id {
                Ok(())
            } else {
                Err(format!(
                    "records a handoff of worker '{owner}', which worker '{id}' may not write"
                ))
            });
        }
        if refname == VERDICTS {
            return self.worker_verdicts(id, commit, parents);
        }
        if !(refname.starts_with(WORKERS) || refname.starts_with(ARCHIVE)) {
            return Ok(Err(format!(
                "writes {refname}, which only the coordinator writes"
            )));
        }
        let own_log = id_of_ref(refname) == Some(id);
        let message = self.repo.commit_info(commit)?.message;
        let Some(event) = parse_event(&message) else {
            return Ok(Err("is not an event".into()));
        };
        if parents.is_empty() {
            return Ok(Err(format!(
                "starts the log of '{id}' ({}), which only the coordinator does",
                event.kind
            )));
        }
        let own = match decode(self.repo, refname, commit) {
            Ok(entry) => entry,
            Err(err) => return Ok(Err(format!("{err:#}"))),
        };
        let mut before = Vec::new();
        for parent in parents {
            before.push(decode(self.repo, refname, *parent)?);
        }
        if !before.iter().any(|b| b.contract == own.contract) {
            return Ok(Err(format!(
                "changes the contract of '{id}' (in: {}), which only the coordinator does",
                before[0].contract.differences(&own.contract).join(", ")
            )));
        }
        let expected = match (event.kind.as_str(), event.actor) {
            // Another worker's review of this one's change.
            ("approved", Actor::Worker) if !own_log => None,
            (kind, _) if !own_log => {
                return Ok(Err(format!(
                    "is a '{kind}' event in another worker's log, which worker '{id}' may not write"
                )));
            }
            ("reported", Actor::Worker) => Some(State::Reported),
            ("notice", Actor::Worker)
                if event.data.get("level").and_then(|l| l.as_str()) == Some("blocking") =>
            {
                Some(State::Blocked)
            }
            ("notice" | "read" | "reviewed" | "refused", Actor::Worker) | ("merged", _) => None,
            (kind, _) => {
                return Ok(Err(format!(
                    "is a '{kind}' event, which worker '{id}' may not write"
                )));
            }
        };
        let state_ok = match expected {
            Some(state) => own.status.state == state,
            None => before.iter().any(|b| b.status.state == own.status.state),
        };
        if !state_ok {
            return Ok(Err(format!(
                "('{}') puts '{id}' in state '{}', which its event does not lead to",
                event.kind, own.status.state
            )));
        }
        Ok(Ok(()))
    }

    /// A worker's verdict commit adds verdicts of its own, on others'
    /// changes, and keeps every line its parents have where they have it.
    fn worker_verdicts(
        &self,
        id: &str,
        commit: Oid,
        parents: &[Oid],
    ) -> Result<std::result::Result<(), String>> {
        let actor = format!("worker:{id}");
        self.added_verdicts(commit, parents, |verdict, path| {
            if verdict.ruling.is_run() {
                return Err(format!(
                    "adds a '{}' verdict, which only the coordinator's runs give (on {path})",
                    verdict.ruling
                ));
            }
            if verdict.actor != actor {
                return Err(format!(
                    "adds a verdict that is not worker '{id}''s own (on {path})"
                ));
            }
            if verdict.worker.as_deref() == Some(id) {
                return Err(format!("adds a verdict on its own change (on {path})"));
            }
            Ok(())
        })
    }

    /// A notes commit keeps every line its parents have where they have
    /// it, and every line it adds is a verdict `rule` allows.
    fn added_verdicts(
        &self,
        commit: Oid,
        parents: &[Oid],
        rule: impl Fn(&super::super::Verdict, &str) -> std::result::Result<(), String>,
    ) -> Result<std::result::Result<(), String>> {
        let lines = |blob: Oid| -> Result<HashSet<Vec<u8>>> {
            Ok(self
                .repo
                .blob(blob)?
                .split(|b| *b == b'\n')
                .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                .map(<[u8]>::to_vec)
                .collect())
        };
        let now: BTreeMap<String, Oid> = self
            .repo
            .blobs_under(self.repo.commit_tree(commit)?)?
            .into_iter()
            .collect();
        let mut before: HashMap<String, HashSet<Vec<u8>>> = HashMap::new();
        let mut unchanged: HashSet<(String, Oid)> = HashSet::new();
        for parent in parents {
            for (path, blob) in self.repo.blobs_under(self.repo.commit_tree(*parent)?)? {
                let kept = match now.get(&path) {
                    Some(current) if *current == blob => {
                        unchanged.insert((path.clone(), blob));
                        true
                    }
                    Some(current) => lines(blob)?.is_subset(&lines(*current)?),
                    None => false,
                };
                if !kept {
                    return Ok(Err(format!("removes verdicts (on {path})")));
                }
                before.entry(path).or_default().extend(lines(blob)?);
            }
        }
        for (path, blob) in &now {
            if unchanged.contains(&(path.clone(), *blob)) {
                continue;
            }
            let old = before.get(path);
            for line in lines(*blob)? {
                if old.is_some_and(|old| old.contains(&line)) {
                    continue;
                }
                let Ok(verdict) = serde_json::from_slice::<super::super::Verdict>(&line) else {
                    return Ok(Err(format!(
                        "adds a line that is not a verdict (on {path})"
                    )));
                };
                if verdict.v > super::super::FORMAT {
                    return Ok(Err(format!(
                        "adds a verdict of format {}, newer than this one (on {path})",
                        verdict.v
                    )));
                }
                if let Err(why) = rule(&verdict, path) {
                    return Ok(Err(why));
                }
            }
        }
        Ok(Ok(()))
    }

    /// What a reviewer the key record lists may write: verdicts as the
    /// coordinator's side, and their events (and the merges of its syncs)
    /// in workers' logs, never changing a contract. `Err(why not)`.
    pub(super) fn reviewer_may(
        &self,
        refname: &str,
        commit: Oid,
        parents: &[Oid],
    ) -> Result<std::result::Result<(), String>> {
        if refname == VERDICTS {
            return self.added_verdicts(commit, parents, |verdict, path| {
                if verdict.actor == "coordinator" {
                    Ok(())
                } else {
                    Err(format!("adds a verdict as '{}' (on {path})", verdict.actor))
                }
            });
        }
        if !(refname.starts_with(WORKERS) || refname.starts_with(ARCHIVE)) || parents.is_empty() {
            return Ok(Err(format!(
                "writes {refname}, where a reviewer writes nothing"
            )));
        }
        let message = self.repo.commit_info(commit)?.message;
        let kind = parse_event(&message).map(|e| e.kind).unwrap_or_default();
        if !["approved", "rejected", "verified", "attention", "merged"].contains(&kind.as_str()) {
            return Ok(Err(format!(
                "is a '{kind}' event, which a reviewer does not write"
            )));
        }
        let own = decode(self.repo, refname, commit)?;
        for parent in parents {
            if decode(self.repo, refname, *parent)?.contract != own.contract {
                return Ok(Err(
                    "changes a contract, which only the coordinator does".into()
                ));
            }
        }
        Ok(Ok(()))
    }
}
