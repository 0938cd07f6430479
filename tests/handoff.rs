//! `git handoff report`, `show` and `list`, through real git.

use std::path::PathBuf;

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
