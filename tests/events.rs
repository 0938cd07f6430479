//! Events and conversation: `git worker log`, `timeline`, `notify`,
//! `message`, `inbox` and `wait`, driven by fake agents (small scripts).

use crate::support::{TestRepo, write_file};

fn setup(ids: &[&str]) -> TestRepo {
    let repo = TestRepo::with_commit();
    for id in ids {
        repo.worker(["spawn", id, "--allow", "src/**"]).success();
    }
    repo
}

/// Run a fake agent: a shell script in worker `id`'s checkout.
fn agent(repo: &TestRepo, id: &str, script: &str) -> crate::support::Output {
    repo.cmd_in(&repo.worktree(id), "sh", ["-c", script])
        .output()
}

fn pair(kind: &str, actor: &str) -> (String, String) {
    (kind.to_string(), actor.to_string())
}

#[test]
fn a_fake_agents_session_is_logged_in_order_with_its_actors() {
    let repo = setup(&["w"]);
    repo.worker(["message", "w", "Start with the parser."])
        .success();
    let out = agent(
        &repo,
        "w",
        "set -e
         git worker inbox
         mkdir -p src && echo 'parse' > src/parser.rs
         git add src && git commit --quiet -m parser
         git worker notify 'parser done, starting the lexer'
         git worker notify --level warning 'the lexer tests are slow'
         git handoff report --summary 'Parser and lexer. Conclusion: ready.'",
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("Start with the parser."), "{out}");
    assert_eq!(
        repo.events("w"),
        vec![
            pair("spawning", "coordinator"),
            pair("spawned", "coordinator"),
            pair("message", "coordinator"),
            pair("read", "worker"),
            pair("notice", "worker"),
            pair("notice", "worker"),
            pair("reported", "worker"),
        ]
    );
    let text = repo.worker(["log", "w"]).read();
    assert!(
        text.contains("worker       notice     level=warning text=the lexer tests are slow"),
        "{text}"
    );
    // Read back for a removed worker too.
    repo.worker(["rm", "w", "--force"]).success();
    let events = repo.worker(["log", "w", "--json"]).success().json();
    assert_eq!(events["archived"], true);
    assert_eq!(
        events["events"].as_array().unwrap().last().unwrap()["kind"],
        "removed"
    );
}

