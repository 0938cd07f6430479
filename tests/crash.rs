//! Crash safety: every multi-step command, with a failure injected after
//! each of its steps, and with its process killed (SIGKILL) there. After a
//! failure the command has cleaned up after itself; after a kill, `git
//! worker prune` or `doctor --fix` (or, for apply, the next apply) does.
//! Either way the repository is then consistent: doctor finds nothing,
//! `git fsck` is clean, the user's own work is as it was, no registry entry
//! or event is lost, and the command run again finishes the job.
//!
//! The steps come from `orch::interrupt::STEPS`, and a test checks
//! that list against the checkpoints in the sources, so a new step cannot
//! go untested.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use orch::interrupt::STEPS;

use crate::support::{Run, TestRepo, steps_of, workspace_root, write_file};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// `GIT_WORKER_FAIL_AFTER`: the step's successor fails with an error.
    Fail,
    /// `GIT_WORKER_KILL_AFTER`: the process dies by SIGKILL.
    Kill,
}

/// A multi-step command: how its repository is made, how it is run, how
/// it is brought to its end after a fault, and what holds at that end.
struct Case {
    command: &'static str,
    /// Whether a failure after this step leaves the repository consistent
    /// by itself (the command rolled back, or what it did is complete);
    /// else the next command or prune finishes what it started.
    rolls_back: fn(&str) -> bool,
    setup: fn() -> Fixture,
    run: fn(&Fixture) -> Run,
    finish: fn(&Fixture),
    done: fn(&Fixture),
}

/// The coordinator's repository (with the user's own uncommitted work in
/// it), and any other repository the case uses (a hub, a second clone).
struct Fixture {
    repo: TestRepo,
    others: Vec<PathBuf>,
}

/// A fixture of one repository.
fn alone(repo: TestRepo) -> Fixture {
    Fixture {
        repo,
        others: vec![],
    }
}

impl Fixture {
    fn tmp(&self) -> PathBuf {
        let dir = self.repo.root().join("tmp");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// What must survive any fault: the user's work, and every event.
struct Before {
    user: String,
    events: BTreeSet<String>,
}

/// A repository with `src/` and `docs/`, and the user's own work: a staged
/// and further edited `docs/guide.md`, and an untracked `notes.txt`.
fn base_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("docs/guide.md", "guide\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.write("docs/guide.md", "guide\nstaged\n");
    repo.git(["add", "docs/guide.md"]).success();
    repo.write("docs/guide.md", "guide\nstaged\nunstaged\n");
    repo.write("notes.txt", "the user's notes\n");
    repo
}

fn user_work(repo: &TestRepo) -> String {
    let status = repo
        .git([
            "status",
            "--porcelain=v1",
            "--",
            "docs/guide.md",
            "notes.txt",
        ])
        .success()
        .stdout;
    let staged = repo.git(["show", ":docs/guide.md"]).success().stdout;
    let read = |p: &str| std::fs::read_to_string(repo.path().join(p)).unwrap_or_default();
    format!(
        "{status}staged: {staged}guide: {}notes: {}",
        read("docs/guide.md"),
        read("notes.txt")
    )
}

fn event_ids(repo: &TestRepo) -> BTreeSet<String> {
    repo.worker(["timeline", "--json"])
        .success()
        .stdout
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            format!(
                "{} {} {}",
                event["worker"].as_str().unwrap(),
                event["kind"].as_str().unwrap(),
                event["id"].as_str().unwrap()
            )
        })
        .collect()
}

/// Worker `id` (allowed `src/<id>/**`, verified by `verify`) writes a file
/// and reports.
fn reported(repo: &TestRepo, id: &str, verify: &str) {
    repo.worker([
        "spawn",
        id,
        "--allow",
        &format!("src/{id}/**"),
        "--verify",
        verify,
    ])
    .success();
    let wt = repo.worktree(id);
    write_file(&wt.join(format!("src/{id}/mod.rs")), &format!("// {id}\n"));
    repo.git_in(
        &wt,
        ["handoff", "report", "--summary", &format!("work of {id}")],
    )
    .success();
}

