//! Command-line definitions of `git handoff`: the man pages and completions
//! are generated from these doc comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueHint};

/// Record a worker's result, and read it back
///
/// A worker finishes with `git handoff report`: its own summary (never a
/// scrape of its terminal), the notes it wants relayed, and its change
/// against its contract's base, captured from its checkout (commits,
/// staged, unstaged and untracked work, binary-safe) without touching it.
/// The handoff is stored as a commit of refs/orch/handoffs/<ID>, so a fetch
/// of refs/orch/* brings it, and the worker's commits, to any clone. The
/// coordinator reads it with `git handoff show` and `git handoff list`.
///
/// EXIT STATUS: 0 success; 1 a clean "no" (an empty change the contract
/// forbids, paths outside the contract); 2 usage or operational error.
#[derive(Debug, Parser)]
#[command(name = "git-handoff", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Report(ReportArgs),
    Show(ShowArgs),
    List(ListArgs),
    Apply(ApplyArgs),
    Land(LandArgs),
    Reject(RejectArgs),
    Export(ExportArgs),
    Import(ImportArgs),
}

/// In a worker's checkout: record its result for the coordinator
///
/// The summary is the worker's own words: --summary, --summary-file, or
/// standard input. The change is everything in the checkout against the
/// contract's base, led by a --stat --summary and fingerprinted with
/// `git patch-id --stable`. Refused (exit 1) when the change is empty and
/// the contract requires one, or when it touches paths outside the contract
/// (whatever the hooks saw). Reporting again adds a new handoff; the history
/// is kept.
///
/// Work left uncommitted meets the repository's own pre-commit hook first
/// (husky, pre-commit, lefthook, a plain hook), run on it staged in a
/// temporary index as a commit of it would be: `git handoff apply` commits
/// with git's plumbing, so no hook would see it otherwise. A refusal stops
/// the report (exit 1); --no-verify skips the hook.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The summary: what was done, what was found, what is left
    #[arg(long, value_name = "TEXT", conflicts_with = "summary_file")]
    pub summary: Option<String>,

    /// Read the summary from a file ("-": standard input)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub summary_file: Option<PathBuf>,

    /// A note to relay with the handoff, inlined (repeatable)
    #[arg(long = "note", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub notes: Vec<PathBuf>,

    /// Do not run the repository's own pre-commit hook on uncommitted work
    #[arg(long)]
    pub no_verify: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// Show a worker's handoff: summary, notes, stat, fingerprint
///
/// For a worker that never reported, shows what its branch and checkout
/// say (commit messages and a diff stat against its base), labelled as not
/// reported. With --max-chars, a longer summary or note is cut keeping its
/// end (the conclusion), on a character boundary, with a marker saying how
/// much was left out.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Print the patch (binary-safe, as `git apply` takes it) instead
    #[arg(long)]
    pub patch: bool,

    /// Cut each text longer than N characters, keeping its end
    #[arg(long, value_name = "N")]
    pub max_chars: Option<usize>,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// In the coordinator's checkout: apply a handoff, verify it, keep it or roll it back
///
/// 1. Re-checks the contract on the handoff's actual change (hooks can be
///    bypassed); 2. applies it onto the current HEAD, cleanly or else with a
///    3-way merge, aborting on conflicts with the paths listed; 3. builds
///    its commit (only its paths: other staged work stays staged; a file may
///    become a directory) with the worker's summary and trailers naming the
///    worker, base, handoff and fingerprint (its subject the summary's first
///    line, cut to 72 characters; `Co-authored-by` trailers name the
///    authors of the worker's commits; with --keep-commits, those commits
///    themselves); the commit is made with git's
///    plumbing, so commit hooks do not run on it: the verification commands
///    are its check;
/// 4. runs the contract's verification commands (from the coordinator's
///    record of the contract, never from anything the worker wrote) on
///    exactly that commit's tree, in a sandboxed scratch checkout with an
///    allowlisted environment (as `git review-gate run` does; with
///    orch.verify.inPlace = true, unsandboxed in this checkout), streaming
///    their output, each within --timeout; 5. on success moves HEAD to the
///    commit and records "applied"; on failure puts HEAD, index and files
///    back exactly as before, records "rejected" with the failing command
///    and the tail of its output, and exits 1.
///
/// When the patch does not apply cleanly it is merged 3-way (with the
/// merge drivers of `.gitattributes`, `union` among them). apply then says
/// so, names the handoffs that landed since the worker's base on the same
/// paths, and says whether the merged change is the one reported (the same
/// lines removed and added); the `applied` event records both. Under a
/// policy that requires approval, a merged change that differs from the
/// approved one is rolled back (exit 1) unless --accept-merged: rebase the
/// worker (`git worker rebase`) for a fresh verdict instead.
///
/// Uncommitted work of yours that touches the handoff's paths is refused
/// before anything happens; other uncommitted work is never touched.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Only check: contract, and whether the patch applies (exit 1 if not)
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Apply and verify, but leave the change uncommitted
    #[arg(long)]
    pub no_commit: bool,

    /// Land a change merged 3-way even when it differs from the one
    /// approved (a merge driver such as `merge=union`, or edits joined);
    /// without it, a policy requiring approval holds such a change back
    #[arg(long)]
    pub accept_merged: bool,

    /// Land the worker's own commits (authors, dates, messages, and a
    /// `Worker:` trailer) replayed onto HEAD, then one commit with what it
    /// did not commit, instead of one squashed commit (orch.apply.keepCommits)
    #[arg(long, overrides_with = "no_keep_commits")]
    pub keep_commits: bool,

    /// Land one squashed commit (the default)
    #[arg(long, overrides_with = "keep_commits")]
    pub no_keep_commits: bool,

    /// Seconds each verification command may take (default: the contract's
    /// verify-timeout, else 600)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

