//! `git handoff report`, `show` and `list`, through real git.

use std::path::{Path, PathBuf};

use crate::support::{TestRepo, write_file};

/// A repository with `src/` and `docs/`, and worker `w` allowed `src/**`.
fn setup() -> (TestRepo, PathBuf) {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("src/old.rs", "old\n");
    repo.write("docs/guide.md", "guide\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let wt = repo.worktree("w");
    (repo, wt)
}

/// Everything about a checkout a report must not change.
fn checkout_state(repo: &TestRepo, wt: &std::path::Path) -> (String, Vec<u8>, String) {
    let status = repo
        .git_in(wt, ["status", "--porcelain=v1", "--untracked-files=all"])
        .success()
        .stdout;
    let index_path = repo.path().join(".git/worktrees/w/index");
    let head = repo.git_in(wt, ["rev-parse", "HEAD"]).read();
    (status, std::fs::read(index_path).unwrap(), head)
}

#[test]
fn report_captures_committed_staged_unstaged_untracked_and_binary_work_and_leaves_the_checkout_alone()
 {
    let (repo, wt) = setup();
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn committed() {}\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "committed"])
        .success();
    write_file(&wt.join("src/staged.rs"), "staged\n");
    repo.git_in(&wt, ["add", "src/staged.rs"]).success();
    write_file(&wt.join("src/old.rs"), "old\nunstaged\n");
    write_file(&wt.join("src/untracked.rs"), "untracked\n");
    std::fs::write(wt.join("src/blob.bin"), [0u8, 159, 146, 150, 0, 255]).unwrap();
    write_file(&wt.join("src/ignored.log"), "never\n");
    write_file(&wt.join(".gitignore"), "*.log\n");
    // .gitignore itself is outside src/**: keep it out of the change.
    repo.git_in(&wt, ["update-index", "--add", ".gitignore"])
        .success();
    std::fs::remove_file(wt.join(".gitignore")).unwrap();
    repo.git_in(&wt, ["rm", "--quiet", "--cached", ".gitignore"])
        .success();
    write_file(&repo.path().join(".git/info/exclude"), "*.log\n");

    let before = checkout_state(&repo, &wt);
    let out = repo
        .git_in(
            &wt,
            [
                "handoff",
                "report",
                "--summary",
                "Did it all. Conclusion: ready.",
            ],
        )
        .success();
    assert!(
        out.stderr
            .contains("reported the handoff of 'w': 5 path(s) changed"),
        "{out}"
    );
    assert_eq!(
        checkout_state(&repo, &wt),
        before,
        "the report changed the worker's checkout"
    );

    // The stored patch, applied to the base in a clean checkout, gives exactly the reported tree.
    let show = repo.worker(["show", "w", "--json"]).success().json();
    assert_eq!(show["worker"]["state"], "reported");
    let handoff = repo
        .git(["handoff", "show", "w", "--json"])
        .success()
        .json()["handoff"]
        .clone();
    let patch = repo.git(["handoff", "show", "w", "--patch"]).output();
    assert!(patch.stdout.contains("GIT binary patch"), "{patch}");
    let clean = repo.root().join("clean");
    repo.git(["worktree", "add", "--quiet", "--detach"])
        .arg(&clean)
        .arg(handoff["base"].as_str().unwrap())
        .success();
    let patch_file = repo.root().join("w.patch");
    // The patch's bytes, through git itself (the harness's stdout is text).
    let blob = repo.git(["rev-parse", "refs/orch/handoffs/w:patch"]).read();
    repo.git(["cat-file", "blob", &blob]).success();
    let bytes = std::process::Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["cat-file", "blob", &blob])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&patch_file, bytes).unwrap();
    repo.git_in(&clean, ["apply", "--index"])
        .arg(&patch_file)
        .success();
    assert_eq!(
        repo.git_in(&clean, ["write-tree"]).read(),
        handoff["tree"].as_str().unwrap()
    );
    assert!(!handoff["stat"].as_str().unwrap().contains("ignored.log"));
    let stat = handoff["stat"].as_str().unwrap();
    assert!(
        stat.contains("src/blob.bin") && stat.contains("Bin 0 -> 6 bytes"),
        "{stat}"
    );
    assert!(stat.contains("5 files changed"), "{stat}");
}

