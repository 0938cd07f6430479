//! `git worker cleanup`: remove landed and abandoned work, deciding
//! "landed" by what HEAD holds, not by branch names: ancestry, patch
//! equivalence (rebase), and a merge that would add nothing (squash).

use anyhow::{Context as _, Result};

use super::require_coordinator;
use super::rm::rm_one;
use crate::cli::{CleanupArgs, RmArgs};
use crate::config::Settings;
use crate::exit::{Hint, Outcome, render};
use crate::git::{Oid, Repo};
use crate::registry::{self, State};

/// Why the work at `tip` (started from `base`) is in `head`, if it is.
fn landed_how(repo: &Repo, base: Option<Oid>, tip: Oid, head: Oid) -> Result<Option<&'static str>> {
    if Some(tip) == base {
        return Ok(None);
    }
    if repo.is_ancestor(tip, head)? {
        return Ok(Some("merged: its branch is in HEAD"));
    }
    if repo.all_picked(head, tip)? {
        return Ok(Some("rebased: every commit has an equivalent in HEAD"));
    }
    if repo.merge_tree(head, tip)? == Some(repo.commit_tree(head)?) {
        return Ok(Some("squash-merged: merging it would add nothing"));
    }
    Ok(None)
}

/// One thing to remove.
struct Removal {
    /// The worker id, or none for a branch no worker owns.
    worker: Option<String>,
    branch: String,
    why: String,
    /// It holds work that has not landed (needs --force).
    unlanded: bool,
}

pub fn cleanup(repo: &Repo, args: &CleanupArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker cleanup")?;
    let settings = Settings::load(repo)?;
    let prefix = args.prefix.clone().unwrap_or(settings.prefix.clone());
    let (landed, abandoned) = match (args.landed, args.abandoned) {
        (false, false) => (true, false),
        flags => flags,
    };
    let head = repo
        .head_commit()?
        .context("HEAD has no commit to compare the work with")?;
    let mut removals = Vec::new();
    let mut owned = std::collections::BTreeSet::new();
    for entry in registry::list(repo)?.into_iter().flatten() {
        let contract = &entry.contract;
        owned.insert(contract.branch.clone());
        if !contract.branch.starts_with(&prefix) || entry.status.state == State::Spawning {
            continue;
        }
        let tip = repo.ref_target(&format!("refs/heads/{}", contract.branch))?;
        let base = Oid::from_str(&contract.base).ok();
        let checkout = registry::load_local(repo, entry.id())?
            .map(|l| l.path)
            .filter(|p| p.join(".git").exists());
        let dirty = match &checkout {
            Some(path) => Repo::checkout_is_dirty(path)?,
            None => false,
        };
        let how = match tip {
            Some(tip) => landed_how(repo, base, tip, head)?,
            None => None,
        };
        let idle = tip.is_none_or(|t| Some(t) == base) && !dirty;
        let (take, why, unlanded) = if entry.status.state == State::Applied && !dirty {
            (
                landed,
                "landed: applied by git handoff apply".to_string(),
                false,
            )
        } else if let Some(how) = how.filter(|_| !dirty) {
            (landed, format!("landed: {how}"), false)
        } else if entry.status.state == State::Rejected {
            (abandoned, "abandoned: rejected".to_string(), !idle)
        } else if idle && matches!(entry.status.state, State::Active | State::Blocked) {
            (abandoned, "abandoned: it did nothing".to_string(), false)
        } else {
            (false, String::new(), true)
        };
        if take {
            removals.push(Removal {
                worker: Some(entry.id().to_string()),
                branch: contract.branch.clone(),
                why,
                unlanded,
            });
        }
    }
    // Branches under the prefix no worker owns (kept by `rm --keep-branch`).
    if landed {
        for (name, tip) in repo.refs_under(&format!("refs/heads/{prefix}"))? {
            let branch = name.trim_start_matches("refs/heads/").to_string();
            if owned.contains(&branch) || repo.head_branch()?.as_deref() == Some(name.as_str()) {
                continue;
            }
            if let Some(how) = landed_how(repo, None, tip, head)? {
                removals.push(Removal {
                    worker: None,
                    branch,
                    why: format!("landed: {how} (no worker owns it)"),
                    unlanded: false,
                });
            }
        }
    }
    if removals.is_empty() {
        eprintln!("nothing to clean up");
        return Ok(Outcome::Success);
    }
    let _signals = crate::interrupt::guard()?;
    let mut failed = Vec::new();
    for removal in &removals {
        let what = match &removal.worker {
            Some(id) => format!("worker '{id}' (branch '{}')", removal.branch),
            None => format!("branch '{}'", removal.branch),
        };
        if removal.unlanded && !args.force {
            eprintln!(
                "kept {what}: {}, and it holds work that has not landed (--force removes it)",
                removal.why
            );
            continue;
        }
        if args.dry_run {
            println!("would remove {what}: {}", removal.why);
            continue;
        }
        let result = match &removal.worker {
            Some(id) => rm_one(
                repo,
                id,
                &RmArgs {
                    ids: vec![id.clone()],
                    // Landed by our checks, which `rm`'s own do not all make.
                    force: true,
                    keep_branch: false,
                },
            ),
            None => repo
                .git(["branch", "-D", &removal.branch])
                .run()
                .with_context(|| format!("cannot delete branch '{}'", removal.branch)),
        };
        let result = result.and_then(|()| match &args.remote {
            Some(remote) => delete_remote_branch(repo, remote, &removal.branch),
            None => Ok(()),
        });
        match result {
            Ok(()) => println!("removed {what}: {}", removal.why),
            Err(err) => {
                eprint!("{}", render(&err.context(format!("cannot remove {what}"))));
                failed.push(removal.branch.clone());
            }
        }
    }
    if !failed.is_empty() {
        return Err(Hint::new(format!(
            "{} of {} could not be removed ({})",
            failed.len(),
            removals.len(),
            failed.join(", ")
        ))
        .into());
    }
    Ok(Outcome::Success)
}

/// `git push <remote> --delete <branch>`, when the remote has it.
fn delete_remote_branch(repo: &Repo, remote: &str, branch: &str) -> Result<()> {
    let tracking = format!("refs/remotes/{remote}/{branch}");
    let out = repo
        .git(["push", "--quiet", remote, "--delete", branch])
        .output()?;
    if out.status != 0 {
        if out.stderr.contains("remote ref does not exist") {
            return Ok(());
        }
        return Err(Hint::new(format!(
            "cannot delete branch '{branch}' on '{remote}': {}",
            out.stderr.trim()
        ))
        .hint("check the remote's name and your access; the local removal is done")
        .into());
    }
    if repo.ref_target(&tracking)?.is_some() {
        repo.git(["update-ref", "-d", &tracking]).run()?;
    }
    Ok(())
}
