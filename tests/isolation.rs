//! `git worker spawn --isolation clone`: a worker in its own clone.

use crate::support::{TestRepo, write_file};

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("docs/guide.md", "guide\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

#[test]
fn a_clone_worker_has_its_own_refs_and_hands_off_by_syncing() {
    let repo = repo();
    repo.worker([
        "spawn",
        "w",
        "--isolation",
        "clone",
        "--allow",
        "src/**",
        "--verify",
        "test -f src/new.rs",
    ])
    .success();
    let wt = repo.worktree("w");
    // Its own repository: a .git directory, objects borrowed, refs its own.
    assert!(wt.join(".git").is_dir());
    let alternates = std::fs::read_to_string(wt.join(".git/objects/info/alternates")).unwrap();
    assert!(
        alternates.replace("//", "/").contains("repo/.git/objects"),
        "{alternates}"
    );
    let current = repo
        .git_in(&wt, ["worker", "current", "--json"])
        .success()
        .json();
    assert_eq!(current["worker"]["id"], "w");
    assert_eq!(
        repo.git_in(&wt, ["branch", "--show-current"]).read(),
        "orch/w"
    );
    // What it writes to its refs stays there.
    repo.git_in(&wt, ["update-ref", "refs/orch/workers/forged", "HEAD"])
        .success();
    repo.git([
        "rev-parse",
        "--verify",
        "--quiet",
        "refs/orch/workers/forged",
    ])
    .code(1);
    // What it pushes goes to the inbox, never to this repository, and the
    // inbox's hub checks refuse what a worker may not do there.
    repo.git_in(&wt, ["push", "--quiet", "origin", "HEAD:refs/heads/evil"])
        .success();
    repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/evil"])
        .code(1);
    let out = repo
        .git_in(&wt, ["push", "origin", "refs/orch/workers/forged"])
        .output();
    assert_ne!(out.code, 0, "{out}");
    repo.git_in(&wt, ["update-ref", "-d", "refs/orch/workers/forged"])
        .success();
    // Its hooks hold it to its contract.
    write_file(&wt.join("docs/guide.md"), "changed\n");
    repo.git_in(&wt, ["add", "docs/guide.md"]).success();
    let out = repo
        .git_in(&wt, ["commit", "--quiet", "-m", "docs"])
        .code(1);
    assert!(out.stderr.contains("commit refused"), "{out}");
    repo.git_in(&wt, ["restore", "--staged", "--worktree", "docs/guide.md"])
        .success();

    write_file(&wt.join("src/new.rs"), "fn new() {}\n");
    // The coordinator sees the work in the clone before any report.
    let show = repo.git(["handoff", "show", "w"]).read();
    assert!(
        show.contains("has NOT reported") && show.contains("src/new.rs"),
        "{show}"
    );
    let list = repo.worker(["list", "--json"]).success().json();
    assert_eq!(list["workers"][0]["dirty"], true);
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "new"])
        .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "from the clone"])
        .success();
    // Not here until the worker sends it.
    repo.git(["handoff", "apply", "w"]).code(2);
    // Removing it now would lose the clone's commit.
    let out = repo.worker(["rm", "w"]).code(2);
    assert!(
        out.stderr
            .contains("has commits this repository does not have"),
        "{out}"
    );
    // The worker sends it to the inbox; the coordinator collects it there.
    repo.git_in(&wt, ["worker", "sync"]).success();
    repo.git(["handoff", "apply", "w"]).code(2);
    repo.worker(["sync", "orch-inbox"]).success();
    let out = repo.git(["handoff", "apply", "w"]).success();
    assert!(out.stderr.contains("applied the handoff of 'w'"), "{out}");
    assert!(repo.path().join("src/new.rs").is_file());
    repo.worker(["rm", "w"]).success();
    assert!(!wt.exists());
}

#[test]
fn a_clone_spawn_that_fails_or_is_killed_leaves_nothing_behind() {
    let repo = repo();
    let before = repo.snapshot();
    for step in ["spawn:worktree", "spawn:config", "spawn:activate"] {
        repo.worker(["spawn", "w", "--isolation", "clone"])
            .env("GIT_WORKER_FAIL_AFTER", step)
            .code(2);
        assert_eq!(repo.snapshot(), before, "after a failure at {step}");
    }
    repo.worker(["spawn", "w", "--isolation", "clone"])
        .env("GIT_WORKER_KILL_AFTER", "spawn:worktree")
        .code(137);
    assert!(repo.worktree("w").join(".git").is_dir());
    repo.worker(["prune"]).success();
    assert!(!repo.worktree("w").exists());
    let out = repo.worker(["spawn", "w", "--isolation", "cloned"]).code(2);
    assert!(out.stderr.contains("invalid value 'cloned'"), "{out}");
}

#[test]
fn a_clone_agent_that_does_what_its_prompt_says_has_its_handoff_taken_and_no_warning() {
    let repo = repo();
    // A stand-in agent that does what its prompt says, and only that: the
    // last command block of the prompt, run as written.
    let agent = "sed -n '/record your result/,$p' \"$ORCH_PROMPT\" | grep '^    git ' \
        | sed -e 's/^    //' -e \"s/'<what you did, what you found, what is left>'/done/\" > .git/steps \
        && grep -q 'git worker sync' .git/steps && echo 'fn new() {}' > src/new.rs && sh -e .git/steps";
    repo.worker([
        "spawn",
        "w",
        "--isolation",
        "clone",
        "--allow",
        "src/**",
        "--exec",
        agent,
    ])
    .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    // The supervisor took the handoff from the inbox when the agent exited.
    let dashboard = repo.worker(["dashboard", "--json"]).success().json();
    let w = &dashboard["workers"][0];
    assert_eq!(w["state"], "reported", "{dashboard}");
    assert_eq!(w["warnings"], serde_json::json!([]), "{dashboard}");
    let shown = repo.worker(["show", "w", "--json"]).success().json();
    assert!(!shown.to_string().contains("exited without"), "{shown}");
    // Syncing with the inbox again and again says nothing is wrong.
    for _ in 0..2 {
        let out = repo.worker(["sync", "orch-inbox"]).success();
        assert!(!out.stderr.contains("warning"), "{out}");
        assert!(!out.stderr.contains("non-fast-forward"), "{out}");
    }
    repo.git(["handoff", "apply", "w"]).success();
    assert!(repo.path().join("src/new.rs").is_file());
}
