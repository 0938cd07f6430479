//! Objects: blobs, trees and commits read and written in-process, and the
//! commit graph (ancestry, merge bases).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::{Oid, Repo, clean};

impl Repo {
    pub fn write_blob(&self, data: &[u8]) -> Result<Oid> {
        self.inner
            .blob(data)
            .map_err(clean)
            .context("failed to write blob")
    }

    /// Write a tree from named entries (blobs are written first).
    pub fn write_tree(&self, entries: &BTreeMap<String, TreeEntry>) -> Result<Oid> {
        let mut builder = self.inner.treebuilder(None).map_err(clean)?;
        for (name, entry) in entries {
            let (oid, mode) = match entry {
                TreeEntry::Blob(data) => (self.write_blob(data)?, 0o100644),
                TreeEntry::Tree(oid) => (*oid, 0o040000),
            };
            builder.insert(name, oid, mode).map_err(clean)?;
        }
        builder
            .write()
            .map_err(clean)
            .context("failed to write tree")
    }

    /// The content of the blob at `path` (`a/b/c`) in `tree`, if there is one.
    pub fn tree_blob(&self, tree: Oid, path: &str) -> Result<Option<Vec<u8>>> {
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(err) if err.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(clean(err)),
        };
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self.inner.find_blob(entry.id()).map_err(clean)?;
        Ok(Some(blob.content().to_vec()))
    }

    /// Every blob under `tree`, by path (`a/b/c`), with its id.
    pub fn blobs_under(&self, tree: Oid) -> Result<BTreeMap<String, Oid>> {
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        let mut out = BTreeMap::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob)
                && let Ok(name) = entry.name()
            {
                out.insert(format!("{dir}{name}"), entry.id());
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(clean)?;
        Ok(out)
    }

    /// The content of blob `oid`.
    pub fn blob(&self, oid: Oid) -> Result<Vec<u8>> {
        Ok(self.inner.find_blob(oid).map_err(clean)?.content().to_vec())
    }

    /// `tree` (or the empty tree) with the blob at `path` (`a/b/c`, parent
    /// trees made as needed) set to `data`, and the blobs at `remove` gone.
    pub fn tree_with_blob(
        &self,
        tree: Option<Oid>,
        path: &str,
        data: &[u8],
        remove: &[&str],
    ) -> Result<Oid> {
        let blob = self.write_blob(data)?;
        let baseline = match tree {
            Some(oid) => self.inner.find_tree(oid).map_err(clean)?,
            None => {
                let empty = self.inner.treebuilder(None).map_err(clean)?.write();
                self.inner.find_tree(empty.map_err(clean)?).map_err(clean)?
            }
        };
        let mut update = git2::build::TreeUpdateBuilder::new();
        for old in remove {
            update.remove(*old);
        }
        update.upsert(path, blob, git2::FileMode::Blob);
        update
            .create_updated(&self.inner, &baseline)
            .map_err(clean)
            .context("failed to write tree")
    }

    /// The blobs at the top level of a tree, and the ids of its subtrees.
    pub fn read_tree(&self, tree: Oid) -> Result<TreeContents> {
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        let mut contents = TreeContents::default();
        for entry in tree.iter() {
            let Ok(name) = entry.name() else { continue };
            match entry.kind() {
                Some(git2::ObjectType::Blob) => {
                    let blob = self.inner.find_blob(entry.id()).map_err(clean)?;
                    contents
                        .blobs
                        .insert(name.to_string(), blob.content().to_vec());
                }
                Some(git2::ObjectType::Tree) => {
                    contents.trees.insert(name.to_string(), entry.id());
                }
                _ => {}
            }
        }
        Ok(contents)
    }

    /// Create a commit object (no ref is updated).
    pub fn create_commit(&self, tree: Oid, parents: &[Oid], message: &str) -> Result<Oid> {
        let (signature, tree, parents) = self.commit_parts(tree, parents)?;
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        self.inner
            .commit(None, &signature, &signature, message, &tree, &parent_refs)
            .map_err(clean)
            .context("failed to write commit")
    }

    /// What a new commit is made of: this identity, `tree` and `parents`, looked up.
    pub(super) fn commit_parts(&self, tree: Oid, parents: &[Oid]) -> Result<CommitParts<'_>> {
        let signature = self.signature()?;
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        let parents = parents
            .iter()
            .map(|oid| self.inner.find_commit(*oid).map_err(clean))
            .collect::<Result<Vec<_>>>()?;
        Ok((signature, tree, parents))
    }

    pub fn commit_info(&self, oid: Oid) -> Result<CommitInfo> {
        let commit = self
            .inner
            .find_commit(oid)
            .map_err(clean)
            .with_context(|| format!("{oid} is not a commit"))?;
        Ok(CommitInfo {
            id: oid,
            tree: commit.tree_id(),
            parents: commit.parent_ids().collect(),
            message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            time: commit.time().seconds(),
            author: String::from_utf8_lossy(commit.author().name_bytes()).into_owned(),
        })
    }

    /// The tree of a commit.
    pub fn commit_tree(&self, commit: Oid) -> Result<Oid> {
        Ok(self.commit_info(commit)?.tree)
    }

    /// The commit HEAD points to, or `None` on an unborn branch.
    pub fn head_commit(&self) -> Result<Option<Oid>> {
        match self.inner.head() {
            Ok(head) => Ok(head.peel_to_commit().ok().map(|c| c.id())),
            Err(err)
                if matches!(
                    err.code(),
                    git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(clean(err)).context("cannot read HEAD"),
        }
    }

    /// Number of commits reachable from `tip` and not from `base`.
    pub fn ahead(&self, tip: Oid, base: Oid) -> Result<usize> {
        if tip == base {
            return Ok(0);
        }
        let (ahead, _) = self.inner.graph_ahead_behind(tip, base).map_err(clean)?;
        Ok(ahead)
    }

    /// Whether `ancestor` is reachable from `tip` (or equal to it).
    pub fn is_ancestor(&self, ancestor: Oid, tip: Oid) -> Result<bool> {
        Ok(ancestor == tip
            || self
                .inner
                .graph_descendant_of(tip, ancestor)
                .map_err(clean)?)
    }

    /// A common ancestor of `a` and `b`, if they share history.
    pub fn merge_base(&self, a: Oid, b: Oid) -> Result<Option<Oid>> {
        match self.inner.merge_base(a, b) {
            Ok(base) => Ok(Some(base)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(clean(err)),
        }
    }

    /// Whether commit `commit` has `path`.
    pub fn commit_has_path(&self, commit: Oid, path: &[u8]) -> Result<bool> {
        let tree = self
            .inner
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(clean)?;
        Ok(tree.get_path(&crate::policy::to_path(path)).is_ok())
    }

    /// The paths among `paths` whose entries (id and mode, or absence)
    /// differ between trees `a` and `b`.
    pub fn differing_paths(&self, a: Oid, b: Oid, paths: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let a = self.inner.find_tree(a).map_err(clean)?;
        let b = self.inner.find_tree(b).map_err(clean)?;
        let entry = |tree: &git2::Tree<'_>, path: &[u8]| {
            tree.get_path(&crate::policy::to_path(path))
                .ok()
                .map(|e| (e.id(), e.filemode()))
        };
        Ok(paths
            .iter()
            .filter(|path| entry(&a, path) != entry(&b, path))
            .cloned()
            .collect())
    }
}

