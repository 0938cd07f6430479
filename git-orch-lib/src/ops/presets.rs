//! Agent presets: the command line each agent CLI needs to edit files in a
//! worker's checkout non-interactively (`spawn --agent NAME`), in one place.
//!
//! The built-in presets are `share/git-worker/agents.toml`, compiled in.
//! Users add or replace presets in git config only
//! (`orch.agent.<name>.command`, `.resume`, `.session`, `.tty`), never in a
//! tracked `.orch.toml`: that file is worker-writable once a worker's change
//! lands, and a preset is a command the coordinator's machine runs.
//!
//! The rule for sandboxes: a worker git-orch sandboxes gets the preset's
//! `sandboxed` flags, which turn the agent's own sandbox off where it would
//! stop the agent writing its own repository (git-orch's sandbox is the
//! boundary then); any other worker gets its `trusted` flags, which keep the
//! agent's own sandbox and permission checks.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::exit::Hint;
use crate::git::Repo;
use crate::local::{self, Agent};

/// The built-in presets.
pub const BUILTIN: &str = include_str!("../../../share/git-worker/agents.toml");

/// The git config section of user presets: `orch.agent.<name>.<key>`.
pub const CONFIG_SECTION: &str = "orch.agent";

/// One preset, as written in `agents.toml` or git config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Preset {
    /// The command line (`sh -c`); `{flags}` is replaced by the flags.
    pub command: String,
    /// The command line continuing session `{session}`, if the CLI can.
    #[serde(default)]
    pub resume: Option<String>,
    /// The flags outside git-orch's sandbox.
    #[serde(default)]
    pub trusted: String,
    /// The flags inside git-orch's sandbox.
    #[serde(default)]
    pub sandboxed: String,
    /// Run after the CLI succeeds, outside git-orch's sandbox.
    #[serde(default)]
    pub trusted_then: Option<String>,
    /// Run after the CLI succeeds, inside git-orch's sandbox.
    #[serde(default)]
    pub sandboxed_then: Option<String>,
    /// Where the CLI prints its session id: `json:KEY` or `line:PREFIX`.
    #[serde(default)]
    pub session: Option<String>,
    /// It needs a terminal: run it on a pseudo-terminal.
    #[serde(default)]
    pub tty: bool,
}

/// The built-in presets, by name.
pub fn builtin() -> Result<BTreeMap<String, Preset>> {
    toml::from_str(BUILTIN).context("the built-in agent presets do not parse")
}

/// The names of the built-in presets.
pub fn builtin_names() -> Vec<String> {
    builtin()
        .map(|p| p.into_keys().collect())
        .unwrap_or_default()
}

/// The preset `name`: from git config (`orch.agent.<name>.command`, which
/// replaces a built-in of that name), else built in. Unknown: an error
/// listing the presets there are.
pub fn find(repo: &Repo, name: &str) -> Result<Preset> {
    let key = |k: &str| format!("{CONFIG_SECTION}.{name}.{k}");
    if let Some(command) = repo.config_string(&key("command"))? {
        return Ok(Preset {
            command,
            resume: repo.config_string(&key("resume"))?,
            session: repo.config_string(&key("session"))?,
            tty: repo.config_bool(&key("tty"))?.unwrap_or(false),
            ..Preset::default()
        });
    }
    if let Some(preset) = builtin()?.remove(name) {
        return Ok(preset);
    }
    Err(Hint::new(format!("unknown agent preset '{name}'"))
        .hint(format!(
            "presets: {}; or define one: git config {CONFIG_SECTION}.{name}.command '<command>'",
            builtin_names().join(", ")
        ))
        .into())
}

impl Preset {
    /// The command line for a worker git-orch sandboxes (`sandboxed`) or
    /// not, new or continuing `session`. `None`: the preset cannot resume.
    pub fn command_line(&self, sandboxed: bool, session: Option<&str>) -> Option<String> {
        let template = match session {
            Some(_) => self.resume.as_deref()?,
            None => &self.command,
        };
        let (flags, then) = if sandboxed {
            (&self.sandboxed, &self.sandboxed_then)
        } else {
            (&self.trusted, &self.trusted_then)
        };
        let mut line = if flags.is_empty() {
            template.replace(" {flags}", "").replace("{flags}", "")
        } else {
            template.replace("{flags}", flags)
        };
        if let Some(then) = then {
            line = format!("{line} && {then}");
        }
        let line = match session {
            Some(id) => line.replace("{session}", &shell_quote(id)),
            None => line,
        };
        Some(line)
    }

