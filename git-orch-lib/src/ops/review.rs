//! Review: what a target names (a worker's latest handoff, or a commit),
//! who may judge it, recording a verdict with its event, the scratch
//! checkout a verification runs in, and the gate of a target as the
//! policy decides it. Shared by the `git review-gate` commands.

use anyhow::Result;
use serde_json::json;

use crate::config::Settings;
use crate::contract::validate_id;
use crate::exit::Hint;
use crate::gate::{self, Decision, Subject, Verdicts};
use crate::git::{Oid, Repo};
use crate::registry::{self, Actor, Change, Entry, Ruling, State, Verdict};
use crate::role::{Role, role};

/// What a TARGET names: a worker (its latest handoff) or a commit.
pub struct Target {
    pub subject: Subject,
    /// The worker's live registry entry, when it has one.
    pub entry: Option<Entry>,
}

/// A worker id first (registered, or with handoffs left after removal),
/// else a revision.
pub fn resolve(repo: &Repo, name: &str) -> Result<Target> {
    if validate_id(name).is_ok() {
        let entry = registry::load(repo, name)?;
        let handoff = match &entry {
            Some(entry) => registry::load_current_handoff(repo, entry)?,
            None => registry::load_handoff(repo, name)?,
        };
        match (handoff, entry) {
            (Some(handoff), entry) => {
                return Ok(Target {
                    subject: Subject::of_handoff(name, handoff)?,
                    entry,
                });
            }
            (None, Some(_)) => {
                return Err(Hint::new(format!(
                    "worker '{name}' has not reported: there is no change to judge yet"
                ))
                .hint("the worker records its change with `git handoff report`")
                .hint(format!(
                    "`git handoff show {name}` shows what its branch and checkout hold"
                ))
                .into());
            }
            (None, None) => {}
        }
    }
    match repo.resolve_commit(name) {
        Ok(Some(commit)) => Ok(Target {
            subject: Subject::of_commit(repo, name, commit)?,
            entry: None,
        }),
        _ => Err(Hint::new(format!(
            "'{name}' is neither a worker nor a revision"
        ))
        .hint("`git worker list` shows the workers; a revision is anything `git rev-parse` takes")
        .into()),
    }
}

/// Who is judging, and refuse a worker judging its own change.
pub fn judge(
    repo: &Repo,
    subject: &Subject,
    reviewer: Option<&str>,
) -> Result<(Actor, String, String)> {
    if std::env::var_os(crate::verify::VERIFYING_ENV).is_some() {
        return Err(Hint::new(format!(
            "refusing to record a verdict from inside a verification run ({} is set)",
            crate::verify::VERIFYING_ENV
        ))
        .hint(
            "verdicts come from the coordinator or a reviewer, never from the code being verified",
        )
        .into());
    }
    let (actor, label) = match role(repo)? {
        Role::Coordinator => (Actor::Coordinator, "coordinator".to_string()),
        Role::Worker(id) => {
            if subject.worker.as_deref() == Some(id.as_str()) {
                return Err(Hint::new(format!(
                    "this is the checkout of worker '{id}', which cannot judge its own change"
                ))
                .hint("verdicts come from the coordinator or another reviewer")
                .hint(format!("wait for one with `git review-gate wait {id}`"))
                .into());
            }
            (Actor::Worker, format!("worker:{id}"))
        }
    };
    let by = match reviewer {
        Some(name) if name.trim().is_empty() => {
            return Err(Hint::new("--reviewer needs a name").into());
        }
        Some(name) => name.trim().to_string(),
        None => repo.identity()?,
    };
    Ok((actor, label, by))
}

