//! The signed registry: a worker on its own host, holding its own key and
//! write access to the hub, plays the attacker. What it is not entitled to
//! write is refused by a hub that has no per-user rules at all (git daemon
//! here), and ignored with a warning by every reader when a remote without
//! checks lets it through.

use std::path::{Path, PathBuf};

use crate::support::servers::Daemon;
use crate::support::{Output, Run, TestRepo, write_file};

/// The coordinator (the test repository, its key under its own HOME), a
/// hub made by `git worker hub init` served by git daemon, and two workers
/// joined from hosts of their own (each its own HOME, so no host holds
/// another's key), admitted, with w1's change reported.
struct Fleet {
    repo: TestRepo,
    hub: PathBuf,
    url: String,
    w1: PathBuf,
    w2: PathBuf,
    _daemon: Option<Daemon>,
}

impl Fleet {
    /// With `checked`, the hub is a `git worker hub init` hub behind git
    /// daemon; without, a plain bare repository on disk that takes any push.
    fn new(checked: bool) -> Fleet {
        let repo = TestRepo::with_commit();
        let hosts = repo.root().join("hosts");
        let hub = hosts.join("hub.git");
        std::fs::create_dir_all(&hosts).unwrap();
        let daemon = if checked {
            repo.worker(["hub", "init"]).arg(&hub).success();
            Some(Daemon::start(&repo, &hosts))
        } else {
            repo.git(["init", "--quiet", "--bare"]).arg(&hub).success();
            None
        };
        let url = match &daemon {
            Some(daemon) => daemon.url.clone(),
            None => hub.display().to_string(),
        };
        repo.git(["remote", "add", "origin", &url]).success();
        repo.git(["push", "--quiet", "origin", "main"]).success();
        repo.cmd_in(&hub, "git", ["symbolic-ref", "HEAD", "refs/heads/main"])
            .success();
        repo.worker(["spawn", "w1", "--allow", "a/**"]).success();
        repo.worker(["spawn", "w2", "--allow", "b/**"]).success();
        repo.worker(["sync"]).success();
        let fleet = Fleet {
            w1: hosts.join("host1/w1"),
            w2: hosts.join("host2/w2"),
            url: url.clone(),
            hub,
            repo,
            _daemon: daemon,
        };
        let coordinator = format!("{}.pub", fleet.repo.coordinator_key().display());
        for (id, dir) in [("w1", fleet.w1.clone()), ("w2", fleet.w2.clone())] {
            let host = dir.parent().unwrap();
            std::fs::create_dir_all(host.join("home")).unwrap();
            // w1 trusts the key the registry records, w2 the one it was given.
            let mut join = vec!["worker", "join", id, "--remote", &url, "--dir", id];
            if id == "w2" {
                join.extend(["--coordinator-key", &coordinator]);
            }
            let out = fleet.on(host, &join).success();
            assert!(
                id == "w2" || out.stderr.contains("trusting the coordinator key SHA256:"),
                "{out}"
            );
            let key = dir.join(".git/orch/keys").join(id).join("key.pub");
            fleet
                .repo
                .worker(["admit", id, key.to_str().unwrap()])
                .success();
            fleet.repo.worker(["sync"]).success();
            fleet.on(&dir, &["worker", "sync"]).success();
        }
        write_file(&fleet.w1.join("a/x.txt"), "x\n");
        fleet
            .on(&fleet.w1, &["handoff", "report", "--summary", "x"])
            .success();
        fleet.on(&fleet.w1, &["worker", "sync"]).success();
        fleet.repo.worker(["sync"]).success();
        fleet
    }

    /// `git <args>` on the host of `dir` (its HOME).
    fn on(&self, dir: &Path, args: &[&str]) -> Run {
        let home = dir
            .ancestors()
            .find(|d| d.join("home").is_dir())
            .unwrap()
            .join("home");
        self.repo.git_in(dir, args).env("HOME", home)
    }

    /// Worker `id`'s private key, on its own host.
    fn key(&self, id: &str) -> PathBuf {
        let dir = if id == "w1" { &self.w1 } else { &self.w2 };
        dir.join(".git/orch/keys").join(id).join("key")
    }

    /// A commit made in `dir` with `tree`, `parents` and `message`, signed
    /// with `key` by git's own SSH signing, or unsigned.
    fn commit(
        &self,
        dir: &Path,
        tree: &str,
        parents: &[&str],
        message: &str,
        key: Option<&Path>,
    ) -> String {
        let mut args = vec!["commit-tree", tree];
        for parent in parents {
            args.extend(["-p", parent]);
        }
        args.extend(["-m", message]);
        let args = match key {
            Some(key) => self.repo.signed_with(key, &args),
            None => args.iter().map(|a| a.to_string()).collect(),
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.on(dir, &args).read()
    }

    /// An event of `kind` by `actor` on top of `refname`'s tip in `dir`
    /// (its newest event copied, with a new id and the next clock), with
    /// the tip's tree unless `tree` is given.
    fn forge_event(
        &self,
        dir: &Path,
        refname: &str,
        kind: &str,
        actor: &str,
        tree: Option<&str>,
        key: Option<&Path>,
    ) -> String {
        let tip = self.on(dir, &["rev-parse", refname]).read();
        let message = self.on(dir, &["log", "-1", "--format=%B", &tip]).read();
        let body = message.lines().nth(2).unwrap();
        let mut event: serde_json::Value = serde_json::from_str(body).unwrap();
        event["kind"] = kind.into();
        event["actor"] = actor.into();
        event["id"] = "00000000000f0e9d".into();
        event["clock"] = (event["clock"].as_u64().unwrap() + 1).into();
        let id = refname.rsplit('/').next().unwrap();
        let message = format!("{kind} {id}\n\n{event}\n");
        let tree = match tree {
            Some(tree) => tree.to_string(),
            None => self
                .on(dir, &["rev-parse", &format!("{tip}^{{tree}}")])
                .read(),
        };
        self.commit(dir, &tree, &[&tip], &message, key)
    }

    /// Push `commit` to `refname` on the hub from `dir`.
    fn push(&self, dir: &Path, commit: &str, refname: &str) -> Output {
        self.on(dir, &["push", "origin", &format!("+{commit}:{refname}")])
            .output()
    }

    fn hub_ref(&self, refname: &str) -> String {
        self.repo
            .cmd_in(&self.hub, "git", ["rev-parse", "--verify", "-q", refname])
            .output()
            .stdout
            .trim()
            .to_string()
    }

    /// The note (verdict lines) on w1's handoff in `dir`, with a forged
    /// coordinator approval of it added, as a new notes commit signed with
    /// `key`.
    fn forge_approval(&self, dir: &Path, key: Option<&Path>) -> String {
        let notes = "refs/orch/notes/verdicts";
        let handoff = self.on(dir, &["rev-parse", "refs/orch/handoffs/w1"]).read();
        let line = self.approval_line(dir);
        let env_index = dir.join(".git/forge-index");
        let tip = self
            .on(dir, &["rev-parse", "--verify", "-q", notes])
            .output();
        let tip = tip.stdout.trim().to_string();
        let run = |args: &[&str]| self.on(dir, args).env("GIT_INDEX_FILE", &env_index);
        if tip.is_empty() {
            run(&["read-tree", "--empty"]).success();
        } else {
            run(&["read-tree", &tip]).success();
        }
        let old = self
            .on(dir, &["notes", "--ref", notes, "show", &handoff])
            .output()
            .stdout;
        let blob = self
            .on(dir, &["hash-object", "-w", "--stdin"])
            .stdin(format!("{old}{line}\n"))
            .read();
        run(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{blob},{handoff}"),
        ])
        .success();
        let tree = run(&["write-tree"]).read();
        let _ = std::fs::remove_file(&env_index);
        let parents: Vec<&str> = if tip.is_empty() { vec![] } else { vec![&tip] };
        self.commit(dir, &tree, &parents, "Notes added by 'git notes'", key)
    }

