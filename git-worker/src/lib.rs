//! git-worker: spawn, watch, message and clean up workers. The library
//! (`orch`) does the work; this crate holds the command line ([`cli`], which
//! is also the man page) and one module per subcommand ([`commands`]) that
//! parses, calls the library, and prints.

pub mod cli;
pub mod commands;