/// Record `verdict`: the note on the change, then (for a live worker) the
/// event in its log, and the "needs attention" mark when this verdict makes
/// `max` failures in a row.
pub fn record(
    repo: &Repo,
    target: &Target,
    verdict: &Verdict,
    actor: Actor,
    max_failures: u32,
) -> Result<()> {
    // A worker on another host writes only its own refs (a server's
    // per-user rules may allow nothing else): its verdict goes into its
    // own log, and the coordinator's sync records it on the change.
    if let Role::Worker(me) = role(repo)?
        && crate::local::pinned_coordinator_key(repo).is_some()
    {
        return relay(repo, &me, target, verdict);
    }
    let (Some(id), Some(_)) = (&target.subject.worker, &target.entry) else {
        return registry::append_verdict(repo, target.subject.target, verdict);
    };
    let refname = registry::live_ref(id);
    // The verdict and its event, in one transaction.
    let entry =
        registry::append_verdict_logged(repo, target.subject.target, verdict, &refname, |entry| {
            let keep = (entry.status.state, entry.status.reason.clone());
            let change = match verdict.ruling {
                Ruling::Pass | Ruling::Fail => Change::new("verified", actor, keep.0)
                    .reason(keep.1)
                    .with("passed", verdict.ruling == Ruling::Pass)
                    .with(
                        "commands",
                        verdict
                            .commands
                            .iter()
                            .map(|c| {
                                json!({ "command": c.command, "status": c.status,
                                    "timed_out": c.timed_out, "millis": c.millis })
                            })
                            .collect::<Vec<_>>(),
                    ),
                Ruling::Approve => Change::new("approved", actor, keep.0)
                    .reason(keep.1)
                    .with("by", verdict.by.as_str())
                    .with("message", verdict.message.as_str()),
                Ruling::Reject => {
                    let reason = format!("rejected by review: {}", verdict.findings.join("; "));
                    let state = match keep.0 {
                        State::Applied => State::Applied,
                        _ => State::Rejected,
                    };
                    Change::new("rejected", actor, state)
                        .reason(reason.as_str())
                        .with("reason", reason)
                        .with("by", verdict.by.as_str())
                        .with("findings", verdict.findings.clone())
                }
            };
            Ok(change
                .with("verdict", verdict.id.as_str())
                .with("fingerprint", verdict.fingerprint.as_str())
                .with("tree", verdict.tree.as_str()))
        })?;
    // A failure streak's `attention` mark comes after; if it is lost here,
    // the next failed verdict sets it.
    crate::interrupt::checkpoint("gate:verdict")?;
    let Some(entry) = entry else {
        // Removed meanwhile: the verdict stands, on its change.
        return Ok(());
    };
    if verdict.ruling.is_negative() && max_failures > 0 {
        let (failures, marked) = gate::streak(&registry::history(repo, entry.tip)?);
        if failures >= max_failures && !marked {
            registry::update(repo, &refname, |entry| {
                Ok(Some(
                    Change::new("attention", actor, entry.status.state)
                        .reason(format!(
                            "needs attention: {failures} failed verdicts in a row"
                        ))
                        .with("failures", failures)
                        .with("max", max_failures),
                ))
            })?;
            eprintln!(
                "warning: '{id}' has had {failures} failed verdicts in a row and needs attention; `git review-gate run` will not verify it again without --force"
            );
        }
    }
    Ok(())
}

/// A `reviewed` event in worker `me`'s own log, carrying `verdict` on
/// `target` for the coordinator to record ([`import_reviews`]).
fn relay(repo: &Repo, me: &str, target: &Target, verdict: &Verdict) -> Result<()> {
    let line = serde_json::to_value(verdict)?;
    registry::update(repo, &registry::live_ref(me), |entry| {
        Ok(Some(
            Change::new("reviewed", Actor::Worker, entry.status.state)
                .reason(entry.status.reason.clone())
                .with("target", target.subject.target.to_string())
                .with("verdict", line.clone()),
        ))
    })?;
    eprintln!(
        "recorded in the log of worker '{me}': `git worker sync` takes it to the coordinator, whose next sync records it on {}",
        target.subject.name
    );
    Ok(())
}

/// Most relayed verdicts one worker gets recorded per sync (its newest).
const MAX_RELAYED: usize = 16;

