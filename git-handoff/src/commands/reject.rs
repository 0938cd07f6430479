//! `git handoff reject`: the coordinator turns a handoff down, with a reason.

use anyhow::Result;

use orch::exit::{Hint, Outcome};
use orch::git::Repo;
use orch::registry::{self, Actor, Change, State};

use orch::role::require_coordinator;

use crate::cli::RejectArgs;

pub(super) fn reject(repo: &Repo, args: &RejectArgs) -> Result<Outcome> {
    require_coordinator(repo, "git handoff reject")?;
    let (entry, handoff) = orch::ops::apply::entry_and_handoff(repo, &args.id)?;
    if args.reason.trim().is_empty() {
        return Err(
            Hint::new("a rejection needs a reason the worker can act on")
                .hint("--reason '<what to change>'")
                .into(),
        );
    }
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
