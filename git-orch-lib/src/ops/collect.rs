//! Results by pull: what sandboxed workers wrote into their own clones,
//! taken by the coordinator.
//!
//! A sandboxed worker can write only its clone. It records its events in
//! its outbox (`refs/orch/outbox/<id>` there), its handoffs in
//! `refs/orch/handoffs/<id>` and its work on its branch. Every coordinator
//! command that reads workers first takes from each sandboxed worker on
//! this machine what it may write, and nothing else:
//!
//! * its objects, read in-process (no git runs in the clone, so nothing of
//!   its config, hooks or attributes runs), packed, and indexed here by
//!   `git index-pack --strict` (every object hashed again and checked as
//!   `transfer.fsckObjects` does): an object swapped on disk or malformed
//!   is refused. Refs move only after the checks below, so what is refused
//!   is never reachable here (and `git gc` prunes it);
//! * its branch (the one its contract names);
//! * its handoffs, each checked (its own id, its contract's base, the tree
//!   it says), as a continuation of the chain here;
//! * its outbox events, each checked against what a worker may write
//!   ([`crate::registry::WorkerEvent`]) and appended to its log here by the
//!   coordinator, which decides the state they lead to.
//!
//! Anything else is refused and said (once, as a `refused` event in its
//! log and a warning): other refs under `refs/orch/` in the clone (verdicts,
//! other workers, its own log's copy), events it may not write, a rewritten
//! outbox or handoff chain.

use anyhow::{Context as _, Result};

use crate::contract::Contract;
use crate::git::{Cas, Oid, Repo};
use crate::local::{self, Local};
use crate::registry::{self, Actor, Change, Entry, Handoff, WorkerEvent};

/// Take what every sandboxed worker on this machine wrote. A worker whose
/// clone cannot be read is passed over (it is removed, or being removed);
/// what is refused is said on stderr.
pub fn collect_all(repo: &Repo) -> Result<()> {
    for (id, local) in local::sandboxed(repo)? {
        if let Err(err) = collect(repo, &id, &local) {
            if registry::being_removed(repo, &id)? {
                continue;
            }
            eprintln!(
                "warning: cannot take the work of sandboxed worker '{id}': {}",
                crate::exit::render(&err)
                    .trim_start_matches("error: ")
                    .trim_end()
            );
        }
    }
    Ok(())
}

/// A watch on the registry refs `ref_dirs` of `repo` and on what its
/// sandboxed workers write in their clones (where their work arrives).
pub fn watch(repo: &Repo, ref_dirs: &[&str]) -> Result<crate::watch::RefWatch> {
    let clones: Vec<std::path::PathBuf> = local::sandboxed(repo)?
        .into_values()
        .map(|local| local.path.join(".git"))
        .collect();
    let in_clone: &[&str] = &[registry::OUTBOX, registry::HANDOFFS];
    let mut repos: Vec<(&std::path::Path, &[&str])> = vec![(repo.common_dir(), ref_dirs)];
    repos.extend(clones.iter().map(|dir| (dir.as_path(), in_clone)));
    Ok(crate::watch::RefWatch::of(&repos))
}

/// The outbox commit of the last event the coordinator took from worker
/// `entry`'s outbox: the latest event of its log that names one.
pub fn last_taken(repo: &Repo, entry: &Entry) -> Result<Option<Oid>> {
    Ok(registry::history(repo, entry.tip)?
        .iter()
        .rev()
        .find_map(|l| l.event.data.get("outbox").and_then(|o| o.as_str()))
        .and_then(|o| Oid::from_str(o).ok()))
}

/// The refs of a sandboxed clone that are read.
struct Tips {
    outbox: Option<Oid>,
    handoff: Option<Oid>,
    branch: Option<Oid>,
}

/// Take what the sandboxed worker `id` wrote into its clone at `local.path`.
pub fn collect(repo: &Repo, id: &str, local: &Local) -> Result<()> {
    let Some(entry) = registry::load(repo, id)? else {
        return Ok(());
    };
    let contract = local
        .contract
        .clone()
        .context("a sandboxed worker without a pinned contract")?;
    let clone = Repo::open(&local.path)?;
    let branch_ref = format!("refs/heads/{}", contract.branch);
    let handoff_ref = registry::handoff_ref(id);
    let theirs = Tips {
        outbox: clone.ref_target(&registry::outbox_ref(id))?,
        handoff: clone.ref_target(&handoff_ref)?,
        branch: clone.ref_target(&branch_ref)?,
    };
    let taken = last_taken(repo, &entry)?;
    let ours_handoff = repo.ref_target(&handoff_ref)?;
    let ours_branch = repo.ref_target(&branch_ref)?;
    let mut refused = stray_refs(repo, &clone, id, &entry)?;
    let unchanged = theirs.outbox == taken
        && (theirs.handoff.is_none() || theirs.handoff == ours_handoff)
        && (theirs.branch.is_none() || theirs.branch == ours_branch);
    if !unchanged {
        let tips: Vec<Oid> = [theirs.outbox, theirs.handoff, theirs.branch]
            .into_iter()
            .flatten()
            .collect();
        match repo.copy_objects(&clone, &tips) {
            Err(err) => refused.push(format!("its objects: {err:#}")),
            Ok(_) => {
                if let Some(tip) = theirs.branch
                    && Some(tip) != ours_branch
                    && repo.cas_ref(&branch_ref, tip, ours_branch, "git-worker: collect")?
                        == Cas::Raced
                {
                    // Moved here meanwhile (an rm, a cleanup): the next read takes it.
                }
                if let Some(tip) = theirs.handoff
                    && Some(tip) != ours_handoff
                {
                    refused.extend(take_handoffs(repo, id, &contract, tip, ours_handoff)?);
                }
                if let Some(tip) = theirs.outbox
                    && Some(tip) != taken
                {
                    refused.extend(take_events(repo, id, tip, taken)?);
                }
            }
        }
    }
    note_refused(repo, id, &refused)
}

