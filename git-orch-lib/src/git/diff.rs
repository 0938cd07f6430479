//! What changed: tree-to-tree, staged and working-tree diffs as the policy
//! judges them (no rename detection), and snapshots of a whole checkout.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::{Git, Oid, Repo, Running, clean};
use crate::policy::{ChangeKind, PathChange};

impl Repo {
    fn tree(&self, tree: Option<Oid>) -> Result<Option<git2::Tree<'_>>> {
        tree.map(|oid| self.inner.find_tree(oid).map_err(clean))
            .transpose()
    }

    fn diff_options() -> git2::DiffOptions {
        let mut options = git2::DiffOptions::new();
        // No rename detection: a rename is a deletion plus an addition, so
        // both of its paths are judged.
        options
            .include_typechange(true)
            .skip_binary_check(true)
            .ignore_submodules(false);
        options
    }

    /// Paths changed from tree `old` to tree `new` (`None`: the empty tree).
    pub fn diff_trees(&self, old: Option<Oid>, new: Option<Oid>) -> Result<Vec<PathChange>> {
        let (old, new) = (self.tree(old)?, self.tree(new)?);
        let diff = self
            .inner
            .diff_tree_to_tree(old.as_ref(), new.as_ref(), Some(&mut Self::diff_options()))
            .map_err(clean)?;
        self.changes(&diff)
    }

    /// Staged paths against HEAD (the empty tree on an unborn branch), from
    /// `git diff-index --cached --raw -z` run in the caller's environment,
    /// so inside a hook it reads the index git is committing
    /// (`GIT_INDEX_FILE`). git answers from its cache-tree without reading
    /// unchanged directories: several times faster than a libgit2 diff on a
    /// large index, and this runs on every commit of a worker.
    pub fn staged_changes(&self) -> Result<Vec<PathChange>> {
        self.start_staged_changes()?.finish(self)
    }

    /// [`Repo::staged_changes`], started in the background so the caller can
    /// read the contract meanwhile (the hook's latency is on every commit).
    pub fn start_staged_changes(&self) -> Result<PendingStaged> {
        let against = match self.head_commit()? {
            Some(head) => head.to_string(),
            None => self
                .inner
                .treebuilder(None)
                .and_then(|t| t.write())
                .map_err(clean)?
                .to_string(),
        };
        let running =
            Git::new(&std::env::current_dir().context("cannot read the current directory")?)
                .args([
                    "diff-index",
                    "--cached",
                    "--raw",
                    "--no-renames",
                    "--no-abbrev",
                    "-z",
                    &against,
                ])
                .inherit_repo_env()
                .start()?;
        Ok(PendingStaged { running })
    }

    /// Everything in this checkout against tree `old`: committed, staged,
    /// unstaged and untracked (not ignored) changes.
    pub fn diff_tree_to_workdir(&self, old: Option<Oid>) -> Result<Vec<PathChange>> {
        let old = self.tree(old)?;
        let mut options = Self::diff_options();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false);
        let diff = self
            .inner
            .diff_tree_to_workdir_with_index(old.as_ref(), Some(&mut options))
            .map_err(clean)?;
        let changes = self.changes(&diff)?;
        // A sparse checkout: libgit2 takes a file outside the cone
        // (skip-worktree, not on disk) for a deletion; git takes its index
        // entry for what the working tree has.
        let sparse = self.skip_worktree_paths()?;
        if sparse.is_empty() {
            return Ok(changes);
        }
        let mut out: Vec<PathChange> = changes
            .into_iter()
            .filter(|change| !sparse.contains(&change.path))
            .collect();
        let mut options = Self::diff_options();
        let staged = self
            .inner
            .diff_tree_to_index(old.as_ref(), None, Some(&mut options))
            .map_err(clean)?;
        out.extend(
            self.changes(&staged)?
                .into_iter()
                .filter(|change| sparse.contains(&change.path)),
        );
        Ok(out)
    }

    /// Paths of the index entries outside a sparse checkout's cone
    /// (skip-worktree) whose files are not in the working tree: git reads
    /// them from the index. In-process.
    pub fn skip_worktree_paths(&self) -> Result<std::collections::HashSet<Vec<u8>>> {
        const SKIP_WORKTREE: u16 = 1 << 14;
        let Some(top) = self.workdir() else {
            return Ok(Default::default());
        };
        let index = self.inner.index().map_err(clean)?;
        Ok(index
            .iter()
            .filter(|entry| entry.flags_extended & SKIP_WORKTREE != 0)
            .filter(|entry| {
                top.join(crate::policy::to_path(&entry.path))
                    .symlink_metadata()
                    .is_err()
            })
            .map(|entry| entry.path)
            .collect())
    }

    fn changes(&self, diff: &git2::Diff<'_>) -> Result<Vec<PathChange>> {
        let mut out = Vec::new();
        for delta in diff.deltas() {
            let (file, kind) = match delta.status() {
                git2::Delta::Added | git2::Delta::Untracked | git2::Delta::Copied => {
                    (delta.new_file(), ChangeKind::Added)
                }
                git2::Delta::Deleted => (delta.old_file(), ChangeKind::Deleted),
                git2::Delta::Typechange => (delta.new_file(), ChangeKind::TypeChanged),
                git2::Delta::Renamed => {
                    // Only with rename detection, which is off; judge both sides anyway.
                    if let Some(old) = delta.old_file().path_bytes() {
                        out.push(PathChange {
                            path: old.to_vec(),
                            kind: ChangeKind::Deleted,
                            symlink_target: None,
                            submodule: false,
                        });
                    }
                    (delta.new_file(), ChangeKind::Added)
                }
                _ => (delta.new_file(), ChangeKind::Modified),
            };
            let Some(path) = file.path_bytes() else {
                continue;
            };
            let mode = file.mode();
            out.push(path_change(
                path,
                kind,
                mode == git2::FileMode::Link,
                mode == git2::FileMode::Commit,
                || self.symlink_target(&file),
            )?);
        }
        Ok(out)
    }

    /// Where a symlink points: from its blob, or from the working tree when
    /// the diff did not hash it.
    fn symlink_target(&self, file: &git2::DiffFile<'_>) -> Result<Vec<u8>> {
        if !file.id().is_zero()
            && let Ok(blob) = self.inner.find_blob(file.id())
        {
            return Ok(blob.content().to_vec());
        }
        let workdir = self
            .workdir()
            .context("symlink in a repository without a working tree")?;
        let path = file.path().context("symlink without a path")?;
        let target = std::fs::read_link(workdir.join(path))
            .with_context(|| format!("cannot read symlink '{}'", path.display()))?;
        Ok(target.as_os_str().as_encoded_bytes().to_vec())
    }

    /// The tree of everything in the checkout at `path`: committed, staged,
    /// unstaged and untracked (not ignored) files, binary-safe. Built with
    /// `git add -A` into a temporary copy of the checkout's index, so the
    /// checkout, its index and its files are left exactly as they were.
    pub fn snapshot_tree(path: &Path) -> Result<Oid> {
        let index = Git::new(path)
            .args(["rev-parse", "--path-format=absolute", "--git-path", "index"])
            .read()?;
        let scratch = tempfile::Builder::new()
            .prefix("git-orch-index-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        let copy = scratch.path().join("index");
        match std::fs::copy(&index, &copy) {
            Ok(_) => {
                // The copy keeps the index's modification time: git re-reads
                // files changed in the same second as the index was written
                // ("racily clean") only when it can compare the two. A copy
                // with a newer time made git trust stale stat data and miss
                // a same-size edit.
                let modified = std::fs::metadata(&index)
                    .and_then(|m| m.modified())
                    .with_context(|| format!("cannot read the time of '{index}'"))?;
                std::fs::File::options()
                    .write(true)
                    .open(&copy)
                    .and_then(|f| f.set_modified(modified))
                    .context("cannot set the time of the index copy")?;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot copy the index '{index}'"));
            }
        }
        Git::new(path)
            .args(["add", "--all", "--", ":/"])
            .env("GIT_INDEX_FILE", &copy)
            .run()?;
        let tree = Git::new(path)
            .args(["write-tree"])
            .env("GIT_INDEX_FILE", &copy)
            .read()?;
        Oid::from_str(&tree).with_context(|| format!("bad tree id from git write-tree: {tree}"))
    }

    /// The tree of this checkout's index (`git write-tree`); `None` while it
    /// has unmerged entries.
    pub fn index_tree(&self) -> Result<Option<Oid>> {
        let out = self.git(["write-tree"]).output()?;
        if out.status != 0 {
            return Ok(None);
        }
        Ok(Oid::from_str(out.stdout.trim()).ok())
    }

    /// Index entries git is told not to look at in the working tree whose
    /// files may differ unseen: assume-unchanged ones, and skip-worktree
    /// ones whose file is there anyway (one outside a sparse checkout's
    /// cone, not on disk, hides nothing).
    pub fn hidden_index_entries(&self) -> Result<Vec<Vec<u8>>> {
        let out = self.git(["ls-files", "-v", "-z"]).read_bytes()?;
        let top = self.workdir().map(Path::to_path_buf);
        Ok(out
            .split(|b| *b == 0)
            .filter(|record| record.len() > 2)
            .filter(|record| {
                record[0].is_ascii_lowercase()
                    || (record[0] == b'S'
                        && top.as_ref().is_some_and(|top| {
                            top.join(crate::policy::to_path(&record[2..]))
                                .symlink_metadata()
                                .is_ok()
                        }))
            })
            .map(|record| record[2..].to_vec())
            .collect())
    }
}

