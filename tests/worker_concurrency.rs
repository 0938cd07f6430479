//! Many `git worker` processes at once on one repository. The tests assert
//! invariants that hold whichever process wins each race (how many
//! succeeded, what the losers say, what is left), never the order of events.

#![allow(clippy::unwrap_used)]

use crate::support::{Output, Pending, Run, TestRepo};

/// Start every command before waiting for any of them.
fn all_at_once(runs: Vec<Run>) -> Vec<Output> {
    let pending: Vec<Pending> = runs.into_iter().map(|run| run.spawn()).collect();
    pending.into_iter().map(Pending::wait).collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// Every ref under `prefix`, sorted.
fn refs(repo: &TestRepo, prefix: &str) -> Vec<String> {
    lines(
        &repo
            .git(["for-each-ref", "--format=%(refname)", prefix])
            .success()
            .stdout,
    )
}

/// The branches of git's linked worktrees (the main checkout excluded).
fn worktree_branches(repo: &TestRepo) -> Vec<String> {
    let porcelain = repo
        .git(["worktree", "list", "--porcelain"])
        .success()
        .stdout;
    let mut out: Vec<String> = porcelain
        .split("\n\n")
        .skip(1)
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("branch "))
                .unwrap_or("(detached)")
                .to_string()
        })
        .collect();
    out.sort();
    out
}

/// Spawn journals (`<common>/orch/local/*.spawning`) left behind.
fn journals(repo: &TestRepo) -> Vec<String> {
    let dir = repo.path().join(".git/orch/local");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".spawning"))
        .collect()
}

/// The directories under `<root>/repo.worktrees/`.
fn checkout_dirs(repo: &TestRepo) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(repo.root().join("repo.worktrees")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// `git worker list --json`'s workers.
fn workers(repo: &TestRepo) -> Vec<serde_json::Value> {
    let list = repo.worker(["list", "--json"]).success().json();
    list["workers"].as_array().unwrap().clone()
}

/// doctor's registry, worktree-config and debris checks all pass. The exit
/// status is not checked: it also reports git-handoff, git-review-gate and
/// the man pages, which are not installed where the tests run.
#[track_caller]
fn assert_doctor_registry_clean(repo: &TestRepo, live: usize) {
    let out = repo.worker(["doctor", "--json"]).output();
    assert!(matches!(out.code, 0 | 1), "{out}");
    let checks = out.json()["checks"].as_array().unwrap().clone();
    let registry: Vec<_> = checks
        .iter()
        .filter(|c| {
            matches!(
                c["check"].as_str(),
                Some("refs" | "registry" | "worktree-config" | "debris")
            )
        })
        .collect();
    for check in &registry {
        assert_eq!(check["ok"], true, "doctor found a problem: {check}\n{out}");
    }
    let plural = if live == 1 { "" } else { "s" };
    assert!(
        registry.iter().any(|c| c["check"] == "registry"
            && c["detail"]
                .as_str()
                .unwrap()
                .ends_with(&format!(": {live} live worker{plural}"))),
        "{out}"
    );
    assert!(registry.iter().any(|c| c["check"] == "debris"), "{out}");
}

/// Nothing for prune to do: no crashed spawn, no stale record.
#[track_caller]
fn assert_nothing_to_prune(repo: &TestRepo) {
    let out = repo.worker(["prune", "--dry-run"]).success();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "nothing to prune\n", "{out}");
}

/// The one worker `id` is all there is: one live entry, one branch, one
/// worktree on that branch, one checkout directory, no journal, no archive.
#[track_caller]
fn assert_exactly_one_worker(repo: &TestRepo, id: &str) -> serde_json::Value {
    let workers = workers(repo);
    assert_eq!(workers.len(), 1, "{workers:#?}");
    let worker = workers[0].clone();
    assert_eq!(worker["id"], id);
    assert_eq!(worker["state"], "active");
    assert_eq!(worker["checkout_exists"], true);
    assert_eq!(worker["head"], repo.rev("main"));
    assert_eq!(
        refs(repo, "refs/orch/workers/"),
        [format!("refs/orch/workers/{id}")]
    );
    assert_eq!(
        refs(repo, "refs/heads/orch/"),
        [format!("refs/heads/orch/{id}")]
    );
    assert_eq!(worktree_branches(repo), [format!("refs/heads/orch/{id}")]);
    assert_eq!(checkout_dirs(repo), [id]);
    assert_eq!(journals(repo), Vec::<String>::new());
    let own = repo
        .git_in(&repo.worktree(id), ["config", "--worktree", "orch.worker"])
        .success();
    assert_eq!(own.stdout.trim(), id);
    assert_nothing_to_prune(repo);
    assert_doctor_registry_clean(repo, 1);
    worker
}

