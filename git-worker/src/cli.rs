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
/// The coordinator runs spawn, list, show, message, rm, prune and doctor in
/// the main checkout. Inside a worker's checkout (it knows it is one through
/// its own `orch.worker` config) coordinator commands refuse, and worker
/// commands work: current, notify, inbox. log, timeline and wait read the
/// event logs from anywhere.
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
/// GIT_WORKER_KILL_AFTER set to a step name inject an error, a SIGTERM or a
/// SIGKILL right after that step, to check that the command rolls back, or
/// that the next command or `git worker prune` recovers
/// (GIT_WORKER_STOP_AFTER stops the process there until it is continued). The steps: spawn
/// (spawn:lock, spawn:claim, spawn:branch, spawn:worktree, spawn:config,
/// spawn:activate), rm and cleanup (rm:worktree, rm:branch, rm:archive,
/// cleanup:local), sync (sync:fetch, sync:merge, sync:push), git handoff
/// report (report:handoff), apply and land (apply:journal, apply:patch,
/// apply:commit, apply:verify, apply:event, land:next), git review-gate run
/// (gate:checkout, gate:verify, gate:verdict), rebase (rebase:checked,
/// rebase:moved). docs/crash-safety.md says
/// what each leaves and what recovers it.
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
    Spawn(Box<SpawnArgs>),
    List(ListArgs),
    Show(ShowArgs),
    Current(CurrentArgs),
    Rm(RmArgs),
    Prune(PruneArgs),
    Doctor(DoctorArgs),
    Check(CheckArgs),
    CiCheck(CiCheckArgs),
    Hook(HookArgs),
    Hub(HubArgs),
    Log(LogArgs),
    Timeline(TimelineArgs),
    Notify(NotifyArgs),
    Message(MessageArgs),
    Inbox(InboxArgs),
    Wait(WaitArgs),
    Dashboard(DashboardArgs),
    Output(OutputArgs),
    Relaunch(RelaunchArgs),
    Cleanup(CleanupArgs),
    Sync(SyncArgs),
    Join(JoinArgs),
    Admit(AdmitArgs),
    Rebase(RebaseArgs),
    Key(KeyArgs),
    Report(ReportArgs),
    Plan(PlanArgs),
    Ready(ReadyArgs),
    Graph(GraphArgs),
    #[command(hide = true)]
    AgentRun(AgentRunArgs),
    #[command(hide = true)]
    SandboxExec(SandboxExecArgs),
}

/// Show one worker's history: every event, oldest first
///
/// Live or removed (archived) workers. Each event has its time, its actor
/// (coordinator or worker), its kind (spawned, notice, message, read,
/// reported, verified, approved, rejected, applied, removed, ...) and its
/// details.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Interleave the events of every worker, oldest first
///
/// With --json, one JSON object per line (newline-delimited JSON) with the
/// fields worker, time, actor, kind, clock, id and data.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Only events at or after T: Unix seconds, an age such as 30m, 2h or
    /// 3d, or a UTC date such as 2026-11-21 or 2026-11-21T10:00:00Z
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Print newline-delimited JSON
    #[arg(long)]
    pub json: bool,
}

/// In a worker's checkout: tell the coordinator something
///
/// `blocking` means "I stop; here is what I tried and what I need": the
/// worker's state becomes blocked, with the text as its reason, until the
/// coordinator answers with `git worker message`. --rebase asks the
/// coordinator to move this worker onto its current HEAD (`git worker
/// rebase`), blocking until it does: commit your work first.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// What to say (with --rebase, optional: why)
    #[arg(value_name = "TEXT", required_unless_present = "rebase")]
    pub text: Option<String>,

    /// Ask to be rebased onto the coordinator's current HEAD (blocking)
    #[arg(long, conflicts_with = "level")]
    pub rebase: bool,

    /// How urgent
    #[arg(long, value_name = "LEVEL", default_value = "info",
          value_parser = ["info", "warning", "blocking"])]
    pub level: String,
}

/// Send a message to a worker (it reads it with `git worker inbox`)
///
/// A message to a blocked worker answers it: its state goes back to what it
/// was before it blocked.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// The message
    #[arg(value_name = "TEXT")]
    pub text: String,
}

