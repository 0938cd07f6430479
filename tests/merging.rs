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
