//! Agents launched by `git worker spawn --exec` (fake agents: small shell
//! scripts), and `git worker dashboard`, in a pipe and in a real terminal.

use std::time::{Duration, Instant};

use crate::support::{TestRepo, write_file};

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.write("docs/guide.md", "guide\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

fn dashboard(repo: &TestRepo) -> serde_json::Value {
    repo.worker(["dashboard", "--json"]).success().json()
}

fn row(json: &serde_json::Value, id: &str) -> serde_json::Value {
    json["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .unwrap_or_else(|| panic!("no row for {id} in {json}"))
        .clone()
}

/// Poll `check` (every 50 ms, up to 20 s) until it holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_agent_runs_detached_with_its_contract_and_prompt_and_its_exit_is_recorded() {
    let repo = repo();
    let agent = "set -e
        echo \"worker=$ORCH_WORKER branch=$ORCH_BRANCH base=$ORCH_BASE\"
        grep -q 'allow = \\[\"src/\\*\\*\"\\]' \"$ORCH_CONTRACT\" && echo contract-ok
        cat \"$ORCH_PROMPT\"
        echo 'fn b() {}' >> src/lib.rs
        git commit --quiet -am b
        git worker notify 'b is in'
        git handoff report --summary 'Added b. Conclusion: ready.'";
    let out = repo
        .worker([
            "spawn",
            "w",
            "--allow",
            "src/**",
            "--verify",
            "cargo test",
            "--description",
            "Add b",
            "--exec",
            agent,
        ])
        .success();
    assert!(
        out.stderr.contains("started the agent of 'w' (pid "),
        "{out}"
    );
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    let log = std::fs::read_to_string(repo.path().join(".git/orch/agents/w.log")).unwrap();
    let base = repo.rev("main");
    assert!(
        log.contains(&format!("worker=w branch=orch/w base={base}")),
        "{log}"
    );
    assert!(log.contains("contract-ok"), "{log}");
    assert!(log.contains("Your task: Add b"), "{log}");
    assert!(
        log.contains("You may change only these paths: src/**"),
        "{log}"
    );
    assert!(log.contains("verify your work with: cargo test"), "{log}");
    let events = repo.events("w");
    let expected: Vec<(String, String)> = [
        ("spawning", "coordinator"),
        ("spawned", "coordinator"),
        ("launched", "coordinator"),
        ("notice", "worker"),
        ("reported", "worker"),
        ("agent-exited", "worker"),
    ]
    .iter()
    .map(|(k, a)| (k.to_string(), a.to_string()))
    .collect();
    assert_eq!(events, expected);
    let exited = repo.worker(["log", "w", "--json"]).success().json()["events"][5]["data"].clone();
    assert_eq!(exited["status"], 0);
    assert_eq!(exited["reported"], true);
    let w = row(&dashboard(&repo), "w");
    assert_eq!(w["agent"]["status"], 0);
    assert_eq!(w["warnings"], serde_json::json!([]));
    assert_eq!(w["state"], "reported");
}

#[test]
fn an_agent_that_exits_without_a_handoff_is_flagged() {
    let repo = repo();
    repo.worker([
        "spawn",
        "w",
        "--allow",
        "src/**",
        "--exec",
        "echo giving up; exit 3",
    ])
    .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    let w = row(&dashboard(&repo), "w");
    assert_eq!(
        w["warnings"],
        serde_json::json!(["agent exited (status 3) without a handoff"])
    );
    let text = repo.worker(["dashboard"]).read();
    assert!(text.contains("exited 3"), "{text}");
    assert!(
        text.contains("agent exited (status 3) without a handoff"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colours in a pipe: {text:?}");
    // list says so too, not a plain "active".
    let list = repo.worker(["list"]).read();
    assert!(list.contains("active (agent exited 3)"), "{list}");
    let list = repo.worker(["list", "--json"]).success().json();
    assert_eq!(list["workers"][0]["agent_gone"], "agent exited 3", "{list}");
}

#[test]
fn a_stalled_agent_is_flagged_and_rm_stops_a_running_agent_only_with_force() {
    let repo = repo();
    repo.git(["config", "orch.stallAfter", "1"]).success();
    // Alive, and doing nothing.
    repo.worker([
        "spawn",
        "w",
        "--allow",
        "src/**",
        "--exec",
        "exec sleep 300",
    ])
    .success();
    eventually("the stall warning", || {
        row(&dashboard(&repo), "w")["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("stalled: no activity for"))
    });
    eventually("the stalled event", || {
        repo.events("w").iter().any(|(k, _)| k == "stalled")
    });
    let pid = row(&dashboard(&repo), "w")["agent"]["pid"]
        .as_u64()
        .unwrap();
    let out = repo.worker(["rm", "w"]).code(2);
    assert!(
        out.stderr.contains(&format!(
            "error: the agent of worker 'w' is still running (pid {pid})"
        )),
        "{out}"
    );
    repo.worker(["rm", "w", "--force"]).success();
    eventually("the agent to stop", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
}

#[test]
fn overlapping_changes_of_live_workers_are_warned() {
    let repo = repo();
    for id in ["a", "b", "c"] {
        repo.worker(["spawn", id, "--allow", "src/**"]).success();
    }
    write_file(&repo.worktree("a").join("src/lib.rs"), "fn a() { 1 }\n");
    write_file(&repo.worktree("b").join("src/lib.rs"), "fn a() { 2 }\n");
    write_file(&repo.worktree("c").join("src/other.rs"), "other\n");
    let json = dashboard(&repo);
    assert_eq!(
        json["overlaps"],
        serde_json::json!([{ "path": "src/lib.rs", "workers": ["a", "b"] }])
    );
    assert_eq!(
        row(&json, "a")["warnings"],
        serde_json::json!(["overlap: src/lib.rs also changed by b"])
    );
    assert_eq!(row(&json, "c")["warnings"], serde_json::json!([]));
    assert_eq!(
        row(&json, "c")["files"],
        serde_json::json!(["src/other.rs"])
    );
}

#[test]
fn the_capacity_limit_refuses_ids_beyond_it_and_says_which() {
    let repo = repo();
    repo.git(["config", "orch.maxActive", "2"]).success();
    let out = repo.worker(["spawn", "a", "b", "c"]).code(2);
    assert!(
        out.stderr.contains(
            "error: cannot spawn 'c': 2 workers are active (the limit is 2: --max-active or orch.maxActive)"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("(c); the others were"), "{out}");
    assert_eq!(out.stdout.lines().count(), 2, "{out}");
    repo.worker(["rm", "a"]).success();
    repo.worker(["spawn", "c"]).success();
    // The flag overrides the setting; spawning an existing worker again is not a new one.
    repo.worker(["spawn", "b", "--max-active", "1"]).success();
    repo.worker(["spawn", "d", "--max-active", "3"]).success();
}

#[test]
fn a_bad_prompt_template_is_refused_before_anything_is_made() {
    let repo = repo();
    let template = repo.root().join("prompt.md");
    write_file(&template, "Do {{task}} on {{brnach}}\n");
    let before = repo.snapshot();
    let out = repo
        .worker(["spawn", "w", "--exec", "true", "--prompt-template"])
        .arg(&template)
        .code(2);
    assert!(
        out.stderr
            .contains("error: unknown placeholder '{{brnach}}' in the prompt template"),
        "{out}"
    );
    assert!(
        out.stderr.contains("hint: placeholders: {{id}} {{task}}"),
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    // A template of one's own is rendered for the agent.
    write_file(&template, "Task {{id}} on {{branch}}\n");
    repo.worker([
        "spawn",
        "w",
        "--exec",
        "cat \"$ORCH_PROMPT\"",
        "--prompt-template",
    ])
    .arg(&template)
    .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    let log = std::fs::read_to_string(repo.path().join(".git/orch/agents/w.log")).unwrap();
    assert!(log.contains("Task w on orch/w"), "{log}");
}

/// Strip ANSI escape sequences.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_dashboard_of_twenty_workers_reads_well_in_a_real_terminal() {
    let repo = repo();
    let ids: Vec<String> = (1..=20).map(|i| format!("w{i:02}")).collect();
    let mut spawn = repo.worker(["spawn", "--allow", "src/**"]);
    for id in &ids {
        spawn = spawn.arg(id);
    }
    spawn.success();
    write_file(&repo.worktree("w03").join("src/lib.rs"), "fn a() { 3 }\n");
    write_file(&repo.worktree("w07").join("src/lib.rs"), "fn a() { 7 }\n");
    repo.git_in(
        &repo.worktree("w05"),
        [
            "worker",
            "notify",
            "--level",
            "blocking",
            "need the docs too",
        ],
    )
    .success();
    repo.worker(["message", "w09", "hello"]).success();

    let ready = |screen: &str| {
        plain(screen).contains("w20") && plain(screen).contains("overlap: src/lib.rs")
    };
    let screen = dashboard_on_a_terminal(&repo, (160, 40), ready);
    assert!(
        ready(&screen),
        "the dashboard never showed every worker:\n{screen}"
    );

    assert!(
        screen.contains("\x1b["),
        "no colours on a terminal:\n{screen}"
    );
    let shown = plain(&screen);
    let lines: Vec<&str> = shown.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("ID "))
        .unwrap_or_else(|| panic!("no header:\n{shown}"));
    let columns: Vec<usize> = [
        "STATE", "AGENT", "ACTIVE", "FILES", "UNREAD", "GATE", "NOTE",
    ]
    .iter()
    .map(|name| lines[header].find(name).unwrap())
    .collect();
    let rows = &lines[header + 1..header + 21];
    for (row, id) in rows.iter().zip(&ids) {
        assert!(row.starts_with(id.as_str()), "{row}");
        // Every column starts where its header does.
        for &col in &columns[..6] {
            assert!(
                row.len() > col && row.as_bytes()[col - 1] == b' ' && row.as_bytes()[col] != b' ',
                "misaligned at {col}: {row:?}\n{shown}"
            );
        }
    }
    assert!(rows[4].contains("blocked") && rows[4].contains("blocked: need the docs too"));
    assert!(
        rows[8][columns[4]..].starts_with('1'),
        "unread: {}",
        rows[8]
    );
    assert!(shown.contains("overlap: src/lib.rs (w03, w07)"), "{shown}");
    // The same in a pipe: plain text.
    let piped = repo.worker(["dashboard"]).read();
    assert!(!piped.contains('\x1b'));
    assert_eq!(piped.lines().next(), Some(lines[header].trim_end()));
}

fn agent_facts(repo: &TestRepo, id: &str) -> serde_json::Value {
    let path = repo.path().join(format!(".git/orch/agents/{id}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default()).unwrap_or_default()
}

fn gone(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat[stat.rfind(')').unwrap() + 2..].starts_with('Z')
    })
}

#[test]
fn an_agent_outliving_its_supervisor_still_counts_and_rm_force_stops_even_a_stubborn_one() {
    let repo = repo();
    // It ignores SIGTERM (sleep inherits that), so only SIGKILL stops it.
    repo.worker(["spawn", "w", "--exec", "trap '' TERM; sleep 300"])
        .success();
    eventually("the agent's pid", || {
        agent_facts(&repo, "w")["pid"].as_u64().unwrap_or(0) != 0
    });
    let facts = agent_facts(&repo, "w");
    let (supervisor, pid) = (
        facts["supervisor"].as_u64().unwrap(),
        facts["pid"].as_u64().unwrap(),
    );
    repo.cmd_in(repo.path(), "kill", ["-KILL", &supervisor.to_string()])
        .success();
    eventually("the supervisor to die", || gone(supervisor));
    let out = repo.worker(["rm", "w"]).code(2);
    assert!(
        out.stderr
            .contains("the agent of worker 'w' is still running"),
        "{out}"
    );
    assert_eq!(row(&dashboard(&repo), "w")["agent"]["running"], true);
    let started = Instant::now();
    repo.worker(["rm", "w", "--force"]).success();
    assert!(started.elapsed() < Duration::from_secs(15));
    eventually("the agent to stop", || gone(pid));
    // Its children (the sleep) are in its group, and go with it.
    eventually("the agent's children to stop", || {
        group_members(supervisor).iter().all(|p| gone(*p))
    });
}

/// The processes of process group `group`.
fn group_members(group: u64) -> Vec<u64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat[stat.rfind(')').unwrap() + 2..]
                    .split_whitespace()
                    .nth(2)
                    .and_then(|g| g.parse::<u64>().ok())
                    == Some(group)
            })
        })
        .collect()
}

