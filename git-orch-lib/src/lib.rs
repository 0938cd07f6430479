//! orch: the library of the git-orch suite (`git worker`, `git handoff`,
//! `git review-gate`). The three binaries parse their command lines, call
//! into this crate, and print; everything they share lives here.
//!
//! * [`git`] is the only module that talks to git (git2 in-process, the CLI
//!   where git's own behaviour matters);
//! * [`registry`] is the only module that knows the `refs/orch/` format;
//! * [`contract`] validates everything a user can put in a task contract;
//! * [`gate`] decides whether a change's review verdicts meet the policy;
//! * [`config`] merges `.orch.toml`, git config and defaults;
//! * [`exit`] holds the exit-code contract, [`role`] which side of the
//!   coordination a checkout is on, [`ui`] the shared output helpers.

pub mod config;
pub mod contract;
pub mod enforce;
pub mod exit;
pub mod fs;
pub mod gate;
pub mod git;
pub mod hooks;
pub mod interrupt;
pub mod local;
pub mod ops;
pub mod policy;
pub mod registry;
pub mod role;
pub mod sandbox;
pub mod ui;
pub mod verify;
pub mod watch;

#[cfg(test)]
mod hostile;