/// Refs in the clone under `refs/orch/` that a worker may not write:
/// verdicts, other workers' refs, and its own log moved past what the
/// coordinator has (a worker's events go to its outbox).
/// Each is said by name (not by where it points, so moving it is not news),
/// in order, and past [`STRAY_REFS_NAMED`] of them the rest in one line.
fn stray_refs(repo: &Repo, clone: &Repo, id: &str, entry: &Entry) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let own_log = registry::live_ref(id);
    for (name, tip) in clone.refs_under_any_inprocess(&[registry::NAMESPACE])? {
        if name == registry::outbox_ref(id) || name == registry::handoff_ref(id) {
            continue;
        }
        if name == own_log {
            // Its copy from spawn, or what the coordinator wrote since.
            if tip == entry.tip || (repo.has_object(tip) && repo.is_ancestor(tip, entry.tip)?) {
                continue;
            }
            out.push(format!(
                "{name}: a worker writes its events to its outbox, not its log"
            ));
            continue;
        }
        out.push(format!(
            "{name}: a worker writes only its outbox and its handoffs"
        ));
    }
    out.sort();
    if out.len() > STRAY_REFS_NAMED {
        // Not counted: a count that changes would be news each time.
        out.truncate(STRAY_REFS_NAMED);
        out.push(format!(
            "more refs under {}: a worker writes only its outbox and its handoffs",
            registry::NAMESPACE
        ));
    }
    Ok(out)
}

/// How many refusals a worker's log holds one by one.
const MAX_REFUSALS: usize = 16;

/// How many refused refs of one clone are named one by one.
const STRAY_REFS_NAMED: usize = 8;

/// Take the handoff chain ending at `tip` if it continues `ours` and each
/// new handoff is worker `id`'s own, on its contract's base; else say why.
fn take_handoffs(
    repo: &Repo,
    id: &str,
    contract: &Contract,
    tip: Oid,
    ours: Option<Oid>,
) -> Result<Vec<String>> {
    let refname = registry::handoff_ref(id);
    let mut next = Some(tip);
    while let Some(commit) = next {
        if Some(commit) == ours {
            break;
        }
        let handoff = match registry::decode_handoff(repo, id, commit) {
            Ok(handoff) => handoff,
            Err(err) => return Ok(vec![format!("{refname} at {commit}: {err:#}")]),
        };
        if let Some(why) = misfit(repo, contract, &handoff)? {
            return Ok(vec![format!("{refname} at {commit}: {why}")]);
        }
        let parents = repo.commit_info(commit)?.parents;
        next = (parents.len() == 2).then(|| parents[0]);
        if next.is_none() && ours.is_some() {
            return Ok(vec![format!(
                "{refname} at {tip}: it does not continue the handoffs taken before (rewritten)"
            )]);
        }
    }
    if repo.cas_ref(&refname, tip, ours, "git-worker: collect")? == Cas::Raced {
        // Written here meanwhile: the next read takes it.
    }
    Ok(Vec::new())
}

/// Why `handoff` is not one its worker may have recorded, if it is not.
fn misfit(repo: &Repo, contract: &Contract, handoff: &Handoff) -> Result<Option<String>> {
    let meta = &handoff.meta;
    if meta.base != contract.base {
        return Ok(Some(format!(
            "it is based on {}, and the contract's base is {}",
            meta.base, contract.base
        )));
    }
    let tree = repo.commit_tree(handoff.commit)?;
    let result = repo.read_tree(tree)?.trees.get("result").copied();
    if result.map(|t| t.to_string()).as_deref() != Some(meta.tree.as_str()) {
        return Ok(Some("its result tree is not the tree it names".to_string()));
    }
    Ok(None)
}

