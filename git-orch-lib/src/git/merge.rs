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

    /// The values of trailer `key` in the commits of `from..to` that touch
    /// any of `paths` (newest first, each once): who landed what since.
    pub fn trailers_touching(
        &self,
        from: Oid,
        to: Oid,
        key: &str,
        paths: &[Vec<u8>],
    ) -> Result<Vec<String>> {
        let mut git = self
            .git(["--literal-pathspecs", "log", "--no-merges"])
            .arg(format!(
                "--format=%(trailers:key={key},valueonly,separator=%x00)"
            ))
            .arg(format!("{from}..{to}"))
            .arg("--");
        for path in paths {
            git = git.arg(crate::policy::to_path(path));
        }
        let mut out: Vec<String> = Vec::new();
        for value in git.read()?.split(['\0', '\n']) {
            let value = value.trim();
            if !value.is_empty() && !out.iter().any(|v| v == value) {
                out.push(value.to_string());
            }
        }
        Ok(out)
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
