//! Agents: `git worker spawn --exec` starts one in each new worker's
//! checkout, detached from the coordinator's shell, under a supervisor
//! (`git worker agent-run`, hidden) that outlives it: the supervisor
//! records the agent's pid and exit status (machine-local), appends
//! `agent-exited` to the worker's log (saying whether it handed off) and a
//! `stalled` event when the agent is alive but nothing happens.

use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::config::Settings;
use crate::contract::Contract;
use crate::exit::{Hint, Outcome};
use crate::git::Repo;
use crate::local::{self, Agent};
use crate::registry::{self, Actor, Change, Entry, Logged};

pub use crate::ops::presets::Launcher;

/// The prompt template used without `--prompt-template`.
pub const DEFAULT_PROMPT: &str = include_str!("../../../share/git-worker/prompt.md");

/// The placeholders a prompt template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "id",
    "task",
    "description",
    "allowed",
    "verify",
    "base",
    "branch",
    "report",
];

/// Render `template` for `contract`: `{{name}}` for each of
/// [`PLACEHOLDERS`]; anything else in double braces is an error (a typo
/// would otherwise reach the agent). `sends`: the worker is in a clone of
/// its own, whose handoff reaches the coordinator when it syncs, so
/// `{{report}}` says to sync after reporting.
pub fn render_prompt(template: &str, contract: &Contract, sends: bool) -> Result<String> {
    let list = |items: &[String], none: &str| {
        if items.is_empty() {
            none.to_string()
        } else {
            items.join(", ")
        }
    };
    let first_line = contract
        .description
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "id" => contract.id.clone(),
            "task" if first_line.is_empty() => contract.id.clone(),
            "task" => first_line.clone(),
            "description" => contract.description.trim().to_string(),
            "allowed" => {
                let mut text = list(&contract.allow, "everything");
                if !contract.deny.is_empty() {
                    text.push_str(&format!(" (except {})", contract.deny.join(", ")));
                }
                text
            }
            "verify" => list(&contract.verify, "nothing (no verification commands)"),
            "base" => format!("{} ({})", contract.base_ref, &contract.base),
            "branch" => contract.branch.clone(),
            "report" => {
                let report =
                    "git handoff report --summary '<what you did, what you found, what is left>'";
                if sends {
                    format!(
                        "{report}\nthen send it (your checkout is a clone of its own):\n    git worker sync"
                    )
                } else {
                    report.to_string()
                }
            }
            _ => return None,
        })
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unclosed '{{{{' in the prompt template");
        };
        let name = after[..end].trim();
        match value(name) {
            Some(text) => out.push_str(&text),
            None => {
                return Err(Hint::new(format!(
                    "unknown placeholder '{{{{{name}}}}}' in the prompt template"
                ))
                .hint(format!(
                    "placeholders: {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{{{p}}}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ))
                .into());
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Start `launcher` for the worker of `contract`: the prompt and contract
/// written beside the agent's facts, the supervisor started detached (on a
/// pseudo-terminal with `tty`, or when its preset says so), a `launched`
/// event appended. Returns the supervisor's pid and the command line.
pub fn launch(
    repo: &Repo,
    contract: &Contract,
    launcher: &Launcher,
    tty: bool,
    template: &str,
) -> Result<(u32, String)> {
    let id = &contract.id;
    let (command, preset, preset_tty) = crate::ops::presets::command_line(repo, id, launcher)?;
    let command = command.as_str();
    let files = local::agent_files(repo, id);
    let dir = files
        .facts
        .parent()
        .context("agent files have a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    let sends =
        local::load_local(repo, id)?.is_some_and(|local| local.isolation == crate::local::CLONE);
    crate::fs::write_atomically(
        &files.prompt,
        render_prompt(template, contract, sends)?.as_bytes(),
    )?;
    crate::fs::write_atomically(
        &files.contract,
        toml::to_string(contract)
            .context("cannot encode contract")?
            .as_bytes(),
    )?;
    let session = local::load_agent(repo, id)?.and_then(|a| a.session);
    local::save_agent(
        repo,
        id,
        &Agent {
            command: command.to_string(),
            started: registry::now(),
            preset,
            session,
            tty: tty || preset_tty,
            ..Agent::default()
        },
    )?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .with_context(|| format!("cannot open '{}'", files.log.display()))?;
    writeln!(
        log,
        "=== {} launch: {command}",
        crate::ui::timestamp(registry::now())
    )?;
    let top = repo
        .main_workdir()
        .context("agents are launched from a checkout")?;
    let program = std::env::current_exe().context("cannot find the git-worker program")?;
    // Recorded first, so its exit can never be logged before its launch.
    registry::update(repo, &registry::live_ref(id), |entry| {
        Ok(Some(
            Change::new("launched", Actor::Coordinator, entry.status.state)
                .reason(entry.status.reason.clone())
                .with("command", command),
        ))
    })?;
    // Through sh, to close descriptors 3-9 the caller may have left open
    // (a pipe held open by the agent would block whoever reads it).
    let mut supervisor = Command::new("sh");
    supervisor
        .arg("-c")
        .arg("exec \"$0\" agent-run \"$1\" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-")
        .arg(&program)
        .arg(id)
        .current_dir(&top)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C in the coordinator's terminal,
        // or the coordinator's shell going away, does not reach it.
        .process_group(0);
    let stripped = crate::git::inherited_git_env();
    for var in &stripped {
        supervisor.env_remove(var);
    }
    // Started from a hook, the commit's identity is not passed on; the
    // supervisor still writes the registry as you, by the one identity
    // rule, so it gets yours as resolved here.
    if stripped.contains(&"GIT_COMMITTER_NAME") {
        let you = repo.committer()?;
        supervisor
            .env("GIT_COMMITTER_NAME", &you.name)
            .env("GIT_COMMITTER_EMAIL", &you.email);
    }
    let child = match supervisor.spawn() {
        Ok(child) => child,
        Err(err) => {
            let message = format!("cannot start the agent of '{id}': {err}");
            registry::update(repo, &registry::live_ref(id), |entry| {
                Ok(Some(
                    Change::new("agent-exited", Actor::Coordinator, entry.status.state)
                        .reason(entry.status.reason.clone())
                        .with("status", serde_json::Value::Null)
                        .with("error", message.as_str())
                        .with("reported", false),
                ))
            })?;
            bail!("{message}");
        }
    };
    let pid = child.id();
    // Not waited for: it outlives this process.
    drop(child);
    Ok((pid, command.to_string()))
}

/// How `git worker relaunch` starts its agent.
#[derive(Debug, Clone, Default)]
pub struct Relaunch<'a> {
    /// `--exec`: this command line.
    pub exec: Option<&'a str>,
    /// `--agent`: this preset.
    pub agent: Option<&'a str>,
    /// `--resume`: continue the session its agent printed.
    pub resume: bool,
    /// `--tty`: on a pseudo-terminal.
    pub tty: bool,
}

/// `git worker relaunch`: start a new agent for the existing worker `id`
/// through [`launch`], as spawn does: `--exec`, `--agent`, else the preset
/// or the command it was last launched with (`--resume`: continuing its
/// session, which needs a preset); the prompt rendered from `template` for
/// its contract as pinned now. Refused while its agent still runs, and
/// before anything changes when the command cannot be built. Returns the
/// supervisor's pid and the command line.
pub fn relaunch(
    repo: &Repo,
    id: &str,
    how: &Relaunch<'_>,
    template: &str,
) -> Result<(u32, String)> {
    crate::contract::validate_id(id)?;
    let Some(entry) = registry::load(repo, id)? else {
        let mut err = Hint::new(format!("worker '{id}' is not registered"));
        if !registry::archived(repo, id)?.is_empty() {
            err = err.hint(format!(
                "it was removed; spawn it again: git worker spawn {id} --exec '<command>'"
            ));
        }
        return Err(err
            .hint("`git worker list` shows the registered workers")
            .into());
    };
    if entry.status.state == registry::State::Spawning {
        return Err(Hint::new(format!("worker '{id}' is still being spawned"))
            .hint("wait for the spawn to finish (`git worker prune` clears a crashed one)")
            .into());
    }
    let history = registry::history(repo, entry.tip)?;
    let status = agent_status(repo, id, &history)?;
    if status.running {
        return Err(Hint::new(format!(
            "the agent of worker '{id}' is still running (pid {})",
            status.pid
        ))
        .hint(format!("wait for it: git worker wait {id} --until exited"))
        .into());
    }
    if !local::load_local(repo, id)?.is_some_and(|l| l.path.join(".git").exists()) {
        return Err(
            Hint::new(format!("worker '{id}' has no checkout on this machine"))
                .hint("relaunch it on the machine that spawned it")
                .into(),
        );
    }
    let previous = local::load_agent(repo, id)?;
    let last_preset = previous.as_ref().and_then(|a| a.preset.clone());
    let launcher = match (how.exec, how.agent, last_preset.as_deref()) {
        (Some(command), ..) => Launcher::Exec(command.to_string()),
        (None, Some(name), _) | (None, None, Some(name)) => Launcher::Preset {
            name: name.to_string(),
            resume: how.resume,
        },
        (None, None, None) if how.resume => {
            return Err(Hint::new(format!(
                "the agent of worker '{id}' was not started from an agent preset, so its session cannot be resumed"
            ))
            .hint(format!(
                "name the preset: git worker relaunch {id} --agent <name> --resume (presets: {})",
                crate::ops::presets::builtin_names().join(", ")
            ))
            .into());
        }
        (None, None, None) => {
            Launcher::Exec(last_command(repo, id, &history)?.ok_or_else(|| {
                Hint::new(format!(
                    "no agent was launched for worker '{id}', so there is no command to run again"
                ))
                .hint(format!(
                    "give one: git worker relaunch {id} --exec '<command>'"
                ))
            })?)
        }
    };
    if matches!(&launcher, Launcher::Exec(command) if command.trim().is_empty()) {
        return Err(Hint::new("--exec needs a command").into());
    }
    // Built once before anything is written: an error changes nothing.
    crate::ops::presets::command_line(repo, id, &launcher)?;
    let (contract, _) = crate::enforce::authoritative_contract(repo, &entry)?;
    // A command run again keeps the terminal it had.
    let tty = how.tty || (how.exec.is_none() && previous.is_some_and(|a| a.tty));
    launch(repo, &contract, &launcher, tty, template)
}

/// The command the latest agent of `id` ran: its facts on this machine,
/// else the latest `launched` event.
fn last_command(repo: &Repo, id: &str, history: &[Logged]) -> Result<Option<String>> {
    if let Some(agent) = local::load_agent(repo, id)?
        && !agent.command.trim().is_empty()
    {
        return Ok(Some(agent.command));
    }
    Ok(history
        .iter()
        .rev()
        .filter(|l| l.event.kind == "launched")
        .find_map(|l| l.event.data.get("command")?.as_str().map(str::to_string)))
}

/// Whether the latest launch of the worker has ended, per its log.
pub fn exited_event(history: &[Logged]) -> Option<&Logged> {
    let launched = history.iter().rposition(|l| l.event.kind == "launched")?;
    history[launched..]
        .iter()
        .rev()
        .find(|l| l.event.kind == "agent-exited")
}

/// Whether the worker reported since its latest launch: after it in the
/// log, or at its time or later. (A worker in a clone of its own logs its
/// report in its copy of the log, where the launch is not: merged, the
/// two may sort either way.)
fn reported_since_launch(history: &[Logged]) -> bool {
    let Some(launched) = history.iter().rposition(|l| l.event.kind == "launched") else {
        return history.iter().any(|l| l.event.kind == "reported");
    };
    let at = history[launched].event.time;
    history
        .iter()
        .enumerate()
        .any(|(n, l)| l.event.kind == "reported" && (n > launched || l.event.time >= at))
}

/// Unix time of the worker's latest activity: its events (but `stalled`
/// itself), the commits on its branch, the changes in its checkout and its
/// agent's output (the log's modification time).
pub fn last_activity(repo: &Repo, entry: &Entry, history: &[Logged]) -> Result<i64> {
    let mut latest = history
        .iter()
        .filter(|l| l.event.kind != "stalled")
        .map(|l| l.event.time)
        .max()
        .unwrap_or(entry.status.created);
    if let Some(tip) = repo.ref_target(&format!("refs/heads/{}", entry.contract.branch))? {
        latest = latest.max(repo.commit_info(tip)?.time);
    }
    if let Some(local) = local::load_local(repo, entry.id())?
        && local.path.join(".git").exists()
        && let Some(changed) = Repo::last_change_in_checkout(&local.path)?
    {
        latest = latest.max(changed);
    }
    if let Some(output) = local::agent_output_time(repo, entry.id()) {
        latest = latest.max(output);
    }
    Ok(latest)
}

/// What the agent is told of where it works: its ports, and its isolation
/// (a preset reporting for its CLI also sends from a clone).
fn where_it_works(agent: &mut Command, local: &local::Local) {
    if let Some(port) = local.port {
        agent.env("ORCH_PORT", port.to_string());
    }
    agent.env(
        "ORCH_ISOLATION",
        if local.isolation.is_empty() {
            "worktree"
        } else {
            local.isolation.as_str()
        },
    );
}

/// `git worker agent-run <id>`: run the agent of `id` and watch it.
pub fn agent_run(repo: &Repo, id: &str) -> Result<Outcome> {
    let Some(mut facts) = local::load_agent(repo, id)? else {
        bail!("no agent was launched for '{id}'");
    };
    let Some(entry) = registry::load(repo, id)? else {
        bail!("worker '{id}' is not registered");
    };
    let Some(local) = local::load_local(repo, id)? else {
        bail!("worker '{id}' has no checkout on this machine");
    };
    let files = local::agent_files(repo, id);
    let settings = Settings::load(repo)?;
    let contract = &entry.contract;
    let mut agent = crate::ops::confine::command(&local, &settings, &facts.command)?;
    agent
        .current_dir(&local.path)
        .env(local::AGENT_ID_ENV, id)
        .env("ORCH_BRANCH", &contract.branch)
        .env("ORCH_BASE", &contract.base)
        .env("ORCH_CONTRACT", &files.contract)
        .env("ORCH_PROMPT", &files.prompt)
        .env("ORCH_LOG", &files.log)
        .stdin(Stdio::null());
    where_it_works(&mut agent, &local);
    for var in crate::git::inherited_git_env() {
        agent.env_remove(var);
    }
    let sessions =
        crate::ops::presets::SessionWatch::new(repo, facts.preset.as_deref(), &files.log);
    let (mut child, copied) = crate::ops::pty::spawn(&mut agent, facts.tty, &files.log)
        .with_context(|| format!("cannot run the agent of '{id}': {}", facts.command))?;
    facts.supervisor = std::process::id();
    facts.supervisor_start = local::process_start(facts.supervisor);
    facts.pid = child.id();
    facts.pid_start = local::process_start(facts.pid);
    local::save_agent(repo, id, &facts)?;

    // The exit arrives from a waiting thread; meanwhile, look for a stall a
    // few times per threshold (never more than once a second).
    let (sender, exits) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait());
    });
    let tick = Duration::from_secs((settings.stall_after / 4).clamp(1, 60));
    let mut stalled = false;
    let status = loop {
        let received = if settings.stall_after == 0 {
            exits
                .recv()
                .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected)
        } else {
            exits.recv_timeout(tick)
        };
        match received {
            Ok(status) => break status.context("cannot wait for the agent")?,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                bail!("lost track of the agent of '{id}'")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        take_work(repo, id, &local);
        sessions.record(repo, id, &mut facts)?;
        let Some(entry) = registry::load(repo, id)? else {
            continue;
        };
        let history = registry::history(repo, entry.tip)?;
        let idle = registry::now() - last_activity(repo, &entry, &history)?;
        let idle = u64::try_from(idle).unwrap_or(0);
        if idle >= settings.stall_after && !stalled {
            stalled = true;
            registry::update(repo, &registry::live_ref(id), |entry| {
                Ok(Some(
                    Change::new("stalled", Actor::Coordinator, entry.status.state)
                        .reason(entry.status.reason.clone())
                        .with("idle", idle),
                ))
            })?;
        } else if idle < settings.stall_after {
            stalled = false;
        }
    };
    // What an agent in a clone wrote or sent before it exited is in its
    // log first (a reader collecting at the same moment may win a race:
    // try again).
    for _ in 0..8 {
        if take_work(repo, id, &local) {
            break;
        }
    }
    if let Some(copied) = copied {
        // The rest of what it printed (a process it left holding the
        // terminal keeps it open: not waited for long).
        let _ = copied.recv_timeout(Duration::from_secs(2));
    }
    sessions.record(repo, id, &mut facts)?;
    facts.exited = Some(registry::now());
    facts.status = status.code();
    facts.signal = std::os::unix::process::ExitStatusExt::signal(&status);
    // Through bubblewrap, an agent killed by signal N shows as bwrap's
    // exit status 128 + N.
    if agent.get_program().to_string_lossy().ends_with("bwrap")
        && let Some(code) = facts.status.filter(|c| (129..=128 + 64).contains(c))
    {
        facts.status = None;
        facts.signal = Some(code - 128);
    }
    local::save_agent(repo, id, &facts)?;
    record_exit(repo, id, &facts)?;
    Ok(Outcome::Success)
}

/// Append `agent-exited` to the log of `id`, if it is still registered:
/// its status (or signal) and whether it reported since its launch.
fn record_exit(repo: &Repo, id: &str, facts: &Agent) -> Result<()> {
    if registry::load(repo, id)?.is_none() {
        return Ok(());
    }
    registry::update(repo, &registry::live_ref(id), |entry| {
        let history = registry::history(repo, entry.tip)?;
        let mut change = Change::new("agent-exited", Actor::Worker, entry.status.state)
            .reason(entry.status.reason.clone())
            .with(
                "status",
                facts.status.map_or(serde_json::Value::Null, |c| c.into()),
            )
            .with("reported", reported_since_launch(&history));
        if let Some(signal) = facts.signal {
            change = change.with("signal", signal);
        }
        Ok(Some(change))
    })?;
    Ok(())
}

/// `git worker output`: the output log of the agent of `id` (kept after
/// the worker is removed), written to `out` made harmless for a terminal
/// ([`crate::ui::printable`]: it is the agent's text). With `follow`, what
/// it prints next too, as it comes (the log's directory and the worker's
/// ref are watched), until its agent has exited.
pub fn output(repo: &Repo, id: &str, follow: bool, out: &mut dyn Write) -> Result<()> {
    crate::contract::validate_id(id)?;
    let path = local::agent_files(repo, id).log;
    let mut log = match std::fs::File::open(&path) {
        Ok(log) => log,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_output(repo, id)?);
        }
        Err(err) => return Err(err).with_context(|| format!("cannot read '{}'", path.display())),
    };
    let _signals = if follow {
        Some(crate::interrupt::guard()?)
    } else {
        None
    };
    let watch = follow.then(|| {
        crate::watch::RefWatch::new(
            repo.common_dir(),
            &[registry::WORKERS, registry::ARCHIVE, local::AGENTS_DIR],
        )
    });
    let mut held = Vec::new();
    loop {
        // Asked before reading: once it has exited, this read is the end.
        let done = !follow || !agent_running(repo, id)?;
        let mut more = Vec::new();
        std::io::Read::read_to_end(&mut log, &mut more)
            .with_context(|| format!("cannot read '{}'", path.display()))?;
        held.extend_from_slice(&more);
        // A character cut in two by the read waits for its other half.
        let whole = if done {
            held.len()
        } else {
            complete_utf8(&held)
        };
        out.write_all(&crate::ui::printable_bytes(&held[..whole]))?;
        out.flush()?;
        held.drain(..whole);
        if done {
            return Ok(());
        }
        if let Some(signal) = crate::interrupt::pending() {
            return Err(crate::interrupt::Interrupted {
                signal,
                what: "stopped following".into(),
            }
            .into());
        }
        if let Some(watch) = &watch {
            watch.wait(None);
        }
    }
}

