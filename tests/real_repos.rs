//! What real repositories bring: submodules, sparse checkouts, the hook
//! tools projects use (husky, pre-commit, lefthook).

use crate::support::{Run, TestRepo, write_file};

/// A run that may clone submodules from a local path (git refuses the
/// `file` transport for submodules unless told).
fn with_file_protocol(run: Run) -> Run {
    run.env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "protocol.file.allow")
        .env("GIT_CONFIG_VALUE_0", "always")
}

/// A repository with submodule `lib` (a repository of its own under the
/// test root), checked out, and worker `w` allowed to move it.
fn with_submodule() -> TestRepo {
    let repo = TestRepo::new();
    let lib = repo.root().join("lib");
    repo.cmd_in(
        repo.root(),
        "git",
        ["init", "--quiet", "--initial-branch=main", "lib"],
    )
    .success();
    write_file(&lib.join("lib.c"), "int lib;\n");
    repo.git_in(&lib, ["add", "."]).success();
    repo.git_in(&lib, ["commit", "--quiet", "-m", "lib"])
        .success();
    repo.write("README.md", "hello\n");
    with_file_protocol(repo.git(["submodule", "--quiet", "add"]))
        .arg(&lib)
        .arg("lib")
        .success();
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "with lib"]).success();
    repo
}

/// Worker `id`, allowed `lib`, commits a new commit of the submodule that
/// exists only in its own copy of it, and its gitlink; returns the commit.
fn move_submodule(repo: &TestRepo, id: &str) -> String {
    repo.worker(["spawn", id, "--allow", "lib"]).success();
    let wt = repo.worktree(id);
    with_file_protocol(repo.git_in(&wt, ["submodule", "--quiet", "update", "--init", "lib"]))
        .success();
    write_file(&wt.join("lib/lib.c"), &format!("int lib_{id};\n"));
    repo.git_in(&wt.join("lib"), ["commit", "--quiet", "-am", "only here"])
        .success();
    let commit = repo.git_in(&wt.join("lib"), ["rev-parse", "HEAD"]).read();
    repo.git_in(&wt, ["commit", "--quiet", "-am", "move lib"])
        .success();
    commit
}

#[test]
fn a_gitlink_to_a_commit_only_the_worker_has_is_refused_naming_it_and_the_hint_fixes_it() {
    let repo = with_submodule();
    let commit = move_submodule(&repo, "w");
    let wt = repo.worktree("w");
    repo.git_in(&wt, ["handoff", "report", "--summary", "move lib"])
        .success();
    let head = repo.rev("HEAD");
    let out = repo.git(["handoff", "apply", "w"]).code(2);
    assert!(
        out.stderr.contains(&format!(
            "error: the handoff of 'w' points submodule 'lib' at commit {commit}, which this checkout's copy of 'lib' does not have; nothing was applied"
        )),
        "{out}"
    );
    assert_eq!(repo.rev("HEAD"), head);
    assert_eq!(repo.git(["status", "--porcelain"]).read(), "");

    // The hint's command brings the commit over; then it lands, and the
    // submodule can be checked out at it.
    let hint = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: fetch it from the worker's copy: "))
        .unwrap_or_else(|| panic!("{out}"));
    let hint = hint.replace("$ROOT", &repo.root().display().to_string());
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(&words[..3], ["git", "-C", "lib"], "{hint}");
    repo.git(&words[1..]).success();
    repo.git(["handoff", "apply", "w"]).success();
    with_file_protocol(repo.git(["submodule", "--quiet", "update", "lib"])).success();
    assert_eq!(
        repo.git_in(&repo.path().join("lib"), ["rev-parse", "HEAD"])
            .read(),
        commit
    );
}

