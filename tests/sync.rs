//! `git worker sync`: the registry through a shared remote, with logs and
//! verdicts written on two machines merged without loss or force.

use crate::support::servers::{Daemon, Transport, the_loop};
use crate::support::{TestRepo, write_file};

/// A hub at `hub` prepared by `git worker hub init`, holding `main` (HEAD).
fn make_hub(repo: &TestRepo, hub: &std::path::Path) {
    let out = repo.worker(["hub", "init"]).arg(hub).success();
    assert!(out.stderr.contains("hint: git worker sync hub"), "{out}");
    for (key, value) in [
        ("receive.fsckObjects", "true"),
        ("core.logAllRefUpdates", "always"),
        ("gc.auto", "1000"),
    ] {
        assert_eq!(repo.cmd_in(hub, "git", ["config", key]).read(), value);
    }
    repo.git(["push", "--quiet"]).arg(hub).arg("main").success();
    repo.cmd_in(hub, "git", ["symbolic-ref", "HEAD", "refs/heads/main"])
        .success();
}

/// A hub prepared by `git worker hub init`, and two coordinator clones of it.
fn two_clones() -> (TestRepo, std::path::PathBuf, std::path::PathBuf) {
    let repo = TestRepo::with_commit();
    let hub = repo.root().join("hub.git");
    make_hub(&repo, &hub);
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

/// The whole multi-host loop (support::servers::the_loop) through a hub
/// served by git daemon, where the hub's checks and the signatures are all
/// the rules there are; and, once it landed, a worker's out-of-contract
/// push is refused and its checkout refuses coordinator commands.
#[test]
fn workers_on_other_hosts_join_through_a_hub_over_the_network_and_land() {
    let repo = TestRepo::new();
    repo.write("README.md", "hub\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    let hosts = repo.root().join("hosts");
    std::fs::create_dir_all(&hosts).unwrap();
    let daemon = Daemon::start(&repo, &hosts);
    let url = |_user: &str| daemon.url.clone();
    let wrap = |_user: &str, run| run;
    let landed = |dirs: &[std::path::PathBuf]| {
        let w1 = &dirs[0];
        let on = |args: &[&str]| {
            repo.git_in(w1, args)
                .env("HOME", w1.parent().unwrap().join("home"))
        };
        write_file(&w1.join("c/z.txt"), "z\n");
        on(&["add", "."]).success();
        on(&["commit", "--quiet", "--no-verify", "-m", "outside"]).success();
        let out = on(&["push", "--quiet", "origin", "orch/w1"]).output();
        assert_ne!(out.code, 0, "{out}");
        assert!(out.stderr.contains("c/z.txt"), "{out}");
        on(&["reset", "--quiet", "--hard", "HEAD~1"]).success();
        // The worker's checkout refuses coordinator commands, and joins only once.
        on(&["worker", "spawn", "x"]).code(2);
        let out = repo.worker(["join", "w1"]).code(2);
        assert!(
            out.stderr.contains("coordinates workers of its own"),
            "{out}"
        );
    };
    let transport = Transport {
        url: &url,
        wrap: &wrap,
        spawned: &|| {},
        landed: &landed,
    };
    the_loop(&repo, &hosts.join("hub.git"), &transport);
}

/// A hub and three clones joined to it: the coordinator's (with workers w1
/// and w2 spawned and synced) and one joined clone per worker.
fn fleet(
    repo: &TestRepo,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let hub = repo.root().join("hub.git");
    repo.write("README.md", "fleet\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    make_hub(repo, &hub);
    repo.cmd_in(repo.root(), "git", ["clone", "--quiet", "hub.git", "c"])
        .success();
    let c = repo.root().join("c");
    repo.git_in(&c, ["worker", "spawn", "w1", "w2", "--allow", "src/**"])
        .success();
    repo.git_in(&c, ["worker", "sync"]).success();
    let mut workers = Vec::new();
    for id in ["w1", "w2"] {
        repo.cmd_in(repo.root(), "git", ["worker", "join", id, "--remote"])
            .arg(&hub)
            .args(["--dir", &format!("host-{id}")])
            .success();
        let dir = repo.root().join(format!("host-{id}"));
        admit(repo, &c, id, &dir);
        workers.push(dir);
    }
    (hub, c, workers[0].clone(), workers[1].clone())
}

/// The coordinator at `c` admits the key worker `id` made when it joined
/// at `dir`, and both sync: what the worker signs counts from then on.
fn admit(repo: &TestRepo, c: &std::path::Path, id: &str, dir: &std::path::Path) {
    let key = dir.join(".git/orch/keys").join(id).join("key.pub");
    repo.git_in(c, ["worker", "admit", id, key.to_str().unwrap()])
        .success();
    repo.git_in(c, ["worker", "sync"]).success();
    repo.git_in(dir, ["worker", "sync"]).success();
}

#[test]
fn a_coordinator_and_two_workers_appending_and_syncing_at_once_lose_nothing() {
    let repo = TestRepo::new();
    let (_hub, c, w1, w2) = fleet(&repo);
    for round in 0..4 {
        let running = vec![
            repo.cmd_in(&c, "sh", ["-c", &format!(
                "git worker message w1 c{round} && git worker message w2 c{round} && git worker sync"
            )])
            .spawn(),
            repo.cmd_in(&w1, "sh", ["-c", &format!("git worker notify n{round} && git worker sync")])
                .spawn(),
            repo.cmd_in(&w2, "sh", ["-c", &format!("git worker notify n{round} && git worker sync")])
                .spawn(),
        ];
        for pending in running {
            let out = pending.wait();
            assert_eq!(out.code, 0, "round {round}: {out}");
        }
    }
    for dir in [&c, &w1, &w2, &c] {
        repo.git_in(dir, ["worker", "sync"]).success();
    }
    for id in ["w1", "w2"] {
        let texts: Vec<String> = repo
            .git_in(&c, ["worker", "log", id, "--json"])
            .success()
            .json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["data"]["text"].as_str().map(str::to_string))
            .collect();
        for round in 0..4 {
            assert!(texts.contains(&format!("c{round}")), "{id}: {texts:?}");
            assert!(texts.contains(&format!("n{round}")), "{id}: {texts:?}");
        }
        assert_eq!(texts.len(), 8, "{id}: {texts:?}");
    }
    let tip = |dir: &std::path::Path| {
        repo.git_in(dir, ["rev-parse", "refs/orch/workers/w1"])
            .read()
    };
    assert_eq!(tip(&c), tip(&w1));
}

#[test]
fn a_sync_killed_in_the_middle_of_its_push_leaves_the_hub_consistent() {
    let repo = TestRepo::new();
    let (hub, c, _w1, _w2) = fleet(&repo);
    // The hub's own pre-receive (chained after git-orch's) holds the push
    // until the test has killed it.
    write_file(
        &hub.join("hooks/pre-receive"),
        "#!/bin/sh\ntouch \"$GIT_DIR/entered\"\nwhile :; do sleep 0.05; done\n",
    );
    repo.cmd_in(&hub, "chmod", ["+x", "hooks/pre-receive"])
        .success();
    repo.git_in(&c, ["worker", "message", "w1", "before the kill"])
        .success();
    let before = repo
        .cmd_in(&hub, "git", ["rev-parse", "refs/orch/workers/w1"])
        .read();
    let sync = repo
        .cmd_in(&c, "setsid", ["git", "worker", "sync"])
        .spawn_child();
    let start = std::time::Instant::now();
    while !hub.join("entered").exists() {
        assert!(
            start.elapsed().as_secs() < 30,
            "the push never reached the hub"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The whole session: sync, git push, receive-pack, the hook.
    repo.cmd_in(&c, "kill", ["-KILL", "--", &format!("-{}", sync.id())])
        .success();
    let _ = sync.wait_with_output();
    std::fs::remove_file(hub.join("hooks/pre-receive")).unwrap();
    // Nothing was half-written on the hub.
    assert_eq!(
        repo.cmd_in(&hub, "git", ["rev-parse", "refs/orch/workers/w1"])
            .read(),
        before
    );
    repo.cmd_in(&hub, "git", ["fsck", "--no-dangling"])
        .success();
    // The next sync completes, and the message arrives.
    repo.git_in(&c, ["worker", "sync"]).success();
    let log = repo
        .cmd_in(
            &hub,
            "git",
            ["log", "-1", "--format=%B", "refs/orch/workers/w1"],
        )
        .read();
    assert!(log.contains("before the kill"), "{log}");
}

#[test]
fn a_worker_cannot_rewrite_or_delete_another_workers_log_on_the_hub() {
    let repo = TestRepo::new();
    let (hub, _c, w1, _w2) = fleet(&repo);
    let before = repo
        .cmd_in(&hub, "git", ["rev-parse", "refs/orch/workers/w2"])
        .read();
    // From worker w1's host: a forged history for w2, force-pushed.
    let tree = repo
        .git_in(&w1, ["rev-parse", "refs/orch/workers/w2^{tree}"])
        .read();
    let forged = repo
        .git_in(&w1, ["commit-tree", &tree, "-m", "forged"])
        .read();
    repo.git_in(&w1, ["update-ref", "refs/orch/workers/w2", &forged])
        .success();
    let out = repo
        .git_in(
            &w1,
            [
                "push",
                "origin",
                "+refs/orch/workers/w2:refs/orch/workers/w2",
            ],
        )
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("not a fast-forward"), "{out}");
    let out = repo
        .git_in(&w1, ["push", "origin", "--delete", "refs/orch/workers/w2"])
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert_eq!(
        repo.cmd_in(&hub, "git", ["rev-parse", "refs/orch/workers/w2"])
            .read(),
        before
    );
}

#[test]
fn a_removed_worker_stays_removed_everywhere_after_syncs() {
    let repo = TestRepo::new();
    let (hub, c, w1, _w2) = fleet(&repo);
    repo.git_in(&c, ["worker", "rm", "w2", "--force"]).success();
    repo.git_in(&c, ["worker", "sync"]).success();
    let live = |dir: &std::path::Path| {
        repo.cmd_in(
            dir,
            "git",
            ["for-each-ref", "--format=%(refname)", "refs/orch/workers/"],
        )
        .read()
    };
    assert_eq!(live(&hub), "refs/orch/workers/w1");
    // A clone that still had w2 live learns it was removed, and cannot
    // bring it back.
    repo.git_in(&w1, ["worker", "sync"]).success();
    assert_eq!(live(&w1), "refs/orch/workers/w1");
    let archived = repo
        .cmd_in(
            &hub,
            "git",
            [
                "for-each-ref",
                "--format=%(refname)",
                "refs/orch/archive/w2/",
            ],
        )
        .read();
    assert!(archived.starts_with("refs/orch/archive/w2/"), "{archived}");
    repo.git_in(&c, ["worker", "sync"]).success();
    assert_eq!(live(&c), "refs/orch/workers/w1");
    // Pushing the old live log by hand is refused by the hub.
    let old = archived.lines().next().unwrap();
    let out = repo
        .git_in(
            &w1,
            ["push", "origin", &format!("{old}:refs/orch/workers/w2")],
        )
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("was removed (its log is archived)"),
        "{out}"
    );
}

#[test]
fn network_and_missing_repository_failures_say_which() {
    let repo = TestRepo::with_commit();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("git://127.0.0.1:{port}/hub.git");
    let out = repo
        .cmd_in(
            repo.root(),
            "git",
            ["worker", "join", "w", "--remote", &url],
        )
        .code(2);
    assert!(out.stderr.contains("the network failed"), "{out}");
    repo.git(["remote", "add", "gone"])
        .arg(repo.root().join("gone.git"))
        .success();
    let out = repo.worker(["sync", "gone"]).code(2);
    assert!(
        out.stderr.contains("no such repository or ref there"),
        "{out}"
    );
    assert!(out.stderr.contains("hint: check the remote's URL"), "{out}");
}

#[test]
fn a_report_on_one_side_survives_messages_on_the_other() {
    let (repo, a, b) = two_clones();
    repo.git_in(&a, ["worker", "spawn", "w"]).success();
    repo.git_in(&a, ["worker", "sync"]).success();
    repo.git_in(&b, ["worker", "sync"]).success();
    let wt = a.parent().unwrap().join("a.worktrees/w");
    write_file(&wt.join("w.txt"), "w\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "w"])
        .success();
    // Later events on the other side, which never saw the report.
    repo.git_in(&b, ["worker", "message", "w", "m1"]).success();
    repo.git_in(&b, ["worker", "message", "w", "m2"]).success();
    for side in [&a, &b, &a] {
        repo.git_in(side, ["worker", "sync"]).success();
    }
    for side in [&a, &b] {
        let show = repo
            .git_in(side, ["worker", "show", "w", "--json"])
            .success()
            .json();
        assert_eq!(show["worker"]["state"], "reported", "{show}");
    }
}

#[test]
fn a_ref_that_cannot_be_joined_does_not_hold_back_the_rest() {
    let (repo, a, b) = two_clones();
    repo.git_in(&a, ["worker", "spawn", "w"]).success();
    repo.git_in(&a, ["worker", "plan", "t", "--allow", "a/**"])
        .success();
    repo.git_in(&a, ["worker", "sync"]).success();
    repo.git_in(&b, ["worker", "plan", "t", "--allow", "b/**"])
        .success();
    let out = repo.git_in(&b, ["worker", "sync"]).success();
    assert!(
        out.stderr.contains("warning: 'refs/orch/tasks/t' differs"),
        "{out}"
    );
    repo.git_in(&b, ["worker", "message", "w", "from b"])
        .success();
    repo.git_in(&b, ["worker", "sync"]).success();
    repo.git_in(&a, ["worker", "sync"]).success();
    let log = repo.git_in(&a, ["worker", "log", "w"]).read();
    assert!(log.contains("text=from b"), "{log}");
}

#[test]
fn a_worker_spawned_again_after_removal_replaces_the_old_one_everywhere() {
    let (repo, a, b) = two_clones();
    repo.git_in(&a, ["worker", "spawn", "w"]).success();
    let wt = a.parent().unwrap().join("a.worktrees/w");
    write_file(&wt.join("old.txt"), "old\n");
    repo.git_in(&wt, ["handoff", "report", "--summary", "the old one"])
        .success();
    repo.git_in(&a, ["worker", "sync"]).success();
    repo.git_in(&a, ["worker", "rm", "w", "--force"]).success();
    repo.git_in(&a, ["worker", "spawn", "w"]).success();
    let out = repo.git_in(&a, ["worker", "sync"]).success();
    assert!(out.stderr.contains("0 merged"), "{out}");
    repo.git_in(&b, ["worker", "sync"]).success();
    for side in [&a, &b] {
        let events = repo
            .git_in(side, ["worker", "log", "w", "--json"])
            .success()
            .json()["events"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(
            events, 2,
            "the new worker's log has its own two events only"
        );
        let show = repo.git_in(side, ["handoff", "show", "w"]).read();
        assert!(show.contains("has NOT reported"), "{show}");
    }
}

#[test]
fn a_late_report_from_a_removed_workers_clone_does_not_bring_it_back() {
    let repo = TestRepo::new();
    let (hub, c, _w1, w2) = fleet(&repo);
    write_file(&w2.join("src/late.rs"), "late\n");
    repo.git_in(&w2, ["handoff", "report", "--summary", "late"])
        .success();
    repo.git_in(&c, ["worker", "rm", "w2", "--force"]).success();
    repo.git_in(&c, ["worker", "sync"]).success();
    let out = repo.git_in(&w2, ["worker", "sync"]).success();
    assert!(out.stderr.contains("worker 'w2' was removed"), "{out}");
    let live = repo
        .cmd_in(
            &hub,
            "git",
            ["for-each-ref", "--format=%(refname)", "refs/orch/workers/"],
        )
        .read();
    assert_eq!(live, "refs/orch/workers/w1");
    repo.git_in(&c, ["worker", "sync"]).success();
    let list = repo.git_in(&c, ["worker", "list", "--no-status"]).read();
    assert!(!list.contains("w2"), "{list}");
}

/// The transport connections (`git-upload-pack`, `git-receive-pack`) the
/// command `run` makes, counted from git's own trace (`GIT_TRACE2_EVENT`).
fn connections(repo: &TestRepo, run: crate::support::Run) -> (usize, usize, String) {
    let trace = repo.root().join("trace2.json");
    let _ = std::fs::remove_file(&trace);
    let out = run.env("GIT_TRACE2_EVENT", &trace).success();
    let text = std::fs::read_to_string(&trace).unwrap_or_default();
    let starts = |program: &str| {
        text.lines()
            .filter(|l| l.contains("\"event\":\"child_start\"") && l.contains(program))
            .count()
    };
    (
        starts("git-upload-pack"),
        starts("git-receive-pack"),
        out.stderr,
    )
}

#[test]
fn a_sync_with_nothing_new_fetches_once_and_pushes_nothing() {
    let (repo, a, b) = two_clones();
    repo.git_in(&a, ["worker", "spawn", "w1", "w2", "--allow", "src/**"])
        .success();
    repo.git_in(&a, ["worker", "sync"]).success();
    repo.git_in(&b, ["worker", "sync"]).success();
    // Nothing new on either side: one fetch, no push.
    let (fetches, pushes, stderr) = connections(&repo, repo.git_in(&a, ["worker", "sync"]));
    assert_eq!((fetches, pushes), (1, 0), "{stderr}");
    assert!(stderr.contains("0 taken, 0 merged, 0 pushed"), "{stderr}");
    // A change here: one fetch and one push, of the one ref that moved.
    repo.git_in(&a, ["worker", "message", "w1", "hello"])
        .success();
    let (fetches, pushes, stderr) = connections(&repo, repo.git_in(&a, ["worker", "sync"]));
    assert_eq!((fetches, pushes), (1, 1), "{stderr}");
    assert!(stderr.contains("0 taken, 0 merged, 1 pushed"), "{stderr}");
    // A change there: taken by the one fetch, nothing pushed back.
    let (fetches, pushes, stderr) = connections(&repo, repo.git_in(&b, ["worker", "sync"]));
    assert_eq!((fetches, pushes), (1, 0), "{stderr}");
    assert!(stderr.contains("1 taken, 0 merged, 0 pushed"), "{stderr}");
}

/// A server rule (an `update` hook refusing one ref, as gitolite's
/// per-user rules do) refuses one ref: the others land, the refused one
/// is named with the server's message and kept for the next sync, and the
/// sync exits 1 without blaming the hub's checks.
#[test]
fn a_ref_a_server_rule_refuses_is_named_and_does_not_block_the_others() {
    let (repo, a, _b) = two_clones();
    let hub = repo.root().join("hub.git");
    repo.git_in(&a, ["worker", "spawn", "w1", "w2", "--allow", "src/**"])
        .success();
    repo.git_in(&a, ["worker", "sync"]).success();
    // A rule of the server, in its own hooks directory, chained behind
    // the hub's checks (hub init run again after the server's set-up).
    let hooks = hub.join("hooks");
    write_file(
        &hooks.join("update"),
        "#!/bin/sh\ncase \"$1\" in refs/orch/workers/w2) echo \"FATAL: W $1 alice DENIED by fallthru\" >&2; exit 1;; esac\n",
    );
    repo.cmd_in(repo.root(), "chmod", ["+x"])
        .arg(hooks.join("update"))
        .success();
    repo.worker(["hub", "init"]).arg(&hub).success();
    repo.git_in(&a, ["worker", "message", "w1", "one"])
        .success();
    repo.git_in(&a, ["worker", "message", "w2", "two"])
        .success();
    let hub_tip = |name: &str| repo.cmd_in(&hub, "git", ["rev-parse", name]).read();
    let before = hub_tip("refs/orch/workers/w2");
    let out = repo.git_in(&a, ["worker", "sync"]).code(1);
    assert!(
        out.stderr.contains(
            "warning: 'origin' did not take refs/orch/workers/w2: refused by a rule of the server (its update hook) (hook declined)"
        ) && out.stderr.contains("FATAL: W refs/orch/workers/w2 alice DENIED by fallthru")
            && out.stderr.contains("1 pushed, 1 refused"),
        "{out}"
    );
    assert!(!out.stderr.contains("refused the registry"), "{out}");
    assert_eq!(
        hub_tip("refs/orch/workers/w1"),
        repo.git_in(&a, ["rev-parse", "refs/orch/workers/w1"])
            .read()
    );
    assert_eq!(hub_tip("refs/orch/workers/w2"), before);
    // Kept here, tried again next time, and still not in the way.
    repo.git_in(&a, ["worker", "message", "w1", "three"])
        .success();
    let out = repo.git_in(&a, ["worker", "sync"]).code(1);
    assert!(out.stderr.contains("1 pushed, 1 refused"), "{out}");
    assert!(
        repo.git_in(&a, ["worker", "log", "w2"])
            .read()
            .contains("two")
    );
    // The rule lifted: the next sync pushes it.
    std::fs::remove_file(hooks.join("update")).unwrap();
    let out = repo.git_in(&a, ["worker", "sync"]).success();
    assert!(out.stderr.contains("1 pushed"), "{out}");
    assert_eq!(
        hub_tip("refs/orch/workers/w2"),
        repo.git_in(&a, ["rev-parse", "refs/orch/workers/w2"])
            .read()
    );
}

/// A joined worker pushes only what it owns: its log, its handoffs and
/// its branch, whatever else its clone holds.
#[test]
fn a_joined_worker_pushes_only_its_own_refs() {
    let repo = TestRepo::new();
    let (hub, _c, w1, _w2) = fleet(&repo);
    let tree = repo
        .git_in(&w1, ["rev-parse", "refs/orch/workers/w2^{tree}"])
        .read();
    let stray = repo
        .git_in(&w1, ["commit-tree", &tree, "-m", "stray"])
        .read();
    repo.git_in(&w1, ["update-ref", "refs/orch/tasks/stray", &stray])
        .success();
    repo.git_in(&w1, ["worker", "notify", "working on it"])
        .success();
    write_file(&w1.join("src/a.txt"), "a\n");
    repo.git_in(&w1, ["add", "."]).success();
    repo.git_in(&w1, ["commit", "--quiet", "-m", "a"]).success();
    let out = repo.git_in(&w1, ["worker", "sync"]).success();
    assert!(out.stderr.contains("2 pushed"), "{out}");
    let on_hub = |name: &str| {
        repo.cmd_in(&hub, "git", ["rev-parse", "--verify", "-q", name])
            .output()
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(on_hub("refs/orch/tasks/stray"), "");
    assert_eq!(
        on_hub("refs/heads/orch/w1"),
        repo.git_in(&w1, ["rev-parse", "HEAD"]).read()
    );
    assert_eq!(
        on_hub("refs/orch/workers/w1"),
        repo.git_in(&w1, ["rev-parse", "refs/orch/workers/w1"])
            .read()
    );
}

/// A worker on another host that approves another worker's change writes
/// only its own log (what per-user rules let it push); the coordinator's
/// sync records the approval on the change, once.
#[test]
fn a_joined_workers_approval_travels_in_its_own_log_and_the_coordinator_records_it() {
    let repo = TestRepo::new();
    let (hub, c, w1, w2) = fleet(&repo);
    write_file(&w2.join("src/b.txt"), "b\n");
    repo.git_in(&w2, ["handoff", "report", "--summary", "b"])
        .success();
    repo.git_in(&w2, ["worker", "sync"]).success();
    repo.git_in(&w1, ["worker", "sync"]).success();
    let out = repo
        .git_in(&w1, ["review-gate", "approve", "w2", "-m", "read it"])
        .success();
    assert!(
        out.stderr.contains("recorded in the log of worker 'w1'"),
        "{out}"
    );
    let before = repo
        .cmd_in(&hub, "git", ["rev-parse", "refs/orch/workers/w2"])
        .read();
    let out = repo.git_in(&w1, ["worker", "sync"]).success();
    assert!(out.stderr.contains("1 pushed"), "{out}");
    // It wrote nothing of w2's, nor the verdict notes.
    assert_eq!(
        repo.cmd_in(&hub, "git", ["rev-parse", "refs/orch/workers/w2"])
            .read(),
        before
    );
    let out = repo.git_in(&c, ["worker", "sync"]).success();
    assert!(out.stderr.contains("recorded 1 verdict(s)"), "{out}");
    // The note on w2's handoff (at <2 hex>/<38 hex> in the notes tree).
    let note = |dir: &std::path::Path| {
        let handoff = repo
            .git_in(dir, ["rev-parse", "refs/orch/handoffs/w2"])
            .read();
        let path = format!(
            "refs/orch/notes/verdicts:{}/{}",
            &handoff[..2],
            &handoff[2..]
        );
        repo.git_in(dir, ["cat-file", "-p", &path]).read()
    };
    let recorded = note(&c);
    assert!(
        recorded.contains("\"ruling\":\"approve\"") && recorded.contains("\"actor\":\"worker:w1\""),
        "{recorded}"
    );
    let status = repo.git_in(&c, ["review-gate", "status", "w2"]).output();
    assert!(status.stdout.contains("approve  "), "{status}");
    // Once: the next sync has nothing to record.
    let out = repo.git_in(&c, ["worker", "sync"]).success();
    assert!(!out.stderr.contains("recorded"), "{out}");
    // And the worker's host sees it after its own sync.
    repo.git_in(&w1, ["worker", "sync"]).success();
    assert_eq!(note(&w1), recorded);
}

#[test]
fn hub_rules_give_each_worker_user_its_own_refs_and_the_rest_to_the_coordinator() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w1", "w2", "--allow", "src/**"])
        .success();
    let out = repo
        .worker(["hub", "rules", "--repo", "proj", "--coordinator", "ann"])
        .args(["--user", "w2=bob"])
        .success();
    let rules: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rules,
        vec![
            vec!["repo", "proj"],
            vec!["RW+", "=", "ann"],
            vec!["RW", "refs/heads/orch/w1$", "=", "w1"],
            vec!["RW", "refs/orch/workers/w1$", "=", "w1"],
            vec!["RW", "refs/orch/handoffs/w1$", "=", "w1"],
            vec!["RW", "refs/heads/orch/w2$", "=", "bob"],
            vec!["RW", "refs/orch/workers/w2$", "=", "bob"],
            vec!["RW", "refs/orch/handoffs/w2$", "=", "bob"],
            vec!["R", "=", "w1", "bob"],
        ],
        "{out}"
    );
    // For forges: JSON bodies of their APIs.
    let github = repo
        .worker(["hub", "rules", "--format", "github"])
        .success()
        .json();
    assert_eq!(
        github[0]["conditions"]["ref_name"]["include"][0],
        "refs/heads/orch/**"
    );
    assert_eq!(
        github[1]["rules"][3]["parameters"]["required_status_checks"][0]["context"],
        "ci-check"
    );
    let gitea = repo
        .worker(["hub", "rules", "--format", "gitea", "--user", "w2=bob"])
        .success()
        .json();
    assert_eq!(gitea[1]["rule_name"], "orch/w2");
    assert_eq!(gitea[1]["push_whitelist_usernames"][0], "bob");
    assert_eq!(gitea[1]["unprotected_file_patterns"], "src/**");
    let before = repo.snapshot();
    let out = repo.worker(["hub", "rules", "--user", "w2"]).code(2);
    assert!(
        out.stderr.contains("error: --user 'w2' is not ID=USER"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
}
