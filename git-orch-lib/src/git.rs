//! Every interaction with git goes through this module.
//!
//! Reads, object writes and compare-and-swap ref updates use git2 in-process:
//! typed, no output parsing, about a millisecond per registry event. Anything
//! that must behave exactly like the user's git (worktrees, branches, config
//! files, fetch, multi-ref transactions) runs the `git` CLI through [`Git`],
//! so hooks, credentials, parallel checkout and lock-file waits work as usual.
//! Keeping all of it here means every git operation can be audited in one place.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};

use crate::exit::Hint;
use crate::policy::{ChangeKind, PathChange};

pub use git2::Oid;

/// Environment variables git exports to hooks and subprocesses. They win over
/// `-C`, so they are removed when running git against another checkout.
const REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
];

/// What git exports while it runs a hook (on top of [`REPO_ENV`]): a
/// process started from a hook (an agent, say) must not inherit the
/// commit's identity, dates or editor.
pub const HOOK_ENV: &[&str] = &[
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_EDITOR",
    "GIT_REFLOG_ACTION",
    "GIT_QUARANTINE_PATH",
    "GIT_PUSH_OPTION_COUNT",
];

/// The variables to clear for a process that should act like one started
/// from the user's shell: the repository variables always, and what a hook
/// gets too when we run inside git (`GIT_INDEX_FILE` or `GIT_DIR` set).
pub fn inherited_git_env() -> Vec<&'static str> {
    let mut out = REPO_ENV.to_vec();
    if std::env::var_os("GIT_INDEX_FILE").is_some() || std::env::var_os("GIT_DIR").is_some() {
        out.extend(HOOK_ENV);
    }
    out
}

/// Why talking to a remote failed, from git's own message: what it was,
/// and what to do about it.
pub fn remote_failure(stderr: &str) -> (&'static str, &'static str) {
    const NETWORK: &[&str] = &[
        "Could not resolve host",
        "unable to access",
        "Connection refused",
        "unable to connect",
        "Connection timed out",
        "Network is unreachable",
        "No route to host",
        "the remote end hung up",
        "Operation timed out",
        "Temporary failure in name resolution",
    ];
    const AUTH: &[&str] = &[
        "Permission denied",
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "Host key verification failed",
        "403",
        "401",
    ];
    const MISSING: &[&str] = &[
        "does not appear to be a git repository",
        "Repository not found",
        "not found",
        "No such file or directory",
        "couldn't find remote ref",
    ];
    if AUTH.iter().any(|s| stderr.contains(s)) {
        (
            "access denied",
            "check your credentials or ssh key, as for `git fetch` there",
        )
    } else if NETWORK.iter().any(|s| stderr.contains(s)) {
        (
            "the network failed",
            "check the connection and the remote's URL (git remote -v); nothing was changed here",
        )
    } else if MISSING.iter().any(|s| stderr.contains(s)) {
        (
            "no such repository or ref there",
            "check the remote's URL (git remote -v) and that the hub was set up (git worker hub init)",
        )
    } else {
        ("git failed", "the message above is git's own")
    }
}

/// git2's `Display` appends `; class=...; code=...`: keep only the message.
pub fn clean(err: git2::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", err.message().trim_end_matches('.'))
}

/// The `git` executable, found once on PATH.
pub fn git_program() -> Result<&'static Path> {
    static GIT: OnceLock<Option<PathBuf>> = OnceLock::new();
    GIT.get_or_init(|| which::which("git").ok())
        .as_deref()
        .ok_or_else(|| {
            Hint::new("git is not installed or not on PATH")
                .hint("install git 2.38 or newer")
                .into()
        })
}

/// Process-wide libgit2 settings, applied once. libgit2 re-hashes every
/// object it reads to check its id; git does that only in fsck, and on a
/// hook's hot path it is a third of the time, so it is switched off here as
/// git has it. Objects are still decompressed and parsed, so corruption
/// still shows as an error.
fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
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
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-relative",
];

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