#[test]
fn removing_a_worker_never_deletes_the_only_copy_of_a_submodule_commit_head_or_its_branch_names() {
    let repo = with_submodule();
    let commit = move_submodule(&repo, "w");
    // Landed outside the tool (a plain merge): HEAD now names a commit that
    // only the worker's copy of the submodule has.
    repo.git(["merge", "--quiet", "--ff-only", "orch/w"])
        .success();
    let wt = repo.worktree("w");
    for args in [&["rm", "w"][..], &["cleanup", "--landed"][..]] {
        let out = repo.worker(args).output();
        assert!(
            out.stderr.contains(&format!(
                "the checkout of worker 'w' has the only copy of submodule commit {commit} ('lib'), which HEAD names"
            )),
            "{args:?}: {out}"
        );
        assert!(
            wt.join("lib/lib.c").is_file(),
            "{args:?}: the checkout is kept"
        );
    }
    // Once it is fetched, the worker goes.
    repo.git_in(&repo.path().join("lib"), ["fetch", "--quiet"])
        .arg(wt.join("lib"))
        .arg(format!("{commit}:refs/heads/orch/w"))
        .success();
    repo.worker(["rm", "w"]).success();
    assert!(!wt.exists());
    // (and the submodule's own repository has it, for the next checkout)
    repo.git_in(&repo.path().join("lib"), ["push", "--quiet"])
        .arg(repo.root().join("lib"))
        .arg(format!("{commit}:refs/heads/w"))
        .success();

    // Not landed: its branch names it.
    let commit = move_submodule(&repo, "v");
    let out = repo.worker(["rm", "v"]).code(2);
    assert!(
        out.stderr.contains(&format!(
            "has the only copy of submodule commit {commit} ('lib'), which its branch names"
        )),
        "{out}"
    );
    repo.worker(["rm", "v", "--force"]).success();
}

/// A repository set up the way husky 9 sets one up (`husky` after `npm
/// install`: an ignored `.husky/_` of launchers, core.hooksPath pointing
/// at it), with a tracked `.husky/pre-commit` refusing "FORBIDDEN".
fn with_husky() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("package.json", "{ \"name\": \"app\", \"private\": true }\n");
    repo.write("src/app.js", "ok\n");
    repo.write(
        ".husky/pre-commit",
        "if git diff --cached | grep -q 'FORBID''DEN'; then echo 'husky hook: the forbidden word' >&2; exit 1; fi\n",
    );
    let out = repo
        .cmd_in(
            repo.path(),
            &crate::support::test_tool("husky").display().to_string(),
            Vec::<&str>::new(),
        )
        .success();
    assert_eq!(
        repo.git(["config", "core.hooksPath"]).read(),
        ".husky/_",
        "{out}"
    );
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "husky"]).success();
    assert_eq!(
        repo.git(["ls-files", ".husky/_"]).read(),
        "",
        "husky's launchers are not tracked"
    );
    repo
}

