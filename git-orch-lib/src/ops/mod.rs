//! Transactions several commands share: applying a handoff and undoing it.
//!
//! A command module parses, calls one of these, and prints; the rules
//! these keep (what is rolled back, what counts as landed) live here once.

pub mod agent;
pub mod apply;
pub mod base;
pub mod bundle;
pub mod ci_check;
pub mod collect;
pub mod confine;
pub mod debris;
pub mod hub;
pub mod keys;
pub mod landed;
pub mod plan;
pub mod presets;
pub mod pty;
pub mod rebase;
pub mod remove;
pub mod review;
pub mod scratch;
pub mod server_rules;
pub mod setup;
pub mod spawn;
pub mod sync;
pub mod undo;
pub mod worker;