#[test]
fn a_killed_agent_is_reported_with_its_signal() {
    let repo = repo();
    repo.worker(["spawn", "w", "--exec", "kill -KILL $$"])
        .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    let w = row(&dashboard(&repo), "w");
    assert_eq!(
        w["warnings"],
        serde_json::json!(["agent killed (signal 9) without a handoff"])
    );
    let log = repo.worker(["log", "w", "--json"]).success().json();
    let exited = log["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(exited["kind"], "agent-exited");
    assert_eq!(exited["data"]["signal"], 9);
}

#[test]
fn an_agent_started_from_a_hook_does_not_inherit_the_commits_identity() {
    let repo = repo();
    write_file(
        &repo.path().join(".git/hooks/post-commit"),
        "#!/bin/sh\nexec git worker spawn h --exec 'env | grep ^GIT_ | sort; true'\n",
    );
    repo.cmd_in(repo.path(), "chmod", ["+x", ".git/hooks/post-commit"])
        .success();
    repo.git(["commit", "--quiet", "--allow-empty", "-m", "trigger"])
        .env("GIT_AUTHOR_NAME", "Hook Author")
        .success();
    repo.worker(["wait", "h", "--until", "exited", "--timeout", "60"])
        .success();
    // The agent's output is its log.
    let env = std::fs::read_to_string(repo.path().join(".git/orch/agents/h.log")).unwrap();
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_DATE",
        "GIT_INDEX_FILE",
        "GIT_DIR",
        "GIT_EDITOR",
    ] {
        assert!(!env.contains(&format!("{var}=")), "{var} leaked:\n{env}");
    }
}

