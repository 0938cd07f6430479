//! `git worker sync`: the registry through a shared remote, with logs and
//! verdicts written on two machines merged without loss or force.

use crate::support::{TestRepo, write_file};

/// A hub prepared by `git worker hub init`, and two coordinator clones of it.
fn two_clones() -> (TestRepo, std::path::PathBuf, std::path::PathBuf) {
    let repo = TestRepo::with_commit();
    let hub = repo.root().join("hub.git");
    repo.worker(["hub", "init"]).arg(&hub).success();
    repo.git(["push", "--quiet"])
        .arg(&hub)
        .arg("main")
        .success();
    for name in ["a", "b"] {
        repo.cmd_in(
            repo.root(),
            "git",
            ["clone", "--quiet", "--branch", "main", "hub.git", name],
        )
        .success();
    }
    (repo, repo_root(&hub, "a"), repo_root(&hub, "b"))
}

fn repo_root(hub: &std::path::Path, name: &str) -> std::path::PathBuf {
    hub.parent().unwrap().join(name)
}

fn kinds(repo: &TestRepo, dir: &std::path::Path, id: &str) -> Vec<String> {
    repo.git_in(dir, ["worker", "log", id, "--json"])
        .success()
        .json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["data"]["text"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn logs_and_verdicts_written_on_two_machines_merge_without_loss_or_force() {
    let (repo, a, b) = two_clones();
    repo.git_in(&a, ["worker", "spawn", "w"]).success();
    let wt = a.parent().unwrap().join("a.worktrees/w");
    write_file(&wt.join("w.txt"), "w\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "w"])
        .success();
    repo.git_in(&a, ["worker", "sync"]).success();
    let out = repo.git_in(&b, ["worker", "sync"]).success();
    assert!(
        out.stderr.contains("synced the registry with 'origin'"),
        "{out}"
    );

    // Both sides append at once.
    repo.git_in(&a, ["worker", "message", "w", "from a"])
        .success();
    repo.git_in(&b, ["worker", "message", "w", "from b"])
        .success();
    repo.git_in(&a, ["review-gate", "approve", "w", "--reviewer", "Ann"])
        .success();
    repo.git_in(
        &b,
        [
            "review-gate",
            "reject",
            "w",
            "--reviewer",
            "Bob",
            "-m",
            "b: missing test",
        ],
    )
    .success();
    repo.git_in(&a, ["worker", "sync"]).success();
    let out = repo.git_in(&b, ["worker", "sync"]).success();
    assert!(out.stderr.contains("merged"), "{out}");
    repo.git_in(&a, ["worker", "sync"]).success();

    for side in [&a, &b] {
        let events = kinds(&repo, side, "w");
        assert!(events.contains(&"message from a".to_string()), "{events:?}");
        assert!(events.contains(&"message from b".to_string()), "{events:?}");
        let status = repo
            .git_in(side, ["review-gate", "status", "w", "--json"])
            .output()
            .json();
        let by: Vec<&str> = status["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["by"].as_str().unwrap())
            .collect();
        assert_eq!(by.len(), 2, "{status}");
        assert!(by.contains(&"Ann") && by.contains(&"Bob"), "{status}");
    }
    let tip = |dir: &std::path::Path| {
        repo.git_in(dir, ["rev-parse", "refs/orch/workers/w"])
            .read()
    };
    assert_eq!(tip(&a), tip(&b));
    // Again: nothing to do.
    let out = repo.git_in(&b, ["worker", "sync"]).success();
    assert!(out.stderr.contains("0 taken, 0 merged"), "{out}");
}

#[test]
fn a_bad_remote_is_an_error_that_changes_nothing() {
    let (repo, a, _) = two_clones();
    let out = repo.git_in(&a, ["worker", "sync", "nope"]).code(2);
    assert!(
        out.stderr.contains("error: no remote named 'nope'"),
        "{out}"
    );
    repo.git_in(&a, ["remote", "add", "gone"])
        .arg(repo.root().join("gone.git"))
        .success();
    let out = repo.git_in(&a, ["worker", "sync", "gone"]).code(2);
    assert!(
        out.stderr.contains("cannot fetch the registry from 'gone'"),
        "{out}"
    );
    let staged = repo
        .git_in(
            &a,
            ["for-each-ref", "--format=%(refname)", "refs/orch-sync/"],
        )
        .read();
    assert_eq!(staged, "");
}