/// In a worker's checkout: show unread messages and mark them read
///
/// The read cursor is kept in the registry (a `read` event), so it is the
/// same in every clone that fetches refs/orch/*.
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Show every message, read or not (marks nothing)
    #[arg(long)]
    pub all: bool,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Block until workers reach a state. Exit 0 when all did, 1 on timeout
///
/// `reported`: the worker has reported (or was since applied or rejected);
/// `blocked`: it sent a blocking notice; `done`: applied, rejected or
/// removed; `exited`: its agent (spawn --exec) has exited; `any` (the
/// default): reported, blocked or done. Wakes on registry changes (no busy
/// loop).
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Worker ids
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,

    /// The state to wait for
    #[arg(long, value_name = "STATE", default_value = "any",
          value_parser = ["reported", "blocked", "done", "exited", "any"])]
    pub until: String,

    /// Give up after this many seconds (fractions allowed; default: never)
    #[arg(long, value_name = "SECONDS", value_parser = orch::watch::parse_seconds)]
    pub timeout: Option<std::time::Duration>,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Create workers: a branch, a checkout and a registry entry each
///
/// For each ID, creates branch <prefix><ID> (prefix from orch.prefix, default
/// "orch/") at the base commit, a linked worktree at <worktree-dir>/<ID>
/// (default ../<repo>.worktrees/<ID>), marks that checkout as the worker's
/// (per-worktree config orch.worker) and records the contract in
/// refs/orch/workers/<ID>.
///
/// A sandboxed worker (--sandbox; by default every --exec agent where the
/// platform can sandbox, orch.sandbox = auto) gets its own clone there
/// instead, and its agent runs in an OS sandbox that may write only that
/// clone: the coordinator takes its work from the clone. A trusted worker
/// (--no-sandbox) is protected against mistakes, not against an agent that
/// means harm. See docs/security.md.
///
/// The base is --base, else orch.base / .orch.toml, else the local branch
/// that refs/remotes/origin/HEAD names, else main, else master, else HEAD.
/// Nothing touches the network unless --fetch is given; with it, a local
/// branch behind what was fetched gives way to the fetched one (said).
///
/// Each new checkout is made ready before its agent starts: the ignored
/// files `.worktreeinclude` names are copied in (copy-on-write where the
/// filesystem offers it), so is an untracked relative core.hooksPath
/// (husky's `.husky/_`), then the setup commands run there (`[setup] run`
/// in .orch.toml, or orch.setup; a failure rolls the spawn back). Each
/// worker gets ten ports of its own, ORCH_PORT to ORCH_PORT+9 (orch.portBase,
/// default 20000; machine-local, freed on removal).
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

    #[command(flatten)]
    pub contract: ContractArgs,

    /// Read the contract from a TOML task file (flags given as well override it)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub task: Option<PathBuf>,

    /// Directory for worker checkouts (default: orch.worktreeDir, else ../<repo>.worktrees)
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub worktree_dir: Option<PathBuf>,

    /// Spawn the planned tasks that are ready (see `git worker ready`), with their own contracts
    #[arg(long, conflicts_with_all = ["ids", "task", "base"])]
    pub ready: bool,

    /// With --ready: spawn at most N of them
    #[arg(long, value_name = "N", requires = "ready")]
    pub max: Option<usize>,

    /// Where each worker works: a linked worktree (the default, orch.isolation), or its own clone
    ///
    /// A clone borrows this repository's objects (`git clone --shared`) but
    /// has its own config, hooks and refs: the worker cannot move this
    /// repository's refs. Its origin is an inbox (.git/orch/inbox.git, a hub
    /// whose checks refuse what a worker may not push; the remote
    /// `orch-inbox` here): the worker sends its handoff with `git worker
    /// sync`, the coordinator collects it with `git worker sync orch-inbox`.
    #[arg(long, value_name = "KIND", value_parser = ["worktree", "clone"])]
    pub isolation: Option<String>,

    /// A sparse checkout: only the directories its allowed paths name
    ///
    /// Cone mode (`git sparse-checkout set --cone`), the cone made of each
    /// --allow pattern's directory part before its first wildcard
    /// (`src/auth/**` gives `src/auth`; a pattern with no directory part,
    /// or none at all, checks everything out); files at the top are always
    /// there. Files outside the cone are not there, and not deletions.
    #[arg(long)]
    pub sparse: bool,

    /// Sandbox each worker: its own clone, and its agent in an OS sandbox
    ///
    /// The agent can write only the worker's clone, its temporary
    /// directory and the agent CLI's own state directories (orch.sandbox.write),
    /// with no new privileges; what it reports is written into its clone and
    /// taken from there by the coordinator's commands, which accept only what
    /// a worker may write (its events, its handoffs, its branch). Needs
    /// Landlock (Linux 6.2); `git worker doctor` says what this machine
    /// supports. The default (orch.sandbox = auto) sandboxes --exec agents
    /// where the machine can, and says so; see docs/security.md.
    #[arg(long, overrides_with = "no_sandbox", conflicts_with = "isolation")]
    pub sandbox: bool,

    /// Do not sandbox: the worker is trusted (a linked worktree or a clone)
    #[arg(long, overrides_with = "sandbox")]
    pub no_sandbox: bool,

    /// Whether a sandboxed agent may use the network (default on: agents
    /// call their model's API; orch.sandbox.network)
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub network: Option<String>,

    /// Start this agent command in each new worker's checkout (sh -c), detached
    ///
    /// It gets ORCH_WORKER, ORCH_BRANCH, ORCH_BASE, ORCH_CONTRACT (a TOML
    /// file), ORCH_PROMPT (the rendered prompt file), ORCH_LOG, ORCH_PORT
    /// (the first of its ten ports) and ORCH_ISOLATION (worktree, clone or
    /// sandbox) in its environment; its output goes to ORCH_LOG. A supervisor records its
    /// pid and exit status, and flags an exit without a handoff.
    #[arg(long, value_name = "COMMAND", conflicts_with = "agent")]
    pub exec: Option<String>,

    /// Start this agent CLI in each new worker's checkout, as --exec does, with the command line its preset builds
    ///
    /// claude, codex, aider, opencode or gemini (or a preset of your own in
    /// git config: orch.agent.<NAME>.command, .resume, .session, .tty; read
    /// from git config only, never from a tracked .orch.toml, which workers
    /// can change). Each preset runs its CLI non-interactively on the
    /// prompt, with the CLI's own permission flags: in a worker git-orch
    /// sandboxes, the agent's own sandbox is turned off where it would stop
    /// it committing and reporting (git-orch's sandbox is the boundary);
    /// otherwise the agent's own sandbox stays on. The session id it prints
    /// is recorded, for `git worker relaunch --resume`. See
    /// share/git-worker/agents.toml for each command line.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Run the agent on a pseudo-terminal (its output still goes to its log)
    ///
    /// For agent CLIs that exit at once when they find no terminal.
    #[arg(long)]
    pub tty: bool,

    /// Render this template as the agent's prompt (default: share/git-worker/prompt.md)
    ///
    /// Placeholders: {{id}} {{task}} {{description}} {{allowed}} {{verify}}
    /// {{base}} {{branch}} {{report}}; any other is an error.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub prompt_template: Option<PathBuf>,

    /// Refuse ids beyond this many live workers spawning, active or blocked (default: orch.maxActive)
    #[arg(long, value_name = "N")]
    pub max_active: Option<u32>,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// Plan tasks to spawn once what they depend on has landed
