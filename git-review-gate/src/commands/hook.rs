//! `git review-gate hook pre-push`: refuse to push unreviewed work.

use anyhow::{Context as _, Result};

use orch::config::Settings;
use orch::exit::{Hint, Outcome};
use orch::gate::{self, Subject};
use orch::git::{Oid, Repo};
use orch::registry::{self};
use orch::ui::short;

use crate::cli::HookArgs;

// ----- the gate in hooks -----

pub(super) fn hook(repo: &Repo, args: &HookArgs) -> Result<Outcome> {
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
