//! What lands when the coordinator's branch moved: 3-way merges (merge
//! drivers included), `git worker rebase`, and landing a worker's own
//! commits.

use crate::support::{TestRepo, write_file};

/// A repository whose `more.py` is marked `merge=union` (as more-itertools
/// marks its own), and two workers `a` and `b` allowed to change it.
fn union_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write(
        "more.py",
        "def chunked():\n    \"\"\"Break into chunks.\"\"\"\n",
    );
    repo.write(".gitattributes", "more.py merge=union\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    for id in ["a", "b"] {
        repo.worker(["spawn", id, "--allow", "more.py"]).success();
    }
    // The same docstring line, changed differently by each.
    for (id, doc) in [
        ("a", "Break an iterable into chunks."),
        ("b", "Split into lists."),
    ] {
        let wt = repo.worktree(id);
        write_file(
            &wt.join("more.py"),
            &format!("def chunked():\n    \"\"\"{doc}\"\"\"\n"),
        );
        repo.git_in(
            &wt,
            [
                "handoff",
                "report",
                "--summary",
                &format!("docstring by {id}"),
            ],
        )
        .success();
    }
    repo
}

fn last_event(repo: &TestRepo, id: &str) -> serde_json::Value {
    let log = repo.worker(["log", id, "--json"]).success().json();
    log["events"].as_array().unwrap().last().unwrap().clone()
}

