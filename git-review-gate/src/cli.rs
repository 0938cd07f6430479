//! Command-line definitions of `git review-gate`: the man pages and
//! completions are generated from these doc comments.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Verify and review changes in a clean checkout; record verdicts in git
///
/// A verdict is bound to the exact change it judges (its base and resulting
/// tree, and the handoff's fingerprint): when a worker changes anything and
/// reports again, earlier verdicts become stale and no longer count.
/// TARGET is a worker id (its latest handoff is judged) or, when no worker
/// has that id, any revision (that commit, against its first parent).
///
/// Verdicts are appended, one JSON line each, to the note of the commit they
/// judge under refs/orch/notes/verdicts (a worker's handoff commit, or the
/// commit itself), with compare-and-swap, so concurrent reviewers lose
/// nothing and a fetch of refs/orch/* brings them along:
/// `git -c core.notesRef=refs/orch/notes/verdicts log refs/orch/handoffs/<ID>`
/// shows them. Verdicts on a worker also go into its event log.
///
/// POLICY: orch.review.require (git config, or `[review] require` in
/// .orch.toml) is one of `none` (the default: `git handoff apply` verifies
/// by itself), `verify` (the latest `run` must pass), `approve` (a standing
/// approval) or `both`. Each reviewer's latest verdict stands (a reviewer
/// is an actor, the coordinator or one worker, and a name), and a standing
/// rejection closes the gate under every policy until the worker reports a
/// new change. `git handoff apply` refuses a change whose gate is
/// closed. After orch.review.maxRejections (default 3; 0: never) failed
/// verdicts in a row, a worker needs attention: it is marked so in its
/// log, and `run` does not verify it again without --force.
///
/// PUSH HOOK: hooks/pre-push (installed under share/git-worker/hooks/)
/// refuses to push a worker's commits (to or from its branch, or its tip
/// under any name) unless they are the reviewed change and its gate is
/// open; under policy `none` it asks for an approval.
///
/// EXIT STATUS: 0 pass, approved, or gate open; 1 fail, or gate closed
/// (saying what is missing); 2 usage or operational error; 128+N when
/// stopped by signal N.
#[derive(Debug, Parser)]
#[command(name = "git-review-gate", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Run(RunArgs),
    Approve(ApproveArgs),
    Reject(RejectArgs),
    Status(StatusArgs),
    Wait(WaitArgs),
    Hook(HookArgs),
}

/// Run the verification commands in a clean temporary checkout; record pass or fail
///
/// Checks out the change (a worker's reported tree, on its base; or the
/// commit) in a scratch checkout under $TMPDIR: a repository of its own
/// with no origin and no refs of yours, borrowing your objects read-only;
/// never the worker's live checkout nor yours. Runs the verification
/// commands there: for a worker, those of the contract this coordinator
/// recorded at spawn; for a plain revision, --verify (else orch.verify).
/// They run in the sandbox where the platform has one (writable: only the
/// scratch directory, its HOME and TMPDIR; no network unless
/// orch.verify.network), with an environment built from an allowlist
/// (PATH, the locale, TERM, a scratch HOME and TMPDIR, and the variables
/// orch.verify.env names) and GIT_ORCH_VERIFYING=1 (advisory: no verdict
/// is recorded from inside a verification by mistake). Afterwards this
/// repository's config and hooks, the worker's contract and the verdicts
/// on its change are checked unchanged, or the run fails.
/// orch.verify.inPlace = true runs them unsandboxed with your environment
/// (trusted setups only). Every command runs, each within --timeout, up to
/// --jobs at a time. The verdict (pass or fail; each command's exit
/// status, duration and output tail; the change's fingerprint, base and
/// tree; who and when) is recorded, then the scratch checkout is removed,
/// whatever happens (one left by a killed run is removed by
/// `git worker prune`). Exit 0 pass, 1 fail; 2 for a worker that needs
/// attention (see POLICY) unless --force.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Worker id, or a revision
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Run up to N verification commands at once (output is then shown per command)
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,

    /// Seconds each command may take (default: the contract's verify-timeout, else 600)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// For a revision: a verification command (repeatable; default orch.verify)
    #[arg(long = "verify", value_name = "COMMAND")]
    pub verify: Vec<String>,

    /// Verify a worker that needs attention (too many failed verdicts in a row)
    #[arg(long)]
    pub force: bool,

    /// Print the verdict as JSON on standard output
    #[arg(long)]
    pub json: bool,
}

/// Approve the current change, as a reviewer (a person or a reviewing agent)
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Worker id, or a revision
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// What you checked (repeatable; paragraphs)
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub message: Vec<String>,

    /// Record this reviewer instead of git's identity (user.name <user.email>)
    #[arg(long, value_name = "NAME")]
    pub reviewer: Option<String>,

    /// Print the verdict as JSON on standard output
    #[arg(long)]
    pub json: bool,
}

/// Reject the current change, with at least one concrete finding
///
/// Each -m is one finding the worker can act on. The worker's state becomes
/// "rejected"; the rejection stands (the gate stays closed under every
/// policy) until the worker reports a new change or you approve it.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Worker id, or a revision
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// A finding: what is wrong and where (repeatable; at least one)
    #[arg(long = "message", short = 'm', value_name = "FINDING")]
    pub findings: Vec<String>,

    /// Record this reviewer instead of git's identity (user.name <user.email>)
    #[arg(long, value_name = "NAME")]
    pub reviewer: Option<String>,

    /// Print the verdict as JSON on standard output
    #[arg(long)]
    pub json: bool,
}

/// Say whether the current change meets the policy. Exit 0 if open, 1 if closed
///
/// Lists the verdicts on the current change and, as stale, those on
/// earlier changes (which do not count), then what is missing and the
/// command that gets it.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Worker id, or a revision
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Print the status as JSON on standard output
    #[arg(long)]
    pub json: bool,
}

/// Block until the current change has a verdict; exit as `status`
///
/// Returns as soon as the current change (a new report is a new change)
/// has at least one verdict, with the gate's status: exit 0 open, 1 closed
/// (or timed out). Wakes on ref changes (a filesystem watch, no busy loop).
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Worker id, or a revision
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Give up after this many seconds (fractions allowed; default: never)
    #[arg(long, value_name = "SECONDS", value_parser = orch::watch::parse_seconds)]
    pub timeout: Option<Duration>,

    /// Print the status as JSON on standard output
    #[arg(long)]
    pub json: bool,
}

/// Run as a git hook (called by the shims in hooks/)
///
/// `pre-push` reads git's `<local ref> <local sha> <remote ref> <remote
/// sha>` lines and refuses the push (exit 1) when a worker branch's tip is
/// not the change that was reviewed, or its gate is closed.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The hook: pre-push
    #[arg(value_name = "HOOK", value_parser = ["pre-push"])]
    pub hook: String,

    /// The hook's own arguments (pre-push: remote name and URL)
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}
