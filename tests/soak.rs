//! The soak: many workers through the whole loop at once (spawn, work,
//! notices and messages, report, review gate, landing, cleanup by two
//! cleanups racing each other) while other threads run the coordinator's
//! commands against the same repository.
//! Afterwards: `doctor` is clean, every worker's events are in its log
//! exactly once and in order, every change is in `main`, `git fsck` is
//! clean and nothing is left behind.
//!
//! The outcome does not depend on timing: the order between threads comes
//! from channels and `git worker wait`, never from sleeps, and every
//! assertion holds whichever process wins each race.
//!
//! The 8-worker soak runs in the quick suite (a few seconds). The 50-worker
//! soak is ignored (long); run it with
//! `cargo test -p e2e soak -- --include-ignored` (README, "Development").
//! Last, two focused tests pin one race deterministically: a cleanup
//! while an apply verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};

use crate::support::{Output, Run, TestRepo, workspace_root, write_file};

/// Workers driven through the loop at once.
const PIPELINES: usize = 8;
/// Threads answering workers (messages, and blocking notices).
const MESSENGERS: usize = 2;
/// Threads running read-only coordinator commands in a loop.
const OBSERVERS: usize = 2;

#[test]
fn soak_8_workers_through_the_whole_loop_with_a_busy_coordinator() {
    soak(8);
}

#[test]
#[ignore = "long: the 50-worker soak; run with cargo test -p e2e soak -- --include-ignored"]
fn soak_50_workers_through_the_whole_loop_with_a_busy_coordinator() {
    soak(50);
}

/// What worker number `index` does, and what it must leave behind.
struct Plan {
    index: usize,
    id: String,
}

impl Plan {
    fn new(index: usize) -> Plan {
        Plan {
            index,
            id: format!("w{index:02}"),
        }
    }

    fn dir(&self) -> String {
        format!("src/{}", self.id)
    }

    /// How it works: 0 one commit; 1 two commits and an uncommitted edit;
    /// 2 no commit (untracked and staged files); 3 a commit, an uncommitted
    /// edit of a file of the base and an untracked file.
    fn variant(&self) -> usize {
        self.index % 4
    }

    /// It sends an info notice while working.
    fn notes(&self) -> bool {
        self.index.is_multiple_of(2)
    }

    /// It stops with a blocking notice and waits for the coordinator's answer.
    fn blocks(&self) -> bool {
        self.index % 10 == 3
    }

    /// What the coordinator tells it (the answer to its blocking notice, or
    /// a plain message); it writes it into `inbox.txt`, which its
    /// verification checks.
    fn message(&self) -> String {
        if self.blocks() {
            format!("answer for {}: go ahead", self.id)
        } else {
            format!("hello {}", self.id)
        }
    }

    fn verify(&self) -> [String; 2] {
        let dir = self.dir();
        [
            format!("test -f {dir}/a.txt"),
            format!("grep -qxF '{}' {dir}/inbox.txt", self.message()),
        ]
    }

    /// How it lands: alone through `git handoff apply`, or in a pair
    /// through the `git handoff land` queue.
    fn applied_alone(&self) -> bool {
        self.index.is_multiple_of(3)
    }

    /// The files under its directory in `main` once it has landed.
    fn files(&self) -> BTreeMap<String, String> {
        let id = &self.id;
        let mut files = BTreeMap::new();
        let mut put = |name: &str, text: String| {
            files.insert(format!("{}/{name}", self.dir()), text);
        };
        put("seed.txt", format!("seed {id}\n"));
        put("inbox.txt", format!("{}\n", self.message()));
        match self.variant() {
            0 => put("a.txt", format!("{id} a\n")),
            1 => {
                put("a.txt", format!("{id} a\n{id} a2\n"));
                put("b.txt", format!("{id} b\n"));
            }
            2 => {
                put("a.txt", format!("{id} a\n"));
                put("b.txt", format!("{id} b\n"));
            }
            _ => {
                put("a.txt", format!("{id} a\n"));
                put("c.txt", format!("{id} c\n"));
                put("seed.txt", format!("seed {id}\nchanged\n"));
            }
        }
        files
    }

