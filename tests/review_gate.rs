//! `git review-gate`: verification in a clean checkout, verdicts bound to
//! the change, the policy, and the gate in `git handoff apply` and pre-push.

use std::path::{Path, PathBuf};

use crate::support::{Output, Run, TestRepo, workspace_root, write_file};

/// A repository with `src/` and `docs/`; worker `w` (allowed `src/**`,
/// verified by `verify`) has reported an untracked `src/new.rs` and an
/// edit of `src/lib.rs`, committed.
fn setup(verify: &[&str]) -> (TestRepo, PathBuf) {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("docs/guide.md", "guide\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    let mut spawn = repo.worker(["spawn", "w", "--allow", "src/**"]);
    for command in verify {
        spawn = spawn.args(["--verify", command]);
    }
    spawn.success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn b() {}\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "b"])
        .success();
    write_file(&wt.join("src/new.rs"), "fn new() {}\n");
    report(&repo, "Added b and new.");
    (repo, wt)
}

fn report(repo: &TestRepo, summary: &str) {
    repo.git_in(
        &repo.worktree("w"),
        ["handoff", "report", "--summary", summary],
    )
    .success();
}

/// Where temporary checkouts go in these tests ($TMPDIR).
fn tmp(repo: &TestRepo) -> PathBuf {
    let dir = repo.root().join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `git review-gate <args>` in the coordinator's checkout.
fn gate<const N: usize>(repo: &TestRepo, args: [&str; N]) -> Run {
    gate_in(repo, repo.path(), args)
}

fn gate_in<const N: usize>(repo: &TestRepo, dir: &Path, args: [&str; N]) -> Run {
    repo.git_in(dir, ["review-gate"])
        .args(args)
        .env("TMPDIR", tmp(repo))
}

/// Temporary checkouts left: entries of $TMPDIR, and git's linked worktrees
/// beyond the worker's.
fn leftovers(repo: &TestRepo) -> (Vec<String>, usize) {
    let entries = std::fs::read_dir(tmp(repo))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let worktrees = repo
        .git(["worktree", "list", "--porcelain"])
        .success()
        .stdout
        .matches("worktree ")
        .count();
    (entries, worktrees - 2)
}

fn status_json(repo: &TestRepo, target: &str) -> serde_json::Value {
    gate(repo, ["status", target, "--json"]).output().json()
}

/// Everything about a checkout a run must not change.
fn checkout_state(repo: &TestRepo, dir: &Path) -> (String, String, String) {
    let status = repo
        .git_in(dir, ["status", "--porcelain=v1", "--untracked-files=all"])
        .success()
        .stdout;
    let stage = repo.git_in(dir, ["ls-files", "--stage"]).success().stdout;
    (
        status,
        stage,
        repo.git_in(dir, ["rev-parse", "HEAD"]).read(),
    )
}

fn events(repo: &TestRepo, id: &str) -> Vec<String> {
    repo.worker(["show", id, "--json"]).success().json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn run_verifies_the_reported_change_in_a_clean_checkout_and_records_a_pass() {
    // The untracked file exists only in the worker's checkout; `built` and
    // `junk` are written by the verification.
    let (repo, wt) = setup(&[
        "test -f src/new.rs && grep -q 'fn b' src/lib.rs",
        "echo built > built && echo checked",
    ]);
    repo.write("notes.txt", "the coordinator's own untracked work\n");
    let coordinator = checkout_state(&repo, repo.path());
    let worker = checkout_state(&repo, &wt);

    let out = gate(&repo, ["run", "w", "--json"]).success();
    assert!(
        out.stderr
            .contains("verdict: pass for the handoff of 'w' (2 of 2 command(s) passed)"),
        "{out}"
    );
    let verdict = &out.json()["verdict"];
    assert_eq!(verdict["ruling"], "pass");
    assert_eq!(verdict["worker"], "w");
    assert_eq!(verdict["by"], "Test User <test@example.com>");
    let commands = verdict["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[1]["status"], 0);
    assert_eq!(commands[1]["tail"], "checked\n");
    assert!(commands[1]["millis"].is_u64());
    let handoff = repo
        .git(["handoff", "show", "w", "--json"])
        .success()
        .json()["handoff"]
        .clone();
    assert_eq!(verdict["fingerprint"], handoff["fingerprint"]);
    assert_eq!(verdict["tree"], handoff["tree"]);
    assert_eq!(verdict["base"], handoff["base"]);

    assert_eq!(
        leftovers(&repo),
        (vec![], 0),
        "the temporary checkout is left"
    );
    assert_eq!(checkout_state(&repo, repo.path()), coordinator);
    assert_eq!(checkout_state(&repo, &wt), worker);
    assert!(!wt.join("built").exists() && !repo.path().join("built").exists());

    // In git: a note on the handoff commit, and an event in the worker's log.
    let log = repo
        .git([
            "-c",
            "core.notesRef=refs/orch/notes/verdicts",
            "log",
            "-1",
            "refs/orch/handoffs/w",
        ])
        .read();
    assert!(log.contains(r#""ruling":"pass""#), "{log}");
    assert_eq!(events(&repo, "w").last().unwrap(), "verified");
    let status = status_json(&repo, "w");
    assert_eq!(status["open"], true);
    assert_eq!(status["verdicts"].as_array().unwrap().len(), 1);
}

#[test]
fn a_failing_command_is_a_fail_verdict_with_its_status_and_output_tail() {
    let (repo, _) = setup(&["true", "echo one; echo two >&2; exit 3"]);
    let out = gate(&repo, ["run", "w"]).code(1);
    assert!(out.stderr.contains("FAIL (exit 3): echo one"), "{out}");
    assert!(out.stderr.contains("verdict: fail"), "{out}");
    let status = status_json(&repo, "w");
    let verdict = &status["verdicts"][0];
    assert_eq!(verdict["ruling"], "fail");
    assert_eq!(verdict["commands"][0]["status"], 0);
    assert_eq!(verdict["commands"][1]["status"], 3);
    assert_eq!(verdict["commands"][1]["tail"], "one\ntwo\n");
    assert_eq!(leftovers(&repo), (vec![], 0));
    // Under policy `verify` a failed run holds the gate closed.
    repo.git(["config", "orch.review.require", "verify"])
        .success();
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(
        out.stdout
            .contains("closed: the latest verification run failed: echo one; echo two >&2; exit 3"),
        "{out}"
    );
}

#[test]
fn a_timed_out_command_fails_and_its_checkout_is_removed() {
    let (repo, _) = setup(&["sleep 30"]);
    let started = std::time::Instant::now();
    let out = gate(&repo, ["run", "w", "--timeout", "1"]).code(1);
    assert!(started.elapsed().as_secs() < 20, "not stopped");
    assert!(
        out.stderr.contains("FAIL (timed out after 1 s): sleep 30"),
        "{out}"
    );
    assert_eq!(
        status_json(&repo, "w")["verdicts"][0]["commands"][0]["timed_out"],
        true
    );
    assert_eq!(leftovers(&repo), (vec![], 0));
}

#[test]
fn an_interrupted_run_records_nothing_and_removes_its_checkout() {
    // The verification interrupts git-review-gate (its parent), then would
    // run on: unsandboxed (a sandboxed one cannot signal outside it).
    let (repo, _) = setup(&["kill -INT $PPID; sleep 30"]);
    repo.git(["config", "orch.verify.inPlace", "true"])
        .success();
    let started = std::time::Instant::now();
    let out = gate(&repo, ["run", "w"]).code(130);
    assert!(started.elapsed().as_secs() < 20, "not stopped");
    assert!(
        out.stderr
            .contains("interrupted by signal 2; verification stopped; nothing recorded"),
        "{out}"
    );
    assert_eq!(leftovers(&repo), (vec![], 0));
    assert_eq!(status_json(&repo, "w")["verdicts"], serde_json::json!([]));
    repo.git([
        "rev-parse",
        "--verify",
        "--quiet",
        "refs/orch/notes/verdicts",
    ])
    .code(1);
}

#[test]
fn a_killed_runs_checkout_is_found_by_doctor_and_removed_by_prune() {
    let (repo, _) = setup(&["true"]);
    gate(&repo, ["run", "w"])
        .env("GIT_WORKER_KILL_AFTER", "gate:checkout")
        .code(137);
    let (entries, worktrees) = leftovers(&repo);
    assert_eq!((entries.len(), worktrees), (1, 0));
    assert!(entries[0].starts_with("orch-gate-"), "{entries:?}");
    let out = repo.worker(["doctor"]).code(1);
    assert!(
        out.stdout
            .contains("temporary checkout of a killed `git review-gate run`"),
        "{out}"
    );
    let out = repo.worker(["prune"]).success();
    assert!(out.stdout.contains("removed temporary checkout"), "{out}");
    assert_eq!(leftovers(&repo), (vec![], 0));
}

#[test]
fn jobs_run_the_commands_at_the_same_time() {
    // Each command passes only if all three are running at once.
    let command = |me: u32| {
        format!(
            "touch m{me}; for t in $(seq 200); do [ -f m1 ] && [ -f m2 ] && [ -f m3 ] && exit 0; sleep 0.05; done; exit 1"
        )
    };
    let (c1, c2, c3) = (command(1), command(2), command(3));
    let (repo, _) = setup(&[&c1, &c2, &c3]);
    let out = gate(&repo, ["run", "w", "--jobs", "3"]).success();
    assert!(out.stderr.contains("(3 of 3 command(s) passed)"), "{out}");
    // The verdict keeps the contract's order whatever finished first.
    let verdict = &status_json(&repo, "w")["verdicts"][0];
    assert_eq!(verdict["commands"][0]["command"], c1.as_str());
    assert_eq!(verdict["commands"][2]["command"], c3.as_str());
}

#[test]
fn a_verdict_goes_stale_when_the_worker_changes_and_reports_again() {
    let (repo, wt) = setup(&["true"]);
    repo.git(["config", "orch.review.require", "verify"])
        .success();
    gate(&repo, ["run", "w"]).success();
    gate(&repo, ["status", "w"]).success();
    // Reporting the very same change again keeps the verdict.
    report(&repo, "Same change, new words.");
    gate(&repo, ["status", "w"]).success();

    write_file(&wt.join("src/new.rs"), "fn new() { changed(); }\n");
    report(&repo, "Changed new.");
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(
        out.stdout.contains("verdicts: none on this change"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("stale (on earlier changes; they do not count): 1"),
        "{out}"
    );
    assert!(out.stdout.contains("hint: git review-gate run w"), "{out}");
    let status = status_json(&repo, "w");
    assert_eq!(status["stale"].as_array().unwrap().len(), 1);
    assert_eq!(status["missing"][0], "a passing verification run");
    // A whitespace-only change is a new change too (patch-ids would not see it).
    gate(&repo, ["run", "w"]).success();
    write_file(&wt.join("src/new.rs"), "fn new() {  changed(); }\n");
    report(&repo, "Whitespace.");
    gate(&repo, ["status", "w"]).code(1);
}

#[test]
fn reject_needs_a_finding_and_a_rejection_closes_the_gate_under_every_policy() {
    let (repo, wt) = setup(&["true"]);
    let before = repo.snapshot();
    for args in [vec!["reject", "w"], vec!["reject", "w", "-m", "  "]] {
        let out = repo.git(["review-gate"]).args(&args).code(2);
        assert!(
            out.stderr.contains(
                "error: a rejection needs at least one concrete finding the worker can act on"
            ),
            "{out}"
        );
        assert!(
            out.stderr.contains("hint: git review-gate reject w -m"),
            "{out}"
        );
    }
    assert_eq!(
        repo.snapshot(),
        before,
        "a refused rejection changed something"
    );

    gate(
        &repo,
        [
            "reject",
            "w",
            "-m",
            "src/new.rs: new() is untested",
            "-m",
            "lib.rs: b() is dead code",
        ],
    )
    .success();
    let current = repo
        .git_in(&wt, ["worker", "current", "--json"])
        .success()
        .json();
    assert_eq!(current["worker"]["state"], "rejected");
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(
        out.stdout.contains(
            "closed: rejected by Test User <test@example.com>: src/new.rs: new() is untested; lib.rs: b() is dead code"
        ),
        "{out}"
    );
    // Under the rejection, the way on is a new change, not an approval.
    repo.git(["config", "orch.review.require", "approve"])
        .success();
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(
        out.stdout
            .contains("hint: the worker fixes it and reports again"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("hint: git review-gate approve"),
        "{out}"
    );
    repo.git(["config", "--unset", "orch.review.require"])
        .success();
    // The same reviewer's later approval replaces their rejection.
    gate(&repo, ["approve", "w", "-m", "fixed in review"]).success();
    gate(&repo, ["status", "w"]).success();
    // Another reviewer's rejection stands beside it.
    gate(&repo, ["reject", "w", "--reviewer", "bot", "-m", "style"]).success();
    gate(&repo, ["status", "w"]).code(1);
}

#[test]
fn policy_both_needs_a_passing_run_and_an_approval() {
    let (repo, _) = setup(&["true"]);
    write_file(
        &repo.path().join(".orch.toml"),
        "[review]\nrequire = \"both\"\n",
    );
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(out.stdout.contains("CLOSED (policy: both)"), "{out}");
    assert!(
        out.stdout.contains("missing a passing verification run"),
        "{out}"
    );
    assert!(out.stdout.contains("missing an approval"), "{out}");
    gate(&repo, ["run", "w"]).success();
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(!out.stdout.contains("missing a passing"), "{out}");
    assert!(out.stdout.contains("missing an approval"), "{out}");
    gate(&repo, ["approve", "w"]).success();
    gate(&repo, ["status", "w"]).success();
    // git config overrides the team file.
    repo.git(["config", "orch.review.require", "none"])
        .success();
    assert_eq!(status_json(&repo, "w")["policy"], "none");
    // A bad policy is an error naming the key.
    repo.git(["config", "orch.review.require", "always"])
        .success();
    let out = gate(&repo, ["status", "w"]).code(2);
    assert!(
        out.stderr
            .contains("error: invalid orch.review.require 'always': expected one of none, verify, approve, both"),
        "{out}"
    );
}

#[test]
fn apply_refuses_while_the_gate_is_closed_and_records_the_verdicts_it_relied_on() {
    let (repo, _) = setup(&["test -f src/new.rs"]);
    repo.git(["config", "orch.review.require", "verify"])
        .success();
    let before = repo.snapshot();
    let head = repo.rev("HEAD");
    let out = repo.git(["handoff", "apply", "w"]).code(1);
    assert!(
        out.stderr.contains(
            "error: the review gate of 'w' is closed (policy 'verify'); nothing was applied"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("hint: git review-gate run w"), "{out}");
    assert_eq!(repo.rev("HEAD"), head);
    assert_eq!(repo.snapshot(), before);

    let verdict = gate(&repo, ["run", "w", "--json"]).success().json()["verdict"]["id"].clone();
    repo.git(["handoff", "apply", "w"]).success();
    let show = repo.worker(["show", "w", "--json"]).success().json();
    let applied = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "applied")
        .unwrap()
        .clone();
    assert_eq!(applied["data"]["gate"]["policy"], "verify");
    assert_eq!(
        applied["data"]["gate"]["verdicts"],
        serde_json::json!([verdict])
    );
}

#[test]
fn eight_concurrent_reviewers_lose_no_verdict() {
    let (repo, _) = setup(&["true"]);
    let reviewers: Vec<String> = (0..8).map(|i| format!("reviewer-{i}")).collect();
    let running: Vec<_> = reviewers
        .iter()
        .map(|name| {
            let ruling = if name.ends_with('7') {
                "reject"
            } else {
                "approve"
            };
            repo.git(["review-gate", ruling, "w", "--reviewer", name, "-m", name])
                .spawn()
        })
        .collect();
    for pending in running {
        let out = pending.wait();
        assert_eq!(out.code, 0, "{out}");
    }
    let status = status_json(&repo, "w");
    let mut by: Vec<String> = status["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["by"].as_str().unwrap().to_string())
        .collect();
    by.sort();
    assert_eq!(by, reviewers);
    let kinds = events(&repo, "w");
    assert_eq!(kinds.iter().filter(|k| *k == "approved").count(), 7);
    assert_eq!(kinds.iter().filter(|k| *k == "rejected").count(), 1);
    // git itself reads the note.
    let note = repo
        .git([
            "-c",
            "core.notesRef=refs/orch/notes/verdicts",
            "log",
            "-1",
            "--format=%N",
            "refs/orch/handoffs/w",
        ])
        .read();
    assert_eq!(note.lines().count(), 8);
}

#[test]
fn verdicts_travel_with_a_push_and_fetch_of_refs_orch() {
    let (repo, _) = setup(&["true"]);
    gate(&repo, ["run", "w"]).success();
    gate(&repo, ["approve", "w", "-m", "read it"]).success();
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["init", "--quiet", "--bare", "hub.git"])
        .success();
    repo.git(["push", "--quiet"])
        .arg(&hub)
        .args(["refs/orch/*:refs/orch/*"])
        .success();
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet", "hub.git", "other"])
        .success();
    let other = repo.root().join("other");
    repo.git_in(
        &other,
        ["fetch", "--quiet", "origin", "+refs/orch/*:refs/orch/*"],
    )
    .success();
    repo.git_in(&other, ["config", "orch.review.require", "both"])
        .success();
    let here = status_json(&repo, "w");
    let there = gate_in(&repo, &other, ["status", "w", "--json"])
        .success()
        .json();
    assert_eq!(there["open"], true);
    assert_eq!(there["verdicts"], here["verdicts"]);
    assert_eq!(there["verdicts"].as_array().unwrap().len(), 2);
}

#[test]
fn a_plain_revision_is_verified_with_verify_and_judged_as_a_commit() {
    let repo = TestRepo::with_commit();
    let out = gate(&repo, ["run", "HEAD"]).code(2);
    assert!(
        out.stderr
            .contains("error: no verification commands for commit"),
        "{out}"
    );
    gate(&repo, ["run", "HEAD", "--verify", "test -f README.md"]).success();
    let head = repo.rev("HEAD");
    let status = status_json(&repo, "main");
    assert_eq!(status["worker"], serde_json::Value::Null);
    assert_eq!(status["change"]["commit"], head.as_str());
    assert_eq!(status["verdicts"][0]["ruling"], "pass");
    let note = repo
        .git([
            "-c",
            "core.notesRef=refs/orch/notes/verdicts",
            "log",
            "-1",
            "--format=%N",
            "HEAD",
        ])
        .read();
    assert!(note.contains(r#""fingerprint":""#), "{note}");
    // A new commit has no verdicts.
    repo.git(["commit", "--quiet", "--allow-empty", "-m", "next"])
        .success();
    repo.git(["config", "orch.review.require", "verify"])
        .success();
    gate(&repo, ["status", "HEAD"]).code(1);
    gate(&repo, ["status", &head]).success();
    // orch.verify is the default for revisions.
    repo.git(["config", "orch.verify", "false"]).success();
    gate(&repo, ["run", "HEAD"]).code(1);
}

#[test]
fn bad_targets_and_misuse_are_errors_that_change_nothing() {
    let (repo, wt) = setup(&["true"]);
    repo.worker(["spawn", "idle", "--allow", "src/**"])
        .success();
    tmp(&repo);
    let before = repo.snapshot();
    let out = gate(&repo, ["status", "nope"]).code(2);
    assert!(
        out.stderr
            .contains("error: 'nope' is neither a worker nor a revision"),
        "{out}"
    );
    let out = gate(&repo, ["run", "w", "--verify", "true"]).code(2);
    assert!(
        out.stderr.contains(
            "error: --verify is for revisions; 'w' is a worker, verified by its contract"
        ),
        "{out}"
    );
    let out = gate(&repo, ["approve", "idle"]).code(2);
    assert!(
        out.stderr
            .contains("error: worker 'idle' has not reported: there is no change to judge yet"),
        "{out}"
    );
    // A worker cannot judge its own change (another worker may review it).
    let out = gate_in(&repo, &wt, ["approve", "w"]).code(2);
    assert!(
        out.stderr.contains(
            "error: this is the checkout of worker 'w', which cannot judge its own change"
        ),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    // Without verification commands there is nothing to run: never a silent pass.
    repo.worker(["spawn", "nv", "--allow", "src/**"]).success();
    write_file(&repo.worktree("nv").join("src/x.rs"), "x\n");
    repo.git_in(
        &repo.worktree("nv"),
        ["handoff", "report", "--summary", "x"],
    )
    .success();
    let out = gate(&repo, ["run", "nv"]).code(2);
    assert!(
        out.stderr
            .contains("error: the contract of 'nv' has no verification commands"),
        "{out}"
    );
    let out = gate_in(
        &repo,
        &repo.worktree("nv"),
        ["approve", "w", "-m", "peer review"],
    )
    .success();
    assert!(out.stderr.contains("approved the handoff of 'w'"), "{out}");
    assert_eq!(status_json(&repo, "w")["verdicts"][0]["actor"], "worker:nv");

    // A hand-edited, corrupt note is a clear error, never a panic or a pass.
    repo.git([
        "notes",
        "--ref=hand",
        "add",
        "-m",
        "not a verdict",
        "refs/orch/handoffs/w",
    ])
    .success();
    // Signed by the coordinator's key (unsigned, it would be ignored).
    let signed = repo
        .git(repo.signed(&["commit-tree", "refs/notes/hand^{tree}", "-m", "by hand"]))
        .read();
    repo.git(["update-ref", "refs/orch/notes/verdicts", &signed])
        .success();
    let out = gate(&repo, ["status", "w"]).code(2);
    assert!(
        out.stderr
            .contains("in refs/orch/notes/verdicts are corrupt: line 1:"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: inspect them with"), "{out}");
}

#[test]
fn repeated_failures_mark_the_worker_as_needing_attention() {
    let (repo, _) = setup(&["false"]);
    repo.git(["config", "orch.review.maxRejections", "2"])
        .success();
    gate(&repo, ["run", "w"]).code(1);
    let out = gate(&repo, ["run", "w"]).code(1);
    assert!(
        out.stderr
            .contains("warning: 'w' has had 2 failed verdicts in a row and needs attention"),
        "{out}"
    );
    assert!(events(&repo, "w").contains(&"attention".to_string()));
    let out = gate(&repo, ["run", "w"]).code(2);
    assert!(
        out.stderr.contains(
            "error: 'w' needs attention: 2 failed verdicts in a row (orch.review.maxRejections is 2)"
        ),
        "{out}"
    );
    assert!(
        out.stderr.contains("git review-gate run w --force"),
        "{out}"
    );
    assert!(
        !out.stderr.contains("in a clean checkout"),
        "it ran again: {out}"
    );
    assert_eq!(
        status_json(&repo, "w")["verdicts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        status_json(&repo, "w")["attention"],
        "2 failed verdicts in a row"
    );
    gate(&repo, ["run", "w", "--force"]).code(1);
    assert_eq!(
        status_json(&repo, "w")["verdicts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn wait_returns_when_a_verdict_settles_the_change_and_times_out_otherwise() {
    let (repo, _) = setup(&["true"]);
    repo.git(["config", "orch.review.require", "approve"])
        .success();
    let out = gate(&repo, ["wait", "w", "--timeout", "0.2"]).code(1);
    assert!(
        out.stderr
            .contains("timed out after 0.2 s waiting for a verdict on the handoff of 'w'"),
        "{out}"
    );
    let waiting = gate(&repo, ["wait", "w", "--timeout", "60", "--json"]).spawn();
    // The first verdict ends the wait; the gate says the rest.
    gate(&repo, ["run", "w"]).success();
    let out = waiting.wait();
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.json()["missing"][0], "an approval");
    assert_eq!(out.json()["timed_out"], false);
    gate(&repo, ["approve", "w"]).success();
    let out = gate(&repo, ["wait", "w", "--timeout", "60"]).success();
    assert!(out.stdout.contains("open (policy: approve)"), "{out}");
    // A new report is a new change: waiting starts again.
    write_file(&repo.worktree("w").join("src/more.rs"), "more\n");
    report(&repo, "More.");
    gate(&repo, ["wait", "w", "--timeout", "0.2"]).code(1);
}

#[test]
fn the_pre_push_hook_refuses_unreviewed_worker_branches() {
    let (repo, wt) = setup(&["true"]);
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["init", "--quiet", "--bare", "hub.git"])
        .success();
    repo.git(["remote", "add", "hub"]).arg(&hub).success();
    repo.git(["config", "core.hooksPath"])
        .arg(workspace_root().join("hooks"))
        .success();
    // Not worker branches: not the hook's business.
    repo.git(["push", "--quiet", "hub", "main"]).success();

    // The branch tip is not the reported change (src/new.rs is uncommitted).
    let out = repo.git(["push", "--quiet", "hub", "orch/w"]).code(1);
    assert!(
        out.stderr
            .contains("error: git-review-gate refused the push"),
        "{out}"
    );
    assert!(
        out.stderr.contains("is not the change 'w' reported"),
        "{out}"
    );
    // Committed and reported: still needs review (policy none asks for an approval).
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "new"])
        .success();
    report(&repo, "All committed.");
    let out = repo.git(["push", "--quiet", "hub", "orch/w"]).code(1);
    assert!(out.stderr.contains("orch/w: missing an approval"), "{out}");
    gate(&repo, ["approve", "w"]).success();
    repo.git(["push", "--quiet", "hub", "orch/w"]).success();
    repo.cmd_in(&hub, "git", ["rev-parse", "--verify", "orch/w"])
        .success();
}

/// `git review-gate` is what `git worker spawn` and `doctor` look for.
#[test]
fn the_binary_is_found_and_its_usage_errors_exit_2() {
    let repo = TestRepo::with_commit();
    let out: Output = repo.git(["review-gate", "frobnicate"]).code(2);
    assert!(
        out.stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{out}"
    );
    let out = repo.worker(["doctor"]).output();
    assert!(out.stdout.contains("ok       git-review-gate is"), "{out}");
}

#[test]
fn the_code_being_verified_cannot_record_verdicts_or_change_the_policy() {
    // The worker's own "tests" try to approve the change and relax the policy.
    let (repo, wt) = setup(&["sh src/check.sh"]);
    // In the scratch clone there is no registry to write to; and even in the
    // coordinator's own checkout, a verification may not record a verdict.
    write_file(
        &wt.join("src/check.sh"),
        &format!(
            "git review-gate approve w -m 'self-approved'; echo here=$?\n\
             git config orch.review.require none\n\
             cd '{}' && git review-gate approve w -m 'self-approved'; echo there=$?\n",
            repo.path().display()
        ),
    );
    report(&repo, "With a check script.");
    repo.git(["config", "orch.review.require", "both"])
        .success();
    let out = gate(&repo, ["run", "w", "--json"]).success();
    let tail = out.json()["verdict"]["commands"][0]["tail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        tail.contains("refusing to record a verdict from inside a verification run"),
        "{tail}"
    );
    assert!(
        tail.contains("here=2") && tail.contains("there=2"),
        "{tail}"
    );
    let status = status_json(&repo, "w");
    assert_eq!(status["policy"], "both");
    assert_eq!(status["verdicts"].as_array().unwrap().len(), 1);
    assert_eq!(status["open"], false);
}

#[test]
fn a_worker_approval_does_not_cancel_the_coordinators_rejection() {
    let (repo, _) = setup(&["true"]);
    repo.worker(["spawn", "peer", "--allow", "docs/**"])
        .success();
    gate(&repo, ["reject", "w", "-m", "src/lib.rs: b() is wrong"]).success();
    // Same git identity, another actor.
    gate_in(
        &repo,
        &repo.worktree("peer"),
        ["approve", "w", "-m", "lgtm"],
    )
    .success();
    let out = gate(&repo, ["status", "w"]).code(1);
    assert!(
        out.stdout.contains("closed: rejected by Test User"),
        "{out}"
    );
}

#[test]
fn a_respawned_worker_does_not_inherit_the_old_handoff_or_its_verdicts() {
    let (repo, _) = setup(&["true"]);
    gate(&repo, ["approve", "w"]).success();
    repo.worker(["rm", "w", "--force"]).success();
    // Its history stays readable by id while it is gone.
    assert_eq!(
        status_json(&repo, "w")["verdicts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A worker spawned later under the same id starts with nothing to judge.
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let out = gate(&repo, ["status", "w"]).code(2);
    assert!(out.stderr.contains("worker 'w' has not reported"), "{out}");
    let out = repo.git(["handoff", "apply", "w"]).code(2);
    assert!(out.stderr.contains("worker 'w' has not reported"), "{out}");
}

#[test]
fn a_checkout_with_read_only_directories_is_still_removed() {
    let (repo, _) = setup(&["mkdir -p ro/sub && touch ro/sub/f && chmod a-w ro/sub ro"]);
    gate(&repo, ["run", "w"]).success();
    assert_eq!(leftovers(&repo), (vec![], 0));
    assert_eq!(status_json(&repo, "w")["verdicts"][0]["ruling"], "pass");
}

#[test]
fn the_pre_push_hook_sees_a_worker_change_under_any_name() {
    let (repo, wt) = setup(&["true"]);
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["init", "--quiet", "--bare", "hub.git"])
        .success();
    repo.git(["remote", "add", "hub"]).arg(&hub).success();
    repo.git(["config", "core.hooksPath"])
        .arg(workspace_root().join("hooks"))
        .success();
    let tip = repo.rev("orch/w");
    for refspec in [
        format!("{tip}:refs/heads/elsewhere"),
        "orch/w:refs/heads/x".into(),
    ] {
        let out = repo.git(["push", "--quiet", "hub", &refspec]).code(1);
        assert!(
            out.stderr.contains("git-review-gate refused the push"),
            "{refspec}: {out}"
        );
    }
    // From the worker's own checkout: `git push hub HEAD` (doctor --fix
    // gives worker checkouts the hook the repository gained after spawn).
    repo.worker(["doctor", "--fix"]).output();
    assert!(repo.path().join(".git/orch/hooks/pre-push").is_file());
    let out = repo.git_in(&wt, ["push", "--quiet", "hub", "HEAD"]).code(1);
    assert!(
        out.stderr.contains("git-review-gate refused the push"),
        "{out}"
    );
}