/// git's output as text, without the trailing newline.
fn text_of(stdout: Vec<u8>) -> String {
    String::from_utf8_lossy(&stdout)
        .trim_end_matches('\n')
        .to_string()
}

/// stdout of a finished git process, or an error carrying git's stderr.
fn stdout_or_error(display: &str, output: std::process::Output) -> Result<Vec<u8>> {
    if !output.status.success() {
        // Some commands (git commit with nothing to commit) explain on stdout.
        let said = if output.stderr.iter().all(u8::is_ascii_whitespace) {
            &output.stdout
        } else {
            &output.stderr
        };
        bail!("{display} failed: {}", String::from_utf8_lossy(said).trim());
    }
    Ok(output.stdout)
}

/// Whether `name` is a valid full ref name (`refs/heads/...`).
pub fn valid_refname(name: &str) -> bool {
    git2::Reference::is_valid_name(name)
}

/// An open repository: git2 for reads and registry writes, the CLI for the rest.
pub struct Repo {
    inner: git2::Repository,
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

/// The result of a compare-and-swap ref update.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a lost race (Cas::Raced) changed nothing"]
pub enum Cas {
    Updated,
    /// Another writer changed the ref first (or holds its lock): re-read and retry.
    Raced,
}

impl Repo {
    /// The repository of the current directory, honouring `GIT_DIR` and the
    /// other variables git exports to hooks, as git itself does.
    pub fn discover() -> Result<Repo> {
        configure_libgit2();
        match git2::Repository::open_from_env() {
            Ok(inner) => Ok(Repo { inner }),
            Err(err) => Err(open_error(err)),
        }
    }

    /// The repository at `path` exactly (no upward search).
    pub fn open(path: &Path) -> Result<Repo> {
        configure_libgit2();
        match git2::Repository::open(path) {
            Ok(inner) => Ok(Repo { inner }),
            Err(err) => {
                Err(open_error(err)
                    .context(format!("cannot open repository at '{}'", path.display())))
            }
        }
    }

    /// `.git` of the main worktree (shared by every linked worktree).
    pub fn common_dir(&self) -> &Path {
        self.inner.commondir()
    }

    /// The git directory of this checkout (`.git/worktrees/<name>` in a linked worktree).
    pub fn git_dir(&self) -> &Path {
        self.inner.path()
    }

    /// The top of this checkout's working tree, if any.
    pub fn workdir(&self) -> Option<&Path> {
        self.inner.workdir()
    }

    /// The working tree of the main worktree: the coordinator's checkout.
    pub fn main_workdir(&self) -> Option<PathBuf> {
        if self.inner.is_worktree() {
            let common = self.common_dir();
            // `<top>/.git` for a normal repository; anything else is bare.
            if common.file_name() == Some(OsStr::new(".git")) {
                return common.parent().map(Path::to_path_buf);
            }
            return None;
        }
        self.workdir().map(Path::to_path_buf)
    }

    pub fn is_bare(&self) -> bool {
        self.inner.is_bare()
    }

    /// A `git` command run in this checkout (its working tree, or its git dir when bare).
    pub fn git<I, S>(&self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let dir = self
            .workdir()
            .unwrap_or_else(|| self.git_dir())
            .to_path_buf();
        Git::new(&dir).args(args)
    }

    // ----- config -----

    fn config(&self) -> Result<git2::Config> {
        self.inner
            .config()
            .map_err(clean)
            .context("failed to read git config")
    }

    /// The last value of a config key, if set and valid UTF-8.
    pub fn config_string(&self, key: &str) -> Result<Option<String>> {
        match self.config()?.get_string(key) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => {
                Err(clean(err)).with_context(|| format!("invalid value for config '{key}'"))
            }
        }
    }

