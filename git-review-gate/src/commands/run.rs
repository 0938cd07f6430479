//! `git review-gate run`: verification in a clean checkout.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use orch::config::Settings;
use orch::enforce;
use orch::exit::{Hint, Outcome};
use orch::gate::{self};
use orch::git::Repo;
use orch::interrupt::Interrupted;
use orch::registry::CommandResult;
use orch::registry::{self, Ruling};
use orch::ui::{JSON_VERSION, print_json, short};

use orch::verify::DEFAULT_VERIFY_TIMEOUT;

use orch::ops::review::{Target, checkout_commit, judge, record, resolve};
use orch::ops::scratch::{Guard, Verification};

use crate::cli::RunArgs;

pub(super) fn run_verification(repo: &Repo, args: &RunArgs) -> Result<Outcome> {
    let target = resolve(repo, &args.target)?;
    let subject = &target.subject;
    let settings = Settings::load(repo)?;
    let (actor, actor_label, by) = judge(repo, subject, None)?;
    let (commands, contract_timeout) = commands_for(repo, &target, args, &settings)?;
    if let (Some(id), Some(entry)) = (&subject.worker, &target.entry) {
        let failures = gate::failures_in_a_row(&registry::history(repo, entry.tip)?);
        if settings.max_rejections > 0 && failures >= settings.max_rejections && !args.force {
            return Err(Hint::new(format!(
                "'{id}' needs attention: {failures} failed verdicts in a row (orch.review.maxRejections is {}); not verifying it again automatically",
                settings.max_rejections
            ))
            .hint(format!("read its history (`git worker log {id}`) and talk to the worker"))
            .hint(format!("to verify it anyway: git review-gate run {id} --force"))
            .into());
        }
    }
    let seconds = args
        .timeout
        .or(contract_timeout)
        .unwrap_or(DEFAULT_VERIFY_TIMEOUT);
    let timeout = Duration::from_secs(seconds);

    let _signals = orch::interrupt::guard()?;
    let commit = checkout_commit(repo, subject)?;
    let guard = match &subject.worker {
        Some(id) => Guard::worker(repo, id)?,
        None => Guard::commit(subject.target),
    };
    let checkout = Verification::prepare(repo, &settings, commit, None, guard)?;
    orch::interrupt::checkpoint("gate:checkout")?;
    eprintln!(
        "verifying {} (fingerprint {}) in a clean checkout: {} command(s)",
        subject.label(),
        short(&subject.fingerprint),
        commands.len()
    );
    let mode = orch::verify::Mode {
        jobs: args.jobs,
        stream: !args.json,
        announce: true,
        stop_at_failure: false,
    };
    let results = checkout.run(&commands, timeout, mode)?;
    if let Some(signal) = orch::interrupt::pending() {
        drop(checkout);
        return Err(Interrupted {
            signal,
            what: "verification stopped; nothing recorded".into(),
        }
        .into());
    }
    orch::interrupt::checkpoint("gate:verify")?;

    let passed = results.iter().all(CommandResult::passed);
    let mut verdict = subject.verdict(
        if passed { Ruling::Pass } else { Ruling::Fail },
        &by,
        &actor_label,
    );
    verdict.commands = results;
    record(repo, &target, &verdict, actor, settings.max_rejections)?;
    // After the verdict is safe: a checkout that cannot be removed is a
    // warning (and debris for `git worker prune`), not a lost verdict.
    if let Err(err) = checkout.finish() {
        eprintln!("warning: {err:#}");
        eprintln!("hint: `git worker prune` removes it");
    }
    if args.json {
        print_json(&json!({ "version": JSON_VERSION, "verdict": verdict }))?;
    }
    let failed = verdict.commands.iter().filter(|c| !c.passed()).count();
    eprintln!(
        "verdict: {} for {} ({} of {} command(s) passed)",
        verdict.ruling,
        subject.label(),
        verdict.commands.len() - failed,
        verdict.commands.len()
    );
    Ok(if passed {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

/// The commands that verify `target`, and the contract's timeout: a
/// worker's from the coordinator's contract (never from the command line),
/// a revision's from `--verify` or `orch.verify`.
fn commands_for(
    repo: &Repo,
    target: &Target,
    args: &RunArgs,
    settings: &Settings,
) -> Result<(Vec<String>, Option<u64>)> {
    let subject = &target.subject;
    Ok(match (&subject.worker, &target.entry) {
        (Some(id), _) if !args.verify.is_empty() => {
            return Err(Hint::new(format!(
                "--verify is for revisions; '{id}' is a worker, verified by its contract"
            ))
            .hint("the coordinator's contract is the authority on what verifies a worker's change")
            .into());
        }
        (Some(id), None) => {
            return Err(Hint::new(format!(
                "worker '{id}' is not registered any more: there is no contract to verify it by"
            ))
            .hint("verify a commit instead: git review-gate run <rev> --verify '<command>'")
            .into());
        }
        (Some(id), Some(entry)) => {
            let (contract, mismatch) = enforce::authoritative_contract(repo, entry)?;
            if !mismatch.is_empty() {
                eprintln!(
                    "warning: the contract of '{id}' in the registry differs from the one recorded at spawn (in: {}); using the recorded one",
                    mismatch.join(", ")
                );
            }
            if contract.verify.is_empty() {
                return Err(Hint::new(format!(
                    "the contract of '{id}' has no verification commands: there is nothing to run"
                ))
                .hint("give workers verification commands at spawn (--verify, or orch.verify)")
                .hint(format!(
                    "or review it by hand: git review-gate approve {id}"
                ))
                .into());
            }
            (contract.verify.clone(), contract.verify_timeout)
        }
        (None, _) => {
            let commands = if args.verify.is_empty() {
                settings.verify.clone()
            } else {
                for command in &args.verify {
                    orch::contract::validate_verify(command)?;
                }
                args.verify.clone()
            };
            if commands.is_empty() {
                return Err(
                    Hint::new(format!("no verification commands for {}", subject.label()))
                        .hint(format!(
                            "git review-gate run {} --verify '<command>'   (or set orch.verify)",
                            args.target
                        ))
                        .into(),
                );
            }
            (commands, None)
        }
    })
}