#[test]
fn the_summary_comes_from_the_flag_a_file_or_standard_input_and_is_required() {
    let (repo, wt) = setup();
    write_file(&wt.join("src/new.rs"), "x\n");
    let out = repo.git_in(&wt, ["handoff", "report"]).code(2);
    assert!(
        out.stderr
            .contains("a handoff needs the worker's own summary"),
        "{out}"
    );
    let file = repo.root().join("summary.md");
    write_file(&file, "From a file.\n");
    repo.git_in(&wt, ["handoff", "report", "--summary-file"])
        .arg(&file)
        .success();
    assert!(
        repo.git(["handoff", "show", "w"])
            .read()
            .contains("From a file.")
    );
    repo.git_in(&wt, ["handoff", "report"])
        .stdin("From stdin, with notes.\n")
        .args(["--note"])
        .arg(&file)
        .success();
    let show = repo.git(["handoff", "show", "w"]).read();
    assert!(show.contains("From stdin, with notes."), "{show}");
    assert!(show.contains("note summary.md:\nFrom a file."), "{show}");
    // Re-reporting keeps the history (the first handoff's parent is the worker's HEAD).
    let log = repo
        .git([
            "log",
            "--first-parent",
            "--format=%s",
            "refs/orch/handoffs/w",
        ])
        .read();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("handoff w: ")).count(),
        2,
        "{log}"
    );
}

#[test]
fn an_empty_change_is_refused_when_the_contract_requires_one() {
    let (repo, wt) = setup();
    let out = repo
        .git_in(&wt, ["handoff", "report", "--summary", "nothing to do"])
        .code(1);
    assert!(
        out.stderr.contains("nothing changed since the base"),
        "{out}"
    );
    assert!(out.stderr.contains("requires a change"), "{out}");
    repo.git(["rev-parse", "--verify", "--quiet", "refs/orch/handoffs/w"])
        .code(1);
    // Allowed when the contract says so.
    repo.worker(["spawn", "r", "--no-require-change"]).success();
    repo.git_in(
        &repo.worktree("r"),
        [
            "handoff",
            "report",
            "--summary",
            "reviewed; no change needed",
        ],
    )
    .success();
}

#[test]
fn a_change_outside_the_contract_is_refused_even_when_committed_with_no_verify() {
    let (repo, wt) = setup();
    write_file(&wt.join("docs/guide.md"), "sneaky\n");
    repo.git_in(&wt, ["commit", "--quiet", "--no-verify", "-am", "sneaky"])
        .success();
    let out = repo
        .git_in(&wt, ["handoff", "report", "--summary", "done"])
        .code(1);
    assert!(
        out.stderr
            .contains("touches 1 path(s) outside its contract"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("docs/guide.md  modified; not in the allowed paths"),
        "{out}"
    );
    repo.git(["rev-parse", "--verify", "--quiet", "refs/orch/handoffs/w"])
        .code(1);
}

#[test]
fn report_works_only_in_a_worker_checkout() {
    let (repo, _wt) = setup();
    let out = repo.git(["handoff", "report", "--summary", "x"]).code(2);
    assert!(
        out.stderr
            .contains("'git handoff report' only works in a worker's checkout"),
        "{out}"
    );
}

#[test]
fn show_keeps_the_end_of_long_text_and_cuts_on_a_character_boundary() {
    let (repo, wt) = setup();
    write_file(&wt.join("src/new.rs"), "x\n");
    // A 5 MB summary of multi-byte text ending in its conclusion.
    let mut summary = "é—✓ ".repeat(1_300_000);
    summary.push_str("CONCLUSION: ship it ✓");
    assert!(summary.len() > 5_000_000);
    repo.git_in(&wt, ["handoff", "report", "--summary-file", "-"])
        .stdin(summary.clone())
        .success();
    let out = repo
        .git(["handoff", "show", "w", "--max-chars", "30"])
        .success();
    let total = summary.trim_end().chars().count();
    assert!(
        out.stdout.contains(&format!(
            "[... {} of {total} characters cut; the end follows ...]",
            total - 30
        )),
        "{}",
        &out.stdout[..300.min(out.stdout.len())]
    );
    assert!(out.stdout.contains("CONCLUSION: ship it ✓"));
    // Uncut by default: the worker's words reach the coordinator whole.
    let full = repo
        .git(["handoff", "show", "w", "--json"])
        .success()
        .json();
    assert_eq!(full["handoff"]["summary"].as_str().unwrap(), summary);
    let list = repo.git(["handoff", "list"]).success();
    assert!(
        list.stdout.contains("…") && list.stdout.contains("CONCLUSION: ship it ✓"),
        "{list}"
    );
}

#[test]
fn show_of_a_worker_that_never_reported_says_so_and_shows_its_branch_and_checkout() {
    let (repo, wt) = setup();
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn b() {}\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "add b"])
        .success();
    write_file(&wt.join("src/wip.rs"), "wip\n");
    let out = repo.git(["handoff", "show", "w"]).success();
    assert!(
        out.stdout.contains("worker w has NOT reported (active)"),
        "{out}"
    );
    assert!(out.stdout.contains("add b"), "{out}");
    assert!(out.stdout.contains("src/wip.rs"), "{out}");
    let json = repo
        .git(["handoff", "show", "w", "--json"])
        .success()
        .json();
    assert_eq!(json["handoff"]["reported"], false);
    let list = repo.git(["handoff", "list", "--json"]).success().json();
    assert_eq!(list["handoffs"][0]["reported"], false);
    let out = repo.git(["handoff", "show", "nope"]).code(2);
    assert!(
        out.stderr
            .contains("worker 'nope' is not registered and has no handoff"),
        "{out}"
    );
}

