//! Applying a handoff: the gate, the contract on the change itself, the
//! patch, the commit that would land, its verification (see
//! [`super::scratch`]), then HEAD moves to exactly that commit and the
//! `applied` event is recorded. A failure on the way is undone by the rule
//! of [`super::undo`], which also recovers a killed apply.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::contract::{Contract, validate_id};
use crate::enforce;
use crate::exit::{Hint, Outcome};
use crate::git::{Oid, Replayed, Repo};
use crate::interrupt::checkpoint;
use crate::local::{self, ApplyJournal};
use crate::ops::undo::{TakenBack, recover_applies, take_back};
use crate::policy::Policy;
use crate::registry::{self, Actor, Change, Entry, Handoff, State};
use crate::ui::short;

mod merge;
mod message;

use merge::Merge;
use message::{squash_message, trailers};

/// What `git handoff apply` was asked to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Only check the contract and whether the patch applies.
    pub dry_run: bool,
    /// Apply and verify, but leave the change uncommitted.
    pub no_commit: bool,
    /// Seconds each verification command may take (over the contract's).
    pub timeout: Option<u64>,
    /// Print the commit made on stdout.
    pub print: bool,
    /// Land a 3-way merged change that differs from the approved one.
    pub accept_merged: bool,
    /// Land the worker's own commits, replayed onto HEAD, instead of one
    /// squashed commit (`None`: orch.apply.keepCommits).
    pub keep_commits: Option<bool>,
}