///
/// A planned task is recorded in the registry (refs/orch/tasks/<ID>), never
/// in tracked files. Its dependencies must be planned tasks or workers; an
/// unknown one, or a cycle (named), is refused and nothing is recorded.
/// `--from` imports task files: TOML (the keys of `spawn --task`, plus
/// `depends-on`), or Markdown with TOML front matter between `+++` lines
/// (the body is the description); a directory imports every *.toml and *.md
/// in it, the file name being the id unless `id` is set. Planning the very
/// same task again does nothing.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Task id (then the contract comes from the flags)
    #[arg(
        value_name = "ID",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub id: Option<String>,

    /// Tasks or workers that must land first (comma-separated, or repeated)
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub depends_on: Vec<String>,

    /// Commit or branch to spawn it from (resolved when it is spawned; default: the default branch then)
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,

    /// Import task files: one file, or a directory of *.toml and *.md files
    #[arg(long, value_name = "PATH", value_hint = ValueHint::AnyPath)]
    pub from: Option<PathBuf>,

    #[command(flatten)]
    pub contract: ContractArgs,
}

/// List planned tasks whose dependencies have all landed
///
/// `git worker spawn --ready` spawns them. A task waits while a dependency
/// is planned or at work, and is blocked when one was removed without
/// landing (abandoned).
#[derive(Debug, Args)]
pub struct ReadyArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Print the task graph with each task's state
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Print Graphviz (dot) instead
    #[arg(long)]
    pub dot: bool,

    /// Print JSON
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
}