#[test]
fn a_handoff_travels_with_a_fetch_of_refs_orch() {
    let (repo, wt) = setup();
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn c() {}\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "worker commit"])
        .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "portable"])
        .success();
    let other = repo.root().join("other");
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet", "--no-checkout"])
        .arg(repo.path())
        .arg(&other)
        .success();
    repo.git_in(
        &other,
        ["fetch", "--quiet", "origin", "refs/orch/*:refs/orch/*"],
    )
    .success();
    let show = repo.git_in(&other, ["handoff", "show", "w"]).success();
    assert!(show.stdout.contains("portable"), "{show}");
    // The worker's commit came along with the handoff ref.
    let head = repo.git_in(&wt, ["rev-parse", "HEAD"]).read();
    repo.git_in(&other, ["cat-file", "-e", &format!("{head}^{{commit}}")])
        .success();
}

/// HEAD, the index, `git status` and the index's stat data (`diff-files`
/// lists entries whose recorded stat no longer matches the file) of the
/// coordinator's checkout: what a rolled-back apply must leave as it found.
fn coordinator_state(repo: &TestRepo) -> (String, String, String, String) {
    // diff-files first: git status refreshes the index's stat data.
    let stat_dirty = repo.git(["diff-files", "--name-only"]).success().stdout;
    (
        repo.rev("HEAD"),
        repo.git(["ls-files", "--stage"]).success().stdout,
        repo.git(["status", "--porcelain=v1", "--untracked-files=all"])
            .success()
            .stdout,
        stat_dirty,
    )
}

/// Unrelated work of the user's in the coordinator's checkout: staged,
/// unstaged and untracked.
fn user_work(repo: &TestRepo) {
    repo.write("docs/guide.md", "guide\nstaged by the user\n");
    repo.git(["add", "docs/guide.md"]).success();
    repo.write(
        "docs/guide.md",
        "guide\nstaged by the user\nand more, unstaged\n",
    );
    repo.write("notes.txt", "untracked, the user's\n");
}

fn spawn_and_report(repo: &TestRepo, verify: &str) {
    repo.worker(["spawn", "v", "--allow", "src/**", "--verify", verify])
        .success();
    let wt = repo.worktree("v");
    write_file(&wt.join("src/new.rs"), "fn new() {}\n");
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn b() {}\n");
    repo.git_in(
        &wt,
        [
            "handoff",
            "report",
            "--summary",
            "Added new and b.\n\nConclusion: ready.",
        ],
    )
    .success();
}

#[test]
fn apply_commits_with_trailers_after_verification_and_leaves_the_users_work_alone() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "test -f src/new.rs && grep -q 'fn b' src/lib.rs");
    user_work(&repo);
    let before = repo
        .git(["status", "--porcelain=v1", "--untracked-files=all"])
        .success()
        .stdout;
    let out = repo.git(["handoff", "apply", "v"]).success();
    assert!(out.stderr.contains("verify: test -f src/new.rs"), "{out}");
    assert!(
        out.stderr.contains("1 verification command(s) passed"),
        "{out}"
    );
    let message = repo.git(["log", "-1", "--format=%B"]).success().stdout;
    assert!(
        message.starts_with("Added new and b.\n\nConclusion: ready.\n\nWorker: v\nBase: "),
        "{message}"
    );
    assert!(
        message.contains("\nHandoff: ") && message.contains("\nFingerprint: "),
        "{message}"
    );
    let files = repo
        .git(["show", "--name-only", "--format=", "HEAD"])
        .success()
        .stdout;
    assert_eq!(
        files, "src/lib.rs\nsrc/new.rs\n",
        "only the handoff's paths are committed"
    );
    assert_eq!(
        repo.git(["status", "--porcelain=v1", "--untracked-files=all"])
            .success()
            .stdout,
        before
    );
    assert_eq!(
        repo.worker(["show", "v", "--json"]).success().json()["worker"]["state"],
        "applied"
    );
}

