//! The test servers of `support::servers` (gitolite behind an sshd of the
//! test's own, smart HTTP through git-http-backend), and hubs on them: a
//! hub's hooks chained to a gitolite repository's keep every refusal.

use crate::support::servers::{Access, Gitolite, HttpBackend, Transport, host, the_loop};
use crate::support::{TestRepo, bin_dir, hermetic_env, write_file};

#[test]
fn gitolite_serves_clones_and_pushes_and_refuses_what_its_rules_forbid() {
    let repo = TestRepo::with_commit();
    let gitolite = Gitolite::start(&repo);
    gitolite.write_conf(
        &repo,
        "repo gitolite-admin\n    RW+ = admin\n\n\
         repo hub\n    RW+ = coordinator\n    RW orch/w1 = w1\n    R = w1\n",
        &["coordinator", "w1"],
    );
    let url = gitolite.url("hub");
    gitolite
        .as_user("coordinator", repo.git(["push", "--quiet", &url, "main"]))
        .success();

    let h1 = host(&repo, "host1");
    gitolite
        .as_user(
            "w1",
            repo.git_in(&h1, ["clone", "--quiet", &url, "w1"])
                .env("HOME", h1.join("home")),
        )
        .success();
    let w1 = h1.join("w1");
    assert_eq!(
        std::fs::read_to_string(w1.join("README.md")).unwrap(),
        "hello\n"
    );
    repo.git_in(&w1, ["commit", "--quiet", "--allow-empty", "-m", "w1's"])
        .success();
    let push = |refspec: &str| {
        gitolite
            .as_user(
                "w1",
                repo.git_in(&w1, ["push", "--quiet", "origin", refspec])
                    .env("HOME", h1.join("home")),
            )
            .output()
    };
    let out = push("HEAD:orch/w1");
    assert_eq!(out.code, 0, "{out}\n{}", gitolite.sshd.log());
    let out = push("HEAD:main");
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("W refs/heads/main hub w1 DENIED"),
        "{out}"
    );
    let hub = gitolite.repository("hub");
    assert_eq!(
        repo.git_in(&hub, ["rev-parse", "main"]).read(),
        repo.rev("main"),
        "the refused push changed nothing"
    );
    assert_eq!(
        repo.git_in(&hub, ["rev-parse", "orch/w1"]).read(),
        repo.git_in(&w1, ["rev-parse", "HEAD"]).read()
    );
}

#[test]
fn git_http_backend_serves_each_user_what_their_access_allows() {
    let repo = TestRepo::with_commit();
    let base = repo.root().join("http");
    let hub = base.join("hub.git");
    std::fs::create_dir_all(&base).unwrap();
    repo.git_in(
        &base,
        [
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "hub.git",
        ],
    )
    .success();
    // The server's hooks see who pushes.
    let hook = hub.join("hooks/pre-receive");
    write_file(
        &hook,
        "#!/bin/sh\ncat >/dev/null\necho \"pushed by $REMOTE_USER\" >&2\n",
    );
    repo.cmd_in(repo.root(), "chmod", ["+x"])
        .arg(&hook)
        .success();
    let http = HttpBackend::start(
        &repo,
        &base,
        &[
            ("alice", "alice-pass", Access::Write),
            ("bob", "bob-pass", Access::Read),
        ],
    );

    let out = repo
        .git(["push", "--quiet", &http.url("alice", "hub.git"), "main"])
        .output();
    assert_eq!(out.code, 0, "{out}\n{}", http.log());
    assert!(out.stderr.contains("remote: pushed by alice"), "{out}");

    let h2 = host(&repo, "host2");
    repo.git_in(
        &h2,
        ["clone", "--quiet", &http.url("bob", "hub.git"), "bob"],
    )
    .env("HOME", h2.join("home"))
    .success();
    let bob = h2.join("bob");
    assert_eq!(
        std::fs::read_to_string(bob.join("README.md")).unwrap(),
        "hello\n"
    );
    repo.git_in(&bob, ["commit", "--quiet", "--allow-empty", "-m", "bob's"])
        .success();
    let out = repo
        .git_in(&bob, ["push", "--quiet", "origin", "HEAD:main"])
        .env("HOME", h2.join("home"))
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("403"), "{out}");

    // A wrong password gets nothing.
    let wrong = http.url("alice", "hub.git").replace("alice-pass", "guess");
    let out = repo
        .git_in(&h2, ["clone", "--quiet", &wrong, "guess"])
        .env("HOME", h2.join("home"))
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Authentication failed"), "{out}");

    // A pack over http.postBuffer (1 MiB) goes as a chunked body.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..(3 << 19))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(repo.path().join("noise.bin"), noise).unwrap();
    repo.git(["add", "noise.bin"]).success();
    repo.git(["commit", "--quiet", "-m", "noise"]).success();
    let out = repo
        .git(["push", "--quiet", &http.url("alice", "hub.git"), "main"])
        .output();
    assert_eq!(out.code, 0, "{out}\n{}", http.log());
    assert!(
        http.log()
            .contains("POST /hub.git/git-receive-pack alice (chunked) -> 200"),
        "{}",
        http.log()
    );
    assert_eq!(
        repo.git_in(&hub, ["rev-parse", "main"]).read(),
        repo.rev("main")
    );
}