/// One entry of a tree to write.
pub enum TreeEntry {
    Blob(Vec<u8>),
    Tree(Oid),
}

/// The top level of a tree: blobs by name with their content, subtrees by name.
#[derive(Debug, Default)]
pub struct TreeContents {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub trees: BTreeMap<String, Oid>,
}

/// What the registry needs to know about one commit.
pub struct CommitInfo {
    pub id: Oid,
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub message: String,
    pub time: i64,
    pub author: String,
}

impl Repo {
    /// The target of the symlink at `path` in `tree`, if that is a symlink.
    pub fn tree_link(&self, tree: Oid, path: &[u8]) -> Option<Vec<u8>> {
        let tree = self.inner.find_tree(tree).ok()?;
        let entry = tree.get_path(&crate::policy::to_path(path)).ok()?;
        if entry.filemode() != 0o120000 {
            return None;
        }
        Some(self.inner.find_blob(entry.id()).ok()?.content().to_vec())
    }

    /// The symlinks of `tree`, for judging a change to it.
    pub fn links_of(&self, tree: Oid) -> TreeLinks<'_> {
        TreeLinks { repo: self, tree }
    }

    /// Whether the repository folds case (`core.ignorecase`).
    pub fn folds_case(&self) -> Result<bool> {
        Ok(self.config_bool("core.ignorecase")?.unwrap_or(false))
    }
}

