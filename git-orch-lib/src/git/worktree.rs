//! Worker checkouts: linked worktrees and clones of this repository, and
//! what is in them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{Git, Oid, Repo, clean};

impl Repo {
    /// Linked worktrees git knows about: admin name -> (path, branch ref).
    pub fn worktrees(&self) -> Result<BTreeMap<String, PathBuf>> {
        let mut out = BTreeMap::new();
        for name in self
            .inner
            .worktrees()
            .map_err(clean)?
            .iter()
            .flatten()
            .flatten()
        {
            if let Ok(worktree) = self.inner.find_worktree(name) {
                out.insert(name.to_string(), worktree.path().to_path_buf());
            }
        }
        Ok(out)
    }

    /// The admin name of the linked worktree of this repository at `path`
    /// (`<common>/worktrees/<name>`), when git's records agree both ways:
    /// `<path>/.git` points at the admin directory, and the admin
    /// directory's `gitdir` points back at `<path>/.git`. Either side alone
    /// can be rewritten by whoever works in the checkout, to make it look
    /// like another worker's. Only such a directory is ever removed as a
    /// worker's checkout.
    pub fn worktree_at(&self, path: &Path) -> Option<String> {
        let canonical = |p: &Path| std::fs::canonicalize(p).ok();
        let text = std::fs::read_to_string(path.join(".git")).ok()?;
        let gitdir = Path::new(text.strip_prefix("gitdir:")?.trim());
        let gitdir = if gitdir.is_absolute() {
            gitdir.to_path_buf()
        } else {
            path.join(gitdir)
        };
        let admin = canonical(&gitdir)?;
        if admin.parent()? != canonical(&self.common_dir().join("worktrees"))? {
            return None;
        }
        let back = std::fs::read_to_string(admin.join("gitdir")).ok()?;
        let back = Path::new(back.trim());
        let back = if back.is_absolute() {
            back.to_path_buf()
        } else {
            admin.join(back)
        };
        if canonical(&back)? != canonical(&path.join(".git"))? {
            return None;
        }
        Some(admin.file_name()?.to_str()?.to_string())
    }

    /// Whether `path` is a linked worktree of this repository (see
    /// [`Repo::worktree_at`]).
    pub fn owns_worktree(&self, path: &Path) -> bool {
        self.worktree_at(path).is_some()
    }

    /// Whether `path` is a clone made from this repository for a worker
    /// (`spawn --isolation clone`): it borrows this repository's objects
    /// (`.git/objects/info/alternates` names ours).
    pub fn owns_clone(&self, path: &Path) -> bool {
        let Ok(text) = std::fs::read_to_string(path.join(".git/objects/info/alternates")) else {
            return false;
        };
        let ours = std::fs::canonicalize(self.common_dir().join("objects")).ok();
        text.lines()
            .any(|line| std::fs::canonicalize(line.trim()).ok() == ours && ours.is_some())
    }

    /// A worker checkout of this repository: a linked worktree, or a clone.
    pub fn owns_checkout(&self, path: &Path) -> bool {
        self.owns_worktree(path) || self.owns_clone(path)
    }

    /// A clone of this repository for worker `branch` at `path`: objects
    /// borrowed (`--shared`), its own config, hooks and refs, and `branch`
    /// created at `base` and checked out.
    pub fn clone_for_worker(&self, path: &Path, branch: &str, base: &str) -> Result<()> {
        self.clone_shared(path, &["-b", branch, base])
    }

    /// A repository of its own at `path` (which must not exist) for a
    /// sandboxed worker: `branch` made at `base` and checked out (see
    /// [`Repo::borrowing_checkout`]).
    pub fn clone_for_sandbox(&self, path: &Path, branch: &str, base: &str) -> Result<()> {
        let base = Oid::from_str(base).context("bad base")?;
        self.borrowing_checkout(path, Some(branch), base)
    }

