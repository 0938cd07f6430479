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

mod entitled;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use anyhow::Result;

use super::decode::{decode, parse_event};
use super::{
    ARCHIVE, Actor, HANDOFFS, KEYS, NAMESPACE, State, TASKS, VERDICTS, WORKERS, id_of_ref,
};
use crate::git::sign::{PublicKey, signer_fingerprint};
use crate::git::{Oid, Repo};
use crate::local;

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
    /// The keys the machine-local set of checked commits is kept under
    /// (none: not kept), and how many it held.
    stamp: Option<String>,
    seeded: usize,
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
            stamp: None,
            seeded: 0,
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
        // What earlier commands checked against the same keys: a long
        // history is checked once per machine, not once per command.
        if !verifier.unsigned_registry && !repo.is_bare() {
            verifier.stamp = Some(verifier.stamp());
            let checked = local::read_checked(repo, verifier.stamp.as_deref().unwrap_or(""));
            verifier.seeded = checked.len();
            let mut memo = verifier.memo.borrow_mut();
            for key in checked {
                memo.insert(key, Ok(()));
            }
        }
        Ok(verifier)
    }

    /// What the commits found entitled were checked against: the
    /// coordinator keys, the reviewers, the history from before signing.
    fn stamp(&self) -> String {
        let mut keys: Vec<String> = self.anchors.iter().map(|k| k.fingerprint()).collect();
        keys.sort();
        let reviewers: Vec<String> = self
            .reviewers
            .iter()
            .map(|(name, key)| format!("{name}={}", key.fingerprint()))
            .collect();
        format!(
            "v1 anchors={} reviewers={} legacy={}",
            keys.join(","),
            reviewers.join(","),
            self.legacy.len()
        )
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
        for (name, tip) in self.log_tips(id, false)? {
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

    /// The refs and tips of worker `id`'s logs: its live entry (as the
    /// push or sync being judged brings it, with `pending`), then its
    /// archives.
    fn log_tips(&self, id: &str, pending: bool) -> Result<Vec<(String, Oid)>> {
        let live = super::live_ref(id);
        let tip = match self.pending.get(&live).filter(|_| pending) {
            Some(tip) => Some(*tip),
            None => self.repo.ref_target(&live)?,
        };
        let mut tips: Vec<(String, Oid)> = tip.map(|tip| (live, tip)).into_iter().collect();
        tips.extend(self.archives_of(id)?);
        Ok(tips)
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
        for (name, tip) in self.log_tips(id, true)? {
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

/// Most checked commits kept between commands.
const MAX_CHECKED: usize = 200_000;

impl Drop for Verifier<'_> {
    /// Keep what this command found entitled for the next ones, when it
    /// found enough that is new to be worth a write.
    fn drop(&mut self) {
        let Some(stamp) = &self.stamp else {
            return;
        };
        let memo = self.memo.borrow();
        let good: Vec<(String, Oid)> = memo
            .iter()
            .filter(|(_, verdict)| verdict.is_ok())
            .map(|(key, _)| key.clone())
            .take(MAX_CHECKED)
            .collect();
        if good.len() >= self.seeded + 64 {
            let _ = local::write_checked(self.repo, stamp, &good);
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
