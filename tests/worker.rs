//! `git worker` spawn, list, show, current, rm, prune and doctor, through real git.

use crate::support::{TestRepo, path_without, write_file};

use crate::support::steps_of;

fn entry_json(repo: &TestRepo, id: &str) -> serde_json::Value {
    repo.worker(["show", id, "--json"]).success().json()
}

#[test]
fn spawn_records_every_contract_flag() {
    let repo = TestRepo::with_commit();
    let out = repo
        .worker([
            "spawn",
            "auth",
            "--allow",
            "src/auth/**",
            "--allow",
            "*.md",
            "--deny",
            "src/auth/secret/**",
        ])
        .args([
            "--verify",
            "cargo test",
            "--verify",
            "make lint",
            "--no-require-change",
            "--verify-timeout",
            "120",
        ])
        .args([
            "--label",
            "team=auth",
            "--label",
            "prio=high",
            "--description",
            "Fix the login flow",
        ])
        .success();
    assert_eq!(out.stdout, "$ROOT/repo.worktrees/auth\n");
    assert!(
        out.stderr
            .contains("spawned worker 'auth' on branch 'orch/auth' from main"),
        "{out}"
    );

    let json = entry_json(&repo, "auth");
    let w = &json["worker"];
    assert_eq!(w["state"], "active");
    assert_eq!(w["branch"], "orch/auth");
    assert_eq!(w["base"], repo.rev("main"));
    assert_eq!(w["base_ref"], "main");
    assert_eq!(w["allow"], serde_json::json!(["src/auth/**", "*.md"]));
    assert_eq!(w["deny"], serde_json::json!(["src/auth/secret/**"]));
    assert_eq!(w["verify"], serde_json::json!(["cargo test", "make lint"]));
    assert_eq!(w["require_change"], false);
    assert_eq!(w["verify_timeout"], 120);
    assert_eq!(
        w["labels"],
        serde_json::json!({"team": "auth", "prio": "high"})
    );
    assert_eq!(w["description"], "Fix the login flow");
    assert_eq!(w["dirty"], false);
    assert_eq!(w["ahead"], 0);
    let kinds: Vec<_> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, ["spawning", "spawned"]);
    assert!(
        json["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "coordinator")
    );

    // The branch and the checkout exist, at the base.
    assert_eq!(repo.rev("refs/heads/orch/auth"), repo.rev("main"));
    let wt = repo.worktree("auth");
    assert_eq!(
        repo.git_in(&wt, ["symbolic-ref", "HEAD"]).success().stdout,
        "refs/heads/orch/auth\n"
    );
    assert!(wt.join("README.md").is_file());
    // The worker's checkout knows it is one; the coordinator's does not.
    assert_eq!(
        repo.git_in(&wt, ["config", "--worktree", "orch.worker"])
            .success()
            .stdout,
        "auth\n"
    );
    repo.git(["config", "--worktree", "orch.worker"]).code(1);
}