/// Why `id` has no output to show: unknown, or no agent launched here.
fn no_output(repo: &Repo, id: &str) -> Result<anyhow::Error> {
    let (_, archived) = registry::entry_any(repo, id)?;
    let err = Hint::new(format!(
        "worker '{id}' has no agent log: no agent was launched for it on this machine"
    ));
    Ok(if archived {
        err.hint(format!("it was removed; its history: git worker show {id}"))
    } else {
        err.hint(format!(
            "start one: git worker relaunch {id} --exec '<command>'"
        ))
    }
    .into())
}

/// Whether the latest agent of `id` still runs (or is starting).
fn agent_running(repo: &Repo, id: &str) -> Result<bool> {
    let Some(entry) = registry::load(repo, id)? else {
        return Ok(false);
    };
    let history = registry::history(repo, entry.tip)?;
    Ok(agent_status(repo, id, &history)?.running)
}

/// The length of `bytes` without a UTF-8 sequence cut short at its end.
fn complete_utf8(bytes: &[u8]) -> usize {
    let start = bytes.len().saturating_sub(3);
    for (at, &byte) in bytes.iter().enumerate().skip(start).rev() {
        let needs = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            // A continuation byte: its lead is further back.
            0x80..=0xBF => continue,
            _ => return bytes.len(),
        };
        return if bytes.len() - at < needs {
            at
        } else {
            bytes.len()
        };
    }
    bytes.len()
}

