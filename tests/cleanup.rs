//! `git worker cleanup`: landed work recognized after squash and rebase
//! merges; unlanded work kept without --force.

use crate::support::{TestRepo, write_file};

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "cleanup\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

/// Worker `id` makes one commit per file.
fn work(repo: &TestRepo, id: &str, files: &[&str]) {
    repo.worker(["spawn", id]).success();
    for file in files {
        write_file(&repo.worktree(id).join(file), &format!("{file}\n"));
        repo.git_in(&repo.worktree(id), ["add", file]).success();
        repo.git_in(&repo.worktree(id), ["commit", "--quiet", "-m", file])
            .success();
    }
}

fn workers(repo: &TestRepo) -> Vec<String> {
    repo.worker(["list", "--json", "--no-status"])
        .success()
        .json()["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn squash_and_rebase_merges_count_as_landed_and_unlanded_work_survives() {
    let repo = repo();
    work(&repo, "squashed", &["s1.txt", "s2.txt"]);
    work(&repo, "rebased", &["r1.txt", "r2.txt"]);
    work(&repo, "merged", &["m.txt"]);
    work(&repo, "open", &["u.txt"]);
    work(&repo, "idle", &[]);
    work(&repo, "refused", &["x.txt"]);
    let base = repo.rev("main");
    repo.git(["merge", "--quiet", "--squash", "orch/squashed"])
        .success();
    repo.git(["commit", "--quiet", "-m", "squash"]).success();
    repo.git(["cherry-pick", &format!("{base}..orch/rebased")])
        .success();
    repo.git(["merge", "--quiet", "--no-edit", "orch/merged"])
        .success();
    // A rejected worker (with commits that did not land).
    write_file(&repo.worktree("refused").join("x2.txt"), "x2\n");
    repo.git_in(
        &repo.worktree("refused"),
        ["handoff", "report", "--summary", "x"],
    )
    .success();
    repo.git(["handoff", "reject", "refused", "--reason", "no"])
        .success();

    let before = repo.snapshot();
    let plan = repo.worker(["cleanup", "--dry-run"]).read();
    assert_eq!(
        plan,
        "would remove worker 'merged' (branch 'orch/merged'): landed: merged: its branch is in HEAD\n\
         would remove worker 'rebased' (branch 'orch/rebased'): landed: rebased: every commit has an equivalent in HEAD\n\
         would remove worker 'squashed' (branch 'orch/squashed'): landed: squash-merged: merging it would add nothing"
    );
    assert_eq!(repo.snapshot(), before, "a dry run changed something");

    let out = repo.worker(["cleanup"]).success();
    assert_eq!(out.stdout.lines().count(), 3, "{out}");
    assert_eq!(workers(&repo), ["idle", "open", "refused"]);
    for gone in ["squashed", "rebased", "merged"] {
        repo.git([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/orch/{gone}"),
        ])
        .code(1);
        assert!(!repo.worktree(gone).exists());
        // Its history is kept.
        let log = repo.worker(["log", gone, "--json"]).success().json();
        assert_eq!(log["archived"], true);
    }

    // Abandoned: the idle worker goes; the rejected one holds unlanded work.
    let out = repo.worker(["cleanup", "--abandoned"]).success();
    assert!(
        out.stdout
            .contains("removed worker 'idle' (branch 'orch/idle'): abandoned: it did nothing"),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "kept worker 'refused' (branch 'orch/refused'): abandoned: rejected, and it holds work that has not landed (--force removes it)"
        ),
        "{out}"
    );
    assert_eq!(workers(&repo), ["open", "refused"]);
    repo.worker(["cleanup", "--abandoned", "--force"]).success();
    assert_eq!(workers(&repo), ["open"]);
    // Unlanded work is never taken: `open` and its commit are still there.
    repo.worker(["cleanup", "--landed", "--abandoned"])
        .success();
    assert_eq!(workers(&repo), ["open"]);
    assert!(repo.worktree("open").join("u.txt").is_file());
}

