//! `git worker check`: the binding contract check, on what is really there.

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{CheckArgs, CiCheckArgs};
use orch::contract::validate_id;
use orch::enforce::{self, Judgement};
use orch::exit::{Hint, Outcome, render};
use orch::git::Repo;
use orch::local;
use orch::policy::display_path;
use orch::registry::{self, Entry};
use orch::role::{Role, role};
use orch::ui::{JSON_VERSION, print_json};

pub fn check(repo: &Repo, args: &CheckArgs) -> Result<Outcome> {
    let id = match (&args.id, role(repo)?) {
        (Some(id), _) => Some(id.clone()),
        (None, Role::Worker(id)) => Some(id),
        (None, Role::Coordinator) => None,
    };
    let mut unchecked = 0;
    let entries: Vec<Entry> = match &id {
        Some(id) => {
            validate_id(id)?;
            vec![registry::load(repo, id)?.ok_or_else(|| {
                Hint::new(format!("worker '{id}' is not registered"))
                    .hint("`git worker list` shows the registered workers")
            })?]
        }
        None => {
            let mut entries = Vec::new();
            for entry in registry::list(repo)? {
                match entry {
                    // Being spawned: nothing to judge yet (its contract is
                    // pinned once its checkout is made).
                    Ok(entry) if entry.status.state == orch::registry::State::Spawning => {}
                    Ok(entry) => entries.push(entry),
                    Err(err) => {
                        eprint!("{}", render(&err));
                        unchecked += 1;
                    }
                }
            }
            // A checkout here whose entry vanished cannot be judged either
            // (unless it is being removed right now).
            for id in local::local_ids(repo)? {
                // Asked again last: a removal that ran from start to end
                // after the local facts were read took them with it.
                if repo.ref_target(&registry::live_ref(&id))?.is_none()
                    && local::removal_running(repo, &id).is_none()
                    && local::load_local(repo, &id)?.is_some()
                {
                    eprintln!(
                        "error: worker '{id}' has a checkout on this machine but no registry entry"
                    );
                    unchecked += 1;
                }
            }
            entries
        }
    };
    let range = match &args.range {
        None => None,
        Some(_) if id.is_none() => {
            return Err(
                Hint::new("--range needs a worker id, whose contract judges the range")
                    .hint("git worker check <ID> --range <A>..<B>")
                    .into(),
            );
        }
        Some(range) => Some(parse_range(repo, range)?),
    };

    let mut judgements = Vec::new();
    for entry in &entries {
        let judged = enforce::judge(repo, entry, range);
        // A checkout being removed loses its files one by one: what was
        // read of it is not the worker's work.
        if orch::registry::being_removed(repo, entry.id())? {
            if id.is_some() {
                return Err(Hint::new(format!("worker '{}' is being removed", entry.id())).into());
            }
            eprintln!("skipped worker '{}': it is being removed", entry.id());
            continue;
        }
        judgements.push(judged.with_context(|| format!("cannot check worker '{}'", entry.id()))?);
    }
    let failed = judgements.iter().any(|j| !j.violations.is_empty());

    if args.json {
        let workers: Vec<_> = judgements.iter().map(to_json).collect();
        print_json(
            &json!({ "version": JSON_VERSION, "ok": !failed && unchecked == 0, "workers": workers }),
        )?;
    } else {
        for judgement in &judgements {
            print_text(judgement);
        }
        if judgements.is_empty() {
            eprintln!("no workers to check");
        }
    }
    if unchecked > 0 {
        return Err(Hint::new(format!(
            "{unchecked} worker(s) could not be checked (listed above)"
        ))
        .hint("`git worker doctor` lists registry problems")
        .into());
    }
    Ok(if failed {
        Outcome::CheckFailed
    } else {
        Outcome::Success
    })
}

fn parse_range(repo: &Repo, range: &str) -> Result<(orch::git::Oid, orch::git::Oid)> {
    let Some((from, to)) = range.split_once("..") else {
        return Err(Hint::new(format!("invalid range '{range}'"))
            .hint("write it as <A>..<B>, e.g. main..orch/auth")
            .into());
    };
    let resolve = |rev: &str| -> Result<orch::git::Oid> {
        let rev = if rev.is_empty() { "HEAD" } else { rev };
        repo.resolve_commit(rev)?.ok_or_else(|| {
            Hint::new(format!("revision '{rev}' does not exist"))
                .hint("list branches with `git branch -a`")
                .into()
        })
    };
    Ok((resolve(from)?, resolve(to)?))
}

