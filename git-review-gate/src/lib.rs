//! git-review-gate: verification in a clean checkout and review verdicts,
//! recorded in git and bound to the exact change judged. The policy and the
//! verdict store are the library's (`orch::gate`, `orch::registry`); this
//! crate parses and prints.

pub mod cli;
pub mod commands;
