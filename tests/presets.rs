//! Agent presets (`git worker spawn --agent NAME`): each command line is one
//! its CLI accepts (checked against the installed CLI's `--help` for claude
//! and codex, against the documented flags for the others), and an
//! end-to-end run per preset with a stand-in agent named like the CLI, first
//! on PATH, that checks the flags it got (the sandbox rule included), prints
//! a session id the way the real CLI does, edits, commits and reports; then
//! `relaunch --resume` continues that session. Also the pseudo-terminal
//! (`--tty`) and the refusals.

use std::path::{Path, PathBuf};

use crate::support::{TestRepo, test_tool, write_file};

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo
}

/// The command line of built-in preset `name`, from the library itself.
fn line(name: &str, sandboxed: bool, session: Option<&str>) -> String {
    orch::ops::presets::builtin().unwrap()[name]
        .command_line(sandboxed, session)
        .unwrap()
}

/// The options (`-x`, `--xx`, without any `=value`) a preset's command
/// line gives its CLI: up to its input redirection or the next command,
/// leaving out those of commands substituted in its arguments (`$(...)`).
fn options(line: &str) -> Vec<String> {
    let cli = line.split(" < ").next().unwrap();
    let cli = cli.split(" && ").next().unwrap();
    let mut depth = 0usize;
    let mut out = Vec::new();
    for word in cli.split_whitespace() {
        let outside = depth == 0 && !word.contains("$(");
        depth += word.matches("$(").count();
        depth = depth.saturating_sub(word.matches(')').count().min(depth));
        if outside && word.starts_with('-') && word != "-" {
            out.push(word.split('=').next().unwrap().to_string());
        }
    }
    out
}

/// Every option of `line` is one `help` documents.
fn assert_documented(line: &str, help: &str) {
    for option in options(line) {
        let documented = help
            .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
            .any(|word| word == option);
        assert!(documented, "{option} (in `{line}`) is not in:\n{help}");
    }
}