#[test]
fn wait_refuses_states_a_worker_can_no_longer_reach() {
    let repo = repo();
    repo.worker(["spawn", "a", "b"]).success();
    repo.worker(["rm", "a"]).success();
    let out = repo.worker(["wait", "a", "--until", "reported"]).code(2);
    assert!(
        out.stderr
            .contains("error: worker 'a' will never be reported: it was removed"),
        "{out}"
    );
    let out = repo.worker(["wait", "b", "--until", "exited"]).code(2);
    assert!(out.stderr.contains("no agent was launched for it"), "{out}");
    let out = repo
        .worker(["dashboard", "--watch", "--interval", "0"])
        .code(2);
    assert!(
        out.stderr
            .contains("--interval must be at least 0.1 seconds"),
        "{out}"
    );
    let out = repo.worker(["spawn", "c", "--exec", " "]).code(2);
    assert!(out.stderr.contains("--exec needs a command"), "{out}");
    let out = repo.worker(["spawn", "b", "--exec", "true"]).success();
    assert!(
        out.stderr.contains("warning: no agent was started for 'b'"),
        "{out}"
    );
}

/// Stops the agents of its workers when dropped, passing or failing
/// (`rm --force` stops a running agent's process group).
struct StopAgents<'a>(&'a TestRepo, &'a [&'a str]);

