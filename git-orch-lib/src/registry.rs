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
//! refs: they live under `<git-common-dir>/orch/local/`. The full format is
//! documented in `docs/registry-format.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::{Cas, CommitInfo, Oid, Repo, TreeEntry};

/// The registry format this binary writes. It reads this version and every older one.
pub const FORMAT: u32 = 1;
pub const WORKERS: &str = "refs/orch/workers/";
pub const ARCHIVE: &str = "refs/orch/archive/";
pub const HANDOFFS: &str = "refs/orch/handoffs/";
/// Manifests of exported handoff bundles (`git handoff export`).
pub const EXPORTS: &str = "refs/orch/exports/";
/// The refspec that shares the whole registry through a remote.
pub const REFSPEC: &str = "+refs/orch/*:refs/orch/*";

/// Attempts of a compare-and-swap write before giving up.
const CAS_ATTEMPTS: u32 = 200;

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

/// Whether worker `id` is being removed, or is gone, so that what was just
/// read of its checkout may be torn (a checkout being removed loses its
/// files one by one): a reader of many workers skips such a worker instead
/// of reporting what it read, or failing. Asked after the read, it also
/// catches a removal that began and ended during it.
pub fn being_removed(repo: &Repo, id: &str) -> Result<bool> {
    Ok(removal_running(repo, id).is_some() || repo.ref_target(&live_ref(id))?.is_none())
}

/// The live entry of worker `id`, else its latest archived one (`true`:
/// archived): what `show`, `log` and `wait` read.
pub fn entry_any(repo: &Repo, id: &str) -> Result<(Entry, bool)> {
    crate::contract::validate_id(id)?;
    if let Some(entry) = load(repo, id)? {
        return Ok((entry, false));
    }
    match archived(repo, id)?.pop() {
        Some(entry) => Ok((entry, true)),
        None => Err(Hint::new(format!("worker '{id}' is not registered"))
            .hint("`git worker list` shows the registered workers")
            .into()),
    }
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

// ----- reading -----

/// Decode the entry stored at `tip`, naming `refname` in errors.
pub fn decode(repo: &Repo, refname: &str, tip: Oid) -> Result<Entry> {
    let corrupt = |what: String| -> anyhow::Error {
        Hint::new(format!("registry entry '{refname}' is corrupt: {what}"))
            .hint(format!(
                "inspect it with `git log -p {refname}`; `git worker doctor` lists every problem"
            ))
            .into()
    };
    let commit = repo
        .commit_info(tip)
        .map_err(|err| corrupt(format!("{err:#}")))?;
    let files = repo
        .read_tree(commit.tree)
        .map_err(|err| corrupt(format!("{err:#}")))?
        .blobs;
    let text = |name: &str| -> Result<String> {
        let bytes = files
            .get(name)
            .ok_or_else(|| corrupt(format!("'{name}' is missing")))?;
        String::from_utf8(bytes.clone()).map_err(|_| corrupt(format!("'{name}' is not UTF-8")))
    };
    let format: u32 = text("format")?
        .trim()
        .parse()
        .map_err(|_| corrupt("'format' is not a number".to_string()))?;
    if format > FORMAT {
        return Err(Hint::new(format!(
            "registry entry '{refname}' has format {format}, newer than this git-worker understands ({FORMAT})"
        ))
        .hint("upgrade git-worker")
        .into());
    }
    if format == 0 {
        return Err(corrupt("format 0 does not exist".to_string()));
    }
    let contract: Contract = toml::from_str(&text("contract.toml")?).map_err(|err| {
        corrupt(format!(
            "contract.toml: {}",
            crate::contract::toml_message(&err)
        ))
    })?;
    let status: Status = toml::from_str(&text("state.toml")?).map_err(|err| {
        corrupt(format!(
            "state.toml: {}",
            crate::contract::toml_message(&err)
        ))
    })?;
    // The ref names the worker: an entry claiming another id (or an invalid
    // one) is forged or broken, and must not lend its contract to a branch.
    if let Some(id) = id_of_ref(refname)
        && id != contract.id
    {
        return Err(corrupt(format!(
            "it holds the contract of '{}', not of '{id}'",
            contract.id
        )));
    }
    crate::contract::validate_id(&contract.id).map_err(|err| corrupt(format!("{err:#}")))?;
    Ok(Entry {
        refname: refname.to_string(),
        tip,
        format,
        contract,
        status,
    })
}

/// The live entry of `id`, if any.
pub fn load(repo: &Repo, id: &str) -> Result<Option<Entry>> {
    let refname = live_ref(id);
    match repo.ref_target(&refname)? {
        Some(tip) => decode(repo, &refname, tip).map(Some),
        None => Ok(None),
    }
}

/// Every live entry, by id. Corrupt entries are returned as errors in place.
///
/// Decoding an entry reads five objects; with a thousand workers, mostly
/// loose, that is most of the time `list` takes. A commit never changes, so
/// decoded entries are kept in a machine-local cache keyed by ref and tip
/// (`<common>/orch/cache.json`): an entry is decoded again only when its tip
/// moved. The cache is derived data: a missing, stale or unreadable cache
/// only costs time.
pub fn list(repo: &Repo) -> Result<Vec<Result<Entry>>> {
    list_refs(repo, repo.refs_under(WORKERS)?, load_cache(repo))
}

/// The decoded entries of the last `list`, keyed by ref and tip.
pub struct Cache(BTreeMap<String, Cached>);

/// Read the cache (empty if missing or unreadable: it is derived data).
pub fn load_cache(repo: &Repo) -> Cache {
    Cache(read_cache(&cache_path(repo)))
}

/// [`list`] for live-entry refs the caller has read already, with the cache
/// the caller loaded meanwhile.
pub fn list_refs(
    repo: &Repo,
    refs: Vec<(String, Oid)>,
    cache: Cache,
) -> Result<Vec<Result<Entry>>> {
    let path = cache_path(repo);
    if refs.is_empty() {
        let _ = std::fs::remove_file(&path);
        tidy_local_dir(repo)?;
        return Ok(Vec::new());
    }
    let mut cache = cache.0;
    let mut changed = cache.len() != refs.len();
    let mut out = Vec::with_capacity(refs.len());
    let mut fresh = BTreeMap::new();
    for (name, tip) in refs {
        match cache.remove(&name) {
            Some(cached) if cached.tip == tip.to_string() => {
                out.push(Ok(cached.entry(&name, tip)));
                fresh.insert(name, cached);
            }
            _ => {
                changed = true;
                let entry = decode(repo, &name, tip);
                if let Ok(entry) = &entry {
                    fresh.insert(name, Cached::of(entry));
                }
                out.push(entry);
            }
        }
    }
    if changed {
        // Best effort: a concurrent writer's cache is as good as ours.
        if let Ok(json) = serde_json::to_vec(&CacheFile {
            v: FORMAT,
            entries: fresh,
        }) {
            let _ = crate::fs::write_atomically(&path, &json);
        }
    }
    Ok(out)
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    v: u32,
    entries: BTreeMap<String, Cached>,
}

#[derive(Serialize, Deserialize)]
pub struct Cached {
    tip: String,
    format: u32,
    contract: Contract,
    status: Status,
}

impl Cached {
    fn of(entry: &Entry) -> Cached {
        Cached {
            tip: entry.tip.to_string(),
            format: entry.format,
            contract: entry.contract.clone(),
            status: entry.status.clone(),
        }
    }

    fn entry(&self, refname: &str, tip: Oid) -> Entry {
        Entry {
            refname: refname.to_string(),
            tip,
            format: self.format,
            contract: self.contract.clone(),
            status: self.status.clone(),
        }
    }
}

fn cache_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("cache.json")
}