fn run_help(program: &Path, args: &[&str], home: &Path) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .env("HOME", home)
        .env("CODEX_HOME", home.join(".codex"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {out:?}",
        program.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_claude_preset_uses_flags_the_installed_claude_accepts() {
    let home = tempfile::tempdir().unwrap();
    let help = run_help(&test_tool("claude"), &["--help"], home.path());
    for sandboxed in [false, true] {
        assert_documented(&line("claude", sandboxed, None), &help);
        assert_documented(&line("claude", sandboxed, Some("s-1")), &help);
    }
    // -p is print mode, which reads the prompt from standard input; the
    // values given are among the documented choices.
    assert!(help.contains("-p, --print"), "{help}");
    for choice in ["\"acceptEdits\"", "\"stream-json\""] {
        assert!(help.contains(choice), "{choice}: {help}");
    }
    assert!(help.contains("-r, --resume [value]"), "{help}");
    assert!(
        line("claude", false, None).contains("--permission-mode acceptEdits"),
        "outside git-orch's sandbox, claude's permission checks stay"
    );
    assert!(line("claude", true, None).contains("--dangerously-skip-permissions"));
}

#[test]
fn the_codex_preset_uses_flags_the_installed_codex_accepts() {
    let repo = repo();
    let codex = test_tool("codex");
    let home = repo.root().join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    let exec_help = run_help(&codex, &["exec", "--help"], &home);
    let resume_help = run_help(&codex, &["exec", "resume", "--help"], &home);
    for sandboxed in [false, true] {
        let new = line("codex", sandboxed, None);
        let resumed = line("codex", sandboxed, Some("0199-ab"));
        assert_documented(&new, &exec_help);
        assert_documented(&resumed, &resume_help);
        // Parsed by codex itself (clap stops at --help only after every
        // option before it parsed): the options and their values, with the
        // shell's expansion of the git directory, in a repository.
        for (line, args) in [(&new, "exec"), (&resumed, "exec resume")] {
            let options = line
                .split(" < ")
                .next()
                .unwrap()
                .trim_start_matches("codex exec resume ")
                .trim_start_matches("codex exec ")
                .trim_end_matches(" -")
                .replace(" '0199-ab'", "");
            let script = format!("\"$CODEX\" {args} {options} --help >/dev/null");
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .current_dir(repo.path())
                .env("CODEX", &codex)
                .env("HOME", &home)
                .env("CODEX_HOME", &home)
                .output()
                .unwrap();
            assert!(out.status.success(), "{script}: {out:?}");
        }
    }
    assert!(exec_help.contains("read-only, workspace-write, danger-full-access"));
    // `codex exec resume` has no --sandbox: the preset sets it with -c.
    assert!(!resume_help.contains("--sandbox <"), "{resume_help}");
    let outside = line("codex", false, None);
    assert!(
        outside.contains("sandbox_mode=workspace-write"),
        "{outside}"
    );
    assert!(!outside.contains("dangerously"), "{outside}");
    assert!(
        line("codex", true, None).contains("--dangerously-bypass-approvals-and-sandbox"),
        "inside git-orch's sandbox codex's own is off: it keeps .git read-only"
    );
}

/// Why the codex preset turns codex's sandbox off inside git-orch's and
/// reports for it outside: the real `codex sandbox`, with the preset's own
/// `-c` flags, lets a command edit the worker's checkout but not commit
/// (git's directory stays read-only, even named as a writable root), and
/// full access commits.
#[test]
fn codexs_workspace_write_sandbox_lets_an_agent_edit_but_not_commit() {
    let repo = TestRepo::on_disk();
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "initial"]).success();
    repo.worker(["spawn", "w", "--allow", "src/**"]).success();
    let checkout = repo.worktree("w");
    let codex = test_tool("codex");
    // codex refuses to put its helpers under the temporary directory.
    let home = crate::support::workspace_root().join("target/codex-home");
    std::fs::create_dir_all(&home).unwrap();
    let scratch = repo.root().join("codex-tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let git_dir = repo.path().join(".git").canonicalize().unwrap();
    let sandbox = |config: &[String], script: &str| {
        let mut cmd = std::process::Command::new(&codex);
        cmd.arg("sandbox");
        for c in config {
            cmd.args(["-c", c]);
        }
        cmd.args(["--", "sh", "-c", script])
            .current_dir(&checkout)
            .envs(crate::support::hermetic_env(repo.root()))
            .env("HOME", &home)
            .env("CODEX_HOME", &home)
            // codex refuses helpers beneath its temporary directory: one
            // beside its home, wherever the checkout is (CI's may be in /tmp).
            .env("TMPDIR", &scratch)
            .output()
            .unwrap()
    };
    let trusted = vec!["sandbox_mode=workspace-write".to_string()];
    assert!(line("codex", false, None).contains(&format!("-c {}", trusted[0])));
    let edit = "echo 'fn b() {}' >> src/lib.rs && echo edited";
    let out = sandbox(&trusted, edit);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("edited"),
        "{out:?}"
    );
    let commit = "git commit --quiet -am b && echo committed";
    let out = sandbox(&trusted, commit);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    let roots = format!(
        "sandbox_workspace_write.writable_roots=[\"{}\"]",
        git_dir.display()
    );
    let out = sandbox(&[trusted[0].clone(), roots], commit);
    assert!(
        !out.status.success(),
        "a writable root does not open .git: {out:?}"
    );
    let out = sandbox(&["sandbox_mode=danger-full-access".to_string()], commit);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("committed"),
        "{out:?}"
    );
}

