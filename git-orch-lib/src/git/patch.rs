//! Patches: made binary-safe by `git diff`, applied by `git apply`, and
//! the surgical index updates that commit or roll back exactly a handoff's
//! paths.

use anyhow::{Context as _, Result, bail};

use super::{Oid, Output, Repo, Running, clean};

impl Repo {
    /// `git diff --binary --full-index` between two trees: a patch that
    /// `git apply` takes byte for byte, binary files included.
    pub fn binary_patch(&self, from: Oid, to: Oid) -> Result<Vec<u8>> {
        self.git(["diff"])
            .args(PATCH_OPTIONS)
            .args([from.to_string(), to.to_string()])
            .read_bytes()
    }

    /// `git diff --stat --summary` between two trees, 80 columns.
    pub fn stat(&self, from: Oid, to: Oid) -> Result<String> {
        self.git([
            "diff",
            "--stat=80",
            "--summary",
            "--no-renames",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
        ])
        .args([from.to_string(), to.to_string()])
        .read()
    }

    /// The `--stat --summary` text and the binary patch between two trees,
    /// from one `git diff` pass (the stat block comes first, the patch
    /// starts at the first `diff --git` line).
    pub fn stat_and_patch(&self, from: Oid, to: Oid) -> Result<(String, Vec<u8>)> {
        let out = self
            .git(["diff", "--stat=80", "--summary", "--patch"])
            .args(PATCH_OPTIONS)
            .args([from.to_string(), to.to_string()])
            .read_bytes()?;
        let start = if out.starts_with(b"diff --git ") {
            Some(0)
        } else {
            out.windows(12)
                .position(|w| w == b"\ndiff --git ")
                .map(|i| i + 1)
        };
        let (stat, patch) = match start {
            Some(start) => out.split_at(start),
            None => (&out[..], &[][..]),
        };
        let stat = String::from_utf8_lossy(stat).trim_end().to_string();
        Ok((stat, patch.to_vec()))
    }

    /// What changes between two trees, as one id: `git patch-id
    /// --verbatim` of their diff without context lines. Equal ids mean the
    /// same lines removed and added in the same files, wherever they sit
    /// (a change that only moved is the same change); a merge that kept a
    /// line the change replaced, or joined two edits, is not.
    pub fn change_id(&self, from: Oid, to: Oid) -> Result<String> {
        let diff = self
            .git(["diff", "--unified=0"])
            .args(PATCH_OPTIONS)
            .args([from.to_string(), to.to_string()])
            .read_bytes()?;
        if diff.is_empty() {
            return Ok(String::new());
        }
        let id = self.git(["patch-id", "--verbatim"]).stdin(diff).read()?;
        Ok(id.split_whitespace().next().unwrap_or_default().to_string())
    }

    /// The tree `patch` makes when applied 3-way onto commit `onto` (merge
    /// drivers of `.gitattributes`, `union` among them, included), in a
    /// temporary index: this checkout's index and files are not touched.
    /// `None` when it does not apply.
    pub fn three_way_tree(&self, onto: Oid, patch: &[u8]) -> Result<Option<Oid>> {
        let (_scratch, index) = self.temporary_index(onto)?;
        let applied = self
            .git(["apply", "--cached", "--3way", "--whitespace=nowarn", "-"])
            .env("GIT_INDEX_FILE", &index)
            .stdin(patch.to_vec())
            .output()?;
        if applied.status != 0 {
            return Ok(None);
        }
        let tree = self
            .git(["write-tree"])
            .env("GIT_INDEX_FILE", &index)
            .read()?;
        Oid::from_str(&tree)
            .map(Some)
            .with_context(|| format!("bad tree id from git write-tree: {tree}"))
    }

    /// `git patch-id --stable` of a patch, started in the background.
    pub fn start_patch_id(&self, patch: &[u8]) -> Result<Option<Running>> {
        if patch.is_empty() {
            return Ok(None);
        }
        self.git(["patch-id", "--stable"])
            .stdin(patch.to_vec())
            .start()
            .map(Some)
    }

    /// `git apply --index` of `patch` onto this checkout (with `--3way`
    /// when asked, with `--check` to only try). Not an error when git
    /// refuses: the caller reads the status and git's messages.
    pub fn apply_patch(&self, patch: &[u8], three_way: bool, check: bool) -> Result<Output> {
        let mut git = self.git(["apply", "--index", "--whitespace=nowarn"]);
        if three_way {
            git = git.arg("--3way");
        }
        if check {
            git = git.arg("--check");
        }
        git.arg("-").stdin(patch.to_vec()).output()
    }