impl Drop for StopAgents<'_> {
    fn drop(&mut self) {
        for id in self.1 {
            let pid = agent_facts(self.0, id)["pid"].as_u64().unwrap_or(0);
            let _ = self.0.worker(["rm", "--force", id]).output();
            let start = Instant::now();
            while pid != 0 && !gone(pid) && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn an_agent_printing_regularly_is_not_stalled_and_a_silent_one_is() {
    let repo = repo();
    let _stop = StopAgents(&repo, &["talker", "mute"]);
    repo.git(["config", "orch.stallAfter", "2"]).success();
    // Prints every quarter second for 4 s (twice stallAfter), never commits, then ends.
    repo.worker([
        "spawn",
        "talker",
        "--exec",
        "for i in $(seq 16); do echo tick $i; sleep 0.25; done",
    ])
    .success();
    // Alive, and silent (it ends by itself if the test fails before rm).
    repo.worker(["spawn", "mute", "--exec", "exec sleep 60"])
        .success();
    repo.worker(["wait", "talker", "--until", "exited", "--timeout", "60"])
        .success();
    let log = std::fs::read_to_string(repo.path().join(".git/orch/agents/talker.log")).unwrap();
    assert!(log.contains("tick 16"), "{log}");
    let talker = repo.events("talker");
    assert!(
        !talker.iter().any(|(k, _)| k == "stalled"),
        "an agent printing every 0.25 s was stalled: {talker:?}"
    );
    eventually("the silent agent's stalled event", || {
        repo.events("mute").iter().any(|(k, _)| k == "stalled")
    });
    let pid = agent_facts(&repo, "mute")["pid"].as_u64().unwrap();
    repo.worker(["rm", "mute", "--force"]).success();
    eventually("the silent agent to stop", || gone(pid));
}

/// A child process killed (and reaped) when dropped, passing or failing.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An agent command that prints `before`, waits (up to 30 s) for the file
/// `go` to exist, then prints `after` and exits.
fn gated_agent(go: &std::path::Path, before: &str, after: &str) -> String {
    format!(
        "echo {before}; for i in $(seq 600); do [ -e '{}' ] && break; sleep 0.05; done; echo {after}",
        go.display()
    )
}

#[test]
fn output_prints_the_agents_log_and_follow_ends_when_the_agent_exits() {
    use std::io::BufRead as _;
    let repo = repo();
    let _stop = StopAgents(&repo, &["w"]);
    let go = repo.root().join("go");
    let agent = format!(
        "printf '\\033[2Jcleared\\n'; {}",
        gated_agent(&go, "one", "two")
    );
    repo.worker(["spawn", "w", "--exec", &agent]).success();
    let log = repo.path().join(".git/orch/agents/w.log");
    eventually("the agent's first line", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\none\n"))
    });
    let out = repo.worker(["output", "w"]).success();
    assert!(out.stdout.contains("=== "), "{out}");
    assert!(out.stdout.contains(" launch: printf"), "{out}");
    // The agent's escape sequence is shown, not obeyed.
    assert!(out.stdout.contains("^[[2Jcleared\none\n"), "{out}");
    assert!(!out.stdout.contains('\x1b'), "{out}");
    assert!(!out.stdout.lines().any(|l| l == "two"), "{out}");
    // Printed paths have the test's root as $ROOT.
    let shown = log
        .display()
        .to_string()
        .replace(&repo.root().display().to_string(), "$ROOT");
    let show = repo.worker(["show", "w"]).success();
    assert!(
        show.stdout
            .contains(&format!("agent log:      {shown} (git worker output w)")),
        "{show}"
    );
    let json = repo.worker(["show", "w", "--json"]).success().json();
    assert_eq!(json["worker"]["agent_log"], shown);

    // --follow prints what is there, then what comes, and ends by itself.
    let mut follow = KillOnDrop(repo.worker(["output", "w", "--follow"]).spawn_child());
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = follow.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next = || received.recv_timeout(Duration::from_secs(20));
    while next().expect("--follow printed the first line") != "one" {}
    // Only now may the agent go on: what follows was printed after.
    write_file(&go, "");
    assert_eq!(next().as_deref(), Ok("two"));
    // The end of its output (a timeout would mean it never ended).
    assert_eq!(next(), Err(std::sync::mpsc::RecvTimeoutError::Disconnected));
    let status = follow.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Once it has exited, --follow prints the whole log and returns.
    let out = repo.worker(["output", "w", "--follow"]).success();
    assert!(out.stdout.ends_with("one\ntwo\n"), "{out}");
}

#[test]
fn output_of_an_unknown_worker_or_one_without_an_agent_is_an_error_with_a_hint() {
    let repo = repo();
    let out = repo.worker(["output", "nope"]).code(2);
    assert_eq!(
        out.stderr,
        "error: worker 'nope' is not registered\nhint: `git worker list` shows the registered workers\n",
        "{out}"
    );
    repo.worker(["spawn", "b"]).success();
    let out = repo.worker(["output", "b", "--follow"]).code(2);
    assert_eq!(
        out.stderr,
        "error: worker 'b' has no agent log: no agent was launched for it on this machine\nhint: start one: git worker relaunch b --exec '<command>'\n",
        "{out}"
    );
    assert_eq!(out.stdout, "");
    let show = repo.worker(["show", "b"]).success();
    assert!(!show.stdout.contains("agent log"), "{show}");
    assert_eq!(
        repo.worker(["show", "b", "--json"]).success().json()["worker"]["agent_log"],
        serde_json::Value::Null
    );
}

fn kinds(repo: &TestRepo, id: &str) -> Vec<String> {
    repo.events(id).into_iter().map(|(kind, _)| kind).collect()
}

#[test]
fn relaunch_starts_a_new_supervised_agent_and_refuses_while_one_runs() {
    let repo = repo();
    let _stop = StopAgents(&repo, &["w"]);
    let go = repo.root().join("go");
    repo.worker(["spawn", "w", "--exec", &gated_agent(&go, "first", "done")])
        .success();
    let log = repo.path().join(".git/orch/agents/w.log");
    eventually("the first agent's output", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\nfirst\n"))
    });
    let before = kinds(&repo, "w");
    let out = repo.worker(["relaunch", "w"]).code(2);
    let pid = agent_facts(&repo, "w")["pid"].as_u64().unwrap();
    assert_eq!(
        out.stderr,
        format!(
            "error: the agent of worker 'w' is still running (pid {pid})\nhint: wait for it: git worker wait w --until exited\n"
        ),
        "{out}"
    );
    assert_eq!(
        kinds(&repo, "w"),
        before,
        "a refused relaunch changed the log"
    );
    write_file(&go, "");
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();

    // Without --exec: the command it ran last, again.
    let out = repo.worker(["relaunch", "w"]).success();
    assert!(
        out.stderr.contains("started the agent of 'w' (pid "),
        "{out}"
    );
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    // Another command, with the worker's environment; the log is appended to.
    repo.worker([
        "relaunch",
        "w",
        "--exec",
        "echo \"second agent of $ORCH_WORKER\"; exit 4",
    ])
    .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches(" launch: ").count(), 3, "{text}");
    assert_eq!(text.matches("\nfirst\n").count(), 2, "{text}");
    assert!(text.ends_with("second agent of w\n"), "{text}");
    let w = row(&dashboard(&repo), "w");
    assert_eq!(
        w["warnings"],
        serde_json::json!(["agent exited (status 4) without a handoff"])
    );
    let after: Vec<String> = kinds(&repo, "w").split_off(before.len());
    assert_eq!(
        after,
        [
            "agent-exited",
            "launched",
            "agent-exited",
            "launched",
            "agent-exited"
        ]
    );

    // A relaunched agent is watched for stalls like the first.
    repo.git(["config", "orch.stallAfter", "1"]).success();
    repo.worker(["relaunch", "w", "--exec", "exec sleep 60"])
        .success();
    eventually("the relaunched agent's stalled event", || {
        kinds(&repo, "w").last().map(String::as_str) == Some("stalled")
    });
}

