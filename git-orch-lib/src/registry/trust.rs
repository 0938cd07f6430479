//! Who wrote what. Every registry commit is signed with git's SSH signing
//! (see [`crate::git::sign`]): the coordinator's commits with its key, a
//! worker's with the key its contract names. A reader counts a commit only
//! when its signer was entitled to write it:
//!
//! - the coordinator (a key this machine trusts as the coordinator's) may
//!   write anything, and vouches for what it wrote on: it builds only on
//!   commits it checked, so a check stops at the first commit it signed;
//! - worker `<id>`, with the key of its coordinator-signed contract, may
//!   append its own events (`reported`, `notice`, `read`, `reviewed`, and the merges of
//!   its syncs) to its own log without changing its contract or inventing a
//!   state, record its own handoffs, and note verdicts as `worker:<id>`;
//! - a reviewer the key record lists (`git worker admit --reviewer`) may
//!   add verdicts as the coordinator's side, and write their events;
//! - nobody else, and no unsigned commit, except in a registry that never
//!   had a coordinator key (format 1, read with a warning) and the tips it
//!   had when its first signed entry was written (listed in
//!   `refs/orch/keys`).
//!
//! A ref whose newest commits fail the check is read at its newest commit
//! that passes (the rest is ignored, with a warning naming the ref, the
//! commit and its signer); a sync does not take it, and a hub refuses it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::decode::{decode, parse_event};
use super::{
    ARCHIVE, Actor, HANDOFFS, KEYS, NAMESPACE, State, TASKS, VERDICTS, WORKERS, id_of_ref,
};
use crate::git::sign::{PublicKey, signer_fingerprint};
use crate::git::{Oid, Repo};

/// Who signed a commit, as far as this reader can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    Coordinator,
    /// A reviewer the key record lists (its name).
    Reviewer(String),
    Worker(String),
    /// Signed by a key this reader does not know (its fingerprint).
    Unknown(String),
    Unsigned,
    /// Signed, but the signature does not verify.
    Bad,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Coordinator => f.write_str("the coordinator"),
            Signer::Reviewer(name) => write!(f, "reviewer '{name}'"),
            Signer::Worker(id) => write!(f, "worker '{id}'"),
            Signer::Unknown(fingerprint) => write!(f, "an unknown key ({fingerprint})"),
            Signer::Unsigned => f.write_str("nobody (unsigned)"),
            Signer::Bad => f.write_str("a signature that does not verify"),
        }
    }
}

/// Checks commits against the keys this machine trusts; remembers what it
/// checked (one per command).
pub struct Verifier<'r> {
    repo: &'r Repo,
    anchors: Vec<PublicKey>,
    /// Unsigned commits readable as history from before signing.
    legacy: HashSet<Oid>,
    /// A registry that never had a coordinator key: nothing to check against.
    unsigned_registry: bool,
    /// Reviewers the (trusted) key record lists.
    reviewers: Vec<(String, PublicKey)>,
    /// Every archive ref, by worker id: read once, when first needed.
    archives: RefCell<Option<Archives>>,
    /// What each commit came to, per kind of ref ([`class_of`]).
    memo: RefCell<HashMap<(String, Oid), std::result::Result<(), String>>>,
    worker_keys: RefCell<HashMap<String, Option<PublicKey>>>,
    handoffs: RefCell<HashMap<String, HashSet<Oid>>>,
    warned: RefCell<HashSet<String>>,
    /// Refs as they will be (a push being judged), over the repository's.
    pending: HashMap<String, Oid>,
}