#[test]
fn husky_hooks_run_in_a_new_worker_checkout_and_a_missing_launcher_dir_is_said() {
    let repo = with_husky();
    let out = repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    assert!(
        out.stderr
            .contains("copied the repository's hooks directory '.husky/_' into the new checkout"),
        "{out}"
    );
    let wt = repo.worktree("w");
    write_file(&wt.join("src/app.js"), "FORBIDDEN\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = repo.git_in(&wt, ["commit", "--quiet", "-m", "bad"]).code(1);
    assert!(
        out.stderr.contains("husky hook: the forbidden word"),
        "{out}"
    );
    write_file(&wt.join("src/app.js"), "fine\n");
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "good"])
        .success();

    // Without its launchers (never made here), the hook cannot run: said.
    std::fs::remove_dir_all(wt.join(".husky/_")).unwrap();
    let doctor = repo.worker(["doctor"]).code(1);
    assert!(
        doctor
            .stdout
            .contains("the checkout of 'w' lacks the repository's hooks directory '.husky/_'")
            || doctor
                .stderr
                .contains("the checkout of 'w' lacks the repository's hooks directory '.husky/_'"),
        "{doctor}"
    );
    write_file(&wt.join("src/app.js"), "FORBIDDEN again\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = repo
        .git_in(&wt, ["commit", "--quiet", "-m", "unchecked"])
        .success();
    assert!(
        out.stderr.contains("warning: the repository's hooks directory")
            && out.stderr.contains(".husky/_' (core.hooksPath) does not exist in this checkout: its pre-commit hook did not run"),
        "{out}"
    );
    // doctor --fix puts the launchers back, and the hook runs again.
    repo.git_in(&wt, ["reset", "--quiet", "HEAD"]).success();
    repo.worker(["doctor", "--fix"]).output();
    assert!(wt.join(".husky/_/pre-commit").is_file());
    write_file(&wt.join("src/app.js"), "FORBIDDEN once more\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = repo.git_in(&wt, ["commit", "--quiet", "-m", "bad"]).code(1);
    assert!(
        out.stderr.contains("husky hook: the forbidden word"),
        "{out}"
    );
}

#[test]
fn setup_commands_make_a_checkout_ready_a_failing_one_rolls_the_spawn_back_and_teardown_runs_on_removal()
 {
    let repo = TestRepo::with_commit();
    let log = repo.root().join("teardown.log");
    repo.write(
        ".orch.toml",
        &format!(
            "[setup]\nrun = [\"echo ready for $ORCH_WORKER > .ready\", \"test -f README.md\"]\nteardown = [\"echo torn down $ORCH_WORKER >> '{}'\"]\n",
            log.display()
        ),
    );
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "setup"]).success();
    let out = repo.worker(["spawn", "w"]).success();
    assert!(out.stderr.contains("setup of 'w': echo ready"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.worktree("w").join(".ready")).unwrap(),
        "ready for w\n"
    );
    std::fs::remove_file(repo.worktree("w").join(".ready")).unwrap();
    repo.worker(["rm", "w"]).success();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "torn down w\n");

    // A failing setup command stops the spawn, and nothing is left.
    repo.git(["config", "orch.setup", "exit 7"]).success();
    let before = repo.snapshot();
    let out = repo.worker(["spawn", "v"]).code(2);
    assert!(
        out.stderr
            .contains("the setup command 'exit 7' of 'v' exited 7"),
        "{out}"
    );
    assert!(out.stderr.contains("rolled back"), "{out}");
    assert_eq!(repo.snapshot(), before);
}

/// A repository whose pre-commit (the PyPI tool, installed as its hook)
/// refuses "FORBIDDEN" in `src/`, and worker `w` allowed `src/**`.
fn with_pre_commit() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/app.py", "ok = True\n");
    repo.write(
        ".pre-commit-config.yaml",
        "repos:\n- repo: local\n  hooks:\n  - id: no-forbidden\n    name: no forbidden word\n    entry: sh -c '! grep -n FORBID''DEN \"$@\"' --\n    language: system\n    files: ^src/\n",
    );
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "pre-commit"])
        .success();
    let tool = crate::support::test_tool("pre-commit")
        .display()
        .to_string();
    repo.cmd_in(repo.path(), &tool, ["install"]).success();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    repo
}

