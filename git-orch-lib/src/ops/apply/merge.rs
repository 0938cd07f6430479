//! A handoff merged 3-way onto HEAD, judged against what was reported.

use anyhow::Result;

use super::Plan;
use crate::git::{Oid, Repo};

/// A handoff merged 3-way onto HEAD: whether the merged change is the one
/// reported, and the workers whose landed handoffs it was merged with.
pub(super) struct Merge {
    pub(super) same: bool,
    pub(super) since: Vec<String>,
}

impl Merge {
    /// Judge `landed` (the tree the merge makes) against the handoff.
    pub(super) fn judge(repo: &Repo, plan: &Plan, landed: Oid) -> Result<Merge> {
        let reported = repo.change_id(
            repo.commit_tree(plan.base)?,
            Oid::from_str(&plan.handoff.meta.tree)?,
        )?;
        let merged = repo.change_id(repo.commit_tree(plan.head)?, landed)?;
        let since = repo.trailers_touching(plan.base, plan.head, "Worker", &plan.paths)?;
        Ok(Merge {
            same: reported == merged,
            since,
        })
    }

    /// Say it, loudly when the merged change is not the one reported.
    pub(super) fn tell(&self, id: &str) {
        let with = if self.since.is_empty() {
            "with what changed on HEAD since its base".to_string()
        } else {
            format!(
                "with what landed since its base on the same paths: {}",
                self.since
                    .iter()
                    .map(|w| format!("'{w}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        eprintln!(
            "the handoff of '{id}' does not apply cleanly onto HEAD; it is merged 3-way {with}"
        );
        if self.same {
            eprintln!("the merged change is the one reported (the same lines, moved)");
        } else {
            eprintln!(
                "warning: the merged change differs from the one reported (a merge driver such as `merge=union`, or edits joined): `git diff HEAD~ HEAD` after the apply shows what landed"
            );
        }
    }

    /// Whether the policy holds it back: approval required, the change
    /// approved is not the one that would land, and not accepted.
    pub(super) fn held_back(&self, plan: &Plan, accept: bool) -> bool {
        !self.same && plan.gate.require.needs_approval() && !accept
    }
}