/// What the dashboard says of a worker's agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStatus {
    pub launched: bool,
    pub running: bool,
    pub pid: u32,
    /// Exit status when it exited (`None` inside: killed by a signal).
    pub exited: Option<Option<i32>>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// It exited (or vanished) without a handoff since it was launched.
    pub no_handoff: bool,
}

pub fn agent_status(repo: &Repo, id: &str, history: &[Logged]) -> Result<AgentStatus> {
    let facts = local::load_agent(repo, id)?;
    let launched = history.iter().any(|l| l.event.kind == "launched");
    let mut out = AgentStatus {
        launched,
        ..AgentStatus::default()
    };
    if let Some(exit) = exited_event(history) {
        out.exited = Some(
            exit.event
                .data
                .get("status")
                .and_then(|s| s.as_i64())
                .map(|s| s as i32),
        );
        out.signal = exit
            .event
            .data
            .get("signal")
            .and_then(|s| s.as_i64())
            .map(|s| s as i32);
        out.no_handoff = !reported_since_launch(history);
        return Ok(out);
    }
    if let Some(facts) = facts {
        out.pid = facts.pid;
        if facts.exited.is_some() {
            // Exited, and the event is not (yet) in this log.
            out.exited = Some(facts.status);
            out.signal = facts.signal;
            out.no_handoff = !reported_since_launch(history);
            return Ok(out);
        }
        // Launched moments ago: the supervisor has not written its pid yet.
        let starting = facts.supervisor == 0 && registry::now() - facts.started < 60;
        out.running = facts.running() || starting;
        if !out.running && launched {
            // Gone without recording an exit (killed, machine rebooted).
            out.exited = Some(None);
            out.no_handoff = !reported_since_launch(history);
        }
    }
    Ok(out)
}