    /// Its whole log: (kind, actor), oldest first.
    fn events(&self) -> Vec<(String, String)> {
        let mut events = vec![("spawning", "coordinator"), ("spawned", "coordinator")];
        if self.notes() {
            events.push(("notice", "worker"));
        }
        if self.blocks() {
            events.push(("notice", "worker"));
        }
        events.extend([
            ("message", "coordinator"),
            ("read", "worker"),
            ("reported", "worker"),
            ("verified", "coordinator"),
            ("approved", "coordinator"),
            ("applied", "coordinator"),
            ("removed", "coordinator"),
        ]);
        events
            .into_iter()
            .map(|(kind, actor)| (kind.to_string(), actor.to_string()))
            .collect()
    }
}

/// A request to the messengers: tell worker `id` its message (after it
/// blocked, if it `blocks`), then say so on `done`.
struct Request {
    id: String,
    blocks: bool,
    text: String,
    done: mpsc::Sender<()>,
}

struct Soak {
    repo: TestRepo,
    /// $TMPDIR of every command: where the review gate's scratch clones go.
    tmp: PathBuf,
    /// MANPATH of every command: the git-worker man page, installed, so
    /// that doctor has nothing to say about the installation either.
    man: PathBuf,
}

impl Soak {
    fn new(plans: &[Plan]) -> Soak {
        let repo = TestRepo::new();
        repo.write("README.md", "soak\n");
        for plan in plans {
            repo.write(
                &format!("{}/seed.txt", plan.dir()),
                &format!("seed {}\n", plan.id),
            );
        }
        repo.git(["add", "."]).success();
        repo.git(["commit", "--quiet", "-m", "initial"]).success();
        repo.git(["config", "orch.review.require", "both"])
            .success();
        let tmp = repo.root().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let man = repo.root().join("man");
        std::fs::create_dir_all(man.join("man1")).unwrap();
        std::fs::copy(
            workspace_root().join("man/git-worker.1"),
            man.join("man1/git-worker.1"),
        )
        .unwrap();
        Soak { repo, tmp, man }
    }

    /// `git <args>` in `dir`.
    fn git_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, dir: &Path, args: I) -> Run {
        self.repo
            .git_in(dir, args)
            .env("TMPDIR", &self.tmp)
            .env("MANPATH", &self.man)
    }

    /// `git <args>` in the coordinator's checkout.
    fn git<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.git_in(self.repo.path(), args)
    }

    /// `git <args>` in worker `id`'s checkout.
    fn git_at<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, id: &str, args: I) -> Run {
        self.git_in(&self.repo.worktree(id), args)
    }

    /// Write `name` in worker `id`'s directory of its checkout.
    fn write(&self, id: &str, name: &str, text: &str) {
        let path = format!("src/{id}/{name}");
        write_file(&self.repo.worktree(id).join(path), text);
    }

    /// Commit `paths` of worker `id`'s directory in its checkout.
    fn commit(&self, id: &str, paths: &[&str], message: &str) {
        let paths: Vec<String> = paths.iter().map(|p| format!("src/{id}/{p}")).collect();
        self.git_at(id, ["add", "--"]).args(&paths).success();
        self.git_at(id, ["commit", "--quiet", "-m", message])
            .success();
    }
}

/// Run and require success, naming `what` when it fails.
#[track_caller]
fn ok(run: Run, what: &str) -> Output {
    let out = run.output();
    assert_eq!(out.code, 0, "{what}: expected success:\n{out}");
    out
}