/// The four of sixteen spawns that `sixteen_spawns(true)` makes fail, and
/// after which step.
const FAULTS: [(&str, &str); 4] = [
    ("w01", "spawn:claim"),
    ("w05", "spawn:branch"),
    ("w09", "spawn:worktree"),
    ("w13", "spawn:config"),
];

fn fault(id: &str) -> Option<&'static str> {
    FAULTS.iter().find(|(f, _)| *f == id).map(|(_, step)| *step)
}

/// Sixteen `git worker spawn wNN` at once, in a fresh repository; with
/// `faults`, the ones in [`FAULTS`] fail after their step (through
/// `GIT_WORKER_FAIL_AFTER`), so their rollbacks overlap the other spawns.
fn sixteen_spawns(faults: bool) -> (TestRepo, Vec<String>, Vec<Output>) {
    let repo = TestRepo::with_commit();
    let ids: Vec<String> = (0..16).map(|i| format!("w{i:02}")).collect();
    let outs = all_at_once(
        ids.iter()
            .map(|id| {
                let run = repo.worker(["spawn", id.as_str()]);
                match fault(id).filter(|_| faults) {
                    Some(step) => run.env("GIT_WORKER_FAIL_AFTER", step),
                    None => run,
                }
            })
            .collect(),
    );
    (repo, ids, outs)
}

fn spawned(out: &Output, id: &str) -> bool {
    out.code == 0
        && out
            .stderr
            .contains(&format!("spawned worker '{id}' on branch 'orch/{id}'"))
}

fn rolled_back(out: &Output, id: &str) -> bool {
    out.code == 2
        && out.stderr.contains(&format!(
            "error: spawn of '{id}' rolled back; nothing was left behind"
        ))
}

/// The workers that exist are exactly `ids`, each complete (active entry,
/// branch at the base, worktree on that branch, checkout marked as the
/// worker's), `archived` entries are archived, and nothing else is left:
/// no journal, no debris.
#[track_caller]
fn assert_exactly_these_workers(repo: &TestRepo, ids: &[String], archived: usize) {
    let workers = workers(repo);
    let listed: Vec<&str> = workers.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids, "{workers:#?}");
    let main = repo.rev("main");
    for worker in &workers {
        let id = worker["id"].as_str().unwrap();
        assert_eq!(worker["state"], "active", "{worker}");
        assert_eq!(worker["branch"], format!("orch/{id}"), "{worker}");
        assert_eq!(worker["head"], main, "{worker}");
        assert_eq!(worker["checkout_exists"], true, "{worker}");
        assert_eq!(worker["dirty"], false, "{worker}");
        // The checkout knows it is this worker's (its own config.worktree).
        let own = repo
            .git_in(&repo.worktree(id), ["config", "--worktree", "orch.worker"])
            .success();
        assert_eq!(own.stdout.trim(), id);
    }
    let branches: Vec<String> = ids
        .iter()
        .map(|id| format!("refs/heads/orch/{id}"))
        .collect();
    let entries: Vec<String> = ids
        .iter()
        .map(|id| format!("refs/orch/workers/{id}"))
        .collect();
    assert_eq!(refs(repo, "refs/orch/workers/"), entries);
    assert_eq!(refs(repo, "refs/orch/archive/").len(), archived);
    assert_eq!(refs(repo, "refs/heads/orch/"), branches);
    assert_eq!(worktree_branches(repo), branches);
    assert_eq!(checkout_dirs(repo), ids);
    assert_eq!(journals(repo), Vec::<String>::new());
    assert_nothing_to_prune(repo);
    assert_doctor_registry_clean(repo, ids.len());
}

