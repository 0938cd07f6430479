//! Every interaction with git goes through this module: it is the only
//! place that builds a git command line or calls git2.
//!
//! Reads, object writes and compare-and-swap ref updates use git2 in-process:
//! typed, no output parsing, about a millisecond per registry event. Anything
//! that must behave exactly like the user's git (worktrees, branches, config
//! files, fetch, multi-ref transactions) runs the `git` CLI through [`Git`],
//! so hooks, credentials, parallel checkout and lock-file waits work as usual.
//!
//! One [`Repo`] type, its methods split by topic as gitoxide splits its
//! `Repository`: [`run`] (processes), `config`, `refs`, `object`, `diff`,
//! `patch`, `merge`, `worktree`, `lock`, and [`remote`].

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::exit::Hint;

mod config;
mod diff;
mod identity;
mod lock;
mod merge;
mod object;
mod patch;
mod refs;
pub mod remote;
pub mod run;
pub mod sign;
mod worktree;

pub use diff::{IndexLinks, PendingStaged};
pub use git2::Oid;
pub use identity::Committer;
pub use lock::MachineLock;
pub use merge::Replayed;
pub use object::{CommitInfo, TreeContents, TreeEntry, TreeLinks};
pub use refs::PendingRefs;
pub use remote::remote_failure;
pub use run::{Git, HOOK_ENV, Output, Running, git_program, inherited_git_env, version};
pub use worktree::worktree_name;

/// git2's `Display` appends `; class=...; code=...`: keep only the message.
pub fn clean(err: git2::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", err.message().trim_end_matches('.'))
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

/// Whether `name` is a valid full ref name (`refs/heads/...`).
pub fn valid_refname(name: &str) -> bool {
    git2::Reference::is_valid_name(name)
}

/// An open repository: git2 for reads and registry writes, the CLI for the rest.
pub struct Repo {
    inner: git2::Repository,
}

/// The result of a compare-and-swap ref update.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a lost race (Cas::Raced) changed nothing"]
pub enum Cas {
    Updated,
    /// Another writer changed the ref first (or holds its lock): re-read and retry.
    Raced,
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
