//! Waiting for the registry to change, without a busy loop.
//!
//! Ref updates are lock-file renames into `refs/...` (or a rewrite of
//! `packed-refs`), so a filesystem watch on the directories of the refs
//! being waited for wakes a waiter as soon as one moves. A slow fallback
//! re-check covers what a watch cannot see (a network filesystem, a
//! missed event): waiting costs nothing while nothing happens.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::Result;
use notify::{RecursiveMode, Watcher as _};

/// Re-check at least this often, whatever the watch says.
const FALLBACK: Duration = Duration::from_secs(2);

/// Watches the directories of some refs (and the repository's
/// `packed-refs`) for changes.
pub struct RefWatch {
    // Kept alive for as long as the watch is wanted.
    _watcher: Option<notify::RecommendedWatcher>,
    events: Receiver<()>,
}

impl RefWatch {
    /// Watch `ref_dirs` (ref name prefixes such as `refs/orch/notes/`) of the
    /// repository whose common git directory is `common_dir`. Missing
    /// directories are created (git does the same when it writes a ref
    /// there). Without a working watch this degrades to the fallback re-check.
    pub fn new(common_dir: &Path, ref_dirs: &[&str]) -> RefWatch {
        RefWatch::of(&[(common_dir, ref_dirs)])
    }

    /// [`RefWatch::new`] for several repositories at once (a coordinator's,
    /// and its sandboxed workers' clones, where their work arrives).
    pub fn of(repos: &[(&Path, &[&str])]) -> RefWatch {
        let (sender, events) = channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Only changes: reading the refs (as the waiter itself does)
            // raises access events, which must not wake it.
            if let Ok(event) = event
                && (event.kind.is_create() || event.kind.is_modify() || event.kind.is_remove())
            {
                let _ = sender.send(());
            }
        })
        .ok()
        .and_then(|mut watcher| {
            let mut dirs: Vec<PathBuf> = Vec::new();
            for (common_dir, ref_dirs) in repos {
                dirs.push(common_dir.to_path_buf());
                for prefix in *ref_dirs {
                    let dir = common_dir.join(prefix.trim_end_matches('/'));
                    let _ = std::fs::create_dir_all(&dir);
                    dirs.push(dir);
                }
            }
            for dir in &dirs {
                watcher.watch(dir, RecursiveMode::NonRecursive).ok()?;
            }
            Some(watcher)
        });
        RefWatch {
            _watcher: watcher,
            events,
        }
    }

    /// Block until something changed, the fallback interval passed, or
    /// `deadline` came. Returns `false` once the deadline has passed.
    pub fn wait(&self, deadline: Option<Instant>) -> bool {
        let now = Instant::now();
        let limit = match deadline {
            Some(deadline) if deadline <= now => return false,
            Some(deadline) => (deadline - now).min(FALLBACK),
            None => FALLBACK,
        };
        match self.events.recv_timeout(limit) {
            Ok(()) => {
                // Coalesce a burst (lock file, rename, reflog) into one wake-up.
                while self.events.try_recv().is_ok() {}
                true
            }
            Err(RecvTimeoutError::Timeout) => deadline.is_none_or(|d| Instant::now() < d),
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(limit);
                deadline.is_none_or(|d| Instant::now() < d)
            }
        }
    }
}

/// Parse a `--timeout` in seconds (fractions allowed).
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !(0.0..=1e9).contains(&seconds) {
        return Err(format!("'{text}' is not a number of seconds from 0 up"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Wait until `check` returns `Ok(Some(_))`, re-checking each time the
/// watched refs change; `Ok(None)` after `timeout`, or at once when a
/// termination signal is pending (see [`crate::interrupt`]).
pub fn until<T>(
    watch: &RefWatch,
    timeout: Option<Duration>,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Some(found) = check()? {
            return Ok(Some(found));
        }
        if crate::interrupt::pending().is_some() {
            return Ok(None);
        }
        if !watch.wait(deadline) {
            // One last look: it may have happened just now.
            return check();
        }
    }
}