/// Apply the latest handoff of worker `id` in this checkout: the review
/// gate, the coordinator's contract on the change itself, the patch (made
/// here from the judged trees), a commit of exactly its paths, the
/// verification, and the `applied` event; anything failing on the way
/// rolls back (see [`Applying::roll_back`]). A clean "no" (gate closed,
/// contract broken, patch does not apply, verification failed) is
/// [`Outcome::CheckFailed`], explained on stderr.
pub fn apply(repo: &Repo, id: &str, options: Options) -> Result<Outcome> {
    crate::role::require_coordinator(repo, "git handoff apply")?;
    if !options.dry_run {
        // Who lands it, before anything is claimed or changed: the same rule
        // (and error) as every other write.
        repo.committer()?;
    }
    // One apply at a time in a checkout: a second one waits.
    let _checkout = if options.dry_run {
        None
    } else {
        Some(repo.lock_checkout()?)
    };
    recover_applies(repo, id, options.dry_run)?;
    // The claim on applying this worker, before anything is looked at: one
    // apply of it at a time, on this machine. Its journal is filled in
    // before the checkout is touched, and goes when this returns.
    validate_id(id)?;
    let _claim = if options.dry_run {
        None
    } else {
        Some(claim(repo, id)?)
    };
    let plan = match prepare(repo, id)? {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    if options.dry_run {
        return dry_run(repo, &plan);
    }
    let _signals = crate::interrupt::guard()?;
    let mut applying = match Applying::patch(repo, &plan)? {
        Ok(applying) => applying,
        Err(outcome) => return Ok(outcome),
    };
    applying.build(options.keep_commits.unwrap_or(plan.settings.keep_commits))?;
    if let Some(outcome) = applying.judge_merge(options.accept_merged)? {
        return Ok(outcome);
    }
    if let Some(outcome) = applying.verify(options.timeout)? {
        return Ok(outcome);
    }
    applying.commit(options.no_commit)?;
    applying.keep(options.print)
}

/// An apply about to touch the checkout: what was judged, and what it
/// will do.
struct Plan {
    id: String,
    entry: Entry,
    handoff: Handoff,
    contract: Contract,
    settings: crate::config::Settings,
    gate: crate::gate::Decision,
    workdir: PathBuf,
    base: Oid,
    head: Oid,
    paths: Vec<Vec<u8>>,
    patch: Vec<u8>,
}

/// Everything judged before the checkout is touched: already applied, the
/// gate, the contract on the change itself, your own work in the way.
/// `Err(outcome)` when there is nothing (more) to do.
fn prepare(repo: &Repo, id: &str) -> Result<std::result::Result<Plan, Outcome>> {
    let (entry, handoff) = entry_and_handoff(repo, id)?;
    let id = entry.id().to_string();
    if let Some(done) = registry::outcome_of(repo, Some(&entry), &handoff)?
        && done.event.kind == "applied"
    {
        let commit = done
            .event
            .data
            .get("commit")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        eprintln!(
            "the handoff of '{id}' is already applied{}; nothing to do",
            if commit.is_empty() {
                String::new()
            } else {
                format!(" as {}", short(commit))
            }
        );
        return Ok(Err(Outcome::Success));
    }
    // 0. The review gate, under the policy (orch.review.require).
    let settings = crate::config::Settings::load(repo)?;
    let Ok(gate) = crate::gate::check_before_apply(repo, &id, &handoff, &settings)? else {
        return Ok(Err(Outcome::CheckFailed));
    };
    let (contract, mismatch) = enforce::authoritative_contract(repo, &entry)?;
    if handoff.meta.base != contract.base {
        return Err(Hint::new(format!(
            "the handoff of '{id}' was reported on base {}, and the worker was rebased onto {} since; nothing was applied",
            short(&handoff.meta.base),
            short(&contract.base)
        ))
        .hint(format!("the worker reports again from its new base (`git worker show {id}`)"))
        .into());
    }
    if !mismatch.is_empty() {
        eprintln!(
            "warning: the contract of '{id}' in the registry differs from the one recorded at spawn (in: {}); enforcing the recorded one",
            mismatch.join(", ")
        );
    }
    let workdir = repo
        .workdir()
        .context("applying needs a working tree")?
        .to_path_buf();

    // 1. The contract, on the change itself (whatever the hooks saw).
    let base = Oid::from_str(&contract.base).context("bad base in the contract")?;
    let base_tree = repo.commit_tree(base)?;
    let result = Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?;
    let changes = repo.diff_trees(Some(base_tree), Some(result))?;
    let violations =
        Policy::of(&contract, repo.folds_case()?)?.check(&changes, &repo.links_of(result));
    if !violations.is_empty() {
        eprintln!(
            "error: the handoff of '{id}' touches {} path(s) outside its contract:",
            violations.len()
        );
        eprint!("{}", enforce::explain(&violations, &contract));
        return Ok(Err(Outcome::CheckFailed));
    }
    if changes.is_empty() {
        eprintln!("the handoff of '{id}' changes nothing: nothing to apply");
        return Ok(Err(Outcome::Success));
    }
    let paths: Vec<Vec<u8>> = changes.iter().map(|c| c.path.clone()).collect();
    refuse_missing_gitlinks(repo, &id, result, &paths, &workdir)?;
    // The patch is made here from the checked trees, so what was judged is what is applied.
    let patch = repo.binary_patch(base_tree, result)?;

    // Your own uncommitted work must not be in the way.
    let head = repo
        .head_commit()?
        .context("the coordinator's branch has no commit to apply onto")?;
    let clash = clashes(repo, head, &paths, &workdir)?;
    if !clash.is_empty() {
        return Err(Hint::new(format!(
            "your uncommitted changes touch paths the handoff of '{id}' changes: {}",
            clash.join(", ")
        ))
        .hint("commit or stash them first (git stash push -- <path>), then apply again")
        .into());
    }
    Ok(Ok(Plan {
        id,
        entry,
        handoff,
        contract,
        settings,
        gate,
        workdir,
        base,
        head,
        paths,
        patch,
    }))
}

/// A submodule commit only the worker has would land as a gitlink no one
/// can check out (and go with the worker's checkout): refused, naming it,
/// with the fetch that brings it.
fn refuse_missing_gitlinks(
    repo: &Repo,
    id: &str,
    result: Oid,
    paths: &[Vec<u8>],
    workdir: &Path,
) -> Result<()> {
    let missing = repo.gitlinks_missing_in(result, paths, workdir)?;
    if let Some((path, commit)) = missing.first() {
        let path = crate::policy::display_path(path);
        let mut err = Hint::new(format!(
            "the handoff of '{id}' points submodule '{path}' at commit {commit}, which this checkout's copy of '{path}' does not have; nothing was applied"
        ));
        if let Some(there) = local::load_local(repo, id)?.map(|l| l.path.join(&path)) {
            err = err.hint(format!(
                "fetch it from the worker's copy: git -C {path} fetch {} {commit}:refs/heads/orch/{id}",
                there.display()
            ));
        }
        return Err(err
            .hint(format!(
                "or the worker pushes it to the submodule's remote, then: git -C {path} fetch"
            ))
            .hint(format!(
                "no copy of '{path}' here? git submodule update --init -- {path}"
            ))
            .into());
    }
    Ok(())
}

/// `--dry-run`: whether the patch would apply, cleanly or 3-way.
fn dry_run(repo: &Repo, plan: &Plan) -> Result<Outcome> {
    let id = &plan.id;
    // `git apply` is all-or-nothing, so a failed clean attempt leaves
    // nothing to undo.
    if repo.apply_patch(&plan.patch, false, true)?.status == 0 {
        println!(
            "would apply the handoff of '{id}' cleanly ({} path(s)), then run {} verification command(s)",
            plan.paths.len(),
            plan.contract.verify.len()
        );
        return Ok(Outcome::Success);
    }
    if let Some(tree) = repo.three_way_tree(plan.head, &plan.patch)? {
        println!(
            "would apply the handoff of '{id}' with a 3-way merge ({} path(s))",
            plan.paths.len()
        );
        let merge = Merge::judge(repo, plan, tree)?;
        merge.tell(id);
        if merge.held_back(plan, false) {
            eprintln!(
                "the merged change differs from the approved one: apply would hold it back (--accept-merged lands it)"
            );
            return Ok(Outcome::CheckFailed);
        }
        return Ok(Outcome::Success);
    }
    let three_way = repo.apply_patch(&plan.patch, true, true)?;
    eprintln!(
        "the handoff of '{id}' does not apply onto HEAD: {}",
        three_way.stderr.trim()
    );
    Ok(Outcome::CheckFailed)
}

/// An apply under way: the patch is in, its journal says so.
struct Applying<'a> {
    repo: &'a Repo,
    plan: &'a Plan,
    journal: ApplyJournal,
    /// The commit that would land, once built.
    built: Option<Oid>,
    /// It, once HEAD moved to it.
    committed: Option<Oid>,
    passed: Vec<String>,
    /// The patch went in by a 3-way merge.
    three_way: bool,
    /// What [`Applying::judge_merge`] found, for the `applied` event.
    merge: Option<serde_json::Value>,
}