#[test]
fn a_failed_verification_rolls_back_exactly_and_records_the_rejection() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "echo checking; echo 'FAILED: 1 test' >&2; exit 3");
    user_work(&repo);
    let before = coordinator_state(&repo);
    let out = repo.git(["handoff", "apply", "v"]).code(1);
    assert!(
        out.stderr.contains("FAILED: 1 test"),
        "output is streamed: {out}"
    );
    assert!(
        out.stderr
            .contains("exited with 3; the handoff of 'v' was rolled back"),
        "{out}"
    );
    assert_eq!(coordinator_state(&repo), before);
    assert!(!repo.path().join("src/new.rs").exists());
    let show = repo.worker(["show", "v", "--json"]).success().json();
    assert_eq!(show["worker"]["state"], "rejected");
    let last = show["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "rejected");
    assert_eq!(last["data"]["status"], 3);
    assert!(
        last["data"]["tail"]
            .as_str()
            .unwrap()
            .contains("FAILED: 1 test")
    );
    // --no-commit rolls back the same way.
    let out = repo.git(["handoff", "apply", "v", "--no-commit"]).code(1);
    assert!(out.stderr.contains("rolled back"), "{out}");
    assert_eq!(coordinator_state(&repo), before);
}

#[test]
fn a_verification_timeout_rolls_back() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "sleep 30");
    let before = coordinator_state(&repo);
    let out = repo
        .git(["handoff", "apply", "v", "--timeout", "1"])
        .code(1);
    assert!(out.stderr.contains("timed out after 1 s"), "{out}");
    assert_eq!(coordinator_state(&repo), before);
}

#[test]
fn a_moved_base_applies_with_a_three_way_merge_and_a_true_conflict_aborts_cleanly() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "true");
    // The coordinator's side moves on: lines above the worker's edit change.
    repo.write("src/lib.rs", "// header added on main\nfn a() {}\n");
    repo.git(["commit", "--quiet", "-am", "main moves"])
        .success();
    let dry = repo.git(["handoff", "apply", "v", "--dry-run"]).success();
    assert!(dry.stdout.contains("would apply"), "{dry}");
    repo.git(["handoff", "apply", "v"]).success();
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/lib.rs")).unwrap(),
        "// header added on main\nfn a() {}\nfn b() {}\n"
    );

    // A true conflict: the same line edited on both sides.
    repo.worker(["spawn", "c", "--allow", "src/**"]).success();
    let wt = repo.worktree("c");
    write_file(
        &wt.join("src/lib.rs"),
        "// header from the worker\nfn a() {}\nfn b() {}\n",
    );
    repo.git_in(&wt, ["handoff", "report", "--summary", "conflicting"])
        .success();
    repo.write(
        "src/lib.rs",
        "// header changed on main again\nfn a() {}\nfn b() {}\n",
    );
    repo.git(["commit", "--quiet", "-am", "main again"])
        .success();
    user_work(&repo);
    let before = coordinator_state(&repo);
    let out = repo.git(["handoff", "apply", "c"]).code(1);
    assert!(
        out.stderr
            .contains("conflicts with HEAD; its changes were undone"),
        "{out}"
    );
    assert!(out.stderr.contains("src/lib.rs"), "{out}");
    assert_eq!(coordinator_state(&repo), before);
    assert!(
        !std::fs::read_to_string(repo.path().join("src/lib.rs"))
            .unwrap()
            .contains("<<<<<<<")
    );
}

#[test]
fn apply_refuses_in_a_worker_checkout_and_when_your_changes_touch_its_paths() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "true");
    let out = repo
        .git_in(&repo.worktree("v"), ["handoff", "apply", "v"])
        .code(2);
    assert!(
        out.stderr
            .contains("'git handoff apply' is a coordinator command"),
        "{out}"
    );
    repo.write("src/lib.rs", "fn a() {}\n// mine, uncommitted\n");
    let before = coordinator_state(&repo);
    let out = repo.git(["handoff", "apply", "v"]).code(2);
    assert!(
        out.stderr.contains(
            "your uncommitted changes touch paths the handoff of 'v' changes: src/lib.rs"
        ),
        "{out}"
    );
    assert!(
        out.stderr.contains("hint: commit or stash them first"),
        "{out}"
    );
    assert_eq!(coordinator_state(&repo), before);
}

#[test]
fn a_contract_rewritten_in_the_registry_does_not_change_what_apply_verifies() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "exit 7");
    // The worker (sharing the refs) rewrites its contract to verify nothing.
    let tip = repo.rev("refs/orch/workers/v");
    let forged = repo.edit_entry(repo.path(), &tip, "contract.toml", |c| {
        c.replace("verify = [\"exit 7\"]", "verify = [\"true\"]")
    });
    repo.git(["update-ref", "refs/orch/workers/v", &forged])
        .success();
    let out = repo.git(["handoff", "apply", "v"]).code(1);
    assert!(out.stderr.contains("enforcing the recorded one"), "{out}");
    assert!(out.stderr.contains("verify: exit 7"), "{out}");
}

