//! Worker logs: `refs/orch/workers/<id>` (live) and
//! `refs/orch/archive/<id>/<sha>` (removed), read back and appended to by
//! compare-and-swap.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use super::decode::{decode, history};
use super::trust::Verifier;
use super::{
    ARCHIVE, CAS_ATTEMPTS, Change, Entry, Event, FORMAT, Logged, State, Status, WORKERS, backoff,
    event_id, id_of_ref, live_ref, now, removed_meanwhile,
};
use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::{Cas, Oid, Repo, TreeEntry};
use crate::local;

/// Whether worker `id` is being removed, or is gone, so that what was just
/// read of its checkout may be torn (a checkout being removed loses its
/// files one by one): a reader of many workers skips such a worker instead
/// of reporting what it read, or failing. Asked after the read, it also
/// catches a removal that began and ended during it.
pub fn being_removed(repo: &Repo, id: &str) -> Result<bool> {
    Ok(local::removal_running(repo, id).is_some() || repo.ref_target(&live_ref(id))?.is_none())
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

/// The live entry of `id`, if any.
pub fn load(repo: &Repo, id: &str) -> Result<Option<Entry>> {
    let refname = live_ref(id);
    match repo.ref_target(&refname)? {
        Some(tip) => read_trusted(repo, &Verifier::new(repo)?, &refname, tip).map(Some),
        None => Ok(None),
    }
}

/// The entry `refname` holds at `tip`, read at its newest commit whose
/// signer was entitled to it (see [`super::trust`]); an error when none is.
pub fn read_trusted(repo: &Repo, verifier: &Verifier, refname: &str, tip: Oid) -> Result<Entry> {
    if super::decode::newer_format(repo, tip) {
        // "upgrade git-worker", rather than an older commit read instead.
        return decode(repo, refname, tip);
    }
    match verifier.trusted_tip(refname, tip)? {
        Some(trusted) => decode(repo, refname, trusted),
        // One that is not an entry at all says how it is corrupt.
        None => Err(decode(repo, refname, tip).err().unwrap_or_else(|| Hint::new(format!(
            "registry entry '{refname}' is not the coordinator's: no commit of it is signed by a key entitled to it"
        ))
        .hint(format!(
            "it came from elsewhere (a fetch, a push to a hub); inspect it with `git log --show-signature {refname}`"
        ))
        .into())),
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
    Cache(read_cache(&local::cache_path(repo)))
}

/// [`list`] for live-entry refs the caller has read already, with the cache
/// the caller loaded meanwhile.
pub fn list_refs(
    repo: &Repo,
    refs: Vec<(String, Oid)>,
    cache: Cache,
) -> Result<Vec<Result<Entry>>> {
    let path = local::cache_path(repo);
    if refs.is_empty() {
        let _ = std::fs::remove_file(&path);
        local::tidy_local_dir(repo)?;
        return Ok(Vec::new());
    }
    let mut cache = cache.0;
    let mut changed = cache.len() != refs.len();
    let mut out = Vec::with_capacity(refs.len());
    let mut fresh = BTreeMap::new();
    let verifier = Verifier::new(repo)?;
    for (name, tip) in refs {
        match cache.remove(&name) {
            Some(cached) if cached.tip == tip.to_string() => {
                out.push(Ok(cached.entry(&name, tip)));
                fresh.insert(name, cached);
            }
            _ => {
                changed = true;
                let entry = read_trusted(repo, &verifier, &name, tip);
                // Only an entry read at its tip is cached under it.
                if let Ok(entry) = &entry
                    && entry.tip == tip
                {
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
    let verifier = Verifier::new(repo)?;
    for (name, tip) in repo.refs_under(&format!("{ARCHIVE}{id}/"))? {
        // An archive nobody entitled wrote is ignored (with a warning).
        if verifier.trusted_tip(&name, tip)?.is_some() {
            out.push(read_trusted(repo, &verifier, &name, tip)?);
        }
    }
    out.sort_by_key(|entry| (entry.status.updated, entry.status.clock));
    Ok(out)
}

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

pub(super) fn event_commit(
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
    super::keys::commit(repo, tree, parents, &message)
}

/// Write the commit recording `change` on top of `previous` (`None`: the
/// first event of a new entry), and the entry it makes; no ref moves yet.
pub(super) fn record(
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
        let entry = read_trusted(repo, &Verifier::new(repo)?, refname, tip)?;
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
        let entry = read_trusted(repo, &Verifier::new(repo)?, &refname, tip)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Actor;
    use crate::registry::decode::parse_event;

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
    fn appending_to_a_worker_removed_meanwhile_says_so() {
        let (_dir, repo) = crate::hostile::scratch_repo();
        let err = update(&repo, &live_ref("w"), |_| Ok(None)).unwrap_err();
        assert_eq!(
            crate::exit::render(&err),
            "error: worker 'w' was removed meanwhile\nhint: its history: git worker show w\n"
        );
    }
}
