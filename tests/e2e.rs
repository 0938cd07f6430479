//! The end-to-end suite: one test binary, one module per command group.

mod generated;
mod support;
mod worker;
