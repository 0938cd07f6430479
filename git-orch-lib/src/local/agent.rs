//! Agents launched for workers on this machine (`spawn --exec`): their
//! facts, output and prompt under `<common>/orch/agents/`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::process_alive;
use crate::git::Repo;

/// The variable naming its worker in an agent's environment: how a
/// recorded agent pid is known to be that agent still.
pub const AGENT_ID_ENV: &str = "ORCH_WORKER";

/// An agent launched for a worker on this machine (`spawn --exec`): kept in
/// `<common>/orch/agents/<id>.json`, beside its output (`<id>.log`) and its
/// rendered prompt (`<id>.prompt.md`). Pids mean nothing on another machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Agent {
    pub command: String,
    /// The supervising `git worker agent-run` process (the leader of the
    /// process group the agent runs in), and when it started.
    pub supervisor: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_start: Option<u64>,
    /// The agent's own process (0 until it started), and when it started.
    #[serde(default)]
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    pub started: i64,
    /// Unix time it exited, and its exit status, or the signal that killed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The agent preset the command was built from (`spawn --agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The session id the agent printed (per its preset), which
    /// `relaunch --resume` continues; kept across launches until a new
    /// one is printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// It runs on a pseudo-terminal (`--tty`, or its preset says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
}

impl Agent {
    /// Whether its supervisor or the agent itself still runs.
    pub fn running(&self) -> bool {
        self.exited.is_none()
            && (process_alive(self.supervisor, self.supervisor_start)
                || process_alive(self.pid, self.pid_start))
    }
}

/// The files of the agent of `id`.
pub struct AgentFiles {
    /// [`Agent`], as JSON.
    pub facts: PathBuf,
    /// Its standard output and error.
    pub log: PathBuf,
    /// The rendered prompt (`$ORCH_PROMPT`).
    pub prompt: PathBuf,
    /// The contract, as TOML (`$ORCH_CONTRACT`).
    pub contract: PathBuf,
}

/// The directory of the agents' files, under the common git directory.
pub const AGENTS_DIR: &str = "orch/agents";

pub fn agent_files(repo: &Repo, id: &str) -> AgentFiles {
    let dir = repo.common_dir().join(AGENTS_DIR);
    AgentFiles {
        facts: dir.join(format!("{id}.json")),
        log: dir.join(format!("{id}.log")),
        prompt: dir.join(format!("{id}.prompt.md")),
        contract: dir.join(format!("{id}.contract.toml")),
    }
}

/// Unix time the output log of the agent of `id` was last written, if it
/// has one: the agent writes it directly (its standard output and error
/// are the file), so this costs one `stat`, whatever the agent prints.
pub fn agent_output_time(repo: &Repo, id: &str) -> Option<i64> {
    let modified = std::fs::metadata(agent_files(repo, id).log)
        .and_then(|m| m.modified())
        .ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok()
}

pub fn load_agent(repo: &Repo, id: &str) -> Result<Option<Agent>> {
    let facts = agent_files(repo, id).facts;
    match std::fs::read(&facts) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("cannot parse '{}'", facts.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read '{}'", facts.display())),
    }
}

pub fn save_agent(repo: &Repo, id: &str, agent: &Agent) -> Result<()> {
    let facts = agent_files(repo, id).facts;
    if let Some(dir) = facts.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
    }
    crate::fs::write_atomically(&facts, &serde_json::to_vec_pretty(agent)?)
}

/// Forget the agent of `id` (its log stays for reading).
pub fn remove_agent(repo: &Repo, id: &str) -> Result<()> {
    let files = agent_files(repo, id);
    for path in [files.facts, files.prompt, files.contract] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot remove '{}'", path.display()));
            }
        }
    }
    Ok(())
}