/// Remove finished work: worktrees, branches (local, and remote with --remote), live entries
///
/// `--landed` (the default) takes workers whose work is in HEAD, decided by
/// checks that survive squash and rebase: applied by `git handoff apply`;
/// its branch an ancestor of HEAD; every commit patch-equivalent to one in
/// HEAD (`git cherry`: rebased or cherry-picked); or merging it into HEAD
/// would add nothing (squash-merged). Also branches under the prefix that a
/// removed worker left (`rm --keep-branch`), when landed. `--abandoned`
/// takes rejected workers and workers that did nothing (branch at its
/// base, clean checkout). Work that is not landed (commits after an apply,
/// commits on a detached HEAD, uncommitted changes, a running agent) is
/// never deleted without --force; --remote deletes a remote branch only
/// when it holds nothing HEAD lacks. Event histories are kept (archived).
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Remove landed work (the default when neither --landed nor --abandoned is given)
    #[arg(long)]
    pub landed: bool,

    /// Remove rejected workers and workers that did nothing
    #[arg(long)]
    pub abandoned: bool,

    /// Only workers and branches whose branch starts with this (default: orch.prefix)
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Also delete the removed branches on this remote (git push --delete)
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,

    /// Print what would be removed, and why; change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Remove abandoned work even when it holds unlanded commits or changes (they are lost)
    #[arg(long)]
    pub force: bool,
}

/// Write the after-action report: per task and in total, from the event logs
///
/// Per task (live and removed workers): time to spawn (from planning, or
/// from the start of the spawn), to the first report and to landing, both
/// from the spawn; retries (reports after the first); blocked episodes with
/// their reasons and lengths; verification and review failures; conflicts.
/// Totals: tasks landed, abandoned and open, medians, sums. --html writes a
/// self-contained page (no network) with a timeline: a Gantt chart of the
/// workers over their active period (from the first to the last event of
/// the workers shown, with a small margin; an open worker's bar runs to
/// its end), blocked episodes shaded, events marked. Failed verifications
/// (by `git review-gate run` or `git handoff apply`), rejections and
/// conflicts are red, each with a tooltip giving the command, its exit
/// status (or timeout) and the end of its output; arrows run from each
/// planned task's dependencies (`plan --depends-on`) to it. With --json,
/// each failure lists its failed commands with their status and output.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only workers with events at or after T (as for `timeline --since`)
    #[arg(long, value_name = "T")]
    pub since: Option<String>,

    /// Print JSON
    #[arg(long, conflicts_with = "html")]
    pub json: bool,

    /// Write an HTML page with the timeline to FILE
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub html: Option<PathBuf>,
}

/// Share the registry through a remote: fetch, merge, push what changed here
///
/// One fetch of the remote's refs/orch/* (into a staging namespace) and of
/// its worker branches (into refs/remotes/<REMOTE>/), then joins each
/// registry ref with the local one: taken when only the remote moved, kept
/// when only this side did, and merged when both did (event logs by a
/// merge commit holding every event of both, the state after the last
/// event in (clock, time, commit) order; verdict notes by the union of
/// their lines; handoffs by the newer). Only what its signer was entitled
/// to write is taken; the rest is ignored with a warning naming the ref,
/// the commit and the signer. Then one push, never forced and not atomic,
/// of the refs this machine owns that differ from the remote's: a joined
/// worker's log, handoffs and branch; on the coordinator, the registry and
/// the branches of the workers it hosts. Nothing is pushed when nothing
/// changed. A ref that loses a race is pushed again after merging again; a
/// ref the remote refuses is named with the remote's message (the hub's
/// checks, or a rule of the server such as gitolite's), kept here for the
/// next sync, and does not hold back the others; the sync then exits 1. On
/// the coordinator, verdicts that workers on other hosts relayed in their
/// logs (`reviewed` events) are recorded on their changes. Safe to run at
/// any time, repeatedly. Network operations use the git CLI (credentials,
/// ssh, proxies as your git does).
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The remote (default: orch.remote, else origin)
    #[arg(value_name = "REMOTE")]
    pub remote: Option<String>,
}