    /// w1's contract (the tree of its log's tip) with `everything` allowed.
    fn widened_contract(&self, dir: &Path) -> String {
        let refname = "refs/orch/workers/w1";
        let tip = self.on(dir, &["rev-parse", refname]).read();
        let commit = self.repo.edit_entry(dir, &tip, "contract.toml", |c| {
            c.replace("\"a/**\"", "\"**\"")
        });
        self.on(dir, &["rev-parse", &format!("{commit}^{{tree}}")])
            .read()
    }
}

/// Every forgery the issue names, pushed by worker w1 to a hub whose only
/// rules are the signatures: each refused, naming the ref and the signer,
/// and the hub's ref unmoved.
#[test]
fn a_worker_cannot_push_what_it_is_not_entitled_to_sign_through_a_hub_without_per_user_rules() {
    let fleet = Fleet::new(true);
    let w1 = fleet.w1.clone();
    let own_key = fleet.key("w1");
    let own_key = Some(own_key.as_path());
    // A key it made itself, claiming to be the coordinator.
    let other = w1.join(".git/attacker-key");
    fleet
        .repo
        .cmd_in(&w1, "ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .success();

    let widened = fleet.widened_contract(&w1);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "an `applied` event in another worker's log, signed with its own key",
            fleet.forge_event(
                &w1,
                "refs/orch/workers/w2",
                "applied",
                "coordinator",
                None,
                own_key,
            ),
            "refs/orch/workers/w2",
            "another worker's log, which worker 'w1' may not write (signed by worker 'w1')",
        ),
        (
            "another worker's report, unsigned",
            fleet.forge_event(
                &w1,
                "refs/orch/workers/w2",
                "reported",
                "worker",
                None,
                None,
            ),
            "refs/orch/workers/w2",
            "is signed by nobody (unsigned), not by",
        ),
        (
            "an `applied` event in its own log",
            fleet.forge_event(
                &w1,
                "refs/orch/workers/w1",
                "applied",
                "coordinator",
                None,
                own_key,
            ),
            "refs/orch/workers/w1",
            "is a 'applied' event, which worker 'w1' may not write (signed by worker 'w1')",
        ),
        (
            "a coordinator event signed with a key of its own making",
            fleet.forge_event(
                &w1,
                "refs/orch/workers/w1",
                "applied",
                "coordinator",
                None,
                Some(&other),
            ),
            "refs/orch/workers/w1",
            "is signed by an unknown key (SHA256:",
        ),
        (
            "its own contract widened",
            fleet.forge_event(
                &w1,
                "refs/orch/workers/w1",
                "notice",
                "worker",
                Some(&widened),
                own_key,
            ),
            "refs/orch/workers/w1",
            "changes the contract of worker 'w1' (in: allow)",
        ),
        (
            "a coordinator approval of its own change",
            fleet.forge_approval(&w1, own_key),
            "refs/orch/notes/verdicts",
            "adds a verdict that is not worker 'w1''s own",
        ),
        (
            "a handoff in another worker's name",
            {
                // w1's handoff, relabelled as w2's.
                let handoff = fleet
                    .on(&w1, &["rev-parse", "refs/orch/handoffs/w1"])
                    .read();
                let relabelled = fleet.repo.edit_entry(&w1, &handoff, "handoff.toml", |t| {
                    t.replace("id = \"w1\"", "id = \"w2\"")
                });
                let tree = fleet
                    .on(&w1, &["rev-parse", &format!("{relabelled}^{{tree}}")])
                    .read();
                fleet.commit(&w1, &tree, &[], "handoff w2", own_key)
            },
            "refs/orch/handoffs/w2",
            "records a handoff of worker 'w2', which worker 'w1' may not write",
        ),
        (
            "a planned task",
            {
                let blob = fleet
                    .on(&w1, &["hash-object", "-w", "--stdin"])
                    .stdin("id = \"t\"\n")
                    .read();
                let tree = fleet
                    .on(&w1, &["mktree"])
                    .stdin(format!("100644 blob {blob}\ttask.toml\n"))
                    .read();
                fleet.commit(&w1, &tree, &[], "task t", own_key)
            },
            "refs/orch/tasks/t",
            "which only the coordinator writes",
        ),
    ];
    for (what, commit, refname, message) in cases {
        let before = fleet.hub_ref(refname);
        let out = fleet.push(&w1, &commit, refname);
        assert_ne!(out.code, 0, "{what}: accepted\n{out}");
        assert!(
            out.stderr.contains(&format!("{refname}: ")) && out.stderr.contains(message),
            "{what}: {out}"
        );
        assert_eq!(
            fleet.hub_ref(refname),
            before,
            "{what}: the hub's ref moved"
        );
    }

    // Re-registering a worker the coordinator removed.
    fleet.repo.worker(["rm", "w2", "--force"]).success();
    fleet.repo.worker(["sync"]).success();
    fleet.on(&w1, &["worker", "sync"]).success();
    let archived = fleet
        .on(
            &w1,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/orch/archive/w2/",
            ],
        )
        .read();
    assert!(!archived.is_empty());
    let root = fleet
        .on(
            &w1,
            &[
                "rev-list",
                "--max-parents=0",
                archived.lines().next().unwrap(),
            ],
        )
        .read();
    let tree = fleet
        .on(&w1, &["rev-parse", &format!("{root}^{{tree}}")])
        .read();
    let message = fleet.on(&w1, &["log", "-1", "--format=%B", &root]).read();
    let forged = fleet.commit(&w1, &tree, &[], &message.replace("000", "001"), own_key);
    let out = fleet.push(&w1, &forged, "refs/orch/workers/w2");
    assert_ne!(out.code, 0, "re-registration accepted\n{out}");
    assert!(out.stderr.contains("refs/orch/workers/w2"), "{out}");
    assert_eq!(fleet.hub_ref("refs/orch/workers/w2"), "");

    // What it is entitled to write still goes through: a notice of its own.
    let notice = fleet.forge_event(
        &w1,
        "refs/orch/workers/w1",
        "notice",
        "worker",
        None,
        own_key,
    );
    let out = fleet.push(&w1, &notice, "refs/orch/workers/w1");
    assert_eq!(out.code, 0, "{out}");
}