/// The registry and the repository are consistent: doctor finds nothing
/// (but the man page, which tests do not install), `git fsck` is clean,
/// no apply journal or scratch checkout is left.
#[track_caller]
fn assert_consistent(fixture: &Fixture, what: &str) {
    let repo = &fixture.repo;
    let doctor = repo.worker(["doctor", "--json"]).output();
    let checks = doctor.json()["checks"].as_array().unwrap().clone();
    let problems: Vec<String> = checks
        .iter()
        .filter(|c| c["ok"] == false && c["check"] != "man")
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .collect();
    assert!(problems.is_empty(), "{what}: doctor: {problems:#?}");
    for dir in std::iter::once(repo.path().to_path_buf()).chain(fixture.others.iter().cloned()) {
        let fsck = repo
            .git_in(&dir, ["fsck", "--no-progress", "--no-dangling", "--strict"])
            .output();
        assert!(
            fsck.code == 0 && fsck.stdout.trim().is_empty(),
            "{what}: fsck in {}: {fsck}",
            dir.display()
        );
    }
    let journals = repo.path().join(".git/orch/apply");
    assert!(
        std::fs::read_dir(&journals).map_or(true, |mut d| d.next().is_none()),
        "{what}: an apply journal is left"
    );
    let scratch: Vec<_> = std::fs::read_dir(fixture.tmp())
        .unwrap()
        .flatten()
        .collect();
    assert!(scratch.is_empty(), "{what}: scratch left: {scratch:?}");
}

/// Run `case` with each fault after each of its steps (or the middle one).
/// Which steps a run of [`exercise`] covers.
enum Steps {
    All,
    Middle,
}

fn exercise(case: &Case, which: Steps) {
    let steps = steps_of(case.command);
    for (n, step) in steps.iter().enumerate() {
        if matches!(which, Steps::Middle) && n != steps.len() / 2 {
            continue;
        }
        for fault in [Fault::Fail, Fault::Kill] {
            let what = format!("{} with {fault:?} after {step}", case.command);
            let fixture = (case.setup)();
            let before = Before {
                user: user_work(&fixture.repo),
                events: event_ids(&fixture.repo),
            };
            let run = (case.run)(&fixture).env("TMPDIR", fixture.tmp());
            match fault {
                Fault::Fail => {
                    let out = run.env("GIT_WORKER_FAIL_AFTER", step).output();
                    assert!(
                        out.code == 2
                            && out
                                .stderr
                                .contains(&format!("injected failure after step '{step}'")),
                        "{what}: the fault did not happen:\n{out}"
                    );
                    if (case.rolls_back)(step) {
                        assert_consistent(&fixture, &format!("{what}, by itself"));
                    }
                }
                Fault::Kill => {
                    let out = run.env("GIT_WORKER_KILL_AFTER", step).output();
                    assert_eq!(out.code, 128 + 9, "{what}: not killed:\n{out}");
                }
            }
            // Recovery: prune, or doctor --fix, in turn.
            if n % 2 == 0 {
                fixture.repo.worker(["prune"]).success();
            } else {
                fixture.repo.worker(["doctor", "--fix"]).output();
            }
            assert_consistent(&fixture, &what);
            assert_eq!(
                user_work(&fixture.repo),
                before.user,
                "{what}: the user's work changed"
            );
            let after = event_ids(&fixture.repo);
            let lost: Vec<_> = before.events.difference(&after).collect();
            assert!(lost.is_empty(), "{what}: events lost: {lost:?}");
            (case.finish)(&fixture);
            (case.done)(&fixture);
            assert_consistent(&fixture, &format!("{what}, then finished"));
            assert_eq!(user_work(&fixture.repo), before.user, "{what}: finished");
        }
    }
}