#[test]
fn the_registry_is_plain_git_objects() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w1", "--allow", "src/**"]).success();
    let log = repo
        .git(["log", "--format=%s", "refs/orch/workers/w1"])
        .success();
    assert_eq!(log.stdout, "spawned w1\nspawning w1\n");
    let files = repo
        .git(["ls-tree", "--name-only", "refs/orch/workers/w1"])
        .success();
    assert_eq!(files.stdout, "contract.toml\nformat\nstate.toml\n");
    assert_eq!(
        repo.git(["show", "refs/orch/workers/w1:format"])
            .success()
            .stdout,
        "2\n"
    );
    let contract = repo
        .git(["show", "refs/orch/workers/w1:contract.toml"])
        .success()
        .stdout;
    assert!(contract.contains("allow = [\"src/**\"]"), "{contract}");
    // No machine-local path leaks into what a remote would receive.
    let all = repo
        .git(["log", "-p", "refs/orch/workers/w1"])
        .success()
        .stdout;
    assert!(!all.contains("$ROOT"), "{all}");
}

#[test]
fn task_file_supplies_the_contract_and_flags_override_it() {
    let repo = TestRepo::with_commit();
    let task = repo.root().join("task.toml");
    write_file(
        &task,
        "description = 'from file'\nallow = ['docs/**']\nverify = ['make docs']\nrequire-change = false\n[labels]\nkind = 'docs'\n",
    );
    repo.worker(["spawn", "d1", "--task"])
        .arg(&task)
        .args(["--verify", "make check"])
        .success();
    let w = &entry_json(&repo, "d1")["worker"];
    assert_eq!(w["description"], "from file");
    assert_eq!(w["allow"], serde_json::json!(["docs/**"]));
    assert_eq!(w["verify"], serde_json::json!(["make check"]));
    assert_eq!(w["require_change"], false);
    assert_eq!(w["labels"]["kind"], "docs");
}

#[test]
fn several_ids_spawn_at_once() {
    let repo = TestRepo::with_commit();
    let out = repo.worker(["spawn", "a", "b", "c"]).success();
    assert_eq!(out.stdout.lines().count(), 3, "{out}");
    let list = repo.worker(["list", "--json"]).success().json();
    let ids: Vec<_> = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].clone())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[test]
fn base_defaults_to_main_in_a_repo_without_remote() {
    let repo = TestRepo::with_commit();
    repo.git(["checkout", "--quiet", "-b", "topic"]).success();
    repo.git(["commit", "--quiet", "--allow-empty", "-m", "on topic"])
        .success();
    repo.worker(["spawn", "w"]).success();
    let w = &entry_json(&repo, "w")["worker"];
    assert_eq!(w["base_ref"], "main");
    assert_eq!(w["base"], repo.rev("main"));
}

#[test]
fn base_defaults_to_master_when_it_is_the_only_branch() {
    let repo = TestRepo::with_commit();
    repo.git(["branch", "-m", "main", "master"]).success();
    repo.worker(["spawn", "w"]).success();
    assert_eq!(entry_json(&repo, "w")["worker"]["base_ref"], "master");
}

#[test]
fn base_defaults_to_the_branch_origin_head_names() {
    let repo = TestRepo::with_commit();
    repo.git(["branch", "trunk"]).success();
    repo.git(["commit", "--quiet", "--allow-empty", "-m", "main moves on"])
        .success();
    // A remote whose HEAD is 'trunk', recorded without any network access.
    repo.git(["update-ref", "refs/remotes/origin/trunk", "trunk"])
        .success();
    repo.git([
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/trunk",
    ])
    .success();
    repo.worker(["spawn", "w"]).success();
    let w = &entry_json(&repo, "w")["worker"];
    assert_eq!(w["base_ref"], "trunk");
    assert_eq!(w["base"], repo.rev("trunk"));
}

#[test]
fn base_falls_back_to_head_and_config_wins_over_detection() {
    let repo = TestRepo::with_commit();
    repo.git(["branch", "-m", "main", "dev"]).success();
    repo.worker(["spawn", "w"]).success();
    assert_eq!(entry_json(&repo, "w")["worker"]["base_ref"], "HEAD");

    repo.git(["branch", "release"]).success();
    repo.write(".orch.toml", "base = 'release'\nprefix = 'agents/'\n");
    repo.worker(["spawn", "x"]).success();
    let w = &entry_json(&repo, "x")["worker"];
    assert_eq!(w["base_ref"], "release");
    assert_eq!(w["branch"], "agents/x");
    // Personal git config overrides the team file.
    repo.git(["config", "orch.prefix", "mine/"]).success();
    repo.worker(["spawn", "y"]).success();
    assert_eq!(entry_json(&repo, "y")["worker"]["branch"], "mine/y");
}

#[test]
fn missing_base_exits_2_naming_it_with_close_matches_and_leaves_nothing() {
    let repo = TestRepo::with_commit();
    let before = repo.snapshot();
    let out = repo.worker(["spawn", "w", "--base", "mian"]).code(2);
    assert!(
        out.stderr.contains("error: base 'mian' does not exist"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: did you mean 'main'?"), "{out}");
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn fetch_from_an_unreachable_remote_is_a_network_error_and_leaves_nothing() {
    let repo = TestRepo::with_commit();
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    repo.git([
        "remote",
        "add",
        "origin",
        &format!("git://127.0.0.1:{port}/repo.git"),
    ])
    .success();
    repo.git(["update-ref", "refs/remotes/origin/main", "main"])
        .success();
    let before = repo.snapshot();
    let out = repo
        .worker(["spawn", "w", "--base", "origin/main", "--fetch"])
        .code(2);
    assert!(
        out.stderr.contains("error: cannot reach remote 'origin'"),
        "{out}"
    );
    assert!(
        out.stderr.contains("Connection refused") || out.stderr.contains("unable to connect"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: spawn from the local copy instead: drop --fetch"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn spawn_never_touches_the_network_without_fetch() {
    let repo = TestRepo::with_commit();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    repo.git([
        "remote",
        "add",
        "origin",
        &format!("git://127.0.0.1:{port}/repo.git"),
    ])
    .success();
    repo.git(["update-ref", "refs/remotes/origin/main", "main"])
        .success();
    repo.worker(["spawn", "w", "--base", "origin/main"])
        .success();
}

#[test]
fn fetch_tells_a_missing_remote_branch_from_a_network_failure() {
    let repo = TestRepo::with_commit();
    let remote = TestRepo::with_commit();
    repo.git(["remote", "add", "origin"])
        .arg(remote.path())
        .success();
    let out = repo
        .worker(["spawn", "w", "--base", "origin/nope", "--fetch"])
        .code(2);
    assert!(
        out.stderr
            .contains("error: base 'origin/nope' does not exist"),
        "{out}"
    );
    assert!(!out.stderr.contains("cannot reach"), "{out}");
    // And a real fetch brings the remote branch in.
    repo.worker(["spawn", "w", "--base", "origin/main", "--fetch"])
        .success();
    assert_eq!(entry_json(&repo, "w")["worker"]["base"], remote.rev("main"));
}

#[test]
fn injected_failure_after_each_step_leaves_nothing() {
    let repo = TestRepo::with_commit();
    let before = repo.snapshot();
    for step in steps_of("git worker spawn") {
        let out = repo
            .worker(["spawn", "w", "--allow", "src/**"])
            .env("GIT_WORKER_FAIL_AFTER", step)
            .code(2);
        assert!(
            out.stderr
                .contains(&format!("injected failure after step '{step}'")),
            "{step}: {out}"
        );
        assert!(
            out.stderr.contains("rolled back; nothing was left behind"),
            "{step}: {out}"
        );
        assert_eq!(repo.snapshot(), before, "debris after failure at {step}");
    }
    // And the same spawn then succeeds.
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
}

#[test]
fn sigterm_after_each_step_rolls_back() {
    let repo = TestRepo::with_commit();
    let before = repo.snapshot();
    for step in steps_of("git worker spawn") {
        let out = repo
            .worker(["spawn", "w"])
            .env("GIT_WORKER_SIGNAL_AFTER", step)
            .code(143);
        assert!(
            out.stderr.contains("interrupted by signal 15"),
            "{step}: {out}"
        );
        assert_eq!(repo.snapshot(), before, "debris after SIGTERM at {step}");
    }
}

#[test]
fn sigkill_mid_spawn_leaves_only_what_prune_removes() {
    let repo = TestRepo::with_commit();
    let before = repo.snapshot();
    for step in steps_of("git worker spawn") {
        let out = repo
            .worker(["spawn", "w"])
            .env("GIT_WORKER_KILL_AFTER", step)
            .output();
        assert_eq!(out.code, 128 + 9, "{step}: {out}");
        if *step != "spawn:activate" {
            // The half-made worker is refused with a pointer to prune.
            let again = repo.worker(["spawn", "w"]).code(2);
            assert!(
                again.stderr.contains("was killed before it finished"),
                "{step}: {again}"
            );
            assert!(again.stderr.contains("git worker prune"), "{step}: {again}");
        }
        let dry = repo.worker(["prune", "--dry-run"]).success();
        assert!(
            dry.stdout.contains("would remove crashed spawn of 'w'"),
            "{step}: {dry}"
        );
        repo.worker(["prune"]).success();
        if *step == "spawn:activate" {
            // The spawn had finished: prune only drops its journal.
            assert_eq!(entry_json(&repo, "w")["worker"]["state"], "active");
            assert!(!repo.path().join(".git/orch/local/w.spawning").exists());
            let again = repo.worker(["prune", "--dry-run"]).success();
            assert!(again.stderr.contains("nothing to prune"), "{again}");
            continue;
        }
        assert_eq!(
            repo.snapshot(),
            before,
            "debris after SIGKILL at {step} and prune"
        );
    }
}

#[test]
fn respawn_with_the_same_contract_is_idempotent() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w", "--allow", "src/**", "--verify", "true"])
        .success();
    let tip = repo.rev("refs/orch/workers/w");
    let out = repo
        .worker(["spawn", "w", "--allow", "src/**", "--verify", "true"])
        .success();
    assert!(
        out.stderr
            .contains("worker 'w' already exists with the same contract"),
        "{out}"
    );
    assert_eq!(out.stdout, "$ROOT/repo.worktrees/w\n");
    assert_eq!(repo.rev("refs/orch/workers/w"), tip, "no event for a no-op");
}

#[test]
fn respawn_with_a_different_contract_is_an_error() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let before = repo.snapshot();
    let out = repo.worker(["spawn", "w", "--allow", "docs/**"]).code(2);
    assert!(
        out.stderr
            .contains("worker 'w' already exists with a different contract (differs in: allow)"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    // A moved base is a different contract too, and the hint says so.
    repo.git(["commit", "--quiet", "--allow-empty", "-m", "move main"])
        .success();
    let out = repo.worker(["spawn", "w", "--allow", "src/**"]).code(2);
    assert!(out.stderr.contains("differs in: base"), "{out}");
    assert!(out.stderr.contains("hint: it was spawned from"), "{out}");
}

#[test]
fn taken_branch_and_existing_path_are_told_apart() {
    let repo = TestRepo::with_commit();
    repo.git(["branch", "orch/b"]).success();
    let before = repo.snapshot();
    let out = repo.worker(["spawn", "b"]).code(2);
    assert!(
        out.stderr.contains("error: branch 'orch/b' already exists"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);

    std::fs::create_dir_all(repo.worktree("p")).unwrap();
    let before = repo.snapshot();
    let out = repo.worker(["spawn", "p"]).code(2);
    assert!(
        out.stderr
            .contains("error: path '$ROOT/repo.worktrees/p' already exists"),
        "{out}"
    );
    assert!(out.stderr.contains("--worktree-dir"), "{out}");
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn partial_failure_of_several_ids_reports_each() {
    let repo = TestRepo::with_commit();
    repo.git(["branch", "orch/b"]).success();
    let out = repo.worker(["spawn", "a", "b", "c"]).code(2);
    assert!(
        out.stderr
            .contains("error: cannot spawn 'b': branch 'orch/b' already exists"),
        "{out}"
    );
    assert!(
        out.stderr.contains("1 of 3 workers were not spawned (b)"),
        "{out}"
    );
    assert_eq!(
        out.stdout,
        "$ROOT/repo.worktrees/a\n$ROOT/repo.worktrees/c\n"
    );
}

#[test]
fn worktree_dir_is_configurable() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w", "--worktree-dir"])
        .arg(repo.root().join("elsewhere"))
        .success();
    assert!(repo.root().join("elsewhere/w/README.md").is_file());
    repo.git(["config", "orch.worktreeDir", "../trees-{repo}"])
        .success();
    repo.worker(["spawn", "v"]).success();
    assert!(repo.root().join("trees-repo/v/README.md").is_file());
}

#[test]
fn spawn_warns_with_setup_guidance_when_companions_are_missing() {
    let repo = TestRepo::with_commit();
    let path = path_without(repo.root(), &["git-review-gate"]);
    let out = repo.worker(["spawn", "w"]).env("PATH", path).success();
    assert!(
        out.stderr.contains(
            "warning: git-review-gate is not on PATH: changes cannot be reviewed in a clean checkout until it is installed"
        ),
        "{out}"
    );
    assert!(!out.stderr.contains("git-handoff is not on PATH"), "{out}");
    assert!(
        out.stderr
            .contains("hint: install the whole git-orch suite"),
        "{out}"
    );
    // With the whole suite installed, no warning.
    let out = repo.worker(["spawn", "v"]).success();
    assert!(!out.stderr.contains("warning"), "{out}");
}

#[test]
fn worker_checkouts_refuse_coordinator_commands() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    let wt = repo.worktree("w");
    for args in [vec!["spawn", "x"], vec!["rm", "w"], vec!["prune"]] {
        let before = repo.snapshot();
        let out = repo.git_in(&wt, ["worker"]).args(&args).code(2);
        assert!(
            out.stderr
                .contains("is a coordinator command, and this is the checkout of worker 'w'"),
            "{out}"
        );
        assert!(
            out.stderr
                .contains("hint: run it in the coordinator's checkout: $ROOT/repo"),
            "{out}"
        );
        assert_eq!(repo.snapshot(), before);
    }
    // Worker commands work there, and refuse elsewhere.
    let current = repo
        .git_in(&wt, ["worker", "current", "--json"])
        .success()
        .json();
    assert_eq!(current["worker"]["id"], "w");
    let out = repo.worker(["current"]).code(2);
    assert!(
        out.stderr.contains("only works in a worker's checkout"),
        "{out}"
    );
    // From a subdirectory of the worker's checkout too.
    std::fs::create_dir_all(wt.join("sub")).unwrap();
    repo.git_in(&wt.join("sub"), ["worker", "current"])
        .success();
}

#[test]
fn list_shows_state_ahead_dirty_and_path_and_filters() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "a", "--label", "team=x"]).success();
    repo.worker(["spawn", "b", "--label", "team=y"]).success();
    let a = repo.worktree("a");
    repo.git_in(&a, ["commit", "--quiet", "--allow-empty", "-m", "work"])
        .success();
    write_file(&repo.worktree("b").join("new.txt"), "untracked\n");

    let out = repo.worker(["list"]).success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "ID", "STATE", "BRANCH", "BASE", "AGE", "AHEAD", "DIRTY", "PATH"
        ]
    );
    let a_row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(a_row[..3], ["a", "active", "orch/a"]);
    assert_eq!(a_row[5..], ["1", "no", "$ROOT/repo.worktrees/a"]);
    let b_row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(b_row[5..], ["0", "yes", "$ROOT/repo.worktrees/b"]);
    // Columns are aligned: every row puts PATH at the same offset.
    let col = lines[0].find("PATH").unwrap();
    assert!(
        lines[1..].iter().all(|l| l[col..].starts_with("$ROOT")),
        "{out}"
    );

    let json = repo
        .worker(["list", "--json", "--label", "team=y"])
        .success()
        .json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["workers"].as_array().unwrap().len(), 1);
    assert_eq!(json["workers"][0]["id"], "b");
    assert_eq!(json["workers"][0]["dirty"], true);
    let json = repo
        .worker(["list", "--json", "--state", "spawning"])
        .success()
        .json();
    assert_eq!(json["workers"].as_array().unwrap().len(), 0);
    let out = repo.worker(["list", "--state", "bogus"]).code(2);
    assert!(
        out.stderr
            .contains("invalid value 'bogus' for '--state <STATE>'"),
        "{out}"
    );
}

#[test]
fn list_of_an_empty_registry_says_how_to_start() {
    let repo = TestRepo::with_commit();
    let out = repo.worker(["list"]).success();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no workers"), "{out}");
}

#[test]
fn corrupt_registry_entries_are_named_not_panicked_on() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "good"]).success();
    // A hand-edited entry: a commit whose tree lacks state.toml.
    let tree = repo.git(["mktree"]).stdin("").read();
    let commit = repo
        .git(repo.signed(&["commit-tree", &tree, "-m", "junk"]))
        .read();
    repo.git(["update-ref", "refs/orch/workers/bad", &commit])
        .success();
    // And one pointing at a blob.
    let blob = repo.git(["hash-object", "-w", "--stdin"]).stdin("x").read();
    repo.git(["update-ref", "refs/orch/workers/blob", &blob])
        .success();

    let out = repo.worker(["list"]).code(2);
    assert!(out.stdout.contains("good"), "{out}");
    assert!(
        out.stderr
            .contains("registry entry 'refs/orch/workers/bad' is corrupt: 'format' is missing"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("registry entry 'refs/orch/workers/blob' is corrupt"),
        "{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    let doctor = repo.worker(["doctor"]).code(1);
    assert!(
        doctor
            .stdout
            .contains("problem  registry entry 'refs/orch/workers/bad' is corrupt"),
        "{doctor}"
    );
}

#[test]
fn entries_of_a_newer_format_are_refused_clearly() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    // Rewrite the tip with format 99.
    let tip = repo.rev("refs/orch/workers/w");
    let commit = repo.edit_entry(repo.path(), &tip, "format", |_| "99\n".to_string());
    repo.git(["update-ref", "refs/orch/workers/w", &commit])
        .success();
    let out = repo.worker(["show", "w"]).code(2);
    assert!(
        out.stderr
            .contains("has format 99, newer than this git-worker understands (2)"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: upgrade git-worker"), "{out}");
}

#[test]
fn show_prints_contract_location_and_history() {
    let repo = TestRepo::with_commit();
    repo.worker([
        "spawn",
        "w",
        "--allow",
        "src/**",
        "--verify",
        "make test",
        "--description",
        "Do it",
    ])
    .success();
    let out = repo.worker(["show", "w"]).success();
    for line in [
        "worker w (active)",
        "branch:         orch/w at ",
        "checkout:       $ROOT/repo.worktrees/w (clean)",
        "description:    Do it",
        "allow:          src/**",
        "verify:         make test",
        "require-change: yes",
        "events:",
    ] {
        assert!(out.stdout.contains(line), "missing {line:?}:\n{out}");
    }
    assert!(out.stdout.contains("coordinator  spawned"), "{out}");
    let out = repo.worker(["show", "nope"]).code(2);
    assert!(
        out.stderr
            .contains("error: worker 'nope' is not registered"),
        "{out}"
    );
}

#[test]
fn rm_removes_checkout_branch_and_entry_and_archives_history() {
    let repo = TestRepo::with_commit();
    let state = || {
        // The registry's key record stays (see TestRepo::snapshot).
        let refs: String = repo
            .git(["for-each-ref", "--format=%(refname) %(objectname)"])
            .success()
            .stdout
            .lines()
            .filter(|l| !l.starts_with("refs/orch/keys "))
            .map(|l| format!("{l}\n"))
            .collect();
        let worktrees = repo
            .git(["worktree", "list", "--porcelain"])
            .success()
            .stdout;
        format!("{refs}{worktrees}")
    };
    let before = state();
    repo.worker(["spawn", "w"]).success();
    repo.worker(["rm", "w"]).success();
    assert!(!repo.worktree("w").exists());
    repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/w"])
        .code(1);
    repo.git(["rev-parse", "--verify", "--quiet", "refs/orch/workers/w"])
        .code(1);
    let json = entry_json(&repo, "w");
    assert_eq!(json["worker"]["archived"], true);
    assert_eq!(json["worker"]["state"], "removed");
    let kinds: Vec<_> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, ["spawning", "spawned", "removed"]);
    // Only the archive ref remains; the worker can be spawned again.
    let archive = repo
        .git([
            "for-each-ref",
            "--format=%(refname)",
            "refs/orch/archive/w/",
        ])
        .success()
        .stdout;
    assert_eq!(archive.lines().count(), 1, "{archive}");
    repo.git(["update-ref", "-d", archive.trim()]).success();
    assert_eq!(state(), before);
    assert!(
        !repo.path().join(".git/orch").exists(),
        "local facts left behind"
    );
    repo.worker(["spawn", "w"]).success();
    let out = repo.worker(["rm", "nope"]).code(2);
    assert!(
        out.stderr.contains("worker 'nope' is not registered"),
        "{out}"
    );
}

#[test]
fn rm_refuses_dirty_checkouts_and_unlanded_commits_without_force() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "d", "u", "k"]).success();
    write_file(&repo.worktree("d").join("scratch.txt"), "mine\n");
    let out = repo.worker(["rm", "d"]).code(2);
    assert!(
        out.stderr
            .contains("worker 'd' has uncommitted or untracked changes"),
        "{out}"
    );
    assert!(out.stderr.contains("--force"), "{out}");
    assert!(repo.worktree("d/scratch.txt").is_file());
    repo.worker(["rm", "--force", "d"]).success();
    assert!(!repo.worktree("d").exists());

    repo.git_in(
        &repo.worktree("u"),
        ["commit", "--quiet", "--allow-empty", "-m", "unlanded"],
    )
    .success();
    let out = repo.worker(["rm", "u"]).code(2);
    assert!(
        out.stderr
            .contains("worker 'u' has 1 commit on 'orch/u' that is not on 'main' or HEAD"),
        "{out}"
    );
    // Once landed (merged into main), it goes without --force.
    repo.git(["merge", "--quiet", "--ff-only", "orch/u"])
        .success();
    repo.worker(["rm", "u"]).success();

    repo.git_in(
        &repo.worktree("k"),
        ["commit", "--quiet", "--allow-empty", "-m", "keep me"],
    )
    .success();
    let head = repo.rev("refs/heads/orch/k");
    repo.worker(["rm", "--keep-branch", "k"]).success();
    assert_eq!(repo.rev("refs/heads/orch/k"), head);
}

#[test]
fn rm_interrupted_midway_is_finished_by_running_it_again() {
    let repo = TestRepo::with_commit();
    for step in ["rm:worktree", "rm:branch"] {
        repo.worker(["spawn", "w"]).success();
        repo.worker(["rm", "w"])
            .env("GIT_WORKER_KILL_AFTER", step)
            .code(137);
        repo.worker(["rm", "w"]).success();
        repo.git(["rev-parse", "--verify", "--quiet", "refs/orch/workers/w"])
            .code(1);
        repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/w"])
            .code(1);
        assert!(!repo.worktree("w").exists());
    }
}

#[test]
fn prune_archives_workers_whose_checkout_was_deleted() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "gone", "kept"]).success();
    repo.git_in(
        &repo.worktree("kept"),
        ["commit", "--quiet", "--allow-empty", "-m", "precious"],
    )
    .success();
    std::fs::remove_dir_all(repo.worktree("gone")).unwrap();
    std::fs::remove_dir_all(repo.worktree("kept")).unwrap();

    let dry = repo.worker(["prune", "--dry-run"]).success();
    assert!(
        dry.stdout.contains(
            "would remove worker 'gone' whose checkout '$ROOT/repo.worktrees/gone' is gone"
        ),
        "{dry}"
    );
    repo.worker(["list"]).success(); // dry run changed nothing
    assert_eq!(
        repo.worker(["list", "--json"]).success().json()["workers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let out = repo.worker(["prune"]).success();
    assert!(
        out.stderr
            .contains("kept branch 'orch/kept' of 'kept': it has unlanded commits"),
        "{out}"
    );
    assert_eq!(
        repo.worker(["list", "--json"]).success().json()["workers"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/gone"])
        .code(1);
    repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/kept"])
        .success();
    assert_eq!(entry_json(&repo, "gone")["events"][2]["kind"], "pruned");
    assert_eq!(
        repo.git(["worktree", "list", "--porcelain"])
            .success()
            .stdout
            .matches("worktree ")
            .count(),
        1
    );
    let again = repo.worker(["prune"]).success();
    assert!(again.stderr.contains("nothing to prune"), "{again}");
}

#[test]
fn doctor_reports_missing_companions_and_debris_with_fixes() {
    let repo = TestRepo::with_commit();
    let path = path_without(repo.root(), &["git-review-gate"]);
    let out = repo.worker(["doctor"]).env("PATH", &path).code(1);
    assert!(out.stdout.contains("ok       git 2."), "{out}");
    // A man page not installed is worth a note, not a problem: the
    // missing companion binary is the one problem.
    assert!(
        out.stdout
            .contains("note     the git-worker man page is not installed"),
        "{out}"
    );
    assert!(out.stderr.contains("1 problem found"), "{out}");
    // With every binary there, the note alone leaves doctor at exit 0.
    let all = repo.worker(["doctor"]).success();
    assert!(
        all.stdout.contains("note     the git-worker man page"),
        "{all}"
    );
    assert!(
        out.stdout
            .contains("problem  git-review-gate is not on PATH"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("ok       registry format 2: 0 live workers"),
        "{out}"
    );
    assert!(out.stdout.contains("ok       no debris"), "{out}");

    repo.worker(["spawn", "w"])
        .env("GIT_WORKER_KILL_AFTER", "spawn:worktree")
        .code(137);
    let out = repo.worker(["doctor", "--json"]).code(1);
    let json = out.json();
    let debris: Vec<_> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "debris")
        .collect();
    assert_eq!(debris.len(), 1, "{out}");
    assert_eq!(debris[0]["ok"], false);
    assert_eq!(debris[0]["fix"], "git worker prune");
    assert!(
        debris[0]["detail"]
            .as_str()
            .unwrap()
            .contains("crashed spawn of 'w'"),
        "{out}"
    );

    // Outside any repository doctor still checks the installation.
    let plain = repo.root().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let out = repo
        .cmd_in(&plain, "git", ["worker", "doctor"])
        .env("PATH", &path)
        .code(1);
    assert!(out.stdout.contains("not in a git repository"), "{out}");
}

#[test]
fn doctor_finds_installed_man_pages_through_path() {
    let repo = TestRepo::with_commit();
    let prefix = repo.root().join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    write_file(
        &prefix.join("share/man/man1/git-worker.1"),
        ".TH git-worker 1\n",
    );
    let path = format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let path = format!("{}:{path}", crate::support::bin_dir().display());
    let out = repo.worker(["doctor"]).env("PATH", path).output();
    assert!(
        out.stdout
            .contains("ok       man page $ROOT/prefix/share/man/man1/git-worker.1"),
        "{out}"
    );
}

#[test]
fn the_readme_demo_runs() {
    let repo = TestRepo::new();
    let script = crate::support::workspace_root().join("share/git-worker/demo.sh");
    let out = repo
        .cmd_in(
            repo.root(),
            "sh",
            [script.as_os_str(), repo.root().join("demo").as_os_str()],
        )
        .success();
    assert!(out.stdout.contains("$ git worker list"), "{out}");
    assert!(out.stdout.contains("auth     active  orch/auth"), "{out}");
    // Both handoffs were reported, applied with verification re-run, and landed.
    assert!(
        out.stderr.contains("reported the handoff of 'auth'"),
        "{out}"
    );
    assert!(
        out.stderr.contains("applied the handoff of 'auth'"),
        "{out}"
    );
    assert!(
        out.stderr.contains("applied the handoff of 'billing'"),
        "{out}"
    );
    // Each verified twice: in a clean checkout by the gate, after applying.
    assert_eq!(out.stderr.matches("tests passed").count(), 4, "{out}");
    assert!(
        out.stderr
            .contains("verdict: pass for the handoff of 'auth'"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("gate of the handoff of 'billing': CLOSED (policy: both)"),
        "{out}"
    );
    assert!(
        out.stdout.contains("Added refunds. Conclusion: ready"),
        "{out}"
    );
    assert!(out.stderr.contains("removed worker 'billing'"), "{out}");
    let app = repo.root().join("demo/app");
    assert!(app.join("src/auth/logout.txt").is_file());
    assert!(app.join("src/billing/refund.txt").is_file());
}

#[test]
fn list_cache_follows_every_registry_change_and_survives_corruption() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "a", "--description", "first"])
        .success();
    let first = repo.worker(["list", "--json"]).success().json();
    assert_eq!(first["workers"][0]["description"], "first");
    assert!(repo.path().join(".git/orch/cache.json").is_file());
    // The entry changes under the cache: a new contract for the same id.
    repo.worker(["rm", "a"]).success();
    repo.worker(["spawn", "a", "--description", "second"])
        .success();
    let second = repo.worker(["list", "--json"]).success().json();
    assert_eq!(second["workers"][0]["description"], "second");
    // A corrupt cache is ignored and rewritten.
    write_file(&repo.path().join(".git/orch/cache.json"), "{not json");
    let third = repo.worker(["list", "--json"]).success().json();
    assert_eq!(third["workers"][0]["description"], "second");
    // A cache claiming a different tip is not believed.
    let cache = std::fs::read_to_string(repo.path().join(".git/orch/cache.json")).unwrap();
    let tip = repo.rev("refs/orch/workers/a");
    write_file(
        &repo.path().join(".git/orch/cache.json"),
        &cache
            .replace(&tip, &"0".repeat(40))
            .replace("second", "forged"),
    );
    let fourth = repo.worker(["list", "--json"]).success().json();
    assert_eq!(fourth["workers"][0]["description"], "second");
}

#[test]
fn list_no_status_skips_the_checkouts() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "a"]).success();
    write_file(&repo.worktree("a").join("dirt.txt"), "x\n");
    let json = repo
        .worker(["list", "--json", "--no-status"])
        .success()
        .json();
    assert_eq!(json["workers"][0]["dirty"], serde_json::Value::Null);
    assert_eq!(json["workers"][0]["path"], "$ROOT/repo.worktrees/a");
    let json = repo.worker(["list", "--json"]).success().json();
    assert_eq!(json["workers"][0]["dirty"], true);
}

#[test]
fn the_same_id_can_live_and_die_twice_in_one_second() {
    let repo = TestRepo::with_commit();
    for _ in 0..3 {
        repo.worker(["spawn", "w"]).success();
        repo.worker(["rm", "w"]).success();
    }
    let archives = repo
        .git([
            "for-each-ref",
            "--format=%(refname)",
            "refs/orch/archive/w/",
        ])
        .success()
        .stdout;
    assert_eq!(archives.lines().count(), 3, "{archives}");
    // Each life has its own first event, even with equal content in the same second.
    let mut roots: Vec<String> = archives
        .lines()
        .map(|r| {
            repo.git(["rev-list", "--max-parents=0", r])
                .success()
                .stdout
        })
        .collect();
    roots.sort();
    roots.dedup();
    assert_eq!(roots.len(), 3, "{roots:?}");
}

#[test]
fn corrupt_local_facts_are_a_clear_error() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    write_file(&repo.path().join(".git/orch/local.json"), "{oops");
    let out = repo.worker(["list"]).code(2);
    assert!(
        out.stderr
            .contains("error: cannot parse '$ROOT/repo/.git/orch/local.json'"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: it holds this machine's checkout paths"),
        "{out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn list_and_show_agree_on_what_dirty_means() {
    let repo = TestRepo::with_commit();
    repo.write(".gitignore", "*.log\n");
    repo.git(["add", ".gitignore"]).success();
    repo.git(["commit", "--quiet", "-m", "ignore logs"])
        .success();
    repo.worker(["spawn", "ignored", "staged", "modified", "untracked"])
        .success();
    write_file(&repo.worktree("ignored").join("build.log"), "ignored\n");
    write_file(&repo.worktree("staged").join("new.txt"), "x\n");
    repo.git_in(&repo.worktree("staged"), ["add", "new.txt"])
        .success();
    write_file(&repo.worktree("modified").join("README.md"), "changed\n");
    write_file(&repo.worktree("untracked").join("dir/new.txt"), "x\n");
    let list = repo.worker(["list", "--json"]).success().json();
    for (id, dirty) in [
        ("ignored", false),
        ("staged", true),
        ("modified", true),
        ("untracked", true),
    ] {
        let listed = list["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id)
            .unwrap();
        assert_eq!(listed["dirty"], dirty, "list: {id}");
        assert_eq!(
            entry_json(&repo, id)["worker"]["dirty"],
            dirty,
            "show: {id}"
        );
    }
    // rm agrees too: the ignored file does not block it.
    repo.worker(["rm", "ignored"]).success();
    repo.worker(["rm", "untracked"]).code(2);
}

#[test]
fn rm_never_deletes_what_is_not_the_workers_checkout() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    let moved = repo.root().join("moved");
    repo.git(["worktree", "move"])
        .arg(repo.worktree("w"))
        .arg(&moved)
        .success();
    // Someone's own files now sit where the checkout was.
    write_file(&repo.worktree("w").join("notes.txt"), "mine\n");
    // Only the checkout recorded at spawn is ever removed: the moved one
    // is named, and left.
    let out = repo.worker(["rm", "w"]).code(2);
    assert!(
        out.stderr
            .contains("the checkout of 'w' is not where it was spawned"),
        "{out}"
    );
    assert!(out.stderr.contains("git worktree remove"), "{out}");
    assert!(moved.exists());
    assert_eq!(
        std::fs::read_to_string(repo.worktree("w").join("notes.txt")).unwrap(),
        "mine\n"
    );
    repo.git(["worktree", "remove", "--force"])
        .arg(&moved)
        .success();
    repo.worker(["rm", "w"]).success();
    assert_eq!(
        std::fs::read_to_string(repo.worktree("w").join("notes.txt")).unwrap(),
        "mine\n"
    );
    repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/w"])
        .code(1);
}

#[test]
fn rm_refuses_commits_made_on_a_detached_head_in_the_checkout() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    let wt = repo.worktree("w");
    repo.git_in(&wt, ["checkout", "--quiet", "--detach"])
        .success();
    repo.git_in(
        &wt,
        ["commit", "--quiet", "--allow-empty", "-m", "precious"],
    )
    .success();
    let out = repo.worker(["rm", "w"]).code(2);
    assert!(out.stderr.contains("the checkout of worker 'w' has 1 commit on its HEAD that is not on 'orch/w', 'main' or HEAD"), "{out}");
    let out = repo.worker(["rm", "--keep-branch", "w"]).code(2);
    assert!(
        out.stderr.contains("on its HEAD"),
        "--keep-branch keeps the branch, not the detached commits: {out}"
    );
    assert!(wt.exists());
    repo.worker(["rm", "--force", "w"]).success();
    assert!(!wt.exists());
}