/// Through a remote that checks nothing, w1's forgeries reach the
/// coordinator's sync: it takes none of them, warns naming the ref, the
/// commit and its signer, and nothing acts on them.
#[test]
fn forgeries_from_a_remote_that_checks_nothing_are_ignored_with_a_warning() {
    let fleet = Fleet::new(false);
    let w1 = fleet.w1.clone();
    let key = fleet.key("w1");
    // w2 has reported too: a forged `applied` would let cleanup delete it.
    write_file(&fleet.w2.join("b/y.txt"), "y\n");
    fleet
        .on(&fleet.w2, &["handoff", "report", "--summary", "y"])
        .success();
    fleet.on(&fleet.w2, &["worker", "sync"]).success();
    fleet.repo.worker(["sync"]).success();
    fleet
        .repo
        .git(["config", "orch.review.require", "approve"])
        .success();

    let applied = fleet.forge_event(
        &w1,
        "refs/orch/workers/w2",
        "applied",
        "coordinator",
        None,
        Some(&key),
    );
    let approval = fleet.forge_approval(&w1, Some(&key));
    let widened = fleet.widened_contract(&w1);
    let widened = fleet.forge_event(
        &w1,
        "refs/orch/workers/w1",
        "notice",
        "worker",
        Some(&widened),
        Some(&key),
    );
    let forgeries = [
        (&applied, "refs/orch/workers/w2"),
        (&approval, "refs/orch/notes/verdicts"),
        (&widened, "refs/orch/workers/w1"),
    ];
    for (commit, refname) in forgeries {
        let out = fleet.push(&w1, commit, refname);
        assert_eq!(out.code, 0, "the plain remote took it: {out}");
    }

    let before = fleet.repo.events("w2");
    let out = fleet.repo.worker(["sync"]).success();
    for (commit, refname) in forgeries {
        assert!(
            out.stderr.contains(&format!("warning: {refname}: "))
                && out.stderr.contains(&format!("commit {}", &commit[..10]))
                && out.stderr.contains("worker 'w1'"),
            "{out}"
        );
        // Not taken: the local ref (if any) does not contain it.
        let contained = fleet
            .repo
            .git(["merge-base", "--is-ancestor", commit, refname])
            .output();
        assert_ne!(contained.code, 0, "{refname} took the forgery");
    }
    assert_eq!(fleet.repo.events("w2"), before);
    // Nothing acts on them: w2 is not landed, w1 is not approved.
    let out = fleet.repo.worker(["cleanup", "--landed"]).success();
    assert!(!out.stderr.contains("w2"), "{out}");
    assert!(fleet.repo.worker(["show", "w2"]).output().code == 0);
    let out = fleet.repo.git(["handoff", "land", "w1"]).output();
    assert_ne!(out.code, 0, "the forged approval opened the gate: {out}");
    let status = fleet.repo.git(["review-gate", "status", "w1"]).output();
    assert!(
        status.stdout.contains("verdicts: none on this change"),
        "{status}"
    );
    // And w1's contract is what the coordinator signed.
    let show = fleet.repo.worker(["show", "w1", "--json"]).success().json();
    assert_eq!(
        show["worker"]["allow"],
        serde_json::json!(["a/**"]),
        "{show}"
    );
}

