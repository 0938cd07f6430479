//! Merges predicted without touching the index or the working tree.

use anyhow::{Context as _, Result, bail};

use super::{Oid, Repo};

impl Repo {
    /// The files a merge of commits `ours` and `theirs` would leave in
    /// conflict (`git merge-tree --write-tree`, which touches neither the
    /// index nor the working tree); empty when it merges cleanly.
    pub fn merge_conflicts(&self, ours: Oid, theirs: Oid) -> Result<Vec<String>> {
        let out = self
            .git(["merge-tree", "--write-tree", "--name-only", "--no-messages"])
            .args([ours.to_string(), theirs.to_string()])
            .output()?;
        match out.status {
            0 => Ok(Vec::new()),
            1 => Ok(out
                .stdout
                .lines()
                .skip(1)
                .take_while(|l| !l.is_empty())
                .map(str::to_string)
                .collect()),
            _ => bail!("git merge-tree failed: {}", out.stderr.trim()),
        }
    }

    /// The tree a merge of `ours` and `theirs` would make, or `None` when it
    /// would conflict (`git merge-tree --write-tree`).
    pub fn merge_tree(&self, ours: Oid, theirs: Oid) -> Result<Option<Oid>> {
        let out = self
            .git(["merge-tree", "--write-tree", "--no-messages"])
            .args([ours.to_string(), theirs.to_string()])
            .output()?;
        match out.status {
            0 => Ok(Some(
                Oid::from_str(out.stdout.trim()).context("git merge-tree printed no tree")?,
            )),
            1 => Ok(None),
            _ => bail!("git merge-tree failed: {}", out.stderr.trim()),
        }
    }

    /// Whether every commit of `tip` that `upstream` lacks has a
    /// patch-equivalent in `upstream` (`git cherry`): work that was rebased
    /// or cherry-picked in.
    pub fn all_picked(&self, upstream: Oid, tip: Oid) -> Result<bool> {
        let out = self
            .git(["cherry", &upstream.to_string(), &tip.to_string()])
            .read()?;
        Ok(out.lines().all(|line| line.starts_with('-')))
    }
}