impl<'a> Applying<'a> {
    /// Step 2: the journal, then the patch: clean, else 3-way. A conflict puts
    /// the handoff's paths back and is recorded (`conflicted`).
    fn patch(repo: &'a Repo, plan: &'a Plan) -> Result<std::result::Result<Self, Outcome>> {
        let id = &plan.id;
        // The journal, before anything is touched: a killed apply is undone
        // from it by `git worker prune` (or the next apply).
        let mut journal = ApplyJournal {
            branch: repo.head_branch()?,
            head: plan.head.to_string(),
            log_tip: plan.entry.tip.to_string(),
            base: plan.base.to_string(),
            handoff: plan.handoff.commit.to_string(),
            fingerprint: plan.handoff.meta.fingerprint.clone(),
            ..ApplyJournal::begun(plan.workdir.clone())
        };
        local::write_apply_journal(repo, id, &journal)?;
        checkpoint("apply:journal")?;
        let mut applied = repo.apply_patch(&plan.patch, false, false)?;
        let three_way = applied.status != 0;
        if three_way {
            applied = repo.apply_patch(&plan.patch, true, false)?;
        }
        if applied.status != 0 {
            conflicted(repo, plan, &applied)?;
            return Ok(Err(Outcome::CheckFailed));
        }
        // What the patch wrote: a later rollback (of a killed apply) takes
        // back that, and refuses to take back anything else.
        journal.applied = repo.index_tree()?.map(|tree| tree.to_string());
        local::write_apply_journal(repo, id, &journal)?;
        let applying = Applying {
            repo,
            plan,
            journal,
            built: None,
            committed: None,
            passed: Vec::new(),
            three_way,
            merge: None,
        };
        applying.after(checkpoint("apply:patch"))?;
        Ok(Ok(applying))
    }

