//! The end-to-end suite: one test binary, one module per command group.

mod support;
mod worker_concurrency;
mod worker_input;