fn read_cache(path: &Path) -> BTreeMap<String, Cached> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
        .filter(|cache| cache.v == FORMAT)
        .map(|cache| cache.entries)
        .unwrap_or_default()
}

/// Archived entries of `id`, newest last.
pub fn archived(repo: &Repo, id: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (name, tip) in repo.refs_under(&format!("{ARCHIVE}{id}/"))? {
        out.push(decode(repo, &name, tip)?);
    }
    out.sort_by_key(|entry| (entry.status.updated, entry.status.clock));
    Ok(out)
}

/// Parse the event stored in a registry commit message.
/// One worker's log, live or archived.
pub struct Log {
    pub id: String,
    pub refname: String,
    pub tip: Oid,
    pub events: Vec<Logged>,
}

/// The logs of every worker, live and removed (what `timeline` and
/// `report` read).
///
/// Live entries are listed first, then the archive: git lists refs in name
/// order and not as of one moment, so in one listing a worker archived
/// while it runs (`archive/` is listed before `workers/`) is in neither.
/// Read this way it may be in both: its live log, a prefix of the
/// archived one, is then dropped.
pub fn all_logs(repo: &Repo) -> Result<Vec<Log>> {
    let live = repo.refs_under(WORKERS)?;
    let archives = repo.refs_under(ARCHIVE)?;
    let mut archived: HashMap<&str, Vec<Oid>> = HashMap::new();
    for (refname, tip) in &archives {
        if let Some(id) = id_of_ref(refname) {
            archived.entry(id).or_default().push(*tip);
        }
    }
    let mut refs = Vec::with_capacity(live.len() + archives.len());
    'live: for (refname, tip) in live {
        let id = id_of_ref(&refname).unwrap_or_default();
        for archive in archived.get(id).into_iter().flatten() {
            if repo.is_ancestor(tip, *archive)? {
                continue 'live;
            }
        }
        refs.push((refname, tip));
    }
    refs.extend(archives.iter().cloned());
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (refname, tip) in refs {
        let Some(id) = id_of_ref(&refname).map(str::to_string) else {
            continue;
        };
        let events = history(repo, tip)
            .with_context(|| format!("cannot read the log of '{id}' ({refname})"))?;
        out.push(Log {
            id,
            refname,
            tip,
            events,
        });
    }
    Ok(out)
}

pub fn parse_event(message: &str) -> Option<Event> {
    let body = message.split_once("\n\n").map(|(_, body)| body)?;
    serde_json::from_str(body.trim()).ok()
}

/// The whole log of an entry, oldest first, ordered by Lamport clock (then
/// time, then commit id) so that merged logs replay deterministically.
pub fn history(repo: &Repo, tip: Oid) -> Result<Vec<Logged>> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![tip];
    let mut out = Vec::new();
    while let Some(oid) = stack.pop() {
        if !seen.insert(oid) {
            continue;
        }
        let CommitInfo {
            id,
            parents,
            message,
            author,
            ..
        } = repo.commit_info(oid)?;
        stack.extend(parents);
        if let Some(event) = parse_event(&message) {
            out.push(Logged {
                commit: id,
                author,
                event,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.event.clock, a.event.time, a.commit.as_bytes()).cmp(&(
            b.event.clock,
            b.event.time,
            b.commit.as_bytes(),
        ))
    });
    Ok(out)
}

// ----- writing -----