/// Read the template at `path`, or the default one.
pub fn template(path: Option<&Path>) -> Result<String> {
    match path {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read prompt template '{}'", path.display())),
        None => Ok(DEFAULT_PROMPT.to_string()),
    }
}

/// Take what the worker `id` in a clone of its own sent or wrote: a
/// sandboxed one's clone, collected; a trusted one's handoff, pushed to the
/// inbox by its `git worker sync`, taken by syncing with the inbox (a
/// worktree writes this repository's log itself). A failure is said by the
/// next coordinator command, which tries again.
fn take_work(repo: &Repo, id: &str, local: &local::Local) -> bool {
    if local.isolation == crate::local::SANDBOX {
        crate::ops::collect::collect(repo, id, local).is_ok()
    } else if local.isolation == crate::local::CLONE {
        crate::ops::sync::sync(repo, Some(local::INBOX_REMOTE)).is_ok()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_by_a_read_is_held_back() {
        assert_eq!(complete_utf8(b""), 0);
        assert_eq!(complete_utf8(b"tick\n"), 5);
        let e_acute = "\u{e9}".as_bytes();
        let euro = "\u{20ac}".as_bytes();
        let crab = "\u{1f980}".as_bytes();
        assert_eq!(complete_utf8(&[b'a', e_acute[0]]), 1);
        assert_eq!(complete_utf8(&[b'a', e_acute[0], e_acute[1]]), 3);
        assert_eq!(complete_utf8(&euro[..2]), 0);
        assert_eq!(complete_utf8(euro), 3);
        assert_eq!(complete_utf8(&crab[..3]), 0);
        assert_eq!(complete_utf8(crab), 4);
        // Not UTF-8 at all: nothing to wait for.
        assert_eq!(complete_utf8(&[0xff, 0x80]), 2);
    }

    #[test]
    fn prompts_render_every_placeholder_and_refuse_unknown_ones() {
        let contract = Contract {
            id: "auth".into(),
            branch: "orch/auth".into(),
            base: "abc".into(),
            base_ref: "main".into(),
            allow: vec!["src/auth/**".into()],
            deny: vec!["src/auth/keys/**".into()],
            verify: vec!["cargo test".into()],
            description: "Fix login\n\nDetails here.".into(),
            ..Contract::default()
        };
        let text = render_prompt(DEFAULT_PROMPT, &contract, false).unwrap();
        assert!(!text.contains("git worker sync"), "{text}");
        let sent = render_prompt(DEFAULT_PROMPT, &contract, true).unwrap();
        assert!(
            sent.contains(
                "then send it (your checkout is a clone of its own):\n    git worker sync"
            ),
            "{sent}"
        );
        assert!(!text.contains("{{"), "{text}");
        assert!(text.contains("Your task: Fix login"), "{text}");
        assert!(
            text.contains("src/auth/** (except src/auth/keys/**)"),
            "{text}"
        );
        assert!(text.contains("cargo test"), "{text}");
        assert!(text.contains("git handoff report --summary"), "{text}");
        let err = render_prompt("{{ id }} {{idd}}", &contract, false).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown placeholder '{{idd}}'"),
            "{err:#}"
        );
        assert!(render_prompt("{{id", &contract, false).is_err());
        assert_eq!(
            render_prompt("{{ id }}!", &contract, false).unwrap(),
            "auth!"
        );
    }
}