/// On another machine: make a clone the checkout of worker ID
///
/// In a clone (or, outside any repository, in a new clone of --remote made
/// at --dir): fetches the registry from the remote and merges it as `sync`
/// does, checks out the worker's branch (the remote's, else a new one at
/// the contract's base), installs the worker hooks and marks the checkout
/// as worker ID. Then `git handoff report` and `git worker sync` there send
/// the result to the remote, where the coordinator syncs, shows and applies
/// it. Makes the worker's signing key on this host (<git-dir>/orch/keys/ID/)
/// and prints it for the coordinator to admit (`git worker admit`); pins
/// the coordinator's public key (--coordinator-key, else the one the
/// registry records). Refused in a repository that coordinates workers of
/// its own, or with uncommitted changes.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Remote name or URL (default: origin; required outside a repository)
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,

    /// Where to clone when run outside a repository (default: ./<ID>)
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,

    /// The coordinator's public key (an OpenSSH line, or a .pub file), as
    /// the coordinator gave it: pinned before anything is read, and the
    /// join refused if the registry records another (default: trust the
    /// key refs/orch/keys records, on first use)
    #[arg(long, value_name = "KEY")]
    pub coordinator_key: Option<String>,
}

/// Move worker ID onto the current HEAD (or --onto), its commits replayed
///
/// For a handoff that no longer applies (a conflict with what landed since
/// its base), or a worker that asked (`git worker notify --rebase`). The
/// worker's commits from its base to its branch tip are replayed onto HEAD
/// in memory (`git merge-tree`, merge drivers included; each keeps its
/// author, date and message), then its checkout and branch move there
/// (`git read-tree -m -u` with this repository's config: nothing the
/// worker's checkout configures runs, and no hook). Its contract's base
/// becomes the new commit, recorded as a `rebased` event, the worker goes
/// back to active (it reports again from there), and the contract is
/// judged again on the moved change (exit 1 if broken).
///
/// Its checkout must be clean: uncommitted work is the worker's to commit
/// first. A conflict stops with the commit and the paths, and changes
/// nothing (exit 1); a branch with merge commits is refused.
#[derive(Debug, Args)]
pub struct RebaseArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Where to move it (default: HEAD)
    #[arg(long, value_name = "REV")]
    pub onto: Option<String>,
}

/// Admit the signing key of worker ID, joined on another machine
///
/// `git worker join` makes the worker its own key on the host where it runs
/// and prints it. Until its contract names that key, what the worker signs
/// (its reports, notices, verdicts) does not count anywhere: readers ignore
/// it and a hub refuses it. `admit` records the key in the worker's
/// contract with an `admitted` event signed by the coordinator; sync it to
/// the hub, then the worker syncs and reports. Admitting another key
/// replaces the old one (a lost or leaked key): what the old key signs
/// from then on does not count.
///
/// With --reviewer, ID names a reviewer instead: a person who records
/// verdicts (`git review-gate approve`, `reject`, `run`) from a machine of
/// their own, with the coordinator's authority over verdicts and nothing
/// else. Their key goes into the registry's key record (refs/orch/keys),
/// signed by the coordinator; admitting a name again replaces its key. On
/// the reviewer's machine, `git config orch.coordinatorKey '<the
/// coordinator's public key>'` in their clone makes it trust the
/// coordinator's writes.
#[derive(Debug, Args)]
pub struct AdmitArgs {
    /// Worker id (with --reviewer: the reviewer's name)
    #[arg(value_name = "ID")]
    pub id: String,

    /// The public key: an OpenSSH key line, or the path of its `.pub` file
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Admit a reviewer's key, not a worker's
    #[arg(long)]
    pub reviewer: bool,
}

/// Print the public key this checkout signs registry commits with
///
/// In a joined worker's clone: the worker's key (give it to the
/// coordinator for `git worker admit`). Elsewhere: this user's own key,
/// made on first use under ~/.local/share/git-orch/keys/coordinator/ (the
/// coordinator's key on the coordinator's machine; a reviewer gives it to
/// the coordinator for `git worker admit --reviewer`).
#[derive(Debug, Args)]
pub struct KeyArgs {}

