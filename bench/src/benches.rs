//! The benchmarks: what `git worker` does, next to what plain git does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::env::{Cmd, Env, quote};
use crate::measure::{SEQ, Stats, Variant, measure};
use crate::repo::{self, MAX_EDIT_FILES, Subject};

pub const NAMES: &[&str] = &[
    "spawn",
    "list",
    "rm",
    "hook",
    "handoff",
    "review-gate",
    "sandbox",
    "sync",
    "signing",
];

/// Files in the repository the list benchmark spawns its workers in.
pub const LIST_REPO_FILES: usize = 20;
/// Ids per `git worker spawn` call when building the list benchmark's workers.
const SPAWN_BATCH: usize = 100;

/// A row of the report: our variant against git's (or, in the sandbox
/// benchmark, a sandboxed variant against its unsandboxed baseline), with a
/// target: a ratio (`target`) or a time added (`target_added_ms`, on the
/// difference of the medians); neither: for information only.
#[derive(Clone)]
pub struct Row {
    /// What the row measures, the same at every size (for the growth table).
    pub key: String,
    pub benchmark: String,
    pub ours: String,
    pub git: String,
    pub target: Option<f64>,
    /// At most this many milliseconds added: ours median - git median.
    pub target_added_ms: Option<f64>,
}

/// A row comparing ours with a peer tool doing the same work, and both with git.
#[derive(Clone)]
pub struct PeerRow {
    pub key: String,
    pub benchmark: String,
    /// The peer's name, e.g. `wt`.
    pub peer_name: String,
    pub ours: String,
    pub peer: String,
    pub git: String,
}

/// What a benchmark measured.
#[derive(Clone, Default)]
pub struct Outcome {
    pub variants: Vec<Variant>,
    pub stats: Vec<Stats>,
    pub rows: Vec<Row>,
    pub peer_rows: Vec<PeerRow>,
    /// Extra facts for the report (`name`, `value`).
    pub facts: Vec<(String, String)>,
}

impl Outcome {
    fn add(&mut self, variants: Vec<Variant>, stats: Vec<Stats>) {
        self.variants.extend(variants);
        self.stats.extend(stats);
    }

    fn row(&mut self, key: &str, benchmark: &str, ours: &str, git: &str, target: Option<f64>) {
        self.rows.push(Row {
            key: key.to_string(),
            benchmark: benchmark.to_string(),
            ours: ours.to_string(),
            git: git.to_string(),
            target,
            target_added_ms: None,
        });
    }

    /// A row whose target is a time added: at most `max_ms` milliseconds
    /// more than the baseline (difference of the medians).
    fn row_added(&mut self, key: &str, benchmark: &str, ours: &str, git: &str, max_ms: f64) {
        self.rows.push(Row {
            key: key.to_string(),
            benchmark: benchmark.to_string(),
            ours: ours.to_string(),
            git: git.to_string(),
            target: None,
            target_added_ms: Some(max_ms),
        });
    }

    fn peer(
        &mut self,
        key: &str,
        benchmark: &str,
        peer: &str,
        ours: &str,
        theirs: &str,
        git: &str,
    ) {
        self.peer_rows.push(PeerRow {
            key: key.to_string(),
            benchmark: benchmark.to_string(),
            peer_name: peer.to_string(),
            ours: ours.to_string(),
            peer: theirs.to_string(),
            git: git.to_string(),
        });
    }

    fn fact(&mut self, name: &str, value: impl Into<String>) {
        self.facts.push((name.to_string(), value.into()));
    }

    /// Everything `other` measured, after what this one did.
    pub fn extend(&mut self, other: Outcome) {
        self.variants.extend(other.variants);
        self.stats.extend(other.stats);
        self.rows.extend(other.rows);
        self.peer_rows.extend(other.peer_rows);
        self.facts.extend(other.facts);
    }

    /// The median of a variant's samples.
    pub fn median(&self, key: &str) -> f64 {
        self.stats
            .iter()
            .find(|s| s.key == key)
            .map_or(f64::NAN, Stats::median)
    }
}

/// `n` with thousands separated by commas: 1,000.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Clone)]
pub struct Settings {
    /// Use the same worker id (`w`) and branch (`x`) in every run instead of
    /// a new one per run (see `ids`).
    pub reuse_id: bool,
    pub warmup: usize,
    pub runs: usize,
    pub workers: usize,
    /// Workers of each coordinator in the sync benchmark.
    pub sync_workers: usize,
    /// worktrunk, the peer for spawn and rm, when installed.
    pub wt: Option<Peer>,
    /// Spawn the list benchmark's workers without hiding the earlier ones'
    /// worktrees from git (slow: see `spawn_many_hidden`).
    pub plain_list_setup: bool,
}

/// worktrunk's `wt`: a Rust worktree manager for parallel agents, the peer
/// for spawn and rm. It runs with a config file of its own (no user or
/// system config), which puts its worktrees where ours go.
#[derive(Clone)]
pub struct Peer {
    pub path: PathBuf,
    pub version: String,
    /// Its user config (`WORKTRUNK_CONFIG_PATH`).
    pub config: PathBuf,
}

/// worktrunk's user config: worktrees in `<repo>.worktrees/<branch>`, where
/// `git worker spawn` puts its checkouts.
pub const WT_CONFIG: &str =
    "worktree-path = \"{{ repo_path }}/../{{ repo }}.worktrees/{{ branch | sanitize }}\"\n";

impl Peer {
    pub fn describe(&self) -> String {
        format!(
            "{} ({}; config {}, no system config, --no-hooks --yes)",
            self.version,
            self.path.display(),
            self.config.display()
        )
    }

    fn cmd(&self, dir: &Path, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::new(dir, [self.path.display().to_string()]);
        cmd.argv.extend(args.iter().map(|a| a.to_string()));
        let none = self.config.with_file_name("worktrunk-system-none.toml");
        cmd.env("WORKTRUNK_CONFIG_PATH", self.config.display().to_string())
            .env("WORKTRUNK_SYSTEM_CONFIG_PATH", none.display().to_string())
    }
}

/// The worker id and git branch name each run of spawn and rm uses. By
/// default a new pair per run (`w1`, `x1`, `w2`, ...): `git worker rm`
/// archives a worker under a ref named after its last event commit, and
/// spawning and removing the same id with the same contract twice within one
/// second produces the same commit, so the second rm waits (up to a second)
/// for the clock to tick. That is a real cost of reusing an id at once, but
/// not the cost of rm; `--reuse-id` measures it.
fn ids(s: &Settings) -> (String, String) {
    if s.reuse_id {
        ("w".to_string(), "x".to_string())
    } else {
        (format!("w{SEQ}"), format!("x{SEQ}"))
    }
}

/// Where `git worker spawn` puts checkouts by default: `../<repo>.worktrees`.
fn worktree_root(repo: &Path) -> Result<PathBuf> {
    let name = repo
        .file_name()
        .context("repository path has no name")?
        .to_string_lossy();
    let parent = repo.parent().context("repository path has no parent")?;
    Ok(parent.join(format!("{name}.worktrees")))
}

fn worker(repo: &Path, args: &[&str]) -> Cmd {
    Cmd::git(repo, std::iter::once("worker").chain(args.iter().copied()))
}

