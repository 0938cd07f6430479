//! The benchmarks: what `git worker` does, next to what plain git does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::env::{Cmd, Env};
use crate::measure::{SEQ, Stats, Variant, measure};
use crate::repo::{self, Subject};

pub const NAMES: &[&str] = &["spawn", "list", "rm", "hook", "handoff", "review-gate"];

/// Files in the repository the list benchmark spawns its workers in.
pub const LIST_REPO_FILES: usize = 20;
/// Ids per `git worker spawn` call when building the list benchmark's workers.
const SPAWN_BATCH: usize = 100;

/// A row of the report: our variant against git's, with a target ratio
/// (`None`: for information only).
pub struct Row {
    pub benchmark: String,
    pub ours: String,
    pub git: String,
    pub target: Option<f64>,
}

/// What a benchmark measured.
#[derive(Default)]
pub struct Outcome {
    pub variants: Vec<Variant>,
    pub stats: Vec<Stats>,
    pub rows: Vec<Row>,
    /// Extra facts for the report (`name`, `value`).
    pub facts: Vec<(String, String)>,
}

impl Outcome {
    fn add(&mut self, variants: Vec<Variant>, stats: Vec<Stats>) {
        self.variants.extend(variants);
        self.stats.extend(stats);
    }

    fn row(&mut self, benchmark: &str, ours: &str, git: &str, target: Option<f64>) {
        self.rows.push(Row {
            benchmark: benchmark.to_string(),
            ours: ours.to_string(),
            git: git.to_string(),
            target,
        });
    }
}

pub struct Settings {
    /// Use the same worker id (`w`) and branch (`x`) in every run instead of
    /// a new one per run (see `ids`).
    pub reuse_id: bool,
    pub warmup: usize,
    pub runs: usize,
    pub workers: usize,
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
        .cleanup(git_cleanup),
    ];
    eprintln!("spawn: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row("spawn", "spawn/ours", "spawn/git", Some(1.0));
    out.row(
        "spawn vs checkout.workers=0 (info)",
        "spawn/ours",
        "spawn/git-workers0",
        None,
    );
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
        .prepare(git_prepare),
    ];
    eprintln!("rm: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row("rm", "rm/ours", "rm/git", Some(1.1));
    out.row("rm --force (info)", "rm/ours-force", "rm/git", None);
    out.row(
        "rm vs checked remove (info)",
        "rm/ours",
        "rm/git-checked",
        None,
    );
    Ok(())
}

