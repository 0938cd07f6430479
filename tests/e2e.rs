//! The end-to-end suite: one test binary, one module per command group.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agents;
mod cleanup;
mod contracts;
mod crash;
mod events;
mod generated;
mod handoff;
mod install;
mod isolation;
mod land;
mod merging;
mod plan;
mod presets;
mod real_repos;
mod report;
mod review_gate;
mod servers;
mod signed;
mod soak;
mod structure;
mod support;
mod sync;
mod untrusted;
mod worker;
mod worker_concurrency;
mod worker_input;
