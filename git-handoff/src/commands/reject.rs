//! `git handoff reject`: the coordinator turns a handoff down, with a reason.

use anyhow::Result;

use orch::exit::{Hint, Outcome};
use orch::git::Repo;
use orch::registry::{self, Actor, Change, State};

use orch::role::require_coordinator;

use crate::cli::RejectArgs;

pub(super) fn reject(repo: &Repo, args: &RejectArgs) -> Result<Outcome> {
    require_coordinator(repo, "git handoff reject")?;
    if args.reason.trim().is_empty() {
        return Err(
            Hint::new("a rejection needs a reason the worker can act on")
                .hint("--reason '<what to change>'")
                .into(),
        );
    }
    orch::contract::validate_id(&args.id)?;
    if let Some(entry) = registry::load(repo, &args.id)?
        && registry::load_current_handoff(repo, &entry)?.is_none()
    {
        return reject_unreported(repo, &entry, args.reason.trim());
    }
    let (entry, handoff) = orch::ops::apply::entry_and_handoff(repo, &args.id)?;
    // The rejection is also a verdict on this change: it holds the review
    // gate closed until the worker reports a new change. Both in one
    // transaction.
    let fingerprint = handoff.meta.fingerprint.clone();
    let subject = orch::gate::Subject::of_handoff(entry.id(), handoff)?;
    let mut verdict = subject.verdict(registry::Ruling::Reject, &repo.identity()?, "coordinator");
    verdict.findings = vec![args.reason.trim().to_string()];
    registry::append_verdict_logged(
        repo,
        subject.target,
        &verdict,
        &registry::live_ref(entry.id()),
        |_| {
            Ok(Change::new("rejected", Actor::Coordinator, State::Rejected)
                .reason(args.reason.as_str())
                .with("reason", args.reason.as_str())
                .with("fingerprint", fingerprint.as_str()))
        },
    )?;
    eprintln!("rejected the handoff of '{}'", entry.id());
    Ok(Outcome::Success)
}

/// A worker that never reported is turned down as it is (its work so far,
/// or the lack of it): the `rejected` event carries the reason, and
/// `git worker cleanup --abandoned` removes it. No verdict: there is no
/// change to bind one to.
fn reject_unreported(repo: &Repo, entry: &registry::Entry, reason: &str) -> Result<Outcome> {
    let id = entry.id();
    if matches!(entry.status.state, State::Rejected) {
        eprintln!("worker '{id}' is rejected already");
        return Ok(Outcome::Success);
    }
    registry::update(repo, &entry.refname, |_| {
        Ok(Some(
            Change::new("rejected", Actor::Coordinator, State::Rejected)
                .reason(reason)
                .with("reason", reason)
                .with("reported", false),
        ))
    })?;
    eprintln!(
        "rejected worker '{id}', which had not reported; `git worker cleanup --abandoned` removes it"
    );
    Ok(Outcome::Success)
}