fn event_commit(
    repo: &Repo,
    contract: &Contract,
    status: &Status,
    event: &Event,
    parents: &[Oid],
) -> Result<Oid> {
    let mut tree = BTreeMap::new();
    tree.insert(
        "format".to_string(),
        TreeEntry::Blob(format!("{FORMAT}\n").into_bytes()),
    );
    tree.insert(
        "contract.toml".to_string(),
        TreeEntry::Blob(
            toml::to_string(contract)
                .context("cannot encode contract")?
                .into_bytes(),
        ),
    );
    tree.insert(
        "state.toml".to_string(),
        TreeEntry::Blob(
            toml::to_string(status)
                .context("cannot encode state")?
                .into_bytes(),
        ),
    );
    let tree = repo.write_tree(&tree)?;
    let json = serde_json::to_string(event).context("cannot encode event")?;
    let message = format!("{} {}\n\n{json}\n", event.kind, contract.id);
    repo.create_commit(tree, parents, &message)
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

/// Write the commit recording `change` on top of `previous` (`None`: the
/// first event of a new entry), and the entry it makes; no ref moves yet.
fn record(
    repo: &Repo,
    refname: &str,
    previous: Option<&Entry>,
    contract: &Contract,
    change: &Change,
) -> Result<Entry> {
    let (time, clock, created, parents) = match previous {
        Some(previous) => {
            let time = now().max(previous.status.updated);
            (
                time,
                previous.status.clock + 1,
                previous.status.created,
                vec![previous.tip],
            )
        }
        None => {
            let time = now();
            (time, 1, time, Vec::new())
        }
    };
    let event = Event {
        id: event_id(),
        v: FORMAT,
        kind: change.kind.to_string(),
        time,
        actor: change.actor,
        clock,
        data: change.data.clone(),
    };
    let status = Status {
        state: change.state,
        reason: change.reason.clone(),
        created,
        updated: time,
        clock,
    };
    let tip = event_commit(repo, contract, &status, &event, &parents)?;
    Ok(Entry {
        refname: refname.to_string(),
        tip,
        format: FORMAT,
        contract: contract.clone(),
        status,
    })
}

/// Create the entry of `contract.id` with its first event. Returns the
/// existing entry instead if one is already there (or appears concurrently).
pub fn create(
    repo: &Repo,
    contract: &Contract,
    change: Change,
) -> Result<std::result::Result<Entry, Entry>> {
    let refname = live_ref(&contract.id);
    for attempt in 0..CAS_ATTEMPTS {
        if let Some(existing) = load(repo, &contract.id)? {
            return Ok(Err(existing));
        }
        let entry = record(repo, &refname, None, contract, &change)?;
        match repo.cas_ref(&refname, entry.tip, None, "git-worker: create")? {
            Cas::Updated => return Ok(Ok(entry)),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up creating registry entry '{refname}' after {CAS_ATTEMPTS} attempts: too much contention"
    )
}

/// Append one event to the entry at `refname`. `decide` sees the current
/// entry (re-read after every lost race) and returns the change to make, or
/// `None` to make none. Returns the entry as written, or as found.
pub fn update(
    repo: &Repo,
    refname: &str,
    mut decide: impl FnMut(&Entry) -> Result<Option<Change>>,
) -> Result<Entry> {
    for attempt in 0..CAS_ATTEMPTS {
        let Some(tip) = repo.ref_target(refname)? else {
            // Its callers read the entry first: it went since (an rm).
            return Err(match refname.strip_prefix(WORKERS) {
                Some(id) => removed_meanwhile(id),
                None => anyhow::anyhow!("registry entry '{refname}' disappeared"),
            });
        };
        let entry = decode(repo, refname, tip)?;
        let Some(change) = decide(&entry)? else {
            return Ok(entry);
        };
        let contract = change
            .contract
            .clone()
            .unwrap_or_else(|| entry.contract.clone());
        let new = record(repo, refname, Some(&entry), &contract, &change)?;
        match repo.cas_ref(refname, new.tip, Some(tip), "git-worker: append")? {
            Cas::Updated => return Ok(new),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up appending to registry entry '{refname}' after {CAS_ATTEMPTS} attempts: too much contention"
    )
}

/// Move a live entry to the archive after appending its final event, in one
/// atomic ref transaction, so its history stays readable.
pub fn archive(repo: &Repo, id: &str, change: impl Fn() -> Change) -> Result<Entry> {
    let refname = live_ref(id);
    for attempt in 0..CAS_ATTEMPTS {
        let Some(tip) = repo.ref_target(&refname)? else {
            bail!("worker '{id}' is not registered");
        };
        let entry = decode(repo, &refname, tip)?;
        let mut new = record(repo, &refname, Some(&entry), &entry.contract, &change())?;
        new.refname = format!("{ARCHIVE}{id}/{}", new.tip);
        let updates = [
            (new.refname.clone(), Some(new.tip), None),
            (refname.clone(), None, Some(tip)),
        ];
        match repo.update_refs_atomically(&updates)? {
            Cas::Updated => return Ok(new),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!("gave up archiving worker '{id}' after {CAS_ATTEMPTS} attempts: too much contention")
}

/// Delete a live entry that never became a worker (a rolled-back spawn),
/// provided it is still at `tip`.
pub fn discard(repo: &Repo, id: &str, tip: Oid) -> Result<bool> {
    Ok(repo.cas_delete(&live_ref(id), tip)? == Cas::Updated)
}

// ----- handoffs -----

/// `handoff.toml`: what a handoff is about. The summary, stat, patch and
/// notes are blobs beside it; `result` is the tree of the worker's checkout
/// as reported (committed, staged, unstaged and untracked work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HandoffMeta {
    pub id: String,
    /// The contract's base commit the patch applies to.
    pub base: String,
    /// The checkout's HEAD commit when it reported.
    pub head: String,
    /// The reported tree (also the `result` entry of the handoff commit).
    pub tree: String,
    /// `git patch-id --stable` of the patch: the same change has the same
    /// fingerprint whatever commits it was made in.
    pub fingerprint: String,
    /// Paths changed.
    pub files: usize,
    /// Unix time of the report.
    pub reported: i64,
    /// Names of the notes under `notes/`, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A handoff as stored: one commit of `refs/orch/handoffs/<id>`.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub commit: Oid,
    pub meta: HandoffMeta,
    pub summary: String,
    pub stat: String,
    /// `(name, text)` of each note, in order.
    pub notes: Vec<(String, String)>,
}

pub fn handoff_ref(id: &str) -> String {
    format!("{HANDOFFS}{id}")
}

/// Record a handoff: a new commit on `refs/orch/handoffs/<id>` (re-reports
/// keep the history), whose parents are the previous handoff and the
/// worker's HEAD, so fetching the handoff ref brings the worker's commits.
pub fn write_handoff(
    repo: &Repo,
    meta: &HandoffMeta,
    summary: &str,
    stat: &str,
    patch: &[u8],
    notes: &[(String, String)],
) -> Result<Handoff> {
    let refname = handoff_ref(&meta.id);
    let result = Oid::from_str(&meta.tree).context("bad result tree")?;
    let head = Oid::from_str(&meta.head).context("bad head commit")?;
    let mut note_entries = BTreeMap::new();
    for (index, (name, text)) in notes.iter().enumerate() {
        note_entries.insert(
            format!("{index:03}-{name}"),
            TreeEntry::Blob(text.clone().into_bytes()),
        );
    }
    let mut tree = BTreeMap::new();
    tree.insert(
        "format".to_string(),
        TreeEntry::Blob(format!("{FORMAT}\n").into_bytes()),
    );
    tree.insert(
        "handoff.toml".to_string(),
        TreeEntry::Blob(
            toml::to_string(meta)
                .context("cannot encode handoff")?
                .into_bytes(),
        ),
    );
    tree.insert(
        "summary.md".to_string(),
        TreeEntry::Blob(summary.as_bytes().to_vec()),
    );
    tree.insert(
        "stat".to_string(),
        TreeEntry::Blob(stat.as_bytes().to_vec()),
    );
    tree.insert("patch".to_string(), TreeEntry::Blob(patch.to_vec()));
    tree.insert("result".to_string(), TreeEntry::Tree(result));
    if !note_entries.is_empty() {
        tree.insert(
            "notes".to_string(),
            TreeEntry::Tree(repo.write_tree(&note_entries)?),
        );
    }
    let tree = repo.write_tree(&tree)?;
    let first_line = summary
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no summary)");
    let message = format!(
        "handoff {}: {first_line}\n\nfingerprint {}\n",
        meta.id, meta.fingerprint
    );
    for attempt in 0..CAS_ATTEMPTS {
        let previous = repo.ref_target(&refname)?;
        let parents: Vec<Oid> = previous.into_iter().chain([head]).collect();
        let commit = repo.create_commit(tree, &parents, &message)?;
        match repo.cas_ref(&refname, commit, previous, "git-handoff: report")? {
            Cas::Updated => {
                return Ok(Handoff {
                    commit,
                    meta: meta.clone(),
                    summary: summary.to_string(),
                    stat: stat.to_string(),
                    notes: notes.to_vec(),
                });
            }
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up recording the handoff of '{}': too much contention",
        meta.id
    )
}

/// The latest handoff of `id`, if it ever reported.
pub fn load_handoff(repo: &Repo, id: &str) -> Result<Option<Handoff>> {
    let refname = handoff_ref(id);
    match repo.ref_target(&refname)? {
        Some(commit) => decode_handoff(repo, id, commit).map(Some),
        None => Ok(None),
    }
}

/// The latest handoff of the worker whose entry is `entry`, if its own log
/// records reporting it: the handoff ref outlives a removed worker, so a
/// worker spawned again under the same id would otherwise inherit it.
pub fn load_current_handoff(repo: &Repo, entry: &Entry) -> Result<Option<Handoff>> {
    current_handoff(repo, entry, &history(repo, entry.tip)?)
}

/// [`load_current_handoff`] for a caller that has read the entry's history.
pub fn current_handoff(repo: &Repo, entry: &Entry, history: &[Logged]) -> Result<Option<Handoff>> {
    let Some(handoff) = load_handoff(repo, entry.id())? else {
        return Ok(None);
    };
    let named: std::collections::HashSet<String> = history
        .iter()
        .filter(|l| l.event.kind == "reported")
        .filter_map(|l| {
            l.event
                .data
                .get("handoff")
                .and_then(|h| h.as_str())
                .map(str::to_string)
        })
        .collect();
    // A merge of two handoff chains (`git worker sync`) stands for the newer
    // handoff, its first parent. A handoff its log does not name (a report
    // killed between writing it and logging it) gives way to the one before
    // it: a handoff's parents are the previous handoff, if any, and the
    // checkout's HEAD.
    let mut commit = handoff.commit;
    // The handoff `commit` stands for: a merge stands for its first parent.
    let mut top = handoff.commit;
    loop {
        if named.contains(&commit.to_string()) {
            return Ok(Some(if top == handoff.commit {
                handoff
            } else {
                decode_handoff(repo, entry.id(), top)?
            }));
        }
        let info = repo.commit_info(commit)?;
        if info.parents.len() != 2 {
            return Ok(None);
        }
        commit = info.parents[0];
        if !info.message.trim_end().ends_with(SYNC_MERGE_TRAILER) {
            top = commit;
        }
    }
}

/// The commits of every handoff of `id`, newest first (at most `limit`):
/// the first-parent chain of its handoff ref, which ends at a commit that
/// has no previous handoff (one parent: the worker's HEAD).
pub fn handoff_commits(repo: &Repo, id: &str, limit: usize) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    let mut next = repo.ref_target(&handoff_ref(id))?;
    while let Some(commit) = next {
        if out.len() >= limit {
            break;
        }
        let parents = repo.commit_info(commit)?.parents;
        out.push(commit);
        next = (parents.len() == 2).then(|| parents[0]);
    }
    Ok(out)
}

/// The handoff of `id` recorded in `commit`.
pub fn decode_handoff(repo: &Repo, id: &str, commit: Oid) -> Result<Handoff> {
    let refname = handoff_ref(id);
    let corrupt = |what: String| -> anyhow::Error {
        Hint::new(format!("handoff '{refname}' is corrupt: {what}"))
            .hint(format!("inspect it with `git show {refname}`"))
            .into()
    };
    let info = repo
        .commit_info(commit)
        .map_err(|err| corrupt(format!("{err:#}")))?;
    let contents = repo
        .read_tree(info.tree)
        .map_err(|err| corrupt(format!("{err:#}")))?;
    let text = |name: &str| -> Result<String> {
        let bytes = contents
            .blobs
            .get(name)
            .ok_or_else(|| corrupt(format!("'{name}' is missing")))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let format: u32 = text("format")?
        .trim()
        .parse()
        .map_err(|_| corrupt("'format' is not a number".into()))?;
    if format > FORMAT {
        return Err(Hint::new(format!(
            "handoff '{refname}' has format {format}, newer than this tool understands ({FORMAT})"
        ))
        .hint("upgrade git-orch")
        .into());
    }
    let meta: HandoffMeta = toml::from_str(&text("handoff.toml")?).map_err(|err| {
        corrupt(format!(
            "handoff.toml: {}",
            crate::contract::toml_message(&err)
        ))
    })?;
    if meta.id != id {
        return Err(corrupt(format!(
            "it is the handoff of '{}', not of '{id}'",
            meta.id
        )));
    }
    let mut notes = Vec::new();
    if let Some(dir) = contents.trees.get("notes") {
        for (name, bytes) in repo.read_tree(*dir)?.blobs {
            let name = name
                .split_once('-')
                .map_or(name.clone(), |(_, rest)| rest.to_string());
            notes.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(Handoff {
        commit,
        meta,
        summary: text("summary.md")?,
        stat: text("stat")?,
        notes,
    })
}

/// A commit of the handoff's result tree on its base, referenced by no ref:
/// what `git review-gate run` checks out and `git handoff land` merges in
/// its predictions.
pub fn handoff_result_commit(repo: &Repo, handoff: &Handoff) -> Result<Oid> {
    let base = Oid::from_str(&handoff.meta.base).context("bad base in the handoff")?;
    let tree = Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?;
    repo.create_commit(
        tree,
        &[base],
        &format!(
            "the handoff of '{}' (fingerprint {})\n",
            handoff.meta.id, handoff.meta.fingerprint
        ),
    )
}

/// The patch of a handoff, bytes as recorded.
pub fn handoff_patch(repo: &Repo, handoff: &Handoff) -> Result<Vec<u8>> {
    let info = repo.commit_info(handoff.commit)?;
    repo.read_tree(info.tree)?
        .blobs
        .remove("patch")
        .context("the handoff has no patch")
}

// ----- merging what two machines wrote -----

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
pub fn merge_ref(repo: &Repo, refname: &str, theirs: Oid) -> Result<Merge> {
    if let Some(id) = refname.strip_prefix(WORKERS)
        && archived_past(repo, id, theirs)?
    {
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
    } else {
        Ok(Merge::Refused(format!(
            "'{refname}' differs here and there, and is written once: kept this side's"
        )))
    }
}

/// Whether the live entry `tip` belongs to a worker `id` that was removed
/// (an archive of `id` here shares its history: same spawn), even if `tip`
/// has events the archive lacks (written late, elsewhere).
pub fn archived_past(repo: &Repo, id: &str, tip: Oid) -> Result<bool> {
    let archives: Vec<Oid> = repo
        .refs_under(&format!("{ARCHIVE}{id}/"))?
        .into_iter()
        .map(|(_, tip)| tip)
        .collect();
    archived_past_in(repo, &archives, tip)
}

/// [`archived_past`] against `archives`, the archive tips of that worker
/// (from [`all_archives`]: one git process for every worker).
pub fn archived_past_in(repo: &Repo, archives: &[Oid], tip: Oid) -> Result<bool> {
    for archived in archives {
        if *archived == tip || repo.merge_base(tip, *archived)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The tips of every archived entry, by worker id.
pub fn all_archives(repo: &Repo) -> Result<HashMap<String, Vec<Oid>>> {
    let mut out: HashMap<String, Vec<Oid>> = HashMap::new();
    for (name, tip) in repo.refs_under(ARCHIVE)? {
        if let Some((id, _)) = name.trim_start_matches(ARCHIVE).split_once('/') {
            out.entry(id.to_string()).or_default().push(tip);
        }
    }
    Ok(out)
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
    if mine.contract != other.contract {
        return Ok(Merge::Refused(format!(
            "'{refname}' has a different contract there (in: {}); kept this side's",
            mine.contract.differences(&other.contract).join(", ")
        )));
    }
    let mut events = history(repo, ours)?;
    events.extend(history(repo, theirs)?);
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
        &mine.contract,
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
    repo.create_commit(tree, &[ours, theirs], "verdicts: merged\n")
}

/// Marks a handoff commit made by `git worker sync` joining two chains.
const SYNC_MERGE_TRAILER: &str = "Orch-Merge: sync";

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
    Ok(Merge::Merged(repo.create_commit(
        info.tree,
        &[newer, older],
        &format!(
            "handoff {id}: merged\n\n{}\n{SYNC_MERGE_TRAILER}\n",
            info.message.trim_end()
        ),
    )?))
}

// ----- planned tasks -----

/// Planned tasks: one ref each, a commit whose tree holds `task.toml`.
pub const TASKS: &str = "refs/orch/tasks/";

/// A task planned for later: spawned (as worker `id`) once every task it
/// depends on has landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Task {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// What to start from when it is spawned (a name resolved then; empty:
    /// the default base at that time).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
    /// Unix time it was planned.
    pub planned: i64,
    /// Its contract; `branch` and `base` are filled in at spawn.
    pub contract: Contract,
}

pub fn task_ref(id: &str) -> String {
    format!("{TASKS}{id}")
}

/// Record `task`. `Ok(false)` when the very same task is planned already;
/// an error when a different one is.
pub fn create_task(repo: &Repo, task: &Task) -> Result<bool> {
    let refname = task_ref(&task.id);
    if let Some(existing) = load_task(repo, &task.id)? {
        let same = Task {
            planned: existing.planned,
            ..task.clone()
        };
        if same == existing {
            return Ok(false);
        }
        return Err(Hint::new(format!(
            "task '{}' is already planned, differently",
            task.id
        ))
        .hint(format!(
            "`git worker graph` shows it; plan it under another id, or inspect {refname}"
        ))
        .into());
    }
    let mut tree = BTreeMap::new();
    tree.insert(
        "format".to_string(),
        TreeEntry::Blob(format!("{FORMAT}\n").into_bytes()),
    );
    tree.insert(
        "task.toml".to_string(),
        TreeEntry::Blob(
            toml::to_string(task)
                .context("cannot encode task")?
                .into_bytes(),
        ),
    );
    let tree = repo.write_tree(&tree)?;
    let event = Event {
        id: event_id(),
        v: FORMAT,
        kind: "planned".into(),
        time: task.planned,
        actor: Actor::Coordinator,
        clock: 1,
        data: serde_json::Map::new(),
    };
    let message = format!(
        "planned {}\n\n{}\n",
        task.id,
        serde_json::to_string(&event).context("cannot encode event")?
    );
    let commit = repo.create_commit(tree, &[], &message)?;
    match repo.cas_ref(&refname, commit, None, "git-worker: plan")? {
        Cas::Updated => Ok(true),
        // Planned at the same moment by someone else: same answer as above.
        Cas::Raced => create_task(repo, task),
    }
}

pub fn load_task(repo: &Repo, id: &str) -> Result<Option<Task>> {
    let refname = task_ref(id);
    let Some(tip) = repo.ref_target(&refname)? else {
        return Ok(None);
    };
    decode_task(repo, &refname, tip).map(Some)
}

fn decode_task(repo: &Repo, refname: &str, tip: Oid) -> Result<Task> {
    let tree = repo.commit_tree(tip)?;
    let text = repo
        .tree_blob(tree, "task.toml")?
        .with_context(|| format!("task '{refname}' has no task.toml"))?;
    let text = String::from_utf8(text).with_context(|| format!("task '{refname}' is not UTF-8"))?;
    toml::from_str(&text).map_err(|err| {
        Hint::new(format!(
            "task '{refname}' is corrupt: {}",
            crate::contract::toml_message(&err)
        ))
        .hint(format!("inspect it with `git show {refname}:task.toml`"))
        .into()
    })
}

/// Every planned task, by id.
pub fn list_tasks(repo: &Repo) -> Result<Vec<Task>> {
    repo.refs_under(TASKS)?
        .into_iter()
        .map(|(name, tip)| decode_task(repo, &name, tip))
        .collect()
}

/// How far the work under an id has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// No worker has been spawned under the id.
    NotSpawned,
    /// A live worker, in this state (not yet applied).
    Working(State),
    /// Applied: live and `applied`, or removed after being applied.
    Landed,
    /// Removed without ever being applied: abandoned.
    Abandoned,
}

pub fn progress(repo: &Repo, id: &str) -> Result<Progress> {
    if let Some(entry) = load(repo, id)? {
        return Ok(match entry.status.state {
            State::Applied => Progress::Landed,
            state => Progress::Working(state),
        });
    }
    let archived = archived(repo, id)?;
    if archived.is_empty() {
        return Ok(Progress::NotSpawned);
    }
    for entry in &archived {
        if history(repo, entry.tip)?.iter().any(landed_event) {
            return Ok(Progress::Landed);
        }
    }
    Ok(Progress::Abandoned)
}

/// An event saying the work landed: `applied`, or a removal by
/// `git worker cleanup` that found its commits in HEAD.
pub fn landed_event(logged: &Logged) -> bool {
    match logged.event.kind.as_str() {
        "applied" => true,
        "removed" => logged
            .event
            .data
            .get("landed")
            .and_then(|v| v.as_str())
            .is_some_and(|how| !how.is_empty()),
        _ => false,
    }
}

/// Why the work under `id` was abandoned: the reason of its last rejection
/// before removal, if it was rejected.
pub fn abandon_reason(repo: &Repo, id: &str) -> Result<Option<String>> {
    for entry in archived(repo, id)?.iter().rev() {
        let found = history(repo, entry.tip)?
            .iter()
            .rev()
            .find(|l| l.event.kind == "rejected")
            .map(|l| {
                l.event
                    .data
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("")
                    .to_string()
            });
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

// ----- verdicts -----

/// Review verdicts, as a notes ref: `git -c core.notesRef=refs/orch/notes/verdicts
/// log refs/orch/handoffs/<id>` shows them beside the handoffs they judge.
pub const VERDICTS: &str = "refs/orch/notes/verdicts";

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
    pub commands: Vec<crate::verify::CommandResult>,
}

/// Where the note of `target` lives in a notes tree: git's 2/38 fan-out,
/// which `git notes` reads whatever the number of notes.
fn note_path(target: Oid) -> String {
    let hex = target.to_string();
    format!("{}/{}", &hex[..2], &hex[2..])
}

/// The verdicts noted on `target`, in the order they were written.
pub fn verdicts_on(repo: &Repo, target: Oid) -> Result<Vec<Verdict>> {
    let Some(tip) = repo.ref_target(VERDICTS)? else {
        return Ok(Vec::new());
    };
    let tree = repo.commit_tree(tip)?;
    let hex = target.to_string();
    // Ours is 2/38; other tools write flat, or fan out deeper (2/2/36...).
    let mut text = None;
    for path in std::iter::once(note_path(target)).chain((0..=4).map(|depth| {
        let mut path = String::new();
        for level in 0..depth {
            path.push_str(&hex[level * 2..level * 2 + 2]);
            path.push('/');
        }
        path.push_str(&hex[depth * 2..]);
        path
    })) {
        if let Some(bytes) = repo.tree_blob(tree, &path)? {
            text = Some(bytes);
            break;
        }
    }
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    parse_verdicts(&text).map_err(|err| {
        Hint::new(format!(
            "the verdicts on {target} in {VERDICTS} are corrupt: {err}"
        ))
        .hint(format!(
            "inspect them with `git -c core.notesRef={VERDICTS} log -1 --format=%N {target}`"
        ))
        .into()
    })
}

/// The lines of a verdict note. Blank lines are skipped; anything else that
/// is not a verdict is an error naming the line.
pub fn parse_verdicts(text: &[u8]) -> std::result::Result<Vec<Verdict>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_string())?;
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let verdict: Verdict =
            serde_json::from_str(line).map_err(|err| format!("line {}: {err}", index + 1))?;
        if verdict.v > FORMAT {
            return Err(format!(
                "line {}: verdict format {} is newer than this tool understands ({FORMAT})",
                index + 1,
                verdict.v
            ));
        }
        out.push(verdict);
    }
    Ok(out)
}

/// Append `verdict` to the note of `target`: a new commit of the notes ref,
/// moved by compare-and-swap and retried on a lost race (git's and
/// libgit2's own notes writers do not check the old value and lose writes
/// under concurrency).
pub fn append_verdict(repo: &Repo, target: Oid, verdict: &Verdict) -> Result<()> {
    for attempt in 0..CAS_ATTEMPTS {
        let tip = repo.ref_target(VERDICTS)?;
        let commit = verdict_commit(repo, tip, target, verdict)?;
        match repo.cas_ref(VERDICTS, commit, tip, "git-review-gate: verdict")? {
            Cas::Updated => return Ok(()),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up recording a verdict in {VERDICTS} after {CAS_ATTEMPTS} attempts: too much contention"
    )
}

/// [`append_verdict`], together with the event `decide` makes of it in the
/// log at `refname`, in one atomic ref transaction: a verdict is never
/// recorded without its event, or the event without the verdict, whenever
/// the process dies. When the entry is gone (the worker was removed
/// meanwhile), the verdict alone, and `None`.
pub fn append_verdict_logged(
    repo: &Repo,
    target: Oid,
    verdict: &Verdict,
    refname: &str,
    mut decide: impl FnMut(&Entry) -> Result<Change>,
) -> Result<Option<Entry>> {
    for attempt in 0..CAS_ATTEMPTS {
        let notes = repo.ref_target(VERDICTS)?;
        let new_notes = verdict_commit(repo, notes, target, verdict)?;
        let Some(tip) = repo.ref_target(refname)? else {
            append_verdict(repo, target, verdict)?;
            return Ok(None);
        };
        let entry = decode(repo, refname, tip)?;
        let change = decide(&entry)?;
        let contract = change
            .contract
            .clone()
            .unwrap_or_else(|| entry.contract.clone());
        let new = record(repo, refname, Some(&entry), &contract, &change)?;
        let updates = [
            (VERDICTS.to_string(), Some(new_notes), notes),
            (refname.to_string(), Some(new.tip), Some(tip)),
        ];
        match repo.update_refs_atomically(&updates)? {
            Cas::Updated => return Ok(Some(new)),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up recording a verdict and its event after {CAS_ATTEMPTS} attempts: too much contention, or a lock file left by a crashed git ({VERDICTS}.lock, {refname}.lock under the git directory)"
    )
}

/// The commit of the verdict notes with `verdict` appended to the note on
/// `target`, on top of `tip`.
fn verdict_commit(repo: &Repo, tip: Option<Oid>, target: Oid, verdict: &Verdict) -> Result<Oid> {
    let line = serde_json::to_string(verdict).context("cannot encode verdict")?;
    let path = note_path(target);
    let flat = target.to_string();
    let subject = match &verdict.worker {
        Some(id) => format!("{} {id}", verdict.ruling),
        None => format!("{} {}", verdict.ruling, &flat[..7]),
    };
    let tree = tip.map(|tip| repo.commit_tree(tip)).transpose()?;
    let mut text = Vec::new();
    // A flat note (written by other tools) moves into the fan-out.
    let mut remove: Vec<&str> = Vec::new();
    if let Some(tree) = tree {
        for at in [&path, &flat] {
            if let Some(existing) = repo.tree_blob(tree, at)? {
                text.extend_from_slice(&existing);
                if !text.is_empty() && !text.ends_with(b"\n") {
                    text.push(b'\n');
                }
                if at == &flat {
                    remove.push(&flat);
                }
            }
        }
    }
    text.extend_from_slice(line.as_bytes());
    text.push(b'\n');
    let new_tree = repo.tree_with_blob(tree, &path, &text, &remove)?;
    let parents: Vec<Oid> = tip.into_iter().collect();
    repo.create_commit(new_tree, &parents, &format!("verdict: {subject}\n"))
}

// ----- machine-local facts -----

/// Facts about a worker that only hold on this machine. Kept out of the refs
/// so that a fetch of `refs/orch/*` never carries another machine's paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Local {
    /// Absolute path of the worker's checkout.
    pub path: PathBuf,
    /// Name of its linked worktree under `<git-common-dir>/worktrees/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub worktree: String,
    /// The contract as this coordinator recorded it at spawn: the authority
    /// when the one in the refs differs (say, after a fetch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// `clone` for a worker in its own clone (`spawn --isolation clone`);
    /// empty for a linked worktree.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation: String,
}

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

/// An agent launched for a worker on this machine (`spawn --exec`): kept in
/// `<common>/orch/agents/<id>.json`, beside its output (`<id>.log`) and its
/// rendered prompt (`<id>.prompt.md`). Pids mean nothing on another machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Agent {
    pub command: String,
    /// The supervising `git worker agent-run` process (the leader of the
    /// process group the agent runs in), and when it started.
    pub supervisor: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_start: Option<u64>,
    /// The agent's own process (0 until it started), and when it started.
    #[serde(default)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    pub started: i64,
    /// Unix time it exited, and its exit status, or the signal that killed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl Agent {
    /// Whether its supervisor or the agent itself still runs.
    pub fn running(&self) -> bool {
        self.exited.is_none()
            && (process_alive(self.supervisor, self.supervisor_start)
                || process_alive(self.pid, self.pid_start))
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

/// The files of the agent of `id`.
pub struct AgentFiles {
    /// [`Agent`], as JSON.
    pub facts: PathBuf,
    /// Its standard output and error.
    pub log: PathBuf,
    /// The rendered prompt (`$ORCH_PROMPT`).
    pub prompt: PathBuf,
    /// The contract, as TOML (`$ORCH_CONTRACT`).
    pub contract: PathBuf,
}

pub fn agent_files(repo: &Repo, id: &str) -> AgentFiles {
    let dir = repo.common_dir().join("orch").join("agents");
    AgentFiles {
        facts: dir.join(format!("{id}.json")),
        log: dir.join(format!("{id}.log")),
        prompt: dir.join(format!("{id}.prompt.md")),
        contract: dir.join(format!("{id}.contract.toml")),
    }
}

pub fn load_agent(repo: &Repo, id: &str) -> Result<Option<Agent>> {
    let facts = agent_files(repo, id).facts;
    match std::fs::read(&facts) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("cannot parse '{}'", facts.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read '{}'", facts.display())),
    }
}

pub fn save_agent(repo: &Repo, id: &str, agent: &Agent) -> Result<()> {
    let facts = agent_files(repo, id).facts;
    if let Some(dir) = facts.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
    }
    crate::fs::write_atomically(&facts, &serde_json::to_vec_pretty(agent)?)
}

/// Forget the agent of `id` (its log stays for reading).
pub fn remove_agent(repo: &Repo, id: &str) -> Result<()> {
    let files = agent_files(repo, id);
    for path in [files.facts, files.prompt, files.contract] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot remove '{}'", path.display()));
            }
        }
    }
    Ok(())
}

/// `<common>/orch/local.json`: the machine-local facts of every worker on
/// this machine, in one file so `list` reads them with one read.
fn locals_path(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("local.json")
}

#[derive(Default, Serialize, Deserialize)]
struct LocalsFile {
    v: u32,
    workers: BTreeMap<String, Local>,
}

pub fn journal_path(repo: &Repo, id: &str) -> PathBuf {
    local_dir(repo).join(format!("{id}.spawning"))
}

/// `local.json` decoded as `T` (a view of it), or `None` when there is none.
fn read_locals_file<T: serde::de::DeserializeOwned>(repo: &Repo) -> Result<Option<T>> {
    let path = locals_path(repo);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
            Hint::new(format!("cannot parse '{}': {err}", path.display()))
                .hint("it holds this machine's checkout paths; move it aside, then `git worker doctor` shows what is affected")
                .into()
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read '{}'", path.display())),
    }
}