    /// The checkpoint after a step: a signal or an injected fault there
    /// rolls the apply back.
    fn after(&self, checkpoint: Result<()>) -> Result<()> {
        if let Err(err) = checkpoint {
            self.roll_back()?;
            return Err(err.context("apply rolled back"));
        }
        Ok(())
    }

    /// Undo: only if HEAD is still where this apply left it (on the same
    /// branch, at the commit it made), by compare-and-swap on that branch;
    /// then the handoff's paths (and nothing else) go back to HEAD as it
    /// was. The same rule as the recovery of a killed apply ([`undo_apply`]).
    fn roll_back(&self) -> Result<()> {
        let id = &self.plan.id;
        match take_back(
            self.repo,
            self.journal.branch.as_deref(),
            self.plan.head,
            self.committed,
            &self.plan.paths,
        )? {
            TakenBack::Done => Ok(()),
            TakenBack::HeadMoved => {
                let mut err = Hint::new(format!(
                    "HEAD moved while the handoff of '{id}' was being applied; nothing was rolled back"
                ));
                if let Some(commit) = self.committed {
                    err = err.hint(format!(
                        "the handoff's commit is {commit}: undo it with `git revert {commit}`"
                    ));
                }
                Err(err
                    .hint("the handoff's changes may still be in your index and working tree")
                    .into())
            }
            TakenBack::MovedDuringRollback(commit) => anyhow::bail!(
                "HEAD moved during the rollback of '{id}'; the handoff's commit is {commit}"
            ),
        }
    }

    /// Step 3: the commit that would land: the handoff's paths on HEAD,
    /// with the worker's summary and trailers (no ref moves yet); with
    /// `keep_commits`, the worker's own commits replayed onto HEAD instead
    /// (see [`Applying::replayed`]). What is verified is its tree, and what
    /// lands is exactly it.
    fn build(&mut self, keep_commits: bool) -> Result<()> {
        let plan = self.plan;
        let id = &plan.id;
        let built = (|| {
            let head = Oid::from_str(&plan.handoff.meta.head).ok();
            let authors = head
                .and_then(|head| self.repo.authors_between(plan.base, head).ok())
                .unwrap_or_default();
            let message = squash_message(plan, &authors);
            let squashed = self.repo.commit_paths(&message, &plan.paths, plan.head)?;
            match head.filter(|head| keep_commits && *head != plan.base) {
                Some(head) => self.replayed(head, squashed),
                None => Ok(squashed),
            }
        })();
        match built {
            Ok(commit) => {
                self.built = Some(commit);
                Ok(())
            }
            Err(err) => {
                self.roll_back()?;
                Err(err.context(format!("cannot commit the handoff of '{id}'; rolled back")))
            }
        }
    }