/// gitolite's repo-specific hooks: a conf's `option hook.pre-receive = a b`
/// makes `hooks/pre-receive` gitolite's multi-hook driver, which runs `a`,
/// then `b`, and refuses the push when one refuses. Once `git worker hub
/// init` chains that repository's hooks behind its own, every one of them
/// must still count, the first included, and so must gitolite's per-ref
/// rules (its update hook).
#[test]
fn a_gitolite_repository_made_a_hub_keeps_every_refusal_of_its_hooks() {
    let repo = TestRepo::with_commit();
    let gitolite = Gitolite::start(&repo);
    gitolite.add_repo_specific_hook(
        "no-frozen",
        "#!/bin/sh\n\
         while read old new ref; do\n\
         \x20   if [ \"$ref\" = refs/heads/frozen ]; then echo \"no-frozen: $ref is frozen\" >&2; exit 1; fi\n\
         done\n",
    );
    gitolite.add_repo_specific_hook(
        "note",
        "#!/bin/sh\ncat >/dev/null\necho \"note: seen\" >&2\n",
    );
    gitolite.write_conf(
        &repo,
        "repo gitolite-admin\n    RW+ = admin\n\n\
         repo hub\n    RW+ = coordinator\n    R = w1\n    option hook.pre-receive = no-frozen note\n",
        &["coordinator", "w1"],
    );
    let hub = gitolite.repository("hub");
    let push = |user: &str, refspec: &str| {
        gitolite
            .as_user(user, repo.git(["push", &gitolite.url("hub"), refspec]))
            .output()
    };
    let check = |when: &str| {
        let out = push("coordinator", &format!("main:{when}"));
        assert_eq!(out.code, 0, "{when}: {out}");
        assert!(out.stderr.contains("note: seen"), "{when}: {out}");
        let out = push("coordinator", "main:frozen");
        assert_ne!(
            out.code, 0,
            "{when}: the first hook's refusal was ignored: {out}"
        );
        assert!(
            out.stderr
                .contains("no-frozen: refs/heads/frozen is frozen"),
            "{when}: {out}"
        );
        let out = push("w1", &format!("main:{when}-w1"));
        assert_ne!(out.code, 0, "{when}: {out}");
        assert!(out.stderr.contains("hub w1 DENIED"), "{when}: {out}");
        let refs = repo
            .git_in(&hub, ["for-each-ref", "--format=%(refname)"])
            .read();
        assert!(
            !refs.contains("frozen") && !refs.contains("-w1"),
            "{when}: {refs}"
        );
    };
    check("before");

    // The hub is made where gitolite keeps the repository.
    repo.cmd_in(repo.root(), "git", ["worker", "hub", "init"])
        .arg(&hub)
        .success();
    assert_ne!(
        repo.git_in(&hub, ["config", "core.hooksPath"]).read(),
        hub.join("hooks").display().to_string()
    );
    check("after");
}