/// The real claude, started by the preset in a sandboxed worker (as root
/// here: IS_SANDBOX=1 lets it skip its permission checks there), prints
/// its stream-json init event before it finds it is not logged in: the
/// session id in it is recorded.
#[test]
fn the_real_claude_runs_under_its_preset_and_its_session_id_is_recorded() {
    let repo = repo();
    let claude = test_tool("claude");
    let out = repo
        .worker([
            "spawn",
            "w",
            "--allow",
            "src/**",
            "--sandbox",
            "--agent",
            "claude",
        ])
        .env("PATH", path_with(claude.parent().unwrap()))
        .success();
    assert!(
        out.stderr.contains("--dangerously-skip-permissions"),
        "{out}"
    );
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    let text = log(&repo, "w");
    assert!(!text.contains("cannot be used with root"), "{text}");
    assert!(text.contains("\"subtype\":\"init\""), "{text}");
    let facts = agent_facts(&repo, "w");
    let session = facts["session"]
        .as_str()
        .unwrap_or_else(|| panic!("{facts}\n{text}"));
    assert_eq!(session.len(), 36, "a UUID: {session}");
    assert!(
        text.contains(&format!("\"session_id\":\"{session}\"")),
        "{text}"
    );
    assert!(
        text.contains("\"permissionMode\":\"bypassPermissions\""),
        "{text}"
    );

    // Outside git-orch's sandbox the real claude takes the trusted flags:
    // its permission checks stay, edits accepted.
    repo.worker([
        "spawn",
        "t",
        "--allow",
        "src/**",
        "--no-sandbox",
        "--agent",
        "claude",
    ])
    .env("PATH", path_with(claude.parent().unwrap()))
    .success();
    repo.worker(["wait", "t", "--until", "exited", "--timeout", "60"])
        .success();
    let text = log(&repo, "t");
    assert!(
        text.contains("\"permissionMode\":\"acceptEdits\""),
        "{text}"
    );
    assert!(agent_facts(&repo, "t")["session"].is_string(), "{text}");
}

