//! Task graphs: `git worker plan`, `ready`, `graph`, `spawn --ready`.

use crate::support::{TestRepo, write_file};

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("README.md", "tasks\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

fn ready(repo: &TestRepo) -> Vec<String> {
    repo.worker(["ready"])
        .success()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

fn plan(repo: &TestRepo, id: &str, deps: &str) {
    let mut run = repo.worker(["plan", id, "--allow"]).arg(format!("{id}/**"));
    run = run.args(["--verify", &format!("test -f {id}/done.txt")]);
    if !deps.is_empty() {
        run = run.args(["--depends-on", deps]);
    }
    run.success();
}

/// A scripted worker does its task and reports; the coordinator lands it.
fn work_and_land(repo: &TestRepo, id: &str) {
    write_file(&repo.worktree(id).join(format!("{id}/done.txt")), "done\n");
    repo.git_in(
        &repo.worktree(id),
        ["handoff", "report", "--summary", "done"],
    )
    .success();
    repo.git(["handoff", "apply", id]).success();
}

#[test]
fn a_diamond_graph_runs_from_plan_to_all_landed_spawning_each_task_as_soon_as_it_can() {
    let repo = repo();
    // a, b first; c after a; d after a and b; e after c and d (the diamond); f after b.
    plan(&repo, "a", "");
    plan(&repo, "b", "");
    plan(&repo, "c", "a");
    plan(&repo, "d", "a,b");
    plan(&repo, "e", "c,d");
    plan(&repo, "f", "b");
    assert_eq!(ready(&repo), ["a", "b"]);
    let spawned = repo.worker(["spawn", "--ready"]).success();
    assert_eq!(spawned.stdout.lines().count(), 2, "{spawned}");
    assert_eq!(ready(&repo), Vec::<String>::new());

    // a lands, b is still at work: c is ready now, not a generation later.
    work_and_land(&repo, "a");
    assert_eq!(ready(&repo), ["c"]);
    repo.worker(["spawn", "--ready"]).success();
    work_and_land(&repo, "b");
    assert_eq!(ready(&repo), ["d", "f"]);
    repo.worker(["spawn", "--ready", "--max", "1"]).success();
    assert_eq!(ready(&repo), ["f"]);
    repo.worker(["spawn", "--ready"]).success();
    for id in ["c", "d"] {
        work_and_land(&repo, id);
    }
    assert_eq!(ready(&repo), ["e"]);
    repo.worker(["spawn", "--ready"]).success();
    for id in ["e", "f"] {
        work_and_land(&repo, id);
    }
    let graph = repo.worker(["graph"]).read();
    assert_eq!(
        graph,
        "a  landed\nb  landed\nc  landed     <- a\nd  landed     <- a, b\nf  landed     <- b\ne  landed     <- c, d"
    );
    for id in ["a", "b", "c", "d", "e", "f"] {
        assert!(repo.path().join(format!("{id}/done.txt")).is_file());
    }
    // Each task got its own contract.
    let contract = repo.worker(["show", "e", "--json"]).success().json()["worker"].clone();
    assert_eq!(contract["allow"], serde_json::json!(["e/**"]));
    let dot = repo.worker(["graph", "--dot"]).read();
    assert!(
        dot.starts_with("digraph tasks {") && dot.contains("\"c\" -> \"e\";"),
        "{dot}"
    );
}

#[test]
fn a_cycle_and_unknown_dependencies_are_refused_and_nothing_is_planned() {
    let repo = repo();
    let dir = repo.root().join("tasks");
    write_file(
        &dir.join("x.toml"),
        "depends-on = ['y']\nallow = ['x/**']\n",
    );
    write_file(&dir.join("y.toml"), "depends-on = ['z']\n");
    write_file(&dir.join("z.toml"), "depends-on = ['x']\n");
    let before = repo.snapshot();
    let out = repo.worker(["plan", "--from"]).arg(&dir).code(2);
    assert!(
        out.stderr
            .contains("error: the dependencies make a cycle: x -> y -> z -> x"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    let out = repo.worker(["plan", "q", "--depends-on", "nope"]).code(2);
    assert!(
        out.stderr.contains(
            "error: task 'q' depends on 'nope', which is neither a planned task nor a worker"
        ),
        "{out}"
    );
    let out = repo.worker(["plan", "q", "--depends-on", "q"]).code(2);
    assert!(out.stderr.contains("task 'q' depends on itself"), "{out}");
    repo.worker(["plan", "p1"]).success();
    repo.worker(["plan", "p2", "--depends-on", "p1"]).success();
    // A batch that clashes with a task planned before records nothing.
    let batch = repo.root().join("batch");
    write_file(&batch.join("n1.toml"), "allow = ['n1/**']\n");
    write_file(&batch.join("p1.toml"), "allow = ['elsewhere/**']\n");
    let out = repo.worker(["plan", "--from"]).arg(&batch).code(2);
    assert!(
        out.stderr
            .contains("task 'p1' is already planned, differently"),
        "{out}"
    );
    // A task cannot take a worker's id.
    repo.worker(["spawn", "live"]).success();
    let out = repo.worker(["plan", "live"]).code(2);
    assert!(out.stderr.contains("'live' is already a worker"), "{out}");
    let tasks = repo
        .git(["for-each-ref", "--format=%(refname)", "refs/orch/tasks/"])
        .read();
    assert_eq!(tasks, "refs/orch/tasks/p1\nrefs/orch/tasks/p2");
    // Planning the same task again is fine; differently, an error.
    repo.worker(["plan", "p2", "--depends-on", "p1"]).success();
    let out = repo.worker(["plan", "p2"]).code(2);
    assert!(
        out.stderr
            .contains("task 'p2' is already planned, differently"),
        "{out}"
    );
    // spawn --task refuses a task file with dependencies.
    let out = repo
        .worker(["spawn", "--task"])
        .arg(dir.join("x.toml"))
        .code(2);
    assert!(out.stderr.contains("it is for `git worker plan`"), "{out}");
}

#[test]
fn markdown_task_files_carry_their_description() {
    let repo = repo();
    let dir = repo.root().join("tasks");
    write_file(
        &dir.join("login.md"),
        "+++\nallow = ['src/login/**']\nverify = ['make test']\n+++\n# Fix login\n\nThe token expires too early.\n",
    );
    write_file(
        &dir.join("docs.toml"),
        "id = 'docs'\ndepends-on = ['login']\n",
    );
    repo.worker(["plan", "--from"]).arg(&dir).success();
    let graph = repo.worker(["graph", "--json"]).success().json();
    assert_eq!(graph["tasks"][0]["id"], "login");
    assert_eq!(graph["tasks"][1]["detail"], "waiting for login");
    repo.worker(["spawn", "--ready"]).success();
    let contract = repo.worker(["show", "login", "--json"]).success().json()["worker"].clone();
    assert_eq!(
        contract["description"],
        "# Fix login\n\nThe token expires too early."
    );
    assert_eq!(contract["verify"], serde_json::json!(["make test"]));
    write_file(&dir.join("bad.md"), "no front matter\n");
    let out = repo
        .worker(["plan", "--from"])
        .arg(dir.join("bad.md"))
        .code(2);
    assert!(out.stderr.contains("has no TOML front matter"), "{out}");
}

#[test]
fn an_abandoned_dependency_blocks_its_dependents() {
    let repo = repo();
    plan(&repo, "p", "");
    plan(&repo, "q", "p");
    plan(&repo, "r", "q");
    repo.worker(["spawn", "--ready"]).success();
    // The work is rejected for good: removed without landing.
    write_file(&repo.worktree("p").join("p/done.txt"), "done\n");
    repo.git_in(&repo.worktree("p"), ["handoff", "report", "--summary", "p"])
        .success();
    repo.git(["handoff", "reject", "p", "--reason", "wrong approach"])
        .success();
    assert_eq!(ready(&repo), Vec::<String>::new());
    repo.worker(["rm", "p", "--force"]).success();
    let graph = repo.worker(["graph"]).read();
    assert!(
        graph.contains(
            "q  blocked    <- p  (dependency 'p' was removed without landing (rejected: wrong approach))"
        ),
        "{graph}"
    );
    assert!(
        graph.contains("r  blocked    <- q  (dependency 'q' is blocked)"),
        "{graph}"
    );
    assert_eq!(ready(&repo), Vec::<String>::new());
    let out = repo.worker(["spawn", "--ready"]).success();
    assert!(out.stderr.contains("no planned task is ready"), "{out}");
}

#[test]
fn markdown_front_matter_needs_exact_fences() {
    let repo = repo();
    let dir = repo.root().join("md");
    // A BOM, a fence with trailing blanks, and a '++++' line that is no fence.
    write_file(
        &dir.join("a.md"),
        "\u{feff}+++  \nallow = ['a/**']\n+++\nBody line one.\n++++ not a fence\ndescription = 'x'\n",
    );
    write_file(&dir.join("b.md"), "+++\n+++\nJust a body.\n");
    repo.worker(["plan", "--from"]).arg(&dir).success();
    repo.worker(["spawn", "--ready"]).success();
    let a = repo.worker(["show", "a", "--json"]).success().json()["worker"].clone();
    assert_eq!(a["allow"], serde_json::json!(["a/**"]));
    assert_eq!(
        a["description"],
        "Body line one.\n++++ not a fence\ndescription = 'x'"
    );
    let b = repo.worker(["show", "b", "--json"]).success().json()["worker"].clone();
    assert_eq!(b["description"], "Just a body.");
}