#[test]
fn uncommitted_work_meets_the_repositorys_own_pre_commit_hook_when_reported() {
    let repo = with_pre_commit();
    let wt = repo.worktree("w");
    // Committed work meets it at commit time, as always.
    write_file(&wt.join("src/app.py"), "FORBIDDEN = 1\n");
    repo.git_in(&wt, ["add", "."]).success();
    let out = repo.git_in(&wt, ["commit", "--quiet", "-m", "bad"]).code(1);
    assert!(
        out.stdout.contains("no forbidden word") || out.stderr.contains("no forbidden word"),
        "{out}"
    );

    // Left uncommitted (staged, unstaged or untracked), it meets it at report.
    repo.git_in(&wt, ["reset", "--quiet"]).success();
    write_file(&wt.join("src/new.py"), "x = 'FORBIDDEN'\n");
    let out = repo
        .git_in(&wt, ["handoff", "report", "--summary", "unchecked"])
        .code(1);
    assert!(
        out.stderr.contains(
            "error: the repository's pre-commit hook refuses the uncommitted work of 'w' (exit 1); nothing was reported"
        ),
        "{out}"
    );
    assert!(
        out.stdout.contains("src/new.py") || out.stderr.contains("src/new.py"),
        "{out}"
    );
    assert!(
        !repo.events("w").iter().any(|(kind, _)| kind == "reported"),
        "nothing was reported"
    );
    // The checkout is as the worker left it.
    assert_eq!(
        std::fs::read_to_string(wt.join("src/new.py")).unwrap(),
        "x = 'FORBIDDEN'\n"
    );
    assert_eq!(
        repo.git_in(&wt, ["status", "--porcelain"]).success().stdout,
        " M src/app.py\n?? src/new.py\n"
    );

    // Fixed, it reports; --no-verify reports without the hook.
    write_file(&wt.join("src/app.py"), "fine = 1\n");
    write_file(&wt.join("src/new.py"), "x = 'fine'\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "checked"])
        .success();
    write_file(&wt.join("src/new.py"), "x = 'FORBIDDEN'\n");
    repo.git_in(
        &wt,
        ["handoff", "report", "--summary", "unchecked", "--no-verify"],
    )
    .success();
}

/// A repository with `src/`, `docs/` and a top-level file.
fn src_and_docs() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "hello\n");
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("docs/guide.md", "guide\n");
    repo.write("docs/deep/more.md", "more\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

#[test]
fn a_sparse_worker_has_only_its_cone_and_files_outside_it_are_not_deletions() {
    let repo = src_and_docs();
    repo.worker(["spawn", "w", "--sparse", "--allow", "src/**"])
        .success();
    let wt = repo.worktree("w");
    assert!(wt.join("src/lib.rs").is_file() && wt.join("README.md").is_file());
    assert!(!wt.join("docs").exists(), "docs/ is outside the cone");

    // Nothing changed: not a violation, not dirty, nothing to show.
    repo.worker(["check", "w"]).success();
    let list = repo.worker(["list", "--json"]).success().json();
    assert_eq!(list["workers"][0]["dirty"], false, "{list}");
    let shown = repo.git(["handoff", "show", "w"]).success();
    assert!(!shown.stdout.contains("docs/"), "{shown}");

    // Its change is judged and lands as any other.
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn b() {}\n");
    repo.worker(["check", "w"]).success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "b"])
        .success();
    let out = repo
        .git(["handoff", "show", "w", "--json"])
        .success()
        .json();
    assert_eq!(out["handoff"]["files"], 1, "{out}");
    repo.git(["handoff", "apply", "w"]).success();
    assert!(repo.path().join("docs/guide.md").is_file());
}

#[test]
fn a_sparse_coordinator_applies_a_change_outside_its_cone() {
    let repo = src_and_docs();
    repo.worker(["spawn", "d", "--allow", "docs/**"]).success();
    let wt = repo.worktree("d");
    write_file(&wt.join("docs/guide.md"), "guide, improved\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "docs"])
        .success();
    repo.git(["sparse-checkout", "set", "src"]).success();
    assert!(!repo.path().join("docs").exists());
    // Outside the cone is not "your uncommitted changes".
    let out = repo.git(["handoff", "apply", "d"]).success();
    assert!(out.stderr.contains("applied the handoff of 'd'"), "{out}");
    assert_eq!(
        repo.git(["show", "HEAD:docs/guide.md"]).read(),
        "guide, improved"
    );
}

#[test]
fn without_origin_head_spawning_from_main_while_on_trunk_is_said() {
    let repo = TestRepo::with_commit();
    repo.git(["checkout", "--quiet", "-b", "trunk"]).success();
    repo.write("README.md", "trunk moved on\n");
    repo.git(["commit", "--quiet", "-am", "trunk"]).success();
    let out = repo.worker(["spawn", "w"]).success();
    assert!(
        out.stderr.contains(
            "warning: spawning from 'main', though you are on 'trunk': nothing says which branch is the default (no origin/HEAD)"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("hint: --base trunk"), "{out}");
    // Said once it is set, no more.
    repo.git(["config", "orch.base", "trunk"]).success();
    let out = repo.worker(["spawn", "v"]).success();
    assert!(!out.stderr.contains("warning"), "{out}");
}

#[test]
fn spawn_fetch_bases_on_what_it_fetched_when_the_local_branch_is_behind() {
    let repo = TestRepo::with_commit();
    let upstream = repo.root().join("upstream.git");
    repo.git(["clone", "--quiet", "--bare", "."])
        .arg(&upstream)
        .success();
    repo.git(["remote", "add", "origin"])
        .arg(&upstream)
        .success();
    // Someone else pushes to the upstream; the local main is now behind.
    let other = repo.root().join("other");
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet"])
        .arg(&upstream)
        .arg(&other)
        .success();
    write_file(&other.join("README.md"), "newer\n");
    repo.git_in(&other, ["commit", "--quiet", "-am", "newer"])
        .success();
    repo.git_in(&other, ["push", "--quiet", "origin", "main"])
        .success();
    let newer = repo.git_in(&other, ["rev-parse", "HEAD"]).read();

    let out = repo
        .worker(["spawn", "w", "--base", "main", "--fetch"])
        .success();
    assert!(
        out.stderr.contains("your 'main' is behind 'origin/main'")
            && out.stderr.contains("spawning from 'origin/main'"),
        "{out}"
    );
    assert_eq!(
        repo.git_in(&repo.worktree("w"), ["rev-parse", "HEAD"])
            .read(),
        newer
    );
}

#[test]
fn worktreeinclude_copies_the_ignored_files_it_names_into_a_new_checkout() {
    let repo = TestRepo::new();
    repo.write(".gitignore", "node_modules/\n.env\n*.log\n");
    repo.write(".worktreeinclude", ".env\nnode_modules/\n");
    repo.write("src/app.js", "app\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.write(".env", "SECRET=local\n");
    repo.write("node_modules/dep/index.js", "module.exports = 1\n");
    repo.write("debug.log", "not named\n");
    let out = repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    assert!(
        out.stderr.contains("copied 2 ignored file(s) that .worktreeinclude names into the new checkout: .env, node_modules"),
        "{out}"
    );
    let wt = repo.worktree("w");
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).unwrap(),
        "SECRET=local\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("node_modules/dep/index.js")).unwrap(),
        "module.exports = 1\n"
    );
    assert!(!wt.join("debug.log").exists(), "only what it names");
    // Copies, not links: the worker's edits stay its own; and ignored, so
    // no change of the worker's.
    write_file(&wt.join(".env"), "SECRET=changed\n");
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".env")).unwrap(),
        "SECRET=local\n"
    );
    repo.worker(["check", "w"]).success();
    let list = repo.worker(["list", "--json"]).success().json();
    assert_eq!(list["workers"][0]["dirty"], false, "{list}");
}