    /// `git clone --shared --no-checkout` of this repository into `path`,
    /// then `git checkout <checkout...>` there (parallel checkout).
    fn clone_shared(&self, path: &Path, checkout: &[&str]) -> Result<()> {
        // git copies every ref of the source; one created or deleted while
        // it reads them ("... has neither a valid OID nor a target") fails
        // the clone, and git removes what it made: try again.
        for attempt in 0.. {
            match self
                .git(["clone", "--quiet", "--shared", "--no-checkout", "--no-tags"])
                .arg(self.common_dir())
                .arg(path)
                .run()
            {
                Ok(()) => break,
                // (Not after Ctrl-C, which killed git too.)
                Err(_)
                    if attempt < 4 && !path.exists() && crate::interrupt::pending().is_none() =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("cannot clone into '{}'", path.display()));
                }
            }
        }
        check_out(path, checkout)
    }

    /// A checkout of `commit` at `path` (which must not exist), detached,
    /// for verification (see [`Repo::borrowing_checkout`]). What runs there
    /// cannot reach this repository through git.
    pub fn checkout_for_verification(&self, path: &Path, commit: Oid) -> Result<()> {
        self.borrowing_checkout(path, None, commit)
    }

    /// A new repository at `path` with `commit` checked out (on a new
    /// `branch`, or detached): no origin, no refs of ours, its own config
    /// and hooks, and this repository's objects borrowed through an
    /// alternates file (read-only to a sandbox that may write only `path`).
    /// Made in-process; the files are checked out from here (objects are
    /// looked up where they are, not first in the new, empty store), with
    /// parallel checkout.
    fn borrowing_checkout(&self, path: &Path, branch: Option<&str>, commit: Oid) -> Result<()> {
        git2::Repository::init(path)
            .map_err(clean)
            .with_context(|| format!("cannot make a repository at '{}'", path.display()))?;
        let objects = std::fs::canonicalize(self.common_dir().join("objects"))
            .context("cannot find this repository's objects")?;
        let alternates = path.join(".git/objects/info/alternates");
        crate::fs::write_atomically(&alternates, format!("{}\n", objects.display()).as_bytes())?;
        let new = git2::Repository::open(path).map_err(clean)?;
        match branch {
            Some(branch) => {
                let head = format!("refs/heads/{branch}");
                new.reference(&head, commit, false, "git-worker: spawn")
                    .and_then(|_| new.set_head(&head))
            }
            None => new.set_head_detached(commit),
        }
        .map_err(clean)
        .with_context(|| format!("cannot set HEAD in '{}'", path.display()))?;
        // Settings of ours that would tie the new index to this repository
        // (a split index's shared part, an fsmonitor, sparseness) are off.
        Git::new(path)
            .env("GIT_INDEX_FILE", path.join(".git/index"))
            .arg("--git-dir")
            .arg(self.common_dir())
            .arg("--work-tree")
            .arg(path)
            .args([
                "-c",
                "checkout.workers=0",
                "-c",
                "core.splitIndex=false",
                "-c",
                "core.fsmonitor=false",
                "-c",
                "core.untrackedCache=false",
                "-c",
                "core.sparseCheckout=false",
                "read-tree",
                "-u",
                "--reset",
            ])
            .arg(commit.to_string())
            .run()
            .with_context(|| format!("cannot check out {commit} in '{}'", path.display()))
    }

    /// Move the worker checkout at `path` (a linked worktree of this
    /// repository, or a clone borrowing its objects) from commit `from` to
    /// `to`: its index and files by `git read-tree -m -u` run with this
    /// repository's config (so nothing the checkout's own config names
    /// runs, and no hook), then its branch `refname` by compare-and-swap
    /// in-process. If the branch moved meanwhile, the files go back and
    /// this fails. The checkout is expected clean. `through`: the command
    /// line of a sandbox that may write only a sandboxed worker's clone, in
    /// which git writes its files, whatever the worker planted there.
    pub fn move_checkout(
        &self,
        path: &Path,
        refname: &str,
        from: Oid,
        to: Oid,
        through: &[std::ffi::OsString],
    ) -> Result<()> {
        let checkout = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open checkout '{}'", path.display()))?;
        let on_branch = checkout
            .find_reference("HEAD")
            .ok()
            .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_string));
        if on_branch.as_deref() != Some(refname) {
            bail!("'{}' is not on {refname}", path.display());
        }
        let index = checkout.path().join("index");
        let read_tree = |old: Oid, new: Oid| {
            let git = Git::new(path)
                .env("GIT_INDEX_FILE", &index)
                .arg("--git-dir")
                .arg(self.common_dir())
                .arg("--work-tree")
                .arg(path);
            git.through(through)
                .args([
                    "-c",
                    "core.fsmonitor=false",
                    "-c",
                    "core.hooksPath=/dev/null",
                    "read-tree",
                    "-m",
                    "-u",
                ])
                .args([old.to_string(), new.to_string()])
                .run()
                .with_context(|| format!("cannot move the files of '{}' to {new}", path.display()))
        };
        read_tree(from, to)?;
        let moved = checkout.reference_matching(refname, to, true, from, "git-worker: rebase");
        if let Err(err) = moved {
            read_tree(to, from)?;
            return Err(clean(err))
                .with_context(|| format!("{refname} moved in '{}' meanwhile", path.display()));
        }
        Ok(())
    }

    /// Make this (new) checkout sparse: `git sparse-checkout set --cone`
    /// with `dirs`, which removes the files outside them.
    pub fn sparse_checkout_cone(&self, dirs: &[String]) -> Result<()> {
        self.git(["sparse-checkout", "set", "--cone", "--"])
            .args(dirs)
            .run()
            .context("cannot make the checkout sparse")
    }

    /// The untracked files and directories of this checkout that its
    /// `.worktreeinclude` names and git ignores (the rule worktrunk and
    /// Claude Code follow: `.env`, `node_modules/`), a directory once when
    /// all of it is; empty without the file.
    pub fn included_ignored(&self) -> Result<Vec<PathBuf>> {
        let Some(top) = self.workdir() else {
            return Ok(Vec::new());
        };
        let include = top.join(".worktreeinclude");
        if !include.is_file() {
            return Ok(Vec::new());
        }
        let named = self
            .git(["ls-files", "-z", "--others", "--ignored", "--directory"])
            .arg("--exclude-from")
            .arg(&include)
            .read_bytes()?;
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .git(["check-ignore", "-z", "--stdin"])
            .stdin(named)
            .output()?;
        // 1: none of them is ignored.
        if out.status > 1 {
            anyhow::bail!("git check-ignore failed: {}", out.stderr.trim());
        }
        // (Read as text: a name that is not UTF-8 is not copied.)
        Ok(out
            .stdout
            .as_bytes()
            .split(|b| *b == 0)
            .filter(|path| !path.is_empty())
            .map(|path| crate::policy::to_path(path.strip_suffix(b"/").unwrap_or(path)))
            .collect())
    }

    /// `git worktree prune`, under the worktree lock.
    pub fn prune_worktrees(&self) -> Result<()> {
        let _lock = self.lock_machine()?;
        self.git(["worktree", "prune"]).run()
    }

    /// Whether the checkout at `path` has staged, unstaged or untracked (not
    /// ignored) changes, submodules aside. In-process, and it never takes
    /// the checkout's index lock (the worker's own git commands must not
    /// fail because someone looked). libgit2 judges "racily clean" files by
    /// the nanosecond where this machine's git judges by the second and
    /// re-hashes them: on a fresh 5,000-file checkout `git status` took
    /// 110 ms here, libgit2 25 ms.
    pub fn checkout_is_dirty(path: &Path) -> Result<bool> {
        let repo = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open checkout '{}'", path.display()))?;
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(false)
            .include_ignored(false)
            .exclude_submodules(true);
        let statuses = repo.statuses(Some(&mut options)).map_err(clean)?;
        if statuses.is_empty() {
            return Ok(false);
        }
        // Outside a sparse checkout's cone a file is missing, not deleted.
        let sparse = Repo::open(path)?.skip_worktree_paths()?;
        Ok(statuses.iter().any(|entry| {
            entry.status() != git2::Status::WT_DELETED || !sparse.contains(entry.path_bytes())
        }))
    }

    /// Unix time of the latest change in the checkout at `path`: the newest
    /// modification time among its changed and untracked files and its
    /// index (staging, commits). Only changed files are looked at, so this
    /// is as cheap as a status.
    pub fn last_change_in_checkout(path: &Path) -> Result<Option<i64>> {
        let repo = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open checkout '{}'", path.display()))?;
        let mtime = |file: &Path| -> Option<i64> {
            let modified = std::fs::symlink_metadata(file).ok()?.modified().ok()?;
            let secs = modified
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs();
            i64::try_from(secs).ok()
        };
        let mut newest = mtime(&repo.path().join("index"));
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true);
        let statuses = repo.statuses(Some(&mut options)).map_err(clean)?;
        for status in statuses.iter() {
            if let Ok(rel) = status.path() {
                let file = path.join(rel);
                // A deleted file's time is its directory's (the deletion).
                let time = mtime(&file).or_else(|| file.parent().and_then(mtime));
                newest = newest.max(time);
            }
        }
        Ok(newest)
    }
}

