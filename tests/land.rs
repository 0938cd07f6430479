//! `git handoff land`: the ordered landing queue.

use crate::support::{TestRepo, write_file};

const LIB: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", LIB);
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

/// Worker `id` (verified by `verify`) writes `files` and reports.
fn worker(repo: &TestRepo, id: &str, verify: &str, files: &[(&str, &str)]) {
    repo.worker(["spawn", id, "--allow", "src/**", "--verify", verify])
        .success();
    for (path, text) in files {
        write_file(&repo.worktree(id).join(path), text);
    }
    repo.git_in(
        &repo.worktree(id),
        ["handoff", "report", "--summary", &format!("work of {id}")],
    )
    .success();
}

fn subjects(repo: &TestRepo, n: usize) -> Vec<String> {
    repo.git(["log", &format!("-{n}"), "--reverse", "--format=%s"])
        .read()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn independent_handoffs_land_first_then_those_sharing_files_each_verified() {
    let repo = repo();
    // Reported in the opposite order of how they should land.
    worker(
        &repo,
        "c",
        "echo verified-c",
        &[("src/lib.rs", &LIB.replace("one", "ONE"))],
    );
    worker(
        &repo,
        "d",
        "echo verified-d",
        &[("src/lib.rs", &LIB.replace("ten", "TEN"))],
    );
    worker(&repo, "a", "echo verified-a", &[("src/a.rs", "a\n")]);
    worker(&repo, "b", "echo verified-b", &[("src/b.rs", "b\n")]);
    let before = repo.snapshot();
    let plan = repo.git(["handoff", "land", "--all", "--dry-run"]).read();
    assert_eq!(
        plan,
        "1. a (independent)\n2. b (independent)\n3. c (shares files with d)\n4. d (shares files with c)"
    );
    assert_eq!(repo.snapshot(), before, "a dry run changed something");

    let out = repo.git(["handoff", "land", "--all"]).success();
    for id in ["a", "b", "c", "d"] {
        assert!(out.stderr.contains(&format!("verified-{id}")), "{out}");
    }
    assert!(
        out.stderr
            .contains("[3/4] landing 'c' (shares files with d)"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("landed 4 of 4: a, b, c, d; failed: none"),
        "{out}"
    );
    assert_eq!(
        subjects(&repo, 4),
        ["work of a", "work of b", "work of c", "work of d"]
    );
    let lib = std::fs::read_to_string(repo.path().join("src/lib.rs")).unwrap();
    assert!(lib.starts_with("ONE\n") && lib.ends_with("TEN\n"), "{lib}");
}

#[test]
fn predicted_conflicts_land_last_and_keep_going_skips_what_fails() {
    let repo = repo();
    worker(
        &repo,
        "e",
        "true",
        &[("src/lib.rs", &LIB.replace("one", "eee"))],
    );
    worker(
        &repo,
        "f",
        "true",
        &[("src/lib.rs", &LIB.replace("one", "fff"))],
    );
    worker(&repo, "g", "false", &[("src/g.rs", "g\n")]);
    worker(&repo, "h", "true", &[("src/h.rs", "h\n")]);
    let plan = repo.git(["handoff", "land", "--all", "--dry-run"]).read();
    assert_eq!(
        plan,
        "1. g (independent)\n2. h (independent)\n3. e (predicted conflict with 'f' in src/lib.rs)\n4. f (predicted conflict with 'e' in src/lib.rs)"
    );
    // Without --keep-going the queue stops at g's failed verification.
    let head = repo.rev("HEAD");
    let out = repo.git(["handoff", "land", "--all"]).code(1);
    assert!(
        out.stderr.contains(
            "landed 0 of 4: none; failed: g; not attempted (the queue stops at a failure; --keep-going skips it): h, e, f"
        ),
        "{out}"
    );
    assert_eq!(repo.rev("HEAD"), head, "g was not rolled back");
    // With it, g is skipped (it is rejected now), e lands, f then conflicts.
    let out = repo
        .git([
            "handoff",
            "land",
            "h",
            "e",
            "f",
            "g",
            "--keep-going",
            "--json",
        ])
        .code(1);
    let summary = out.json();
    assert_eq!(summary["landed"], serde_json::json!(["h", "e"]));
    assert_eq!(summary["failed"], serde_json::json!(["g", "f"]));
    assert_eq!(subjects(&repo, 2), ["work of h", "work of e"]);
    let status = repo.git(["status", "--porcelain"]).read();
    assert_eq!(status, "", "a failed landing left changes behind");
}

#[test]
fn bad_ids_are_refused_before_anything_lands() {
    let repo = repo();
    worker(&repo, "a", "true", &[("src/a.rs", "a\n")]);
    repo.worker(["spawn", "idle"]).success();
    let before = repo.snapshot();
    let out = repo.git(["handoff", "land", "a", "nope"]).code(2);
    assert!(
        out.stderr
            .contains("error: worker 'nope' is not registered"),
        "{out}"
    );
    let out = repo.git(["handoff", "land", "a", "idle"]).code(2);
    assert!(
        out.stderr.contains("error: worker 'idle' has not reported"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    let out = repo.git(["handoff", "land"]).code(2);
    assert!(out.stderr.contains("<ID>"), "{out}");
}

/// A dry run says which handoffs the review gate would hold back, and
/// exits 1 when one would not land; it changes nothing.
#[test]
fn a_dry_run_names_the_handoffs_whose_gate_would_hold_them_back() {
    let repo = repo();
    worker(&repo, "a", "true", &[("src/a.rs", "a\n")]);
    worker(&repo, "b", "true", &[("src/b.rs", "b\n")]);
    repo.git(["config", "orch.review.require", "approve"])
        .success();
    repo.git(["review-gate", "approve", "a", "-m", "read it"])
        .success();
    let before = repo.snapshot();
    let out = repo.git(["handoff", "land", "--all", "--dry-run"]).code(1);
    assert!(
        out.stdout.starts_with(
            "1. a (independent)\n2. b (independent): would not land, its review gate is closed: "
        ),
        "{out}"
    );
    assert!(out.stdout.contains("an approval"), "{out}");
    assert!(
        out.stderr
            .contains("1 of 2 would not land (review gate closed): b"),
        "{out}"
    );
    let json = repo
        .git(["handoff", "land", "--all", "--dry-run", "--json"])
        .code(1)
        .json();
    assert_eq!(json["plan"][0]["gate"], "open");
    assert_eq!(json["plan"][1]["gate"], "closed");
    assert_eq!(repo.snapshot(), before, "a dry run changed something");
    // With b approved too, the dry run passes.
    repo.git(["review-gate", "approve", "b", "-m", "read it too"])
        .success();
    repo.git(["handoff", "land", "--all", "--dry-run"])
        .success();
}

/// `land --all` names the workers it leaves out of the queue, and why.
#[test]
fn land_all_names_the_workers_it_leaves_out() {
    let repo = repo();
    worker(&repo, "a", "true", &[("src/a.rs", "a\n")]);
    worker(&repo, "b", "true", &[("src/b.rs", "b\n")]);
    repo.worker(["spawn", "c", "--allow", "src/**"]).success();
    repo.git(["review-gate", "reject", "b", "-m", "no: b.rs is wrong"])
        .success();
    let out = repo
        .git(["handoff", "land", "--all", "--dry-run"])
        .success();
    assert_eq!(out.stdout.trim(), "1. a (independent)", "{out}");
    assert!(
        out.stderr
            .contains("not in the queue: b (rejected), c (not reported)"),
        "{out}"
    );
}