/// The machine-local facts of every worker on this machine.
pub fn load_locals(repo: &Repo) -> Result<BTreeMap<String, Local>> {
    Ok(read_locals_file::<LocalsFile>(repo)?
        .map(|file| file.workers)
        .unwrap_or_default())
}

/// Only the checkout path of every worker on this machine (what `list`
/// needs), without decoding the pinned contracts.
pub fn load_local_paths(repo: &Repo) -> Result<BTreeMap<String, PathBuf>> {
    #[derive(Deserialize)]
    struct PathOnly {
        path: PathBuf,
    }
    #[derive(Deserialize)]
    struct PathsFile {
        workers: BTreeMap<String, PathOnly>,
    }
    Ok(read_locals_file::<PathsFile>(repo)?
        .map(|file| {
            file.workers
                .into_iter()
                .map(|(id, local)| (id, local.path))
                .collect()
        })
        .unwrap_or_default())
}

/// One worker's local facts. Only its entry is decoded: the pre-commit hook
/// reads this on every commit, and the file holds every worker's contract.
pub fn load_local(repo: &Repo, id: &str) -> Result<Option<Local>> {
    #[derive(Deserialize)]
    struct Raw {
        workers: BTreeMap<String, Box<serde_json::value::RawValue>>,
    }
    let Some(mut raw) = read_locals_file::<Raw>(repo)? else {
        return Ok(None);
    };
    raw.workers
        .remove(id)
        .map(|value| serde_json::from_str(value.get()))
        .transpose()
        .with_context(|| {
            format!(
                "cannot parse the local facts of '{id}' in '{}'",
                locals_path(repo).display()
            )
        })
}

