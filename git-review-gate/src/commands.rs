//! `git review-gate`: verification in a clean checkout and review verdicts,
//! recorded in git and bound to the exact change judged. The policy and the
//! verdict store are the shared library's (`orch::gate`,
//! `orch::registry`); this module holds the commands.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::json;

use orch::config::Settings;
use orch::contract::validate_id;
use orch::enforce;
use orch::exit::{Hint, Outcome};
use orch::gate::{self, Decision, Subject, Verdicts};
use orch::git::{Oid, Repo};
use orch::interrupt::Interrupted;
use orch::local;
use orch::registry::CommandResult;
use orch::registry::{self, Actor, Change, Entry, Ruling, State, Verdict};
use orch::role::{Role, role};
use orch::ui::{JSON_VERSION, print_json, short, timestamp};

use orch::verify::DEFAULT_VERIFY_TIMEOUT;

use crate::cli::{ApproveArgs, Cli, Command, HookArgs, RejectArgs, RunArgs, StatusArgs, WaitArgs};

pub fn run(cli: Cli) -> Result<Outcome> {
    let repo = Repo::discover()?;
    match cli.command {
        Command::Run(args) => run_verification(&repo, &args),
        Command::Approve(args) => approve(&repo, &args),
        Command::Reject(args) => reject(&repo, &args),
        Command::Status(args) => status(&repo, &args),
        Command::Wait(args) => wait(&repo, &args),
        Command::Hook(args) => hook(&repo, &args),
    }
}

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
fn judge(
    repo: &Repo,
    subject: &Subject,
    reviewer: Option<&str>,
) -> Result<(Actor, String, String)> {
    if std::env::var_os(orch::verify::VERIFYING_ENV).is_some() {
        return Err(Hint::new(format!(
            "refusing to record a verdict from inside a verification run ({} is set)",
            orch::verify::VERIFYING_ENV
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
fn record(
    repo: &Repo,
    target: &Target,
    verdict: &Verdict,
    actor: Actor,
    max_failures: u32,
) -> Result<()> {
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
    orch::interrupt::checkpoint("gate:verdict")?;
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

// ----- run -----

/// A scratch clone for one run, removed when dropped (whatever happened);
/// recorded on this machine while it exists, so a killed run's clone is
/// found and removed by `git worker prune`.
struct TempCheckout<'a> {
    repo: &'a Repo,
    name: String,
    path: PathBuf,
    removed: bool,
}

impl<'a> TempCheckout<'a> {
    /// Clone into a new directory under $TMPDIR, outside the repository
    /// (tools that look for a project root in parent directories must not
    /// find yours), and check `commit` out there.
    fn create(repo: &'a Repo, commit: Oid) -> Result<TempCheckout<'a>> {
        let name = format!("orch-gate-{}", registry::event_id());
        let tmp = std::path::absolute(std::env::temp_dir())
            .context("cannot find the temporary directory")?;
        let checkout = TempCheckout {
            repo,
            path: tmp.join(&name),
            name,
            removed: false,
        };
        local::begin_gate_run(
            repo,
            &checkout.name,
            &local::GateRun {
                pid: std::process::id(),
                path: checkout.path.clone(),
            },
        )?;
        repo.clone_for_verification(&checkout.path, commit)?;
        Ok(checkout)
    }

    fn remove(mut self) -> Result<()> {
        self.removed = true;
        orch::fs::remove_dir_forcefully(&self.path)?;
        local::end_gate_run(self.repo, &self.name)
    }
}

impl Drop for TempCheckout<'_> {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let removed = orch::fs::remove_dir_forcefully(&self.path)
            .and_then(|()| local::end_gate_run(self.repo, &self.name));
        if let Err(err) = removed {
            eprintln!(
                "warning: cannot remove the temporary checkout '{}': {err:#}",
                self.path.display()
            );
            eprintln!("hint: `git worker prune` removes it");
        }
    }
}

/// The commit to check out: a worker's reported tree on its base, or the
/// commit judged.
fn checkout_commit(repo: &Repo, subject: &Subject) -> Result<Oid> {
    match &subject.handoff {
        Some(handoff) => registry::handoff_result_commit(repo, handoff),
        None => Ok(subject.target),
    }
}

fn run_verification(repo: &Repo, args: &RunArgs) -> Result<Outcome> {
    let target = resolve(repo, &args.target)?;
    let subject = &target.subject;
    let settings = Settings::load(repo)?;
    let (actor, actor_label, by) = judge(repo, subject, None)?;
    let (commands, contract_timeout) = match (&subject.worker, &target.entry) {
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
    };
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
    let checkout = TempCheckout::create(repo, commit)?;
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
    let results = orch::verify::run_commands(&checkout.path, &commands, timeout, mode)?;
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
    if let Err(err) = checkout.remove() {
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

// ----- approve, reject -----

fn approve(repo: &Repo, args: &ApproveArgs) -> Result<Outcome> {
    let target = resolve(repo, &args.target)?;
    let (actor, label, by) = judge(repo, &target.subject, args.reviewer.as_deref())?;
    let settings = Settings::load(repo)?;
    let mut verdict = target.subject.verdict(Ruling::Approve, &by, &label);
    verdict.message = args
        .message
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    record(repo, &target, &verdict, actor, settings.max_rejections)?;
    if args.json {
        print_json(&json!({ "version": JSON_VERSION, "verdict": verdict }))?;
    }
    eprintln!(
        "approved {} (fingerprint {}) as {by}",
        target.subject.label(),
        short(&target.subject.fingerprint)
    );
    Ok(Outcome::Success)
}

fn reject(repo: &Repo, args: &RejectArgs) -> Result<Outcome> {
    let findings: Vec<String> = args
        .findings
        .iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if findings.is_empty() {
        return Err(Hint::new(
            "a rejection needs at least one concrete finding the worker can act on",
        )
        .hint(format!(
            "git review-gate reject {} -m '<what is wrong, and where>' [-m '<another>']",
            args.target
        ))
        .into());
    }
    let target = resolve(repo, &args.target)?;
    let (actor, label, by) = judge(repo, &target.subject, args.reviewer.as_deref())?;
    let settings = Settings::load(repo)?;
    let mut verdict = target.subject.verdict(Ruling::Reject, &by, &label);
    verdict.findings = findings;
    record(repo, &target, &verdict, actor, settings.max_rejections)?;
    if args.json {
        print_json(&json!({ "version": JSON_VERSION, "verdict": verdict }))?;
    }
    eprintln!(
        "rejected {} (fingerprint {}) with {} finding(s)",
        target.subject.label(),
        short(&target.subject.fingerprint),
        verdict.findings.len()
    );
    Ok(Outcome::Success)
}

// ----- status, wait -----

/// The verdicts of a target and what the policy makes of them.
struct Gate {
    target: Target,
    verdicts: Verdicts,
    decision: Decision,
    attention: Option<String>,
}

fn evaluate(repo: &Repo, name: &str, settings: &Settings) -> Result<Gate> {
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

fn gate_json(gate: &Gate) -> serde_json::Value {
    let s = &gate.target.subject;
    json!({
        "version": JSON_VERSION,
        "target": s.name,
        "worker": s.worker,
        "change": {
            "commit": s.target.to_string(),
            "base": s.base.map(|b| b.to_string()),
            "tree": s.tree.to_string(),
            "fingerprint": s.fingerprint,
        },
        "policy": gate.decision.require.as_str(),
        "open": gate.decision.open,
        "decided": gate.decision.decided,
        "missing": gate.decision.missing.iter().map(|m| m.explain(&s.name).0).collect::<Vec<_>>(),
        "against": gate.decision.against,
        "attention": gate.attention,
        "verdicts": gate.verdicts.current,
        "stale": gate.verdicts.stale,
    })
}

fn verdict_line(verdict: &Verdict) -> String {
    let detail = match verdict.ruling {
        Ruling::Pass | Ruling::Fail => verdict
            .commands
            .iter()
            .map(|c| {
                let mark = if c.passed() { "ok" } else { "FAILED" };
                format!("{} [{mark}]", c.command)
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ruling::Approve => verdict.message.lines().next().unwrap_or("").to_string(),
        Ruling::Reject => verdict.findings.join("; "),
    };
    format!(
        "  {:<8} {}  {}  {}",
        verdict.ruling,
        timestamp(verdict.time),
        verdict.by,
        detail
    )
    .trim_end()
    .to_string()
}

fn print_gate(gate: &Gate) -> Result<()> {
    let s = &gate.target.subject;
    let d = &gate.decision;
    let mut out = format!(
        "gate of {}: {} (policy: {})\nchange:  fingerprint {}, tree {}{}\n",
        s.label(),
        if d.open { "open" } else { "CLOSED" },
        d.require,
        short(&s.fingerprint),
        short(&s.tree.to_string()),
        s.base
            .map(|b| format!(" on {}", short(&b.to_string())))
            .unwrap_or_default(),
    );
    if gate.verdicts.current.is_empty() {
        out.push_str("verdicts: none on this change\n");
    } else {
        out.push_str("verdicts:\n");
        for verdict in &gate.verdicts.current {
            out.push_str(&verdict_line(verdict));
            out.push('\n');
        }
    }
    if !gate.verdicts.stale.is_empty() {
        out.push_str(&format!(
            "stale (on earlier changes; they do not count): {}\n",
            gate.verdicts.stale.len()
        ));
        for verdict in &gate.verdicts.stale {
            out.push_str(&verdict_line(verdict));
            out.push_str(&format!(
                "  (fingerprint {})\n",
                short(&verdict.fingerprint)
            ));
        }
    }
    if let Some(attention) = &gate.attention {
        out.push_str(&format!("attention: {attention}\n"));
    }
    let (reasons, hints) = gate::explain(d, s);
    for reason in reasons {
        out.push_str(&format!("closed: {reason}\n"));
    }
    for hint in hints {
        out.push_str(&format!("hint: {hint}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn status(repo: &Repo, args: &StatusArgs) -> Result<Outcome> {
    let settings = Settings::load(repo)?;
    let gate = evaluate(repo, &args.target, &settings)?;
    if args.json {
        print_json(&gate_json(&gate))?;
    } else {
        print_gate(&gate)?;
    }
    Ok(if gate.decision.open {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

fn wait(repo: &Repo, args: &WaitArgs) -> Result<Outcome> {
    let settings = Settings::load(repo)?;
    // Fail early on a bad target.
    evaluate(repo, &args.target, &settings)?;
    let _signals = orch::interrupt::guard()?;
    let watch =
        orch::watch::RefWatch::new(repo.common_dir(), &["refs/orch/notes/", registry::HANDOFFS]);
    let settled = orch::watch::until(&watch, args.timeout, || {
        let gate = evaluate(repo, &args.target, &settings)?;
        Ok(gate.decision.decided.then_some(gate))
    })?;
    if let Some(signal) = orch::interrupt::pending() {
        return Err(Interrupted {
            signal,
            what: "stopped waiting".into(),
        }
        .into());
    }
    let (gate, timed_out) = match settled {
        Some(gate) => (gate, false),
        None => (evaluate(repo, &args.target, &settings)?, true),
    };
    if args.json {
        let mut value = gate_json(&gate);
        value["timed_out"] = timed_out.into();
        print_json(&value)?;
    } else {
        print_gate(&gate)?;
    }
    if timed_out {
        eprintln!(
            "timed out after {} s waiting for a verdict on {}",
            args.timeout.map_or(0.0, |t| t.as_secs_f64()),
            gate.target.subject.label()
        );
        return Ok(Outcome::CheckFailed);
    }
    Ok(if gate.decision.open {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

// ----- the gate in hooks -----

fn hook(repo: &Repo, args: &HookArgs) -> Result<Outcome> {
    match args.hook.as_str() {
        "pre-push" => pre_push(repo),
        other => Err(Hint::new(format!("no hook '{other}' in git-review-gate")).into()),
    }
}

/// Refuse to push a worker branch unless its tip is exactly the reported
/// change and the gate of that change is open (under policy `none`, an
/// approval is asked for: installing this hook asks for review).
fn pre_push(repo: &Repo) -> Result<Outcome> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
        .context("cannot read the refs being pushed")?;
    let settings = Settings::load(repo)?;
    let require = match settings.review_require {
        orch::config::Require::None => orch::config::Require::Approve,
        other => other,
    };
    // Worker branches: name, worker id, and the branch's tip here when it
    // holds work of the worker's own (not just its base).
    let mut branches: Vec<(String, String, Option<Oid>)> = Vec::new();
    for entry in registry::list(repo)?.into_iter().flatten() {
        let branch = entry.contract.branch.clone();
        let tip = repo
            .ref_target(&format!("refs/heads/{branch}"))?
            .filter(|tip| tip.to_string() != entry.contract.base);
        branches.push((branch, entry.id().to_string(), tip));
    }
    let mut refused = Vec::new();
    for line in input.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [local_ref, local_sha, remote_ref, _] = fields[..] else {
            continue;
        };
        let Ok(pushed) = Oid::from_str(local_sha) else {
            continue;
        };
        if pushed.is_zero() {
            continue; // a deletion
        }
        // A worker's change, however it is named: pushed to a worker
        // branch's name, from one (`orch/w:elsewhere`), or its commit under
        // another name (`HEAD`, `<sha>:<ref>`).
        let named = |r: &str| {
            r.strip_prefix("refs/heads/")
                .and_then(|b| branches.iter().find(|(name, _, _)| name == b))
        };
        let Some((branch, id, _)) = named(remote_ref)
            .or_else(|| named(local_ref))
            .or_else(|| branches.iter().find(|(_, _, tip)| *tip == Some(pushed)))
        else {
            continue;
        };
        let handoff = match registry::load(repo, id)? {
            Some(entry) => registry::load_current_handoff(repo, &entry)?,
            None => None,
        };
        let Some(handoff) = handoff else {
            refused.push(format!(
                "{branch}: worker '{id}' has not reported, so nothing on it has been reviewed"
            ));
            continue;
        };
        let subject = Subject::of_handoff(id, handoff)?;
        if repo.commit_tree(pushed)? != subject.tree {
            refused.push(format!(
                "{branch}: {} is not the change '{id}' reported (fingerprint {}); report it again and have it reviewed",
                short(local_sha),
                short(&subject.fingerprint)
            ));
            continue;
        }
        let verdicts = gate::gather(repo, &subject)?;
        let decision = gate::decide(require, &verdicts.current);
        if !decision.open {
            let (reasons, hints) = gate::explain(&decision, &subject);
            refused.push(format!("{branch}: {}", reasons.join("; ")));
            refused.extend(hints.into_iter().map(|h| format!("  hint: {h}")));
        }
    }
    if refused.is_empty() {
        return Ok(Outcome::Success);
    }
    eprintln!("error: git-review-gate refused the push:");
    for line in refused {
        eprintln!("  {line}");
    }
    Ok(Outcome::CheckFailed)
}