/// For each command: a quick test with the faults after one step in the
/// middle of it, and a long one (in `.ci/run`, and with
/// `cargo test -p e2e crash -- --include-ignored`) with every step.
macro_rules! crash_tests {
    ($($case:ident: $quick:ident, $every:ident;)*) => {$(
        #[test]
        fn $quick() {
            exercise(&$case(), Steps::Middle);
        }

        #[test]
        #[ignore = "long: every step of the command; cargo test -p e2e crash -- --include-ignored"]
        fn $every() {
            exercise(&$case(), Steps::All);
        }
    )*};
}

crash_tests! {
    spawn_case: spawn_after_a_middle_step, spawn_after_every_step;
    rm_case: rm_after_a_middle_step, rm_after_every_step;
    cleanup_case: cleanup_after_a_middle_step, cleanup_after_every_step;
    report_case: report_after_a_middle_step, report_after_every_step;
    apply_case: apply_after_a_middle_step, apply_after_every_step;
    land_case: land_after_a_middle_step, land_after_every_step;
    review_gate_run_case: review_gate_run_after_a_middle_step, review_gate_run_after_every_step;
    sync_case: sync_after_a_middle_step, sync_after_every_step;
    rebase_case: rebase_after_a_middle_step, rebase_after_every_step;
}

fn live(repo: &TestRepo, id: &str) -> bool {
    repo.git([
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("refs/orch/workers/{id}"),
    ])
    .output()
    .code
        == 0
}

fn head_subject(repo: &TestRepo) -> String {
    repo.git(["log", "-1", "--format=%s"]).read()
}

fn spawn_case() -> Case {
    Case {
        command: "git worker spawn",
        rolls_back: |_| true,
        setup: || alone(base_repo()),
        run: |f| f.repo.worker(["spawn", "w", "--allow", "src/**"]),
        finish: |f| {
            if !live(&f.repo, "w") {
                f.repo.worker(["spawn", "w", "--allow", "src/**"]).success();
            }
        },
        done: |f| {
            assert!(f.repo.worktree("w").join("src/lib.rs").exists());
            let kinds: Vec<String> = f.repo.events("w").into_iter().map(|e| e.0).collect();
            assert_eq!(kinds, ["spawning", "spawned"]);
        },
    }
}

fn rm_case() -> Case {
    Case {
        command: "git worker rm",
        rolls_back: |_| false,
        setup: || {
            let repo = base_repo();
            repo.worker(["spawn", "w"]).success();
            alone(repo)
        },
        run: |f| f.repo.worker(["rm", "w"]),
        finish: |f| {
            if live(&f.repo, "w") {
                f.repo.worker(["rm", "w"]).success();
            }
        },
        done: |f| {
            assert!(!f.repo.worktree("w").exists());
            f.repo
                .git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/w"])
                .code(1);
            let archived = f.repo.git(["for-each-ref", "refs/orch/archive/w/"]).read();
            assert_eq!(archived.lines().count(), 1, "{archived}");
        },
    }
}

fn cleanup_case() -> Case {
    Case {
        command: "git worker cleanup",
        rolls_back: |_| false,
        setup: || {
            let repo = base_repo();
            let remote = repo.root().join("remote.git");
            repo.cmd_in(
                repo.root(),
                "git",
                ["init", "--quiet", "--bare", "remote.git"],
            )
            .success();
            repo.git(["remote", "add", "origin"]).arg(&remote).success();
            for id in ["a", "b"] {
                repo.worker(["spawn", id]).success();
                let wt = repo.worktree(id);
                write_file(&wt.join(format!("{id}.txt")), id);
                repo.git_in(&wt, ["add", "."]).success();
                repo.git_in(&wt, ["commit", "--quiet", "-m", id]).success();
                repo.git(["push", "--quiet", "origin", &format!("orch/{id}")])
                    .success();
                repo.git(["merge", "--quiet", "--no-edit", &format!("orch/{id}")])
                    .success();
            }
            Fixture {
                repo,
                others: vec![remote],
            }
        },
        run: |f| f.repo.worker(["cleanup", "--landed", "--remote", "origin"]),
        finish: |f| {
            f.repo
                .worker(["cleanup", "--landed", "--remote", "origin"])
                .success();
        },
        done: |f| {
            assert!(!live(&f.repo, "a") && !live(&f.repo, "b"));
            let local = f.repo.git(["for-each-ref", "refs/heads/orch/"]).read();
            assert_eq!(local, "");
            let remote = f
                .repo
                .cmd_in(&f.others[0], "git", ["for-each-ref", "refs/heads/"])
                .read();
            assert_eq!(remote, "", "left on the remote");
        },
    }
}