/// Read-modify-write of the local facts, under the machine lock.
fn update_locals(repo: &Repo, change: impl FnOnce(&mut BTreeMap<String, Local>)) -> Result<()> {
    let _lock = repo.lock_machine()?;
    let mut workers = load_locals(repo)?;
    change(&mut workers);
    let path = locals_path(repo);
    if workers.is_empty() {
        return remove_file_if_exists(&path);
    }
    let json = serde_json::to_vec_pretty(&LocalsFile { v: FORMAT, workers })
        .context("cannot encode local facts")?;
    crate::fs::write_atomically(&path, &json)
}

pub fn save_local(repo: &Repo, id: &str, local: &Local) -> Result<()> {
    update_locals(repo, |workers| {
        workers.insert(id.to_string(), local.clone());
    })
}

pub fn remove_local(repo: &Repo, id: &str) -> Result<()> {
    update_locals(repo, |workers| {
        workers.remove(id);
    })?;
    tidy_local_dir(repo)
}

/// Once no worker is left on this machine (no local facts, no spawn in
/// progress), remove the hook shims and the `<common>/orch` directories, so
/// the repository is as it was. Under the machine lock, so a concurrent
/// spawn installing hooks is never undone.
fn tidy_local_dir(repo: &Repo) -> Result<()> {
    let _lock = repo.lock_machine()?;
    let local = local_dir(repo);
    let _ = std::fs::remove_dir(&local);
    // A bare repository's hooks are a hub's, not workers'.
    if !local.exists() && !locals_path(repo).exists() && !repo.is_bare() {
        crate::hooks::uninstall(repo);
        if let Some(orch) = local.parent() {
            let _ = std::fs::remove_dir(orch);
        }
    }
    Ok(())
}