/// The symlinks of one tree (see [`crate::policy::Links`]).
pub struct TreeLinks<'a> {
    repo: &'a Repo,
    tree: Oid,
}

impl crate::policy::Links for TreeLinks<'_> {
    fn target(&self, path: &[u8]) -> Option<Vec<u8>> {
        self.repo.tree_link(self.tree, path)
    }
}

/// The largest object taken from another repository (a sandboxed
/// worker's), and the most taken at once: what a compressed "bomb" (a
/// blob of gigabytes of zeros in a few kilobytes) cannot get past.
/// GitHub refuses files over 100 MB too.
pub const MAX_FOREIGN_OBJECT: usize = 100 << 20;
pub const MAX_FOREIGN_TOTAL: usize = 1 << 30;

impl Repo {
    /// Whether this repository has object `oid`.
    pub fn has_object(&self, oid: Oid) -> bool {
        self.inner.odb().is_ok_and(|odb| odb.exists(oid))
    }

    /// Copy into this repository every object reachable from `tips` in
    /// `from` (a repository that is not ours) that this one lacks. They are
    /// read in-process (nothing of `from`'s config, hooks or attributes
    /// runs), packed, and indexed here by `git index-pack --strict`, which
    /// hashes every object again and checks it as `transfer.fsckObjects`
    /// does: an object whose content does not hash to its id (swapped on
    /// disk) or a malformed one (a tree naming `.git`, say) is an error.
    /// Objects this repository has are not descended into (it has what
    /// they reach). Objects over [`MAX_FOREIGN_OBJECT`], or more than
    /// [`MAX_FOREIGN_TOTAL`] at once, are refused before any is read.
    /// Returns how many were copied.
    pub fn copy_objects(&self, from: &Repo, tips: &[Oid]) -> Result<usize> {
        let wanted = self.lacking(from, tips, (MAX_FOREIGN_OBJECT, MAX_FOREIGN_TOTAL))?;
        if wanted.is_empty() {
            return Ok(0);
        }
        let mut builder = from.inner.packbuilder().map_err(clean)?;
        for oid in &wanted {
            builder.insert_object(*oid, None).map_err(clean)?;
        }
        let mut pack = git2::Buf::new();
        builder.write_buf(&mut pack).map_err(clean)?;
        let indexed = self
            .git(["index-pack", "--strict", "--stdin"])
            .stdin(pack.to_vec())
            .output()?;
        if indexed.status != 0 {
            anyhow::bail!(
                "its objects do not pass git's checks: {}",
                indexed.stderr.trim()
            );
        }
        if let Some(oid) = wanted.iter().find(|oid| !self.has_object(**oid)) {
            anyhow::bail!("object {oid} does not hash to its id (its content is another's)");
        }
        Ok(wanted.len())
    }