    /// `--keep-commits`: the worker's commits from its base to the HEAD it
    /// reported from, each judged by the contract (every one lands) and
    /// replayed onto HEAD with its author, date and message and a `Worker:`
    /// trailer; then, if the handoff has more (work it did not commit, or
    /// a merge that came out otherwise), one commit making the tree exactly
    /// `squashed`'s, so what lands is what was judged.
    fn replayed(&self, head: Oid, squashed: Oid) -> Result<Oid> {
        let (repo, plan, id) = (self.repo, self.plan, &self.plan.id);
        let policy = Policy::of(&plan.contract, repo.folds_case()?)?;
        for (commit, parent) in repo.commits_between(plan.base, head)? {
            let before = parent.map(|p| repo.commit_tree(p)).transpose()?;
            let after = repo.commit_tree(commit)?;
            let broken = policy.check(
                &repo.diff_trees(before, Some(after))?,
                &repo.links_of(after),
            );
            if !broken.is_empty() {
                return Err(Hint::new(format!(
                    "commit {} of '{id}' touches {} path(s) outside its contract, and --keep-commits lands every commit",
                    short(&commit.to_string()),
                    broken.len()
                ))
                .hint(format!("land it as one commit: git handoff apply {id} --no-keep-commits"))
                .into());
            }
        }
        let trailer = format!("Worker: {id}");
        let tip =
            match repo.replay(plan.head, plan.base, head, Some(&trailer))? {
                Replayed::Done { tip, .. } => tip,
                Replayed::Conflict { commit, paths } => {
                    return Err(Hint::new(format!(
                        "commit {} of '{id}' does not replay onto HEAD (conflicts in {})",
                        short(&commit.to_string()),
                        paths.join(", ")
                    ))
                    .hint(format!(
                        "land it as one commit: git handoff apply {id} --no-keep-commits"
                    ))
                    .into());
                }
                Replayed::Merges => {
                    return Err(Hint::new(format!(
                    "the branch of '{id}' has merge commits, which --keep-commits does not replay"
                ))
                .hint(format!("land it as one commit: git handoff apply {id} --no-keep-commits"))
                .into());
                }
            };
        let tree = repo.commit_tree(squashed)?;
        if repo.commit_tree(tip)? == tree {
            // The last commit is the handoff's: it carries apply's trailers
            // (what cleanup and rm know a landed handoff by).
            if tip == plan.head {
                // Nothing was replayed: HEAD had every commit already.
                return Ok(squashed);
            }
            let parent = repo
                .commit_info(tip)?
                .parents
                .first()
                .copied()
                .context("a replayed commit has a parent")?;
            let trailers = trailers(plan);
            let trailers: Vec<&str> = trailers.lines().collect();
            return repo.recommit(tip, tree, parent, &trailers);
        }
        let message = format!(
            "Rest of the handoff of '{id}'\n\nWhat the worker did not commit itself.\n\n{}",
            trailers(plan)
        );
        repo.commit_tree_onto(tree, tip, &message)
    }

    /// Step 3b, after a 3-way merge: say so, name the handoffs that landed
    /// since the worker's base on the same paths, and compare what would
    /// land with what was reported. Under a policy that requires approval,
    /// a merged change that differs from the approved one rolls back
    /// (`Some(outcome)`) unless `accept` (`--accept-merged`).
    fn judge_merge(&mut self, accept: bool) -> Result<Option<Outcome>> {
        if !self.three_way {
            return Ok(None);
        }
        let (plan, id) = (self.plan, &self.plan.id);
        let built = self.built.context("the commit is built first")?;
        let merge = Merge::judge(self.repo, plan, self.repo.commit_tree(built)?)?;
        merge.tell(id);
        self.merge = Some(serde_json::json!({
            "three_way": true,
            "same_as_reported": merge.same,
            "landed_since": merge.since,
            "accepted": accept && !merge.same,
        }));
        if merge.held_back(plan, accept) {
            self.roll_back()?;
            return Err(Hint::new(format!(
                "the merged change of '{id}' differs from the one approved; nothing was applied"
            ))
            .hint(format!(
                "`git worker rebase {id}` moves the worker onto HEAD, so that it reports the merged change for a fresh verdict"
            ))
            .hint(format!(
                "or land it as merged: git handoff apply {id} --accept-merged"
            ))
            .into());
        }
        Ok(None)
    }

    /// Step 5: HEAD moves to the commit verified (unless asked not to commit).
    fn commit(&mut self, no_commit: bool) -> Result<()> {
        let plan = self.plan;
        let id = &plan.id;
        if !no_commit && let Some(commit) = self.built {
            if let Err(err) = self.repo.advance_head(commit, plan.head) {
                self.roll_back()?;
                return Err(
                    err.context(format!("cannot commit the handoff of '{id}'; rolled back"))
                );
            }
            self.committed = Some(commit);
        }
        if let Some(commit) = self.committed {
            self.journal.committed = Some(commit.to_string());
            local::write_apply_journal(self.repo, id, &self.journal)?;
        }
        self.after(checkpoint("apply:commit"))
    }