/// Worker `plan` through spawn, work, messages, report and review.
fn pipeline(soak: &Soak, plan: &Plan, messengers: &mpsc::Sender<Request>) {
    let id = plan.id.as_str();
    let [verify_file, verify_inbox] = plan.verify();
    ok(
        soak.git([
            "worker",
            "spawn",
            id,
            "--allow",
            &format!("{}/**", plan.dir()),
            "--verify",
            &verify_file,
            "--verify",
            &verify_inbox,
            "--label",
            "soak=yes",
            "--description",
            &format!("soak worker {}", plan.index),
        ]),
        &format!("spawn {id}"),
    );

    // Work, first part.
    let a = format!("{id} a\n");
    match plan.variant() {
        0 => {
            soak.write(id, "a.txt", &a);
            soak.commit(id, &["a.txt"], "a");
        }
        1 => {
            soak.write(id, "a.txt", &a);
            soak.commit(id, &["a.txt"], "a");
            soak.write(id, "b.txt", &format!("{id} b\n"));
            soak.commit(id, &["b.txt"], "b");
            soak.write(id, "a.txt", &format!("{a}{id} a2\n"));
        }
        2 => {
            soak.write(id, "a.txt", &a);
            soak.write(id, "b.txt", &format!("{id} b\n"));
            ok(
                soak.git_at(id, ["add", "--", &format!("src/{id}/b.txt")]),
                &format!("{id}: git add"),
            );
        }
        _ => {
            soak.write(id, "a.txt", &a);
            soak.commit(id, &["a.txt"], "a");
            soak.write(id, "seed.txt", &format!("seed {id}\nchanged\n"));
            soak.write(id, "c.txt", &format!("{id} c\n"));
        }
    }
    if plan.notes() {
        ok(
            soak.git_at(id, ["worker", "notify", &format!("{id}: first part done")]),
            &format!("{id}: notify"),
        );
    }

    // The conversation: a message from the coordinator, or for a worker
    // that blocks, the answer to its blocking notice.
    let (done, answered) = mpsc::channel();
    messengers
        .send(Request {
            id: id.to_string(),
            blocks: plan.blocks(),
            text: plan.message(),
            done,
        })
        .unwrap();
    if plan.blocks() {
        ok(
            soak.git_at(
                id,
                [
                    "worker",
                    "notify",
                    "--level",
                    "blocking",
                    &format!("{id}: I need an answer before I go on"),
                ],
            ),
            &format!("{id}: blocking notice"),
        );
    }
    answered
        .recv()
        .unwrap_or_else(|_| panic!("{id}: the messenger gave up"));
    let inbox = ok(
        soak.git_at(id, ["worker", "inbox", "--json"]),
        &format!("{id}: inbox"),
    )
    .json();
    let texts: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [plan.message()], "{id}: inbox {inbox}");

    // Work, second part: what it was told.
    soak.write(id, "inbox.txt", &format!("{}\n", texts[0]));
    ok(
        soak.git_at(
            id,
            [
                "handoff",
                "report",
                "--summary",
                &format!("{id}: soak work\n\nConclusion: {id} is done."),
            ],
        ),
        &format!("{id}: report"),
    );

    // Review: a passing run in a clean checkout, then an approval.
    let out = ok(
        soak.git(["review-gate", "run", id]),
        &format!("{id}: gate run"),
    );
    assert!(
        out.stderr.contains(&format!(
            "verdict: pass for the handoff of '{id}' (2 of 2 command(s) passed)"
        )),
        "{id}: {out}"
    );
    ok(
        soak.git(["review-gate", "approve", id, "-m", &format!("read {id}")]),
        &format!("{id}: approve"),
    );
}

/// Answer requests until every pipeline has gone.
fn messenger(soak: &Soak, requests: &Mutex<mpsc::Receiver<Request>>) {
    loop {
        let request = requests.lock().unwrap().recv();
        let Ok(request) = request else { return };
        let id = request.id.as_str();
        if request.blocks {
            // Returns once the notice is in the registry (a watch, not polling).
            ok(
                soak.git([
                    "worker",
                    "wait",
                    id,
                    "--until",
                    "blocked",
                    "--timeout",
                    "300",
                ]),
                &format!("wait for {id} to block"),
            );
        }
        let out = ok(
            soak.git(["worker", "message", id, &request.text]),
            &format!("message {id}"),
        );
        if request.blocks {
            assert!(
                out.stderr.contains("the worker is active again"),
                "{id}: {out}"
            );
        }
        request.done.send(()).unwrap();
    }
}

/// Land reviewed workers one landing at a time, alternating `apply` of one
/// and `land` of two; after each landing, nudge the janitor.
fn lander(soak: &Soak, plans: &[Plan], reviewed: mpsc::Receiver<usize>, janitor: mpsc::Sender<()>) {
    let land = |ids: &[&str]| {
        let out = ok(
            soak.git(["handoff", "land"]).args(ids),
            &format!("land {ids:?}"),
        );
        let n = ids.len();
        assert!(
            out.stderr.contains(&format!("landed {n} of {n}: "))
                && out.stderr.contains("; failed: none"),
            "{ids:?}: {out}"
        );
        janitor.send(()).unwrap();
    };
    let mut pair: Vec<&str> = Vec::new();
    for index in reviewed {
        let plan = &plans[index];
        if plan.applied_alone() {
            let out = ok(
                soak.git(["handoff", "apply", &plan.id]),
                &format!("apply {}", plan.id),
            );
            assert!(
                out.stderr.contains(&format!(
                    "applied the handoff of '{}' as {}; 2 verification command(s) passed",
                    plan.id,
                    &out.stdout.trim()[..7]
                )),
                "{out}"
            );
            janitor.send(()).unwrap();
        } else {
            pair.push(&plan.id);
            if pair.len() == 2 {
                land(&pair);
                pair.clear();
            }
        }
    }
    if !pair.is_empty() {
        land(&pair);
    }
}

