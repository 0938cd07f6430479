//! Command-line definitions of `git worker`. The doc comments here are the
//! user documentation: `-h`, the man pages in `man/` and the completions in
//! `share/` are all generated from them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};

/// Run many coding agents in parallel on one repository
///
/// git worker gives each worker (an agent CLI, a script or a person) its own
/// branch and its own linked worktree, under a task contract: the base commit
/// it starts from, the paths it may change, the commands that verify its work
/// and whether a change is required. The repository itself is the registry:
/// every worker is a ref under refs/orch/workers/ whose commits are its event
/// log, so `git push origin 'refs/orch/*'` shares the whole registry.
///
/// The coordinator runs spawn, list, show, rm, prune and doctor in the main
/// checkout. Inside a worker's checkout (it knows it is one through its own
/// `orch.worker` config) coordinator commands refuse, and worker commands
/// such as `current` work.
///
/// CONFIGURATION: team defaults go in a tracked .orch.toml at the root of the
/// repository (keys: base, prefix, worktree-dir, verify, allow, deny,
/// require-change); personal overrides in git config (orch.base, orch.prefix,
/// orch.worktreeDir, orch.verify, orch.allow, orch.deny, orch.requireChange;
/// the last three and orch.verify are multi-valued). Command-line flags win
/// over git config, which wins over .orch.toml. Lists are replaced, not merged.
///
/// EXIT STATUS: 0 success; 1 a clean "no" (doctor found problems); 2 usage or
/// operational error; 128+N interrupted by signal N after rolling back.
///
/// FAULT INJECTION: GIT_WORKER_FAIL_AFTER, GIT_WORKER_SIGNAL_AFTER and
/// GIT_WORKER_KILL_AFTER set to a step name (spawn:lock, spawn:claim,
/// spawn:branch, spawn:worktree, spawn:config, spawn:activate, rm:worktree,
/// rm:branch, rm:archive) inject an error, a SIGTERM or a SIGKILL right after
/// that step, to check that the command rolls back or that prune recovers.
///
/// The registry format is described in docs/registry-format.md.
#[derive(Debug, Parser)]
#[command(name = "git-worker", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Spawn(SpawnArgs),
    List(ListArgs),
    Show(ShowArgs),
    Current(CurrentArgs),
    Rm(RmArgs),
    Prune(PruneArgs),
    Doctor(DoctorArgs),
}

/// Create workers: a branch, a linked worktree and a registry entry each
///
/// For each ID, creates branch <prefix><ID> (prefix from orch.prefix, default
/// "orch/") at the base commit, a linked worktree at <worktree-dir>/<ID>
/// (default ../<repo>.worktrees/<ID>), marks that checkout as the worker's
/// (per-worktree config orch.worker) and records the contract in
/// refs/orch/workers/<ID>.
///
/// The base is --base, else orch.base / .orch.toml, else the local branch
/// that refs/remotes/origin/HEAD names, else main, else master, else HEAD.
/// Nothing touches the network unless --fetch is given.
///
/// Each spawn is a transaction: if any step fails, or the command is
/// interrupted, everything it created is removed again. A spawn killed
/// outright leaves debris that `git worker prune` removes. Spawning an
/// existing worker with the same contract reports it and succeeds; with a
/// different contract it is an error.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// Worker ids: 1-64 ASCII letters, digits, '-', '_' or '.'
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,

    /// Commit or branch to start from (default: the repository's default branch, found locally)
    #[arg(long, value_name = "REV", value_hint = ValueHint::Other)]
    pub base: Option<String>,

    /// Fetch the base's remote before resolving it (the only time spawn uses the network)
    #[arg(long)]
    pub fetch: bool,

    /// Path glob the worker may change (repeatable; relative to the repository root)
    #[arg(long = "allow", value_name = "GLOB")]
    pub allow: Vec<String>,

    /// Path glob the worker must not change, even inside an allowed glob (repeatable)
    #[arg(long = "deny", value_name = "GLOB")]
    pub deny: Vec<String>,

    /// Command that verifies the worker's change (repeatable; run by the coordinator)
    #[arg(long = "verify", value_name = "COMMAND")]
    pub verify: Vec<String>,

    /// Require the worker's result to change something (the default)
    #[arg(long, overrides_with = "no_require_change")]
    pub require_change: bool,

    /// Accept a result that changes nothing
    #[arg(long, overrides_with = "require_change")]
    pub no_require_change: bool,

    /// Label the worker (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// What the worker is asked to do
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Read the contract from a TOML task file (flags given as well override it)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub task: Option<PathBuf>,

    /// Directory for worker checkouts (default: orch.worktreeDir, else ../<repo>.worktrees)
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub worktree_dir: Option<PathBuf>,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// List workers: id, state, branch, base, age, commits ahead, dirty, path
///
/// Reads the registry in-process: no process is started per worker. DIRTY is
/// "yes" when the worker's checkout has staged, unstaged or untracked
/// changes, and "-" when its checkout is not on this machine.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON ({"version": 1, "workers": [...]})
    #[arg(long)]
    pub json: bool,

    /// Only workers in this state
    #[arg(long, value_name = "STATE", value_parser = ["spawning", "active"])]
    pub state: Option<String>,

    /// Only workers with this label (repeatable; all must match)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Skip the status of each checkout (DIRTY shows "-"): read only refs and the registry
    #[arg(long)]
    pub no_status: bool,
}

/// Show a worker: contract, state, location and event history
///
/// Works for removed workers too: their archived history is shown.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// In a worker's checkout: show its own contract and state
#[derive(Debug, Args)]
pub struct CurrentArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Remove workers: worktree, branch and live registry entry
///
/// Refuses a worker whose checkout has uncommitted or untracked changes, or
/// whose branch has commits that are not on its base branch or on HEAD,
/// unless --force. The event history is kept in refs/orch/archive/<ID>/ and
/// `git worker show <ID>` still reads it.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Worker ids
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,

    /// Remove even with uncommitted changes or unlanded commits (they are lost)
    #[arg(long, short)]
    pub force: bool,

    /// Keep the worker's branch
    #[arg(long)]
    pub keep_branch: bool,
}

/// Remove what crashed spawns and vanished checkouts left behind
///
/// Rolls back spawns whose process is gone (their registry entry, branch and
/// worktree), archives entries whose checkout on this machine no longer
/// exists (deleting their branch only when it has no unlanded commits), and
/// prunes git's records of deleted worktrees.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only print what would be removed
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

/// Check the installation and the registry; exit 1 if anything is wrong
///
/// Checks the git version, that git-worker, git-handoff and git-review-gate
/// are on PATH, that the man pages are installed, that every registry entry
/// is readable in a known format, and that no crashed spawn or vanished
/// checkout left debris. Each problem comes with the command that fixes it.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}