#[test]
fn the_readmes_history_view_leaves_the_registry_out() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    let readme =
        std::fs::read_to_string(crate::support::workspace_root().join("README.md")).unwrap();
    assert!(
        readme.contains("git log --exclude='refs/orch/*' --all"),
        "the README shows it"
    );
    let all = repo.git(["log", "--all", "--format=%H"]).read();
    let shown = repo
        .git(["log", "--exclude=refs/orch/*", "--all", "--format=%H"])
        .read();
    let registry = repo
        .git(["log", "--format=%H", "refs/orch/workers/w"])
        .read();
    assert!(
        registry.lines().all(|c| all.contains(c)),
        "--all walks the registry"
    );
    assert!(
        registry.lines().all(|c| !shown.contains(c)),
        "--exclude before --all leaves it out"
    );
    assert_eq!(shown, repo.git(["log", "--format=%H", "main"]).read());
}

/// Work left uncommitted meets lefthook (npm) the same way: its
/// pre-commit hook, installed by `lefthook install`, refuses the report.
#[test]
fn uncommitted_work_meets_lefthook_when_reported() {
    let repo = TestRepo::new();
    repo.write("src/app.js", "ok\n");
    repo.write(
        "lefthook.yml",
        "pre-commit:\n  commands:\n    no-forbidden:\n      glob: \"src/*\"\n      run: \"! grep -n FORBIDDEN {staged_files}\"\n",
    );
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "lefthook"]).success();
    let tool = crate::support::test_tool("lefthook").display().to_string();
    repo.cmd_in(repo.path(), &tool, ["install"]).success();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/app.js"), "FORBIDDEN\n");
    let out = repo
        .git_in(&wt, ["handoff", "report", "--summary", "unchecked"])
        .code(1);
    assert!(
        out.stderr.contains(
            "error: the repository's pre-commit hook refuses the uncommitted work of 'w'"
        ),
        "{out}"
    );
    assert!(!repo.events("w").iter().any(|(kind, _)| kind == "reported"));
    write_file(&wt.join("src/app.js"), "fine\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "checked"])
        .success();
}
