//! The review gate: which verdicts a change has, and whether they meet the
//! policy (`orch.review.require`).
//!
//! A verdict is bound to the exact change it judged, its base commit and
//! resulting tree: a worker that changes anything and reports again has a
//! new change, and the verdicts on the old one are shown as stale and do
//! not count. Storage is [`crate::registry`]'s (notes under
//! `refs/orch/notes/verdicts`); this module only reads and decides, so
//! `git review-gate`, `git handoff apply` and the hooks agree.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};

use crate::config::Require;
use crate::git::{Oid, Repo};
use crate::local;
use crate::registry::{self, Handoff, Logged, Ruling, Verdict};

/// How many of a worker's earlier handoffs are searched for verdicts.
const HISTORY_LIMIT: usize = 200;

/// The change a gate judges: a worker's latest handoff, or a plain commit.
#[derive(Debug, Clone)]
pub struct Subject {
    /// As the user named it (for hints).
    pub name: String,
    pub worker: Option<String>,
    /// The commit the verdicts are noted on (the handoff commit, or the commit).
    pub target: Oid,
    /// What the change applies to (none for a root commit).
    pub base: Option<Oid>,
    /// What the change results in.
    pub tree: Oid,
    pub fingerprint: String,
    pub handoff: Option<Handoff>,
}

impl Subject {
    /// The latest handoff of `id`.
    pub fn of_handoff(id: &str, handoff: Handoff) -> Result<Subject> {
        Ok(Subject {
            name: id.to_string(),
            worker: Some(id.to_string()),
            target: handoff.commit,
            base: Some(Oid::from_str(&handoff.meta.base).context("bad base in the handoff")?),
            tree: Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?,
            fingerprint: handoff.meta.fingerprint.clone(),
            handoff: Some(handoff),
        })
    }

    /// A plain commit: judged against its first parent; its id is its fingerprint.
    pub fn of_commit(repo: &Repo, name: &str, commit: Oid) -> Result<Subject> {
        let info = repo.commit_info(commit)?;
        Ok(Subject {
            name: name.to_string(),
            worker: None,
            target: commit,
            base: info.parents.first().copied(),
            tree: info.tree,
            fingerprint: commit.to_string(),
            handoff: None,
        })
    }

    /// "worker 'w1'" or "commit 1a2b3c4".
    pub fn label(&self) -> String {
        match &self.worker {
            Some(id) => format!("the handoff of '{id}'"),
            None => format!("commit {}", &self.target.to_string()[..7]),
        }
    }

    /// Whether `verdict` judged exactly this change.
    pub fn binds(&self, verdict: &Verdict) -> bool {
        let base = self.base.map(|b| b.to_string()).unwrap_or_default();
        verdict.tree == self.tree.to_string() && verdict.base == base
    }

    /// A verdict of this change, to be filled in by the caller.
    pub fn verdict(&self, ruling: Ruling, by: &str, actor: &str) -> Verdict {
        Verdict {
            time: registry::now(),
            id: registry::event_id(),
            v: registry::FORMAT,
            ruling,
            by: by.to_string(),
            actor: actor.to_string(),
            worker: self.worker.clone(),
            base: self.base.map(|b| b.to_string()).unwrap_or_default(),
            tree: self.tree.to_string(),
            fingerprint: self.fingerprint.clone(),
            message: String::new(),
            findings: Vec::new(),
            commands: Vec::new(),
        }
    }
}

/// The verdicts of a subject: those on this exact change (oldest first) and
/// those on earlier changes of the same worker (stale).
#[derive(Debug, Default)]
pub struct Verdicts {
    pub current: Vec<Verdict>,
    pub stale: Vec<Verdict>,
    /// Verdicts on this change by the worker it is the change of: never
    /// counted, whatever they say.
    pub self_judged: Vec<Verdict>,
}

/// Read every verdict of `subject`: for a worker, on each of its handoffs
/// (a re-report of the very same change keeps its verdicts).
pub fn gather(repo: &Repo, subject: &Subject) -> Result<Verdicts> {
    let targets: Vec<Oid> = match &subject.worker {
        Some(id) => {
            let mut chain = registry::handoff_commits(repo, id, HISTORY_LIMIT)?;
            chain.reverse();
            chain
        }
        None => vec![subject.target],
    };
    let mut out = Verdicts::default();
    let own = subject.worker.as_ref().map(|id| format!("worker:{id}"));
    for target in targets {
        for verdict in registry::verdicts_on(repo, target)? {
            if own.as_deref() == Some(verdict.actor.as_str()) {
                out.self_judged.push(verdict);
            } else if subject.binds(&verdict) {
                out.current.push(verdict);
            } else {
                out.stale.push(verdict);
            }
        }
    }
    // Stable: same-second verdicts keep the order they were written in.
    out.current.sort_by_key(|v| v.time);
    out.stale.sort_by_key(|v| v.time);
    Ok(out)
}