    /// Every value of a multi-valued config key, in order.
    pub fn config_multi(&self, key: &str) -> Result<Vec<String>> {
        let config = self.config()?;
        let mut values = Vec::new();
        let mut entries = config.multivar(key, None).map_err(clean)?;
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(clean)?;
            if let Ok(value) = entry.value() {
                values.push(value.to_string());
            }
        }
        Ok(values)
    }

    pub fn config_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.config()?.get_bool(key) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => {
                Err(clean(err)).with_context(|| format!("invalid boolean for config '{key}'"))
            }
        }
    }

    /// Every value of `key` from all config levels except the worktree's.
    pub fn config_values_outside_worktree(&self, key: &str) -> Result<Vec<String>> {
        let config = self.config()?;
        let mut values = Vec::new();
        let mut entries = config.multivar(key, None).map_err(clean)?;
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(clean)?;
            if entry.level() != git2::ConfigLevel::Worktree
                && let Ok(value) = entry.value()
            {
                values.push(value.to_string());
            }
        }
        Ok(values)
    }

    /// Set keys in the worktree-level config (`config.worktree`) of the
    /// linked worktree at `path`, in-process (`git config --worktree`).
    pub fn set_worktree_config(path: &Path, pairs: &[(&str, &str)]) -> Result<()> {
        let repo = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open checkout '{}'", path.display()))?;
        let config = repo.config().map_err(clean)?;
        let mut level = config
            .open_level(git2::ConfigLevel::Worktree)
            .map_err(clean)
            .context("the worktree has no config.worktree (is extensions.worktreeConfig on?)")?;
        for (key, value) in pairs {
            level
                .set_str(key, value)
                .map_err(clean)
                .with_context(|| format!("cannot set '{key}'"))?;
        }
        Ok(())
    }

    /// A key set in this worktree's own `config.worktree` (never the shared config).
    pub fn worktree_config_string(&self, key: &str) -> Result<Option<String>> {
        let config = self.config()?;
        match config.open_level(git2::ConfigLevel::Worktree) {
            Ok(level) => match level.get_string(key) {
                Ok(value) => Ok(Some(value)),
                Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
                Err(err) => Err(clean(err)),
            },
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(clean(err)),
        }
    }

    // ----- revisions and refs -----

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
    /// Short names of local branches, remote-tracking branches and tags.
    pub fn ref_short_names(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for reference in self.inner.references().map_err(clean)? {
            let reference = reference.map_err(clean)?;
            if let Ok(name) = reference.name()
                && !name.starts_with("refs/orch/")
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

    // ----- objects -----

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
        let signature = self.signature()?;
        let tree = self.inner.find_tree(tree).map_err(clean)?;
        let parents = parents
            .iter()
            .map(|oid| self.inner.find_commit(*oid).map_err(clean))
            .collect::<Result<Vec<_>>>()?;
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        self.inner
            .commit(None, &signature, &signature, message, &tree, &parent_refs)
            .map_err(clean)
            .context("failed to write commit")
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

    /// The identity registry commits are written with: git's environment
    /// variables, then `user.name`/`user.email`, then a neutral fallback.
    /// `Name <email>`: who is acting, as git would record it.
    pub fn identity(&self) -> Result<String> {
        let signature = self.signature()?;
        Ok(format!(
            "{} <{}>",
            signature.name().unwrap_or("unknown"),
            signature.email().unwrap_or("unknown")
        ))
    }

    fn signature(&self) -> Result<git2::Signature<'static>> {
        let pick = |env: &str, key: &str, fallback: &str| -> String {
            std::env::var(env)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| self.config_string(key).ok().flatten())
                .unwrap_or_else(|| fallback.to_string())
        };
        let name = pick("GIT_COMMITTER_NAME", "user.name", "git-worker");
        let email = pick("GIT_COMMITTER_EMAIL", "user.email", "git-worker@localhost");
        git2::Signature::now(&name, &email).map_err(clean)
    }

    // ----- changes -----

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
        self.changes(&diff)
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

    // ----- compare-and-swap -----

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

    // ----- working trees -----

    /// Serialize, among processes on this machine, changes to linked
    /// worktrees and to the machine-local state under `<common>/orch`
    /// (local facts, hook shims). git itself is not safe here: `git worktree
    /// add` reads every other worktree's admin files and dies on one that a
    /// concurrent add is still writing ("failed to read .../commondir"), and
    /// `git worktree prune` deletes another add's half-made admin directory.
    /// The lock is an flock on the git common directory: it needs no file of
    /// its own, and the kernel releases it when the process dies, however it
    /// dies. Never take it twice in one process: the second acquisition
    /// would wait forever.
    pub fn lock_machine(&self) -> Result<MachineLock> {
        let dir = std::fs::File::open(self.common_dir())
            .with_context(|| format!("cannot open '{}'", self.common_dir().display()))?;
        dir.lock()
            .with_context(|| format!("cannot lock '{}'", self.common_dir().display()))?;
        Ok(MachineLock { _dir: dir })
    }

    /// Serialize changes to this checkout's HEAD, index and files made by
    /// this tool (`git handoff apply`, for as long as it verifies): an
    /// flock on the top directory of its working tree (no file to create or
    /// leave behind; not the git directory, which [`Repo::lock_machine`]
    /// locks), released when the process dies. Says so on stderr when it
    /// has to wait.
    pub fn lock_checkout(&self) -> Result<MachineLock> {
        let path = self
            .workdir()
            .context("only a checkout with a working tree can be locked")?;
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open '{}'", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!("waiting for another apply in this checkout to finish...");
                file.lock()
                    .with_context(|| format!("cannot lock '{}'", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock '{}'", path.display()));
            }
        }
        Ok(MachineLock { _dir: file })
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
        Ok(!statuses.is_empty())
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

    /// Whether `path` is a linked worktree of this repository: its `.git`
    /// file points into `<common>/worktrees/`. Only such a directory is ever
    /// removed as a worker's checkout.
    pub fn owns_worktree(&self, path: &Path) -> bool {
        let Ok(text) = std::fs::read_to_string(path.join(".git")) else {
            return false;
        };
        let Some(gitdir) = text.strip_prefix("gitdir:").map(str::trim) else {
            return false;
        };
        let worktrees = self.common_dir().join("worktrees");
        let gitdir = Path::new(gitdir);
        gitdir.starts_with(&worktrees)
            || std::fs::canonicalize(gitdir)
                .ok()
                .zip(std::fs::canonicalize(&worktrees).ok())
                .is_some_and(|(g, w)| g.starts_with(w))
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
        Git::new(path)
            .args([
                "-c",
                "checkout.workers=0",
                "-c",
                "advice.detachedHead=false",
            ])
            .args(["checkout", "--quiet"])
            .args(checkout)
            .run()
            .with_context(|| {
                format!(
                    "cannot check out {} in '{}'",
                    checkout.join(" "),
                    path.display()
                )
            })
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

    /// Commit `paths` as the index has them on top of commit `head`, and
    /// nothing else: any other staged change stays staged, uncommitted. The
    /// tree is built in a temporary index (HEAD's tree, then the index's
    /// entries for `paths`, removals first so a file may become a directory),
    /// and HEAD's branch moves by compare-and-swap from `head`. Returns the
    /// new commit.
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
        let scratch = tempfile::Builder::new()
            .prefix("git-orch-commit-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        let index = scratch.path().join("index");
        self.git(["read-tree"])
            .arg(head.to_string())
            .env("GIT_INDEX_FILE", &index)
            .run()?;
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
        let commit = self
            .git(["commit-tree", &tree, "-p", &head.to_string()])
            .stdin(message.as_bytes().to_vec())
            .read()?;
        let commit = Oid::from_str(&commit)
            .with_context(|| format!("bad commit id from git commit-tree: {commit}"))?;
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
        Ok(commit)
    }

    /// Whether commit `commit` has `path`.
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

    /// The tree of this checkout's index (`git write-tree`); `None` while it
    /// has unmerged entries.
    pub fn index_tree(&self) -> Result<Option<Oid>> {
        let out = self.git(["write-tree"]).output()?;
        if out.status != 0 {
            return Ok(None);
        }
        Ok(Oid::from_str(out.stdout.trim()).ok())
    }

    pub fn commit_has_path(&self, commit: Oid, path: &[u8]) -> Result<bool> {
        let tree = self
            .inner
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(clean)?;
        Ok(tree.get_path(&crate::policy::to_path(path)).is_ok())
    }

    /// Index entries git is told not to look at in the working tree
    /// (assume-unchanged, skip-worktree): their files may differ unseen.
    pub fn hidden_index_entries(&self) -> Result<Vec<Vec<u8>>> {
        let out = self.git(["ls-files", "-v", "-z"]).read_bytes()?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|record| record.len() > 2)
            .filter(|record| record[0].is_ascii_lowercase() || record[0] == b'S')
            .map(|record| record[2..].to_vec())
            .collect())
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

    /// A common ancestor of `a` and `b`, if they share history.
    pub fn merge_base(&self, a: Oid, b: Oid) -> Result<Option<Oid>> {
        match self.inner.merge_base(a, b) {
            Ok(base) => Ok(Some(base)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(clean(err)),
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

    /// A clone of this repository at `path` (which must not exist) with
    /// `commit` checked out: its own config, hooks and refs (none of
    /// `refs/orch/`), objects borrowed through alternates. What runs there
    /// cannot move this repository's refs or change its config through git.
    pub fn clone_for_verification(&self, path: &Path, commit: Oid) -> Result<()> {
        self.clone_shared(path, &["--detach", &commit.to_string()])
    }

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

    /// `refStorage` other than files: libgit2 cannot read reftable.
    pub fn check_ref_storage(&self) -> Result<()> {
        if let Some(storage) = self.config_string("extensions.refStorage")?
            && storage != "files"
        {
            bail!("ref storage '{storage}' is not supported")
        }
        Ok(())
    }
}

fn is_race(err: &git2::Error) -> bool {
    matches!(
        err.code(),
        git2::ErrorCode::Modified | git2::ErrorCode::Locked | git2::ErrorCode::Exists
    )
}

fn open_error(err: git2::Error) -> anyhow::Error {
    if err.code() == git2::ErrorCode::NotFound {
        return Hint::new("not a git repository (or any of the parent directories)")
            .hint("run this inside a git repository, or create one with `git init`")
            .into();
    }
    if err.message().contains("refstorage") {
        return Hint::new(
            "this repository uses the reftable ref storage, which git-worker cannot read yet",
        )
        .hint("convert it with `git refs migrate --ref-format=files`")
        .into();
    }
    clean(err)
}

/// Held while worktrees or machine-local state change; see [`Repo::lock_machine`].
pub struct MachineLock {
    _dir: std::fs::File,
}

/// The output of a finished git process.
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `git` invocation, built up and then run with [`Git::read`], [`Git::run`] or [`Git::output`].
#[must_use]
pub struct Git {
    dir: PathBuf,
    args: Vec<OsString>,
    isolate: bool,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, OsString)>,
}

impl Git {
    /// git run in `dir`, with the repository variables of any enclosing git
    /// process (hooks) removed, so `dir` decides which repository it acts on.
    pub fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
            args: Vec::new(),
            isolate: true,
            stdin: None,
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Git {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn stdin(mut self, data: Vec<u8>) -> Git {
        self.stdin = Some(data);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Git {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Keep GIT_DIR and friends (for commands that must act on the caller's repository).
    pub fn inherit_repo_env(mut self) -> Git {
        self.isolate = false;
        self
    }

    fn display(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("git {}", args.join(" "))
    }

    /// Start git and return at once; [`Running::read`] waits for it.
    pub fn start(self) -> Result<Running> {
        let display = self.display();
        let handle = self
            .expression()?
            .start()
            .with_context(|| format!("failed to run {display}"))?;
        Ok(Running { handle, display })
    }

    /// Run, capturing stdout and stderr as bytes; a non-zero exit is not an error here.
    fn run_raw(self) -> Result<std::process::Output> {
        let display = self.display();
        self.expression()?
            .run()
            .with_context(|| format!("failed to run {display}"))
    }

    fn expression(&self) -> Result<duct::Expression> {
        let program = git_program()?;
        let mut expr = duct::cmd(program, &self.args)
            .dir(&self.dir)
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        if self.isolate {
            // Not the ones set explicitly: duct applies the earlier
            // modifier last, so a removal would undo them.
            for var in REPO_ENV
                .iter()
                .filter(|var| !self.env.iter().any(|(key, _)| key == OsStr::new(var)))
            {
                expr = expr.env_remove(var);
            }
        }
        for (key, value) in &self.env {
            expr = expr.env(key, value);
        }
        Ok(match &self.stdin {
            Some(data) => expr.stdin_bytes(data.clone()),
            None => expr.stdin_null(),
        })
    }

    /// Run and collect the output; a non-zero exit is not an error here.
    pub fn output(self) -> Result<Output> {
        let output = self.run_raw()?;
        Ok(Output {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Run and return stdout as bytes (for `-z` output and non-UTF-8 paths);
    /// on failure the error carries git's own stderr.
    pub fn read_bytes(self) -> Result<Vec<u8>> {
        let display = self.display();
        let output = self.run_raw()?;
        stdout_or_error(&display, output)
    }

    /// Run; on failure the error carries git's own stderr.
    pub fn read(self) -> Result<String> {
        Ok(text_of(self.read_bytes()?))
    }

    pub fn run(self) -> Result<()> {
        self.read().map(drop)
    }
}

/// A git process started with [`Git::start`].
pub struct Running {
    handle: duct::Handle,
    display: String,
}

impl Running {
    /// Wait for git; its stdout without the trailing newline, or an error
    /// carrying git's stderr.
    pub fn read(self) -> Result<String> {
        Ok(text_of(self.read_bytes()?))
    }

    /// Wait for git; its stdout as bytes, or an error carrying git's stderr.
    pub fn read_bytes(self) -> Result<Vec<u8>> {
        let output = self
            .handle
            .into_output()
            .with_context(|| format!("failed to run {}", self.display))?;
        stdout_or_error(&self.display, output)
    }
}

/// Write `data` to `path` atomically: a temporary file in the same directory, then rename.
/// Remove the directory tree at `path`, first making read-only directories
/// in it writable (build tools leave some, e.g. Go's module cache).
pub fn remove_dir_forcefully(path: &Path) -> Result<()> {
    fn writable(dir: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return;
        };
        if !meta.is_dir() {
            return;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                writable(&entry.path());
            }
        }
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => writable(path),
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove '{}'", path.display())),
    }
}

pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(OsStr::to_str).unwrap_or("file"),
        std::process::id()
    ));
    // Retried: a concurrent writer may remove the directory once it is empty.
    let mut file = loop {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
        match std::fs::File::create(&tmp) {
            Ok(file) => break file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot write '{}'", tmp.display()));
            }
        }
    };
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write '{}'", path.display()))
}

/// The installed git's version as (major, minor, patch).
pub fn version() -> Result<(u32, u32, u32)> {
    let out = Git::new(Path::new(".")).arg("--version").read()?;
    parse_version(&out).with_context(|| format!("cannot parse git version from '{out}'"))
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text.split_whitespace().nth(2)?;
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_versions() {
        assert_eq!(parse_version("git version 2.47.3"), Some((2, 47, 3)));
        assert_eq!(
            parse_version("git version 2.39.5.windows.1"),
            Some((2, 39, 5))
        );
        assert_eq!(parse_version("git version 2.50.0-rc1"), Some((2, 50, 0)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