#[test]
fn relaunch_gives_a_worker_spawned_without_an_agent_one_and_refuses_unknown_workers() {
    let repo = repo();
    let _stop = StopAgents(&repo, &["b"]);
    let out = repo.worker(["relaunch", "nope"]).code(2);
    assert_eq!(
        out.stderr,
        "error: worker 'nope' is not registered\nhint: `git worker list` shows the registered workers\n",
        "{out}"
    );
    repo.worker(["spawn", "b"]).success();
    let before = repo.snapshot();
    let out = repo.worker(["relaunch", "b"]).code(2);
    assert_eq!(
        out.stderr,
        "error: no agent was launched for worker 'b', so there is no command to run again\nhint: give one: git worker relaunch b --exec '<command>'\n",
        "{out}"
    );
    assert_eq!(repo.snapshot(), before);
    repo.worker(["relaunch", "b", "--exec", "echo hello from $ORCH_BRANCH"])
        .success();
    repo.worker(["wait", "b", "--until", "exited", "--timeout", "60"])
        .success();
    let log = std::fs::read_to_string(repo.path().join(".git/orch/agents/b.log")).unwrap();
    assert!(log.ends_with("hello from orch/b\n"), "{log}");
    // From a worker's checkout, it is the coordinator's command.
    let out = repo
        .git_in(&repo.worktree("b"), ["worker", "relaunch", "b"])
        .code(2);
    assert!(out.stderr.contains("git worker relaunch"), "{out}");
}