/// Whether a change may land, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub require: Require,
    pub open: bool,
    /// Verdicts the policy needs and the change does not have.
    pub missing: Vec<Missing>,
    /// Verdicts that hold the gate closed (a failed run, a rejection).
    pub against: Vec<String>,
    /// There is at least one verdict on the change (what `wait` waits for).
    pub decided: bool,
    /// Ids of the verdicts the decision rests on.
    pub relied_on: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    PassingRun,
    Approval,
}

impl Missing {
    /// What is missing, and the command that gets it.
    pub fn explain(self, name: &str) -> (String, String) {
        match self {
            Missing::PassingRun => (
                "a passing verification run".into(),
                format!("git review-gate run {name}"),
            ),
            Missing::Approval => (
                "an approval".into(),
                format!("git review-gate approve {name} -m '<what you checked>'"),
            ),
        }
    }
}

/// The policy applied to the verdicts on a change (oldest first).
///
/// * The latest run counts: a pass after a fail passes, a fail after a pass fails.
/// * Each reviewer's latest verdict stands; one standing rejection closes the
///   gate under every policy (until the worker reports a new change), and
///   `approve`/`both` need at least one standing approval.
pub fn decide(require: Require, current: &[Verdict]) -> Decision {
    let latest_run = current.iter().rev().find(|v| v.ruling.is_run());
    // A reviewer is an actor (the coordinator, or one worker) and a name:
    // workers share git's identity, so a name alone would let a worker's
    // approval replace the coordinator's rejection.
    let mut standing: BTreeMap<(&str, &str), &Verdict> = BTreeMap::new();
    for verdict in current.iter().filter(|v| !v.ruling.is_run()) {
        standing.insert((verdict.actor.as_str(), verdict.by.as_str()), verdict);
    }
    let mut against = Vec::new();
    let mut relied_on = Vec::new();
    for verdict in standing.values().filter(|v| v.ruling == Ruling::Reject) {
        against.push(format!(
            "rejected by {}: {}",
            verdict.by,
            verdict.findings.join("; ")
        ));
        relied_on.push(verdict.id.clone());
    }
    let mut missing = Vec::new();
    if require.needs_run() {
        match latest_run {
            Some(run) if run.ruling == Ruling::Pass => relied_on.push(run.id.clone()),
            Some(run) => {
                let failed: Vec<&str> = run
                    .commands
                    .iter()
                    .filter(|c| !c.passed())
                    .map(|c| c.command.as_str())
                    .collect();
                against.push(format!(
                    "the latest verification run failed: {}",
                    failed.join(", ")
                ));
                relied_on.push(run.id.clone());
            }
            None => missing.push(Missing::PassingRun),
        }
    }
    if require.needs_approval() {
        let approvals: Vec<&&Verdict> = standing
            .values()
            .filter(|v| v.ruling == Ruling::Approve)
            .collect();
        if approvals.is_empty() {
            missing.push(Missing::Approval);
        }
        relied_on.extend(approvals.iter().map(|v| v.id.clone()));
    }
    let open = against.is_empty() && missing.is_empty();
    Decision {
        require,
        open,
        decided: !current.is_empty(),
        missing,
        against,
        relied_on,
    }
}

/// Why the gate of `subject` is closed, as `error:`/`hint:`-ready lines:
/// what holds it closed, what is missing, and the commands that get it.
pub fn explain(decision: &Decision, subject: &Subject) -> (Vec<String>, Vec<String>) {
    let mut reasons = decision.against.clone();
    let mut hints = Vec::new();
    for missing in &decision.missing {
        let (what, how) = missing.explain(&subject.name);
        reasons.push(format!("missing {what} (policy '{}')", decision.require));
        // Under a standing rejection, an approval or a run is not the way
        // on: a new change is.
        if decision.against.is_empty() {
            hints.push(how);
        }
    }
    if !decision.against.is_empty() && subject.worker.is_some() {
        hints.push(
            "the worker fixes it and reports again (a new change has no verdicts yet)".into(),
        );
    }
    (reasons, hints)
}

/// The gate of a handoff about to be applied: `Ok(ids of the verdicts relied
/// on)` when open; when closed, says why on stderr and returns `Err(())`.
pub fn check_before_apply(
    repo: &Repo,
    id: &str,
    handoff: &Handoff,
    settings: &crate::config::Settings,
) -> Result<std::result::Result<Decision, ()>> {
    let subject = Subject::of_handoff(id, handoff.clone())?;
    let verdicts = gather(repo, &subject)?;
    let decision = decide(settings.review_require, &verdicts.current);
    if decision.open {
        return Ok(Ok(decision));
    }
    let (reasons, hints) = explain(&decision, &subject);
    eprintln!(
        "error: the review gate of '{id}' is closed (policy '{}'); nothing was applied:",
        decision.require
    );
    for reason in reasons {
        eprintln!("  {reason}");
    }
    for hint in hints {
        eprintln!("hint: {hint}");
    }
    if !verdicts.stale.is_empty() {
        eprintln!(
            "note: {} verdict(s) on earlier changes of '{id}' are stale and do not count",
            verdicts.stale.len()
        );
    }
    Ok(Err(()))
}