#[test]
fn reject_records_a_reason_the_worker_can_read() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "true");
    let out = repo.git(["handoff", "reject", "v"]).code(2);
    assert!(out.stderr.contains("--reason"), "{out}");
    repo.git([
        "handoff",
        "reject",
        "v",
        "--reason",
        "split the change in two",
    ])
    .success();
    let current = repo
        .git_in(&repo.worktree("v"), ["worker", "current", "--json"])
        .success()
        .json();
    assert_eq!(current["worker"]["state"], "rejected");
    assert_eq!(current["worker"]["reason"], "split the change in two");
}

#[test]
fn apply_refuses_a_change_outside_the_contract_even_if_the_report_let_it_through() {
    let (repo, wt) = setup();
    write_file(&wt.join("docs/guide.md"), "rewritten by the worker\n");
    repo.git_in(&wt, ["commit", "--quiet", "--no-verify", "-am", "outside"])
        .success();
    // A worker with access to the shared .git widens the recorded contract
    // while it reports, then puts it back.
    let local = repo.path().join(".git/orch/local.json");
    let pinned = std::fs::read_to_string(&local).unwrap();
    std::fs::write(&local, pinned.replace("\"src/**\"", "\"**\"")).unwrap();
    let tip = repo.rev("refs/orch/workers/w");
    let widened = repo.edit_entry(repo.path(), &tip, "contract.toml", |c| {
        c.replace("allow = [\"src/**\"]", "allow = [\"**\"]")
    });
    repo.git(["update-ref", "refs/orch/workers/w", &widened])
        .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "sneaked through"])
        .success();
    std::fs::write(&local, pinned).unwrap();

    let before = coordinator_state(&repo);
    let out = repo.git(["handoff", "apply", "w"]).code(1);
    assert!(
        out.stderr
            .contains("the handoff of 'w' touches 1 path(s) outside its contract"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("docs/guide.md  modified; not in the allowed paths"),
        "{out}"
    );
    assert_eq!(coordinator_state(&repo), before);
}

#[test]
fn rm_after_apply_needs_no_force_unless_the_worker_changed_something_since() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "true");
    repo.worker(["spawn", "z", "--allow", "src/**"]).success();
    let wt = repo.worktree("z");
    write_file(&wt.join("src/z.rs"), "z\n");
    repo.git_in(&wt, ["add", "src/z.rs"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "z"]).success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "z"])
        .success();
    repo.git(["handoff", "apply", "v"]).success();
    repo.git(["handoff", "apply", "z"]).success();
    // v's work is landed, though its commits are not HEAD's ancestors.
    repo.worker(["rm", "v"]).success();
    // z changed something after its handoff was applied: that would be lost.
    write_file(&wt.join("src/later.rs"), "later\n");
    let out = repo.worker(["rm", "z"]).code(2);
    assert!(
        out.stderr.contains("uncommitted or untracked changes"),
        "{out}"
    );
}

#[test]
fn export_and_import_round_trip_into_another_clone_where_show_and_apply_work() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "test -f src/new.rs");
    let bundle = repo.root().join("v.bundle");
    repo.git(["handoff", "export", "v", "-o"])
        .arg(&bundle)
        .success();
    repo.git(["rev-parse", "--verify", "--quiet", "refs/orch/exports/v"])
        .code(1);

    let other = repo.root().join("other");
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet"])
        .arg(repo.path())
        .arg(&other)
        .success();
    // Without trust, the handoff comes in but the contract is only shown.
    let out = repo
        .git_in(&other, ["handoff", "import"])
        .arg(&bundle)
        .success();
    assert!(out.stderr.contains("handoff: imported"), "{out}");
    assert!(
        out.stderr.contains("registry entry: NOT imported; the bundle's contract says allow: src/**, deny: -, verify: test -f src/new.rs"),
        "{out}"
    );
    let out = repo.git_in(&other, ["handoff", "apply", "v"]).code(2);
    assert!(out.stderr.contains("--trust-contract"), "{out}");
    let out = repo
        .git_in(&other, ["handoff", "import", "--trust-contract"])
        .arg(&bundle)
        .success();
    assert!(
        out.stderr
            .contains("registry entry: imported (contract trusted)"),
        "{out}"
    );
    assert!(
        repo.git_in(&other, ["handoff", "show", "v"])
            .read()
            .contains("Conclusion: ready.")
    );
    assert_eq!(
        repo.git_in(&other, ["for-each-ref", "refs/orch/importing/"])
            .read(),
        "",
        "staging refs are dropped"
    );
    let out = repo.git_in(&other, ["handoff", "apply", "v"]).success();
    assert!(out.stderr.contains("applied the handoff of 'v'"), "{out}");
    assert!(other.join("src/new.rs").is_file());
    // Importing again changes nothing; this clone's own entry is never replaced.
    let out = repo
        .git_in(&other, ["handoff", "import"])
        .arg(&bundle)
        .success();
    assert!(
        out.stderr.contains("handoff: already here")
            && out.stderr.contains("this clone's own is kept"),
        "{out}"
    );
    // Not a bundle of ours, or a file that is not a bundle.
    write_file(&repo.root().join("junk"), "not a bundle\n");
    repo.git_in(&other, ["handoff", "import"])
        .arg(repo.root().join("junk"))
        .code(2);
}