/// In a forge's CI job: check a worker's branch against its signed contract and gate
///
/// For servers that run no hook of git-orch's (GitHub, GitLab, Gitea):
/// fetches the registry (refs/orch/*) from REMOTE into this clone, taking
/// only what its signers were entitled to write, finds the worker whose
/// contract names BRANCH, and checks REV: the registry (a contract the
/// coordinator signed names the branch), the contract (every change since
/// its base is in the paths it allows), the handoff (REV holds what the
/// worker reported) and the gate (the verdicts on that handoff open it
/// under the --require policy). Prints one line per check, or JSON with
/// --json; exits 0 when every check passes, 1 when one fails, 2 on bad
/// input. The coordinator's public key must be given (--coordinator-key,
/// recorded in this clone's orch.coordinatorKey, or set there already):
/// without it a forged registry could not be told from the real one.
/// Ready-made jobs: share/git-orch/ci/github-actions.yml and gitlab-ci.yml.
/// Check out the worker's commit itself (not a merge of it), with history
/// back to the contract's base.
#[derive(Debug, Args)]
pub struct CiCheckArgs {
    /// The worker's branch (default: the pull or merge request's source
    /// branch from GITHUB_HEAD_REF or CI_MERGE_REQUEST_SOURCE_BRANCH_NAME,
    /// else GITHUB_REF_NAME or CI_COMMIT_BRANCH, else the current branch)
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// The commit to check
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    pub rev: String,

    /// Where the registry is
    #[arg(long, value_name = "REMOTE", default_value = "origin")]
    pub remote: String,

    /// The review policy the change must meet: none, verify, approve, both
    #[arg(long, value_name = "POLICY", default_value = "approve")]
    pub require: String,

    /// The coordinator's public key (an OpenSSH line, or a .pub file)
    #[arg(long, value_name = "KEY")]
    pub coordinator_key: Option<String>,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// The contract flags `spawn` and `plan` share.
#[derive(Debug, Clone, Default, Args)]
pub struct ContractArgs {
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

    /// Seconds each verification command may take (default: 600)
    #[arg(long, value_name = "SECONDS")]
    pub verify_timeout: Option<u64>,

    /// Label the worker (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// What the worker is asked to do
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

impl ContractArgs {
    /// The flags, for the library.
    pub fn flags(&self) -> orch::ops::spawn::ContractFlags {
        orch::ops::spawn::ContractFlags {
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            verify: self.verify.clone(),
            require_change: if self.no_require_change {
                Some(false)
            } else if self.require_change {
                Some(true)
            } else {
                None
            },
            verify_timeout: self.verify_timeout,
            labels: self.labels.clone(),
            description: self.description.clone(),
        }
    }
}

/// Print what a worker's agent wrote (its standard output and error)
///
/// The agent's output is kept in .git/orch/agents/<ID>.log (under the
/// common git directory; machine-local, kept after the worker is removed;
/// `git worker show` names it). Each launch appends to it, after a line
/// `=== <time> launch: <command>`. Control characters other than newline
/// and tab are shown escaped (^[), as for all text a worker wrote. Exit 2
/// when the worker is unknown or no agent was launched for it here.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Keep printing what it writes, as it comes, until the agent exits
    ///
    /// Like `tail -f`, but it ends by itself once the supervisor has
    /// recorded the agent's exit (then `agent-exited` follows in the
    /// worker's log), or at once if no agent runs.
    #[arg(long, short)]
    pub follow: bool,
}

/// Start a new agent for an existing worker, supervised as spawn --exec does
///
/// In the worker's checkout, with the same environment, sandbox and
/// supervisor as an agent started by `spawn --exec`: a `launched` event,
/// then `agent-exited` (and `stalled` after orch.stallAfter seconds of no
/// activity). The command is --exec, or the command line of the preset
/// --agent names, else the preset or command its last agent ran; with
/// --resume, the preset's command continuing the session its last agent
/// printed (refused, exit 2, when no session id is recorded or the preset
/// cannot resume). The prompt is rendered again, from --prompt-template or
/// the default, for the worker's contract as it is now. The output is appended to the same log
/// (.git/orch/agents/<ID>.log, see `git worker output`), after a line
/// `=== <time> launch: <command>`. Refused (exit 2, nothing started) while
/// the worker's agent still runs.
#[derive(Debug, Args)]
pub struct RelaunchArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,

