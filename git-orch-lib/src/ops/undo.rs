//! Undoing an apply: one rule ([`take_back`]) for the live rollback of a
//! failed `git handoff apply` and for the recovery of a killed one (its
//! commit goes by compare-and-swap, the handoff's paths and nothing else
//! return to HEAD as it was, and nothing of the user's is overwritten).

use anyhow::{Context as _, Result};

use crate::exit::Hint;
use crate::git::{Oid, Repo};
use crate::local::{self, ApplyJournal};
use crate::registry;

/// What taking an apply back did.
pub enum TakenBack {
    Done,
    /// HEAD is neither where the apply left it nor where it began: nothing
    /// was touched.
    HeadMoved,
    /// The branch moved between the check and the rewind.
    MovedDuringRollback(Oid),
}

/// The one rule for undoing an apply, live or after a crash: HEAD must be
/// on `branch`, at the apply's commit (`committed`) or where it began
/// (`head`: never committed, or a rollback killed after it moved the
/// branch back); the commit goes by compare-and-swap on the branch, then
/// `paths` (and nothing else) return to `head` in the index and files.
pub fn take_back(
    checkout: &Repo,
    branch: Option<&str>,
    head: Oid,
    committed: Option<Oid>,
    paths: &[Vec<u8>],
) -> Result<TakenBack> {
    let now = checkout.head_commit()?;
    let rewound = now == Some(head);
    if checkout.head_branch()?.as_deref() != branch || !(rewound || now == committed) {
        return Ok(TakenBack::HeadMoved);
    }
    if let Some(commit) = committed
        && !rewound
        && !checkout.rewind_head(branch, head, commit)?
    {
        return Ok(TakenBack::MovedDuringRollback(commit));
    }
    checkout.restore_paths(head, paths)?;
    Ok(TakenBack::Done)
}

/// Undo every `git handoff apply` in this checkout whose process was
/// killed (see [`undo_apply`]), saying what was done: `apply` calls it
/// before it starts, holding the checkout's lock ([`Repo::lock_checkout`]).
/// An apply of `id` still running elsewhere is an error, and so is a killed
/// one here for a dry run (which changes nothing). Killed applies in other
/// checkouts are left to `git worker prune`.
pub fn recover_applies(repo: &Repo, id: &str, dry_run: bool) -> Result<()> {
    let here = repo.git_dir().canonicalize().ok();
    for (other, journal) in local::apply_journals(repo)? {
        if journal.running() {
            if other == id {
                return Err(Hint::new(format!(
                    "the handoff of '{id}' is being applied right now (pid {})",
                    journal.pid
                ))
                .hint("wait for it to finish")
                .into());
            }
            continue;
        }
        let there = Repo::open(&journal.workdir)
            .ok()
            .and_then(|r| r.git_dir().canonicalize().ok());
        if there.is_some() && there != here {
            continue;
        }
        if dry_run {
            return Err(Hint::new(format!(
                "an apply of '{other}' was interrupted, and its changes may still be in '{}'",
                journal.workdir.display()
            ))
            .hint("`git worker prune`, or an apply without --dry-run, undoes it first")
            .into());
        }
        eprintln!("{}", undo_apply(repo, &other, &journal)?);
    }
    Ok(())
}

