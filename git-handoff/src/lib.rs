//! git-handoff: workers record their results (their own summary, the change
//! against their base, notes) and the coordinator reads them, applies them
//! and lands them. Storage and git access come from the library
//! (`orch::registry`, `orch::git`); this crate parses and prints.

pub mod cli;
pub mod commands;