/// Land several handoffs, one at a time, independent ones first
///
/// Orders the reported handoffs (the ids given, or --all): those whose
/// changed files are disjoint from every other's first, then those that
/// share files, then those predicted to conflict (by `git merge-tree
/// --write-tree`, against the current HEAD and against each other) last;
/// ties by report time. Each is then landed by `git handoff apply`: its
/// contract re-checked, the review gate, the verification after every
/// landing, rollback on failure. A failure stops the queue (exit 1), or with
/// --keep-going is skipped. A summary ends it; progress goes to stderr.
#[derive(Debug, Args)]
pub struct LandArgs {
    /// Worker ids (default with --all: every reported handoff)
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub ids: Vec<String>,

    /// Every worker whose handoff is reported and not yet applied (the
    /// rejected and those not reported are named, and left out)
    #[arg(long)]
    pub all: bool,

    /// Print the order and the reasons, and which handoffs their review
    /// gate would hold back (exit 1 if any); change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Skip a handoff that fails (rolled back) and land the rest
    #[arg(long)]
    pub keep_going: bool,

    /// Land the worker's own commits (authors, dates, messages, and a
    /// `Worker:` trailer) replayed onto HEAD, then one commit with what it
    /// did not commit, instead of one squashed commit (orch.apply.keepCommits)
    #[arg(long, overrides_with = "no_keep_commits")]
    pub keep_commits: bool,

    /// Land one squashed commit (the default)
    #[arg(long, overrides_with = "keep_commits")]
    pub no_keep_commits: bool,

    /// Seconds each verification command may take (default: the contract's
    /// verify-timeout, else 600)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// Print the plan or the summary as JSON
    #[arg(long)]
    pub json: bool,
}

/// Record that a handoff is rejected, with the reason the worker will read
///
/// The rejection is a verdict on the change reported: it holds the review
/// gate closed until the worker reports a new one. A worker that has not
/// reported is rejected as it is: the reason goes into its log, and `git
/// worker cleanup --abandoned` removes it.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Why: what the worker must change
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
}

/// Write a worker's handoff to a portable file (a git bundle)
///
/// The bundle holds the worker's branch, its registry entry and its
/// handoffs (refs/orch/workers/<ID>, refs/orch/handoffs/<ID>) and a manifest
/// (refs/orch/exports/<ID>: a commit whose manifest.toml names them). It
/// needs the contract's base in the clone that imports it, as any clone of
/// the same repository has.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// The file to write
    #[arg(short, long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub output: PathBuf,
}

/// Read a handoff bundle made by `git handoff export` into this clone
///
/// Brings in the handoffs (a fast-forward of refs/orch/handoffs/<ID>) and
/// the worker's branch when this clone has none. The contract is the
/// authority on what `apply` allows and runs, and a bundle can be written by
/// anyone: the worker's registry entry is imported only with
/// --trust-contract, after import has shown it, and only when this clone has
/// none (an entry it has is never replaced). Then `show` and `apply` work.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bundle file
    #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: PathBuf,

    /// Adopt the contract in the bundle (allowed paths, verification
    /// commands) when this clone has no entry for the worker
    #[arg(long)]
    pub trust_contract: bool,
}

/// List workers and their handoffs: state, when, files, fingerprint, summary
///
/// The summary column shows the end of each summary (its conclusion).
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}
