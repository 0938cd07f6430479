//! Contracts enforced at every door: the worker's pre-commit hook,
//! `git worker check`, and a hub's pre-receive hook, through real git.

use std::path::{Path, PathBuf};

use crate::support::{TestRepo, write_file};

/// A repository with `src/` and `docs/`, and worker `w` allowed `src/**`
/// except `src/secret/**`.
fn setup() -> (TestRepo, PathBuf) {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("src/secret/key", "k\n");
    repo.write("docs/guide.md", "guide\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker(["spawn", "w", "--allow", "src/**", "--deny", "src/secret/**"])
        .success();
    let wt = repo.worktree("w");
    (repo, wt)
}

fn commit(repo: &TestRepo, dir: &Path, message: &str) -> crate::support::Output {
    repo.git_in(dir, ["commit", "--quiet", "-m", message])
        .output()
}

#[test]
fn a_commit_outside_the_contract_is_refused_naming_the_file() {
    let (repo, wt) = setup();
    write_file(&wt.join("docs/guide.md"), "changed\n");
    write_file(&wt.join("src/lib.rs"), "fn b() {}\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = commit(&repo, &wt, "mixed");
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("error: commit refused: worker 'w' may not change 1 of the staged paths:"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("docs/guide.md  modified; not in the allowed paths"),
        "{out}"
    );
    assert!(out.stderr.contains("allowed: src/**"), "{out}");
    assert!(out.stderr.contains("denied:  src/secret/**"), "{out}");
    assert!(
        out.stderr.contains("git worker notify --level blocking"),
        "{out}"
    );
    assert_eq!(
        repo.git_in(&wt, ["rev-list", "--count", "HEAD"])
            .success()
            .stdout,
        "1\n"
    );

    // Unstaging the file makes the same commit pass.
    repo.git_in(&wt, ["restore", "--staged", "docs/guide.md"])
        .success();
    let out = commit(&repo, &wt, "allowed");
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn renames_deletions_denied_paths_and_mode_changes_out_of_bounds_are_refused() {
    let (repo, wt) = setup();
    // A rename out of the allowed paths: both sides are judged.
    repo.git_in(&wt, ["mv", "src/lib.rs", "docs/lib.rs"])
        .success();
    let out = commit(&repo, &wt, "rename out");
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("docs/lib.rs  added; not in the allowed paths"),
        "{out}"
    );
    repo.git_in(&wt, ["reset", "--quiet", "--hard"]).success();

    // A rename into the allowed paths still deletes a file outside them.
    repo.git_in(&wt, ["mv", "docs/guide.md", "src/guide.md"])
        .success();
    let out = commit(&repo, &wt, "rename in");
    assert!(
        out.stderr
            .contains("docs/guide.md  deleted; not in the allowed paths"),
        "{out}"
    );
    repo.git_in(&wt, ["reset", "--quiet", "--hard"]).success();

    // A deletion out of bounds.
    repo.git_in(&wt, ["rm", "--quiet", "docs/guide.md"])
        .success();
    let out = commit(&repo, &wt, "delete");
    assert!(
        out.stderr
            .contains("docs/guide.md  deleted; not in the allowed paths"),
        "{out}"
    );
    repo.git_in(&wt, ["reset", "--quiet", "--hard"]).success();

    // A denied path inside an allowed glob.
    write_file(&wt.join("src/secret/key"), "stolen\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = commit(&repo, &wt, "secret");
    assert!(
        out.stderr
            .contains("src/secret/key  modified; denied by 'src/secret/**'"),
        "{out}"
    );
    repo.git_in(&wt, ["reset", "--quiet", "--hard"]).success();

    // A mode change only.
    repo.git_in(&wt, ["update-index", "--chmod=+x", "docs/guide.md"])
        .success();
    let out = commit(&repo, &wt, "chmod");
    assert!(
        out.stderr
            .contains("docs/guide.md  modified; not in the allowed paths"),
        "{out}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_leaving_the_allowed_paths_or_the_repository_is_refused() {
    let (repo, wt) = setup();
    std::os::unix::fs::symlink("../../../../etc/passwd", wt.join("src/escape")).unwrap();
    repo.git_in(&wt, ["add", "src/escape"]).success();
    let out = commit(&repo, &wt, "escape");
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(
            "src/escape  added; symlink to '../../../../etc/passwd' leaves the repository"
        ),
        "{out}"
    );
    repo.git_in(&wt, ["rm", "--quiet", "--cached", "src/escape"])
        .success();
    std::fs::remove_file(wt.join("src/escape")).unwrap();

    std::os::unix::fs::symlink("../docs/guide.md", wt.join("src/guide")).unwrap();
    repo.git_in(&wt, ["add", "src/guide"]).success();
    let out = commit(&repo, &wt, "into docs");
    assert!(
        out.stderr
            .contains("src/guide  added; symlink to '../docs/guide.md' leaves the allowed paths"),
        "{out}"
    );
    repo.git_in(&wt, ["rm", "--quiet", "--cached", "src/guide"])
        .success();
    std::fs::remove_file(wt.join("src/guide")).unwrap();

    std::os::unix::fs::symlink("lib.rs", wt.join("src/alias")).unwrap();
    repo.git_in(&wt, ["add", "src/alias"]).success();
    assert_eq!(commit(&repo, &wt, "inside").code, 0);
}

#[test]
fn the_repositorys_own_pre_commit_hook_still_runs_and_can_refuse() {
    let (repo, wt) = setup();
    let marker = repo.root().join("hook-ran");
    write_file(
        &repo.path().join(".git/hooks/pre-commit"),
        &format!(
            "#!/bin/sh\necho ran >> '{}'\ngrep -q FORBIDDEN src/lib.rs && {{ echo 'user hook says no' >&2; exit 1; }}\nexit 0\n",
            marker.display()
        ),
    );
    chmod_x(&repo.path().join(".git/hooks/pre-commit"));
    write_file(&wt.join("src/lib.rs"), "fn ok() {}\n");
    repo.git_in(&wt, ["add", "."]).success();
    assert_eq!(commit(&repo, &wt, "ok").code, 0);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");

    write_file(&wt.join("src/lib.rs"), "FORBIDDEN\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = commit(&repo, &wt, "user says no");
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("user hook says no"), "{out}");

    // Other hooks are chained too (commit-msg). One added after the spawn is
    // reported by doctor and chained by --fix.
    write_file(
        &repo.path().join(".git/hooks/commit-msg"),
        "#!/bin/sh\ngrep -q '^JIRA-' \"$1\" || { echo 'needs a ticket' >&2; exit 1; }\n",
    );
    chmod_x(&repo.path().join(".git/hooks/commit-msg"));
    let doctor = repo.worker(["doctor"]).code(1);
    assert!(
        doctor
            .stdout
            .contains("the repository's commit-msg hook is not chained for workers"),
        "{doctor}"
    );
    repo.worker(["doctor", "--fix"]).success();
    write_file(&wt.join("src/lib.rs"), "fn c() {}\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = commit(&repo, &wt, "no ticket");
    assert!(out.stderr.contains("needs a ticket"), "{out}");
    assert_eq!(commit(&repo, &wt, "JIRA-1 with ticket").code, 0);
}

#[test]
fn hooks_present_at_spawn_are_chained_and_absent_ones_cost_nothing() {
    let repo = TestRepo::with_commit();
    let marker = repo.root().join("post-commit-ran");
    write_file(
        &repo.path().join(".git/hooks/post-commit"),
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    chmod_x(&repo.path().join(".git/hooks/post-commit"));
    repo.worker(["spawn", "w"]).success();
    let hooks: std::collections::BTreeSet<String> =
        std::fs::read_dir(repo.path().join(".git/orch/hooks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(
        hooks.into_iter().collect::<Vec<_>>(),
        ["post-commit", "pre-commit", "pre-merge-commit"]
    );
    let wt = repo.worktree("w");
    repo.git_in(&wt, ["commit", "--quiet", "--allow-empty", "-m", "x"])
        .success();
    assert!(marker.exists());
}

#[test]
fn hooks_from_a_configured_relative_hooks_path_are_chained() {
    let (repo, wt) = setup();
    // A relative core.hooksPath, here only in the worker's checkout (real
    // husky, whose directory is made by npm install: tests/real_repos.rs).
    write_file(
        &wt.join(".husky/_/pre-commit"),
        "#!/bin/sh\necho husky-ran >&2\nexit 3\n",
    );
    chmod_x(&wt.join(".husky/_/pre-commit"));
    repo.git(["config", "core.hooksPath", ".husky/_"]).success();
    write_file(&wt.join("src/lib.rs"), "fn d() {}\n");
    repo.git_in(&wt, ["add", "src/lib.rs"]).success();
    let out = commit(&repo, &wt, "husky");
    assert_eq!(out.code, 1, "git reports any hook failure as 1: {out}");
    assert!(out.stderr.contains("husky-ran"), "{out}");
}

#[test]
fn the_coordinator_checkout_has_no_worker_hook() {
    let (repo, _wt) = setup();
    repo.git(["config", "--worktree", "core.hooksPath"]).code(1);
    repo.write("docs/guide.md", "the coordinator may change anything\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "coordinator"])
        .success();
}

#[test]
fn every_bypass_is_caught_by_check() {
    let (repo, wt) = setup();
    // 1. --no-verify
    write_file(&wt.join("docs/a.md"), "a\n");
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(&wt, ["commit", "--quiet", "--no-verify", "-m", "no-verify"])
        .success();
    // 2. hooks switched off
    write_file(&wt.join("docs/b.md"), "b\n");
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(
        &wt,
        [
            "-c",
            "core.hooksPath=/dev/null",
            "commit",
            "--quiet",
            "-m",
            "hooks off",
        ],
    )
    .success();
    // 3. plumbing: commit-tree + update-ref run no hooks
    write_file(&wt.join("docs/c.md"), "c\n");
    repo.git_in(&wt, ["add", "."]).success();
    let tree = repo.git_in(&wt, ["write-tree"]).read();
    let head = repo.git_in(&wt, ["rev-parse", "HEAD"]).read();
    let commit = repo
        .git_in(&wt, ["commit-tree", &tree, "-p", &head, "-m", "plumbing"])
        .read();
    repo.git_in(&wt, ["update-ref", "refs/heads/orch/w", &commit])
        .success();
    // 4. uncommitted and untracked work
    write_file(&wt.join("docs/guide.md"), "edited, not staged\n");
    write_file(&wt.join("notes.txt"), "untracked\n");

    let out = repo.worker(["check", "w"]).code(1);
    for line in [
        "worker 'w': 5 of 5 changed paths break the contract:",
        "docs/a.md      added; not in the allowed paths",
        "docs/b.md      added; not in the allowed paths",
        "docs/c.md      added; not in the allowed paths",
        "docs/guide.md  modified; not in the allowed paths",
        "notes.txt      added; not in the allowed paths",
    ] {
        assert!(out.stdout.contains(line), "missing {line:?}:\n{out}");
    }
    let json = repo.worker(["check", "w", "--json"]).code(1).json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["workers"][0]["violations"][0]["rule"], "not-allowed");
    // From the worker's own checkout, without an id.
    repo.git_in(&wt, ["worker", "check"]).code(1);
    // A range judged by the contract.
    let out = repo
        .worker(["check", "w", "--range", &format!("{head}..{commit}")])
        .code(1);
    assert!(out.stdout.contains("docs/c.md"), "{out}");
    assert!(!out.stdout.contains("docs/a.md"), "{out}");
}

#[test]
fn check_passes_clean_work_and_checks_every_worker_without_an_id() {
    let (repo, wt) = setup();
    write_file(&wt.join("src/new.rs"), "fn n() {}\n");
    let out = repo.worker(["check"]).success();
    assert_eq!(
        out.stdout,
        "worker 'w': 1 changed path, all within the contract\n"
    );
    repo.worker(["spawn", "v", "--allow", "docs/**"]).success();
    write_file(&repo.worktree("v").join("src/lib.rs"), "nope\n");
    let out = repo.worker(["check"]).code(1);
    assert!(
        out.stdout
            .contains("worker 'w': 1 changed path, all within the contract"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("worker 'v': 1 of 1 changed path break the contract"),
        "{out}"
    );
    let out = repo.worker(["check", "nope"]).code(2);
    assert!(
        out.stderr.contains("worker 'nope' is not registered"),
        "{out}"
    );
    let out = repo.worker(["check", "w", "--range", "main"]).code(2);
    assert!(out.stderr.contains("invalid range 'main'"), "{out}");
}

#[test]
fn odd_file_names_get_correct_verdicts() {
    let (repo, wt) = setup();
    write_file(&wt.join("src/with space.rs"), "x\n");
    write_file(&wt.join("docs/with space.md"), "x\n");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let raw = std::ffi::OsStr::from_bytes(b"src/caf\xe9.rs");
        std::fs::write(wt.join(raw), "latin-1 name\n").unwrap();
        let outside = std::ffi::OsStr::from_bytes(b"docs/bad\xff.md");
        std::fs::write(wt.join(outside), "x\n").unwrap();
        std::fs::write(wt.join("src/new\nline.rs"), "x\n").unwrap();
    }
    let json = repo.worker(["check", "w", "--json"]).code(1).json();
    let paths: Vec<&str> = json["workers"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["docs/bad\\xff.md", "docs/with space.md"], "{json}");
    assert_eq!(json["workers"][0]["changed"], 5);
    // The same verdicts at commit time.
    repo.git_in(&wt, ["add", "src"]).success();
    assert_eq!(commit(&repo, &wt, "odd names inside").code, 0);
    // And refused at commit time outside, named with its bytes escaped.
    repo.git_in(&wt, ["add", "docs"]).success();
    let out = commit(&repo, &wt, "odd names outside");
    assert_eq!(out.code, 1, "{out}");
    #[cfg(unix)]
    assert!(out.stderr.contains("docs/bad\\xff.md"), "{out}");
    assert!(out.stderr.contains("docs/with space.md"), "{out}");
}

#[test]
fn ten_thousand_staged_files_get_correct_verdicts() {
    let (repo, wt) = setup();
    for i in 0..10_000 {
        let dir = if i == 7_777 { "docs" } else { "src/gen" };
        write_file(&wt.join(format!("{dir}/f{i:05}.txt")), "");
    }
    repo.git_in(&wt, ["add", "."]).success();
    let out = commit(&repo, &wt, "bulk");
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("may not change 1 of the staged paths"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("docs/f07777.txt  added; not in the allowed paths"),
        "{out}"
    );
    repo.git_in(&wt, ["rm", "--quiet", "--cached", "docs/f07777.txt"])
        .success();
    assert_eq!(commit(&repo, &wt, "bulk inside").code, 0);
}

#[test]
fn a_contract_arriving_through_a_fetch_is_reported_not_adopted() {
    let (repo, wt) = setup();
    write_file(&wt.join("docs/x.md"), "x\n");
    // Someone rewrites the registry entry with a wider contract (as a fetch with
    // a forced refspec from a tampered remote would).
    let tip = repo.rev("refs/orch/workers/w");
    let forged = repo.edit_entry(repo.path(), &tip, "contract.toml", |c| {
        c.replace("allow = [\"src/**\"]", "allow = [\"**\"]")
    });
    repo.git(["update-ref", "refs/orch/workers/w", &forged])
        .success();

    let out = repo.worker(["check", "w"]).code(1);
    assert!(
        out.stderr.contains(
            "differs from the one recorded at spawn (in: allow); enforcing the recorded one"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("docs/x.md"), "{out}");
    // The worker's hook enforces the recorded contract too.
    repo.git_in(&wt, ["add", "."]).success();
    assert_eq!(commit(&repo, &wt, "widened?").code, 1);
}

#[test]
fn doctor_reports_missing_hooks_and_fix_repairs_them() {
    let (repo, wt) = setup();
    let doctor = repo.worker(["doctor"]).success();
    assert!(
        doctor
            .stdout
            .contains("ok       worker hooks installed for 1 checkout(s)"),
        "{doctor}"
    );
    std::fs::remove_file(repo.path().join(".git/orch/hooks/pre-commit")).unwrap();
    repo.git_in(&wt, ["config", "--worktree", "--unset", "core.hooksPath"])
        .success();
    let doctor = repo.worker(["doctor"]).code(1);
    assert!(
        doctor.stdout.contains("hooks/pre-commit' is missing"),
        "{doctor}"
    );
    assert!(
        doctor
            .stdout
            .contains("the checkout of 'w' does not use the worker hooks"),
        "{doctor}"
    );
    assert!(
        doctor.stdout.contains("fix: git worker doctor --fix"),
        "{doctor}"
    );
    // Meanwhile the hook is gone: a bad commit gets through, and check still catches it.
    write_file(&wt.join("docs/guide.md"), "sneaky\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "sneaky"])
        .success();
    let fixed = repo.worker(["doctor", "--fix"]).success();
    assert!(
        fixed
            .stderr
            .contains("fixed: hooks and config of worker 'w'"),
        "{fixed}"
    );
    assert!(
        fixed
            .stdout
            .contains("ok       worker hooks installed for 1 checkout(s)"),
        "{fixed}"
    );
    write_file(&wt.join("docs/guide.md"), "again\n");
    assert_eq!(
        repo.git_in(&wt, ["commit", "--quiet", "-am", "again"])
            .output()
            .code,
        1
    );
}

#[test]
fn removing_the_last_worker_removes_the_hooks() {
    let (repo, _wt) = setup();
    assert!(repo.path().join(".git/orch/hooks/pre-commit").is_file());
    repo.worker(["rm", "w"]).success();
    assert!(!repo.path().join(".git/orch").exists());
}

// ----- the hub -----

/// A hub with the registry pushed, and a worker clone of it on branch orch/w.
fn hub_setup() -> (TestRepo, PathBuf, PathBuf) {
    let (repo, _wt) = setup();
    let hub = repo.root().join("hub.git");
    let out = repo.worker(["hub", "init"]).arg(&hub).success();
    assert_eq!(out.stdout, "$ROOT/hub.git\n");
    repo.git(["remote", "add", "hub"]).arg(&hub).success();
    repo.git(["push", "--quiet", "hub", "main", "refs/orch/*:refs/orch/*"])
        .success();
    let clone = repo.root().join("worker-clone");
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet", "-b", "main"])
        .arg(&hub)
        .arg(&clone)
        .success();
    repo.git_in(&clone, ["checkout", "--quiet", "-b", "orch/w"])
        .success();
    (repo, hub, clone)
}

fn push(repo: &TestRepo, clone: &Path, refspec: &str) -> crate::support::Run {
    repo.git_in(clone, ["push", "origin", refspec])
}

#[test]
fn the_hub_refuses_out_of_contract_worker_pushes_and_accepts_clean_ones() {
    let (repo, _hub, clone) = hub_setup();
    write_file(&clone.join("src/ok.rs"), "ok\n");
    repo.git_in(&clone, ["add", "."]).success();
    repo.git_in(&clone, ["commit", "--quiet", "-m", "ok"])
        .success();
    push(&repo, &clone, "orch/w").success();

    // Committed with --no-verify in a clone has no hooks at all: the hub catches it.
    write_file(&clone.join("docs/guide.md"), "bad\n");
    write_file(&clone.join("src/secret/key"), "bad\n");
    repo.git_in(&clone, ["commit", "--quiet", "--no-verify", "-am", "bad"])
        .success();
    let out = push(&repo, &clone, "orch/w").output();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("remote: error: refs/heads/orch/w: 'docs/guide.md' modified; not in the allowed paths (worker 'w', allowed: src/**, denied: src/secret/**)"), "{out}");
    assert!(
        out.stderr.contains(
            "remote: error: refs/heads/orch/w: 'src/secret/key' modified; denied by 'src/secret/**'"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("pre-receive hook declined"), "{out}");

    // Reverting makes the cumulative change clean again.
    repo.git_in(&clone, ["revert", "--no-edit", "HEAD"])
        .success();
    push(&repo, &clone, "orch/w").success();
}

#[test]
fn the_hub_refuses_worker_branches_without_a_contract() {
    let (repo, _hub, clone) = hub_setup();
    repo.git_in(&clone, ["checkout", "--quiet", "-b", "orch/ghost"])
        .success();
    let out = push(&repo, &clone, "orch/ghost").output();
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("refs/heads/orch/ghost: no worker contract names branch 'orch/ghost'"),
        "{out}"
    );
    // Ordinary branches are not the hub's business.
    repo.git_in(&clone, ["checkout", "--quiet", "-b", "feature"])
        .success();
    push(&repo, &clone, "feature").success();
}

#[test]
fn the_hub_keeps_the_registry_append_only() {
    let (repo, hub, clone) = hub_setup();
    repo.git_in(
        &clone,
        ["fetch", "--quiet", "origin", "refs/orch/*:refs/orch/*"],
    )
    .success();
    let tip = repo
        .git_in(&clone, ["rev-parse", "refs/orch/workers/w"])
        .read();
    let parent = repo
        .git_in(&clone, ["rev-parse", "refs/orch/workers/w~1"])
        .read();

    // Rewinding a worker's log is refused.
    let out = push(&repo, &clone, &format!("+{parent}:refs/orch/workers/w")).output();
    assert!(
        out.stderr
            .contains("refs/orch/workers/w: rewrites history (not a fast-forward"),
        "{out}"
    );
    // Deleting it is refused.
    let out = push(&repo, &clone, ":refs/orch/workers/w").output();
    assert!(
        out.stderr
            .contains("deleting the event log of worker 'w' is not allowed"),
        "{out}"
    );
    // Changing the contract in an appended event is refused.
    let forged = repo.edit_entry(&clone, &tip, "contract.toml", |c| {
        c.replace("allow = [\"src/**\"]", "allow = [\"**\"]")
    });
    let out = push(&repo, &clone, &format!("{forged}:refs/orch/workers/w")).output();
    assert!(
        out.stderr
            .contains("changes the contract of worker 'w' (in: allow)"),
        "{out}"
    );
    assert_eq!(
        repo.git_in(&hub, ["rev-parse", "refs/orch/workers/w"])
            .success()
            .stdout
            .trim(),
        tip
    );

    // The coordinator's own appends and archiving go through.
    repo.worker(["rm", "--force", "w"]).success();
    repo.git([
        "push",
        "--quiet",
        "--prune",
        "hub",
        "refs/orch/*:refs/orch/*",
    ])
    .success();
    repo.git_in(
        &hub,
        ["rev-parse", "--verify", "--quiet", "refs/orch/workers/w"],
    )
    .code(1);
}

#[test]
fn hub_init_refuses_a_non_bare_repository() {
    let repo = TestRepo::with_commit();
    let out = repo.worker(["hub", "init", "."]).code(2);
    assert!(out.stderr.contains("is not a bare repository"), "{out}");
}

fn chmod_x(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A registry entry commit built by hand in `dir`: what a worker with push
/// access could forge.
fn forge_entry(repo: &TestRepo, dir: &Path, contract: &str) -> String {
    let blob = |text: &str| {
        repo.git_in(dir, ["hash-object", "-w", "--stdin"])
            .stdin(text)
            .read()
    };
    let tree_input = format!(
        "100644 blob {}\tcontract.toml\n100644 blob {}\tformat\n100644 blob {}\tstate.toml\n",
        blob(contract),
        blob("1\n"),
        blob("state = \"active\"\ncreated = 1\nupdated = 1\nclock = 1\n"),
    );
    let tree = repo.git_in(dir, ["mktree"]).stdin(tree_input).read();
    repo.git_in(dir, ["commit-tree", &tree, "-m", "forged"])
        .read()
}

#[test]
fn the_hub_refuses_forged_entries_that_would_govern_a_worker_branch() {
    let (repo, hub, clone) = hub_setup();
    let base = repo.rev("main");
    write_file(&clone.join("docs/evil.md"), "x\n");
    repo.git_in(&clone, ["add", "."]).success();
    repo.git_in(&clone, ["commit", "--quiet", "--no-verify", "-m", "evil"])
        .success();

    // A new entry claiming the branch of worker 'w', with no path rules.
    let forged = forge_entry(
        &repo,
        &clone,
        &format!("id = \"evil\"\nbranch = \"orch/w\"\nbase = \"{base}\"\nbase-ref = \"main\"\n"),
    );
    let out = push(&repo, &clone, &format!("{forged}:refs/orch/workers/evil"))
        .arg("orch/w")
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("refs/orch/workers/evil: claims branch 'orch/w', which the contract of worker 'w' governs"), "{out}");
    assert!(
        out.stderr
            .contains("refs/heads/orch/w: 'docs/evil.md' added; not in the allowed paths"),
        "{out}"
    );

    // An entry whose contract names another id than its ref is corrupt.
    let mismatched = forge_entry(
        &repo,
        &clone,
        &format!("id = \"w\"\nbranch = \"orch/other\"\nbase = \"{base}\"\nbase-ref = \"main\"\n"),
    );
    let out = push(
        &repo,
        &clone,
        &format!("{mismatched}:refs/orch/workers/other"),
    )
    .output();
    assert!(
        out.stderr
            .contains("holds the contract of 'w', not of 'other'"),
        "{out}"
    );
    repo.git_in(
        &hub,
        ["rev-parse", "--verify", "--quiet", "refs/orch/workers/evil"],
    )
    .code(1);
    repo.git_in(
        &hub,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            "refs/orch/workers/other",
        ],
    )
    .code(1);
}

#[test]
fn a_blanket_check_is_an_error_when_an_entry_cannot_be_read() {
    let (repo, wt) = setup();
    write_file(&wt.join("docs/evil.md"), "x\n");
    // The worker's entry is replaced by junk (or deleted): it cannot be judged.
    let tree = repo.git(["mktree"]).stdin("").read();
    let junk = repo
        .git(repo.signed(&["commit-tree", &tree, "-m", "junk"]))
        .read();
    repo.git(["update-ref", "refs/orch/workers/w", &junk])
        .success();
    let out = repo.worker(["check"]).code(2);
    assert!(
        out.stderr
            .contains("registry entry 'refs/orch/workers/w' is corrupt"),
        "{out}"
    );
    assert!(
        out.stderr.contains("1 worker(s) could not be checked"),
        "{out}"
    );
    repo.git(["update-ref", "-d", "refs/orch/workers/w"])
        .success();
    let out = repo.worker(["check", "--json"]).code(2);
    assert!(
        out.stderr
            .contains("worker 'w' has a checkout on this machine but no registry entry"),
        "{out}"
    );
    assert_eq!(out.json()["ok"], false);
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_denied_directory_is_refused() {
    let (repo, wt) = setup();
    std::os::unix::fs::symlink("secret", wt.join("src/s")).unwrap();
    repo.git_in(&wt, ["add", "src/s"]).success();
    let out = commit(&repo, &wt, "link to the denied directory");
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("src/s  added; symlink to 'secret' leaves the allowed paths"),
        "{out}"
    );
    repo.worker(["check", "w"]).code(1);
}

#[test]
fn a_merge_bringing_paths_outside_the_contract_is_refused() {
    let (repo, wt) = setup();
    repo.git(["checkout", "--quiet", "-b", "other"]).success();
    repo.write("docs/other.md", "from another branch\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "other"]).success();
    repo.git(["checkout", "--quiet", "main"]).success();
    write_file(&wt.join("src/mine.rs"), "x\n");
    repo.git_in(&wt, ["add", "."]).success();
    assert_eq!(commit(&repo, &wt, "mine").code, 0);
    let out = repo
        .git_in(&wt, ["merge", "--no-ff", "--no-edit", "other"])
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("docs/other.md  added; not in the allowed paths"),
        "{out}"
    );
    repo.git_in(&wt, ["merge", "--abort"]).success();
}

#[test]
fn hub_init_keeps_the_hubs_own_hooks_running() {
    let repo = TestRepo::with_commit();
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["init", "--quiet", "--bare"])
        .arg(&hub)
        .success();
    let admin = repo.root().join("admin-hooks");
    write_file(
        &admin.join("pre-receive"),
        "#!/bin/sh\necho 'admin hook says no' >&2\nexit 1\n",
    );
    chmod_x(&admin.join("pre-receive"));
    repo.git_in(&hub, ["config", "core.hooksPath"])
        .arg(&admin)
        .success();
    let out = repo.worker(["hub", "init"]).arg(&hub).success();
    assert!(out.stderr.contains("kept the hub's own hooks"), "{out}");
    repo.git(["remote", "add", "hub"]).arg(&hub).success();
    let out = repo.git(["push", "hub", "main"]).output();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("admin hook says no"), "{out}");
}

#[test]
fn the_hub_learns_the_teams_branch_prefix_from_the_coordinator() {
    let repo = TestRepo::with_commit();
    repo.write(".orch.toml", "prefix = 'agents/'\n");
    let hub = repo.root().join("hub.git");
    repo.worker(["hub", "init"]).arg(&hub).success();
    assert_eq!(
        repo.git_in(&hub, ["config", "orch.prefix"])
            .success()
            .stdout,
        "agents/\n"
    );
    repo.git(["remote", "add", "hub"]).arg(&hub).success();
    repo.git(["branch", "agents/ghost"]).success();
    let out = repo.git(["push", "hub", "agents/ghost"]).output();
    assert!(
        out.stderr
            .contains("no worker contract names branch 'agents/ghost'"),
        "{out}"
    );
}

#[test]
fn the_hub_catches_every_bypass_pushed_from_the_worker_checkout() {
    let (repo, _hub, _clone) = hub_setup();
    let wt = repo.worktree("w");
    let refused = |what: &str| {
        let out = repo.git_in(&wt, ["push", "hub", "orch/w"]).output();
        assert_ne!(out.code, 0, "{what}: {out}");
        assert!(
            out.stderr.contains("refs/heads/orch/w: 'docs/"),
            "{what}: {out}"
        );
        repo.git_in(&wt, ["reset", "--quiet", "--hard", "main"])
            .success();
    };
    // Hooks switched off.
    write_file(&wt.join("docs/a.md"), "a\n");
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(
        &wt,
        [
            "-c",
            "core.hooksPath=/dev/null",
            "commit",
            "--quiet",
            "-m",
            "hooks off",
        ],
    )
    .success();
    refused("core.hooksPath=/dev/null");
    // Plumbing: commit-tree and update-ref run no hook.
    write_file(&wt.join("docs/b.md"), "b\n");
    repo.git_in(&wt, ["add", "."]).success();
    let tree = repo.git_in(&wt, ["write-tree"]).read();
    let commit = repo
        .git_in(&wt, ["commit-tree", &tree, "-p", "HEAD", "-m", "plumbing"])
        .read();
    repo.git_in(&wt, ["update-ref", "refs/heads/orch/w", &commit])
        .success();
    refused("commit-tree + update-ref");
}

#[test]
fn a_refused_commit_or_report_is_an_event_the_views_show() {
    let (repo, wt) = setup();
    write_file(&wt.join("docs/guide.md"), "outside\n");
    repo.git_in(&wt, ["add", "docs/guide.md"]).success();
    let out = commit(&repo, &wt, "outside");
    assert_eq!(out.code, 1, "{out}");
    let log = repo.worker(["log", "w", "--json"]).success().json();
    let refused = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "refused")
        .unwrap_or_else(|| panic!("no refused event: {log}"))
        .clone();
    assert_eq!(refused["data"]["by"], "pre-commit", "{refused}");
    assert_eq!(
        refused["data"]["paths"],
        serde_json::json!(["docs/guide.md"])
    );
    assert_eq!(refused["actor"], "worker");
    let dashboard = repo.worker(["dashboard", "--json"]).success().json();
    assert_eq!(
        dashboard["workers"][0]["warnings"],
        serde_json::json!(["refused by pre-commit: docs/guide.md"]),
        "{dashboard}"
    );
    // A refused report too.
    repo.git_in(&wt, ["handoff", "report", "--summary", "outside"])
        .code(1);
    let kinds = repo.events("w");
    assert_eq!(
        kinds.iter().filter(|(kind, _)| kind == "refused").count(),
        2,
        "{kinds:?}"
    );
    let timeline = repo.worker(["timeline"]).read();
    assert!(timeline.contains("refused"), "{timeline}");
}