/// Scratch clones of `git review-gate run` whose process is gone (a run
/// killed with SIGKILL, a crash): name and path.
pub fn stale_checkouts(repo: &Repo) -> Result<Vec<(String, std::path::PathBuf)>> {
    Ok(local::gate_runs(repo)?
        .into_iter()
        .filter(|(name, run)| {
            (run.pid == 0 || !local::pid_alive(run.pid))
                && local::gate_run(repo, name).as_ref() == Some(run)
        })
        .map(|(name, run)| (name, run.path))
        .collect())
}

/// Failed verdicts in a row at the end of a worker's history: failed runs
/// and rejections (by a reviewer, by hand, or by `git handoff apply`'s own
/// verification); a pass, an approval or a landing ends a streak.
pub fn failures_in_a_row(history: &[Logged]) -> u32 {
    streak(history).0
}

/// The failures in a row, and whether the streak was already marked with
/// an `attention` event.
pub fn streak(history: &[Logged]) -> (u32, bool) {
    let (mut count, mut marked) = (0, false);
    for logged in history {
        let data = &logged.event.data;
        match logged.event.kind.as_str() {
            "rejected" => count += 1,
            "verified" if data.get("passed").and_then(|p| p.as_bool()) == Some(false) => count += 1,
            "verified" | "approved" | "applied" => (count, marked) = (0, false),
            "attention" => marked = true,
            _ => {}
        }
    }
    (count, marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(ruling: Ruling, by: &str, time: i64) -> Verdict {
        Verdict {
            time,
            id: format!("{ruling}-{by}-{time}"),
            v: 1,
            ruling,
            by: by.into(),
            actor: "coordinator".into(),
            worker: Some("w".into()),
            base: "b".into(),
            tree: "t".into(),
            fingerprint: "f".into(),
            message: String::new(),
            findings: if ruling == Ruling::Reject {
                vec!["finding".into()]
            } else {
                Vec::new()
            },
            commands: Vec::new(),
        }
    }

    #[test]
    fn policies_need_what_they_say() {
        let none = decide(Require::None, &[]);
        assert!(none.open && !none.decided);
        let verify = decide(Require::Verify, &[]);
        assert_eq!(verify.missing, vec![Missing::PassingRun]);
        let both = decide(Require::Both, &[verdict(Ruling::Pass, "ci", 1)]);
        assert!(!both.open && both.decided);
        assert_eq!(both.missing, vec![Missing::Approval]);
        let both = decide(
            Require::Both,
            &[
                verdict(Ruling::Pass, "ci", 1),
                verdict(Ruling::Approve, "ann", 2),
            ],
        );
        assert!(both.open && both.decided);
        assert_eq!(both.relied_on.len(), 2);
    }

    #[test]
    fn the_latest_run_and_each_reviewers_latest_verdict_count() {
        let runs = [
            verdict(Ruling::Pass, "ci", 1),
            verdict(Ruling::Fail, "ci", 2),
        ];
        let d = decide(Require::Verify, &runs);
        assert!(!d.open && d.decided && d.against.len() == 1);
        let runs = [
            verdict(Ruling::Fail, "ci", 1),
            verdict(Ruling::Pass, "ci", 2),
        ];
        assert!(decide(Require::Verify, &runs).open);
        // Ann changed her mind; Bob's rejection still stands.
        let reviews = [
            verdict(Ruling::Reject, "ann", 1),
            verdict(Ruling::Approve, "ann", 2),
        ];
        assert!(decide(Require::Approve, &reviews).open);
        let reviews = [
            verdict(Ruling::Approve, "ann", 1),
            verdict(Ruling::Reject, "bob", 2),
        ];
        let d = decide(Require::Approve, &reviews);
        assert!(!d.open && d.decided);
        // A worker's approval does not replace the coordinator's rejection,
        // even under the same git identity.
        let mut by_worker = verdict(Ruling::Approve, "bob", 3);
        by_worker.actor = "worker:w2".into();
        let reviews = [verdict(Ruling::Reject, "bob", 2), by_worker];
        assert!(!decide(Require::Approve, &reviews).open);
        let reviews = [
            verdict(Ruling::Approve, "ann", 1),
            verdict(Ruling::Reject, "bob", 2),
        ];
        // A standing rejection closes the gate even when nothing is required.
        assert!(!decide(Require::None, &reviews).open);
        // A failed run does not, under a policy that does not ask for runs.
        assert!(decide(Require::None, &runs[..1]).open);
    }

    #[test]
    fn policies_parse_and_name_the_key_on_error() {
        assert_eq!(Require::parse("both", "k").unwrap(), Require::Both);
        let err = Require::parse("all", "orch.review.require").unwrap_err();
        assert!(format!("{err:#}").contains("invalid orch.review.require 'all'"));
    }
}
