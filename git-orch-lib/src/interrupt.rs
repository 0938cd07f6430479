//! Interruption and fault injection for multi-step commands.
//!
//! A transactional command calls [`guard`] before its first step and
//! [`checkpoint`] after every step. SIGINT, SIGTERM and SIGHUP are caught
//! while the guard lives, and the next checkpoint turns them into an
//! [`Interrupted`] error, so the command rolls back what it did instead of
//! dying half-way.
//!
//! For tests, and for anyone who wants to see the rollback work, three
//! environment variables inject a fault right after a named step (every
//! step of every multi-step command is in [`STEPS`]; `git worker` lists
//! them in its man page, docs/crash-safety.md says what each leaves):
//!
//! * `GIT_WORKER_FAIL_AFTER=<step>`: fail with an error;
//! * `GIT_WORKER_SIGNAL_AFTER=<step>`: send the process SIGTERM;
//! * `GIT_WORKER_KILL_AFTER=<step>`: send the process SIGKILL (no rollback
//!   possible: what is left is for `git worker prune`);
//! * `GIT_WORKER_STOP_AFTER=<step>`: stop the process (SIGSTOP) until it is
//!   continued: a test does, meanwhile, what an attacker racing the step
//!   would.

use std::fmt;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGTERM};

/// Every step a fault can be injected after, by command, in order. A step
/// named for one command may be reached by another that runs it (`cleanup`
/// runs rm's, `land` runs apply's).
pub const STEPS: &[(&str, &[&str])] = &[
    (
        "git worker spawn",
        &[
            "spawn:lock",
            "spawn:claim",
            "spawn:branch",
            "spawn:worktree",
            "spawn:config",
            "spawn:activate",
        ],
    ),
    ("git worker rm", &["rm:worktree", "rm:branch", "rm:archive"]),
    (
        "git worker cleanup",
        &["rm:worktree", "rm:branch", "rm:archive", "cleanup:local"],
    ),
    (
        "git worker sync",
        &["sync:fetch", "sync:merge", "sync:push"],
    ),
    ("git handoff report", &["report:handoff"]),
    (
        "git handoff apply",
        &[
            "apply:journal",
            "apply:patch",
            "apply:verify",
            "apply:commit",
            "apply:event",
        ],
    ),
    (
        "git handoff land",
        &[
            "apply:journal",
            "apply:patch",
            "apply:verify",
            "apply:commit",
            "apply:event",
            "land:next",
        ],
    ),
    (
        "git review-gate run",
        &["gate:checkout", "gate:verify", "gate:verdict"],
    ),
    ("git worker rebase", &["rebase:checked", "rebase:moved"]),
];

pub const FAIL_AFTER: &str = "GIT_WORKER_FAIL_AFTER";
pub const SIGNAL_AFTER: &str = "GIT_WORKER_SIGNAL_AFTER";
pub const KILL_AFTER: &str = "GIT_WORKER_KILL_AFTER";
pub const STOP_AFTER: &str = "GIT_WORKER_STOP_AFTER";

/// The command was interrupted by a signal and rolled back what it had done.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    pub what: String,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by signal {}; {}", self.signal, self.what)
    }
}

impl std::error::Error for Interrupted {}

/// A failure injected after a step (`GIT_WORKER_FAIL_AFTER`): like any
/// failure there, but a command that goes on after a failed item (cleanup,
/// land) stops at it, as at a signal.
#[derive(Debug)]
pub struct Injected {
    pub step: String,
}

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "injected failure after step '{}' ({})",
            self.step, FAIL_AFTER
        )
    }
}

impl std::error::Error for Injected {}

/// Whether `err` must stop a command that goes on after failed items: a
/// signal, or an injected failure.
pub fn stops_everything(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.is::<Interrupted>() || e.is::<Injected>())
}

fn received() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// While alive, termination signals are recorded instead of killing the process.
pub struct Guard {
    ids: Vec<signal_hook::SigId>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Catch SIGINT, SIGTERM and SIGHUP until the returned guard is dropped.
pub fn guard() -> Result<Guard> {
    let mut ids = Vec::new();
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        let id =
            signal_hook::flag::register_usize(signal, Arc::clone(received()), signal as usize)?;
        ids.push(id);
    }
    Ok(Guard { ids })
}

/// The signal received since the guard was taken, if any.
pub fn pending() -> Option<i32> {
    match received().load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal as i32),
    }
}

/// Call after each step of a transaction: injects the configured fault, and
/// reports a signal received during the step.
pub fn checkpoint(step: &str) -> Result<()> {
    let matches = |var: &str| std::env::var(var).is_ok_and(|value| value == step);
    if matches(FAIL_AFTER) {
        return Err(Injected {
            step: step.to_string(),
        }
        .into());
    }
    if matches(KILL_AFTER) {
        let _ = signal_hook::low_level::raise(SIGKILL);
    }
    if matches(SIGNAL_AFTER) {
        let _ = signal_hook::low_level::raise(SIGTERM);
    }
    if matches(STOP_AFTER) {
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGSTOP);
    }
    match pending() {
        Some(signal) => Err(Interrupted {
            signal,
            what: format!("stopped after step '{step}'"),
        }
        .into()),
        None => Ok(()),
    }
}