impl<'r> Verifier<'r> {
    pub fn new(repo: &'r Repo) -> Result<Verifier<'r>> {
        let anchors = super::keys::anchors(repo)?;
        let mut legacy = HashSet::new();
        let record = repo.ref_target(KEYS)?;
        if let Some(tip) = record
            && let Some(text) = repo.tree_blob(repo.commit_tree(tip)?, "legacy")?
        {
            for line in String::from_utf8_lossy(&text).lines() {
                if let Some(oid) = line.split(' ').next().and_then(|h| Oid::from_str(h).ok()) {
                    legacy.insert(oid);
                }
            }
        }
        let unsigned_registry = anchors.is_empty() || (record.is_none() && !repo.is_bare());
        let mut verifier = Verifier {
            repo,
            anchors,
            legacy,
            unsigned_registry,
            reviewers: Vec::new(),
            archives: RefCell::new(None),
            memo: RefCell::new(HashMap::new()),
            worker_keys: RefCell::new(HashMap::new()),
            handoffs: RefCell::new(HashMap::new()),
            warned: RefCell::new(HashSet::new()),
            pending: HashMap::new(),
        };
        if let Some(record) = record
            && let Ok(Some(trusted)) = verifier.trusted_tip(KEYS, record)
        {
            verifier.reviewers = super::keys::reviewers_in(repo, trusted)?;
        }
        Ok(verifier)
    }

    /// Read `refname` at `tip` (a push being judged brings it).
    pub fn expect(&mut self, refname: &str, tip: Oid) {
        self.pending.insert(refname.to_string(), tip);
    }

    /// Who signed `commit`, written for `worker` (whose key may be given).
    pub fn signer(
        &self,
        commit: Oid,
        worker: Option<&str>,
        key: Option<&PublicKey>,
    ) -> Result<Signer> {
        let Some((signature, payload)) = self.repo.commit_signature(commit)? else {
            return Ok(Signer::Unsigned);
        };
        if self
            .anchors
            .iter()
            .any(|k| k.verifies(&payload, &signature))
        {
            return Ok(Signer::Coordinator);
        }
        if let Some((name, _)) = self
            .reviewers
            .iter()
            .find(|(_, key)| key.verifies(&payload, &signature))
        {
            return Ok(Signer::Reviewer(name.clone()));
        }
        if let (Some(id), Some(key)) = (worker, key)
            && key.verifies(&payload, &signature)
        {
            return Ok(Signer::Worker(id.to_string()));
        }
        if let Some(id) = worker
            && let Some(key) = self.worker_key(id)?
            && key.verifies(&payload, &signature)
        {
            return Ok(Signer::Worker(id.to_string()));
        }
        let Some(fingerprint) = signer_fingerprint(&signature) else {
            return Ok(Signer::Bad);
        };
        // Another worker (approving this one's change, say)?
        for (name, tip) in self.repo.refs_under(WORKERS)? {
            if let Ok(entry) = decode(self.repo, &name, tip)
                && Some(entry.id()) != worker
                && PublicKey::parse(&entry.contract.key)
                    .is_ok_and(|k| k.fingerprint() == fingerprint)
                && let Some(key) = self.worker_key(entry.id())?
                && key.verifies(&payload, &signature)
            {
                return Ok(Signer::Worker(entry.id().to_string()));
            }
        }
        Ok(Signer::Unknown(fingerprint))
    }

    /// The worker whose verdicts a notes commit adds (by their `actor`).
    fn verdict_author(&self, commit: Oid) -> Result<Option<String>> {
        let info = self.repo.commit_info(commit)?;
        let old: HashSet<Oid> = match info.parents.first() {
            Some(parent) => self
                .repo
                .blobs_under(self.repo.commit_tree(*parent)?)?
                .into_values()
                .collect(),
            None => HashSet::new(),
        };
        for blob in self.repo.blobs_under(info.tree)?.into_values() {
            if old.contains(&blob) {
                continue;
            }
            for line in self.repo.blob(blob)?.split(|b| *b == b'\n') {
                if let Some(id) = actor_of(line)
                    .as_deref()
                    .and_then(|a| a.strip_prefix("worker:"))
                {
                    return Ok(Some(id.to_string()));
                }
            }
        }
        Ok(None)
    }

    /// The handoff commits worker `id`'s trusted log names.
    fn named_handoffs(&self, id: &str) -> Result<HashSet<Oid>> {
        if let Some(known) = self.handoffs.borrow().get(id) {
            return Ok(known.clone());
        }
        let mut named = HashSet::new();
        let live = super::live_ref(id);
        let mut tips: Vec<(String, Oid)> = self
            .repo
            .ref_target(&live)?
            .map(|t| (live, t))
            .into_iter()
            .collect();
        tips.extend(self.archives_of(id)?);
        for (name, tip) in tips {
            if let Some(trusted) = self.trusted_tip(&name, tip)? {
                for logged in super::history(self.repo, trusted)? {
                    if logged.event.kind == "reported"
                        && let Some(handoff) =
                            logged.event.data.get("handoff").and_then(|h| h.as_str())
                        && let Ok(oid) = Oid::from_str(handoff)
                    {
                        named.insert(oid);
                    }
                }
            }
        }
        self.handoffs
            .borrow_mut()
            .insert(id.to_string(), named.clone());
        Ok(named)
    }

    /// The archive refs of worker `id` (one listing of all of them, once).
    fn archives_of(&self, id: &str) -> Result<Vec<(String, Oid)>> {
        if self.archives.borrow().is_none() {
            let mut all = Archives::new();
            for (name, tip) in self.repo.refs_under(ARCHIVE)? {
                if let Some(owner) = id_of_ref(&name) {
                    all.entry(owner.to_string()).or_default().push((name, tip));
                }
            }
            *self.archives.borrow_mut() = Some(all);
        }
        Ok(self
            .archives
            .borrow()
            .as_ref()
            .and_then(|all| all.get(id).cloned())
            .unwrap_or_default())
    }

    /// The key worker `id`'s trusted contract names.
    fn worker_key(&self, id: &str) -> Result<Option<PublicKey>> {
        if let Some(known) = self.worker_keys.borrow().get(id) {
            return Ok(known.clone());
        }
        // Placeholder while its log is checked (a log never asks for its
        // own key before its first, coordinator-signed, commit is known).
        self.worker_keys.borrow_mut().insert(id.to_string(), None);
        let mut key = None;
        let live = super::live_ref(id);
        let mut tips: Vec<(String, Oid)> = match self.pending.get(&live) {
            Some(tip) => vec![(live, *tip)],
            None => self
                .repo
                .ref_target(&live)?
                .map(|tip| (live, tip))
                .into_iter()
                .collect(),
        };
        tips.extend(self.archives_of(id)?);
        for (name, tip) in tips {
            let trusted = self.trusted_tip(&name, tip)?;
            if let Some(trusted) = trusted
                && let Ok(entry) = decode(self.repo, &name, trusted)
                && !entry.contract.key.is_empty()
            {
                key = PublicKey::parse(&entry.contract.key).ok();
                if key.is_some() {
                    break;
                }
            }
        }
        self.worker_keys
            .borrow_mut()
            .insert(id.to_string(), key.clone());
        Ok(key)
    }

    /// The newest commit of `refname` at or below `tip` that passes the
    /// check (`None`: none does); warns once about what it ignores. A tip
    /// that cannot be read at all (not a commit) is not trusted either.
    pub fn trusted_tip(&self, refname: &str, tip: Oid) -> Result<Option<Oid>> {
        let mut at = tip;
        loop {
            if let Ok(Ok(())) = self.check(refname, at) {
                if at != tip {
                    self.warn(refname, tip, Some(at));
                }
                return Ok(Some(at));
            }
            match self
                .repo
                .commit_info(at)
                .ok()
                .and_then(|info| info.parents.first().copied())
            {
                Some(parent) => at = parent,
                None => {
                    self.warn(refname, tip, None);
                    return Ok(None);
                }
            }
        }
    }

    /// Whether `tip` of `refname` passes, and why not: the first commit
    /// that fails, with what it is and who signed it. Each commit is
    /// judged once per kind of ref (a commit fit for one ref, say a
    /// handoff, proves nothing on another), so walking a long history,
    /// or trying a ref's commits one after the other, costs each once.
    pub fn check(&self, refname: &str, tip: Oid) -> Result<std::result::Result<(), String>> {
        if !refname.starts_with(NAMESPACE) || self.unsigned_registry {
            return Ok(Ok(()));
        }
        let class = class_of(refname);
        // An archive is a log up to the coordinator's `removed` event:
        // anything else would make readers drop a live worker.
        if refname.starts_with(ARCHIVE) {
            let removed = decode(self.repo, refname, tip)
                .is_ok_and(|entry| entry.status.state == State::Removed);
            if !removed {
                return Ok(Err(format!(
                    "commit {} is not the `removed` event of a log, which an archive holds",
                    short(tip)
                )));
            }
        }
        let mut stack = vec![(tip, false)];
        let mut waiting: HashMap<Oid, Vec<Oid>> = HashMap::new();
        while let Some((commit, expanded)) = stack.pop() {
            let key = (class.clone(), commit);
            if self.memo.borrow().contains_key(&key) {
                continue;
            }
            if expanded {
                let parents = waiting.remove(&commit).unwrap_or_default();
                let memo = self.memo.borrow();
                let verdict = parents
                    .iter()
                    .map(|p| {
                        memo.get(&(class.clone(), *p))
                            .cloned()
                            .unwrap_or_else(|| Err(format!("commit {} was not checked", short(*p))))
                    })
                    .find(|r| r.is_err())
                    .unwrap_or(Ok(()));
                drop(memo);
                self.memo.borrow_mut().insert(key, verdict);
                continue;
            }
            if waiting.contains_key(&commit) {
                continue;
            }
            let judged = self
                .judge_commit(refname, commit)
                .unwrap_or_else(|err| Judged::Bad(format!("commit {}: {err:#}", short(commit))));
            match judged {
                Judged::Good => {
                    self.memo.borrow_mut().insert(key, Ok(()));
                }
                Judged::Bad(why) => {
                    self.memo.borrow_mut().insert(key, Err(why));
                }
                Judged::IfParents(parents) => {
                    stack.push((commit, true));
                    for parent in &parents {
                        if !self.memo.borrow().contains_key(&(class.clone(), *parent)) {
                            stack.push((*parent, false));
                        }
                    }
                    waiting.insert(commit, parents);
                }
            }
        }
        Ok(self
            .memo
            .borrow()
            .get(&(class, tip))
            .cloned()
            .unwrap_or(Ok(())))
    }

    /// One commit of `refname`, on its own: good, bad, or good if the
    /// parents it builds on are.
    fn judge_commit(&self, refname: &str, commit: Oid) -> Result<Judged> {
        let info = self.repo.commit_info(commit)?;
        if let Err(why) = self.shape(refname, commit, info.tree) {
            return Ok(Judged::Bad(format!("commit {} {why}", short(commit))));
        }
        if self.legacy.contains(&commit) {
            return Ok(Judged::Good);
        }
        let author = match refname {
            VERDICTS => self.verdict_author(commit)?,
            _ => id_of_ref(refname)
                .or_else(|| refname.strip_prefix(HANDOFFS))
                .map(str::to_string),
        };
        let parents = info.parents;
        // In a log, the key its contract names so far (the parent is
        // checked too, so the key goes back to a coordinator's commit).
        let logged_key = match parents.first() {
            Some(parent) if refname.starts_with(WORKERS) || refname.starts_with(ARCHIVE) => {
                decode(self.repo, refname, *parent)
                    .ok()
                    .and_then(|e| PublicKey::parse(&e.contract.key).ok())
            }
            _ => None,
        };
        // A handoff its worker's trusted log names (a `reported` event:
        // the worker's own, or one the coordinator recorded for a
        // sandboxed worker) is authenticated by that event.
        if let Some(id) = refname.strip_prefix(HANDOFFS)
            && self.named_handoffs(id)?.contains(&commit)
        {
            return Ok(Judged::Good);
        }
        let signer = self.signer(commit, author.as_deref(), logged_key.as_ref())?;
        match signer {
            // It vouches for everything it wrote on.
            Signer::Coordinator => Ok(Judged::Good),
            Signer::Worker(ref id) => {
                if let Err(why) = self.worker_may(refname, id, commit, &parents)? {
                    return Ok(Judged::Bad(format!(
                        "commit {} {why} (signed by {signer})",
                        short(commit)
                    )));
                }
                // Its parents must pass too: a worker vouches for nothing.
                // A handoff's second parent is the worker's own code.
                if refname.starts_with(HANDOFFS) {
                    Ok(Judged::IfParents(
                        parents
                            .first()
                            .filter(|p| is_handoff(self.repo, **p))
                            .copied()
                            .into_iter()
                            .collect(),
                    ))
                } else {
                    Ok(Judged::IfParents(parents))
                }
            }
            Signer::Reviewer(_) => match self.reviewer_may(refname, commit, &parents)? {
                Ok(()) => Ok(Judged::IfParents(parents)),
                Err(why) => Ok(Judged::Bad(format!(
                    "commit {} {why} (signed by {signer})",
                    short(commit)
                ))),
            },
            other => Ok(Judged::Bad(format!(
                "commit {} ({}) is signed by {other}, not by {}",
                short(commit),
                what(self.repo, commit),
                entitled(refname)
            ))),
        }
    }

    /// What a commit of `refname` must hold, whoever signed it: a log
    /// entry of that worker, a handoff of that worker, a task, the key
    /// record. `Err(why not)`.
    fn shape(&self, refname: &str, commit: Oid, tree: Oid) -> std::result::Result<(), String> {
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
    fn worker_may(
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
            ("notice" | "read" | "reviewed", Actor::Worker) | ("merged", _) => None,
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
        rule: impl Fn(&super::Verdict, &str) -> std::result::Result<(), String>,
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
                let Ok(verdict) = serde_json::from_slice::<super::Verdict>(&line) else {
                    return Ok(Err(format!(
                        "adds a line that is not a verdict (on {path})"
                    )));
                };
                if verdict.v > super::FORMAT {
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
    fn reviewer_may(
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

    /// Warn, once per ref, that what `tip` has beyond `trusted` (all of
    /// it, for `None`) is ignored, and why.
    fn warn(&self, refname: &str, tip: Oid, trusted: Option<Oid>) {
        if self.warned.borrow_mut().insert(refname.to_string()) {
            let why = self
                .check(refname, tip)
                .ok()
                .and_then(|r| r.err())
                .unwrap_or_default();
            match trusted {
                Some(trusted) => eprintln!(
                    "warning: {refname}: ignored what follows {} ({why})",
                    short(trusted)
                ),
                None => eprintln!("warning: {refname}: ignored: {why}"),
            }
        }
    }
}

/// Archive refs (name, tip) by worker id.
type Archives = HashMap<String, Vec<(String, Oid)>>;

/// One commit judged on its own.
enum Judged {
    Good,
    Bad(String),
    /// Good if these parents are.
    IfParents(Vec<Oid>),
}

/// The kind of ref a commit is judged for: one worker's log (live and
/// archived), one worker's handoffs, or the ref itself.
fn class_of(refname: &str) -> String {
    if let Some(id) = id_of_ref(refname) {
        format!("log:{id}")
    } else if let Some(id) = refname.strip_prefix(HANDOFFS) {
        format!("handoffs:{id}")
    } else {
        refname.to_string()
    }
}

/// The `actor` of a verdict line (`coordinator`, `worker:<id>`).
fn actor_of(line: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    value.get("actor")?.as_str().map(str::to_string)
}

fn short(oid: Oid) -> String {
    oid.to_string()[..10].to_string()
}

fn is_handoff(repo: &Repo, commit: Oid) -> bool {
    repo.commit_tree(commit)
        .and_then(|tree| repo.tree_blob(tree, "handoff.toml"))
        .is_ok_and(|blob| blob.is_some())
}

/// What a registry commit is, for messages.
fn what(repo: &Repo, commit: Oid) -> String {
    let message = repo
        .commit_info(commit)
        .map(|c| c.message)
        .unwrap_or_default();
    match parse_event(&message) {
        Some(event) => format!(
            "a '{}' event as {}",
            event.kind,
            match event.actor {
                Actor::Coordinator => "the coordinator",
                Actor::Worker => "the worker",
            }
        ),
        None => message.lines().next().unwrap_or("").to_string(),
    }
}

/// Who may write `refname`, for messages.
fn entitled(refname: &str) -> String {
    if let Some(id) = id_of_ref(refname).or_else(|| refname.strip_prefix(HANDOFFS)) {
        format!("the coordinator or worker '{id}'")
    } else if refname.starts_with(TASKS) || refname == KEYS {
        "the coordinator".into()
    } else {
        "the coordinator or a worker".into()
    }
}
