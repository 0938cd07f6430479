//! Revisions and refs: resolving, listing, and compare-and-swap updates
//! (one ref in-process, several all-or-nothing through `git update-ref`).

use anyhow::{Context as _, Result, bail};

use super::{Cas, Oid, Repo, Running, clean, is_race};

impl Repo {
    /// The commit `rev` names, or `None` if it names nothing.
    pub fn resolve_commit(&self, rev: &str) -> Result<Option<Oid>> {
        let object = match self.inner.revparse_single(rev) {
            Ok(object) => object,
            Err(err)
                if matches!(
                    err.code(),
                    git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec
                ) =>
            {
                return Ok(None);
            }
            Err(err) if err.code() == git2::ErrorCode::Ambiguous => {
                bail!("revision '{rev}' is ambiguous")
            }
            Err(err) => return Err(clean(err)).with_context(|| format!("cannot resolve '{rev}'")),
        };
        match object.peel_to_commit() {
            Ok(commit) => Ok(Some(commit.id())),
            Err(_) => bail!("'{rev}' does not name a commit"),
        }
    }

    /// The object a ref points to directly, or `None` if the ref does not exist.
    pub fn ref_target(&self, name: &str) -> Result<Option<Oid>> {
        match self.inner.find_reference(name) {
            Ok(reference) => Ok(reference.target()),
            Err(err)
                if matches!(
                    err.code(),
                    git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(clean(err)).with_context(|| format!("cannot read ref '{name}'")),
        }
    }

    /// Where a symbolic ref points (`refs/remotes/origin/HEAD` -> `refs/remotes/origin/main`).
    pub fn symbolic_target(&self, name: &str) -> Result<Option<String>> {
        match self.inner.find_reference(name) {
            Ok(reference) => Ok(reference
                .symbolic_target()
                .ok()
                .flatten()
                .map(str::to_string)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(clean(err)).with_context(|| format!("cannot read ref '{name}'")),
        }
    }

    /// Every ref whose name starts with `prefix`, with the object it points to.
    pub fn refs_under(&self, prefix: &str) -> Result<Vec<(String, Oid)>> {
        self.refs_under_any(&[prefix])
    }

    /// Every ref under any of `prefixes` (each ending in `/`), sorted by name.
    /// One `git for-each-ref` for all of them: git reads loose refs with
    /// fewer system calls than libgit2's iterator (a third of the time for a
    /// thousand loose refs), and one process serves any number of refs.
    pub fn refs_under_any(&self, prefixes: &[&str]) -> Result<Vec<(String, Oid)>> {
        self.start_refs_under_any(prefixes)?.finish()
    }

    /// [`Repo::refs_under_any`], started in the background: the caller can
    /// do other work while git reads the refs.
    pub fn start_refs_under_any(&self, prefixes: &[&str]) -> Result<PendingRefs> {
        let running = self
            .git(["for-each-ref", "--format=%(objectname) %(refname)"])
            .args(prefixes)
            .start()?;
        Ok(PendingRefs { running })
    }

    /// Short names of local branches, remote-tracking branches and tags
    /// (refs under `exclude` left out).
    pub fn ref_short_names(&self, exclude: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for reference in self.inner.references().map_err(clean)? {
            let reference = reference.map_err(clean)?;
            if let Ok(name) = reference.name()
                && !name.starts_with(exclude)
                && let Ok(short) = reference.shorthand()
            {
                out.push(short.to_string());
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub fn branch_exists(&self, branch: &str) -> Result<bool> {
        Ok(self.ref_target(&format!("refs/heads/{branch}"))?.is_some())
    }

    /// Point `name` at `new` if it currently points at `expected` (`None`:
    /// must not exist). A lost race, or a lock held by a concurrent writer
    /// (libgit2 does not wait for locks, git does), is [`Cas::Raced`].
    pub fn cas_ref(&self, name: &str, new: Oid, expected: Option<Oid>, log: &str) -> Result<Cas> {
        let current = expected.unwrap_or(Oid::ZERO_SHA1);
        match self.inner.reference_matching(name, new, true, current, log) {
            Ok(_) => Ok(Cas::Updated),
            Err(err) if is_race(&err) => Ok(Cas::Raced),
            // Deleted since it was read (a worker removed meanwhile): the
            // caller reads it again and says so in its own words.
            Err(err) if expected.is_some() && err.code() == git2::ErrorCode::NotFound => {
                Ok(Cas::Raced)
            }
            Err(err) => Err(clean(err)).with_context(|| format!("cannot update ref '{name}'")),
        }
    }

    /// Delete `name` if it still points at `expected`.
    pub fn cas_delete(&self, name: &str, expected: Oid) -> Result<Cas> {
        let mut reference = match self.inner.find_reference(name) {
            Ok(reference) => reference,
            Err(err) if err.code() == git2::ErrorCode::NotFound => return Ok(Cas::Raced),
            Err(err) => return Err(clean(err)),
        };
        if reference.target() != Some(expected) {
            return Ok(Cas::Raced);
        }
        // git2's delete checks the value it read under the ref lock.
        match reference.delete() {
            Ok(()) => Ok(Cas::Updated),
            Err(err) if is_race(&err) => Ok(Cas::Raced),
            Err(err) => Err(clean(err)).with_context(|| format!("cannot delete ref '{name}'")),
        }
    }

    /// Apply several ref updates all-or-nothing (`git update-ref --stdin`
    /// transaction; git2's transactions are not atomic across refs).
    /// Each update is `(ref, new or None to delete, expected old or None for "must not exist")`.
    pub fn update_refs_atomically(
        &self,
        updates: &[(String, Option<Oid>, Option<Oid>)],
    ) -> Result<Cas> {
        let mut script = String::from("start\n");
        for (name, new, old) in updates {
            let old = old.unwrap_or(Oid::ZERO_SHA1);
            match new {
                Some(new) => script.push_str(&format!("update {name} {new} {old}\n")),
                None => script.push_str(&format!("delete {name} {old}\n")),
            }
        }
        script.push_str("prepare\ncommit\n");
        let out = self
            .git(["update-ref", "--stdin"])
            .stdin(script.into_bytes())
            .output()?;
        if out.status == 0 {
            return Ok(Cas::Updated);
        }
        if out.stderr.contains("but expected")
            || out.stderr.contains("unable to lock")
            || out.stderr.contains(".lock': File exists")
            || out.stderr.contains("reference already exists")
        {
            return Ok(Cas::Raced);
        }
        bail!("git update-ref failed: {}", out.stderr.trim())
    }

    /// Delete every ref under `prefix`, in one `git update-ref --stdin`.
    pub fn delete_refs_under(&self, prefix: &str) -> Result<()> {
        let script: String = self
            .refs_under(prefix)?
            .into_iter()
            .map(|(name, _)| format!("delete {name}\n"))
            .collect();
        if script.is_empty() {
            return Ok(());
        }
        self.git(["update-ref", "--stdin"])
            .stdin(script.into_bytes())
            .run()
    }

    /// The branch HEAD is on (`refs/heads/...`), or `None` when detached.
    pub fn head_branch(&self) -> Result<Option<String>> {
        self.symbolic_target("HEAD")
    }

    /// Move HEAD's branch (or a detached HEAD) from `from` back to `to`,
    /// only if it still points at `from`: index and files stay. `false` when
    /// it had moved.
    pub fn rewind_head(&self, branch: Option<&str>, to: Oid, from: Oid) -> Result<bool> {
        let mut git = self.git(["update-ref", "-m", "git-handoff: roll back"]);
        git = match branch {
            Some(refname) => git.arg(refname),
            None => git.args(["--no-deref", "HEAD"]),
        };
        let out = git.args([to.to_string(), from.to_string()]).output()?;
        Ok(out.status == 0)
    }
}

/// Refs being listed by a running `git for-each-ref`.
pub struct PendingRefs {
    running: Running,
}

impl PendingRefs {
    pub fn finish(self) -> Result<Vec<(String, Oid)>> {
        let out = self.running.read()?;
        let mut refs = Vec::new();
        for line in out.lines() {
            let Some((oid, name)) = line.split_once(' ') else {
                continue;
            };
            let oid = Oid::from_str(oid)
                .with_context(|| format!("bad object id in for-each-ref output: {line}"))?;
            refs.push((name.to_string(), oid));
        }
        refs.sort();
        Ok(refs)
    }
}

impl Repo {
    /// Create `refs/heads/<branch>` at `base`; an error if it exists.
    pub fn create_branch(&self, branch: &str, base: &str) -> Result<()> {
        self.git(["update-ref", "-m", "git-worker: spawn"])
            .arg(format!("refs/heads/{branch}"))
            .args([base, &Oid::ZERO_SHA1.to_string()])
            .run()
    }

    /// Point `name` at `target`, whatever it pointed at.
    pub fn set_ref(&self, name: &str, target: Oid) -> Result<()> {
        self.git(["update-ref", name, &target.to_string()]).run()
    }

    /// Delete ref `name`.
    pub fn delete_ref(&self, name: &str) -> Result<()> {
        self.git(["update-ref", "-d", name]).run()
    }

    /// Delete ref `name`, if there is one: not an error when there is none.
    pub fn delete_ref_if_any(&self, name: &str) -> Result<()> {
        self.git(["update-ref", "-d", name]).output().map(drop)
    }

    /// `git log --format='%h %s' <range>`: one line per commit.
    pub fn log_oneline(&self, range: &str) -> Result<String> {
        self.git(["log", "--format=%h %s", range]).read()
    }
}

impl Repo {
    /// [`Repo::refs_under_any`] in-process, for a repository that is not
    /// ours (a worker's clone): git's CLI would run with its config.
    pub fn refs_under_any_inprocess(&self, prefixes: &[&str]) -> Result<Vec<(String, Oid)>> {
        let mut out = Vec::new();
        for reference in self.inner.references().map_err(clean)? {
            let reference = reference.map_err(clean)?;
            if let (Ok(name), Some(target)) = (reference.name(), reference.target())
                && prefixes.iter().any(|p| name.starts_with(p))
            {
                out.push((name.to_string(), target));
            }
        }
        out.sort();
        Ok(out)
    }
}