/// Finish a killed `git handoff apply` from its journal, and drop the
/// journal. Kept when its `applied` event made it into the log. Otherwise
/// rolled back the way apply itself rolls back: its commit goes (by
/// compare-and-swap on the branch) and the handoff's paths, and nothing
/// else, return to HEAD as it was before. Left alone, with the reason, when
/// HEAD moved or those paths were changed since: nothing of the user's is
/// overwritten. Returns what it did, for the user.
pub fn undo_apply(repo: &Repo, id: &str, journal: &ApplyJournal) -> Result<String> {
    let parse = |text: &str| Oid::from_str(text).ok();
    let (Some(head), Some(base), Some(handoff)) = (
        parse(&journal.head),
        parse(&journal.base),
        parse(&journal.handoff),
    ) else {
        local::end_apply(repo, id)?;
        return Ok(format!(
            "dropped the unreadable journal of an interrupted apply of '{id}'"
        ));
    };
    if apply_was_kept(repo, id, journal)? {
        local::end_apply(repo, id)?;
        return Ok(format!(
            "the interrupted apply of '{id}' had finished: it is kept"
        ));
    }
    let checkout = match Repo::open(&journal.workdir) {
        Ok(checkout) => checkout,
        Err(_) => {
            local::end_apply(repo, id)?;
            return Ok(format!(
                "the checkout of the interrupted apply of '{id}' ('{}') is gone: nothing to undo",
                journal.workdir.display()
            ));
        }
    };
    let result = registry::decode_handoff(repo, id, handoff)?.meta.tree;
    let result = Oid::from_str(&result).context("bad tree in the handoff")?;
    let paths: Vec<Vec<u8>> = repo
        .diff_trees(Some(repo.commit_tree(base)?), Some(result))?
        .into_iter()
        .map(|c| c.path)
        .collect();
    let now = checkout.head_commit()?;
    // The commit may be made and the journal not yet say so.
    let committed = match journal.committed.as_deref().and_then(parse) {
        Some(commit) => Some(commit),
        None => match now {
            Some(now) if now != head => {
                let info = checkout.commit_info(now)?;
                (info.parents == [head]
                    && info
                        .message
                        .contains(&format!("Handoff: {}", journal.handoff)))
                .then_some(now)
            }
            _ => None,
        },
    };
    let left = |why: String| -> Result<String> {
        local::end_apply(repo, id)?;
        Ok(format!(
            "warning: the interrupted apply of '{id}' was not rolled back: {why}\n\
             hint: its change is unverified; see it with `git -C {} diff {}`{}",
            journal.workdir.display(),
            abbrev(&journal.head),
            committed
                .filter(|c| Some(*c) == now)
                .map_or(String::new(), |c| format!(
                    ", undo its commit with `git revert {c}`"
                ))
        ))
    };
    // HEAD at the apply's commit, or where it began (never committed, or
    // a rollback killed after it moved the branch back).
    let rewound = now == Some(head);
    if checkout.head_branch()? != journal.branch || !(rewound || now == committed) {
        return left("HEAD moved since".to_string());
    }
    // What the apply left in the index and the files: its commit's tree, or
    // the index it wrote. Unknown (killed before it was written down), or
    // changed since in either: not ours to take back.
    let expected = match committed {
        Some(commit) => Some(checkout.commit_tree(commit)?),
        None => journal.applied.as_deref().and_then(parse),
    };
    let Some(expected) = expected else {
        return left("what it wrote is not known".to_string());
    };
    let Some(index) = checkout.index_tree()? else {
        return left("the index has unmerged entries".to_string());
    };
    let files = Repo::snapshot_tree(&journal.workdir)?;
    let mut edited = checkout.differing_paths(expected, index, &paths)?;
    edited.extend(checkout.differing_paths(expected, files, &paths)?);
    if !edited.is_empty() {
        edited.sort();
        edited.dedup();
        let names: Vec<String> = edited
            .iter()
            .map(|p| crate::policy::display_path(p))
            .collect();
        return left(format!(
            "its paths were changed since: {}",
            names.join(", ")
        ));
    }
    match take_back(
        &checkout,
        journal.branch.as_deref(),
        head,
        committed,
        &paths,
    )? {
        TakenBack::Done => {}
        TakenBack::HeadMoved => return left("HEAD moved since".to_string()),
        TakenBack::MovedDuringRollback(_) => {
            return left("HEAD moved during the rollback".to_string());
        }
    }
    local::end_apply(repo, id)?;
    Ok(format!(
        "rolled back the interrupted apply of '{id}' in '{}' ({} path(s))",
        journal.workdir.display(),
        paths.len()
    ))
}

/// Whether the apply `journal` describes recorded its `applied` event: in
/// the worker's log after where the apply began, live or archived (the
/// worker may have been removed since).
pub fn apply_was_kept(repo: &Repo, id: &str, journal: &ApplyJournal) -> Result<bool> {
    let before: std::collections::HashSet<Oid> = match Oid::from_str(&journal.log_tip) {
        Ok(tip) => registry::history(repo, tip)?
            .into_iter()
            .map(|l| l.commit)
            .collect(),
        Err(_) => return Ok(false),
    };
    let mut logs: Vec<Oid> = repo
        .refs_under(&format!("{}{id}/", registry::ARCHIVE))?
        .into_iter()
        .map(|(_, tip)| tip)
        .collect();
    logs.extend(repo.ref_target(&registry::live_ref(id))?);
    for tip in logs {
        let kept = registry::history(repo, tip)?.iter().any(|l| {
            l.event.kind == "applied"
                && !before.contains(&l.commit)
                && l.event.data.get("fingerprint").and_then(|f| f.as_str())
                    == Some(journal.fingerprint.as_str())
        });
        if kept {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The first 12 hex digits of an object id.
pub fn abbrev(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