    /// Put `paths` back as they are in commit `to`, in the index and the
    /// working tree; paths `to` does not have are removed. Nothing else is
    /// touched, so a user's unrelated work survives a rollback. No pathspec
    /// matching (a thousand pathspecs against every index entry is slow):
    /// the paths' entries are removed (all stages, so conflicts go too),
    /// files `to` lacks are deleted, and `to`'s entries are put back by id
    /// and written out.
    pub fn restore_paths(&self, to: Oid, paths: &[Vec<u8>]) -> Result<()> {
        let tree = self
            .inner
            .find_commit(to)
            .and_then(|c| c.tree())
            .map_err(clean)?;
        let nul_joined = |list: &[&Vec<u8>]| -> Vec<u8> {
            list.iter()
                .flat_map(|p| p.iter().copied().chain([0]))
                .collect()
        };
        let mut kept = Vec::new();
        let mut info = Vec::new();
        let mut added = Vec::new();
        for path in paths {
            match tree.get_path(&crate::policy::to_path(path)) {
                Ok(entry) => {
                    info.extend_from_slice(
                        format!("{:o} {} 0\t", entry.filemode(), entry.id()).as_bytes(),
                    );
                    info.extend_from_slice(path);
                    info.push(0);
                    kept.push(path);
                }
                Err(_) => added.push(path),
            }
        }
        let all: Vec<&Vec<u8>> = paths.iter().collect();
        self.git(["update-index", "-z", "--force-remove", "--stdin"])
            .stdin(nul_joined(&all))
            .run()?;
        let top = self.workdir().context("no working tree")?;
        for path in added {
            let file = top.join(crate::policy::to_path(path));
            if file.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&file)
                    .with_context(|| format!("cannot remove '{}'", file.display()))?;
            }
            // Directories the patch created, now empty.
            let mut dir = file.parent();
            while let Some(d) = dir.filter(|d| *d != top) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        if !kept.is_empty() {
            self.git(["update-index", "-z", "--index-info"])
                .stdin(info)
                .run()?;
            self.git(["checkout-index", "--force", "-u", "-z", "--stdin"])
                .stdin(nul_joined(&kept))
                .run()?;
        }
        Ok(())
    }

    /// A commit of `paths` as the index has them on top of commit `head`,
    /// and nothing else: any other staged change stays staged, uncommitted.
    /// The tree is built in a temporary index (HEAD's tree, then the index's
    /// entries for `paths`, removals first so a file may become a
    /// directory). No ref moves: [`Repo::advance_head`] does.
    pub fn commit_paths(&self, message: &str, paths: &[Vec<u8>], head: Oid) -> Result<Oid> {
        let wanted: std::collections::HashSet<&[u8]> = paths.iter().map(Vec::as_slice).collect();
        let mut entries = Vec::new();
        let mut present = std::collections::HashSet::new();
        for record in self
            .git(["ls-files", "--stage", "-z"])
            .read_bytes()?
            .split(|b| *b == 0)
        {
            // "<mode> <id> <stage>\t<path>"
            let Some(tab) = record.iter().position(|b| *b == b'\t') else {
                continue;
            };
            let path = &record[tab + 1..];
            if wanted.contains(path) {
                present.insert(path.to_vec());
                entries.extend_from_slice(record);
                entries.push(0);
            }
        }
        let removed: Vec<u8> = paths
            .iter()
            .filter(|path| !present.contains(*path))
            .flat_map(|path| path.iter().copied().chain([0]))
            .collect();
        let (_scratch, index) = self.temporary_index(head)?;
        if !removed.is_empty() {
            self.git(["update-index", "--force-remove", "-z", "--stdin"])
                .env("GIT_INDEX_FILE", &index)
                .stdin(removed)
                .run()?;
        }
        if !entries.is_empty() {
            self.git(["update-index", "-z", "--index-info"])
                .env("GIT_INDEX_FILE", &index)
                .stdin(entries)
                .run()?;
        }
        let tree = self
            .git(["write-tree"])
            .env("GIT_INDEX_FILE", &index)
            .read()?;
        let tree = Oid::from_str(&tree)
            .with_context(|| format!("bad tree id from git write-tree: {tree}"))?;
        self.commit_tree_onto(tree, head, message)
    }

    /// A commit of `tree` with parent `parent` and `message` (`git
    /// commit-tree`; no ref moves), by the one identity rule
    /// (git/identity.rs): it fails as a registry write would.
    pub fn commit_tree_onto(&self, tree: Oid, parent: Oid, message: &str) -> Result<Oid> {
        let committer = self.committer()?;
        let commit = self
            .git(["commit-tree", &tree.to_string(), "-p", &parent.to_string()])
            .env("GIT_COMMITTER_NAME", &committer.name)
            .env("GIT_COMMITTER_EMAIL", &committer.email)
            .stdin(message.as_bytes().to_vec())
            .read()?;
        Oid::from_str(&commit)
            .with_context(|| format!("bad commit id from git commit-tree: {commit}"))
    }

    /// Move HEAD's branch (or a detached HEAD) from `head` to `commit`, by
    /// compare-and-swap: an error if it is not at `head` any more.
    pub fn advance_head(&self, commit: Oid, head: Oid) -> Result<()> {
        let branch = self.head_branch()?;
        let moved = {
            let mut git = self.git(["update-ref", "-m", "git-handoff: apply"]);
            git = match &branch {
                Some(refname) => git.arg(refname),
                None => git.args(["--no-deref", "HEAD"]),
            };
            git.args([commit.to_string(), head.to_string()])
                .output()?
                .status
                == 0
        };
        if !moved {
            bail!("HEAD moved while the commit was being made");
        }
        Ok(())
    }
}

/// How every patch is made: binary-safe, full ids, no rename detection
/// (a rename is judged and applied as a deletion and an addition), and fixed
/// prefixes and no relative paths whatever the user's diff config says.
const PATCH_OPTIONS: &[&str] = &[
    "--binary",
    "--full-index",
    "--no-renames",
    "--no-color",
    "--no-ext-diff",
    // A textconv driver (`*.gpg diff=gpg`) would put its output, say
    // decrypted text, into the patch instead of the file's bytes.
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-relative",
];