fn report_case() -> Case {
    Case {
        command: "git handoff report",
        rolls_back: |_| true,
        setup: || {
            let repo = base_repo();
            repo.worker(["spawn", "w", "--allow", "src/**"]).success();
            let wt = repo.worktree("w");
            write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn first() {}\n");
            repo.git_in(&wt, ["handoff", "report", "--summary", "first"])
                .success();
            write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn second() {}\n");
            alone(repo)
        },
        run: |f| {
            f.repo.git_in(
                &f.repo.worktree("w"),
                ["handoff", "report", "--summary", "second"],
            )
        },
        finish: |f| {
            // Until it is reported again, the first report stands.
            let show = f.repo.git(["handoff", "show", "w"]).success();
            assert!(
                show.stdout.contains("first") || show.stdout.contains("second"),
                "{show}"
            );
            f.repo
                .git_in(
                    &f.repo.worktree("w"),
                    ["handoff", "report", "--summary", "second"],
                )
                .success();
        },
        done: |f| {
            let show = f.repo.git(["handoff", "show", "w"]).success();
            assert!(show.stdout.contains("second"), "{show}");
            f.repo.git(["handoff", "apply", "w"]).success();
            assert_eq!(
                std::fs::read_to_string(f.repo.path().join("src/lib.rs")).unwrap(),
                "fn a() {}\nfn second() {}\n"
            );
        },
    }
}

fn apply_case() -> Case {
    Case {
        command: "git handoff apply",
        rolls_back: |_| true,
        setup: || {
            let repo = base_repo();
            reported(&repo, "w", "test -f src/w/mod.rs");
            alone(repo)
        },
        run: |f| f.repo.git(["handoff", "apply", "w"]),
        finish: |f| {
            f.repo.git(["handoff", "apply", "w"]).success();
        },
        done: |f| {
            assert_eq!(head_subject(&f.repo), "work of w");
            assert_eq!(head_subject_parent(&f.repo), "initial");
            assert!(f.repo.path().join("src/w/mod.rs").exists());
            let applied = f
                .repo
                .events("w")
                .iter()
                .filter(|e| e.0 == "applied")
                .count();
            assert_eq!(applied, 1);
        },
    }
}

fn head_subject_parent(repo: &TestRepo) -> String {
    repo.git(["log", "-1", "--format=%s", "HEAD^"]).read()
}

fn land_case() -> Case {
    Case {
        command: "git handoff land",
        rolls_back: |_| true,
        setup: || {
            let repo = base_repo();
            reported(&repo, "a", "test -f src/a/mod.rs");
            reported(&repo, "b", "test -f src/b/mod.rs");
            alone(repo)
        },
        run: |f| f.repo.git(["handoff", "land", "--all"]),
        finish: |f| {
            f.repo.git(["handoff", "land", "--all"]).success();
        },
        done: |f| {
            let subjects = f.repo.git(["log", "--format=%s"]).read();
            assert_eq!(subjects, "work of b\nwork of a\ninitial");
        },
    }
}

