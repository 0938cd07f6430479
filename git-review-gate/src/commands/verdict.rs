//! `git review-gate approve` and `reject`: a reviewer's verdict.

use anyhow::Result;
use serde_json::json;

use orch::config::Settings;
use orch::exit::{Hint, Outcome};
use orch::git::Repo;
use orch::registry::Ruling;
use orch::ui::{JSON_VERSION, print_json, short};

use orch::ops::review::{judge, record, resolve};

use crate::cli::{ApproveArgs, RejectArgs};

// ----- approve, reject -----

pub(super) fn approve(repo: &Repo, args: &ApproveArgs) -> Result<Outcome> {
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

pub(super) fn reject(repo: &Repo, args: &RejectArgs) -> Result<Outcome> {
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