#[test]
fn remote_branches_and_ownerless_landed_branches_go_too() {
    let repo = repo();
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["init", "--quiet", "--bare", "hub.git"])
        .success();
    repo.git(["remote", "add", "origin"]).arg(&hub).success();
    work(&repo, "done", &["d.txt"]);
    work(&repo, "kept", &["k.txt"]);
    repo.git([
        "push",
        "--quiet",
        "origin",
        "main",
        "orch/done",
        "orch/kept",
    ])
    .success();
    repo.git(["merge", "--quiet", "--no-edit", "orch/done", "orch/kept"])
        .success();
    // `kept` was removed earlier, keeping its branch: no worker owns it now.
    repo.worker(["rm", "kept", "--keep-branch", "--force"])
        .success();
    let out = repo
        .worker(["cleanup", "--remote", "origin", "--prefix", "orch/"])
        .success();
    assert!(
        out.stdout
            .contains("removed branch 'orch/kept': landed: merged"),
        "{out}"
    );
    let remote = repo
        .cmd_in(
            &hub,
            "git",
            ["for-each-ref", "--format=%(refname)", "refs/heads/"],
        )
        .read();
    assert_eq!(remote, "refs/heads/main");
    let before = repo.snapshot();
    let out = repo.worker(["cleanup", "--remote", "nope"]).code(2);
    assert!(
        out.stderr.contains("error: no remote named 'nope'"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    let out = repo.worker(["cleanup", "--prefix", ""]).code(2);
    assert!(
        out.stderr
            .contains("an empty --prefix would take every branch"),
        "{out}"
    );
}

#[test]
fn work_added_after_landing_and_work_off_the_branch_are_kept() {
    let repo = repo();
    // Applied, then the worker went on committing.
    repo.worker(["spawn", "a"]).success();
    write_file(&repo.worktree("a").join("a1.txt"), "a1\n");
    repo.git_in(
        &repo.worktree("a"),
        ["handoff", "report", "--summary", "a1"],
    )
    .success();
    repo.git(["handoff", "apply", "a"]).success();
    repo.git_in(&repo.worktree("a"), ["add", "."]).success();
    repo.git_in(&repo.worktree("a"), ["commit", "--quiet", "-m", "a1"])
        .success();
    write_file(&repo.worktree("a").join("a2.txt"), "a2\n");
    repo.git_in(&repo.worktree("a"), ["add", "."]).success();
    repo.git_in(&repo.worktree("a"), ["commit", "--quiet", "-m", "a2"])
        .success();
    // Did nothing on its branch, but committed on a detached HEAD.
    repo.worker(["spawn", "d"]).success();
    repo.git_in(&repo.worktree("d"), ["checkout", "--quiet", "--detach"])
        .success();
    write_file(&repo.worktree("d").join("x.txt"), "x\n");
    repo.git_in(&repo.worktree("d"), ["add", "."]).success();
    repo.git_in(&repo.worktree("d"), ["commit", "--quiet", "-m", "x"])
        .success();
    let out = repo
        .worker(["cleanup", "--landed", "--abandoned"])
        .success();
    assert!(!out.stdout.contains("removed"), "{out}");
    assert!(out.stderr.contains("kept worker 'd'"), "{out}");
    assert_eq!(workers(&repo), ["a", "d"]);
    assert!(repo.worktree("a").join("a2.txt").is_file());
}

#[test]
fn a_remote_branch_with_commits_not_in_head_is_kept_there() {
    let repo = repo();
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["init", "--quiet", "--bare", "hub.git"])
        .success();
    repo.git(["remote", "add", "origin"]).arg(&hub).success();
    work(&repo, "a", &["a.txt"]);
    repo.git(["push", "--quiet", "origin", "main", "orch/a"])
        .success();
    // Someone else adds to the remote branch.
    let other = repo.root().join("other");
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet", "hub.git", "other"])
        .success();
    repo.git_in(&other, ["checkout", "--quiet", "orch/a"])
        .success();
    repo.git_in(&other, ["commit", "--quiet", "--allow-empty", "-m", "more"])
        .success();
    repo.git_in(&other, ["push", "--quiet", "origin", "orch/a"])
        .success();
    repo.git(["merge", "--quiet", "--no-edit", "orch/a"])
        .success();
    let out = repo.worker(["cleanup", "--remote", "origin"]).success();
    assert!(out.stdout.contains("removed worker 'a'"), "{out}");
    assert!(
        out.stderr
            .contains("kept 'orch/a' on 'origin': it holds commits that are not in HEAD"),
        "{out}"
    );
    repo.cmd_in(&hub, "git", ["rev-parse", "--verify", "orch/a"])
        .success();
}

#[test]
fn a_task_whose_work_was_merged_and_cleaned_up_counts_as_landed() {
    let repo = repo();
    repo.worker(["plan", "a"]).success();
    repo.worker(["plan", "b", "--depends-on", "a"]).success();
    repo.worker(["spawn", "--ready"]).success();
    write_file(&repo.worktree("a").join("a.txt"), "a\n");
    repo.git_in(&repo.worktree("a"), ["add", "."]).success();
    repo.git_in(&repo.worktree("a"), ["commit", "--quiet", "-m", "a"])
        .success();
    repo.git(["merge", "--quiet", "--no-edit", "orch/a"])
        .success();
    repo.worker(["cleanup"]).success();
    let ready = repo.worker(["ready"]).read();
    assert_eq!(ready, "b");
    let report = repo.worker(["report", "--json"]).success().json();
    assert_eq!(report["tasks"][0]["outcome"], "landed");
}