    /// The session id in `output` (what the agent printed), per `session`.
    pub fn find_session(&self, output: &str) -> Option<String> {
        find_session(self.session.as_deref()?, output)
    }
}

/// What to start for a worker: a command line of the user's (`--exec`), or
/// an agent preset (`--agent`), new or continuing its recorded session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    Exec(String),
    Preset { name: String, resume: bool },
}

/// The command line `launcher` runs for the worker `id` (sandboxed by
/// git-orch or not: a preset's flags follow), the preset's name and
/// whether it wants a terminal. Refused when it cannot be built: an
/// unknown preset, or a resume with no session or no resume command.
pub fn command_line(
    repo: &Repo,
    id: &str,
    launcher: &Launcher,
) -> Result<(String, Option<String>, bool)> {
    let (name, resume) = match launcher {
        Launcher::Exec(command) => return Ok((command.clone(), None, false)),
        Launcher::Preset { name, resume } => (name, *resume),
    };
    let preset = find(repo, name)?;
    let sandboxed = local::load_local(repo, id)?.is_some_and(|l| l.isolation == local::SANDBOX);
    let session = if resume {
        if preset.resume.is_none() {
            return Err(
                Hint::new(format!("the agent preset '{name}' cannot resume a session"))
                    .hint(format!(
                        "start a new one: git worker relaunch {id} --agent {name}"
                    ))
                    .into(),
            );
        }
        let Some(session) = local::load_agent(repo, id)?.and_then(|a| a.session) else {
            return Err(Hint::new(format!(
                "no session id is recorded for the agent of worker '{id}'"
            ))
            .hint(format!(
                "its agent printed none that the preset '{name}' recognizes; start a new session: git worker relaunch {id} --agent {name}"
            ))
            .into());
        };
        Some(session)
    } else {
        None
    };
    let line = preset
        .command_line(sandboxed, session.as_deref())
        .context("a resume command")?;
    Ok((line, Some(name.clone()), preset.tty))
}

/// Watches an agent's log for the session id its preset says it prints:
/// only what this launch printed (from where the log ended when it started).
pub struct SessionWatch {
    preset: Option<Preset>,
    log: PathBuf,
    start: u64,
}

impl SessionWatch {
    pub fn new(repo: &Repo, preset: Option<&str>, log: &Path) -> SessionWatch {
        SessionWatch {
            preset: preset
                .and_then(|name| find(repo, name).ok())
                .filter(|p| p.session.is_some()),
            log: log.to_path_buf(),
            start: std::fs::metadata(log).map_or(0, |m| m.len()),
        }
    }

    /// Record in `facts` (saved) a session id printed since the launch.
    pub fn record(&self, repo: &Repo, id: &str, facts: &mut Agent) -> Result<()> {
        let Some(preset) = &self.preset else {
            return Ok(());
        };
        let Ok(file) = std::fs::File::open(&self.log) else {
            return Ok(());
        };
        let mut file = std::io::BufReader::new(file);
        file.seek(std::io::SeekFrom::Start(self.start))?;
        // Sessions are announced first: the start of the output is enough.
        let mut head = Vec::new();
        file.take(1 << 20).read_to_end(&mut head)?;
        let found = preset.find_session(&String::from_utf8_lossy(&head));
        if found.is_some() && found != facts.session {
            facts.session = found;
            local::save_agent(repo, id, facts)?;
        }
        Ok(())
    }
}