    /// The objects reachable from `tips` in `from` that this repository
    /// lacks, read (and parsed) in `from`.
    fn lacking(
        &self,
        from: &Repo,
        tips: &[Oid],
        (most, most_total): (usize, usize),
    ) -> Result<Vec<Oid>> {
        let source = from.inner.odb().map_err(clean)?;
        let target = self.inner.odb().map_err(clean)?;
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<Oid> = tips.to_vec();
        let mut wanted = Vec::new();
        let mut total = 0;
        while let Some(oid) = stack.pop() {
            if !seen.insert(oid) || target.exists(oid) {
                continue;
            }
            let (size, kind) = source
                .read_header(oid)
                .map_err(clean)
                .with_context(|| format!("cannot read object {oid}"))?;
            total += size;
            if size > most || total > most_total {
                anyhow::bail!(
                    "object {oid} is {} bytes ({total} in all): more than is taken from another repository ({most} an object, {most_total} at once)",
                    size,
                );
            }
            wanted.push(oid);
            match kind {
                git2::ObjectType::Commit => {
                    let commit = from.inner.find_commit(oid).map_err(clean)?;
                    stack.push(commit.tree_id());
                    stack.extend(commit.parent_ids());
                }
                git2::ObjectType::Tree => {
                    let tree = from.inner.find_tree(oid).map_err(clean)?;
                    for entry in tree.iter() {
                        // Gitlinks name commits of another repository.
                        if entry.kind() != Some(git2::ObjectType::Commit) {
                            stack.push(entry.id());
                        }
                    }
                }
                git2::ObjectType::Tag => {
                    let tag = from.inner.find_tag(oid).map_err(clean)?;
                    stack.push(tag.target_id());
                }
                _ => {}
            }
        }
        Ok(wanted)
    }
}

impl Repo {
    /// Every gitlink (submodule) path of `tree`; none, without a walk, when
    /// it has no `.gitmodules`.
    pub fn gitlink_paths(&self, tree: Oid) -> Result<Vec<Vec<u8>>> {
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        if tree.get_name(".gitmodules").is_none() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.filemode() == 0o160000 {
                let mut path = dir.as_bytes().to_vec();
                path.extend_from_slice(entry.name_bytes());
                out.push(path);
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(clean)?;
        Ok(out)
    }

    /// The submodule commits that `tree` names at `paths` (its gitlinks
    /// there) and that the submodule checked out under `checkout` lacks, or
    /// all of them when it is not checked out there: (path, commit).
    /// In-process; nothing of the submodule's config runs.
    pub fn gitlinks_missing_in(
        &self,
        tree: Oid,
        paths: &[Vec<u8>],
        checkout: &std::path::Path,
    ) -> Result<Vec<(Vec<u8>, Oid)>> {
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        let mut out = Vec::new();
        for path in paths {
            let Ok(entry) = tree.get_path(&crate::policy::to_path(path)) else {
                continue;
            };
            if entry.filemode() != 0o160000 {
                continue;
            }
            let has = git2::Repository::open(checkout.join(crate::policy::to_path(path)))
                .ok()
                .is_some_and(|sub| sub.find_commit(entry.id()).is_ok());
            if !has {
                out.push((path.clone(), entry.id()));
            }
        }
        Ok(out)
    }
}

/// A new commit's author and committer, tree and parents.
pub(super) type CommitParts<'r> = (
    git2::Signature<'static>,
    git2::Tree<'r>,
    Vec<git2::Commit<'r>>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_over_the_limits_are_refused_before_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
        for path in [&ours, &theirs] {
            git2::Repository::init(path).unwrap();
        }
        let (ours, theirs) = (Repo::open(&ours).unwrap(), Repo::open(&theirs).unwrap());
        let small = theirs.write_blob(b"small").unwrap();
        let big = theirs.write_blob(&[0u8; 4096]).unwrap();
        assert_eq!(
            ours.lacking(&theirs, &[small], (100, 1000)).unwrap(),
            [small]
        );
        let err = ours.lacking(&theirs, &[big], (100, 1000)).unwrap_err();
        assert!(format!("{err:#}").contains("4096 bytes"), "{err:#}");
        assert!(ours.lacking(&theirs, &[small, big], (5000, 4000)).is_err());
        assert_eq!(ours.copy_objects(&theirs, &[small, big]).unwrap(), 2);
        assert!(ours.has_object(big));
    }
}