    /// Run this agent command (sh -c) instead of the one last launched
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["agent", "resume"])]
    pub exec: Option<String>,

    /// Run this agent preset (see `git worker spawn --agent`)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Continue the session the worker's last agent printed, with its CLI's own resume flag
    #[arg(long)]
    pub resume: bool,

    /// Run the agent on a pseudo-terminal (its output still goes to its log)
    #[arg(long)]
    pub tty: bool,

    /// Render this template as the agent's prompt (default: share/git-worker/prompt.md)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub prompt_template: Option<PathBuf>,
}

/// Run a worker's agent and watch it (started by `spawn --exec`)
#[derive(Debug, Args)]
pub struct AgentRunArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Run a program in the sandbox (used by sandboxed agents and verification)
///
/// Restricts this process (Landlock: writes only beneath each --write;
/// no new privileges; no capabilities; with --network off no TCP and no
/// socket but unix ones) and then becomes PROGRAM. Exit 125 when the
/// sandbox cannot be made: nothing ran.
#[derive(Debug, Args)]
pub struct SandboxExecArgs {
    /// A directory (or file) the program may write beneath (repeatable)
    #[arg(long = "write", value_name = "PATH")]
    pub write: Vec<std::path::PathBuf>,

    /// Whether the program may use the network
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    pub network: String,

    /// Let it connect to unix sockets on disk outside where the kernel
    /// cannot govern them (orch.sandbox.unixSockets)
    #[arg(long)]
    pub unix_sockets: bool,

    /// The program and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<std::ffi::OsString>,
}

/// Show every worker at a glance: state, agent, activity, changes, messages, verdicts, warnings
///
/// Warns about blocked workers (with their reason), stalled agents (alive,
/// but no activity for orch.stallAfter seconds: no event, commit, change in
/// the checkout or agent output), agents gone without a handoff, and
/// overlaps (a file changed by two live workers). With --watch it redraws
/// until interrupted; colours only on a terminal.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Redraw on every registry change, and at least every --interval seconds
    #[arg(long)]
    pub watch: bool,

    /// Seconds between redraws with --watch
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = orch::watch::parse_seconds)]
    pub interval: std::time::Duration,

    /// Seconds without activity after which a running agent is stalled (default: orch.stallAfter, 900)
    #[arg(long, value_name = "SECONDS")]
    pub stall_after: Option<u64>,

    /// Print JSON
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
    #[arg(long, value_name = "STATE", value_parser = ["spawning", "active", "blocked", "reported", "applied", "rejected"])]
    pub state: Option<String>,

    /// Only workers with this label (repeatable; all must match)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Skip the status of each checkout and its agent (DIRTY shows "-"): read only refs and the registry
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

    /// Why it goes (abandoned, superseded...), kept in its history
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
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

    /// Repair what can be repaired: reinstall missing or outdated worker
    /// hooks, and remove debris as `git worker prune` does
    #[arg(long)]
    pub fix: bool,
}

/// Check what workers changed against their contracts; exit 1 on violations
///
/// Judges everything worker ID has changed since its base, whatever the
/// hooks saw: the commits on its branch and, when its checkout is on this
/// machine, staged, unstaged and untracked files there. Each path (both
/// sides of a rename, deletions, mode changes, symlinks and their targets,
/// submodules) must match an allowed glob (if there are any) and no denied
/// glob. Without ID: the worker whose checkout this is, else every worker.
///
/// The contract is the coordinator's: when the one in the registry differs
/// from what this coordinator recorded at spawn (after a fetch, say), the
/// difference is reported and the recorded one is used.
///
/// GLOBS are gitignore-like, relative to the repository root: a pattern
/// without '/' matches at any depth ('*.md'); one with '/' is anchored
/// ('src/auth/**'); '*' stays within a directory, '**' crosses them; a
/// pattern also covers everything below what it names ('docs/' = 'docs/**'
/// at any depth). Denied globs win over allowed ones.
///
/// Exit 0 when every path keeps the contract, 1 when some do not (each is
/// listed with the rule it breaks), 2 on error.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Worker id
    #[arg(value_name = "ID")]
    pub id: Option<String>,

    /// Judge the changes between two commits instead (A..B) by ID's contract
    #[arg(long, value_name = "A..B")]
    pub range: Option<String>,

    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Run a git hook (the shims in hooks/ call this)