/// A changed path as the policy judges it. The symlink target is read only
/// for a symlink on the new side; a deletion has no new side.
fn path_change(
    path: &[u8],
    kind: ChangeKind,
    symlink: bool,
    submodule: bool,
    target: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<PathChange> {
    let live = kind != ChangeKind::Deleted;
    Ok(PathChange {
        path: path.to_vec(),
        kind,
        symlink_target: if live && symlink {
            Some(target()?)
        } else {
            None
        },
        submodule: live && submodule,
    })
}

/// Staged paths being listed by a running `git diff-index`.
pub struct PendingStaged {
    running: Running,
}

impl PendingStaged {
    pub fn finish(self, repo: &Repo) -> Result<Vec<PathChange>> {
        let out = self.running.read_bytes()?;
        let mut changes = Vec::new();
        let mut fields = out.split(|b| *b == 0);
        while let Some(header) = fields.next() {
            if header.is_empty() {
                continue;
            }
            let path = fields.next().context("diff-index output ends early")?;
            let header = String::from_utf8_lossy(header);
            // ":<old mode> <new mode> <old id> <new id> <status>"
            let parts: Vec<&str> = header.trim_start_matches(':').split(' ').collect();
            let [_, new_mode, _, new_id, status] = parts[..] else {
                bail!("unexpected diff-index record: {header}");
            };
            let kind = match status.chars().next() {
                Some('A') => ChangeKind::Added,
                Some('D') => ChangeKind::Deleted,
                Some('T') => ChangeKind::TypeChanged,
                _ => ChangeKind::Modified,
            };
            changes.push(path_change(
                path,
                kind,
                new_mode == "120000",
                new_mode == "160000",
                || {
                    let blob = repo.inner.find_blob(Oid::from_str(new_id)?).map_err(clean);
                    Ok(blob
                        .context("cannot read a staged symlink")?
                        .content()
                        .to_vec())
                },
            )?);
        }
        Ok(changes)
    }
}

impl Repo {
    /// The symlinks of the index being committed (`GIT_INDEX_FILE` inside a
    /// hook, else this checkout's index), read only when one is asked for.
    pub fn staged_links(&self) -> IndexLinks<'_> {
        IndexLinks {
            repo: self,
            index: std::cell::OnceCell::new(),
        }
    }
}