fn review_gate_run_case() -> Case {
    Case {
        command: "git review-gate run",
        rolls_back: |_| true,
        setup: || {
            let repo = base_repo();
            reported(&repo, "w", "test -f src/w/mod.rs");
            alone(repo)
        },
        run: |f| f.repo.git(["review-gate", "run", "w"]),
        finish: |f| {
            f.repo
                .git(["review-gate", "run", "w"])
                .env("TMPDIR", f.tmp())
                .success();
        },
        done: |f| {
            f.repo.git(["review-gate", "status", "w"]).success();
            // Every verdict has its event, and every event its verdict.
            let verdicts = f
                .repo
                .git(["review-gate", "status", "w", "--json"])
                .success()
                .json();
            let recorded = verdicts["verdicts"].as_array().map_or(0, Vec::len);
            let events = f
                .repo
                .events("w")
                .iter()
                .filter(|e| e.0 == "verified")
                .count();
            assert_eq!(recorded, events, "{verdicts}");
        },
    }
}

fn sync_case() -> Case {
    Case {
        command: "git worker sync",
        rolls_back: |_| true,
        setup: || {
            let repo = base_repo();
            let hub = repo.root().join("hub.git");
            repo.worker(["hub", "init"]).arg(&hub).success();
            repo.git(["push", "--quiet"])
                .arg(&hub)
                .arg("main")
                .success();
            repo.git(["remote", "add", "origin"]).arg(&hub).success();
            repo.worker(["spawn", "w"]).success();
            repo.worker(["sync"]).success();
            let other = repo.root().join("other");
            repo.cmd_in(repo.root(), "git", ["clone", "--quiet", "hub.git", "other"])
                .success();
            repo.git_in(&other, ["worker", "sync"]).success();
            repo.git_in(&other, ["worker", "message", "w", "from the other"])
                .success();
            repo.git_in(&other, ["worker", "sync"]).success();
            repo.worker(["message", "w", "from here"]).success();
            Fixture {
                repo,
                others: vec![hub, other],
            }
        },
        run: |f| f.repo.worker(["sync"]),
        finish: |f| {
            f.repo.worker(["sync"]).success();
            f.repo.git_in(&f.others[1], ["worker", "sync"]).success();
        },
        done: |f| {
            for dir in [f.repo.path(), f.others[1].as_path()] {
                let mut texts = messages(&f.repo, dir);
                texts.sort();
                assert_eq!(texts, ["from here", "from the other"], "{}", dir.display());
            }
            let staging = f.repo.git(["for-each-ref", "refs/orch-sync/"]).read();
            assert_eq!(staging, "", "staging refs left");
        },
    }
}

fn messages(repo: &TestRepo, dir: &Path) -> Vec<String> {
    repo.git_in(dir, ["worker", "log", "w", "--json"])
        .success()
        .json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["data"]["text"].as_str().unwrap().to_string())
        .collect()
}

/// A killed apply is undone by the next apply, without prune.
#[test]
fn the_next_apply_rolls_back_a_killed_one_first() {
    for step in ["apply:patch", "apply:commit", "apply:verify"] {
        let repo = base_repo();
        reported(&repo, "w", "true");
        let user = user_work(&repo);
        repo.git(["handoff", "apply", "w"])
            .env("GIT_WORKER_KILL_AFTER", step)
            .code(137);
        let doctor = repo.worker(["doctor"]).output();
        assert!(
            doctor.stdout.contains("interrupted `git handoff apply w`"),
            "{step}: {doctor}"
        );
        // A dry run changes nothing, and says so.
        let out = repo.git(["handoff", "apply", "w", "--dry-run"]).code(2);
        assert!(
            out.stderr.contains("an apply of 'w' was interrupted"),
            "{step}: {out}"
        );
        // The real apply first undoes the killed one, then applies.
        let out = repo.git(["handoff", "apply", "w"]).success();
        assert!(
            out.stderr
                .contains("rolled back the interrupted apply of 'w'"),
            "{step}: {out}"
        );
        assert_eq!(head_subject(&repo), "work of w");
        assert_eq!(head_subject_parent(&repo), "initial");
        assert_eq!(user_work(&repo), user);
    }
}

