//! git-handoff: workers record their results (their own summary, the change
//! against their base, notes) and the coordinator reads them. Storage and
//! git access come from the shared library (`git_worker::registry`,
//! `git_worker::git`); this crate holds the commands.

pub mod cli;
pub mod commands;
pub mod land;
pub mod review_gate;
pub mod text;