/// A hub's shims for the hooks it only chains (update, once per pushed ref,
/// post-receive, post-update...) start git-worker only when the hub has
/// such a hook of its own, and then that hook's refusal counts.
#[test]
fn a_hubs_update_hook_starts_nothing_until_there_is_one_to_chain() {
    let repo = TestRepo::with_commit();
    let hub = repo.root().join("hub.git");
    repo.cmd_in(repo.root(), "git", ["worker", "hub", "init"])
        .arg(&hub)
        .success();
    // A git-worker first on PATH that notes every start.
    let spy = repo.root().join("spy");
    let starts = repo.root().join("starts");
    write_file(
        &spy.join("git-worker"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            starts.display(),
            bin_dir().join("git-worker").display()
        ),
    );
    repo.cmd_in(repo.root(), "chmod", ["+x"])
        .arg(spy.join("git-worker"))
        .success();
    let path = hermetic_env(repo.root())
        .into_iter()
        .find(|(key, _)| key == "PATH")
        .unwrap()
        .1;
    let path = format!("{}:{path}", spy.display());
    let push = |refspecs: &[&str]| {
        repo.git(["push", "--quiet"])
            .arg(&hub)
            .args(refspecs)
            .env("PATH", &path)
            .output()
    };
    let out = push(&["main", "main:a", "main:b"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(&starts).unwrap(),
        "hook pre-receive\n"
    );

    std::fs::remove_file(&starts).unwrap();
    write_file(
        &hub.join("hooks/update"),
        "#!/bin/sh\nif [ \"$1\" = refs/heads/c ]; then echo \"update: $1 refused\" >&2; exit 1; fi\n",
    );
    repo.cmd_in(repo.root(), "chmod", ["+x"])
        .arg(hub.join("hooks/update"))
        .success();
    let out = push(&["main:c", "main:d"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("update: refs/heads/c refused"), "{out}");
    let starts = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(
        starts
            .lines()
            .filter(|l| l.starts_with("hook update "))
            .count(),
        2,
        "{starts}"
    );
    let refs = repo
        .git_in(&hub, ["for-each-ref", "--format=%(refname)"])
        .read();
    assert!(
        refs.contains("refs/heads/d") && !refs.contains("refs/heads/c"),
        "{refs}"
    );
}

/// The loop through gitolite with the rules `git worker hub rules`
/// generates: each worker's user may push only its own branch, log and
/// handoffs. Then the rules hold behind the hub's checks: alice cannot
/// push a branch no rule gives her.
#[test]
fn the_whole_loop_passes_through_gitolite_under_per_user_rules() {
    let repo = TestRepo::new();
    repo.write("README.md", "hub\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    let gitolite = Gitolite::start(&repo);
    // The hub, at first the coordinator's alone.
    let admin = "repo gitolite-admin\n    RW+ = admin\n\n";
    gitolite.write_conf(
        &repo,
        &format!("{admin}repo hub\n    RW+ = coordinator\n    R = alice bob\n"),
        &["coordinator", "alice", "bob"],
    );
    let url = |_user: &str| gitolite.url("hub");
    let wrap = |user: &str, run| gitolite.as_user(user, run);
    let spawned = || {
        let rules = repo
            .worker(["hub", "rules", "--user", "w1=alice", "--user", "w2=bob"])
            .success()
            .stdout;
        gitolite.write_conf(
            &repo,
            &format!("{admin}{rules}"),
            &["coordinator", "alice", "bob"],
        );
    };
    let transport = Transport {
        url: &url,
        wrap: &wrap,
        spawned: &spawned,
        landed: &|_| {},
    };
    let [w1, _w2] = the_loop(&repo, &gitolite.repository("hub"), &transport);
    // The rules hold behind the hub's checks: a branch of no worker's,
    // which the hub lets through, gitolite refuses alice.
    let out = gitolite
        .as_user(
            "alice",
            repo.git_in(&w1, ["push", "origin", "HEAD:refs/heads/feature"])
                .env("HOME", w1.parent().unwrap().join("home")),
        )
        .output();
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("W refs/heads/feature hub alice DENIED"),
        "{out}"
    );
}

/// The loop through smart HTTP (git-http-backend), one HTTP user per
/// worker and the coordinator: the hub's own checks and the signatures
/// are all the rules there are.
#[test]
fn the_whole_loop_passes_through_smart_http_with_a_user_per_worker() {
    let repo = TestRepo::new();
    repo.write("README.md", "hub\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    let base = repo.root().join("http");
    std::fs::create_dir_all(&base).unwrap();
    repo.git_in(
        &base,
        [
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "hub.git",
        ],
    )
    .success();
    let http = HttpBackend::start(
        &repo,
        &base,
        &[
            ("coordinator", "c-pass", Access::Write),
            ("alice", "a-pass", Access::Write),
            ("bob", "b-pass", Access::Write),
        ],
    );
    let url = |user: &str| http.url(user, "hub.git");
    let wrap = |_user: &str, run| run;
    let spawned = || {};
    let transport = Transport {
        url: &url,
        wrap: &wrap,
        spawned: &spawned,
        landed: &|_| {},
    };
    the_loop(&repo, &base.join("hub.git"), &transport);
}