    /// Step 4: verification, from the coordinator's contract, of the commit
    /// built (in a sandboxed scratch checkout of it, or in place: see
    /// [`crate::ops::scratch`]). A failure rolls back and is recorded
    /// (`rejected`): `Some(outcome)`.
    fn verify(&mut self, timeout: Option<u64>) -> Result<Option<Outcome>> {
        let (id, contract) = (&self.plan.id, &self.plan.contract);
        let seconds = timeout
            .or(contract.verify_timeout)
            .unwrap_or(crate::verify::DEFAULT_VERIFY_TIMEOUT);
        let timeout = std::time::Duration::from_secs(seconds);
        let mode = crate::verify::Mode {
            jobs: 1,
            stream: true,
            announce: false,
            stop_at_failure: true,
        };
        let commit = self.built.context("the commit to verify is built first")?;
        let results = if contract.verify.is_empty() {
            Vec::new()
        } else {
            let verification = crate::ops::scratch::Verification::prepare(
                self.repo,
                &self.plan.settings,
                commit,
                Some(&self.plan.workdir),
                crate::ops::scratch::Guard::worker(self.repo, id)?,
            )?;
            let results = verification.run(&contract.verify, timeout, mode)?;
            verification.finish()?;
            results
        };
        let interrupted = crate::interrupt::pending();
        let failed = results.iter().find(|r| !r.passed());
        if let Some(signal) = interrupted {
            self.roll_back()?;
            return Err(crate::interrupt::Interrupted {
                signal,
                what: "apply rolled back".into(),
            }
            .into());
        }
        if let Some(result) = failed {
            let rolled_back = self.roll_back();
            let command = &result.command;
            registry::update(self.repo, &registry::live_ref(id), |_| {
                Ok(Some(
                    Change::new("rejected", Actor::Coordinator, State::Rejected)
                        .reason(format!("verification failed: {command}"))
                        .with("command", command.as_str())
                        .with(
                            "status",
                            result.status.map_or(serde_json::Value::Null, |s| s.into()),
                        )
                        .with("timed_out", result.timed_out)
                        .with("tail", result.tail.as_str())
                        .with("fingerprint", self.plan.handoff.meta.fingerprint.as_str())
                        .with("rolled_back", rolled_back.is_ok()),
                ))
            })?;
            rolled_back.context(format!("verification '{command}' failed"))?;
            eprintln!(
                "error: verification '{command}' {}; the handoff of '{id}' was rolled back",
                crate::verify::Verdict::of(result).clause(timeout)
            );
            return Ok(Some(Outcome::CheckFailed));
        }
        self.passed = results.into_iter().map(|r| r.command).collect();
        self.after(checkpoint("apply:verify"))?;
        Ok(None)
    }

    /// Step 5: keep it, if that can be recorded; else it goes, as on a failure.
    fn keep(self, print: bool) -> Result<Outcome> {
        let (id, plan) = (&self.plan.id, self.plan);
        let recorded = registry::update(self.repo, &registry::live_ref(id), |_| {
            Ok(Some(
                Change::new("applied", Actor::Coordinator, State::Applied)
                    .with(
                        "commit",
                        self.committed.map_or(String::new(), |c| c.to_string()),
                    )
                    .with("fingerprint", plan.handoff.meta.fingerprint.as_str())
                    .with("verified", self.passed.clone())
                    .with(
                        "merge",
                        self.merge.clone().unwrap_or(serde_json::Value::Null),
                    )
                    .with(
                        "gate",
                        serde_json::json!({ "policy": plan.gate.require.as_str(), "verdicts": plan.gate.relied_on }),
                    ),
            ))
        });
        if let Err(err) = recorded {
            self.roll_back()?;
            return Err(err.context(format!(
                "cannot record the apply of '{id}'; it was rolled back"
            )));
        }
        // Kept: a journal left from here on (a kill) is dropped by the next
        // prune, which finds the `applied` event.
        checkpoint("apply:event")?;
        let verified = match self.passed.len() {
            0 => "its contract names no verification command".to_string(),
            passed => format!("{passed} verification command(s) passed"),
        };
        match self.committed {
            Some(commit) => {
                eprintln!(
                    "applied the handoff of '{id}' as {}; {verified}",
                    short(&commit.to_string()),
                );
                if print {
                    println!("{commit}");
                }
            }
            None => eprintln!("applied the handoff of '{id}' (not committed); {verified}"),
        }
        Ok(Outcome::Success)
    }
}