/// Record the verdicts that workers `ids` relayed in their logs
/// (`reviewed` events, see [`record`]) and that are not on their change
/// yet: the coordinator's sync does, for the logs it took. Only a
/// worker's own approval or rejection of another worker's handoff counts,
/// bound to that handoff as it is, its time no later than now, the newest
/// per handoff and at most [`MAX_RELAYED`] per worker and sync; anything
/// else is skipped with a warning, never an error (one bad event must not
/// stop a sync). Returns how many it recorded.
pub fn import_reviews(repo: &Repo, ids: &[String], max_failures: u32) -> Result<usize> {
    let mut recorded = 0;
    for id in ids {
        let Some(entry) = registry::load(repo, id)? else {
            continue;
        };
        // The newest relayed verdict per target.
        let mut newest: Vec<(Oid, Verdict)> = Vec::new();
        for logged in registry::history(repo, entry.tip)?.into_iter().rev() {
            let event = &logged.event;
            if event.kind != "reviewed" || event.actor != Actor::Worker {
                continue;
            }
            match relayed(repo, id, &event.data) {
                Ok((target, verdict)) => {
                    if !newest.iter().any(|(t, _)| *t == target) {
                        newest.push((target, verdict));
                    }
                }
                Err(why) => eprintln!("warning: ignored a verdict relayed by worker '{id}': {why}"),
            }
        }
        if newest.len() > MAX_RELAYED {
            eprintln!(
                "warning: worker '{id}' relayed verdicts on {} changes: recording its newest {MAX_RELAYED}",
                newest.len()
            );
            newest.truncate(MAX_RELAYED);
        }
        for (target, mut verdict) in newest {
            let Ok(Some(owner)) = handoff_owner(repo, target) else {
                continue;
            };
            let Ok(handoff) = registry::decode_handoff(repo, &owner, target) else {
                continue;
            };
            if registry::verdicts_on(repo, target)
                .map(|known| known.iter().any(|v| v.id == verdict.id))
                .unwrap_or(true)
            {
                continue;
            }
            verdict.time = verdict.time.min(registry::now());
            let subject = Subject::of_handoff(&owner, handoff)?;
            let entry = registry::load(repo, &owner)?;
            if let Err(err) = record(
                repo,
                &Target { subject, entry },
                &verdict,
                Actor::Worker,
                max_failures,
            ) {
                if crate::interrupt::stops_everything(&err) {
                    return Err(err);
                }
                eprintln!("warning: could not record the verdict worker '{id}' relayed: {err:#}");
                continue;
            }
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// A `reviewed` event's target and verdict, when it is one worker `id`
/// may relay: its own approval or rejection, in the current format, of
/// another worker's handoff, bound to that handoff.
fn relayed(
    repo: &Repo,
    id: &str,
    data: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<(Oid, Verdict), String> {
    let verdict: Verdict = data
        .get("verdict")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or("not a verdict")?;
    let target = data
        .get("target")
        .and_then(|t| t.as_str())
        .and_then(|t| Oid::from_str(t).ok())
        .ok_or("no target")?;
    if verdict.actor != format!("worker:{id}") {
        return Err(format!("it is in the name of '{}'", verdict.actor));
    }
    if !matches!(verdict.ruling, Ruling::Approve | Ruling::Reject) {
        return Err(format!(
            "a '{}' verdict: only the coordinator's runs count",
            verdict.ruling
        ));
    }
    if verdict.v > registry::FORMAT {
        return Err(format!("verdict format {}", verdict.v));
    }
    let owner = handoff_owner(repo, target)
        .ok()
        .flatten()
        .ok_or("its target is not a worker's handoff")?;
    if owner == id || verdict.worker.as_deref() != Some(owner.as_str()) {
        return Err(format!(
            "it names '{:?}' on a handoff of '{owner}'",
            verdict.worker
        ));
    }
    let handoff = registry::decode_handoff(repo, &owner, target).map_err(|e| format!("{e:#}"))?;
    if verdict.base != handoff.meta.base
        || verdict.tree != handoff.meta.tree
        || verdict.fingerprint != handoff.meta.fingerprint
    {
        return Err(format!(
            "it is not bound to the handoff of '{owner}' it sits on"
        ));
    }
    Ok((target, verdict))
}

/// Whose handoff commit `target` is (its `handoff.toml` names the worker,
/// and that worker's handoffs reach it), if any.
fn handoff_owner(repo: &Repo, target: Oid) -> Result<Option<String>> {
    let tree = match repo.commit_tree(target) {
        Ok(tree) => tree,
        Err(_) => return Ok(None),
    };
    let Some(text) = repo.tree_blob(tree, "handoff.toml")? else {
        return Ok(None);
    };
    let owner = String::from_utf8_lossy(&text)
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("id").and_then(|v| v.as_str()).map(str::to_string));
    let Some(owner) = owner.filter(|o| crate::contract::validate_id(o).is_ok()) else {
        return Ok(None);
    };
    match repo.ref_target(&registry::handoff_ref(&owner))? {
        Some(tip) if tip == target || repo.is_ancestor(target, tip)? => Ok(Some(owner)),
        _ => Ok(None),
    }
}

// ----- run -----

/// The commit to check out: a worker's reported tree on its base, or the
/// commit judged.
pub fn checkout_commit(repo: &Repo, subject: &Subject) -> Result<Oid> {
    match &subject.handoff {
        Some(handoff) => registry::handoff_result_commit(repo, handoff),
        None => Ok(subject.target),
    }
}

// ----- status, wait -----

/// The verdicts of a target and what the policy makes of them.
pub struct Gate {
    pub target: Target,
    pub verdicts: Verdicts,
    pub decision: Decision,
    pub attention: Option<String>,
}

pub fn evaluate(repo: &Repo, name: &str, settings: &Settings) -> Result<Gate> {
    let target = resolve(repo, name)?;
    let verdicts = gate::gather(repo, &target.subject)?;
    let decision = gate::decide(settings.review_require, &verdicts.current);
    let attention = match &target.entry {
        Some(entry) if settings.max_rejections > 0 => {
            let failures = gate::failures_in_a_row(&registry::history(repo, entry.tip)?);
            (failures >= settings.max_rejections)
                .then(|| format!("{failures} failed verdicts in a row"))
        }
        _ => None,
    };
    Ok(Gate {
        target,
        verdicts,
        decision,
        attention,
    })
}