/// hook: a commit in a worker's checkout, where the pre-commit hook checks
/// the staged paths against the contract, against the same commit with
/// hooks switched off; one file and 1,000 files.
pub fn hook(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let id = "hookbench";
    env.run(&worker(
        repo,
        &[
            "spawn",
            id,
            "--base",
            &subject.base,
            "--allow",
            "d*/**",
            "--deny",
            "secret/**",
        ],
    ))?;
    let wt = worktree_root(repo)?.join(id);
    let files_of = |count: usize| -> Vec<String> {
        (0..count)
            .map(|i| format!("d{:03}/f{:02}.txt", i / 50, i % 50))
            .collect()
    };
    let mut variants = Vec::new();
    for count in [1usize, 1000] {
        let files = files_of(count).join(" ");
        // Change and stage the files (untimed), commit (timed), undo (untimed).
        let prepare = vec![Cmd::new(
            &wt,
            [
                "sh".to_string(),
                "-c".to_string(),
                format!("for f in {files}; do echo change >> \"$f\"; done && git add -- {files}"),
            ],
        )];
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
    out.row("hook, 1-file commit", "hook/ours-1", "hook/none-1", None);
    out.row(
        "hook, 1,000-file commit",
        "hook/ours-1000",
        "hook/none-1000",
        Some(1.2),
    );
    out.facts.push((
        "hook target".to_string(),
        "1-file commit: at most 5 ms added (absolute difference of the medians above)".to_string(),
    ));
    env.run(&worker(repo, &["rm", "--force", id]))?;
    Ok(())
}

fn sh(dir: &Path, script: &str) -> Cmd {
    Cmd::new(
        dir,
        ["sh".to_string(), "-c".to_string(), script.to_string()],
    )
}

/// handoff: on a 1,000-file change (1,000 modified files and 5 new ones),
/// `git handoff report` against the plain git pipeline doing the same work
/// (temporary index, `add -A`, `diff --cached --stat`, `diff --cached
/// --binary`); `git handoff apply` without verification against `git apply
/// --3way --index` + `git commit`; and a failed apply's rollback against
/// `git reset --hard` + `git clean`.
pub fn handoff(env: &Env, subject: &Subject, s: &Settings, out: &mut Outcome) -> Result<()> {
    let repo = &subject.path;
    let base = subject.base.as_str();
    let root = worktree_root(repo)?;
    let edit = "for d in $(seq -w 0 19); do for f in $(seq -w 0 49); do echo changed >> d0$d/f$f.txt; done; done; \
                mkdir -p d000/new && for n in 1 2 3 4 5; do echo new > d000/new/n$n.txt; done";
    // Two workers with the same change: one whose verification passes (none),
    // one whose verification fails, to measure the rollback.
    for (id, verify) in [("hok", None), ("hfail", Some("false"))] {
        let mut spawn = vec!["spawn", id, "--base", base, "--allow", "d*/**"];
        if let Some(command) = verify {
            spawn.extend(["--verify", command]);
        }
        env.run(&worker(repo, &spawn))?;
        let wt = root.join(id);
        env.run(&sh(&wt, edit))?;
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
        Variant::new(
            "handoff/report-git",
            vec![sh(
                &wt,
                &format!(
                    "t=$(mktemp) && cp '{index}' \"$t\" && GIT_INDEX_FILE=\"$t\" git add -A && \
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
    out.row(
        "handoff report, 1,000 files",
        "handoff/report-ours",
        "handoff/report-git",
        Some(1.0),
    );
    out.row(
        "handoff apply (no verify), 1,000 files",
        "handoff/apply-ours",
        "handoff/apply-git",
        Some(1.1),
    );
    out.row(
        "apply + rollback vs apply+commit (info)",
        "handoff/fail-ours",
        "handoff/apply-git",
        None,
    );
    out.row(
        "git's own rollback (reset --hard + clean)",
        "handoff/rollback-git",
        "handoff/rollback-git",
        None,
    );
    out.facts.push((
        "rollback".to_string(),
        "ours = (apply + rollback) - apply, from the medians above; target <= 1.1x git's reset --hard + clean".to_string(),
    ));
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
    env.run(&worker(
        repo,
        &[
            "spawn",
            id,
            "--base",
            &subject.base,
            "--allow",
            "d*/**",
            "--verify",
            "true",
        ],
    ))?;
    let wt = worktree_root(repo)?.join(id);
    env.run(&sh(
        &wt,
        "mkdir -p d000 && echo 'review-gate bench' >> d000/f00.txt",
    ))?;
    env.run(&Cmd::git(&wt, ["handoff", "report", "--summary", "bench"]))?;
    // The commit plain git checks out: the reported tree on its base, as
    // `run` makes it (made here once, untimed).
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
    let commit = env
        .read(&Cmd::git(
            repo,
            ["commit-tree", &tree, "-p", &base, "-m", "bench"],
        ))?
        .trim()
        .to_string();

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
        // The git commands `run` itself uses for its checkout: a scratch
        // clone sharing the objects, so the code verified cannot touch the
        // repository's refs or config.
        Variant::new(
            "review-gate/git-same",
            vec![
                Cmd::git(
                    repo,
                    [
                        "clone",
                        "--quiet",
                        "--shared",
                        "--no-checkout",
                        "--no-tags",
                        ".git",
                        &path,
                    ],
                ),
                Cmd::git(
                    Path::new(&path),
                    [
                        "-c",
                        "checkout.workers=0",
                        "-c",
                        "advice.detachedHead=false",
                        "checkout",
                        "--quiet",
                        "--detach",
                        &commit,
                    ],
                ),
                in_checkout,
                sh(&tmp, &format!("rm -rf '{path}'")),
            ],
        ),
    ];
    eprintln!("review-gate: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    out.row(
        "review-gate run, 1-file change",
        "review-gate/ours",
        "review-gate/git",
        None,
    );
    out.row(
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
    out.facts.push((
        "review-gate".to_string(),
        format!(
            "worker '{id}' (verify: true), 1 file changed; {verdicts} pass verdicts recorded by the end (one per run, warm-up included)"
        ),
    ));
    env.run(&worker(repo, &["rm", "--force", id]))?;
    Ok(())
}

/// Worker ids `w0000`, `w0001`, ... wide enough for `count`.
pub fn worker_ids(count: usize) -> Vec<String> {
    let width = count.saturating_sub(1).to_string().len().max(4);
    (0..count).map(|i| format!("w{i:0width$}")).collect()
}

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
    for (n, batch) in ids.chunks(SPAWN_BATCH).enumerate() {
        let mut cmd = worker(&dir, &["spawn", "--base", &subject.base]);
        cmd.argv.extend(batch.iter().cloned());
        env.run(&cmd)?;
        eprint!(
            "\r  spawned {}/{}",
            (n * SPAWN_BATCH + batch.len()),
            ids.len()
        );
    }
    eprintln!();
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
    ];
    eprintln!("list: {} variants", variants.len());
    let stats = measure(env, &variants, s.warmup, s.runs)?;
    out.add(variants, stats);
    let n = s.workers;
    out.row(
        &format!("list, {n} workers"),
        "list/ours",
        "list/git",
        Some(2.0),
    );
    out.row(
        &format!("list --json, {n} workers"),
        "list/ours-json",
        "list/git",
        Some(2.0),
    );
    out.row(
        &format!("list --no-status, {n} workers"),
        "list/ours-no-status",
        "list/git",
        Some(2.0),
    );
    out.facts.push((
        "list setup".to_string(),
        format!(
            "{setup:.1} s ({LIST_REPO_FILES}-file repository, {n} workers spawned in calls of {SPAWN_BATCH} ids)"
        ),
    ));
    out.facts
        .push(("list repository".to_string(), dir.display().to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_zero_padded_and_sort_in_order() {
        assert_eq!(worker_ids(3), vec!["w0000", "w0001", "w0002"]);
        assert_eq!(worker_ids(1000)[999], "w0999");
        assert_eq!(worker_ids(10_000)[9_999], "w9999");
        assert_eq!(worker_ids(10_001)[10_000], "w10000");
        assert_eq!(worker_ids(10_001)[0], "w00000");
    }
}