#[test]
fn a_blocking_notice_blocks_the_worker_until_the_coordinator_answers() {
    let repo = setup(&["w", "v"]);
    let out = agent(
        &repo,
        "w",
        "git worker notify --level blocking 'I need docs/api.md changed too: the signature moved. Tried: keeping the old one.'",
    );
    assert_eq!(out.code, 0, "{out}");
    let list = repo.worker(["list"]).read();
    assert!(list.contains("w   blocked"), "{list}");
    assert!(
        list.contains("blocked: w: I need docs/api.md changed too: the signature moved."),
        "{list}"
    );
    assert!(
        list.contains("answer: git worker message w '<answer>'"),
        "{list}"
    );
    let json = repo
        .worker(["list", "--json", "--state", "blocked"])
        .success()
        .json();
    assert_eq!(json["workers"].as_array().unwrap().len(), 1);
    assert!(
        json["workers"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("I need docs/api.md")
    );

    let out = repo
        .worker(["message", "w", "I will change the doc; keep to src/."])
        .success();
    assert!(out.stderr.contains("the worker is active again"), "{out}");
    let json = repo.worker(["show", "w", "--json"]).success().json();
    assert_eq!(json["worker"]["state"], "active");
    assert!(!repo.worker(["list"]).read().contains("blocked"));
}

#[test]
fn messages_are_read_once_through_a_cursor_in_the_registry() {
    let repo = setup(&["w"]);
    let inbox = |all: bool| {
        let mut args = vec!["worker", "inbox", "--json"];
        if all {
            args.push("--all");
        }
        let out = repo.git_in(&repo.worktree("w"), args).success().json();
        out["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["text"].as_str().unwrap().to_string(),
                    m["read"].as_bool().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(inbox(false), vec![]);
    repo.worker(["message", "w", "one"]).success();
    repo.worker(["message", "w", "two"]).success();
    assert_eq!(
        inbox(false),
        vec![("one".into(), false), ("two".into(), false)]
    );
    assert_eq!(inbox(false), vec![]);
    repo.worker(["message", "w", "three"]).success();
    assert_eq!(inbox(false), vec![("three".into(), false)]);
    assert_eq!(
        inbox(true),
        vec![
            ("one".into(), true),
            ("two".into(), true),
            ("three".into(), true)
        ]
    );
    // --all marks nothing.
    repo.worker(["message", "w", "four"]).success();
    inbox(true);
    assert_eq!(inbox(false), vec![("four".into(), false)]);
    let out = repo
        .git_in(&repo.worktree("w"), ["worker", "inbox"])
        .success();
    assert!(out.stderr.contains("no unread messages"), "{out}");
}

#[test]
fn each_side_has_its_own_commands() {
    let repo = setup(&["w"]);
    let out = repo.worker(["notify", "hello"]).code(2);
    assert!(
        out.stderr
            .contains("error: 'git worker notify' only works in a worker's checkout"),
        "{out}"
    );
    repo.worker(["inbox"]).code(2);
    let out = repo
        .git_in(&repo.worktree("w"), ["worker", "message", "w", "hi"])
        .code(2);
    assert!(out.stderr.contains("is a coordinator command"), "{out}");
    let out = repo.worker(["message", "nope", "hi"]).code(2);
    assert!(
        out.stderr
            .contains("error: worker 'nope' is not registered"),
        "{out}"
    );
    let out = repo
        .git_in(
            &repo.worktree("w"),
            ["worker", "notify", "x", "--level", "loud"],
        )
        .code(2);
    assert!(out.stderr.contains("invalid value 'loud'"), "{out}");
    let before = repo.snapshot();
    repo.worker(["message", "w", "  "]).code(2);
    repo.git_in(&repo.worktree("w"), ["worker", "notify", ""])
        .code(2);
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn wait_returns_when_an_agent_reports_and_times_out_otherwise() {
    let repo = setup(&["a", "b"]);
    let out = repo
        .worker(["wait", "a", "--until", "reported", "--timeout", "0.2"])
        .code(1);
    assert!(
        out.stderr
            .contains("timed out after 0.2 s; not yet reported: a"),
        "{out}"
    );
    let waiting = repo
        .worker(["wait", "a", "b", "--timeout", "60", "--json"])
        .spawn();
    write_file(&repo.worktree("a").join("src/a.rs"), "a\n");
    let out = agent(&repo, "a", "git handoff report --summary 'a done'");
    assert_eq!(out.code, 0, "{out}");
    let out = agent(&repo, "b", "git worker notify --level blocking 'stuck'");
    assert_eq!(out.code, 0, "{out}");
    let out = waiting.wait();
    assert_eq!(out.code, 0, "{out}");
    let json = out.json();
    assert_eq!(json["workers"][0]["state"], "reported");
    assert_eq!(json["workers"][1]["state"], "blocked");
    // Removed counts as done; an unknown id is an error.
    repo.worker(["rm", "a", "--force"]).success();
    repo.worker(["wait", "a", "--until", "done"]).success();
    let out = repo.worker(["wait", "zzz"]).code(2);
    assert!(
        out.stderr.contains("worker 'zzz' is not registered"),
        "{out}"
    );
}

#[test]
fn the_timeline_interleaves_every_worker_as_json_lines() {
    let repo = setup(&["a", "b"]);
    repo.worker(["message", "b", "hello b"]).success();
    agent(&repo, "a", "git worker notify 'hello coordinator'");
    let out = repo.worker(["timeline", "--json"]).success();
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{out}");
    for line in &lines {
        for field in ["worker", "time", "actor", "kind", "clock", "id", "data"] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
    }
    let kinds: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["worker"].as_str().unwrap(), l["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("b", "message")) && kinds.contains(&("a", "notice")));
    // Times never go backwards.
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["time"].as_i64() <= w[1]["time"].as_i64())
    );
    let future = repo.worker(["timeline", "--since", "2100-01-01"]).success();
    assert_eq!(future.stdout, "");
    let out = repo.worker(["timeline", "--since", "yesterday"]).code(2);
    assert!(
        out.stderr.contains("error: invalid time 'yesterday'"),
        "{out}"
    );
}

/// A worker archived while the timeline or the report lists refs can be
/// seen both live and archived (git lists refs one by one, not as of one
/// moment): its log is read once, from the archive, which continues the
/// live one.
#[test]
fn a_log_seen_both_live_and_archived_is_read_once() {
    let repo = setup(&["a"]);
    repo.worker(["message", "a", "hello a"]).success();
    let live = repo.rev("refs/orch/workers/a");
    repo.worker(["rm", "a"]).success();
    // The live ref as a reader may still see it, beside its archive.
    repo.git(["update-ref", "refs/orch/workers/a", &live])
        .success();
    let out = repo.worker(["timeline", "--json"]).success();
    let kinds: Vec<String> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(
        kinds,
        ["\"spawning\"", "\"spawned\"", "\"message\"", "\"removed\""],
        "{out}"
    );
    let report = repo.worker(["report", "--json"]).success().json();
    let tasks: Vec<&serde_json::Value> = report["tasks"].as_array().unwrap().iter().collect();
    assert_eq!(tasks.len(), 1, "{report}");
    assert_eq!(tasks[0]["id"], "a");
}

#[test]
fn a_coordinator_and_eight_workers_writing_at_once_lose_nothing() {
    let ids: Vec<String> = (0..8).map(|i| format!("w{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let repo = setup(&refs);
    let mut running = Vec::new();
    for id in &ids {
        running.push(
            repo.cmd_in(
                &repo.worktree(id),
                "sh",
                [
                    "-c",
                    "for i in 1 2 3 4 5; do git worker notify \"note $i\" || exit 1; git worker inbox >/dev/null || exit 1; done",
                ],
            )
            .spawn(),
        );
        running.push(
            repo.cmd_in(
                repo.path(),
                "sh",
                [
                    "-c",
                    &format!(
                        "for i in 1 2 3 4 5; do git worker message {id} \"msg $i\" || exit 1; done"
                    ),
                ],
            )
            .spawn(),
        );
    }
    for pending in running {
        let out = pending.wait();
        assert_eq!(out.code, 0, "{out}");
    }
    for id in &ids {
        let events = repo.events(id);
        let count = |kind: &str| events.iter().filter(|(k, _)| k == kind).count();
        assert_eq!(
            (count("notice"), count("message")),
            (5, 5),
            "{id}: {events:?}"
        );
    }
}

#[test]
fn messages_whose_output_failed_stay_unread() {
    let repo = setup(&["w"]);
    repo.worker(["message", "w", "important answer"]).success();
    let out = repo
        .cmd_in(
            &repo.worktree("w"),
            "sh",
            ["-c", "git worker inbox > /dev/full"],
        )
        .output();
    assert_eq!(out.code, 2, "{out}");
    let out = repo
        .git_in(&repo.worktree("w"), ["worker", "inbox"])
        .success();
    assert!(out.stdout.contains("important answer"), "{out}");
}