/// The patch did not go in: say why, put back what a 3-way apply wrote,
/// and record a `conflicted` event (for the after-action report).
fn conflicted(repo: &Repo, plan: &Plan, applied: &crate::git::Output) -> Result<()> {
    let id = &plan.id;
    let conflicts: Vec<&str> = applied
        .stdout
        .lines()
        .chain(applied.stderr.lines())
        .filter_map(|l| l.strip_prefix("U "))
        .collect();
    if conflicts.is_empty() {
        // git apply is all-or-nothing: it wrote nothing; say why.
        eprintln!("error: the handoff of '{id}' does not apply onto HEAD; nothing was changed");
        eprintln!("{}", applied.stderr.trim());
    } else {
        // A 3-way apply with conflicts wrote the handoff's paths (the
        // clash check made sure none of them was yours): undo them.
        repo.restore_paths(plan.head, &plan.paths)?;
        eprintln!("error: the handoff of '{id}' conflicts with HEAD; its changes were undone");
        for path in &conflicts {
            eprintln!("  conflict: {path}");
        }
    }
    eprintln!(
        "hint: `git worker rebase {id}` moves the worker onto HEAD (its commits replayed; a conflict there names the commit); it then reports again"
    );
    let files: Vec<String> = conflicts.iter().map(|c| c.to_string()).collect();
    registry::update(repo, &registry::live_ref(id), |entry| {
        Ok(Some(
            Change::new("conflicted", Actor::Coordinator, entry.status.state)
                .reason(entry.status.reason.clone())
                .with("files", files.clone())
                .with("fingerprint", plan.handoff.meta.fingerprint.as_str()),
        ))
    })?;
    Ok(())
}

/// Paths of the handoff that your own work occupies: changed, staged or
/// untracked; ignored files where the handoff adds one; and index entries
/// marked assume-unchanged or skip-worktree (git would not see your edits).
fn clashes(repo: &Repo, head: Oid, paths: &[Vec<u8>], workdir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let yours = repo.diff_tree_to_workdir(Some(repo.commit_tree(head)?))?;
    let hidden = repo.hidden_index_entries()?;
    for path in paths {
        let occupied = yours.iter().any(|change| &change.path == path)
            || hidden.contains(path)
            || (!repo.commit_has_path(head, path)?
                && workdir
                    .join(crate::policy::to_path(path))
                    .symlink_metadata()
                    .is_ok());
        if occupied {
            out.push(crate::policy::display_path(path));
        }
    }
    Ok(out)
}

/// The worker's registry entry and its latest handoff, or clear errors.
pub fn entry_and_handoff(repo: &Repo, id: &str) -> Result<(Entry, Handoff)> {
    validate_id(id)?;
    let Some(entry) = registry::load(repo, id)? else {
        return Err(Hint::new(format!("worker '{id}' is not registered"))
            .hint("`git handoff list` shows the workers and their handoffs")
            .hint(format!("for an imported handoff: `git handoff import --trust-contract <bundle>`, or fetch {}* from the coordinator", registry::NAMESPACE))
            .into());
    };
    let Some(handoff) = registry::load_current_handoff(repo, &entry)? else {
        return Err(Hint::new(format!("worker '{id}' has not reported"))
            .hint(format!(
                "`git handoff show {id}` shows what its branch and checkout hold"
            ))
            .into());
    };
    Ok((entry, handoff))
}

/// Claim applying `id` ([`local::claim_apply`]), or say who holds it.
fn claim(repo: &Repo, id: &str) -> Result<local::ApplyClaim> {
    let workdir = repo
        .workdir()
        .context("applying needs a working tree")?
        .to_path_buf();
    match local::claim_apply(repo, id, &ApplyJournal::begun(workdir))? {
        Ok(claim) => Ok(claim),
        Err(there) if there.running() => Err(Hint::new(format!(
            "the handoff of '{id}' is being applied right now (pid {}, in '{}')",
            there.pid,
            there.workdir.display()
        ))
        .hint("wait for it to finish")
        .into()),
        // Killed in another checkout (this one's were undone above).
        Err(there) => Err(Hint::new(format!(
            "an apply of '{id}' in '{}' was interrupted and is not undone yet",
            there.workdir.display()
        ))
        .hint("`git worker prune` undoes it (or an apply in that checkout)")
        .into()),
    }
}