/// spawn: `git worker spawn` against `git worktree add -b`.
pub fn spawn(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let base = subject.base.as_str();
    let (w, x) = ids(s);
    let path = worktree_root(repo)?.join(&x).display().to_string();
    let git_cleanup = vec![
        Cmd::git(repo, ["worktree", "remove", "--force", &path]),
        Cmd::git(repo, ["branch", "-D", &x]),
    ];
    let variants = vec![
        Variant::new(
            "spawn/ours",
            vec![worker(repo, &["spawn", &w, "--base", base])],
        )
        .cleanup(vec![worker(repo, &["rm", "--force", &w])]),
        Variant::new(
            "spawn/git",
            vec![Cmd::git(repo, ["worktree", "add", "-b", &x, &path, base])],
        )
        .cleanup(git_cleanup.clone()),
        Variant::new(
            "spawn/git-workers0",
            vec![Cmd::git(
                repo,
                [
                    "-c",
                    "checkout.workers=0",
                    "worktree",
                    "add",
                    "-b",
                    &x,
                    &path,
                    base,
                ],
            )],
        )
        .cleanup(git_cleanup.clone()),
    ];
    let mut variants = variants;
    if let Some(wt) = &s.wt {
        variants.push(
            Variant::new(
                "spawn/wt",
                vec![wt.cmd(
                    repo,
                    &[
                        "switch",
                        "--create",
                        &x,
                        "--base",
                        base,
                        "--no-cd",
                        "--no-hooks",
                        "--yes",
                    ],
                )],
            )
            .cleanup(git_cleanup),
        );
    }
    eprintln!("spawn: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row("spawn", "spawn", "spawn/ours", "spawn/git", Some(1.0));
    if s.wt.is_some() {
        out.peer(
            "spawn-wt",
            "spawn",
            "wt",
            "spawn/ours",
            "spawn/wt",
            "spawn/git",
        );
        no_branches_left(env, repo, "spawn")?;
    }
    out.row(
        "spawn-workers0",
        "spawn vs checkout.workers=0 (info)",
        "spawn/ours",
        "spawn/git-workers0",
        None,
    );
    Ok(())
}

/// Every run removed the branch it made (`x{n}`, the peer's too), or the
/// figures compare unequal work.
fn no_branches_left(env: &Env, repo: &Path, bench: &str) -> Result<()> {
    let left = env.read(&Cmd::git(
        repo,
        ["for-each-ref", "--format=%(refname:short)", "refs/heads/x*"],
    ))?;
    if !left.trim().is_empty() {
        bail!(
            "{bench}: branches left behind: {}",
            left.split_whitespace().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// rm: `git worker rm` against `git worktree remove --force` + `git branch -D`.
pub fn rm(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let base = subject.base.as_str();
    let (w, x) = ids(s);
    let path = worktree_root(repo)?.join(&x).display().to_string();
    let ours_prepare = vec![worker(repo, &["spawn", &w, "--base", base])];
    // The same checkout as spawn makes (it passes checkout.workers=0 too).
    let git_prepare = vec![Cmd::git(
        repo,
        [
            "-c",
            "checkout.workers=0",
            "worktree",
            "add",
            "--quiet",
            "-b",
            &x,
            &path,
            base,
        ],
    )];
    let branch_d = Cmd::git(repo, ["branch", "-D", &x]);
    let variants = vec![
        Variant::new("rm/ours", vec![worker(repo, &["rm", &w])]).prepare(ours_prepare.clone()),
        Variant::new("rm/ours-force", vec![worker(repo, &["rm", "--force", &w])])
            .prepare(ours_prepare),
        Variant::new(
            "rm/git",
            vec![
                Cmd::git(repo, ["worktree", "remove", "--force", &path]),
                branch_d.clone(),
            ],
        )
        .prepare(git_prepare.clone()),
        Variant::new(
            "rm/git-checked",
            vec![Cmd::git(repo, ["worktree", "remove", &path]), branch_d],
        )
        .prepare(git_prepare.clone()),
    ];
    let mut variants = variants;
    if let Some(wt) = &s.wt {
        // The same checkout and branch as git's; wt deletes the branch
        // because it is merged (it is at the base).
        variants.push(
            Variant::new(
                "rm/wt",
                vec![wt.cmd(repo, &["remove", &x, "--foreground", "--no-hooks", "--yes"])],
            )
            .prepare(git_prepare),
        );
    }
    eprintln!("rm: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row("rm", "rm", "rm/ours", "rm/git", Some(1.1));
    out.row(
        "rm-force",
        "rm --force (info)",
        "rm/ours-force",
        "rm/git",
        None,
    );
    if s.wt.is_some() {
        out.peer("rm-wt", "rm", "wt", "rm/ours", "rm/wt", "rm/git");
        no_branches_left(env, repo, "rm")?;
    }
    out.row(
        "rm-checked",
        "rm vs checked remove (info)",
        "rm/ours",
        "rm/git-checked",
        None,
    );
    Ok(())
}

/// hook: a commit in a worker's checkout, where the pre-commit hook checks
/// the staged paths against the contract, against the same commit with
/// hooks switched off; one file and up to 1,000 files.
pub fn hook(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let id = "hookbench";
    let mut spawn = vec!["spawn", id, "--base", &subject.base];
    let contract = subject.contract_args();
    spawn.extend(contract.iter().map(String::as_str));
    env.run(&worker(repo, &spawn))?;
    let root = worktree_root(repo)?;
    let wt = root.join(id);
    let many = subject.edits(MAX_EDIT_FILES).len();
    let mut counts = vec![1usize];
    if many > 1 {
        counts.push(many);
    }
    let mut variants = Vec::new();
    for &count in &counts {
        let list = root.join(format!("hook-{count}.list"));
        repo::write_list(&list, subject.edits(count))?;
        // Change and stage the files (untimed), commit (timed), undo (untimed).
        let prepare = vec![sh(&wt, &append_and_stage(&list, "change"))];
        let cleanup = vec![Cmd::git(&wt, ["reset", "--quiet", "--hard", "HEAD~1"])];
        variants.push(
            Variant::new(
                &format!("hook/ours-{count}"),
                vec![Cmd::git(&wt, ["commit", "--quiet", "-m", "bench"])],
            )
            .prepare(prepare.clone())
            .cleanup(cleanup.clone()),
        );
        variants.push(
            Variant::new(
                &format!("hook/none-{count}"),
                vec![Cmd::git(
                    &wt,
                    [
                        "-c",
                        "core.hooksPath=/dev/null",
                        "commit",
                        "--quiet",
                        "-m",
                        "bench",
                    ],
                )],
            )
            .prepare(prepare)
            .cleanup(cleanup),
        );
    }
    eprintln!("hook: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row(
        "hook-1",
        "hook, 1-file commit",
        "hook/ours-1",
        "hook/none-1",
        None,
    );
    if many > 1 {
        out.row(
            "hook-many",
            &format!("hook, {}-file commit", thousands(many)),
            &format!("hook/ours-{many}"),
            &format!("hook/none-{many}"),
            Some(1.2),
        );
    }
    out.fact(
        "hook target",
        "1-file commit: at most 5 ms added (absolute difference of the medians above)",
    );
    env.run(&worker(repo, &["rm", "--force", id]))?;
    Ok(())
}

/// A shell command that appends a line `text` to each file listed
/// (NUL-separated) in `list` and stages them, in the current directory.
fn append_and_stage(list: &Path, text: &str) -> String {
    let list = quote(&list.display().to_string());
    format!(
        "xargs -0 sh -c 'for f do echo {text} >> \"$f\"; done' sh < {list} && \
         git --literal-pathspecs add --pathspec-from-file={list} --pathspec-file-nul"
    )
}

fn sh(dir: &Path, script: &str) -> Cmd {
    Cmd::new(
        dir,
        ["sh".to_string(), "-c".to_string(), script.to_string()],
    )
}

/// handoff: on a change of up to 1,000 modified files and 5 new ones,
/// `git handoff report` against the plain git pipeline doing the same work
/// (temporary index, `add -A`, `diff --cached --stat`, `diff --cached
/// --binary`); `git handoff apply` without verification against `git apply
/// --3way --index` + `git commit`; and a failed apply's rollback against
/// `git reset --hard` + `git clean`.
pub fn handoff(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let base = subject.base.as_str();
    let root = worktree_root(repo)?;
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create '{}'", root.display()))?;
    let changed = subject.edits(MAX_EDIT_FILES).len();
    let list = root.join("handoff.list");
    repo::write_list(&list, subject.edits(MAX_EDIT_FILES))?;
    let new_dir = quote(&subject.new_dir);
    let edit = format!(
        "xargs -0 sh -c 'for f do echo changed >> \"$f\"; done' sh < {} && \
         mkdir -p {new_dir} && for n in 1 2 3 4 5; do echo new > {new_dir}/n$n.txt; done",
        quote(&list.display().to_string())
    );
    let contract = subject.contract_args();
    // Two workers with the same change: one whose verification passes (none),
    // one whose verification fails, to measure the rollback.
    for (id, verify) in [("hok", None), ("hfail", Some("false"))] {
        let mut spawn = vec!["spawn", id, "--base", base];
        spawn.extend(contract.iter().map(String::as_str));
        if let Some(command) = verify {
            spawn.extend(["--verify", command]);
        }
        env.run(&worker(repo, &spawn))?;
        let wt = root.join(id);
        env.run(&sh(&wt, &edit))?;
        // A `git status`, as an agent usually runs one (see
        // `repo::settle_index`: otherwise the report's timing depends on
        // where a second boundary fell during the checkout, 350 to 800 ms
        // at 20,000 files).
        repo::settle_index(env, &wt)?;
        env.run(&Cmd::git(&wt, ["handoff", "report", "--summary", "bench"]))?;
    }
    let wt = root.join("hok");
    let index = repo.join(".git/worktrees/hok/index").display().to_string();
    let patch = root.join("hok.patch").display().to_string();
    env.run(&sh(
        repo,
        &format!("git handoff show hok --patch > '{patch}'"),
    ))?;
    let undo_commit = vec![Cmd::git(repo, ["reset", "--quiet", "--hard", "HEAD~1"])];
    let variants = vec![
        Variant::new(
            "handoff/report-ours",
            vec![Cmd::git(&wt, ["handoff", "report", "--summary", "bench"])],
        ),
        // The copy keeps the index's time (`cp -p`), as `git handoff
        // report` does: files written in the same second as the index are
        // "racily clean", and a copy with a newer time would make git trust
        // their stat data (and miss a same-size edit).
        Variant::new(
            "handoff/report-git",
            vec![sh(
                &wt,
                &format!(
                    "t=$(mktemp) && cp -p '{index}' \"$t\" && GIT_INDEX_FILE=\"$t\" git add -A && \
                     GIT_INDEX_FILE=\"$t\" git diff --cached --stat --summary {base} >/dev/null && \
                     GIT_INDEX_FILE=\"$t\" git diff --cached --binary --full-index {base} >/dev/null; rm -f \"$t\""
                ),
            )],
        ),
        // Cleanup undoes the commit and records a rejection, so the next
        // round applies again (applying an applied handoff is a no-op); the
        // same reviewer's approval then lifts the rejection's hold on the
        // review gate.
        Variant::new(
            "handoff/apply-ours",
            vec![Cmd::git(repo, ["handoff", "apply", "hok"])],
        )
        .cleanup(vec![
            undo_commit[0].clone(),
            Cmd::git(
                repo,
                ["handoff", "reject", "hok", "--reason", "bench: again"],
            ),
            Cmd::git(repo, ["review-gate", "approve", "hok"]),
        ]),
        Variant::new(
            "handoff/apply-git",
            vec![
                Cmd::git(repo, ["apply", "--3way", "--index", &patch]),
                Cmd::git(repo, ["commit", "--quiet", "-m", "bench"]),
            ],
        )
        .cleanup(undo_commit),
        // Apply, verification fails, rollback: ours does it all in one command.
        Variant::new(
            "handoff/fail-ours",
            vec![Cmd::git(repo, ["handoff", "apply", "hfail"]).allow_failure()],
        ),
        Variant::new(
            "handoff/rollback-git",
            vec![
                Cmd::git(repo, ["reset", "--quiet", "--hard", "HEAD~1"]),
                Cmd::git(repo, ["clean", "--quiet", "-fd"]),
            ],
        )
        .prepare(vec![
            Cmd::git(repo, ["apply", "--3way", "--index", &patch]),
            Cmd::git(repo, ["commit", "--quiet", "-m", "bench"]),
        ]),
    ];
    eprintln!("handoff: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    let files = format!("{} files", thousands(changed + 5));
    out.row(
        "report",
        &format!("handoff report, {files}"),
        "handoff/report-ours",
        "handoff/report-git",
        Some(1.0),
    );
    out.row(
        "apply",
        &format!("handoff apply (no verify), {files}"),
        "handoff/apply-ours",
        "handoff/apply-git",
        Some(1.1),
    );
    out.row(
        "apply-rollback",
        "apply + rollback vs apply+commit (info)",
        "handoff/fail-ours",
        "handoff/apply-git",
        None,
    );
    out.row(
        "rollback-git",
        "git's own rollback (reset --hard + clean)",
        "handoff/rollback-git",
        "handoff/rollback-git",
        None,
    );
    let rollback_ours = out.median("handoff/fail-ours") - out.median("handoff/apply-ours");
    let rollback_git = out.median("handoff/rollback-git");
    out.fact(
        "rollback",
        format!(
            "ours = (apply + rollback) - apply = {:.1} ms, git's reset --hard + clean {:.1} ms: \
             ratio {:.2}, target <= 1.1",
            rollback_ours,
            rollback_git,
            rollback_ours / rollback_git
        ),
    );
    out.fact(
        "handoff change",
        format!(
            "{} modified files and 5 new ones in {}, uncommitted, in each worker's checkout",
            thousands(changed),
            subject.new_dir
        ),
    );
    Ok(())
}

/// review-gate: `git review-gate run` of a worker whose verification is
/// `true` and whose reported change is one modified file, against the plain
/// git commands doing the same checkout work: `git worktree add --detach`
/// of a commit of the reported tree into $TMPDIR, `sh -c true` in it, `git
/// worktree remove --force`. Ours also makes that commit, takes the lock,
/// and records a verdict (a note) and a registry event; each run appends a
/// verdict to the same note.
pub fn review_gate(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let id = "gatebench";
    // $TMPDIR for both: a directory in the scratch directory, so that both
    // check out on the filesystem being measured (not the system's /tmp).
    let tmp = repo
        .parent()
        .context("repository path has no parent")?
        .join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create '{}'", tmp.display()))?;
    let mut spawn = vec!["spawn", id, "--base", &subject.base];
    let contract = subject.contract_args();
    spawn.extend(contract.iter().map(String::as_str));
    spawn.extend(["--verify", "true"]);
    env.run(&worker(repo, &spawn))?;
    let wt = worktree_root(repo)?.join(id);
    let file = subject.edits(1).first().context("no file to change")?;
    env.run(&sh(
        &wt,
        &format!("echo 'review-gate bench' >> {}", quote(file)),
    ))?;
    env.run(&Cmd::git(&wt, ["handoff", "report", "--summary", "bench"]))?;
    // The commit plain git checks out: the reported tree on its base, as
    // `run` makes it (made here once, untimed).
    let commit = reported_commit(env, repo, id)?;

    let path = tmp.join(format!("x{SEQ}")).display().to_string();
    let in_checkout = sh(Path::new(&path), "true");
    let tmpdir = tmp.display().to_string();
    let variants = vec![
        Variant::new(
            "review-gate/ours",
            vec![Cmd::git(repo, ["review-gate", "run", id]).env("TMPDIR", tmpdir)],
        ),
        Variant::new(
            "review-gate/git",
            vec![
                Cmd::git(repo, ["worktree", "add", "--detach", &path, &commit]),
                in_checkout.clone(),
                Cmd::git(repo, ["worktree", "remove", "--force", &path]),
            ],
        ),
        // The git commands for the checkout `run` itself makes: a new
        // repository borrowing the objects, so the code verified cannot
        // touch the repository's refs or config.
        Variant::new(
            "review-gate/git-same",
            [
                scratch_checkout(repo, &tmp, &path, &commit),
                vec![in_checkout, sh(&tmp, &format!("rm -rf '{path}'"))],
            ]
            .concat(),
        ),
    ];
    eprintln!("review-gate: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row(
        "review-gate",
        "review-gate run, 1-file change",
        "review-gate/ours",
        "review-gate/git",
        None,
    );
    out.row(
        "review-gate-same",
        "review-gate vs its own git calls (info)",
        "review-gate/ours",
        "review-gate/git-same",
        None,
    );
    // Every run removed its checkout, and recorded its verdict.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .with_context(|| format!("cannot read '{}'", tmp.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    if !left.is_empty() {
        bail!(
            "review-gate: checkouts left in '{}': {}",
            tmp.display(),
            left.join(", ")
        );
    }
    let status: serde_json::Value =
        serde_json::from_str(&env.read(&Cmd::git(repo, ["review-gate", "status", id, "--json"]))?)
            .context("`git review-gate status --json` printed invalid JSON")?;
    let verdicts = status["verdicts"].as_array().map_or(0, |all| {
        all.iter()
            .filter(|v| {
                v["ruling"] == "pass" && v["fingerprint"] == status["change"]["fingerprint"]
            })
            .count()
    });
    if verdicts != s.warmup + s.runs {
        bail!(
            "review-gate: {verdicts} pass verdicts recorded, expected {} (one per run)",
            s.warmup + s.runs
        );
    }
    out.fact(
        "review-gate",
        format!(
            "worker '{id}' (verify: true), 1 file changed; {verdicts} pass verdicts recorded by the end (one per run, warm-up included)"
        ),
    );
    env.run(&worker(repo, &["rm", "--force", id]))?;
    Ok(())
}

/// Whether `id` is one of the per-run worker ids of [`ids`]: `w`, `w1`, `w2`, ...
fn is_run_id(id: &str) -> bool {
    id.strip_prefix('w')
        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
}

/// Every run removed the worker it spawned (`w{n}`): no registry entry,
/// no branch, no checkout left, or the figures compare unequal work.
fn no_workers_left(env: &Env, repo: &Path, bench: &str) -> Result<()> {
    let listed: serde_json::Value =
        serde_json::from_str(&env.read(&worker(repo, &["list", "--json", "--no-status"]))?)
            .context("`git worker list --json` printed invalid JSON")?;
    let mut left: Vec<String> = listed["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["id"].as_str())
        .filter(|id| is_run_id(id))
        .map(|id| format!("worker {id}"))
        .collect();
    let branches = env.read(&Cmd::git(
        repo,
        ["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    ))?;
    left.extend(
        branches
            .lines()
            .filter(|b| is_run_id(b.rsplit('/').next().unwrap_or(b)))
            .map(|b| format!("branch {b}")),
    );
    if let Ok(entries) = std::fs::read_dir(worktree_root(repo)?) {
        left.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| is_run_id(name))
                .map(|name| format!("checkout {name}")),
        );
    }
    if !left.is_empty() {
        bail!("{bench}: left behind: {}", left.join(", "));
    }
    Ok(())
}

/// The commit of a reported worker's tree on its base, as `git review-gate
/// run` and `git handoff apply` check it out (made here once, untimed).
fn reported_commit(env: &Env, repo: &Path, id: &str) -> Result<String> {
    let shown: serde_json::Value =
        serde_json::from_str(&env.read(&Cmd::git(repo, ["handoff", "show", id, "--json"]))?)
            .context("`git handoff show --json` printed invalid JSON")?;
    let field = |name: &str| -> Result<String> {
        shown["handoff"][name]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("`git handoff show {id} --json` has no handoff.{name}"))
    };
    let (tree, base) = (field("tree")?, field("base")?);
    Ok(env
        .read(&Cmd::git(
            repo,
            ["commit-tree", &tree, "-p", &base, "-m", "bench"],
        ))?
        .trim()
        .to_string())
}

/// The number of `kind` events in the log of worker `id`.
fn events(env: &Env, repo: &Path, id: &str, kind: &str) -> Result<usize> {
    let log = env.read(&worker(repo, &["log", id]))?;
    Ok(log
        .lines()
        .filter(|line| line.split_whitespace().nth(3) == Some(kind))
        .count())
}

/// sandbox: what sandboxing a worker costs, each against the same work
/// unsandboxed, in the same run (the "git" column is the baseline):
///
/// 1. `git worker spawn --sandbox --exec true` (its own clone, objects
///    borrowed through alternates, the agent in the sandbox) against
///    `spawn --no-sandbox --exec true` (a linked worktree), until spawn
///    returns;
/// 2. one commit in a sandboxed worker's clone against one in a plain
///    worker's worktree (the pre-commit hook checks the contract in both),
///    and, for information, the same commit run through `git-worker
///    sandbox-exec` in the clone (the sandbox's own cost per command);
/// 3. `git review-gate run` verifying in a sandboxed scratch checkout (the
///    default) against the same scratch checkout unsandboxed
///    (`orch.verify.inPlace`, which `run` honours by checking out without
///    the sandbox), and, for information, `git handoff apply` verifying in
///    a sandboxed scratch checkout against verifying in the coordinator's
///    own checkout, next to the scratch checkout alone (plain git).
pub fn sandbox(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let base = subject.base.as_str();
    let root = worktree_root(repo)?;
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create '{}'", root.display()))?;
    let root_s = root.display().to_string();
    // Without the sandbox (no Landlock) there is nothing to measure:
    // `sandbox-exec` exits 125 and `spawn --sandbox` refuses.
    let probe = Cmd::new(
        repo,
        [
            "git-worker",
            "sandbox-exec",
            "--write",
            &root_s,
            "--network",
            "off",
            "--",
            "true",
        ],
    );
    if let Err(err) = env.run(&probe) {
        let why = format!("{err:#}");
        let why = why.lines().next().unwrap_or_default().to_string();
        eprintln!("sandbox: skipped, this machine cannot make the sandbox");
        out.fact(
            "sandbox",
            format!("skipped: this machine cannot make the sandbox (`git worker doctor` says why): {why}"),
        );
        return Ok(());
    }

    // 1. spawn. The cleanup waits for the agent (`true`) to have exited,
    // so that its supervisor does not run during the next timed command,
    // then removes the worker as the spawn benchmark does.
    let (w, _) = ids(s);
    let spawn = |flag: &str| worker(repo, &["spawn", &w, "--base", base, flag, "--exec", "true"]);
    let cleanup = vec![
        worker(repo, &["wait", &w, "--until", "exited", "--timeout", "30"]),
        worker(repo, &["rm", "--force", &w]),
    ];
    let variants = vec![
        Variant::new("sandbox/spawn-sandboxed", vec![spawn("--sandbox")]).cleanup(cleanup.clone()),
        Variant::new("sandbox/spawn-plain", vec![spawn("--no-sandbox")]).cleanup(cleanup),
    ];
    eprintln!("sandbox spawn: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    no_workers_left(env, repo, "sandbox spawn")?;
    out.row(
        "sandbox-spawn",
        "spawn --sandbox vs --no-sandbox (--exec true)",
        "sandbox/spawn-sandboxed",
        "sandbox/spawn-plain",
        Some(1.1),
    );

    // 2. One commit. Two workers without an agent, the same contract.
    let contract = subject.contract_args();
    let clone = root.join("sbxclone");
    let tree = root.join("sbxtree");
    for (id, flag) in [("sbxclone", "--sandbox"), ("sbxtree", "--no-sandbox")] {
        let mut args = vec!["spawn", id, "--base", base, flag];
        args.extend(contract.iter().map(String::as_str));
        env.run(&worker(repo, &args))?;
    }
    // The sandboxed worker has a clone of its own (a .git directory), the
    // other a linked worktree (a .git file); both commit through the same
    // hook shim (core.hooksPath, in the clone's config.worktree).
    if !clone.join(".git").is_dir() || !tree.join(".git").is_file() {
        bail!("sandbox: 'sbxclone' is not a clone of its own, or 'sbxtree' not a linked worktree");
    }
    let hooks = |dir: &Path| env.read(&Cmd::git(dir, ["config", "--get", "core.hooksPath"]));
    let (clone_hooks, tree_hooks) = (hooks(&clone)?, hooks(&tree)?);
    if clone_hooks.trim().is_empty() || clone_hooks != tree_hooks {
        bail!(
            "sandbox: the clone's hooks ({}) are not the worktree's ({})",
            clone_hooks.trim(),
            tree_hooks.trim()
        );
    }
    repo::settle_index(env, &clone)?;
    repo::settle_index(env, &tree)?;
    let list = root.join("sandbox-1.list");
    repo::write_list(&list, subject.edits(1))?;
    let stage = |dir: &Path| vec![sh(dir, &append_and_stage(&list, "change"))];
    let undo = |dir: &Path| vec![Cmd::git(dir, ["reset", "--quiet", "--hard", "HEAD~1"])];
    let commit = ["commit", "--quiet", "-m", "bench"];
    let clone_s = clone.display().to_string();
    // As a sandboxed agent runs its commands: through the trampoline,
    // writes confined to its clone, the network on (the default for agents).
    let mut in_sandbox = Cmd::new(
        &clone,
        [
            "git-worker",
            "sandbox-exec",
            "--write",
            &clone_s,
            "--network",
            "on",
            "--",
            "git",
        ],
    );
    in_sandbox.argv.extend(commit.iter().map(|a| a.to_string()));
    let variants = vec![
        Variant::new("sandbox/commit-clone", vec![Cmd::git(&clone, commit)])
            .prepare(stage(&clone))
            .cleanup(undo(&clone)),
        Variant::new("sandbox/commit-worktree", vec![Cmd::git(&tree, commit)])
            .prepare(stage(&tree))
            .cleanup(undo(&tree)),
        Variant::new("sandbox/commit-in-sandbox", vec![in_sandbox])
            .prepare(stage(&clone))
            .cleanup(undo(&clone)),
    ];
    eprintln!("sandbox commit: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row_added(
        "sandbox-commit",
        "1-file commit, sandboxed clone vs worktree",
        "sandbox/commit-clone",
        "sandbox/commit-worktree",
        3.0,
    );
    out.row(
        "sandbox-commit-exec",
        "1-file commit in the sandbox vs not, same clone (info)",
        "sandbox/commit-in-sandbox",
        "sandbox/commit-clone",
        None,
    );
    for id in ["sbxclone", "sbxtree"] {
        env.run(&worker(repo, &["rm", "--force", id]))?;
    }

    // 3. Verification: two plain workers (verification `true`), one file
    // changed and reported; one for review-gate run, one for apply.
    let tmp = repo
        .parent()
        .context("repository path has no parent")?
        .join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create '{}'", tmp.display()))?;
    let file = subject.edits(1).first().context("no file to change")?;
    for id in ["sbxgate", "sbxapply"] {
        let mut args = vec!["spawn", id, "--base", base, "--no-sandbox"];
        args.extend(contract.iter().map(String::as_str));
        args.extend(["--verify", "true"]);
        env.run(&worker(repo, &args))?;
        let wt = root.join(id);
        env.run(&sh(
            &wt,
            &format!("echo 'sandbox bench' >> {}", quote(file)),
        ))?;
        env.run(&Cmd::git(&wt, ["handoff", "report", "--summary", "bench"]))?;
    }
    let commit = reported_commit(env, repo, "sbxapply")?;
    let tmpdir = tmp.display().to_string();
    let in_place = |on: bool| {
        Cmd::git(
            repo,
            [
                "config",
                "orch.verify.inPlace",
                if on { "true" } else { "false" },
            ],
        )
    };
    let gate = Cmd::git(repo, ["review-gate", "run", "sbxgate"]).env("TMPDIR", &tmpdir);
    let apply = Cmd::git(repo, ["handoff", "apply", "sbxapply"]).env("TMPDIR", &tmpdir);
    // As in the handoff benchmark: undo the commit and record a rejection,
    // so that the next run applies again; the approval lifts its hold.
    let undo_apply = vec![
        Cmd::git(repo, ["reset", "--quiet", "--hard", "HEAD~1"]),
        Cmd::git(
            repo,
            ["handoff", "reject", "sbxapply", "--reason", "bench: again"],
        ),
        Cmd::git(repo, ["review-gate", "approve", "sbxapply"]),
    ];
    let path = tmp.join(format!("x{SEQ}")).display().to_string();
    let mut undo_in_place = undo_apply.clone();
    undo_in_place.push(in_place(false));
    let variants = vec![
        Variant::new("sandbox/gate-sandboxed", vec![gate.clone()]).prepare(vec![in_place(false)]),
        Variant::new("sandbox/gate-unsandboxed", vec![gate])
            .prepare(vec![in_place(true)])
            .cleanup(vec![in_place(false)]),
        Variant::new("sandbox/apply-sandboxed", vec![apply.clone()])
            .prepare(vec![in_place(false)])
            .cleanup(undo_apply),
        Variant::new("sandbox/apply-in-place", vec![apply])
            .prepare(vec![in_place(true)])
            .cleanup(undo_in_place),
        // The scratch checkout alone, as `run` and `apply` make it (see
        // review-gate/git-same): what "beyond the checkout" is beyond.
        Variant::new(
            "sandbox/checkout-git",
            [
                scratch_checkout(repo, &tmp, &path, &commit),
                vec![sh(&tmp, &format!("rm -rf '{path}'"))],
            ]
            .concat(),
        ),
    ];
    eprintln!("sandbox verify: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row_added(
        "sandbox-verify",
        "review-gate run, sandboxed vs unsandboxed scratch",
        "sandbox/gate-sandboxed",
        "sandbox/gate-unsandboxed",
        50.0,
    );
    out.row(
        "sandbox-apply",
        "apply: verify in sandboxed scratch vs in place (info)",
        "sandbox/apply-sandboxed",
        "sandbox/apply-in-place",
        None,
    );
    out.row(
        "sandbox-checkout",
        "apply in sandboxed scratch vs scratch checkout alone (info)",
        "sandbox/apply-sandboxed",
        "sandbox/checkout-git",
        None,
    );

    // Every run checked out and removed its scratch, verified, recorded.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .with_context(|| format!("cannot read '{}'", tmp.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    if !left.is_empty() {
        bail!(
            "sandbox: checkouts left in '{}': {}",
            tmp.display(),
            left.join(", ")
        );
    }
    let rounds = s.warmup + s.runs;
    let verified = events(env, repo, "sbxgate", "verified")?;
    let applied = events(env, repo, "sbxapply", "applied")?;
    if verified != 2 * rounds || applied != 2 * rounds {
        bail!(
            "sandbox: {verified} verifications of 'sbxgate' and {applied} applies of 'sbxapply' recorded, expected {} each",
            2 * rounds
        );
    }
    let beyond = out.median("sandbox/apply-sandboxed")
        - out.median("sandbox/apply-in-place")
        - out.median("sandbox/checkout-git");
    out.fact(
        "sandbox verify",
        format!(
            "verification `true` of a 1-file change; the unsandboxed side sets orch.verify.inPlace \
             (untimed, reset after): review-gate run then makes the same scratch checkout without the \
             sandbox, apply verifies in the coordinator's checkout; apply sandboxed - in place - \
             scratch checkout alone = {beyond:.1} ms"
        ),
    );
    out.fact(
        "sandbox commit",
        format!(
            "hook shim {} in both; the in-sandbox variant runs `git-worker sandbox-exec` directly, as a sandboxed agent's commands do",
            tree_hooks.trim()
        ),
    );
    for id in ["sbxgate", "sbxapply"] {
        env.run(&worker(repo, &["rm", "--force", id]))?;
    }
    Ok(())
}

/// The three coordinators of the sync benchmark: each with its own hub and
/// the same number of workers.
const SYNC_SIDES: &[(&str, bool)] = &[("ours", true), ("git", false), ("git-hub", true)];

/// sync: `git worker sync` of a coordinator with N workers to a hub made by
/// `git worker hub init`, against plain git moving the same refs to a bare
/// repository: `git push 'refs/orch/*'` + `git fetch '+refs/orch/*'`. Two
/// cases: nothing new on either side, and one new event in every worker's
/// log (appended untimed before each run by `git worker message`). An info
/// variant runs plain git against a hub made by `git worker hub init` too
/// (its pre-receive checks every pushed entry), pushing and fetching the
/// worker branches as sync does. Each variant has its own coordinator and
/// hub, so they do not feed each other; `source` is the repository to
/// clone for the coordinators (else a generated 20-file repository).
pub fn sync(
    env: &Env,
    scratch: &Path,
    source: Option<&Path>,
    s: &Settings,
    out: &mut Outcome,
) -> Result<()> {
    let n = s.sync_workers;
    let dir = scratch.join("sync");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    eprintln!(
        "sync: 3 coordinators with {} workers each, 3 hubs",
        thousands(n)
    );
    let started = Instant::now();
    let ids = worker_ids(n);
    let ids_file = dir.join("ids");
    std::fs::write(&ids_file, ids.join("\n") + "\n")
        .with_context(|| format!("cannot write '{}'", ids_file.display()))?;
    let orch = "refs/orch/*:refs/orch/*";
    let orch_fetch = "+refs/orch/*:refs/orch/*";
    let branches = "refs/heads/orch/*:refs/heads/orch/*";
    let branches_fetch = "+refs/heads/orch/*:refs/remotes/hub/orch/*";
    let mut origin = String::new();
    let mut sides = Vec::new();
    for &(name, checked) in SYNC_SIDES {
        let repo = dir.join(name);
        let subject = match source {
            Some(source) => repo::clone(env, source, &repo)?,
            None => repo::generate(env, &repo, LIST_REPO_FILES)?,
        };
        origin = match source {
            Some(source) => format!("clones of {} at {}", source.display(), subject.base),
            None => subject.origin,
        };
        let hub = dir.join(format!("{name}.hub.git"));
        let hub_path = hub.display().to_string();
        env.run(&Cmd::git(&dir, ["init", "--quiet", "--bare", &hub_path]))?;
        if checked {
            env.run(&worker(&repo, &["hub", "init", &hub_path]))?;
        }
        // No auto-gc in the hubs during the runs (git's environment
        // variables do not reach the receiving side of a local push).
        env.run(&Cmd::git(&hub, ["config", "gc.auto", "0"]))?;
        env.run(&Cmd::git(&repo, ["remote", "add", "hub", &hub_path]))?;
        eprintln!("  {name}: spawning {} workers", thousands(n));
        spawn_many(env, &repo, &subject.base, &ids)?;
        // The first transfer (untimed): the registry, then the branches.
        match name {
            "ours" => env.run(&worker(&repo, &["sync", "hub"]))?,
            _ => {
                env.run(&Cmd::git(&repo, ["push", "--quiet", "hub", orch]))?;
                env.run(&Cmd::git(&repo, ["push", "--quiet", "hub", branches]))?;
            }
        }
        sides.push((name, repo));
    }
    let setup = started.elapsed().as_secs_f64();
    eprintln!("  setup took {setup:.1} s");

    let events = format!(
        "while read -r id; do git worker message \"$id\" 'sync bench' >/dev/null || exit 1; done < {}",
        quote(&ids_file.display().to_string())
    );
    let mut variants = Vec::new();
    for (case, prepare) in [("noop", Vec::new()), ("events", vec![events])] {
        for (name, repo) in &sides {
            let timed = match *name {
                "ours" => vec![worker(repo, &["sync", "hub"])],
                "git" => vec![
                    Cmd::git(repo, ["push", "--quiet", "hub", orch]),
                    Cmd::git(repo, ["fetch", "--quiet", "hub", orch_fetch]),
                ],
                _ => vec![
                    Cmd::git(repo, ["push", "--quiet", "hub", orch, branches]),
                    Cmd::git(
                        repo,
                        ["fetch", "--quiet", "hub", orch_fetch, branches_fetch],
                    ),
                ],
            };
            variants.push(
                Variant::new(&format!("sync/{name}-{case}"), timed)
                    .prepare(prepare.iter().map(|script| sh(repo, script)).collect()),
            );
        }
    }
    eprintln!("sync: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);

    // Every coordinator's registry is on its hub, as it is here.
    let listing = |dir: &Path| {
        env.read(&Cmd::git(
            dir,
            [
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/orch/workers/",
            ],
        ))
    };
    for (name, repo) in &sides {
        let hub = dir.join(format!("{name}.hub.git"));
        let (here, there) = (listing(repo)?, listing(&hub)?);
        if here != there || here.lines().count() != n {
            bail!(
                "sync: the registry of coordinator '{name}' ({} workers) differs from its hub's ({} workers)",
                here.lines().count(),
                there.lines().count()
            );
        }
    }

    let w = thousands(n);
    out.row(
        "sync-noop",
        &format!("sync, {w} workers, nothing new"),
        "sync/ours-noop",
        "sync/git-noop",
        None,
    );
    out.row(
        "sync-events",
        &format!("sync, {w} workers, 1 new event each"),
        "sync/ours-events",
        "sync/git-events",
        None,
    );
    out.row(
        "sync-noop-hub",
        &format!("sync, {w} workers, nothing new, vs git to a checked hub (info)"),
        "sync/ours-noop",
        "sync/git-hub-noop",
        None,
    );
    out.row(
        "sync-events-hub",
        &format!("sync, {w} workers, 1 new event each, vs git to a checked hub (info)"),
        "sync/ours-events",
        "sync/git-hub-events",
        None,
    );
    out.fact(
        "sync setup",
        format!(
            "{setup:.1} s: 3 coordinators ({origin}), {w} workers each, spawned in calls of {SPAWN_BATCH} ids; \
             hubs: ours and git-hub by `git init --bare` + `git worker hub init`, git by `git init --bare`; \
             gc.auto=0 in each hub"
        ),
    );
    out.fact(
        "sync events",
        format!(
            "each run of an 'events' variant first appends one message event to each of the {w} workers' logs (untimed); \
             {} runs, warm-up included, so each log grew by {} events",
            s.warmup + s.runs,
            s.warmup + s.runs
        ),
    );
    Ok(())
}

/// `git worker spawn` of `ids` in calls of [`SPAWN_BATCH`] ids, with progress.
fn spawn_many(env: &Env, dir: &Path, base: &str, ids: &[String]) -> Result<()> {
    spawn_batches(env, dir, base, ids, || Ok(()))
}

/// [`spawn_many`], running `before` before each call.
fn spawn_batches(
    env: &Env,
    dir: &Path,
    base: &str,
    ids: &[String],
    mut before: impl FnMut() -> Result<()>,
) -> Result<()> {
    for (n, batch) in ids.chunks(SPAWN_BATCH).enumerate() {
        before()?;
        let mut cmd = worker(dir, &["spawn", "--base", base]);
        cmd.argv.extend(batch.iter().cloned());
        env.run(&cmd)?;
        eprint!(
            "\r  spawned {}/{}",
            (n * SPAWN_BATCH + batch.len()),
            ids.len()
        );
    }
    eprintln!();
    Ok(())
}

/// Where [`spawn_many_hidden`] keeps the administrative directories of the
/// worktrees made so far, in the repository's git directory.
const HIDDEN_WORKTREES: &str = "bench-hidden-worktrees";

/// [`spawn_many`], with the worktrees of earlier batches hidden from git:
/// `git worktree add` reads every registered worktree (about 20 stat calls
/// each), so the n-th add costs O(n) (about 0.1 s at 1,000 worktrees, 0.3 s
/// at 2,000 here) and spawning 10,000 one after the other would take hours.
/// Before each batch, the administrative directories under
/// `.git/worktrees/` move to `.git/bench-hidden-worktrees/`, and they all
/// move back at the end (also on failure): the repository is then exactly
/// as if every worker had been spawned in the open (each checkout's `.git`
/// file names `.git/worktrees/<id>`, which is where its directory is again).
/// Only the setup is faster; nothing timed runs while any is hidden.
fn spawn_many_hidden(env: &Env, dir: &Path, base: &str, ids: &[String]) -> Result<()> {
    let admin = dir.join(".git").join("worktrees");
    let hidden = dir.join(".git").join(HIDDEN_WORKTREES);
    std::fs::create_dir_all(&hidden)
        .with_context(|| format!("cannot create '{}'", hidden.display()))?;
    let spawned = spawn_batches(env, dir, base, ids, || move_entries(&admin, &hidden));
    let restored = move_entries(&hidden, &admin).and_then(|()| {
        std::fs::remove_dir(&hidden)
            .with_context(|| format!("cannot remove '{}'", hidden.display()))
    });
    spawned?;
    restored
}

/// Move every entry of directory `from` (if it exists) into directory `to`.
fn move_entries(from: &Path, to: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to).with_context(|| format!("cannot create '{}'", to.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read '{}'", from.display()))?;
        let target = to.join(entry.file_name());
        if target.exists() {
            bail!(
                "cannot move '{}': '{}' exists",
                entry.path().display(),
                target.display()
            );
        }
        std::fs::rename(entry.path(), &target).with_context(|| {
            format!(
                "cannot move '{}' to '{}'",
                entry.path().display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

/// Worker ids `w0000`, `w0001`, ... wide enough for `count`.
pub fn worker_ids(count: usize) -> Vec<String> {
    let width = count.saturating_sub(1).to_string().len().max(4);
    (0..count).map(|i| format!("w{i:0width$}")).collect()
}

/// `git status` in each worker's checkout (every worktree but the main one).
const EACH_CHECKOUT_STATUS: &str = "git worktree list --porcelain | sed -n 's/^worktree //p' | \
     tail -n +2 | while IFS= read -r p; do git -C \"$p\" status --porcelain >/dev/null || exit 1; done";

/// list: `git worker list` with many workers against one `for-each-ref`.
/// The workers live in a small repository of their own: a thousand
/// checkouts of the big one would be millions of files.
pub fn list(env: &Env, scratch: &Path, s: &Settings, out: &mut Outcome) -> Result<()> {
    let dir = scratch.join("list").join("repo");
    eprintln!(
        "list: generating a {LIST_REPO_FILES}-file repository and spawning {} workers",
        s.workers
    );
    let started = Instant::now();
    let subject = repo::generate(env, &dir, LIST_REPO_FILES)?;
    let ids = worker_ids(s.workers);
    if s.plain_list_setup {
        spawn_many(env, &dir, &subject.base, &ids)?;
    } else {
        spawn_many_hidden(env, &dir, &subject.base, &ids)?;
    }
    // git sees every checkout again.
    let worktrees = env
        .read(&Cmd::git(&dir, ["worktree", "list", "--porcelain"]))?
        .lines()
        .filter(|l| l.starts_with("worktree "))
        .count();
    if worktrees != s.workers + 1 {
        bail!(
            "`git worktree list` shows {worktrees} worktrees, expected {} (the workers and the main one)",
            s.workers + 1
        );
    }
    // Settle every checkout's index (see `repo::settle_index`): a fresh
    // checkout's files are racily clean, and `git worker list` (libgit2's
    // status, which never writes the index back) would re-read them all on
    // every call until something like `git status` refreshed the index, as
    // the list/git-status variant does in its first run.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.run(&sh(&dir, EACH_CHECKOUT_STATUS))?;
    let setup = started.elapsed().as_secs_f64();
    eprintln!("  setup took {setup:.1} s");

    let listed: serde_json::Value =
        serde_json::from_str(&env.read(&worker(&dir, &["list", "--json"]))?)
            .context("`git worker list --json` printed invalid JSON")?;
    let count = listed["workers"].as_array().map_or(0, Vec::len);
    if count != s.workers {
        bail!(
            "`git worker list --json` shows {count} workers, {} were spawned",
            s.workers
        );
    }

    let variants = vec![
        Variant::new("list/ours", vec![worker(&dir, &["list"])]),
        Variant::new("list/ours-json", vec![worker(&dir, &["list", "--json"])]),
        Variant::new(
            "list/ours-no-status",
            vec![worker(&dir, &["list", "--no-status"])],
        ),
        Variant::new(
            "list/git",
            vec![Cmd::git(
                &dir,
                [
                    "for-each-ref",
                    "--format=%(refname) %(objectname)",
                    "refs/orch",
                ],
            )],
        ),
        // What a status column costs plain git: the same listing, then
        // `git status` in every worker's checkout (all but the main one).
        Variant::new(
            "list/git-status",
            vec![sh(
                &dir,
                &format!(
                    "git for-each-ref --format='%(refname) %(objectname)' refs/orch >/dev/null && \
                     {EACH_CHECKOUT_STATUS}"
                ),
            )],
        ),
    ];
    eprintln!("list: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    let n = s.workers;
    out.row(
        "list",
        &format!("list, {} workers", thousands(n)),
        "list/ours",
        "list/git",
        Some(2.0),
    );
    out.row(
        "list-json",
        &format!("list --json, {} workers", thousands(n)),
        "list/ours-json",
        "list/git",
        Some(2.0),
    );
    out.row(
        "list-no-status",
        &format!("list --no-status, {} workers", thousands(n)),
        "list/ours-no-status",
        "list/git",
        Some(2.0),
    );
    out.row(
        "list-status-git",
        &format!(
            "list vs for-each-ref + git status in each checkout, {} workers (info)",
            thousands(n)
        ),
        "list/ours",
        "list/git-status",
        None,
    );
    out.fact(
        "list setup",
        format!(
            "{setup:.1} s ({LIST_REPO_FILES}-file repository, {} workers spawned in calls of {SPAWN_BATCH} ids{})",
            thousands(n),
            if s.plain_list_setup {
                ", then git status in each checkout"
            } else {
                ", earlier worktrees hidden from git during each call; then git status in each checkout"
            }
        ),
    );
    out.fact("list repository", dir.display().to_string());
    Ok(())
}

/// The plain git commands that make the scratch checkout `run` and `apply`
/// verify in, at `path`: a new repository borrowing the objects of `repo`
/// (alternates), `commit` checked out from `repo`'s object store with
/// `read-tree -u` into the new index (git-orch does the first two steps
/// in-process).
fn scratch_checkout(repo: &Path, tmp: &Path, path: &str, commit: &str) -> Vec<Cmd> {
    let objects = repo.join(".git/objects");
    vec![
        Cmd::git(tmp, ["init", "--quiet", path]),
        sh(
            tmp,
            &format!(
                "echo '{}' > '{path}/.git/objects/info/alternates'",
                objects.display()
            ),
        ),
        Cmd::git(
            repo,
            [
                "--work-tree",
                path,
                "-c",
                "checkout.workers=0",
                "read-tree",
                "-u",
                "--reset",
                commit,
            ],
        )
        .env("GIT_INDEX_FILE", format!("{path}/.git/index")),
    ]
}

/// What signing adds to one registry commit: `git commit-tree -S` with
/// git's own SSH signing (`ssh-keygen -Y sign`, which git-orch runs the
/// same way) beside the unsigned `git commit-tree`, and a whole event
/// write (`git worker message`, signed) beside the plain-git commit and
/// ref update it is.
pub fn signing(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let dir = repo.parent().unwrap_or(repo).join("signing");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    let key = dir.join("key");
    if !key.exists() {
        env.run(&Cmd::new(
            &dir,
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "bench",
                "-f",
                "key",
            ],
        ))?;
    }
    let key_s = key.display().to_string();
    let tree = format!("{}^{{tree}}", subject.base);
    let unsigned = Cmd::git(
        repo,
        ["commit-tree", &tree, "-p", &subject.base, "-m", "event"],
    );
    let signed = Cmd::git(
        repo,
        [
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingKey={key_s}"),
            "commit-tree",
            "-S",
            &tree,
            "-p",
            &subject.base,
            "-m",
            "event",
        ],
    );
    // A worker to write events for (its first event makes the coordinator key).
    env.run(&worker(repo, &["spawn", "signing-bench", "--no-sandbox"]))?;
    let plain_event = sh(
        repo,
        &format!(
            "c=$(git commit-tree {} -p refs/orch/workers/signing-bench -m event) && git update-ref refs/orch/bench-plain \"$c\"",
            quote("refs/orch/workers/signing-bench^{tree}")
        ),
    );
    let variants = vec![
        Variant::new("signing/commit-signed", vec![signed]),
        Variant::new("signing/commit-unsigned", vec![unsigned]),
        Variant::new(
            "signing/event",
            vec![worker(repo, &["message", "signing-bench", "bench"])],
        ),
        Variant::new("signing/event-plain", vec![plain_event]),
    ];
    eprintln!("signing: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row_added(
        "signing",
        "signing one registry commit (commit-tree -S vs without)",
        "signing/commit-signed",
        "signing/commit-unsigned",
        5.0,
    );
    out.row(
        "signing-event",
        "one event written (git worker message, signed) vs commit-tree + update-ref (info)",
        "signing/event",
        "signing/event-plain",
        None,
    );
    env.run(&worker(repo, &["rm", "signing-bench", "--force"]))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn ids_are_zero_padded_and_sort_in_order() {
        assert_eq!(worker_ids(3), vec!["w0000", "w0001", "w0002"]);
        assert_eq!(worker_ids(1000)[999], "w0999");
        assert_eq!(worker_ids(10_000)[9_999], "w9999");
        assert_eq!(worker_ids(10_001)[10_000], "w10000");
        assert_eq!(worker_ids(10_001)[0], "w00000");
    }
}