/// What a killed apply left is not rolled back over the user's edits: the
/// user is told what is there and how to undo it.
#[test]
fn a_killed_apply_is_left_alone_when_its_paths_were_edited_since() {
    let repo = base_repo();
    reported(&repo, "w", "true");
    repo.git(["handoff", "apply", "w"])
        .env("GIT_WORKER_KILL_AFTER", "apply:commit")
        .code(137);
    let applied = repo.rev("HEAD");
    repo.write("src/w/mod.rs", "// edited by the user after the crash\n");
    let out = repo.worker(["prune"]).success();
    assert!(
        out.stderr.contains(
            "the interrupted apply of 'w' was not rolled back: its paths were changed since: src/w/mod.rs"
        ),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!("git revert {applied}")),
        "{out}"
    );
    assert_eq!(repo.rev("HEAD"), applied);
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/w/mod.rs")).unwrap(),
        "// edited by the user after the crash\n"
    );
    repo.worker(["prune", "--dry-run"]).success();
}

/// A report killed after its handoff was written, before it was logged:
/// the first report of a worker is then not there at all.
#[test]
fn a_first_report_killed_before_it_is_logged_is_not_there() {
    let repo = base_repo();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn b() {}\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "b"])
        .env("GIT_WORKER_KILL_AFTER", "report:handoff")
        .code(137);
    let show = repo.git(["handoff", "show", "w"]).success();
    assert!(show.stdout.contains("w has NOT reported"), "{show}");
    repo.git(["handoff", "apply", "w"]).code(2);
    repo.git_in(&wt, ["handoff", "report", "--summary", "b"])
        .success();
    repo.git(["handoff", "apply", "w"]).success();
}