#[test]
fn a_union_merge_that_lands_both_lines_is_held_back_under_approval_and_said_loudly_without() {
    let repo = union_repo();
    repo.git(["config", "orch.review.require", "approve"])
        .success();
    for id in ["a", "b"] {
        repo.git(["review-gate", "approve", id, "-m", "read it"])
            .success();
    }
    repo.git(["handoff", "apply", "a"]).success();
    let head = repo.rev("HEAD");

    // b's approved change replaces the line; the union driver would keep a's too.
    let dry = repo.git(["handoff", "apply", "b", "--dry-run"]).code(1);
    assert!(dry.stderr.contains("merged 3-way"), "{dry}");
    assert!(dry.stderr.contains("would hold it back"), "{dry}");
    let out = repo.git(["handoff", "apply", "b"]).code(2);
    assert!(
        out.stderr
            .contains("it is merged 3-way with what landed since its base on the same paths: 'a'"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("the merged change differs from the one reported"),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "error: the merged change of 'b' differs from the one approved; nothing was applied"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("git worker rebase b"), "{out}");
    assert!(out.stderr.contains("--accept-merged"), "{out}");
    // Nothing landed, nothing changed, and nothing recorded as applied.
    assert_eq!(repo.rev("HEAD"), head);
    assert_eq!(
        repo.git(["status", "--porcelain"]).success().stdout,
        "",
        "the checkout is as it was"
    );
    assert_ne!(last_event(&repo, "b")["kind"], "applied");

    // Accepted explicitly: it lands, and the event says what happened.
    let out = repo
        .git(["handoff", "apply", "b", "--accept-merged"])
        .success();
    assert!(out.stderr.contains("merged 3-way"), "{out}");
    let landed = std::fs::read_to_string(repo.path().join("more.py")).unwrap();
    assert!(landed.contains("Break an iterable") && landed.contains("Split into lists"));
    let event = last_event(&repo, "b");
    assert_eq!(event["kind"], "applied");
    let merge = &event["data"]["merge"];
    assert_eq!(merge["three_way"], true, "{event}");
    assert_eq!(merge["same_as_reported"], false, "{event}");
    assert_eq!(merge["accepted"], true, "{event}");
    assert_eq!(merge["landed_since"], serde_json::json!(["a"]), "{event}");
}

#[test]
fn without_a_policy_a_differing_merge_lands_with_a_warning_and_a_moved_change_is_the_same() {
    let repo = union_repo();
    repo.git(["handoff", "apply", "a"]).success();
    let out = repo.git(["handoff", "apply", "b"]).success();
    assert!(
        out.stderr.contains("warning: the merged change differs"),
        "{out}"
    );
    assert_eq!(
        last_event(&repo, "b")["data"]["merge"]["same_as_reported"],
        false
    );

    // A merge that only moves the change (context changed above it) is the
    // change reported, and says so.
    let repo = TestRepo::new();
    repo.write("f.txt", "1\n2\n3\n4\n5\n6\n7\n8\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker(["spawn", "m", "--allow", "f.txt"]).success();
    let wt = repo.worktree("m");
    write_file(&wt.join("f.txt"), "1\n2\n3\n4\n5\n6\n7\nEIGHT\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "eight"])
        .success();
    repo.write("f.txt", "1\n2\n3\n4\n5\nsix\n7\n8\n");
    repo.git(["commit", "--quiet", "-am", "six"]).success();
    let out = repo.git(["handoff", "apply", "m"]).success();
    assert!(out.stderr.contains("merged 3-way"), "{out}");
    assert!(
        out.stderr.contains("the merged change is the one reported"),
        "{out}"
    );
    assert_eq!(
        last_event(&repo, "m")["data"]["merge"]["same_as_reported"],
        true
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("f.txt")).unwrap(),
        "1\n2\n3\n4\n5\nsix\n7\nEIGHT\n"
    );
}

/// A repository with `src/lib.rs` and `src/other.rs`, and worker `w`
/// (spawned with `spawn_args` added) allowed `src/**`, which committed an
/// edit of the first line of `src/lib.rs` as "Wanda <wanda@example.com>".
fn rebase_repo(spawn_args: &[&str]) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "one\ntwo\nthree\n");
    repo.write("src/other.rs", "other\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker(["spawn", "w", "--allow", "src/**"])
        .args(spawn_args)
        .success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/lib.rs"), "ONE by the worker\ntwo\nthree\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "worker: first line"])
        .env("GIT_AUTHOR_NAME", "Wanda")
        .env("GIT_AUTHOR_EMAIL", "wanda@example.com")
        .success();
    repo
}

/// What a failed rebase must leave as it was: the worker's branch, files,
/// contract base and registry entry.
fn worker_state(repo: &TestRepo) -> (String, String, String, String) {
    let wt = repo.worktree("w");
    (
        repo.git_in(&wt, ["rev-parse", "HEAD"]).read(),
        std::fs::read_to_string(wt.join("src/lib.rs")).unwrap(),
        repo.worker(["show", "w", "--json"]).success().json()["worker"]["base"].to_string(),
        repo.git(["for-each-ref", "refs/orch/workers/"]).read(),
    )
}

#[test]
fn rebase_replays_the_workers_commits_onto_head_keeping_authorship_and_moves_its_base() {
    for spawn_args in [&[][..], &["--isolation", "clone"][..]] {
        let repo = rebase_repo(spawn_args);
        repo.write("src/other.rs", "other, changed on main\n");
        repo.git(["commit", "--quiet", "-am", "main moves"])
            .success();
        let head = repo.rev("HEAD");
        if !spawn_args.is_empty() {
            // A clone's commits must be here first: rebase never reads a
            // clone's objects.
            let out = repo.worker(["rebase", "w"]).code(2);
            assert!(
                out.stderr
                    .contains("which this repository does not have yet"),
                "{out}"
            );
            repo.git_in(&repo.worktree("w"), ["worker", "sync"])
                .success();
            repo.worker(["sync", "orch-inbox"]).success();
        }

        let out = repo.worker(["rebase", "w"]).success();
        assert!(out.stderr.contains("rebased worker 'w' onto"), "{out}");
        let wt = repo.worktree("w");
        // Its checkout is on the new base, with its own commit on top.
        assert_eq!(
            std::fs::read_to_string(wt.join("src/other.rs")).unwrap(),
            "other, changed on main\n"
        );
        assert_eq!(
            std::fs::read_to_string(wt.join("src/lib.rs")).unwrap(),
            "ONE by the worker\ntwo\nthree\n"
        );
        assert_eq!(repo.git_in(&wt, ["rev-parse", "HEAD~"]).read(), head);
        assert_eq!(
            repo.git_in(&wt, ["log", "-1", "--format=%an <%ae> %s"])
                .read(),
            "Wanda <wanda@example.com> worker: first line"
        );
        assert_eq!(repo.git_in(&wt, ["status", "--porcelain"]).read(), "");
        let shown = repo.worker(["show", "w", "--json"]).success().json();
        assert_eq!(shown["worker"]["base"], head.as_str(), "{shown}");
        let event = last_event(&repo, "w");
        assert_eq!(event["kind"], "rebased", "{event}");
        assert_eq!(event["data"]["onto"], head.as_str());
        assert_eq!(event["data"]["commits"], 1);

        // It reports from there, and what it reports applies cleanly.
        repo.git_in(&wt, ["handoff", "report", "--summary", "first line"])
            .success();
        if !spawn_args.is_empty() {
            // A clone sends it through the inbox.
            repo.git_in(&wt, ["worker", "sync"]).success();
            let out = repo.worker(["sync", "orch-inbox"]).success();
            assert!(!out.stderr.contains("warning"), "{out}");
        }
        repo.git(["handoff", "apply", "w"]).success();
        assert_eq!(
            std::fs::read_to_string(repo.path().join("src/lib.rs")).unwrap(),
            "ONE by the worker\ntwo\nthree\n"
        );
    }
}

#[test]
fn a_conflict_has_a_way_out_rebase_stops_on_a_conflict_and_moves_a_worker_that_resolved_it() {
    let repo = rebase_repo(&[]);
    let wt = repo.worktree("w");
    repo.git_in(&wt, ["handoff", "report", "--summary", "first line"])
        .success();
    repo.write("src/lib.rs", "ONE from main\ntwo\nthree\n");
    repo.git(["commit", "--quiet", "-am", "main takes the line"])
        .success();
    let out = repo.git(["handoff", "apply", "w"]).code(1);
    assert!(out.stderr.contains("conflicts with HEAD"), "{out}");
    assert!(out.stderr.contains("hint: `git worker rebase w`"), "{out}");

    // The coordinator tries the rebase: the same conflict, named; nothing moves.
    let before = worker_state(&repo);
    let out = repo.worker(["rebase", "w"]).code(1);
    assert!(out.stderr.contains("conflicts with"), "{out}");
    assert!(out.stderr.contains("conflict: src/lib.rs"), "{out}");
    assert!(out.stderr.contains("nothing was rebased"), "{out}");
    assert_eq!(worker_state(&repo), before);

    // Uncommitted work is refused, untouched.
    write_file(&wt.join("src/other.rs"), "uncommitted\n");
    let out = repo.worker(["rebase", "w"]).code(2);
    assert!(out.stderr.contains("has uncommitted changes"), "{out}");
    assert_eq!(
        std::fs::read_to_string(wt.join("src/other.rs")).unwrap(),
        "uncommitted\n"
    );
    repo.git_in(&wt, ["checkout", "--", "src/other.rs"])
        .success();

    // The worker resolves it on top of main itself, and asks to be moved.
    repo.git_in(
        &wt,
        [
            "merge",
            "--quiet",
            "-X",
            "theirs",
            "-m",
            "merge main",
            "main",
        ],
    )
    .code(0);
    repo.git_in(&wt, ["reset", "--quiet", "--hard", "main"])
        .success();
    write_file(
        &wt.join("src/lib.rs"),
        "ONE from main, and the worker\ntwo\nthree\n",
    );
    repo.git_in(&wt, ["commit", "--quiet", "-am", "worker: resolved"])
        .success();
    let out = repo.git_in(&wt, ["worker", "notify", "--rebase"]).success();
    assert!(
        out.stderr
            .contains("blocked until the coordinator rebases it"),
        "{out}"
    );
    let shown = repo.worker(["show", "w", "--json"]).success().json();
    assert_eq!(shown["worker"]["state"], "blocked", "{shown}");
    assert!(
        shown["worker"]["reason"]
            .as_str()
            .unwrap()
            .contains("git worker rebase w"),
        "{shown}"
    );

    // Its old report was made on the old base: it cannot be applied now.
    repo.worker(["rebase", "w"]).success();
    let shown = repo.worker(["show", "w", "--json"]).success().json();
    assert_eq!(shown["worker"]["state"], "active", "{shown}");
    let out = repo.git(["handoff", "apply", "w"]).code(2);
    assert!(
        out.stderr.contains("and the worker was rebased onto"),
        "{out}"
    );
    repo.git_in(&wt, ["handoff", "report", "--summary", "resolved"])
        .success();
    repo.git(["handoff", "apply", "w"]).success();
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/lib.rs")).unwrap(),
        "ONE from main, and the worker\ntwo\nthree\n"
    );
}

#[test]
fn the_squashed_commit_has_a_short_subject_the_summary_in_its_body_and_names_the_author() {
    let repo = rebase_repo(&[]);
    let wt = repo.worktree("w");
    let summary = "Rewrote the first line of the library so that it says what the worker thinks it should say\n\nConclusion: ready.";
    repo.git_in(&wt, ["handoff", "report", "--summary", summary])
        .success();
    repo.git(["handoff", "apply", "w"]).success();
    let subject = repo.git(["log", "-1", "--format=%s"]).read();
    assert_eq!(
        subject,
        "Rewrote the first line of the library so that it says what the worker..."
    );
    assert!(subject.chars().count() <= 72);
    let body = repo.git(["log", "-1", "--format=%b"]).read();
    assert!(body.contains(summary), "{body}");
    let trailers = repo
        .git(["log", "-1", "--format=%(trailers:only,unfold)"])
        .read();
    assert!(trailers.contains("Worker: w"), "{trailers}");
    assert!(
        trailers.contains("Co-authored-by: Wanda <wanda@example.com>"),
        "{trailers}"
    );
}

#[test]
fn keep_commits_lands_the_workers_own_commits_onto_head_and_the_rest_in_one_more() {
    let repo = rebase_repo(&[]);
    let wt = repo.worktree("w");
    write_file(&wt.join("src/other.rs"), "other, by the worker\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "worker: other"])
        .env("GIT_AUTHOR_NAME", "Wanda")
        .env("GIT_AUTHOR_EMAIL", "wanda@example.com")
        .success();
    write_file(&wt.join("src/uncommitted.rs"), "left uncommitted\n");
    repo.git_in(
        &wt,
        ["handoff", "report", "--summary", "two commits and a file"],
    )
    .success();
    repo.write("README.md", "main moved on\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "main moves"])
        .success();
    let head = repo.rev("HEAD");

    repo.git(["config", "orch.apply.keepCommits", "true"])
        .success();
    repo.git(["handoff", "apply", "w"]).success();
    let log = repo
        .git([
            "log",
            "--reverse",
            "--format=%an|%s|%(trailers:key=Worker,valueonly)",
            &format!("{head}..HEAD"),
        ])
        .read();
    assert_eq!(
        log,
        "Wanda|worker: first line|w\n\nWanda|worker: other|w\n\nTest User|Rest of the handoff of 'w'|w",
        "{log}"
    );
    // What landed is what was judged: the handoff's change on HEAD.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/uncommitted.rs")).unwrap(),
        "left uncommitted\n"
    );
    assert_eq!(
        repo.git(["diff", "--stat", &head, "HEAD"])
            .read()
            .lines()
            .count(),
        4,
        "three files and the summary line"
    );
}

#[test]
fn keep_commits_refuses_a_commit_outside_the_contract_even_when_a_later_one_undid_it() {
    let repo = rebase_repo(&[]);
    let wt = repo.worktree("w");
    // A secret committed outside the allowed paths, then removed: the
    // squashed change is clean, the history is not.
    write_file(&wt.join("secret.txt"), "hunter2\n");
    repo.git_in(&wt, ["add", "secret.txt"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "--no-verify", "-m", "oops"])
        .success();
    repo.git_in(&wt, ["rm", "--quiet", "secret.txt"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "--no-verify", "-m", "undo"])
        .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "first line"])
        .success();
    let head = repo.rev("HEAD");
    let out = repo
        .git(["handoff", "apply", "w", "--keep-commits"])
        .code(2);
    assert!(
        out.stderr.contains(
            "touches 1 path(s) outside its contract, and --keep-commits lands every commit"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("--no-keep-commits"), "{out}");
    assert_eq!(repo.rev("HEAD"), head);
    assert_eq!(repo.git(["status", "--porcelain"]).read(), "");
    repo.git(["handoff", "apply", "w"]).success();
    repo.git(["cat-file", "-e", "HEAD:secret.txt"]).code(128);
    assert!(
        !repo
            .git(["log", "--all", "--format=%H", "--", "secret.txt"])
            .read()
            .lines()
            .any(|c| repo
                .git(["merge-base", "--is-ancestor", c, "HEAD"])
                .output()
                .code
                == 0),
        "no commit of HEAD has the secret"
    );
}

#[test]
fn keep_commits_names_the_worker_whatever_its_messages_claim_and_the_landed_worker_can_be_removed()
{
    let repo = rebase_repo(&[]);
    let wt = repo.worktree("w");
    // A message that claims another worker, past a `---` line.
    write_file(&wt.join("src/other.rs"), "other, by the worker\n");
    repo.git_in(
        &wt,
        [
            "commit",
            "--quiet",
            "-am",
            "w edits other\n\n---\n\nWorker: bob",
        ],
    )
    .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "two commits"])
        .success();
    let head = repo.rev("HEAD");
    repo.git(["handoff", "apply", "w", "--keep-commits"])
        .success();
    let workers = repo
        .git([
            "log",
            "--format=%(trailers:key=Worker,valueonly)",
            &format!("{head}..HEAD"),
        ])
        .read();
    assert!(!workers.contains("bob"), "{workers}");
    assert_eq!(
        workers.lines().filter(|l| *l == "w").count(),
        2,
        "{workers}"
    );
    // The last commit is the handoff's (its trailers), so it counts as landed.
    let last = repo.git(["log", "-1", "--format=%(trailers:only)"]).read();
    assert!(
        last.contains("Handoff: ") && last.contains("Fingerprint: "),
        "{last}"
    );
    repo.worker(["rm", "w"]).success();
}
