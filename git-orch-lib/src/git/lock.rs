//! Locks among processes on this machine: flocks on directories, released
//! by the kernel however the process dies.

use anyhow::{Context as _, Result};

use super::Repo;

impl Repo {
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
}

/// Held while worktrees or machine-local state change; see [`Repo::lock_machine`].
pub struct MachineLock {
    _dir: std::fs::File,
}
