//! Merges predicted, and commits replayed, without touching the index or
//! any working tree.

use anyhow::{Context as _, Result, bail};

use super::{Oid, Repo};

/// What [`Repo::replay`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The new tip, and how many commits it carries (commits whose change
    /// is on the new base already are dropped, as `git rebase` drops them).
    Done { tip: Oid, commits: usize },
    /// Commit `commit` does not merge onto what came before it: `paths`
    /// conflict. Nothing was written but unreachable objects.
    Conflict { commit: Oid, paths: Vec<String> },
    /// The range holds merge commits, which are not replayed.
    Merges,
}

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

    /// The commits of `base..tip` replayed onto `onto`, oldest first, each
    /// merged in memory (`git merge-tree --write-tree --merge-base`, with
    /// the merge drivers of `.gitattributes`) and committed with its own
    /// author, date and message (`git commit-tree`; the committer is you).
    /// No ref, index or working tree changes, and no hook runs. Every
    /// object is this repository's own (a worker's clone must have had its
    /// work taken first). `trailer` (`Key: value`) replaces any trailer of
    /// that key in each message (`git interpret-trailers --no-divider`).
    /// The new objects go to this repository.
    pub fn replay(
        &self,
        onto: Oid,
        base: Oid,
        tip: Oid,
        trailer: Option<&str>,
    ) -> Result<Replayed> {
        let range = format!("{base}..{tip}");
        let merges = self
            .git(["rev-list", "--merges", "--max-count=1", &range])
            .read()?;
        if !merges.is_empty() {
            return Ok(Replayed::Merges);
        }
        let list = self.git(["rev-list", "--reverse", &range]).read()?;
        // The one identity rule (git/identity.rs), before anything is written.
        self.committer()?;
        let mut new = onto;
        let mut commits = 0;
        for line in list.lines() {
            let commit = Oid::from_str(line)
                .with_context(|| format!("bad commit id from git rev-list: {line}"))?;
            let out = self
                .git(["merge-tree", "--write-tree", "--name-only", "--no-messages"])
                .arg(format!("--merge-base={commit}^"))
                .args([new.to_string(), commit.to_string()])
                .output()?;
            let mut lines = out.stdout.lines();
            let tree = lines.next().unwrap_or_default();
            match out.status {
                0 => {}
                1 => {
                    return Ok(Replayed::Conflict {
                        commit,
                        paths: lines
                            .take_while(|l| !l.is_empty())
                            .map(str::to_string)
                            .collect(),
                    });
                }
                _ => bail!("git merge-tree failed: {}", out.stderr.trim()),
            }
            let tree = Oid::from_str(tree).context("git merge-tree printed no tree")?;
            if tree == self.commit_tree(new)? {
                // Its change is there already.
                continue;
            }
            new = self.recommit(commit, tree, new, trailer.as_slice())?;
            commits += 1;
        }
        Ok(Replayed::Done { tip: new, commits })
    }

    /// A commit of `tree` on `parent` with `commit`'s author, date and
    /// message, each of `trailers` (`Key: value`) replacing any trailer of
    /// its key (`git interpret-trailers --no-divider`: a `---` line in the
    /// message hides nothing); the committer is you.
    pub fn recommit(&self, commit: Oid, tree: Oid, parent: Oid, trailers: &[&str]) -> Result<Oid> {
        let committer = self.committer()?;
        // "name\0email\0date\0message", with the date in git's raw form.
        let meta = self
            .git([
                "log",
                "-1",
                "--date=raw",
                "--format=%an%x00%ae%x00%ad%x00%B",
            ])
            .arg(commit.to_string())
            .read_bytes()?;
        let mut fields = meta.splitn(4, |b| *b == 0);
        let mut field = || String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
        let (name, email, date, mut message) = (field(), field(), field(), field());
        if !trailers.is_empty() {
            let mut git = self.git([
                "interpret-trailers",
                "--no-divider",
                "--if-exists",
                "replace",
            ]);
            for trailer in trailers {
                git = git.args(["--trailer", trailer]);
            }
            message = git.stdin(message.into_bytes()).read()?;
            message.push('\n');
        }
        let made = self
            .git(["commit-tree", &tree.to_string(), "-p", &parent.to_string()])
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_NAME", &committer.name)
            .env("GIT_COMMITTER_EMAIL", &committer.email)
            .stdin(message.into_bytes())
            .read()?;
        Oid::from_str(&made).with_context(|| format!("bad commit id from git commit-tree: {made}"))
    }

    /// The commits of `from..to`, oldest first, each with its parent
    /// (the first; none for a root).
    pub fn commits_between(&self, from: Oid, to: Oid) -> Result<Vec<(Oid, Option<Oid>)>> {
        let list = self
            .git([
                "rev-list",
                "--reverse",
                "--parents",
                &format!("{from}..{to}"),
            ])
            .read()?;
        let mut out = Vec::new();
        for line in list.lines() {
            let mut ids = line.split_whitespace().map(Oid::from_str);
            let commit = ids.next().context("empty line from git rev-list")??;
            out.push((commit, ids.next().transpose()?));
        }
        Ok(out)
    }

    /// The distinct authors (`Name <email>`) of the commits of `from..to`,
    /// oldest first.
    pub fn authors_between(&self, from: Oid, to: Oid) -> Result<Vec<String>> {
        let list = self
            .git([
                "log",
                "--reverse",
                "--format=%an <%ae>",
                &format!("{from}..{to}"),
            ])
            .read()?;
        let mut out: Vec<String> = Vec::new();
        for author in list.lines() {
            if !out.iter().any(|a| a == author) {
                out.push(author.to_string());
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
