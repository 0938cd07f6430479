//! `git worker ci-check`: what a forge's CI job checks on a worker's branch
//! or pull request, where no hook of ours runs on the server. It fetches
//! the registry, takes only what its signers were entitled to write (the
//! coordinator's public key must be given: a CI runner has no key of its
//! own), and checks that branch against its worker's contract and gate.

use anyhow::Result;

use crate::config::Require;
use crate::exit::Hint;
use crate::gate;
use crate::git::{Oid, Repo};
use crate::registry;

/// One check and how it went.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Everything `ci-check` found.
#[derive(Debug, Clone)]
pub struct Report {
    pub branch: String,
    pub commit: Oid,
    pub worker: Option<String>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// Check commit `commit` of worker branch `branch`, with the registry of
/// `remote`, under the review policy `require`.
pub fn ci_check(
    repo: &Repo,
    remote: &str,
    branch: &str,
    commit: Oid,
    require: Require,
) -> Result<Report> {
    if registry::keys::anchors(repo)?.is_empty() {
        return Err(Hint::new(
            "ci-check needs the coordinator's public key to tell its registry from a forgery",
        )
        .hint("pass --coordinator-key '<ssh-ed25519 ...>' (what `git worker key` prints on the coordinator's machine), or set orch.coordinatorKey")
        .into());
    }
    let mut pulled = super::sync::Pulled::default();
    super::sync::pull(repo, remote, &mut pulled)?;
    for why in &pulled.refused {
        eprintln!("warning: {why}");
    }
    let mut report = Report {
        branch: branch.to_string(),
        commit,
        worker: None,
        checks: Vec::new(),
    };
    let entry = registry::list(repo)?
        .into_iter()
        .flatten()
        .find(|entry| entry.contract.branch == branch);
    let Some(entry) = entry else {
        report.checks.push(Check {
            name: "registry",
            ok: false,
            detail: format!("no worker contract the coordinator signed names branch '{branch}'"),
        });
        return Ok(report);
    };
    let id = entry.id().to_string();
    report.worker = Some(id.clone());
    report.checks.push(Check {
        name: "registry",
        ok: true,
        detail: format!("worker '{id}', its contract signed by the coordinator"),
    });

    let violations = super::hub::judge_branch(
        repo,
        &format!("refs/heads/{branch}"),
        &entry.contract,
        commit,
    )?;
    report.checks.push(Check {
        name: "contract",
        ok: violations.is_empty(),
        detail: if violations.is_empty() {
            "every change since the contract's base is in the paths it allows".into()
        } else {
            violations.join("; ")
        },
    });

    let handoff = registry::load_current_handoff(repo, &entry)?;
    let Some(handoff) = handoff else {
        report.checks.push(Check {
            name: "handoff",
            ok: false,
            detail: format!("worker '{id}' has not reported"),
        });
        return Ok(report);
    };
    let tree = repo.commit_tree(commit)?;
    report.checks.push(Check {
        name: "handoff",
        ok: tree.to_string() == handoff.meta.tree,
        detail: if tree.to_string() == handoff.meta.tree {
            "the branch holds what the worker reported".into()
        } else {
            format!(
                "the branch's tree {} is not what the worker reported ({}): report again",
                &tree.to_string()[..10],
                &handoff.meta.tree[..handoff.meta.tree.len().min(10)]
            )
        },
    });

    let subject = gate::Subject::of_handoff(&id, handoff)?;
    let verdicts = gate::gather(repo, &subject)?;
    let decision = gate::decide(require, &verdicts.current);
    report.checks.push(Check {
        name: "gate",
        ok: decision.open,
        detail: if decision.open {
            format!("open (policy: {})", require.as_str())
        } else {
            let mut why: Vec<String> = decision.against.clone();
            why.extend(
                decision
                    .missing
                    .iter()
                    .map(|m| format!("missing {}", m.explain(&id).0)),
            );
            format!("closed (policy: {}): {}", require.as_str(), why.join("; "))
        },
    });
    Ok(report)
}