fn mismatch_warning(judgement: &Judgement) -> Option<String> {
    (!judgement.contract_mismatch.is_empty()).then(|| {
        format!(
            "warning: the contract of '{}' in the registry differs from the one recorded at spawn (in: {}); \
             enforcing the recorded one",
            judgement.id,
            judgement.contract_mismatch.join(", ")
        )
    })
}

fn print_text(judgement: &Judgement) {
    if let Some(warning) = mismatch_warning(judgement) {
        eprintln!("{warning}");
    }
    let changed = judgement.changes.len();
    let paths = if changed == 1 { "path" } else { "paths" };
    if judgement.violations.is_empty() {
        println!(
            "worker '{}': {changed} changed {paths}, all within the contract",
            judgement.id
        );
        return;
    }
    let count = judgement.violations.len();
    println!(
        "worker '{}': {count} of {changed} changed {paths} break the contract:",
        judgement.id
    );
    print!(
        "{}",
        enforce::explain(&judgement.violations, &judgement.contract)
    );
}

fn to_json(judgement: &Judgement) -> serde_json::Value {
    let violations: Vec<_> = judgement
        .violations
        .iter()
        .map(|v| {
            json!({
                "path": display_path(&v.path),
                "change": v.kind.as_str(),
                "rule": v.rule_name(),
                "reason": v.reason(),
            })
        })
        .collect();
    json!({
        "id": judgement.id,
        "ok": judgement.violations.is_empty(),
        "changed": judgement.changes.len(),
        "violations": violations,
        "allow": judgement.contract.allow,
        "deny": judgement.contract.deny,
        "contract_mismatch": judgement.contract_mismatch,
    })
}

/// `git worker ci-check`: a worker's branch against its signed contract
/// and gate, in a forge's CI job.
pub fn ci_check(repo: &Repo, args: &CiCheckArgs) -> Result<Outcome> {
    let require = orch::config::Require::parse(&args.require, "--require")?;
    let Some(commit) = repo.resolve_commit(&args.rev)? else {
        return Err(Hint::new(format!("--rev {}: no such commit", args.rev)).into());
    };
    let branch = match &args.branch {
        Some(branch) => branch.clone(),
        None => ci_branch(repo)?,
    };
    if let Some(key) = &args.coordinator_key {
        let key = orch::ops::keys::parse_key(key)?.openssh();
        let known = repo.config_multi(orch::registry::keys::KEY_COORDINATOR)?;
        if !known.contains(&key) {
            repo.add_config(orch::registry::keys::KEY_COORDINATOR, &key)?;
        }
    }
    let report = orch::ops::ci_check::ci_check(repo, &args.remote, &branch, commit, require)?;
    if args.json {
        print_json(&json!({
            "version": JSON_VERSION,
            "ok": report.ok(),
            "branch": report.branch,
            "commit": report.commit.to_string(),
            "worker": report.worker,
            "checks": report.checks.iter().map(|c| json!({
                "check": c.name, "ok": c.ok, "detail": c.detail,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        for check in &report.checks {
            let mark = if check.ok { "ok" } else { "FAIL" };
            println!("{mark:<8} {:<9} {}", check.name, check.detail);
        }
    }
    Ok(if report.ok() {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

/// The branch a CI job runs for: a pull or merge request's source branch,
/// else the pushed branch, else the current one.
fn ci_branch(repo: &Repo) -> Result<String> {
    for var in [
        "GITHUB_HEAD_REF",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
        "GITHUB_REF_NAME",
        "CI_COMMIT_BRANCH",
    ] {
        if let Ok(value) = std::env::var(var)
            && !value.is_empty()
        {
            return Ok(value);
        }
    }
    match repo.head_branch()? {
        Some(branch) => Ok(branch),
        None => Err(
            Hint::new("no branch to check: HEAD is detached and no CI variable names one")
                .hint("pass --branch <the worker's branch>")
                .into(),
        ),
    }
}