///
/// pre-commit (and pre-merge-commit, for merges): in a worker's checkout,
/// refuses a commit whose staged paths leave the worker's contract, naming
/// each path, the globs and what to do; then runs the repository's own hook
/// of that name. Cherry-picks, reverts and plumbing run no such hook: `git
/// worker check` and a hub's pre-receive catch them. pre-receive: in a shared
/// repository, refuses pushes of worker branches whose changes since their
/// base leave the contract, worker branches without a contract, and any
/// update under refs/orch/ that rewrites history or deletes a worker's log;
/// then runs the repository's own pre-receive hook. Any other NAME runs the
/// repository's own hook of that name (from core.hooksPath set outside the
/// worktree, else .git/hooks), so a worker's checkout keeps the
/// repository's hooks.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// Hook name, as git calls it
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Arguments git passed to the hook
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,
}

/// Shared (hub) repositories that enforce contracts on push
#[derive(Debug, Args)]
pub struct HubArgs {
    #[command(subcommand)]
    pub command: HubCommand,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    Init(HubInitArgs),
    Rules(HubRulesArgs),
}

/// Print the per-user rules a git server needs to enforce each worker's scope
///
/// By default prints a gitolite.conf fragment for the hub repository,
/// from the contracts of the live workers: the coordinator's user may push
/// anything (RW+); each worker's user may push its own branch, its own log
/// (refs/orch/workers/<id>) and its own handoffs (refs/orch/handoffs/<id>),
/// without rewinding or deleting them, and read everything; anything else
/// falls through to gitolite's deny. Run it again after spawning or
/// removing workers and push the result in gitolite-admin. A worker's
/// server user is its id unless --user maps it. The signatures of the
/// registry hold without these rules (a hub refuses, and every reader
/// ignores, what a worker was not entitled to sign); the rules add that a
/// worker cannot even write another worker's refs.
///
/// For forges that run no hook: --format github prints two repository
/// rulesets (worker branches: no deletion, no force push; the default
/// branch: pull requests only, with the `ci-check` job of
/// share/git-orch/ci/github-actions.yml required), the bodies of
/// `POST /repos/{owner}/{repo}/rulesets`; --format gitea prints a branch
/// protection per worker (only its user pushes, every file protected but
/// the paths its contract allows, `ci-check` required), the bodies of
/// `POST /repos/{owner}/{repo}/branch_protections`.
#[derive(Debug, Args)]
pub struct HubRulesArgs {
    /// The repository's name on the server
    #[arg(long, value_name = "NAME", default_value = "hub")]
    pub repo: String,
    /// The server user the coordinator pushes as
    #[arg(long, value_name = "USER", default_value = "coordinator")]
    pub coordinator: String,
    /// The server user worker ID pushes as (repeatable; default: its id)
    #[arg(long = "user", value_name = "ID=USER")]
    pub users: Vec<String>,

    /// What to print: a gitolite.conf fragment, a GitHub ruleset (JSON),
    /// or Gitea/Forgejo branch protections (JSON)
    #[arg(long, value_name = "FORMAT", default_value = "gitolite", value_parser = ["gitolite", "github", "gitea"])]
    pub format: String,
}

/// Prepare a bare repository as a hub: its pre-receive hook enforces contracts
///
/// Creates the bare repository at PATH if needed, installs the hub hooks
/// (pre-receive enforcing worker contracts and an append-only refs/orch/,
/// chaining to the repository's own hooks, including a core.hooksPath it
/// had, kept in orch.chainedHooksPath) through core.hooksPath, records the
/// worker branch prefix of the coordinator it runs in (orch.prefix), sets
/// receive.fsckObjects, core.logAllRefUpdates=always (a reflog of every
/// ref update, to audit and recover from), gc.auto=1000,
/// gc.autoPackLimit=20 and gc.packRefs (the many small pushes get packed),
/// and prints the URL to add as a remote. Send the registry to it with
/// `git worker sync <remote>` before workers push their branches: a worker
/// branch without a contract is refused.
#[derive(Debug, Args)]
pub struct HubInitArgs {
    /// Where the bare repository is (or goes)
    #[arg(value_name = "PATH", value_hint = ValueHint::DirPath)]
    pub path: PathBuf,
}