/// Every checkpoint in the sources is in `STEPS`, and every step in
/// `STEPS` is a checkpoint in the sources: the tests above cover them all.
#[test]
fn the_steps_are_the_checkpoints_in_the_sources() {
    fn scan(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                scan(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("checkpoint(\"").skip(1) {
                    found.insert(piece.split('"').next().unwrap().to_string());
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    for crate_dir in [
        "git-orch-lib/src",
        "git-worker/src",
        "git-handoff/src",
        "git-review-gate/src",
    ] {
        scan(&workspace_root().join(crate_dir), &mut found);
    }
    let listed: BTreeSet<String> = STEPS
        .iter()
        .flat_map(|(_, steps)| steps.iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(found, listed);
    // And every command of STEPS has its case above.
    let source = std::fs::read_to_string(workspace_root().join("tests/crash.rs")).unwrap();
    for (command, _) in STEPS {
        assert!(
            source.contains(&format!("command: \"{command}\"")),
            "no crash case for {command}"
        );
    }
}

/// Two applies in one checkout at once: the second waits for the first,
/// and both land. (The test holds the checkout's lock itself until both
/// say they are waiting, so they surely overlap.)
#[test]
fn applies_in_one_checkout_wait_for_each_other() {
    use std::io::BufRead as _;
    let repo = base_repo();
    reported(&repo, "a", "test -f src/a/mod.rs");
    reported(&repo, "b", "test -f src/b/mod.rs");
    let user = user_work(&repo);
    let lock = std::fs::File::open(repo.path()).unwrap();
    lock.lock().unwrap();
    let mut children = Vec::new();
    for id in ["a", "b"] {
        let mut child = repo.git(["handoff", "apply", id]).spawn_child();
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let first = lines.next().unwrap().unwrap();
        assert_eq!(
            first,
            "waiting for another apply in this checkout to finish..."
        );
        children.push((child, lines));
    }
    drop(lock);
    for (mut child, lines) in children {
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        assert!(child.wait().unwrap().success(), "{rest:?}");
    }
    let subjects = repo.git(["log", "--format=%s", "-2"]).read();
    assert!(
        subjects == "work of a\nwork of b" || subjects == "work of b\nwork of a",
        "{subjects}"
    );
    assert_eq!(user_work(&repo), user);
}

/// A killed apply whose `applied` event was recorded is kept, even once
/// its worker is removed: prune never takes back a verified change.
#[test]
fn a_recorded_apply_is_kept_after_its_worker_is_removed() {
    let repo = base_repo();
    reported(&repo, "w", "true");
    repo.git(["handoff", "apply", "w"])
        .env("GIT_WORKER_KILL_AFTER", "apply:event")
        .code(137);
    let applied = repo.rev("HEAD");
    repo.worker(["rm", "w"]).success();
    let out = repo.worker(["prune"]).success();
    assert!(out.stderr.contains("had finished: it is kept"), "{out}");
    assert_eq!(repo.rev("HEAD"), applied);
}

/// While a killed apply is not undone, its unrecorded commit in HEAD does
/// not make its worker "landed": cleanup and rm keep it.
#[test]
fn a_killed_apply_does_not_make_its_worker_landed() {
    let repo = base_repo();
    reported(&repo, "w", "true");
    let wt = repo.worktree("w");
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "w"]).success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "work of w"])
        .success();
    // Killed once its commit is in HEAD (verified, and its `applied`
    // event not recorded yet).
    repo.git(["handoff", "apply", "w"])
        .env("GIT_WORKER_KILL_AFTER", "apply:commit")
        .code(137);
    let out = repo.worker(["cleanup", "--landed"]).success();
    assert!(
        out.stderr.contains("an apply of 'w' was interrupted"),
        "{out}"
    );
    let out = repo.worker(["rm", "w"]).code(2);
    assert!(out.stderr.contains("git worker prune"), "{out}");
    repo.worker(["prune"]).success();
    assert_eq!(head_subject(&repo), "initial");
    assert!(live(&repo, "w"));
    assert!(repo.worktree("w").join("src/w/mod.rs").exists());
}

/// One journal per worker: an apply killed in another checkout is not
/// overwritten (and forgotten) by an apply here; prune undoes it there.
#[test]
fn an_apply_killed_in_another_checkout_is_not_forgotten() {
    let repo = base_repo();
    reported(&repo, "w", "true");
    let other = repo.root().join("other");
    repo.git(["worktree", "add", "--quiet", "-b", "side"])
        .arg(&other)
        .success();
    repo.git_in(&other, ["handoff", "apply", "w"])
        .env("GIT_WORKER_KILL_AFTER", "apply:verify")
        .code(137);
    let out = repo.git(["handoff", "apply", "w"]).code(2);
    assert!(
        out.stderr.contains("was interrupted and is not undone yet"),
        "{out}"
    );
    assert_eq!(head_subject(&repo), "initial");
    let out = repo.worker(["prune"]).success();
    assert!(
        out.stderr
            .contains("rolled back the interrupted apply of 'w'"),
        "{out}"
    );
    assert_eq!(
        repo.git_in(&other, ["log", "-1", "--format=%s"]).read(),
        "initial"
    );
    repo.git(["handoff", "apply", "w"]).success();
    assert_eq!(head_subject(&repo), "work of w");
}

/// An edit staged over a killed `--no-commit` apply is the user's: prune
/// leaves it, and says so.
#[test]
fn a_staged_edit_over_a_killed_apply_is_kept() {
    let repo = base_repo();
    reported(&repo, "w", "true");
    repo.git(["handoff", "apply", "--no-commit", "w"])
        .env("GIT_WORKER_KILL_AFTER", "apply:verify")
        .code(137);
    repo.write("src/w/mod.rs", "// mine now\n");
    repo.git(["add", "src/w/mod.rs"]).success();
    let out = repo.worker(["prune"]).success();
    assert!(
        out.stderr
            .contains("its paths were changed since: src/w/mod.rs"),
        "{out}"
    );
    assert_eq!(repo.git(["show", ":src/w/mod.rs"]).read(), "// mine now");
}