/// The session id `rule` finds in `output`: `json:KEY` (the string value
/// of the first `"KEY":` in it) or `line:PREFIX` (what follows PREFIX on
/// the first line that has it). Ids are letters, digits, `-`, `_` and `.`.
pub fn find_session(rule: &str, output: &str) -> Option<String> {
    let id = |text: &str| -> Option<String> {
        let id: String = text
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        (!id.is_empty()).then_some(id)
    };
    if let Some(key) = rule.strip_prefix("json:") {
        let quoted = format!("\"{key}\"");
        let mut rest = output;
        while let Some(at) = rest.find(&quoted) {
            rest = &rest[at + quoted.len()..];
            let value = rest.trim_start();
            if let Some(value) = value.strip_prefix(':')
                && let Some(value) = value.trim_start().strip_prefix('"')
                && let Some(found) = id(value)
            {
                return Some(found);
            }
        }
        return None;
    }
    let prefix = rule.strip_prefix("line:")?;
    output.lines().find_map(|line| {
        line.find(prefix)
            .and_then(|at| id(&line[at + prefix.len()..]))
    })
}

/// `text` single-quoted for `sh`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> Preset {
        builtin().unwrap().remove(name).unwrap()
    }

    #[test]
    fn every_builtin_preset_parses_and_names_its_flags() {
        let names = builtin_names();
        assert_eq!(names, ["aider", "claude", "codex", "gemini", "opencode"]);
        for name in names {
            let p = preset(&name);
            let line = p.command_line(false, None).unwrap();
            assert!(line.starts_with(&format!("{name} ")), "{line}");
            assert!(line.contains("ORCH_PROMPT"), "{line}");
            assert!(!line.contains('{') || line.contains("${"), "{line}");
            assert!(!line.contains("{flags}"), "{line}");
        }
    }

    #[test]
    fn the_sandbox_rule_turns_codex_and_claude_sandboxes_off_only_inside_git_orchs() {
        let codex = preset("codex");
        let inside = codex.command_line(true, None).unwrap();
        assert_eq!(
            inside,
            "codex exec --dangerously-bypass-approvals-and-sandbox - < \"$ORCH_PROMPT\""
        );
        let outside = codex.command_line(false, None).unwrap();
        assert!(
            outside.contains("-c sandbox_mode=workspace-write"),
            "{outside}"
        );
        assert!(!outside.contains("dangerously"), "{outside}");
        let claude = preset("claude");
        assert!(
            claude
                .command_line(true, None)
                .unwrap()
                .contains("--dangerously-skip-permissions")
        );
        let outside = claude.command_line(false, None).unwrap();
        assert!(
            outside.contains("--permission-mode acceptEdits"),
            "{outside}"
        );
        assert!(!outside.contains("dangerously"), "{outside}");
    }

    #[test]
    fn resume_quotes_the_session_and_aider_has_none() {
        let line = preset("codex").command_line(true, Some("0199-ab")).unwrap();
        assert_eq!(
            line,
            "codex exec resume --dangerously-bypass-approvals-and-sandbox '0199-ab' - < \"$ORCH_PROMPT\""
        );
        assert!(
            preset("claude")
                .command_line(false, Some("s1"))
                .unwrap()
                .contains("--resume 's1'")
        );
        assert_eq!(preset("aider").command_line(false, Some("x")), None);
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn session_ids_are_found_the_way_each_cli_prints_them() {
        let claude =
            r#"{"type":"system","subtype":"init","cwd":"/x","session_id":"3f2a-11","tools":[]}"#;
        assert_eq!(
            preset("claude").find_session(claude).as_deref(),
            Some("3f2a-11")
        );
        let codex = "OpenAI Codex v0.171.0\n--------\nworkdir: /x\nmodel: gpt-5\nsession id: 0199a1b2-c3d4\n--------\n";
        assert_eq!(
            preset("codex").find_session(codex).as_deref(),
            Some("0199a1b2-c3d4")
        );
        let opencode = r#"{"type":"step_start","timestamp":1,"sessionID":"ses_4f2a1c","part":{}}"#;
        assert_eq!(
            preset("opencode").find_session(opencode).as_deref(),
            Some("ses_4f2a1c")
        );
        let gemini = r#"{"type":"init","timestamp":"t","session_id": "abc-1","model":"m"}"#;
        assert_eq!(
            preset("gemini").find_session(gemini).as_deref(),
            Some("abc-1")
        );
        assert_eq!(preset("aider").find_session(codex), None);
        assert_eq!(find_session("json:session_id", "no id here"), None);
        assert_eq!(
            find_session("json:session_id", r#""session_id":null, "session_id":"b""#).as_deref(),
            Some("b")
        );
    }
}