/// Run `cleanup --landed` after each landing (several nudges at once make
/// one run), twice at once, so that two cleanups race to remove the same
/// workers; return the workers they removed, with the reasons (each must
/// be removed by exactly one of them).
fn janitor(soak: &Soak, nudges: mpsc::Receiver<()>) -> Vec<(String, String)> {
    let mut removed = Vec::new();
    while nudges.recv().is_ok() {
        while nudges.try_recv().is_ok() {}
        let cleanup = || {
            ok(
                soak.git(["worker", "cleanup", "--landed"]),
                "cleanup --landed",
            )
        };
        let (first, second) = std::thread::scope(|scope| {
            let other = scope.spawn(cleanup);
            (cleanup(), other.join().unwrap())
        });
        removed.extend(removals(&first));
        removed.extend(removals(&second));
    }
    removed
}

/// `removed worker 'id' (branch '...'): why` lines.
fn removals(out: &Output) -> Vec<(String, String)> {
    out.stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("removed worker '")?;
            let (id, rest) = rest.split_once('\'')?;
            let (_, why) = rest.split_once("): ")?;
            Some((id.to_string(), why.to_string()))
        })
        .collect()
}

/// Run coordinator command `args`; an exit status other than `codes`, or
/// (with `json`) output that is not JSON, is a complaint.
fn observe(
    soak: &Soak,
    args: &[&str],
    codes: &[i32],
    complaints: &mut Vec<String>,
) -> Option<Output> {
    let out = soak.git(args).output();
    if !codes.contains(&out.code) {
        // The first lines say enough (check lists every worker).
        let said: Vec<&str> = [out.stdout.as_str(), out.stderr.as_str()]
            .into_iter()
            .flat_map(|text| text.lines().take(6))
            .collect();
        complaints.push(format!(
            "git {}: exit status {}: {}",
            args.join(" "),
            out.code,
            said.join("\n")
        ));
        return None;
    }
    Some(out)
}

fn observe_json(
    soak: &Soak,
    args: &[&str],
    complaints: &mut Vec<String>,
) -> Option<serde_json::Value> {
    let out = observe(soak, args, &[0], complaints)?;
    match serde_json::from_str(&out.stdout) {
        Ok(json) => Some(json),
        Err(err) => {
            complaints.push(format!("git {}: not JSON ({err}):\n{out}", args.join(" ")));
            None
        }
    }
}