/// A report killed before it was logged does not make new work look
/// applied: cleanup keeps the worker.
#[test]
fn an_unlogged_report_does_not_make_new_work_landed() {
    let repo = base_repo();
    reported(&repo, "w", "true");
    repo.git(["handoff", "apply", "w"]).success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/w/second.rs"), "// not applied\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "second"])
        .env("GIT_WORKER_KILL_AFTER", "report:handoff")
        .code(137);
    let out = repo.worker(["cleanup", "--landed"]).success();
    assert!(!out.stdout.contains("removed worker 'w'"), "{out}");
    assert!(wt.join("src/w/second.rs").exists());
}

/// A removal journal left by an rm killed after it archived its worker
/// does not remove a worker spawned again under that id.
#[test]
fn a_stale_removal_journal_spares_a_respawned_worker() {
    let repo = base_repo();
    repo.worker(["spawn", "w"]).success();
    let old = repo.rev("refs/orch/workers/w");
    repo.worker(["rm", "w"]).success();
    repo.worker(["spawn", "w"]).success();
    write_file(&repo.worktree("w").join("wip.txt"), "precious\n");
    let journal = repo.path().join(".git/orch/removing/w.json");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    // As if an rm of the old one was killed just before its journal went.
    std::fs::write(
        &journal,
        format!(r#"{{"pid": 999999999, "entry": "{old}"}}"#),
    )
    .unwrap();
    repo.worker(["prune"]).success();
    assert!(live(&repo, "w"));
    assert!(repo.worktree("w").join("wip.txt").exists());
    assert!(!journal.exists());
}

fn rebase_case() -> Case {
    Case {
        command: "git worker rebase",
        rolls_back: |_| true,
        setup: || {
            let repo = base_repo();
            repo.worker(["spawn", "w", "--allow", "src/**"]).success();
            let wt = repo.worktree("w");
            write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn w() {}\n");
            repo.git_in(&wt, ["commit", "--quiet", "-am", "worker"])
                .success();
            // main moves on without touching the user's own work: a commit
            // made with plumbing, the index and files left as they are.
            let blob = repo
                .git(["hash-object", "-w", "--stdin"])
                .stdin("fn main_moved() {}\n")
                .read();
            let index = repo.root().join("main-index");
            let git = |args: &[&str]| repo.git(args).env("GIT_INDEX_FILE", &index).read();
            git(&["read-tree", "HEAD"]);
            git(&[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},src/other.rs"),
            ]);
            let tree = git(&["write-tree"]);
            let commit = repo
                .git(["commit-tree", &tree, "-p", "HEAD", "-m", "main moves"])
                .read();
            repo.git(["update-ref", "refs/heads/main", &commit])
                .success();
            alone(repo)
        },
        run: |f| f.repo.worker(["rebase", "w"]),
        finish: |f| {
            f.repo.worker(["rebase", "w"]).success();
        },
        done: |f| {
            let main = f.repo.rev("main");
            let wt = f.repo.worktree("w");
            assert_eq!(f.repo.git_in(&wt, ["rev-parse", "HEAD~"]).read(), main);
            assert_eq!(
                std::fs::read_to_string(wt.join("src/lib.rs")).unwrap(),
                "fn a() {}\nfn w() {}\n"
            );
            assert!(wt.join("src/other.rs").is_file());
            let shown = f.repo.worker(["show", "w", "--json"]).success().json();
            assert_eq!(shown["worker"]["base"], main.as_str());
            assert_eq!(f.repo.git_in(&wt, ["status", "--porcelain"]).read(), "");
        },
    }
}