/// Registry commits are plain SSH-signed git commits: `git verify-commit`
/// with an allowed-signers file of the coordinator's and the workers'
/// public keys accepts them, and names who signed.
#[test]
fn registry_commits_are_signatures_git_itself_verifies() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w1", "--allow", "a/**"]).success();
    let w1 = repo.worktree("w1");
    write_file(&w1.join("a/x.txt"), "x\n");
    repo.git_in(&w1, ["handoff", "report", "--summary", "x"])
        .success();
    let allowed = repo.root().join("allowed_signers");
    let public = |key: PathBuf| {
        let text = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
        text.trim_end().to_string()
    };
    let coordinator = public(repo.coordinator_key());
    let worker = public(repo.worker_key("w1"));
    std::fs::write(
        &allowed,
        format!("coordinator {coordinator}\nworker-w1 {worker}\n"),
    )
    .unwrap();
    let verify = |rev: &str| {
        repo.git([
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            "--raw",
            rev,
        ])
        .output()
    };
    // The spawn (the coordinator's), the report (the worker's), the handoff.
    let spawned = repo
        .git(["rev-list", "--max-parents=0", "refs/orch/workers/w1"])
        .read();
    let out = verify(&spawned);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("signature for coordinator"), "{out}");
    let out = verify("refs/orch/workers/w1");
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("signature for worker-w1"), "{out}");
    let out = verify("refs/orch/handoffs/w1");
    assert_eq!(out.code, 0, "{out}");
    // A verdict note commit and a planned task: the coordinator's.
    repo.git(["review-gate", "approve", "w1", "-m", "read it"])
        .success();
    repo.worker(["plan", "t", "--allow", "t/**"]).success();
    for rev in [
        "refs/orch/notes/verdicts",
        "refs/orch/tasks/t",
        "refs/orch/keys",
    ] {
        let out = verify(rev);
        assert_eq!(out.code, 0, "{rev}: {out}");
        assert!(
            out.stderr.contains("signature for coordinator"),
            "{rev}: {out}"
        );
    }
    // And a commit signed by nobody listed is not.
    std::fs::write(&allowed, format!("worker-w1 {worker}\n")).unwrap();
    assert_ne!(verify(&spawned).code, 0);
}

/// On a remote that checks nothing, a worker replaces the registry's key
/// record with one of its own making: a host joining with the key the
/// coordinator gave it refuses, names both keys, and pins nothing.
#[test]
fn a_join_with_the_coordinators_key_refuses_a_registry_another_key_signed() {
    let fleet = Fleet::new(false);
    fleet
        .repo
        .worker(["spawn", "w3", "--allow", "c/**"])
        .success();
    fleet.repo.worker(["sync"]).success();
    let w1 = fleet.w1.clone();
    let forged = w1.join(".git/attacker-key");
    fleet
        .repo
        .cmd_in(&w1, "ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&forged)
        .success();
    let public = std::fs::read_to_string(format!("{}.pub", forged.display())).unwrap();
    let blob = |text: &str| {
        fleet
            .on(&w1, &["hash-object", "-w", "--stdin"])
            .stdin(text.to_string())
            .read()
    };
    let tree = fleet
        .on(&w1, &["mktree"])
        .stdin(format!(
            "100644 blob {}\tcoordinator\n100644 blob {}\tformat\n",
            blob(&public),
            blob("2\n")
        ))
        .read();
    let record = fleet.commit(&w1, &tree, &[], "keys", Some(&forged));
    assert_eq!(fleet.push(&w1, &record, "refs/orch/keys").code, 0);

    let host = fleet.hub.parent().unwrap().join("host3");
    std::fs::create_dir_all(host.join("home")).unwrap();
    let coordinator = format!("{}.pub", fleet.repo.coordinator_key().display());
    let url = fleet.hub.display().to_string();
    let out = fleet
        .on(
            &host,
            &[
                "worker",
                "join",
                "w3",
                "--remote",
                &url,
                "--dir",
                "w3",
                "--coordinator-key",
                &coordinator,
            ],
        )
        .code(2);
    assert!(
        out.stderr
            .contains("error: the registry on 'origin' records the coordinator key SHA256:")
            && out.stderr.contains(", not SHA256:"),
        "{out}"
    );
    assert!(!host.join("w3/.git/orch/keys/coordinator.pub").exists());
}

impl Fleet {
    /// `refname`'s tip in `dir`, or "".
    fn tip(&self, dir: &Path, refname: &str) -> String {
        self.on(dir, &["rev-parse", "--verify", "-q", refname])
            .output()
            .stdout
            .trim()
            .to_string()
    }

    /// A notes tree: the tree of `start` (a commit) with `text` as the
    /// note on w1's handoff.
    fn notes_tree(&self, dir: &Path, start: Option<&str>, text: &str) -> String {
        let handoff = self.tip(dir, "refs/orch/handoffs/w1");
        let index = dir.join(".git/forge-index");
        let run = |args: &[&str]| self.on(dir, args).env("GIT_INDEX_FILE", &index);
        match start {
            Some(start) => run(&["read-tree", start]).success(),
            None => run(&["read-tree", "--empty"]).success(),
        };
        let blob = self
            .on(dir, &["hash-object", "-w", "--stdin"])
            .stdin(text.to_string())
            .read();
        run(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("100644,{blob},{}/{}", &handoff[..2], &handoff[2..]),
        ])
        .success();
        let tree = run(&["write-tree"]).read();
        let _ = std::fs::remove_file(&index);
        tree
    }

    /// A coordinator `approve` line for w1's current handoff, bound to it.
    fn approval_line(&self, dir: &Path) -> String {
        let handoff = self.tip(dir, "refs/orch/handoffs/w1");
        let meta = self
            .on(dir, &["show", &format!("{handoff}:handoff.toml")])
            .read();
        let field = |name: &str| {
            meta.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
                .unwrap()
                .trim_end_matches('"')
                .to_string()
        };
        serde_json::json!({
            "time": 4_000_000_000u64, "id": "00000000deadbeef", "v": 1,
            "ruling": "approve", "by": "Test User <test@example.com>",
            "actor": "coordinator", "worker": "w1", "base": field("base"),
            "tree": field("tree"), "fingerprint": field("fingerprint"), "message": "lgtm",
        })
        .to_string()
    }
}

/// The attacks an independent attacker found against the first version
/// of the checks, through a hub: each refused.
#[test]
fn replays_smuggled_verdicts_archives_and_removed_lines_are_refused_by_the_hub() {
    let fleet = Fleet::new(true);
    let w1 = fleet.w1.clone();
    let key = fleet.key("w1");
    let key = Some(key.as_path());
    // 1. One commit, fit for w1's handoffs and smuggling a coordinator
    //    approval into the notes (which the hub has none of yet): pushed to both.
    let handoff = fleet.tip(&w1, "refs/orch/handoffs/w1");
    let approval = fleet.approval_line(&w1);
    let tree = fleet.notes_tree(&w1, Some(&handoff), &format!("{approval}\n"));
    let parent = fleet.tip(&w1, &format!("{handoff}^1"));
    let smuggled = fleet.commit(&w1, &tree, &[&handoff, &parent], "handoff w1: x", key);
    let out = fleet
        .on(
            &w1,
            &[
                "push",
                "origin",
                &format!("{smuggled}:refs/orch/handoffs/w1"),
                &format!("{smuggled}:refs/orch/notes/verdicts"),
            ],
        )
        .output();
    assert_ne!(out.code, 0, "smuggled approval accepted: {out}");
    assert!(
        out.stderr.contains("refs/orch/notes/verdicts: commit "),
        "{out}"
    );
    assert_eq!(fleet.hub_ref("refs/orch/notes/verdicts"), "");

    // The coordinator approves, then rejects w1's change.
    fleet
        .repo
        .git(["review-gate", "approve", "w1", "-m", "ok"])
        .success();
    fleet
        .repo
        .git(["review-gate", "reject", "w1", "-m", "no: a/x.txt is wrong"])
        .success();
    fleet.repo.worker(["sync"]).success();
    fleet.on(&w1, &["worker", "sync"]).success();
    let handoff = fleet.tip(&w1, "refs/orch/handoffs/w1");
    let notes = fleet.tip(&w1, "refs/orch/notes/verdicts");
    let note = fleet
        .on(
            &w1,
            &[
                "cat-file",
                "-p",
                &format!("{notes}:{}/{}", &handoff[..2], &handoff[2..]),
            ],
        )
        .read();

    // 2. The rejection removed from the note.
    let kept: String = note
        .lines()
        .filter(|l| !l.contains("\"ruling\":\"reject\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let tree = fleet.notes_tree(&w1, Some(&notes), &kept);
    let erased = fleet.commit(&w1, &tree, &[&notes], "Notes", key);
    let out = fleet.push(&w1, &erased, "refs/orch/notes/verdicts");
    assert_ne!(out.code, 0, "erased rejection accepted: {out}");
    assert!(out.stderr.contains("removes verdicts"), "{out}");

    // 3. A malformed line in its own name.
    let tree = fleet.notes_tree(
        &w1,
        Some(&notes),
        &format!("{note}\n{{\"actor\":\"worker:w1\",\"hello\":1}}\n"),
    );
    let junk = fleet.commit(&w1, &tree, &[&notes], "Notes", key);
    let out = fleet.push(&w1, &junk, "refs/orch/notes/verdicts");
    assert_ne!(out.code, 0, "junk verdict accepted: {out}");
    assert!(
        out.stderr.contains("adds a line that is not a verdict"),
        "{out}"
    );

    // 4. w2 archived and its live entry deleted, by w1.
    let w2_tip = fleet.tip(&w1, "refs/orch/workers/w2");
    let out = fleet
        .on(
            &w1,
            &[
                "push",
                "origin",
                &format!("{w2_tip}:refs/orch/archive/w2/{w2_tip}"),
                ":refs/orch/workers/w2",
            ],
        )
        .output();
    assert_ne!(out.code, 0, "w2 removed by w1: {out}");
    assert!(
        out.stderr.contains("is not the `removed` event of a log"),
        "{out}"
    );

    // 5. A coordinator-signed commit replayed onto another ref.
    let record = fleet.tip(&w1, "refs/orch/keys");
    let out = fleet.push(&w1, &record, "refs/orch/handoffs/w2");
    assert_ne!(out.code, 0, "replayed key record accepted: {out}");
    assert!(out.stderr.contains("is not a handoff"), "{out}");

    assert_eq!(fleet.hub_ref("refs/orch/handoffs/w2"), "");
    assert_eq!(fleet.hub_ref("refs/orch/workers/w2"), w2_tip);
    assert_eq!(fleet.hub_ref("refs/orch/notes/verdicts"), notes);
    assert_eq!(fleet.hub_ref("refs/orch/handoffs/w1"), handoff);
}

/// The same attacks through a remote that checks nothing: the
/// coordinator's sync takes none of them, keeps working, repairs its key
/// record, and its gate, list and cleanup act on none of them.
#[test]
fn replays_and_junk_from_a_remote_that_checks_nothing_change_nothing() {
    let fleet = Fleet::new(false);
    let w1 = fleet.w1.clone();
    let key = fleet.key("w1");
    let key = Some(key.as_path());
    fleet
        .repo
        .git(["config", "orch.review.require", "approve"])
        .success();
    // A rejection the coordinator has not synced yet.
    fleet
        .repo
        .git(["review-gate", "reject", "w1", "-m", "no: a/x.txt is wrong"])
        .success();
    fleet.on(&w1, &["worker", "sync"]).success();
    let handoff = fleet.tip(&w1, "refs/orch/handoffs/w1");
    let approval = fleet.approval_line(&w1);
    let tree = fleet.notes_tree(&w1, Some(&handoff), &format!("{approval}\n"));
    let parent = fleet.tip(&w1, &format!("{handoff}^1"));
    let smuggled = fleet.commit(&w1, &tree, &[&handoff, &parent], "handoff w1: x", key);
    // w1's log widened and `applied`, on a parent that is no log entry.
    let widened = fleet.widened_contract(&w1);
    let log_tip = fleet.tip(&w1, "refs/orch/workers/w1");
    let applied = fleet.repo.edit_entry(&w1, &log_tip, "state.toml", |s| {
        s.replace("state = \"reported\"", "state = \"applied\"")
    });
    let applied_tree = fleet.tip(&w1, &format!("{applied}^{{tree}}"));
    let _ = widened;
    let grafted = fleet.commit(&w1, &applied_tree, &[&log_tip, &handoff], "applied w1", key);
    // A junk ref, a replayed record, a foreign key record, and a long chain
    // of w1's own notices on top of one event it may not write.
    let junk = fleet
        .on(&w1, &["hash-object", "-w", "--stdin"])
        .stdin("junk\n")
        .read();
    let record = fleet.tip(&w1, "refs/orch/keys");
    let mut chain = fleet.forge_event(
        &w1,
        "refs/orch/workers/w2",
        "applied",
        "coordinator",
        None,
        key,
    );
    let tree = fleet.tip(&w1, "refs/orch/workers/w2^{tree}");
    for i in 0..150 {
        chain = fleet.commit(&w1, &tree, &[&chain], &format!("notice w2 {i}"), key);
    }
    let pushes = [
        (smuggled.as_str(), "refs/orch/handoffs/w1"),
        (smuggled.as_str(), "refs/orch/notes/verdicts"),
        (grafted.as_str(), "refs/orch/workers/w1"),
        (junk.as_str(), "refs/orch/aa-blob"),
        (record.as_str(), "refs/orch/handoffs/w2"),
        (chain.as_str(), "refs/orch/workers/w2"),
    ];
    for (commit, refname) in pushes {
        assert_eq!(fleet.push(&w1, commit, refname).code, 0, "{refname}");
    }
    let out = fleet.repo.worker(["sync"]).success();
    for refname in [
        "refs/orch/notes/verdicts",
        "refs/orch/workers/w1",
        "refs/orch/aa-blob",
        "refs/orch/handoffs/w2",
        "refs/orch/workers/w2",
    ] {
        assert!(
            out.stderr.contains(&format!("warning: {refname}: ")),
            "{refname}: {out}"
        );
    }
    // The gate stays closed, w1 is what the coordinator signed, w2 is live
    // and not landed, and every reader works.
    let out = fleet.repo.git(["handoff", "land", "w1"]).output();
    assert_ne!(out.code, 0, "{out}");
    let show = fleet.repo.worker(["show", "w1", "--json"]).success().json();
    assert_eq!(show["worker"]["state"], "rejected", "{show}");
    assert_eq!(
        show["worker"]["allow"],
        serde_json::json!(["a/**"]),
        "{show}"
    );
    assert_eq!(
        fleet.repo.worker(["show", "w2", "--json"]).success().json()["worker"]["state"],
        "active"
    );
    fleet.repo.git(["handoff", "list"]).success();
    fleet.repo.worker(["list"]).success();
    // The coordinator's copies went back over the forged ones.
    for refname in [
        "refs/orch/workers/w1",
        "refs/orch/workers/w2",
        "refs/orch/handoffs/w1",
    ] {
        assert_eq!(fleet.hub_ref(refname), fleet.repo.rev(refname), "{refname}");
    }
    // And a key record someone replaced there is put back.
    let other = w1.join(".git/attacker-key");
    fleet
        .repo
        .cmd_in(&w1, "ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .success();
    let public = std::fs::read_to_string(format!("{}.pub", other.display())).unwrap();
    let blob = fleet
        .on(&w1, &["hash-object", "-w", "--stdin"])
        .stdin(public)
        .read();
    let tree = fleet
        .on(&w1, &["mktree"])
        .stdin(format!("100644 blob {blob}\tcoordinator\n"))
        .read();
    let forged = fleet.commit(&w1, &tree, &[], "keys", Some(&other));
    assert_eq!(fleet.push(&w1, &forged, "refs/orch/keys").code, 0);
    fleet.repo.worker(["sync"]).output();
    assert_eq!(
        fleet.hub_ref("refs/orch/keys"),
        fleet.repo.rev("refs/orch/keys")
    );
}

/// A reviewer on a machine of their own: what they sign counts only once
/// the coordinator admits their key, and then only verdicts and their
/// events. The sync their refused approval left behind goes through then.
#[test]
fn a_reviewer_the_coordinator_admits_judges_from_their_own_machine_and_does_nothing_else() {
    let fleet = Fleet::new(true);
    let host = fleet.hub.parent().unwrap().join("reviewer");
    std::fs::create_dir_all(host.join("home")).unwrap();
    fleet
        .on(&host, &["clone", "--quiet", &fleet.url, "repo"])
        .success();
    let ann = host.join("repo");
    let coordinator =
        std::fs::read_to_string(format!("{}.pub", fleet.repo.coordinator_key().display())).unwrap();
    fleet
        .on(&ann, &["config", "orch.coordinatorKey", coordinator.trim()])
        .success();
    let key = fleet.on(&ann, &["worker", "key"]).read();
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    fleet.on(&ann, &["worker", "sync"]).success();
    fleet
        .on(&ann, &["review-gate", "approve", "w1", "-m", "read it"])
        .success();
    // Not admitted yet: the hub refuses it, and says whose it is.
    let out = fleet.on(&ann, &["worker", "sync"]).code(1);
    assert!(
        out.stderr.contains("did not take refs/orch/notes/verdicts")
            && out.stderr.contains("signed by an unknown key"),
        "{out}"
    );
    let out = fleet
        .repo
        .worker(["admit", "--reviewer", "ann", &key])
        .success();
    assert!(out.stderr.contains("admitted the key SHA256:"), "{out}");
    fleet.repo.worker(["sync"]).success();
    // Now the same sync goes through, and the coordinator's gate counts it.
    fleet.on(&ann, &["worker", "sync"]).success();
    fleet
        .repo
        .git(["config", "orch.review.require", "approve"])
        .success();
    let out = fleet.repo.worker(["sync"]).success();
    assert!(!out.stderr.contains("warning"), "{out}");
    let status = fleet.repo.git(["review-gate", "status", "w1"]).success();
    assert!(status.stdout.contains("open (policy: approve)"), "{status}");
    // A reviewer writes no other event: an `applied` in w2's log is refused.
    fleet.on(&ann, &["worker", "sync"]).success();
    let reviewer_key = host.join("home/.local/share/git-orch/keys/coordinator/key");
    let forged = fleet.forge_event(
        &ann,
        "refs/orch/workers/w2",
        "applied",
        "coordinator",
        None,
        Some(&reviewer_key),
    );
    let out = fleet.push(&ann, &forged, "refs/orch/workers/w2");
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains(
            "is a 'applied' event, which a reviewer does not write (signed by reviewer 'ann')"
        ),
        "{out}"
    );
}

/// The command line a shipped CI job runs (its last `run:`, or last
/// script line), for a test to run as the job would.
fn ci_job_command(file: &str) -> String {
    let text = std::fs::read_to_string(
        crate::support::workspace_root()
            .join("share/git-orch/ci")
            .join(file),
    )
    .unwrap();
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("git worker ci-check"))
        .unwrap();
    line.trim()
        .trim_start_matches("run: ")
        .trim_start_matches("- ")
        .to_string()
}

/// On a forge (here a remote that checks nothing), the CI job of a worker's
/// pull request: `git worker ci-check` in a fresh clone with the
/// coordinator's public key, as the shipped GitHub and GitLab jobs run it.
#[test]
fn ci_check_passes_a_worker_branch_only_within_its_contract_and_past_the_gate() {
    let fleet = Fleet::new(false);
    let w1 = fleet.w1.clone();
    // The worker commits its change and reports it: its pull request.
    fleet.on(&w1, &["add", "a/x.txt"]).success();
    fleet.on(&w1, &["commit", "--quiet", "-m", "x"]).success();
    fleet
        .on(&w1, &["handoff", "report", "--summary", "x"])
        .success();
    fleet.on(&w1, &["worker", "sync"]).success();
    let key = format!("{}.pub", fleet.repo.coordinator_key().display());
    let key_line = std::fs::read_to_string(&key).unwrap().trim().to_string();
    // The CI runner: its own HOME, a fresh clone at the worker's commit.
    let ci = fleet.hub.parent().unwrap().join("ci");
    std::fs::create_dir_all(ci.join("home")).unwrap();
    fleet
        .on(&ci, &["clone", "--quiet", &fleet.url, "job"])
        .success();
    let job = ci.join("job");
    let tip = fleet.on(&w1, &["rev-parse", "HEAD"]).read();
    fleet
        .on(&job, &["checkout", "--quiet", "--detach", &tip])
        .success();
    let check = |extra: &[&str]| {
        let mut args = vec!["worker", "ci-check", "--branch", "orch/w1", "--json"];
        args.extend_from_slice(extra);
        fleet.on(&job, &args)
    };
    let failing = |out: &crate::support::Output| -> Vec<String> {
        out.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| c["check"].as_str().unwrap().to_string())
            .collect()
    };

    // Without the coordinator's key it cannot tell, and says so.
    let out = check(&[]).code(2);
    assert!(
        out.stderr.contains("needs the coordinator's public key"),
        "{out}"
    );
    // Not approved yet: the gate is closed, the rest passes.
    let out = check(&["--coordinator-key", &key]).code(1);
    assert_eq!(failing(&out), vec!["gate"], "{out}");
    // An approval the worker forged on the forge changes nothing.
    let forged = fleet.forge_approval(&w1, Some(&fleet.key("w1")));
    assert_eq!(fleet.push(&w1, &forged, "refs/orch/notes/verdicts").code, 0);
    let out = check(&[]).code(1);
    assert_eq!(failing(&out), vec!["gate"], "{out}");
    assert!(
        out.stderr.contains("warning: refs/orch/notes/verdicts: "),
        "{out}"
    );
    // The coordinator approves (its sync replaces the forgery): it passes,
    // as the shipped jobs run it.
    fleet
        .repo
        .git(["review-gate", "approve", "w1", "-m", "read it"])
        .success();
    fleet.repo.worker(["sync"]).success();
    check(&[]).success();
    for (file, env) in [
        (
            "github-actions.yml",
            [
                ("GITHUB_HEAD_REF", "orch/w1"),
                ("COORDINATOR_KEY", key_line.as_str()),
            ],
        ),
        (
            "gitlab-ci.yml",
            [
                ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "orch/w1"),
                ("GIT_ORCH_COORDINATOR_KEY", key_line.as_str()),
            ],
        ),
    ] {
        let mut job_run = fleet
            .repo
            .cmd_in(&job, "sh", ["-c", &ci_job_command(file)])
            .env("HOME", ci.join("home"));
        for (k, v) in env {
            job_run = job_run.env(k, v);
        }
        let out = job_run.success();
        assert!(out.stdout.contains("ok       gate"), "{file}: {out}");
    }
    // A commit outside the contract, pushed to the branch: refused.
    write_file(&w1.join("c/z.txt"), "z\n");
    fleet.on(&w1, &["add", "c/z.txt"]).success();
    fleet
        .on(&w1, &["commit", "--quiet", "--no-verify", "-m", "outside"])
        .success();
    fleet
        .on(
            &w1,
            &["push", "--quiet", "origin", "HEAD:refs/heads/orch/w1"],
        )
        .success();
    fleet.on(&job, &["fetch", "--quiet", "origin"]).success();
    fleet
        .on(&job, &["checkout", "--quiet", "--detach", "origin/orch/w1"])
        .success();
    let out = check(&[]).code(1);
    assert_eq!(failing(&out), vec!["contract", "handoff"], "{out}");
    assert!(out.stdout.contains("c/z.txt"), "{out}");
}

/// A registry an earlier version wrote (format 1, nothing signed) is read
/// as it is; the first write of this version says so, records its tips as
/// history from before signing, and from then on an unsigned commit on top
/// of them counts for nothing.
#[test]
fn an_unsigned_format_1_registry_is_read_and_signed_from_then_on() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    // What the earlier version wrote: the same log, unsigned, format 1,
    // no key in the contract, and no key record.
    let commits = repo
        .git(["rev-list", "--reverse", "refs/orch/workers/w"])
        .read();
    let mut parent: Option<String> = None;
    for commit in commits.lines() {
        let edited = repo.edit_entry(repo.path(), commit, "format", |_| "1\n".to_string());
        let edited = repo.edit_entry(repo.path(), &edited, "contract.toml", |c| {
            c.lines()
                .filter(|l| !l.starts_with("key = "))
                .map(|l| format!("{l}\n"))
                .collect()
        });
        let tree = repo.rev(&format!("{edited}^{{tree}}"));
        let message = repo.git(["log", "-1", "--format=%B", commit]).read();
        let mut args = vec!["commit-tree".to_string(), tree, "-m".into(), message];
        if let Some(parent) = &parent {
            args.extend(["-p".to_string(), parent.clone()]);
        }
        parent = Some(repo.git(&args).read());
    }
    let old = parent.unwrap();
    repo.git(["update-ref", "refs/orch/workers/w", &old])
        .success();
    repo.git(["update-ref", "-d", "refs/orch/keys"]).success();

    // Read as it is.
    let show = repo.worker(["show", "w", "--json"]).success();
    assert_eq!(show.json()["worker"]["state"], "active", "{show}");
    assert_eq!(show.json()["worker"]["format"], 1, "{show}");
    // The first write says so and signs.
    let out = repo.worker(["message", "w", "hello"]).success();
    assert!(
        out.stderr
            .contains("the registry was unsigned (format 1): its 1 ref(s) are read as they are"),
        "{out}"
    );
    let record = repo.rev("refs/orch/keys");
    let legacy = repo.git(["show", &format!("{record}:legacy")]).read();
    assert_eq!(legacy, format!("{old} refs/orch/workers/w"));
    let tip = repo.rev("refs/orch/workers/w");
    assert!(
        repo.git(["cat-file", "-p", &tip])
            .read()
            .contains("gpgsig ")
    );
    // An unsigned commit on top now counts for nothing; the old history does.
    let forged = repo.edit_entry(repo.path(), &tip, "state.toml", |s| {
        s.replace("state = \"active\"", "state = \"applied\"")
    });
    let tree = repo.rev(&format!("{forged}^{{tree}}"));
    let unsigned = repo
        .git(["commit-tree", &tree, "-p", &tip, "-m", "applied w"])
        .read();
    repo.git(["update-ref", "refs/orch/workers/w", &unsigned])
        .success();
    let show = repo.worker(["show", "w", "--json"]).success();
    assert_eq!(show.json()["worker"]["state"], "active", "{show}");
    assert!(
        show.stderr
            .contains("warning: refs/orch/workers/w: ignored what follows"),
        "{show}"
    );
    let kinds: Vec<String> = repo.events("w").into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(kinds, ["spawning", "spawned", "message"], "{show}");
}

impl Fleet {
    /// A `reviewed` event in w1's own log (signed with its key) relaying
    /// `verdict` on `target`: what `git review-gate approve` writes on a
    /// joined worker's host, or anything else of the same shape.
    fn relay(&self, target: &str, verdict: serde_json::Value, n: u64) -> String {
        let dir = &self.w1;
        let tip = self.tip(dir, "refs/orch/workers/w1");
        let message = self.on(dir, &["log", "-1", "--format=%B", &tip]).read();
        let last: serde_json::Value =
            serde_json::from_str(message.lines().nth(2).unwrap()).unwrap();
        let event = serde_json::json!({
            "id": format!("{n:016x}"), "v": 2, "kind": "reviewed", "time": 1_000_000_000u64 + n,
            "actor": "worker", "clock": last["clock"].as_u64().unwrap() + 1,
            "data": {"target": target, "verdict": verdict},
        });
        let tree = self.tip(dir, &format!("{tip}^{{tree}}"));
        let commit = self.commit(
            dir,
            &tree,
            &[&tip],
            &format!("reviewed w1\n\n{event}\n"),
            Some(&self.key("w1")),
        );
        self.on(dir, &["update-ref", "refs/orch/workers/w1", &commit])
            .success();
        commit
    }
}

/// A joined worker's relayed verdicts are its own approvals and
/// rejections of another worker's handoff as it is, or nothing: a
/// malformed one, one of a newer format, one on another target than it
/// names, a run, and a flood are each skipped with a warning, and the
/// coordinator's sync goes on and records the one good verdict once.
#[test]
fn relayed_verdicts_count_only_as_a_workers_own_review_of_a_handoff() {
    let fleet = Fleet::new(true);
    let w2 = fleet.w2.clone();
    write_file(&w2.join("b/y.txt"), "y\n");
    fleet
        .on(&w2, &["handoff", "report", "--summary", "y"])
        .success();
    fleet.on(&w2, &["worker", "sync"]).success();
    fleet.on(&fleet.w1, &["worker", "sync"]).success();
    let handoff = fleet.tip(&fleet.w1, "refs/orch/handoffs/w2");
    let meta = fleet
        .on(&fleet.w1, &["show", &format!("{handoff}:handoff.toml")])
        .read();
    let field = |name: &str| {
        meta.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .unwrap()
            .trim_end_matches('"')
            .to_string()
    };
    let verdict = |id: &str, ruling: &str| {
        serde_json::json!({
            "time": 4_000_000_000u64, "id": id, "v": 2, "ruling": ruling,
            "by": "Alice <a@example.com>", "actor": "worker:w1", "worker": "w2",
            "base": field("base"), "tree": field("tree"), "fingerprint": field("fingerprint"),
            "message": "read it", "findings": ["bad"],
        })
    };
    let main = fleet.repo.rev("main");
    let mut bad = verdict("bad-tree", "approve");
    bad["tree"] = "nothex".into();
    let mut newer = verdict("newer", "approve");
    newer["v"] = 99.into();
    let mut n = 0;
    let mut relay = |target: &str, v: serde_json::Value| {
        n += 1;
        fleet.relay(target, v, n)
    };
    relay(&handoff, bad);
    relay(&handoff, newer);
    relay(&main, verdict("elsewhere", "reject"));
    relay(&handoff, verdict("a-run", "pass"));
    for i in 0..30 {
        relay(&handoff, verdict(&format!("flood-{i}"), "approve"));
    }
    let out = fleet.on(&fleet.w1, &["worker", "sync"]).success();
    assert!(out.stderr.contains("1 pushed"), "{out}");
    let out = fleet.repo.worker(["sync"]).success();
    assert!(out.stderr.contains("recorded 1 verdict(s)"), "{out}");
    for why in [
        "is not bound to the handoff",
        "verdict format 99",
        "its target is not a worker's handoff",
        "a 'pass' verdict: only the coordinator's runs count",
    ] {
        assert!(
            out.stderr
                .contains("warning: ignored a verdict relayed by worker 'w1': "),
            "{out}"
        );
        assert!(out.stderr.contains(why), "{why}: {out}");
    }
    // w2 stays as it was, its note holds the one approval (the newest),
    // dated no later than now.
    let show = fleet.repo.worker(["show", "w2", "--json"]).success().json();
    assert_eq!(show["worker"]["state"], "reported", "{show}");
    let notes = fleet.repo.rev("refs/orch/notes/verdicts");
    let note = fleet
        .repo
        .git([
            "cat-file",
            "-p",
            &format!("{notes}:{}/{}", &handoff[..2], &handoff[2..]),
        ])
        .read();
    assert_eq!(note.lines().count(), 1, "{note}");
    assert!(note.contains("\"id\":\"flood-29\""), "{note}");
    assert!(!note.contains("4000000000"), "{note}");
    // Once: the next sync records nothing.
    let out = fleet.repo.worker(["sync"]).success();
    assert!(!out.stderr.contains("recorded"), "{out}");
    // A newer-format line, or a run, pushed straight into the notes: refused.
    let w1 = fleet.w1.clone();
    fleet.on(&w1, &["worker", "sync"]).success();
    let notes = fleet.tip(&w1, "refs/orch/notes/verdicts");
    for (line, why) in [
        (
            serde_json::json!({"time": 1, "id": "p99", "v": 99, "ruling": "approve", "by": "B",
                "actor": "worker:w1", "worker": "w2", "base": "b", "tree": "t", "fingerprint": "f"}),
            "adds a verdict of format 99",
        ),
        (
            serde_json::json!({"time": 4_000_000_000u64, "id": "run", "v": 2, "ruling": "pass", "by": "B",
                "actor": "worker:w1", "worker": "w2", "base": "b", "tree": "t", "fingerprint": "f"}),
            "adds a 'pass' verdict, which only the coordinator's runs give",
        ),
    ] {
        let tree = fleet.notes_tree(&w1, Some(&notes), &format!("{line}\n"));
        let commit = fleet.commit(&w1, &tree, &[&notes], "Notes", Some(&fleet.key("w1")));
        let out = fleet.push(&w1, &commit, "refs/orch/notes/verdicts");
        assert_ne!(out.code, 0, "{out}");
        assert!(out.stderr.contains(why), "{why}: {out}");
    }
}

/// A long history of a worker's own, each commit validly signed, is
/// checked once per machine: what a command found entitled is kept (under
/// the keys it was checked against) for the next. A set kept under other
/// keys is not used, and nothing unentitled is ever kept.
#[test]
fn a_long_history_is_checked_once_per_machine_under_the_keys_it_was_checked_against() {
    let fleet = Fleet::new(false);
    let w1 = fleet.w1.clone();
    let key = fleet.key("w1");
    let mut tip = fleet.tip(&w1, "refs/orch/workers/w1");
    let tree = fleet.tip(&w1, &format!("{tip}^{{tree}}"));
    let message = fleet.on(&w1, &["log", "-1", "--format=%B", &tip]).read();
    let mut event: serde_json::Value =
        serde_json::from_str(message.lines().nth(2).unwrap()).unwrap();
    let mut chain = Vec::new();
    for i in 0..120u64 {
        event["kind"] = "notice".into();
        event["actor"] = "worker".into();
        event["id"] = format!("{:016x}", 0xabc000 + i).into();
        event["clock"] = (event["clock"].as_u64().unwrap() + 1).into();
        event["data"] = serde_json::json!({"level": "info", "text": format!("n{i}")});
        tip = fleet.commit(
            &w1,
            &tree,
            &[&tip],
            &format!("notice w1\n\n{event}\n"),
            Some(&key),
        );
        chain.push(tip.clone());
    }
    // And one it may not write on top.
    let applied = {
        let mut e = event.clone();
        e["kind"] = "applied".into();
        e["actor"] = "coordinator".into();
        e["clock"] = (e["clock"].as_u64().unwrap() + 1).into();
        fleet.commit(
            &w1,
            &tree,
            &[&tip],
            &format!("applied w1\n\n{e}\n"),
            Some(&key),
        )
    };
    assert_eq!(fleet.push(&w1, &applied, "refs/orch/workers/w1").code, 0);
    let out = fleet.repo.worker(["sync"]).success();
    assert!(
        out.stderr
            .contains("warning: refs/orch/workers/w1: ignored what follows"),
        "{out}"
    );
    let checked = std::fs::read_to_string(fleet.repo.path().join(".git/orch/checked")).unwrap();
    let stamp = checked.lines().next().unwrap().to_string();
    assert!(stamp.starts_with("v1 anchors=SHA256:"), "{stamp}");
    for commit in &chain {
        assert!(
            checked.contains(&format!("{commit} log:w1")),
            "{commit} not kept"
        );
    }
    assert!(!checked.contains(&applied), "an unentitled commit was kept");
    // The next command reads what was kept: the same answer.
    let show = fleet.repo.worker(["show", "w1", "--json"]).success().json();
    assert_eq!(show["worker"]["state"], "reported", "{show}");
    // A set kept under other keys is not used: with the forged commit in
    // the local log and listed there as checked, it is judged afresh (and
    // refused).
    fleet
        .repo
        .git(["update-ref", "refs/orch/workers/w1", &applied])
        .success();
    std::fs::write(
        fleet.repo.path().join(".git/orch/checked"),
        format!("v1 anchors=SHA256:someone-else reviewers= legacy=0\n{applied} log:w1\n"),
    )
    .unwrap();
    let show = fleet.repo.worker(["show", "w1", "--json"]).success();
    assert_eq!(show.json()["worker"]["state"], "reported", "{show}");
    assert!(show.stderr.contains("ignored what follows"), "{show}");
}