/// Read-only coordinator commands, over and over until `done`. Each must
/// succeed and print well-formed output; what went wrong is collected (and
/// judged after the end state, so that one run shows everything). Returns
/// how many rounds it ran, and the complaints.
fn observer(soak: &Soak, which: usize, done: &AtomicBool) -> (usize, Vec<String>) {
    let states = [
        "spawning", "active", "blocked", "reported", "applied", "rejected", "removed",
    ];
    let mut complaints = Vec::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let c = &mut complaints;
        observe(soak, &["worker", "list"], &[0], c);
        let mut reported = Vec::new();
        if let Some(list) = observe_json(soak, &["worker", "list", "--json"], c) {
            for worker in list["workers"].as_array().into_iter().flatten() {
                let state = worker["state"].as_str().unwrap_or("");
                if !states.contains(&state) {
                    c.push(format!("list --json: a worker in no known state: {worker}"));
                }
                if matches!(state, "reported" | "applied") {
                    reported.push(worker["id"].as_str().unwrap_or("").to_string());
                }
            }
        }
        if let Some(dashboard) = observe_json(soak, &["worker", "dashboard", "--json"], c)
            && dashboard["overlaps"] != serde_json::json!([])
        {
            c.push(format!(
                "dashboard --json: overlaps between disjoint workers: {}",
                dashboard["overlaps"]
            ));
        }
        if let Some(timeline) = observe(soak, &["worker", "timeline", "--json"], &[0], c) {
            for line in timeline.stdout.lines() {
                let event = serde_json::from_str::<serde_json::Value>(line);
                if !event.is_ok_and(|e| e["kind"].is_string() && e["worker"].is_string()) {
                    c.push(format!("timeline --json: a bad line: {line}"));
                }
            }
        }
        observe(soak, &["handoff", "list"], &[0], c);
        // Every worker keeps to its contract.
        observe(soak, &["worker", "check"], &[0], c);
        // The gate of a worker that has reported: open or closed, never an
        // error (it is still answered once the worker has been cleaned up).
        if let Some(id) = reported.get(rounds % 3).or(reported.first()) {
            observe(soak, &["review-gate", "status", id], &[0, 1], c);
        }
        // doctor while everything moves: spawns, gate runs and removals in
        // flight are not problems.
        if which == 0
            && let Some(doctor) = observe(soak, &["worker", "doctor", "--json"], &[0, 1], c)
        {
            let json: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap_or_default();
            let failed: Vec<String> = json["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|check| check["ok"] != true)
                .map(|check| format!("{}: {}", check["check"], check["detail"]))
                .collect();
            if doctor.code != 0 || !failed.is_empty() {
                c.push(format!(
                    "git worker doctor --json: exit status {}: {}",
                    doctor.code,
                    failed.join("; ")
                ));
            }
        }
        if done.load(Ordering::SeqCst) {
            return (rounds, complaints);
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn soak(n: usize) {
    let plans: Vec<Plan> = (0..n).map(Plan::new).collect();
    let soak = Soak::new(&plans);
    let started = std::time::Instant::now();

    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let (request_tx, request_rx) = mpsc::channel::<Request>();
    let requests = Mutex::new(request_rx);
    let (reviewed_tx, reviewed_rx) = mpsc::channel::<usize>();
    let (nudge_tx, nudge_rx) = mpsc::channel::<()>();

    let (removed, observed) = std::thread::scope(|scope| {
        let observers: Vec<_> = (0..OBSERVERS)
            .map(|which| {
                let (soak, done) = (&soak, &done);
                scope.spawn(move || observer(soak, which, done))
            })
            .collect();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let pipelines: Vec<_> = (0..PIPELINES)
                .map(|_| {
                    let (soak, plans, next) = (&soak, &plans, &next);
                    let (requests, reviewed) = (request_tx.clone(), reviewed_tx.clone());
                    scope.spawn(move || {
                        loop {
                            let index = next.fetch_add(1, Ordering::SeqCst);
                            if index >= plans.len() {
                                return;
                            }
                            pipeline(soak, &plans[index], &requests);
                            reviewed.send(index).unwrap();
                        }
                    })
                })
                .collect();
            drop((request_tx, reviewed_tx));
            let messengers: Vec<_> = (0..MESSENGERS)
                .map(|_| {
                    let (soak, requests) = (&soak, &requests);
                    scope.spawn(move || messenger(soak, requests))
                })
                .collect();
            let lander = {
                let (soak, plans) = (&soak, &plans);
                scope.spawn(move || lander(soak, plans, reviewed_rx, nudge_tx))
            };
            let janitor = {
                let soak = &soak;
                scope.spawn(move || janitor(soak, nudge_rx))
            };
            for handle in pipelines.into_iter().chain(messengers).chain([lander]) {
                handle.join().unwrap();
            }
            janitor.join().unwrap()
        }));
        done.store(true, Ordering::SeqCst);
        let observed: Vec<(usize, Vec<String>)> =
            observers.into_iter().map(|h| h.join().unwrap()).collect();
        match outcome {
            Ok(removed) => (removed, observed),
            Err(panic) => resume_unwind(panic),
        }
    });
    let rounds: Vec<usize> = observed.iter().map(|(rounds, _)| *rounds).collect();
    eprintln!(
        "soak of {n} workers: {:.1} s (observer rounds: {rounds:?})",
        started.elapsed().as_secs_f64()
    );

    // The last landing's cleanup may have run before it finished recording:
    // one more sweep, then every worker has been removed exactly once.
    let last = ok(soak.git(["worker", "cleanup", "--landed"]), "final cleanup");
    let mut removed = removed;
    removed.extend(removals(&last));
    let mut removed_ids: Vec<&str> = removed.iter().map(|(id, _)| id.as_str()).collect();
    removed_ids.sort_unstable();
    let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(removed_ids, ids, "removed by cleanup: {removed:?}");
    for (id, why) in &removed {
        assert!(why.starts_with("landed: "), "{id}: {why}");
    }

    assert_clean(&soak, &plans);

    // Last, so that everything above is checked whatever the observers saw.
    let complaints: Vec<&String> = observed.iter().flat_map(|(_, c)| c).collect();
    assert!(
        complaints.is_empty(),
        "coordinator commands failed or found problems while the soak ran (nothing was wrong):\n{}",
        complaints
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Everything the loop must leave: a healthy registry, every event, every
/// change, a sound object store, and nothing else.
fn assert_clean(soak: &Soak, plans: &[Plan]) {
    let repo = &soak.repo;
    let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();

    // doctor: nothing to report.
    let out = ok(soak.git(["worker", "doctor"]), "doctor");
    assert!(!out.stdout.contains("problem"), "{out}");
    assert_eq!(out.stderr, "", "{out}");

    // Every event of every worker, exactly once and in order, in its
    // archived log and in the timeline; clocks 1, 2, 3...: one linear log.
    let timeline = ok(soak.git(["worker", "timeline", "--json"]), "timeline").stdout;
    let mut by_worker: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in timeline.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        by_worker
            .entry(event["worker"].as_str().unwrap().to_string())
            .or_default()
            .push((
                event["kind"].as_str().unwrap().to_string(),
                event["actor"].as_str().unwrap().to_string(),
            ));
    }
    assert_eq!(
        by_worker.keys().map(String::as_str).collect::<Vec<_>>(),
        ids,
        "workers in the timeline"
    );
    for plan in plans {
        let id = &plan.id;
        let expected = plan.events();
        assert_eq!(by_worker[id], expected, "{id}: the timeline's events");
        let log = ok(soak.git(["worker", "log", id, "--json"]), "log").json();
        assert_eq!(log["archived"], true, "{id}: {log}");
        let events = log["events"].as_array().unwrap();
        let kinds: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["actor"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(kinds, expected, "{id}: its log");
        let clocks: Vec<u64> = events
            .iter()
            .map(|e| e["clock"].as_u64().unwrap())
            .collect();
        let linear: Vec<u64> = (1..=expected.len() as u64).collect();
        assert_eq!(clocks, linear, "{id}: clocks");
        // Its gate is open (a pass and an approval, neither stale).
        ok(
            soak.git(["review-gate", "status", id]),
            &format!("{id}: gate"),
        );
    }

    // Every change landed once, in main, with its files as the worker left them.
    let trailers = repo
        .git(["log", "main", "--format=%(trailers:key=Worker,valueonly)"])
        .read();
    let mut landed: Vec<&str> = trailers.lines().filter(|l| !l.is_empty()).collect();
    landed.sort_unstable();
    assert_eq!(landed, ids, "the Worker: trailers in main");
    for plan in plans {
        let files = plan.files();
        let listed = repo
            .git(["ls-tree", "-r", "--name-only", "main", "--", &plan.dir()])
            .read();
        assert_eq!(
            lines(&listed),
            files.keys().cloned().collect::<Vec<_>>(),
            "{}: files in main",
            plan.id
        );
        for (path, text) in &files {
            let content = repo.git(["show", &format!("main:{path}")]).success().stdout;
            assert_eq!(&content, text, "{path} in main");
        }
    }
    let status = repo
        .git(["status", "--porcelain", "--untracked-files=all"])
        .read();
    assert_eq!(status, "", "the coordinator's checkout is not clean");

    // The object store.
    let fsck = ok(
        repo.git([
            "fsck",
            "--strict",
            "--full",
            "--no-dangling",
            "--no-progress",
        ]),
        "fsck",
    );
    assert_eq!(
        (fsck.stdout.as_str(), fsck.stderr.as_str()),
        ("", ""),
        "{fsck}"
    );

    // Nothing left: worktrees, branches, live entries, scratch clones,
    // journals, checkouts, debris.
    let worktrees = repo.git(["worktree", "list", "--porcelain"]).read();
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    let refs = |prefix: &str| {
        lines(
            &repo
                .git(["for-each-ref", "--format=%(refname)", prefix])
                .read(),
        )
    };
    assert_eq!(refs("refs/heads/"), ["refs/heads/main"]);
    assert_eq!(refs("refs/orch/workers/"), Vec::<String>::new());
    let archived: BTreeSet<String> = refs("refs/orch/archive/")
        .iter()
        .map(|r| r.split('/').nth(3).unwrap().to_string())
        .collect();
    assert_eq!(archived.iter().map(String::as_str).collect::<Vec<_>>(), ids);
    assert_eq!(
        refs("refs/orch/archive/").len(),
        ids.len(),
        "one archive each"
    );
    let list = ok(soak.git(["worker", "list", "--json"]), "list").json();
    assert_eq!(list["workers"], serde_json::json!([]), "{list}");
    let entries = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        entries(&soak.tmp),
        Vec::<String>::new(),
        "scratch clones left"
    );
    assert_eq!(
        entries(&repo.root().join("repo.worktrees")),
        Vec::<String>::new(),
        "checkouts left"
    );
    assert_eq!(
        entries(&repo.path().join(".git/orch/gate")),
        Vec::<String>::new()
    );
    let journals: Vec<String> = entries(&repo.path().join(".git/orch/local"))
        .into_iter()
        .filter(|f| f.ends_with(".spawning"))
        .collect();
    assert_eq!(journals, Vec::<String>::new(), "spawn journals left");
    let prune = ok(
        soak.git(["worker", "prune", "--dry-run"]),
        "prune --dry-run",
    );
    assert_eq!(
        (prune.stdout.as_str(), prune.stderr.as_str()),
        ("", "nothing to prune\n")
    );
}

/// `git worker cleanup --landed` while `git handoff apply` verifies a
/// change: the handoff's commit is in HEAD, its outcome not yet recorded.
/// The verification blocks on a FIFO until the cleanup is over (no sleeps):
/// opening the FIFO for writing returns once the verification has opened it.
fn cleanup_while_verifying(passes: bool) -> (TestRepo, Output, Output) {
    let repo = TestRepo::with_commit();
    let fifo = repo.root().join("verifying");
    repo.cmd_in(repo.root(), "mkfifo", [&fifo]).success();
    let verify = format!(
        "cat '{}' >/dev/null{}",
        fifo.display(),
        if passes { "" } else { "; false" }
    );
    repo.worker(["spawn", "a", "--allow", "src/**", "--verify", &verify])
        .success();
    let wt = repo.worktree("a");
    write_file(&wt.join("src/a.txt"), "a\n");
    repo.git_in(&wt, ["add", "."]).success();
    repo.git_in(&wt, ["commit", "--quiet", "-m", "a"]).success();
    repo.git_in(&wt, ["handoff", "report", "--summary", "a"])
        .success();
    let (apply, cleanup) = std::thread::scope(|scope| {
        let apply = scope.spawn(|| {
            let out = repo.git(["handoff", "apply", "a"]).output();
            // However it ended, the open below no longer waits for a reader.
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo);
            out
        });
        let verifying = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let cleanup = repo.worker(["cleanup", "--landed"]).output();
        drop(verifying);
        (apply.join().unwrap(), cleanup)
    });
    (repo, apply, cleanup)
}