#[test]
fn an_interrupted_apply_stops_its_verification_and_rolls_back() {
    let (repo, _) = setup();
    // The verification interrupts `git handoff` (its parent), then would run
    // on: in place, unsandboxed (a sandboxed one cannot signal anything
    // outside its sandbox).
    repo.git(["config", "orch.verify.inPlace", "true"])
        .success();
    spawn_and_report(&repo, "kill -TERM $PPID; sleep 30");
    user_work(&repo);
    let before = coordinator_state(&repo);
    let started = std::time::Instant::now();
    let out = repo
        .git(["handoff", "apply", "v", "--timeout", "60"])
        .code(143);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the verification was not stopped"
    );
    assert!(
        out.stderr
            .contains("interrupted by signal 15; apply rolled back"),
        "{out}"
    );
    assert_eq!(coordinator_state(&repo), before);
}

#[test]
fn the_contracts_verification_timeout_is_the_default_and_the_flag_overrides_it() {
    let (repo, _) = setup();
    repo.worker([
        "spawn",
        "t",
        "--allow",
        "src/**",
        "--verify",
        "sleep 30",
        "--verify-timeout",
        "1",
    ])
    .success();
    let wt = repo.worktree("t");
    write_file(&wt.join("src/t.rs"), "t\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "slow checks"])
        .success();
    let out = repo.git(["handoff", "apply", "t"]).code(1);
    assert!(out.stderr.contains("timed out after 1 s"), "{out}");
    let out = repo.worker(["spawn", "z", "--verify-timeout", "0"]).code(2);
    assert!(
        out.stderr
            .contains("invalid verification timeout: 0 seconds"),
        "{out}"
    );
}

#[test]
fn ignored_and_assume_unchanged_files_at_the_handoffs_paths_are_refused_untouched() {
    let (repo, _) = setup();
    repo.worker(["spawn", "g", "--allow", "src/**"]).success();
    let wt = repo.worktree("g");
    write_file(&wt.join("src/config.local"), "from the worker\n");
    repo.git_in(&wt, ["add", "-f", "src/config.local"])
        .success();
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn worker() {}\n");
    repo.git_in(
        &wt,
        [
            "handoff",
            "report",
            "--summary",
            "adds an ignored-looking file",
        ],
    )
    .success();
    // The coordinator ignores that file and has a precious copy of it.
    write_file(&repo.path().join(".git/info/exclude"), "*.local\n");
    repo.write("src/config.local", "PRECIOUS\n");
    let out = repo.git(["handoff", "apply", "g"]).code(2);
    assert!(
        out.stderr.contains(
            "your uncommitted changes touch paths the handoff of 'g' changes: src/config.local"
        ),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/config.local")).unwrap(),
        "PRECIOUS\n"
    );
    std::fs::remove_file(repo.path().join("src/config.local")).unwrap();
    // An edit git is told not to see (assume-unchanged) counts as yours too.
    repo.write("src/lib.rs", "fn a() {}\n// MINE\n");
    repo.git(["update-index", "--assume-unchanged", "src/lib.rs"])
        .success();
    let out = repo.git(["handoff", "apply", "g"]).code(2);
    assert!(out.stderr.contains("src/lib.rs"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/lib.rs")).unwrap(),
        "fn a() {}\n// MINE\n"
    );
}

#[test]
fn a_verification_cannot_move_the_coordinators_head() {
    let (repo, _) = setup();
    let head = repo.git(["rev-parse", "HEAD"]).read();
    // The "verification" commits where it runs, then fails: in its scratch
    // checkout, which is all it can write.
    spawn_and_report(
        &repo,
        "git -c user.name=X -c user.email=x@y commit --quiet --allow-empty -m USER && false",
    );
    repo.git(["handoff", "apply", "v"]).code(1);
    assert_eq!(repo.git(["rev-parse", "HEAD"]).read(), head);
    let show = repo.worker(["show", "v", "--json"]).success().json();
    let last = show["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "rejected");
    assert_eq!(last["data"]["rolled_back"], true);
}

#[test]
fn a_head_that_moves_during_an_in_place_verification_is_never_reset() {
    let (repo, _) = setup();
    repo.git(["config", "orch.verify.inPlace", "true"])
        .success();
    // The "verification" commits to the coordinator's branch, then fails.
    spawn_and_report(&repo, "git commit --quiet --allow-empty -m USER && false");
    let out = repo.git(["handoff", "apply", "v"]).code(2);
    assert!(
        out.stderr.contains(
            "HEAD moved while the handoff of 'v' was being applied; nothing was rolled back"
        ),
        "{out}"
    );
    // It is verified before it is committed: nothing of the handoff's is
    // in HEAD, and what moved HEAD is said.
    assert!(
        out.stderr
            .contains("the verification changed the repository's HEAD"),
        "{out}"
    );
    assert!(!out.stderr.contains("git revert"), "{out}");
    assert_eq!(
        repo.git(["log", "-1", "--format=%s"]).read(),
        "USER",
        "the user's commit is kept"
    );
    let show = repo.worker(["show", "v", "--json"]).success().json();
    let last = show["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "rejected");
    assert_eq!(last["data"]["rolled_back"], false);
}

#[test]
fn show_and_list_give_the_verdict_and_applying_twice_is_a_no_op() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "echo 'assertion failed: b == c' >&2; exit 1");
    repo.git(["handoff", "apply", "v"]).code(1);
    let show = repo.git(["handoff", "show", "v"]).success();
    assert!(show.stdout.contains("verdict:     rejected: verification 'echo 'assertion failed: b == c' >&2; exit 1' failed"), "{show}");
    assert!(show.stdout.contains("assertion failed: b == c"), "{show}");
    let json = repo.git(["handoff", "list", "--json"]).success().json();
    assert_eq!(json["handoffs"][0]["verdict"]["kind"], "rejected");

    repo.worker(["spawn", "ok", "--allow", "src/**"]).success();
    let wt = repo.worktree("ok");
    write_file(&wt.join("src/ok.rs"), "ok\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "fine"])
        .success();
    let commit = repo.git(["handoff", "apply", "ok"]).read();
    let show = repo
        .git(["handoff", "show", "ok", "--json"])
        .success()
        .json();
    assert_eq!(show["handoff"]["verdict"]["kind"], "applied");
    assert_eq!(
        show["handoff"]["verdict"]["data"]["commit"],
        commit.as_str()
    );
    let out = repo.git(["handoff", "apply", "ok"]).success();
    assert!(
        out.stderr
            .contains("the handoff of 'ok' is already applied as"),
        "{out}"
    );
    assert_eq!(repo.rev("HEAD"), commit, "nothing new was committed");
}

#[test]
fn a_handoff_turning_a_file_into_a_directory_applies() {
    let (repo, _) = setup();
    repo.worker(["spawn", "d", "--allow", "src/**"]).success();
    let wt = repo.worktree("d");
    repo.git_in(&wt, ["rm", "--quiet", "src/old.rs"]).success();
    write_file(&wt.join("src/old.rs/inner.rs"), "inner\n");
    repo.git_in(
        &wt,
        ["handoff", "report", "--summary", "old.rs is a module now"],
    )
    .success();
    user_work(&repo);
    let before = repo
        .git(["status", "--porcelain=v1", "--untracked-files=all"])
        .read();
    repo.git(["handoff", "apply", "d"]).success();
    assert!(repo.path().join("src/old.rs/inner.rs").is_file());
    let files = repo
        .git(["show", "--name-status", "--format=", "HEAD"])
        .read();
    assert_eq!(files, "D\tsrc/old.rs\nA\tsrc/old.rs/inner.rs", "{files}");
    assert_eq!(
        repo.git(["status", "--porcelain=v1", "--untracked-files=all"])
            .read(),
        before,
        "the user's work is as it was"
    );
}

/// git judges a file edited in the same second as the index was written by
/// its content ("racily clean"); report's copy of the index must keep that.
#[test]
fn report_sees_a_same_size_edit_made_in_the_same_second_as_the_index() {
    let (repo, wt) = setup();
    let when = "@1000000000";
    repo.git_in(&wt, ["config", "--worktree", "core.trustctime", "false"])
        .success();
    repo.cmd_in(&wt, "touch", ["-d", when, "src/lib.rs"])
        .success();
    repo.git_in(&wt, ["update-index", "--refresh"]).success();
    // Same size, same time: only the content tells.
    write_file(&wt.join("src/lib.rs"), "fn b() {}\n");
    repo.cmd_in(&wt, "touch", ["-d", when, "src/lib.rs"])
        .success();
    let index = repo.path().join(".git/worktrees/w/index");
    repo.cmd_in(&wt, "touch", ["-d", when])
        .arg(&index)
        .success();
    let out = repo
        .git_in(&wt, ["handoff", "report", "--summary", "renamed a to b"])
        .success();
    assert!(out.stderr.contains("1 path(s) changed"), "{out}");
}

#[test]
fn apply_without_verification_commands_says_so_rather_than_counting_none() {
    let (repo, _) = setup();
    repo.worker(["spawn", "q", "--allow", "src/**"]).success();
    let wt = repo.worktree("q");
    write_file(&wt.join("src/q.rs"), "fn q() {}\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "q"])
        .success();
    let out = repo.git(["handoff", "apply", "q"]).success();
    assert!(
        out.stderr
            .contains("; its contract names no verification command"),
        "{out}"
    );
    assert!(!out.stderr.contains("0 verification command(s)"), "{out}");
}

#[test]
fn an_unreported_worker_is_rejected_or_removed_with_a_reason_its_history_keeps() {
    let (repo, _) = setup();
    let out = repo
        .git(["handoff", "reject", "w", "--reason", "superseded by v"])
        .success();
    assert!(
        out.stderr
            .contains("rejected worker 'w', which had not reported"),
        "{out}"
    );
    let shown = repo.worker(["show", "w", "--json"]).success().json();
    assert_eq!(shown["worker"]["state"], "rejected", "{shown}");
    assert_eq!(shown["worker"]["reason"], "superseded by v", "{shown}");
    // cleanup --abandoned takes it; its history keeps why.
    repo.worker(["cleanup", "--abandoned"]).success();
    let shown = repo.worker(["show", "w", "--json"]).success().json();
    let events = shown["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "rejected" && e["data"]["reason"] == "superseded by v"),
        "{shown}"
    );

    repo.worker(["spawn", "x"]).success();
    repo.worker(["rm", "x", "--reason", "not needed after all"])
        .success();
    let shown = repo.worker(["show", "x", "--json"]).success().json();
    assert_eq!(shown["worker"]["reason"], "not needed after all", "{shown}");
    let last = shown["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "removed");
    assert_eq!(last["data"]["reason"], "not needed after all");
}

#[test]
fn with_no_git_identity_every_writing_command_fails_like_git_and_records_nothing() {
    let (repo, _) = setup();
    spawn_and_report(&repo, "true");
    // On a host with a domain name git would guess user@host; with
    // useConfigOnly it does not, as on a host without one.
    repo.git(["config", "user.useConfigOnly", "true"]).success();
    let anonymous = |dir: &Path, args: &[&str]| {
        [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
        ]
        .into_iter()
        .fold(repo.git_in(dir, args), |run, var| run.env_remove(var))
    };
    let state = || {
        (
            repo.git(["for-each-ref", "--format=%(refname) %(objectname)"])
                .read(),
            coordinator_state(&repo),
            repo.git(["worktree", "list", "--porcelain"]).read(),
        )
    };
    let before = state();
    let wt = repo.worktree("v");
    for (dir, args) in [
        (
            repo.path(),
            &["review-gate", "approve", "v", "-m", "read it"][..],
        ),
        (repo.path(), &["handoff", "reject", "v", "--reason", "no"]),
        (repo.path(), &["handoff", "apply", "v"]),
        (repo.path(), &["worker", "spawn", "x"]),
        (repo.path(), &["worker", "message", "v", "hello"]),
        (&wt, &["worker", "notify", "hello"]),
    ] {
        let out = anonymous(dir, args).code(2);
        assert!(
            out.stderr.starts_with(
                "error: committer identity unknown (no email was given and auto-detection is disabled)"
            ),
            "{args:?}: {out}"
        );
        assert!(
            out.stderr.contains(
                "hint: tell git who you are: git config --global user.email \"you@example.com\""
            ),
            "{args:?}: {out}"
        );
    }
    assert_eq!(
        state(),
        before,
        "a command without an identity changed something"
    );

    // With one configured, the verdict is recorded under it, and apply
    // commits under it.
    repo.git(["config", "user.name", "Ann Example"]).success();
    repo.git(["config", "user.email", "ann@example.com"])
        .success();
    anonymous(
        repo.path(),
        &["review-gate", "approve", "v", "-m", "read it"],
    )
    .success();
    let status = anonymous(repo.path(), &["review-gate", "status", "v"]).output();
    assert!(
        status.stdout.contains("Ann Example <ann@example.com>"),
        "{status}"
    );
    anonymous(repo.path(), &["handoff", "apply", "v"]).success();
    assert_eq!(
        repo.git(["log", "-1", "--format=%cn <%ce>"]).read(),
        "Ann Example <ann@example.com>"
    );
}