/// The dashboard on a terminal of `columns` by `rows` (tmux), with its
/// colours, once `ready` holds for what it shows (or after 20 s); the tmux
/// server is stopped before this returns.
fn dashboard_on_a_terminal(
    repo: &TestRepo,
    (columns, rows): (u16, u16),
    ready: impl Fn(&str) -> bool,
) -> String {
    let script = repo.root().join("dash.sh");
    let mut text = String::from("#!/bin/sh\n");
    for (key, value) in crate::support::hermetic_env(repo.root()) {
        text.push_str(&format!("export {key}='{value}'\n"));
    }
    text.push_str(&format!(
        "cd '{}' && exec git worker dashboard --watch --interval 60\n",
        repo.path().display()
    ));
    write_file(&script, &text);
    let socket = format!("orch-test-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .env("TMUX_TMPDIR", repo.root())
            .env_remove("TMUX")
            .output()
            .expect("tmux is needed for this test (.ci/run installs it)")
    };
    let (width, height) = (columns.to_string(), rows.to_string());
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "dash",
        "-x",
        &width,
        "-y",
        &height,
        "sh",
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux(&[
        "send-keys",
        "-t",
        "dash",
        &format!("sh {}", script.display()),
        "Enter",
    ]);
    let start = Instant::now();
    let screen = loop {
        let out = tmux(&["capture-pane", "-p", "-e", "-t", "dash"]);
        let screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if ready(&screen) || start.elapsed() > Duration::from_secs(20) {
            break screen;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    tmux(&["kill-server"]);
    screen
}

#[test]
fn dashboard_notes_wrap_at_words_on_a_narrow_terminal() {
    let repo = repo();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let words =
        "need permission to change the database migrations because the schema lacks an index";
    repo.git_in(
        &repo.worktree("w"),
        ["worker", "notify", "--level", "blocking", words],
    )
    .success();
    let screen = plain(&dashboard_on_a_terminal(&repo, (80, 30), |screen| {
        plain(screen).contains("blocked:")
    }));
    assert!(screen.contains("blocked:"), "{screen}");
    // Every word is whole on the screen, and no line is wider than it.
    let flat: Vec<&str> = screen.split_whitespace().collect();
    for word in words.split_whitespace() {
        assert!(flat.contains(&word), "'{word}' is broken:\n{screen}");
    }
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");
}

#[test]
fn dashboard_watch_reads_the_config_again_for_every_frame() {
    let repo = repo();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    write_file(&repo.worktree("w").join("src/new.rs"), "fn new() {}\n");
    repo.git_in(
        &repo.worktree("w"),
        ["handoff", "report", "--summary", "new"],
    )
    .success();
    // git-worker itself, so that the process killed is the dashboard.
    let program = crate::support::bin_dir().join("git-worker");
    let mut child = repo
        .cmd_in(
            repo.path(),
            &program.display().to_string(),
            ["dashboard", "--watch", "--json", "--interval", "0.1"],
        )
        .spawn_child();
    let stdout = child.stdout.take().unwrap();
    let mut frames = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let gate = |frames: &mut dyn Iterator<Item = std::io::Result<String>>| {
        let line = frames.next().unwrap().unwrap();
        let frame: serde_json::Value = serde_json::from_str(&line).unwrap();
        frame["workers"][0]["gate"].as_str().unwrap().to_string()
    };
    let before = gate(&mut frames);
    repo.git(["config", "orch.review.require", "approve"])
        .success();
    let start = Instant::now();
    let mut after = before.clone();
    while after == before && start.elapsed() < Duration::from_secs(20) {
        after = gate(&mut frames);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_ne!(
        after, before,
        "the gate never followed orch.review.require (was {before})"
    );
}

#[test]
fn each_worker_gets_ports_of_its_own_freed_when_it_goes() {
    let repo = repo();
    repo.git(["config", "orch.portBase", "31000"]).success();
    let port =
        |id: &str| repo.worker(["show", id, "--json"]).success().json()["worker"]["port"].clone();
    for id in ["a", "b", "c"] {
        repo.worker([
            "spawn",
            id,
            "--allow",
            "src/**",
            "--exec",
            "echo \"$ORCH_PORT\" > .git-port; true",
        ])
        .success();
    }
    assert_eq!(
        (port("a"), port("b"), port("c")),
        (31000.into(), 31010.into(), 31020.into())
    );
    let shown = repo.worker(["show", "b"]).read();
    assert!(shown.contains("31010-31019 (ORCH_PORT)"), "{shown}");
    // The agent gets it.
    repo.worker(["wait", "a", "--until", "exited", "--timeout", "60"])
        .success();
    assert_eq!(
        std::fs::read_to_string(repo.worktree("a").join(".git-port")).unwrap(),
        "31000\n"
    );
    // Freed on removal, and taken again by the next worker.
    repo.worker(["wait", "b", "--until", "exited", "--timeout", "60"])
        .success();
    repo.worker(["rm", "b", "--force"]).success();
    repo.worker(["spawn", "d", "--allow", "src/**"]).success();
    assert_eq!(port("d"), 31010);
    // orch.portBase 0: no ports.
    repo.git(["config", "orch.portBase", "0"]).success();
    repo.worker(["spawn", "e", "--allow", "src/**"]).success();
    assert_eq!(port("e"), serde_json::Value::Null);
    repo.git(["config", "orch.portBase", "lots"]).success();
    let out = repo.worker(["spawn", "f"]).code(2);
    assert!(out.stderr.contains("invalid orch.portBase 'lots'"), "{out}");
    for id in ["a", "c"] {
        repo.worker(["wait", id, "--until", "exited", "--timeout", "60"])
            .success();
    }
}