#[test]
fn a_cleanup_while_an_apply_verifies_loses_none_of_its_events() {
    let (repo, apply, cleanup) = cleanup_while_verifying(true);
    assert_eq!(cleanup.code, 0, "{cleanup}");
    assert_eq!(
        apply.code, 0,
        "apply, with a cleanup during its verification:\n{apply}\ncleanup:\n{cleanup}"
    );
    repo.worker(["cleanup", "--landed"]).success();
    let kinds: Vec<String> = repo.events("a").into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(
        kinds,
        ["spawning", "spawned", "reported", "applied", "removed"],
        "cleanup during the apply:\n{cleanup}"
    );
}

#[test]
fn a_cleanup_while_an_apply_verifies_does_not_take_a_change_that_is_rolled_back() {
    let (repo, apply, cleanup) = cleanup_while_verifying(false);
    assert_eq!(cleanup.code, 0, "{cleanup}");
    assert!(
        !cleanup.stdout.contains("removed worker 'a'"),
        "a worker whose change is being verified was removed as landed:\n{cleanup}\napply:\n{apply}"
    );
    assert_eq!(apply.code, 1, "{apply}");
    let history = repo.git(["log", "--format=%s", "main"]).read();
    assert_eq!(history, "initial", "the failed change was not rolled back");
    let show = repo.worker(["show", "a", "--json"]).success().json();
    assert_eq!(show["worker"]["state"], "rejected", "{show}");
    repo.git(["rev-parse", "--verify", "--quiet", "refs/heads/orch/a"])
        .success();
}