/// Guards the transaction under contention: sixteen spawns at once, four
/// of them made to fail after different steps, so that their rollbacks
/// (which run `git worktree prune` and delete refs) overlap the other
/// spawns. Each spawn either reports success and is a complete worker, or
/// fails, says it rolled back, and left nothing; nothing else is left (no
/// half-made worker, no debris for prune). Which spawns fail besides the
/// four is not checked here: see the two ignored tests below.
#[test]
fn sixteen_spawns_at_once_with_four_failing_leave_only_complete_workers() {
    let (repo, ids, outs) = sixteen_spawns(true);
    let mut succeeded = Vec::new();
    for (id, out) in ids.iter().zip(&outs) {
        if spawned(out, id) && fault(id).is_none() {
            succeeded.push(id.clone());
        } else {
            assert!(rolled_back(out, id), "spawn {id}:\n{out}");
        }
    }
    assert!(!succeeded.is_empty(), "no spawn succeeded");
    assert_exactly_these_workers(&repo, &succeeded, 0);
}

/// Concurrent spawns of distinct ids do not conflict, so all must succeed:
/// the shared `extensions.worktreeConfig` write, `git worktree add` into
/// one parent directory and the ref writes must not fail one another.
#[test]
fn sixteen_spawns_of_distinct_ids_at_once_all_succeed() {
    for _round in 0..5 {
        let (repo, ids, outs) = sixteen_spawns(false);
        for (id, out) in ids.iter().zip(&outs) {
            assert!(spawned(out, id), "spawn {id}:\n{out}");
        }
        assert_exactly_these_workers(&repo, &ids, 0);
    }
}

/// A spawn that fails and rolls back must not take concurrent spawns of
/// other ids down with it, and fails at the step it was made to fail at.
#[test]
fn a_spawn_rolling_back_does_not_fail_concurrent_spawns() {
    for _round in 0..5 {
        let (repo, ids, outs) = sixteen_spawns(true);
        let mut succeeded = Vec::new();
        for (id, out) in ids.iter().zip(&outs) {
            match fault(id) {
                Some(step) => assert!(
                    rolled_back(out, id)
                        && out
                            .stderr
                            .contains(&format!("injected failure after step '{step}'")),
                    "spawn {id}:\n{out}"
                ),
                None => {
                    assert!(spawned(out, id), "spawn {id}:\n{out}");
                    succeeded.push(id.clone());
                }
            }
        }
        assert_exactly_these_workers(&repo, &succeeded, 0);
    }
}

/// Eight `git worker spawn <id> --description <text>` at once, in a fresh
/// repository: `distinct` gives each a different contract, else all share one.
fn race_one_id(id: &str, distinct: bool) -> (TestRepo, Vec<Output>) {
    let repo = TestRepo::with_commit();
    let outs = all_at_once(
        (0..8)
            .map(|i| {
                let description = if distinct {
                    format!("task {i}")
                } else {
                    "same".to_string()
                };
                repo.worker(["spawn", id, "--description", &description])
            })
            .collect(),
    );
    (repo, outs)
}