/// Append, in order, the events of the outbox from `taken` to `tip` that
/// a worker may write; stop at the first one it may not.
fn take_events(repo: &Repo, id: &str, tip: Oid, taken: Option<Oid>) -> Result<Vec<String>> {
    let outbox = registry::outbox_ref(id);
    let events = match registry::outbox_since(repo, tip, taken)? {
        Ok(events) => events,
        Err(why) => return Ok(vec![format!("{outbox} at {tip}: {why}")]),
    };
    // Each event is appended only while the log's last taken one is the one
    // before it: two collectors at once (a command, and the agent's
    // supervisor) append it once.
    let mut previous = taken;
    let mut skip_to: Option<Oid> = None;
    for logged in events {
        let commit = logged.commit;
        // Another collector took events up to `skip_to`: go on after it.
        if let Some(until) = skip_to {
            if until == commit {
                skip_to = None;
                previous = Some(commit);
            }
            continue;
        }
        let event = match WorkerEvent::parse(&logged.event.kind, &logged.event.data) {
            Ok(event) if logged.event.actor == Actor::Worker => event,
            Ok(_) => {
                return Ok(vec![format!(
                    "{outbox} at {commit}: an event of the coordinator's, written by the worker"
                )]);
            }
            Err(why) => return Ok(vec![format!("{outbox} at {commit}: {why}")]),
        };
        if let WorkerEvent::Reported {
            handoff,
            fingerprint,
            tree,
            head,
            ..
        } = &event
            && let Some(why) = report_misfit(repo, id, *handoff, fingerprint, *tree, *head)?
        {
            return Ok(vec![format!("{outbox} at {commit}: {why}")]);
        }
        let mut appended = false;
        registry::update(repo, &registry::live_ref(id), |entry| {
            appended = false;
            if last_taken(repo, entry)? != previous {
                return Ok(None);
            }
            appended = true;
            let change: Change = event.change(repo, entry)?;
            Ok(Some(change.with("outbox", commit.to_string())))
        })?;
        if !appended {
            // Another collector took it, and perhaps more: go on from what
            // it took, so that everything the outbox held is in the log
            // when this returns (the supervisor records the agent's exit
            // after that).
            let Some(entry) = registry::load(repo, id)? else {
                break;
            };
            match last_taken(repo, &entry)? {
                Some(last) if last == commit => previous = Some(commit),
                Some(last) => skip_to = Some(last),
                None => break,
            }
            continue;
        }
        previous = Some(commit);
    }
    Ok(Vec::new())
}

/// Why a `reported` event does not describe a handoff of the worker's own
/// chain here, if it does not.
fn report_misfit(
    repo: &Repo,
    id: &str,
    handoff: Oid,
    fingerprint: &str,
    tree: Oid,
    head: Oid,
) -> Result<Option<String>> {
    let Some(chain) = repo.ref_target(&registry::handoff_ref(id))? else {
        return Ok(Some(format!(
            "it reports handoff {handoff}, and there is none"
        )));
    };
    if !repo.has_object(handoff) || !repo.is_ancestor(handoff, chain)? {
        return Ok(Some(format!(
            "it reports handoff {handoff}, which is not among its handoffs"
        )));
    }
    let meta = registry::decode_handoff(repo, id, handoff)?.meta;
    if meta.fingerprint != fingerprint
        || meta.tree != tree.to_string()
        || meta.head != head.to_string()
    {
        return Ok(Some(format!(
            "it reports handoff {handoff} with a fingerprint, tree or head that handoff does not have"
        )));
    }
    Ok(None)
}

/// Say what was refused, once each: a `refused` event in the worker's log
/// (which its views show) and a warning, unless the log says it already.
fn note_refused(repo: &Repo, id: &str, refused: &[String]) -> Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let Some(entry) = registry::load(repo, id)? else {
        return Ok(());
    };
    let history = registry::history(repo, entry.tip)?;
    // Past a number of them, one line says the rest: a worker cannot grow
    // its log (and every reader's work) without end by refusals.
    let earlier = history.iter().filter(|l| l.event.kind == "refused").count();
    let overflow = [format!(
        "more that a worker may not write (the first {MAX_REFUSALS} refusals are listed)"
    )];
    let refused = if earlier >= MAX_REFUSALS {
        &overflow[..]
    } else {
        &refused[..refused.len().min(MAX_REFUSALS - earlier)]
    };
    for what in refused {
        let said = history.iter().any(|l| {
            l.event.kind == "refused"
                && l.event.data.get("what").and_then(|w| w.as_str()) == Some(what)
        });
        if said {
            continue;
        }
        let mut noted = false;
        registry::update(repo, &registry::live_ref(id), |entry| {
            noted = false;
            let said = registry::history(repo, entry.tip)?.iter().any(|l| {
                l.event.kind == "refused"
                    && l.event.data.get("what").and_then(|w| w.as_str()) == Some(what)
            });
            if said {
                return Ok(None);
            }
            noted = true;
            Ok(Some(
                Change::new("refused", Actor::Coordinator, entry.status.state)
                    .reason(entry.status.reason.clone())
                    .with("what", what.as_str()),
            ))
        })?;
        if noted {
            eprintln!("warning: refused from sandboxed worker '{id}': {what}");
        }
    }
    Ok(())
}