/// Ids with local facts on this machine.
pub fn local_ids(repo: &Repo) -> Result<Vec<String>> {
    Ok(load_locals(repo)?.into_keys().collect())
}

/// Ids with a spawn journal on this machine.
pub fn journal_ids(repo: &Repo) -> Result<Vec<String>> {
    files_with_extension(&local_dir(repo), "spawning")
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

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove '{}'", path.display())),
    }
}

/// Whether process `pid` is alive on this machine.
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return true;
    }
    if cfg!(target_os = "linux") {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// When process `pid` started (clock ticks since boot; Linux), so that a
/// recorded pid is not mistaken for another process that got it later.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // State is field 3 (index 0 here); a zombie is not running.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is alive and, when `start` is known, still the process
/// that started then.
pub fn process_alive(pid: u32, start: Option<u64>) -> bool {
    if pid == 0 || !pid_alive(pid) {
        return false;
    }
    match (start, cfg!(target_os = "linux")) {
        (Some(start), true) => process_start(pid) == Some(start),
        (None, true) => process_start(pid).is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_known_by_its_pid_and_start_time() {
        let me = std::process::id();
        let start = process_start(me);
        assert!(start.is_some());
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start.map(|s| s + 1)));
        assert!(!process_alive(0, None));
    }

    #[test]
    fn events_round_trip_through_commit_messages() {
        let mut data = serde_json::Map::new();
        data.insert("base".into(), "abc".into());
        let event = Event {
            id: event_id(),
            v: 1,
            kind: "spawned".into(),
            time: 5,
            actor: Actor::Coordinator,
            clock: 2,
            data,
        };
        let message = format!("spawned w1\n\n{}\n", serde_json::to_string(&event).unwrap());
        assert_eq!(parse_event(&message), Some(event));
        assert_eq!(parse_event("no body"), None);
        assert_eq!(parse_event("subject\n\nnot json"), None);
    }

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

    #[test]
    fn appending_to_a_worker_removed_meanwhile_says_so() {
        let (_dir, repo) = crate::hostile::scratch_repo();
        let err = update(&repo, &live_ref("w"), |_| Ok(None)).unwrap_err();
        assert_eq!(
            crate::exit::render(&err),
            "error: worker 'w' was removed meanwhile\nhint: its history: git worker show w\n"
        );
    }

    #[test]
    fn event_ids_are_unique() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| event_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 16));
    }

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

    #[test]
    fn verdict_notes_parse_line_by_line_and_name_the_bad_line() {
        let good = r#"{"time":1,"id":"a","v":1,"ruling":"approve","by":"Ann <a@x>","actor":"coordinator","base":"b","tree":"t","fingerprint":"f"}"#;
        let text = format!("{good}\n\n{good}\n");
        let verdicts = parse_verdicts(text.as_bytes()).unwrap();
        assert_eq!(verdicts.len(), 2);
        assert_eq!(verdicts[0].ruling, Ruling::Approve);
        let err = parse_verdicts(format!("{good}\nnot json\n").as_bytes()).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse_verdicts(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(err, "not UTF-8");
        let newer = good.replace(r#""v":1"#, r#""v":99"#);
        let err = parse_verdicts(newer.as_bytes()).unwrap_err();
        assert!(err.contains("newer than this tool understands"), "{err}");
        let unknown = good.replace("approve", "maybe");
        assert!(parse_verdicts(unknown.as_bytes()).is_err());
    }
}