/// The linked worktree's admin name, from the `gitdir:` line of `<path>/.git`.
pub fn worktree_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path.join(".git")).ok()?;
    let gitdir = text.strip_prefix("gitdir:")?.trim();
    Path::new(gitdir).file_name()?.to_str().map(str::to_string)
}

impl Repo {
    /// `git worktree add` of `branch` at `path`, with parallel checkout
    /// (`checkout.workers=0`: one worker per core, several times faster on
    /// slow filesystems); the caller reads the status.
    pub fn add_worktree(&self, path: &Path, branch: &str) -> Result<super::Output> {
        self.git(["-c", "checkout.workers=0", "worktree", "add", "--quiet"])
            .arg(path)
            .arg(branch)
            .output()
    }

    /// `git worktree remove --force --force`: the checkout and its admin
    /// directory, locked or not; the caller reads the status.
    pub fn remove_worktree_forcefully(&self, path: &Path) -> Result<super::Output> {
        self.git(["worktree", "remove", "--force", "--force"])
            .arg(path)
            .output()
    }

    /// `git worktree prune`, for a caller that holds the machine lock.
    pub fn prune_worktrees_locked(&self) -> Result<()> {
        self.git(["worktree", "prune"]).run()
    }

    /// What `git worktree prune` would remove: its `Removing ...` lines.
    pub fn stale_worktree_records(&self) -> Result<Vec<String>> {
        let out = self
            .git(["worktree", "prune", "--dry-run", "--verbose"])
            .output()?;
        Ok(out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .filter(|l| l.starts_with("Removing "))
            .map(str::to_string)
            .collect())
    }

    /// Check out `branch` in this checkout.
    pub fn checkout_branch(&self, branch: &str) -> Result<()> {
        self.git(["checkout", "--quiet", branch]).run()
    }

    /// Create `branch` at `start` and check it out.
    pub fn checkout_new_branch(&self, branch: &str, start: &str) -> Result<()> {
        self.git(["checkout", "--quiet", "-b", branch, start]).run()
    }
}

/// `git checkout <args...>` in the new repository at `path`, quietly and
/// with git's parallel checkout.
fn check_out(path: &Path, args: &[&str]) -> Result<()> {
    Git::new(path)
        .args([
            "-c",
            "checkout.workers=0",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(["checkout", "--quiet"])
        .args(args)
        .run()
        .with_context(|| {
            format!(
                "cannot check out {} in '{}'",
                args.join(" "),
                path.display()
            )
        })
}