/// The symlinks of an index (see [`crate::policy::Links`]).
pub struct IndexLinks<'a> {
    repo: &'a Repo,
    index: std::cell::OnceCell<Option<git2::Index>>,
}

impl crate::policy::Links for IndexLinks<'_> {
    fn target(&self, path: &[u8]) -> Option<Vec<u8>> {
        let index = self
            .index
            .get_or_init(|| {
                let file = std::env::var_os("GIT_INDEX_FILE")
                    .map(std::path::PathBuf::from)
                    .map(|f| {
                        if f.is_absolute() {
                            f
                        } else {
                            self.repo.workdir().unwrap_or(self.repo.git_dir()).join(f)
                        }
                    })
                    .unwrap_or_else(|| self.repo.git_dir().join("index"));
                git2::Index::open(&file).ok()
            })
            .as_ref()?;
        let entry = index.get_path(&crate::policy::to_path(path), 0)?;
        if entry.mode != 0o120000 {
            return None;
        }
        Some(self.repo.inner.find_blob(entry.id).ok()?.content().to_vec())
    }
}

impl Repo {
    /// A temporary index holding `tree` (a tree, or a commit's), for a
    /// process that must see it staged (`GIT_INDEX_FILE`), or a tree to be
    /// built from it; it goes with the returned directory.
    pub fn temporary_index(&self, tree: Oid) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
        let scratch = tempfile::Builder::new()
            .prefix("git-orch-index-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        let index = scratch.path().join("index");
        self.git(["read-tree", &tree.to_string()])
            .env("GIT_INDEX_FILE", &index)
            .run()?;
        Ok((scratch, index))
    }

    /// [`Repo::snapshot_tree`] of a checkout that is not ours (a worker's),
    /// in-process: libgit2 runs none of what that checkout's config and
    /// attributes name (no fsmonitor, no clean filters, no hooks), where
    /// `git add` there would. The index is read and changed in memory only;
    /// the tree's objects go to that repository's object store. Clean
    /// filters (git-lfs) are not applied, so such files are read as they
    /// are on disk.
    pub fn read_snapshot(path: &Path) -> Result<Oid> {
        let repo = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open checkout '{}'", path.display()))?;
        let mut index = repo.index().map_err(clean)?;
        // Outside a sparse checkout's cone, a file not on disk is its index
        // entry (update_all would take it for a deletion).
        let sparse = Repo::open(path)?.skip_worktree_paths()?;
        let kept: Vec<git2::IndexEntry> = index
            .iter()
            .filter(|entry| sparse.contains(&entry.path))
            .collect();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .map_err(clean)
            .with_context(|| format!("cannot read the files of '{}'", path.display()))?;
        index.update_all(["*"], None).map_err(clean)?;
        for entry in &kept {
            index.add(entry).map_err(clean)?;
        }
        index
            .write_tree()
            .map_err(clean)
            .with_context(|| format!("cannot write the tree of '{}'", path.display()))
    }
}
