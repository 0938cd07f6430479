//! git-worker: the shared library of the git-orch suite (`git worker`,
//! `git handoff`, `git review-gate`).
//!
//! * [`git`] is the only module that talks to git (git2 in-process, the CLI
//!   where git's own behaviour matters);
//! * [`registry`] is the only module that knows the `refs/orch/` format;
//! * [`contract`] validates everything a user can put in a task contract;
//! * [`gate`] decides whether a change's review verdicts meet the policy;
//! * [`config`] merges `.orch.toml`, git config and defaults;
//! * [`cli`] holds the clap definitions (the man pages), [`commands`] one
//!   function per subcommand, and [`exit`] the exit-code contract.

pub mod cli;
pub mod commands;
pub mod config;
pub mod contract;
pub mod enforce;
pub mod exit;
pub mod gate;
pub mod git;
pub mod hooks;
pub mod interrupt;
pub mod policy;
pub mod registry;
pub mod verify;
pub mod watch;

#[cfg(test)]
mod hostile;