fn show_all(outs: &[Output]) -> String {
    outs.iter()
        .enumerate()
        .map(|(i, out)| format!("--- spawn {i} ---\n{out}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The spawns that created the worker (exit 0 and said so).
fn creators(outs: &[Output], id: &str) -> Vec<usize> {
    let created = format!("spawned worker '{id}'");
    (0..outs.len())
        .filter(|&i| outs[i].code == 0 && outs[i].stderr.contains(&created))
        .collect()
}

fn has_error_line(out: &Output) -> bool {
    out.stderr.lines().any(|line| line.starts_with("error: "))
}

/// Guards the per-id lock: eight spawns of one id with eight different
/// contracts must not produce two workers, two branches, a worktree on the
/// wrong branch, or debris from the losers' rollbacks.
#[test]
fn eight_spawns_of_one_id_with_different_contracts_leave_exactly_one_worker() {
    let (repo, outs) = race_one_id("x", true);
    let winners: Vec<usize> = (0..8).filter(|&i| outs[i].code == 0).collect();
    assert_eq!(
        winners.len(),
        1,
        "expected exactly one success:\n{}",
        show_all(&outs)
    );
    assert_eq!(creators(&outs, "x"), winners, "{}", show_all(&outs));
    for (i, out) in outs.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
        assert_eq!(out.code, 2, "spawn {i}:\n{out}");
        assert!(has_error_line(out), "spawn {i}: no error line:\n{out}");
        assert_eq!(out.stdout, "", "spawn {i}:\n{out}");
    }
    let worker = assert_exactly_one_worker(&repo, "x");
    // The worker that exists is the one whose spawn reported success.
    assert_eq!(worker["description"], format!("task {}", winners[0]));
}

/// Spawn is idempotent for an identical contract, and the per-id lock keeps
/// concurrent identical spawns from each creating a worker.
#[test]
fn eight_spawns_of_one_id_with_the_same_contract_leave_one_worker() {
    let (repo, outs) = race_one_id("x", false);
    assert_eq!(creators(&outs, "x").len(), 1, "{}", show_all(&outs));
    for (i, out) in outs.iter().enumerate() {
        match out.code {
            // The creator, or one that found the finished worker.
            0 => assert!(
                out.stderr.contains("spawned worker 'x'")
                    || out
                        .stderr
                        .contains("worker 'x' already exists with the same contract"),
                "spawn {i}:\n{out}"
            ),
            2 => assert!(has_error_line(out), "spawn {i}: no error line:\n{out}"),
            _ => panic!("spawn {i}: unexpected exit status:\n{out}"),
        }
    }
    let worker = assert_exactly_one_worker(&repo, "x");
    assert_eq!(worker["description"], "same");
}

/// What the losers of a race for one id say: that another process is
/// spawning it, or (once it is spawned) that it exists with another
/// contract. Never that a spawn crashed, that it happened on another
/// machine, or that the branch exists with a hint to delete it. The race is
/// run ten times, because the wrong messages come from narrow windows.
#[test]
fn losers_of_a_race_for_one_id_with_different_contracts_say_why() {
    for _round in 0..10 {
        let (_repo, outs) = race_one_id("x", true);
        for (i, out) in outs.iter().enumerate().filter(|(_, o)| o.code != 0) {
            assert!(
                out.stderr.contains("error: worker 'x' is being spawned by another process")
                    || out.stderr.contains(
                        "error: worker 'x' already exists with a different contract (differs in: description)"
                    ),
                "spawn {i} failed without the right reason:\n{}",
                show_all(&outs)
            );
        }
    }
}

/// With identical contracts a loser either finds the finished worker and
/// succeeds, or says another process is spawning it. The race is run ten
/// times, because the wrong messages come from narrow windows.
#[test]
fn losers_of_a_race_for_one_id_with_the_same_contract_say_why() {
    for _round in 0..10 {
        let (_repo, outs) = race_one_id("x", false);
        for (i, out) in outs.iter().enumerate().filter(|(_, o)| o.code != 0) {
            assert!(
                out.stderr
                    .contains("error: worker 'x' is being spawned by another process"),
                "spawn {i} failed without the right reason:\n{}",
                show_all(&outs)
            );
        }
    }
}

/// Guards concurrent removals: each `rm` runs `git worktree prune` and
/// deletes refs while the others do the same; none may fail or lose
/// another's archived history.
#[test]
fn eight_concurrent_rms_of_distinct_workers_all_succeed() {
    let repo = TestRepo::with_commit();
    let ids: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    repo.worker(["spawn"]).args(&ids).success();

    let outs = all_at_once(
        ids.iter()
            .map(|id| repo.worker(["rm", id.as_str()]))
            .collect(),
    );
    for (id, out) in ids.iter().zip(&outs) {
        assert_eq!(out.code, 0, "rm {id}:\n{out}");
        assert_eq!(out.stderr, format!("removed worker '{id}'\n"), "rm {id}");
    }

    assert_eq!(workers(&repo), Vec::<serde_json::Value>::new());
    assert_eq!(refs(&repo, "refs/heads/orch/"), Vec::<String>::new());
    assert_eq!(refs(&repo, "refs/orch/workers/"), Vec::<String>::new());
    assert_eq!(worktree_branches(&repo), Vec::<String>::new());
    assert_eq!(checkout_dirs(&repo), Vec::<String>::new());
    let archived = refs(&repo, "refs/orch/archive/");
    assert_eq!(archived.len(), 8, "{archived:#?}");
    for id in &ids {
        assert!(
            archived
                .iter()
                .any(|r| r.starts_with(&format!("refs/orch/archive/{id}/"))),
            "{id} has no archive ref: {archived:#?}"
        );
        let show = repo
            .worker(["show", "--json", id.as_str()])
            .success()
            .json();
        assert_eq!(show["worker"]["state"], "removed", "{show:#}");
        assert_eq!(show["worker"]["archived"], true, "{show:#}");
        let kinds: Vec<&str> = show["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["spawning", "spawned", "removed"], "{show:#}");
        let text = repo.worker(["show", id.as_str()]).success();
        assert!(
            text.stdout
                .starts_with(&format!("worker {id} (removed, archived)\n")),
            "{text}"
        );
    }
    assert_nothing_to_prune(&repo);
    assert_doctor_registry_clean(&repo, 0);
}

/// Eight workers r0..r7, then `rm rN` and `spawn sN` for each N, all at once.
fn rms_and_spawns() -> (TestRepo, Vec<String>, Vec<(String, Output)>) {
    let repo = TestRepo::with_commit();
    let old: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    repo.worker(["spawn"]).args(&old).success();
    let new: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let mut runs = Vec::new();
    for (r, s) in old.iter().zip(&new) {
        runs.push(repo.worker(["rm", r.as_str()]));
        runs.push(repo.worker(["spawn", s.as_str()]));
    }
    let outs = all_at_once(runs);
    let labelled = old
        .iter()
        .zip(&new)
        .flat_map(|(r, s)| [format!("rm {r}"), format!("spawn {s}")])
        .zip(outs)
        .collect();
    (repo, new, labelled)
}

/// The coordinator removes finished workers while spawning new ones.
/// Guards that removals always succeed, and that whatever happens to the
/// spawns, the result is consistent: the spawns that report success are
/// complete workers, the others rolled back, the removed ones are archived.
#[test]
fn rms_and_spawns_of_other_workers_at_once_leave_a_consistent_registry() {
    let (repo, new, outs) = rms_and_spawns();
    let mut succeeded = Vec::new();
    for (what, out) in &outs {
        if let Some(id) = what.strip_prefix("rm ") {
            assert_eq!(out.code, 0, "{what}:\n{out}");
            assert_eq!(out.stderr, format!("removed worker '{id}'\n"), "{what}");
        } else if let Some(id) = what.strip_prefix("spawn ") {
            if spawned(out, id) {
                succeeded.push(id.to_string());
            } else {
                assert!(rolled_back(out, id), "{what}:\n{out}");
            }
        }
    }
    assert!(!succeeded.is_empty(), "no spawn of {new:?} succeeded");
    succeeded.sort();
    assert_exactly_these_workers(&repo, &succeeded, 8);
}

/// Spawning new workers while removing others must not fail the spawns.
#[test]
fn rms_and_spawns_of_other_workers_at_once_all_succeed() {
    for _round in 0..5 {
        let (repo, new, outs) = rms_and_spawns();
        for (what, out) in &outs {
            assert_eq!(out.code, 0, "{what}:\n{out}");
        }
        assert_exactly_these_workers(&repo, &new, 8);
    }
}

/// Two removals of each worker at once (two rms each, and two cleanups
/// of all of them): each worker is removed exactly once, a losing rm says
/// another process has it (or had it), a losing cleanup passes over it,
/// and no loser undoes the winner's journal, so nothing is left behind and
/// no branch "moved".
#[test]
fn two_removals_of_one_worker_at_once_remove_it_once() {
    let repo = TestRepo::with_commit();
    let ids: Vec<String> = (0..6).map(|i| format!("d{i}")).collect();
    repo.worker(["spawn"]).args(&ids).success();
    let mut runs = Vec::new();
    for id in &ids {
        runs.push(repo.worker(["rm", id.as_str()]));
        runs.push(repo.worker(["rm", id.as_str()]));
    }
    // Spawned from the base and never changed: abandoned.
    runs.push(repo.worker(["cleanup", "--abandoned"]));
    runs.push(repo.worker(["cleanup", "--abandoned"]));
    let outs = all_at_once(runs);
    let said: String = outs.iter().map(|out| format!("{out}\n")).collect();
    for id in &ids {
        let removed = said.matches(&format!("removed worker '{id}'")).count();
        assert_eq!(removed, 1, "{id} is removed exactly once:\n{said}");
    }
    for out in &outs[..2 * ids.len()] {
        if out.code != 0 {
            assert_eq!(out.code, 2, "{out}");
            assert!(
                [
                    "is being removed right now",
                    "was removed meanwhile",
                    "is not registered",
                ]
                .iter()
                .any(|why| out.stderr.contains(why)),
                "a losing rm says who has it:\n{out}"
            );
        }
    }
    for out in &outs[2 * ids.len()..] {
        assert_eq!(out.code, 0, "{out}");
        assert!(!out.stderr.contains("kept"), "{out}");
    }
    assert!(!said.contains("moved while"), "{said}");
    assert_eq!(workers(&repo), Vec::<serde_json::Value>::new());
    assert_eq!(refs(&repo, "refs/heads/orch/"), Vec::<String>::new());
    assert_eq!(refs(&repo, "refs/orch/archive/").len(), ids.len());
    assert_eq!(checkout_dirs(&repo), Vec::<String>::new());
    assert!(!repo.path().join(".git/orch/removing").exists());
    assert_doctor_registry_clean(&repo, 0);
}

/// A process standing in for another one, killed when dropped (also when
/// an assertion fails first).
struct Other(std::process::Child);

impl Drop for Other {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What another live process is removing is its own: rm refuses it and
/// changes nothing, cleanup passes over it in silence, doctor does not
/// call it debris, and `handoff show` shows its branch when its checkout,
/// half-deleted, cannot be read.
#[test]
fn a_worker_another_process_is_removing_is_left_to_it() {
    let repo = TestRepo::with_commit();
    repo.worker(["spawn", "w"]).success();
    let tip = repo.rev("refs/orch/workers/w");
    // The other process: alive for as long as the test needs it.
    let other = Other(
        std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap(),
    );
    let journal = repo.path().join(".git/orch/removing/w.json");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(
        &journal,
        format!(r#"{{"pid": {}, "entry": "{tip}"}}"#, other.0.id()),
    )
    .unwrap();

    let out = repo.worker(["rm", "w"]).code(2);
    assert!(
        out.stderr.starts_with(&format!(
            "error: worker 'w' is being removed right now (pid {})\nhint: ",
            other.0.id()
        )),
        "{out}"
    );
    let out = repo.worker(["cleanup", "--abandoned"]).success();
    assert!(
        !out.stdout.contains("'w'") && !out.stderr.contains("'w'"),
        "{out}"
    );
    assert_doctor_registry_clean(&repo, 1);
    assert_eq!(repo.rev("refs/orch/workers/w"), tip);
    assert!(repo.worktree("w").join(".git").exists());
    assert_eq!(refs(&repo, "refs/heads/orch/"), ["refs/heads/orch/w"]);
    let index = repo.path().join(".git/worktrees/w/index");
    let intact = std::fs::read(&index).unwrap();
    std::fs::write(&index, b"torn").unwrap();
    let out = repo.git(["handoff", "show", "w"]).success();
    assert!(out.stdout.contains("has NOT reported"), "{out}");

    drop(other);
    std::fs::remove_file(&journal).unwrap();
    // Nobody removes it now: a checkout that cannot be read is an error.
    let out = repo.git(["handoff", "show", "w"]).code(2);
    assert!(out.stderr.starts_with("error: "), "{out}");
    std::fs::write(&index, intact).unwrap();
    repo.worker(["rm", "w"]).success();
}

/// git itself (`gc --auto`'s `reflog expire --all`) can make the admin
/// directory of a worktree removed a moment ago again, empty: the next
/// `git worktree prune` takes it. doctor calls it debris only once it
/// stays, and prune removes it then.
#[test]
fn an_empty_worktree_record_is_debris_only_once_it_stays() {
    let repo = TestRepo::with_commit();
    let ghost = repo.path().join(".git/worktrees/ghost");
    std::fs::create_dir_all(&ghost).unwrap();
    assert_doctor_registry_clean(&repo, 0);
    repo.cmd_in(repo.path(), "touch", ["-d", "2 minutes ago"])
        .arg(&ghost)
        .success();
    let out = repo.worker(["doctor"]).output();
    assert!(
        out.stdout
            .contains("stale worktree record: worktrees/ghost: gitdir file does not exist"),
        "{out}"
    );
    repo.worker(["prune"]).success();
    assert!(!ghost.exists());
    assert_doctor_registry_clean(&repo, 0);
}