/// The real codex, started by the preset, prints its header with
/// "session id:" before it reaches for the network (which it then waits
/// for): the supervisor records the id while it runs, and rm --force stops it.
#[test]
fn the_real_codex_runs_under_its_preset_and_its_session_id_is_recorded() {
    let repo = repo();
    repo.git(["config", "orch.stallAfter", "4"]).success();
    let codex = test_tool("codex");
    // Its state directory, which the sandbox lets it write (orch.sandbox.write).
    std::fs::create_dir_all(repo.root().join("home/.codex")).unwrap();
    repo.worker([
        "spawn",
        "w",
        "--allow",
        "src/**",
        "--sandbox",
        "--network",
        "off",
        "--agent",
        "codex",
    ])
    .env("PATH", path_with(codex.parent().unwrap()))
    .success();
    let start = std::time::Instant::now();
    let session = loop {
        if let Some(s) = std::fs::read_to_string(repo.path().join(".git/orch/agents/w.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|f| f["session"].as_str().map(str::to_string))
        {
            break s;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no session recorded: {}",
            log(&repo, "w")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let text = log(&repo, "w");
    assert!(text.contains(&format!("session id: {session}")), "{text}");
    assert!(text.contains("sandbox: danger-full-access"), "{text}");
    repo.worker(["rm", "--force", "w"]).success();
}

#[test]
fn the_aider_opencode_and_gemini_presets_use_documented_flags() {
    // https://aider.chat/docs/config/options.html
    let aider = "--message-file --yes-always --no-gitignore --no-check-update --no-show-model-warnings --chat-history-file --input-history-file";
    // https://opencode.ai/docs/cli/#run and https://opencode.ai/docs/permissions/ (--auto)
    let opencode = "--auto --format --session --continue --model";
    // https://geminicli.com/docs/cli/cli-reference/ and https://geminicli.com/docs/cli/headless/
    let gemini = "-p --prompt --approval-mode --skip-trust --output-format --resume";
    for (name, documented) in [("aider", aider), ("opencode", opencode), ("gemini", gemini)] {
        for sandboxed in [false, true] {
            let new = line(name, sandboxed, None);
            assert_documented(&new, documented);
            if name != "aider" {
                assert_documented(&line(name, sandboxed, Some("s")), documented);
            }
        }
    }
    assert!(line("opencode", false, None).starts_with("opencode run "));
    assert!(line("gemini", false, None).contains("--approval-mode yolo"));
    assert!(line("gemini", false, None).contains("--output-format stream-json"));
}

/// How a stand-in for a CLI behaves.
struct StandIn {
    cli: &'static str,
    /// Arguments it must get (each one whole).
    want: &'static [&'static str],
    /// Arguments it must not get.
    refuse: &'static [&'static str],
    /// Prints its session id as the real CLI does (`$SID` is the id).
    announce: &'static str,
    /// What it does after editing: commit and report (`COMMIT_AND_REPORT`);
    /// or commit and leave what aider leaves (`AIDER`: its preset reports);
    /// or, as codex in its workspace-write sandbox, neither (its preset
    /// reports).
    then: &'static str,
    /// The argument that says "resume" (the id follows somewhere).
    resume: Option<&'static str>,
}

const SID: &str = "5e55-10n-42";

/// As aider does: commit, leave its repository map cache at the top of the
/// checkout and its chat history where --chat-history-file says.
const AIDER: &str = "git commit --quiet -am \"$0: add b\"
mkdir -p .aider.tags.cache.v4 && echo cache > .aider.tags.cache.v4/cache.db
while [ $# -gt 0 ]; do [ \"$1\" = --chat-history-file ] && echo history > \"$2\"; shift; done
[ -z \"$(git status --porcelain --untracked-files=all | grep -v aider.tags.cache)\" ] || { git status --porcelain; exit 6; }";
const COMMIT_AND_REPORT: &str =
    "git commit --quiet -am \"$0: add b\"\ngit handoff report --summary \"$0 edited src/lib.rs\"";

/// Write the stand-in `cli` into `dir` (put first on PATH).
fn stand_in(dir: &Path, s: &StandIn) {
    let lines = |items: &[&str]| {
        items
            .iter()
            .map(|i| orch::ops::presets::shell_quote(i))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let resume = s.resume.map_or(String::new(), |flag| {
        format!(
            "if printf '%s\\n' \"$@\" | grep -qxF -- {flag}; then\n  printf '%s\\n' \"$@\" | grep -qxF {SID} || {{ echo 'resume without the session'; exit 8; }}\n  echo \"resumed session {SID}\"\n  exit 0\nfi\n",
            flag = orch::ops::presets::shell_quote(flag)
        )
    });
    let script = format!(
        r#"#!/bin/sh
SID={SID}
printf 'argv:'; printf ' [%s]' "$@"; echo
{resume}for want in {want}; do
  printf '%s\n' "$@" | grep -qxF -- "$want" || {{ echo "missing argument: $want"; exit 9; }}
done
for refuse in {refuse}; do
  if printf '%s\n' "$@" | grep -qxF -- "$refuse"; then echo "unexpected argument: $refuse"; exit 9; fi
done
input=$( {{ [ -t 0 ] || cat; printf '%s\n' "$@"; for a in "$@"; do [ -f "$a" ] && cat "$a"; done; }} )
case "$input" in *"Your task: "*) ;; *) echo "no prompt in: $input"; exit 7;; esac
{announce}
echo 'fn b() {{}}' >> "${{STANDIN_EDIT:-src/lib.rs}}"
{then}
"#,
        want = lines(s.want),
        refuse = lines(s.refuse),
        announce = s.announce,
        then = s.then,
    );
    let path = dir.join(s.cli);
    write_file(&path, &script);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}:{}",
        dir.display(),
        crate::support::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn agent_facts(repo: &TestRepo, id: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(repo.path().join(format!(".git/orch/agents/{id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn log(repo: &TestRepo, id: &str) -> String {
    std::fs::read_to_string(repo.path().join(format!(".git/orch/agents/{id}.log"))).unwrap()
}

/// Spawn `id` with `--agent`, sandboxed or not, wait for its agent, and
/// check it reported and its session id was recorded; then `relaunch
/// --resume` gives the CLI its resume flag with that id.
fn run_preset(repo: &TestRepo, bin: &Path, id: &str, s: &StandIn, sandboxed: bool) {
    let mode = if sandboxed {
        "--sandbox"
    } else {
        "--no-sandbox"
    };
    run_preset_with(repo, bin, id, s, &[mode]);
}

/// [`run_preset`], the worker spawned with `mode` (`--sandbox`,
/// `--no-sandbox`, `--isolation clone`).
fn run_preset_with(repo: &TestRepo, bin: &Path, id: &str, s: &StandIn, mode: &[&str]) {
    stand_in(bin, s);
    let out = repo
        .worker([
            "spawn",
            id,
            "--allow",
            "src/**",
            "--description",
            "Add b",
            "--agent",
            s.cli,
        ])
        .args(mode)
        .env("PATH", path_with(bin))
        .success();
    assert!(
        out.stderr.contains(&format!("started the agent of '{id}'")),
        "{out}"
    );
    repo.worker(["wait", id, "--until", "exited", "--timeout", "60"])
        .success();
    let text = log(repo, id);
    let events = repo.events(id);
    assert!(
        events.contains(&("reported".to_string(), "worker".to_string())),
        "{id} did not report: {events:?}\n{text}"
    );
    let exited = repo.worker(["log", id, "--json"]).success().json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["kind"] == "agent-exited")
        .unwrap()["data"]
        .clone();
    assert_eq!(exited["status"], 0, "{text}");
    assert_eq!(exited["reported"], true, "{text}");
    let facts = agent_facts(repo, id);
    assert_eq!(facts["preset"], s.cli, "{facts}");
    match s.resume {
        Some(flag) => {
            assert_eq!(facts["session"], SID, "{facts}\n{text}");
            let show = repo.worker(["show", id]).read();
            assert!(
                show.contains(&format!(
                    "--agent {}, session {SID} (git worker relaunch {id} --resume)",
                    s.cli
                )),
                "{show}"
            );
            let json = repo.worker(["show", id, "--json"]).success().json();
            assert_eq!(json["worker"]["agent_session"], SID);
            repo.worker(["relaunch", id, "--resume"])
                .env("PATH", path_with(bin))
                .success();
            repo.worker(["wait", id, "--until", "exited", "--timeout", "60"])
                .success();
            let text = log(repo, id);
            let resumed = text.lines().rev().find(|l| l.starts_with("argv:")).unwrap();
            assert!(resumed.contains(&format!("[{flag}]")), "{resumed}");
            assert!(resumed.contains(&format!("[{SID}]")), "{resumed}");
            assert!(text.contains(&format!("resumed session {SID}")), "{text}");
        }
        None => {
            assert!(facts.get("session").is_none(), "{facts}");
            let out = repo.worker(["relaunch", id, "--resume"]).code(2);
            assert_eq!(
                out.stderr,
                format!(
                    "error: the agent preset '{}' cannot resume a session\nhint: start a new one: git worker relaunch {id} --agent {}\n",
                    s.cli, s.cli
                )
            );
        }
    }
}

fn bin(repo: &TestRepo) -> PathBuf {
    let bin = repo.root().join("stand-ins");
    std::fs::create_dir_all(&bin).unwrap();
    bin
}

/// The stand-in for the built-in preset `cli`, expecting the flags of a
/// worker git-orch sandboxes or not.
fn stand_in_for(cli: &str, sandboxed: bool) -> StandIn {
    match (cli, sandboxed) {
        ("claude", _) => StandIn {
            cli: "claude",
            want: if sandboxed {
                &[
                    "-p",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--dangerously-skip-permissions",
                ]
            } else {
                &[
                    "-p",
                    "--output-format",
                    "stream-json",
                    "--verbose",
                    "--permission-mode",
                    "acceptEdits",
                    "--allowedTools",
                    "Bash(git *)",
                ]
            },
            refuse: if sandboxed {
                &["--permission-mode"]
            } else {
                &["--dangerously-skip-permissions"]
            },
            announce: r#"echo "{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"$PWD\",\"session_id\":\"$SID\",\"tools\":[]}""#,
            then: COMMIT_AND_REPORT,
            resume: Some("--resume"),
        },
        // codex exec prints its header (to standard error) with the session id.
        ("codex", true) => StandIn {
            cli: "codex",
            want: &["exec", "--dangerously-bypass-approvals-and-sandbox", "-"],
            refuse: &["sandbox_mode=workspace-write"],
            announce: CODEX_HEADER,
            then: COMMIT_AND_REPORT,
            resume: Some("resume"),
        },
        // Outside git-orch's sandbox, codex keeps its own, where git cannot
        // write: the stand-in edits and leaves its final message (-o), and
        // the preset reports for it.
        ("codex", false) => StandIn {
            cli: "codex",
            want: &["exec", "-c", "sandbox_mode=workspace-write", "-o", "-"],
            refuse: &["--dangerously-bypass-approvals-and-sandbox"],
            announce: CODEX_HEADER,
            then: "while [ $# -gt 0 ]; do [ \"$1\" = -o ] && echo 'Added b; nothing is left.' > \"$2\"; shift; done",
            resume: Some("resume"),
        },
        ("aider", _) => StandIn {
            cli: "aider",
            want: &[
                "--message-file",
                "--yes-always",
                "--no-gitignore",
                "--chat-history-file",
                "--input-history-file",
            ],
            refuse: &[],
            announce: "echo 'Aider v0.86.1'",
            then: AIDER,
            resume: None,
        },
        ("opencode", _) => StandIn {
            cli: "opencode",
            want: &["run", "--auto", "--format", "json"],
            refuse: &[],
            announce: r#"echo "{\"type\":\"step_start\",\"timestamp\":1,\"sessionID\":\"$SID\",\"part\":{}}""#,
            then: COMMIT_AND_REPORT,
            resume: Some("--session"),
        },
        ("gemini", _) => StandIn {
            cli: "gemini",
            want: &[
                "--approval-mode",
                "yolo",
                "--skip-trust",
                "--output-format",
                "stream-json",
                "-p",
            ],
            refuse: &["--sandbox", "-s"],
            announce: r#"echo "{\"type\":\"init\",\"timestamp\":\"2001-02-03T04:05:06Z\",\"session_id\":\"$SID\",\"model\":\"auto\"}""#,
            then: COMMIT_AND_REPORT,
            resume: Some("--resume"),
        },
        _ => panic!("no stand-in for {cli}"),
    }
}

const CODEX_HEADER: &str = "printf 'OpenAI Codex v0.171.0 (research preview)\\n--------\\nworkdir: %s\\nmodel: gpt-5-codex\\nsandbox: workspace-write\\nsession id: %s\\n--------\\n' \"$PWD\" \"$SID\" >&2";

#[test]
fn claude_edits_commits_reports_and_resumes_its_session_in_and_outside_the_sandbox() {
    let repo = repo();
    let bin = bin(&repo);
    run_preset(&repo, &bin, "inside", &stand_in_for("claude", true), true);
    run_preset(
        &repo,
        &bin,
        "outside",
        &stand_in_for("claude", false),
        false,
    );
}

#[test]
fn codex_runs_without_its_sandbox_only_inside_git_orchs_and_resumes_its_session() {
    let repo = repo();
    let bin = bin(&repo);
    run_preset(&repo, &bin, "inside", &stand_in_for("codex", true), true);
    run_preset(&repo, &bin, "outside", &stand_in_for("codex", false), false);
    let show = repo.git(["handoff", "show", "outside"]).read();
    assert!(show.contains("Added b; nothing is left."), "{show}");
    // In a clone of its own, the report the preset makes is sent too.
    run_preset_with(
        &repo,
        &bin,
        "cloned",
        &stand_in_for("codex", false),
        &["--isolation", "clone"],
    );
}

#[test]
fn aider_edits_and_commits_and_its_preset_reports_for_it_with_no_session_to_resume() {
    let repo = repo();
    run_preset(&repo, &bin(&repo), "w", &stand_in_for("aider", true), true);
}

#[test]
fn opencode_edits_commits_reports_and_resumes_its_session() {
    let repo = repo();
    run_preset(
        &repo,
        &bin(&repo),
        "w",
        &stand_in_for("opencode", true),
        true,
    );
}

#[test]
fn gemini_edits_commits_reports_and_resumes_its_session() {
    let repo = repo();
    run_preset(
        &repo,
        &bin(&repo),
        "w",
        &stand_in_for("gemini", false),
        false,
    );
}

/// The README's "Using it with your agent" lines, run as written (stand-ins
/// for the CLIs first on PATH), each agent reporting.
#[test]
fn the_readme_agent_lines_run_as_written() {
    let readme =
        std::fs::read_to_string(crate::support::workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Using it with your agent\n")
        .nth(1)
        .expect("a README section \"Using it with your agent\"");
    let block = section
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let repo = repo();
    repo.write("src/auth/login.rs", "fn login() {}\n");
    repo.write("src/lib.rs", "fn a() {}\n");
    repo.git(["add", "."]).success();
    repo.git(["commit", "--quiet", "-m", "auth"]).success();
    let bin = bin(&repo);
    let mut ran = Vec::new();
    for line in block.lines() {
        let command = line.split(" # ").next().unwrap().trim();
        if !command.starts_with("git worker spawn ") {
            continue;
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        let id = words[3];
        let agent = words[words.iter().position(|w| *w == "--agent").unwrap() + 1];
        stand_in(&bin, &stand_in_for(agent, true));
        repo.cmd_in(repo.path(), "sh", ["-c", command])
            .env("PATH", path_with(&bin))
            .env("STANDIN_EDIT", "src/auth/login.rs")
            .success();
        repo.worker(["wait", id, "--until", "exited", "--timeout", "60"])
            .success();
        assert!(
            repo.events(id)
                .contains(&("reported".to_string(), "worker".to_string())),
            "{command}: {}",
            log(&repo, id)
        );
        ran.push(agent.to_string());
    }
    ran.sort();
    assert_eq!(ran, ["aider", "claude", "codex", "gemini", "opencode"]);
    // The next block's relaunch line continues the session claude printed.
    let next = section.split("```sh\n").nth(2).unwrap();
    let relaunch = next
        .lines()
        .next()
        .unwrap()
        .split(" # ")
        .next()
        .unwrap()
        .trim();
    assert!(relaunch.starts_with("git worker relaunch "), "{relaunch}");
    let id = relaunch.split_whitespace().nth(3).unwrap();
    repo.cmd_in(repo.path(), "sh", ["-c", relaunch])
        .env("PATH", path_with(&bin))
        .success();
    repo.worker(["wait", id, "--until", "exited", "--timeout", "60"])
        .success();
    assert!(
        log(&repo, id).contains(&format!("resumed session {SID}")),
        "{}",
        log(&repo, id)
    );
}

#[test]
fn a_preset_of_ones_own_comes_from_git_config() {
    let repo = repo();
    let bin = bin(&repo);
    stand_in(
        &bin,
        &StandIn {
            cli: "mycli",
            want: &["--go"],
            refuse: &[],
            announce: "echo \"my session: $SID\"",
            then: COMMIT_AND_REPORT,
            resume: Some("--again"),
        },
    );
    repo.git([
        "config",
        "orch.agent.mine.command",
        "mycli --go < \"$ORCH_PROMPT\"",
    ])
    .success();
    repo.git([
        "config",
        "orch.agent.mine.resume",
        "mycli --again {session}",
    ])
    .success();
    repo.git(["config", "orch.agent.mine.session", "line:my session:"])
        .success();
    repo.worker([
        "spawn",
        "w",
        "--allow",
        "src/**",
        "--description",
        "Add b",
        "--agent",
        "mine",
    ])
    .env("PATH", path_with(&bin))
    .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    assert_eq!(
        agent_facts(&repo, "w")["session"],
        SID,
        "{}",
        log(&repo, "w")
    );
    repo.worker(["relaunch", "w", "--resume"])
        .env("PATH", path_with(&bin))
        .success();
    repo.worker(["wait", "w", "--until", "exited", "--timeout", "60"])
        .success();
    assert!(log(&repo, "w").contains(&format!("resumed session {SID}")));
}

#[test]
fn an_unknown_preset_is_refused_before_anything_is_spawned() {
    let repo = repo();
    let before = repo.snapshot();
    let out = repo.worker(["spawn", "w", "--agent", "clod"]).code(2);
    assert_eq!(
        out.stderr,
        "error: unknown agent preset 'clod'\nhint: presets: aider, claude, codex, gemini, opencode; or define one: git config orch.agent.clod.command '<command>'\n"
    );
    assert_eq!(repo.snapshot(), before);
    let out = repo
        .worker(["spawn", "w", "--agent", "claude", "--exec", "true"])
        .code(2);
    assert!(out.stderr.contains("cannot be used with"), "{out}");
    let out = repo.worker(["spawn", "w", "--tty"]).code(2);
    assert_eq!(
        out.stderr,
        "error: --tty is for an agent\nhint: start one with it: --exec '<command>' or --agent <name>\n"
    );
    assert_eq!(repo.snapshot(), before);
}

#[test]
fn resume_is_refused_without_a_preset_or_a_recorded_session_and_changes_nothing() {
    let repo = repo();
    let bin = bin(&repo);
    repo.worker([
        "spawn",
        "plain",
        "--allow",
        "src/**",
        "--no-sandbox",
        "--exec",
        "true",
    ])
    .success();
    repo.worker(["wait", "plain", "--until", "exited", "--timeout", "60"])
        .success();
    let before = (repo.events("plain"), log(&repo, "plain"));
    let out = repo.worker(["relaunch", "plain", "--resume"]).code(2);
    assert_eq!(
        out.stderr,
        "error: the agent of worker 'plain' was not started from an agent preset, so its session cannot be resumed\nhint: name the preset: git worker relaunch plain --agent <name> --resume (presets: aider, claude, codex, gemini, opencode)\n"
    );
    assert_eq!((repo.events("plain"), log(&repo, "plain")), before);

    // A claude that prints no session id.
    write_file(&bin.join("claude"), "#!/bin/sh\necho 'no json here'\n");
    let mut perms = std::fs::metadata(bin.join("claude")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("claude"), perms).unwrap();
    repo.worker([
        "spawn",
        "quiet",
        "--allow",
        "src/**",
        "--no-sandbox",
        "--agent",
        "claude",
    ])
    .env("PATH", path_with(&bin))
    .success();
    repo.worker(["wait", "quiet", "--until", "exited", "--timeout", "60"])
        .success();
    let before = (repo.events("quiet"), log(&repo, "quiet"));
    let out = repo.worker(["relaunch", "quiet", "--resume"]).code(2);
    assert_eq!(
        out.stderr,
        "error: no session id is recorded for the agent of worker 'quiet'\nhint: its agent printed none that the preset 'claude' recognizes; start a new session: git worker relaunch quiet --agent claude\n"
    );
    assert_eq!((repo.events("quiet"), log(&repo, "quiet")), before);
}

#[test]
fn an_agent_that_needs_a_terminal_gets_one_with_tty_and_its_output_is_logged() {
    let repo = repo();
    let agent = "[ -t 0 ] && [ -t 1 ] || { echo 'no terminal'; exit 1; }
        echo \"on a terminal: $(tty)\"
        echo 'fn b() {}' >> src/lib.rs
        git commit --quiet -am b
        git handoff report --summary 'done on a terminal'";
    repo.worker([
        "spawn",
        "bare",
        "--allow",
        "src/**",
        "--no-sandbox",
        "--exec",
        agent,
    ])
    .success();
    repo.worker(["wait", "bare", "--until", "exited", "--timeout", "60"])
        .success();
    assert!(log(&repo, "bare").contains("no terminal"));
    for (id, sandbox) in [("tty", "--no-sandbox"), ("boxed", "--sandbox")] {
        repo.worker([
            "spawn", id, "--allow", "src/**", sandbox, "--tty", "--exec", agent,
        ])
        .success();
        repo.worker(["wait", id, "--until", "exited", "--timeout", "60"])
            .success();
        let text = log(&repo, id);
        assert!(text.contains("on a terminal: /dev/pts/"), "{text}");
        let facts = agent_facts(&repo, id);
        assert_eq!(facts["tty"], true, "{facts}");
        assert_eq!(facts["status"], 0, "{facts}\n{text}");
        assert!(
            repo.events(id)
                .contains(&("reported".to_string(), "worker".to_string())),
            "{text}"
        );
    }
}
