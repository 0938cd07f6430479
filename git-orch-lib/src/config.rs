//! Settings: team defaults in a tracked `.orch.toml`, personal overrides in
//! git config `orch.*`, command-line flags over both.
//!
//! Precedence, highest first: command-line flag, git config (`orch.*`, any
//! level git reads: worktree, local, global, system), `.orch.toml` at the
//! root of the coordinator's checkout, built-in default. List settings
//! (`verify`, `allow`, `deny`) are replaced as a whole by a higher level,
//! never merged.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::contract::{quote, toml_message, validate_glob, validate_verify};
use crate::exit::Hint;
use crate::git::Repo;

/// The tracked team configuration file, at the root of the repository.
pub const FILE: &str = ".orch.toml";

pub const KEY_BASE: &str = "orch.base";
pub const KEY_PREFIX: &str = "orch.prefix";
pub const KEY_WORKTREE_DIR: &str = "orch.worktreeDir";
pub const KEY_VERIFY: &str = "orch.verify";
/// Commands run in each new checkout before its agent starts (`[setup] run`).
pub const KEY_SETUP: &str = "orch.setup";
/// The first port of the first worker's slot (`ORCH_PORT`); 0: no ports.
pub const KEY_PORT_BASE: &str = "orch.portBase";
/// The port slots start here unless orch.portBase says otherwise.
pub const DEFAULT_PORT_BASE: u16 = 20000;
/// Whether `git handoff apply` lands a worker's own commits (`--keep-commits`).
pub const KEY_KEEP_COMMITS: &str = "orch.apply.keepCommits";
/// Commands run in a checkout before it is removed (`[setup] teardown`).
pub const KEY_TEARDOWN: &str = "orch.teardown";
pub const KEY_ALLOW: &str = "orch.allow";
pub const KEY_DENY: &str = "orch.deny";
pub const KEY_REQUIRE_CHANGE: &str = "orch.requireChange";
/// What the review gate requires of a change before it lands.
pub const KEY_REVIEW_REQUIRE: &str = "orch.review.require";
/// Consecutive failed verdicts after which a worker needs attention.
pub const KEY_MAX_REJECTIONS: &str = "orch.review.maxRejections";
/// Set in a worker checkout's own `config.worktree`: the id of the worker it belongs to.
pub const KEY_WORKER: &str = "orch.worker";

pub const DEFAULT_PREFIX: &str = "orch/";
pub const DEFAULT_WORKTREE_DIR: &str = "../{repo}.worktrees";
pub const DEFAULT_MAX_REJECTIONS: u32 = 3;
/// At most this many workers spawning, active or blocked at once.
pub const KEY_MAX_ACTIVE: &str = "orch.maxActive";
/// Seconds without activity after which a running agent counts as stalled.
pub const KEY_STALL_AFTER: &str = "orch.stallAfter";
pub const DEFAULT_STALL_AFTER: u64 = 900;

// Sandboxing: in git config only (a tracked .orch.toml is a file a worker's
// change can touch; these decide what a worker can reach).
/// `auto` (sandbox `--exec` agents where the machine can), `true`, `false`.
pub const KEY_SANDBOX: &str = "orch.sandbox";
/// Directories a sandboxed agent may write besides its clone (repeatable;
/// `~/` is the home directory); replaces the defaults.
pub const KEY_SANDBOX_WRITE: &str = "orch.sandbox.write";
/// Whether a sandboxed agent may use the network (default true).
pub const KEY_SANDBOX_NETWORK: &str = "orch.sandbox.network";
/// Whether sandboxed programs (agents, verification) may connect to unix
/// sockets on disk outside where the kernel cannot govern them (default
/// false: they may make no unix socket at all there).
pub const KEY_SANDBOX_UNIX_SOCKETS: &str = "orch.sandbox.unixSockets";
/// Environment variables verification commands get besides the allowlist.
pub const KEY_VERIFY_ENV: &str = "orch.verify.env";
/// Whether verification commands may use the network (default false).
pub const KEY_VERIFY_NETWORK: &str = "orch.verify.network";
/// Verify in the coordinator's own checkout, unsandboxed (trusted setups).
pub const KEY_VERIFY_IN_PLACE: &str = "orch.verify.inPlace";
/// The state directories of agent CLIs a sandboxed agent may write, where
/// they exist: Claude Code, Codex, Gemini CLI, opencode, aider, and caches.
pub const DEFAULT_SANDBOX_WRITE: &[&str] = &[
    "~/.claude",
    "~/.claude.json",
    "~/.codex",
    "~/.gemini",
    "~/.config/opencode",
    "~/.local/share/opencode",
    "~/.aider",
    "~/.cache",
];

/// Whether workers are sandboxed (`orch.sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// `--exec` agents, where the machine can.
    Auto,
    Always,
    Never,
}

/// What a change needs before it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    /// Nothing beyond what `git handoff apply` does itself (it verifies).
    None,
    /// A passing `git review-gate run` (the latest run must pass).
    Verify,
    /// An approval (`git review-gate approve`).
    Approve,
    /// Both.
    Both,
}

impl Require {
    pub const NAMES: &'static [&'static str] = &["none", "verify", "approve", "both"];

    pub fn parse(text: &str, key: &str) -> Result<Require> {
        Ok(match text.trim() {
            "none" => Require::None,
            "verify" => Require::Verify,
            "approve" => Require::Approve,
            "both" => Require::Both,
            other => {
                return Err(Hint::new(format!(
                    "invalid {key} {}: expected one of {}",
                    quote(other),
                    Require::NAMES.join(", ")
                ))
                .hint(format!("git config {} both", KEY_REVIEW_REQUIRE))
                .into());
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Require::None => "none",
            Require::Verify => "verify",
            Require::Approve => "approve",
            Require::Both => "both",
        }
    }

    pub fn needs_run(self) -> bool {
        matches!(self, Require::Verify | Require::Both)
    }

    pub fn needs_approval(self) -> bool {
        matches!(self, Require::Approve | Require::Both)
    }
}

impl std::fmt::Display for Require {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `.orch.toml`. Unknown keys are errors, so typos do not pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct TeamFile {
    base: Option<String>,
    prefix: Option<String>,
    worktree_dir: Option<String>,
    verify: Option<Vec<String>>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    require_change: Option<bool>,
    review: Option<ReviewSection>,
    setup: Option<SetupSection>,
    max_active: Option<u32>,
    stall_after: Option<u64>,
}

/// `[setup]` of `.orch.toml`: what makes a new checkout ready to run.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SetupSection {
    run: Option<Vec<String>>,
    teardown: Option<Vec<String>>,
}

/// `[review]` of `.orch.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ReviewSection {
    require: Option<String>,
    max_rejections: Option<u32>,
}

/// Effective settings after applying every level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub base: Option<String>,
    pub prefix: String,
    /// Where worker checkouts go; `{repo}` is the repository's directory name.
    pub worktree_dir: String,
    pub verify: Vec<String>,
    /// Commands run in each new checkout before its agent starts.
    pub setup: Vec<String>,
    /// Commands run in a checkout before it is removed.
    pub teardown: Vec<String>,
    /// The first port of the first worker's slot (`orch.portBase`; 0: none).
    pub port_base: u16,
    /// `git handoff apply` lands the worker's own commits (`orch.apply.keepCommits`).
    pub keep_commits: bool,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub require_change: bool,
    /// What the review gate requires before a change lands.
    pub review_require: Require,
    /// Consecutive failed verdicts after which a worker needs attention
    /// and is not verified again without `--force` (0: never).
    pub max_rejections: u32,
    /// At most this many live workers spawning, active or blocked (none: no limit).
    pub max_active: Option<u32>,
    /// Seconds without activity after which a running agent is stalled.
    pub stall_after: u64,
    pub sandbox: SandboxMode,
    /// What a sandboxed agent may write besides its clone (`~/` expanded).
    pub sandbox_write: Vec<String>,
    pub sandbox_network: bool,
    /// `orch.sandbox.unixSockets`.
    pub sandbox_unix_sockets: bool,
    /// Variables verification commands get besides the allowlist.
    pub verify_env: Vec<String>,
    pub verify_network: bool,
    pub verify_in_place: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base: None,
            prefix: DEFAULT_PREFIX.to_string(),
            worktree_dir: DEFAULT_WORKTREE_DIR.to_string(),
            verify: Vec::new(),
            setup: Vec::new(),
            teardown: Vec::new(),
            port_base: DEFAULT_PORT_BASE,
            keep_commits: false,
            allow: Vec::new(),
            deny: Vec::new(),
            require_change: true,
            review_require: Require::None,
            max_rejections: DEFAULT_MAX_REJECTIONS,
            max_active: None,
            stall_after: DEFAULT_STALL_AFTER,
            sandbox: SandboxMode::Auto,
            sandbox_write: DEFAULT_SANDBOX_WRITE
                .iter()
                .map(|s| s.to_string())
                .collect(),
            sandbox_network: true,
            sandbox_unix_sockets: false,
            verify_env: Vec::new(),
            verify_network: false,
            verify_in_place: false,
        }
    }
}

impl Settings {
    pub fn load(repo: &Repo) -> Result<Settings> {
        let mut settings = Settings::default();
        if let Some(top) = repo.main_workdir() {
            let path = top.join(FILE);
            if let Some(team) = read_team_file(&path)? {
                settings
                    .apply_team(team)
                    .with_context(|| format!("in '{}'", path.display()))?;
            }
        }
        settings.apply_git(repo)?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply_team(&mut self, team: TeamFile) -> Result<()> {
        if team.base.is_some() {
            self.base = team.base;
        }
        if let Some(prefix) = team.prefix {
            self.prefix = prefix;
        }
        if let Some(dir) = team.worktree_dir {
            self.worktree_dir = dir;
        }
        if let Some(verify) = team.verify {
            self.verify = verify;
        }
        if let Some(allow) = team.allow {
            self.allow = allow;
        }
        if let Some(setup) = team.setup {
            if let Some(run) = setup.run {
                self.setup = run;
            }
            if let Some(teardown) = setup.teardown {
                self.teardown = teardown;
            }
        }
        if let Some(deny) = team.deny {
            self.deny = deny;
        }
        if let Some(require) = team.require_change {
            self.require_change = require;
        }
        if team.max_active.is_some() {
            self.max_active = team.max_active;
        }
        if let Some(seconds) = team.stall_after {
            self.stall_after = seconds;
        }
        if let Some(review) = team.review {
            if let Some(require) = review.require {
                self.review_require = Require::parse(&require, "review.require")?;
            }
            if let Some(max) = review.max_rejections {
                self.max_rejections = max;
            }
        }
        Ok(())
    }

    fn apply_git(&mut self, repo: &Repo) -> Result<()> {
        if let Some(base) = repo.config_string(KEY_BASE)? {
            self.base = Some(base);
        }
        if let Some(prefix) = repo.config_string(KEY_PREFIX)? {
            self.prefix = prefix;
        }
        if let Some(dir) = repo.config_string(KEY_WORKTREE_DIR)? {
            self.worktree_dir = dir;
        }
        for (key, list) in [
            (KEY_VERIFY, &mut self.verify),
            (KEY_SETUP, &mut self.setup),
            (KEY_TEARDOWN, &mut self.teardown),
            (KEY_ALLOW, &mut self.allow),
            (KEY_DENY, &mut self.deny),
        ] {
            let values = repo.config_multi(key)?;
            if !values.is_empty() {
                *list = values;
            }
        }
        if let Some(require) = repo.config_bool(KEY_REQUIRE_CHANGE)? {
            self.require_change = require;
        }
        if let Some(require) = repo.config_string(KEY_REVIEW_REQUIRE)? {
            self.review_require = Require::parse(&require, KEY_REVIEW_REQUIRE)?;
        }
        for (key, target) in [(KEY_MAX_ACTIVE, &mut self.max_active)] {
            if let Some(text) = repo.config_string(key)? {
                *target = Some(parse_number(key, &text)?);
            }
        }
        if let Some(text) = repo.config_string(KEY_STALL_AFTER)? {
            self.stall_after = parse_number(KEY_STALL_AFTER, &text)?;
        }
        if let Some(text) = repo.config_string(KEY_PORT_BASE)? {
            self.port_base = parse_number(KEY_PORT_BASE, &text)?;
        }
        if let Some(keep) = repo.config_bool(KEY_KEEP_COMMITS)? {
            self.keep_commits = keep;
        }
        self.apply_sandbox(repo)?;
        if let Some(max) = repo.config_string(KEY_MAX_REJECTIONS)? {
            self.max_rejections = max.trim().parse().map_err(|_| {
                Hint::new(format!(
                    "invalid {KEY_MAX_REJECTIONS} {}: not a whole number",
                    quote(&max)
                ))
                .hint(format!("git config {KEY_MAX_REJECTIONS} 3   (0: never)"))
            })?;
        }
        Ok(())
    }

    fn apply_sandbox(&mut self, repo: &Repo) -> Result<()> {
        if let Some(text) = repo.config_string(KEY_SANDBOX)? {
            self.sandbox = match text.trim() {
                "auto" => SandboxMode::Auto,
                "true" | "yes" | "on" | "1" => SandboxMode::Always,
                "false" | "no" | "off" | "0" => SandboxMode::Never,
                other => {
                    return Err(Hint::new(format!(
                        "invalid {KEY_SANDBOX} {}: expected auto, true or false",
                        quote(other)
                    ))
                    .hint(format!("git config {KEY_SANDBOX} auto"))
                    .into());
                }
            };
        }
        let write = repo.config_multi(KEY_SANDBOX_WRITE)?;
        if !write.is_empty() {
            self.sandbox_write = write.into_iter().filter(|w| !w.trim().is_empty()).collect();
        }
        for (key, target) in [
            (KEY_SANDBOX_NETWORK, &mut self.sandbox_network),
            (KEY_SANDBOX_UNIX_SOCKETS, &mut self.sandbox_unix_sockets),
            (KEY_VERIFY_NETWORK, &mut self.verify_network),
            (KEY_VERIFY_IN_PLACE, &mut self.verify_in_place),
        ] {
            if let Some(value) = repo.config_bool(key)? {
                *target = value;
            }
        }
        self.verify_env = repo.config_multi(KEY_VERIFY_ENV)?;
        Ok(())
    }

    /// The directories a sandboxed agent may write besides its clone: those
    /// of [`Settings::sandbox_write`] that exist, `~/` expanded.
    pub fn sandbox_dirs(&self) -> Vec<PathBuf> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        self.sandbox_write
            .iter()
            .filter_map(|dir| match (dir.strip_prefix("~/"), &home) {
                (Some(rest), Some(home)) => Some(home.join(rest)),
                (Some(_), None) => None,
                (None, _) => Some(PathBuf::from(dir)),
            })
            .filter(|dir| dir.exists())
            .collect()
    }

    fn validate(&self) -> Result<()> {
        validate_prefix(&self.prefix)?;
        for glob in self.allow.iter().chain(&self.deny) {
            validate_glob(glob)
                .context("in the configured defaults (orch.allow / orch.deny / .orch.toml)")?;
        }
        for command in &self.verify {
            validate_verify(command)?;
        }
        Ok(())
    }

    /// The directory worker checkouts go in, absolute.
    pub fn worktree_root(&self, repo: &Repo) -> Result<PathBuf> {
        let top = repo.main_workdir().ok_or_else(|| {
            Hint::new("this repository has no working tree")
                .hint("spawn workers from a non-bare clone")
        })?;
        let name = top.file_name().and_then(|n| n.to_str()).unwrap_or("repo");
        let dir = self.worktree_dir.replace("{repo}", name);
        let dir = Path::new(&dir);
        let joined = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            top.join(dir)
        };
        Ok(normalize(&joined))
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, text: &str) -> Result<T> {
    text.trim().parse().map_err(|_| {
        Hint::new(format!("invalid {key} {}: not a whole number", quote(text)))
            .hint(format!("git config {key} <number>"))
            .into()
    })
}

fn read_team_file(path: &Path) -> Result<Option<TeamFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read '{}'", path.display())),
    };
    toml::from_str(&text).map(Some).map_err(|err| {
        Hint::new(format!(
            "invalid {FILE} '{}': {}",
            path.display(),
            toml_message(&err)
        ))
        .hint(format!(
            "{FILE} accepts: base, prefix, worktree-dir, verify, allow, deny, require-change, max-active, stall-after, and [review] require, max-rejections"
        ))
        .into()
    })
}

/// A branch prefix must make valid branch names (`orch/` + id).
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let probe = format!("refs/heads/{prefix}x");
    if prefix.starts_with('/')
        || prefix.contains("..")
        || prefix.contains("//")
        || !git2_valid(&probe)
    {
        return Err(
            Hint::new(format!("invalid branch prefix {}", quote(prefix)))
                .hint("set orch.prefix (or prefix in .orch.toml) to something like 'orch/'")
                .into(),
        );
    }
    Ok(())
}

fn git2_valid(refname: &str) -> bool {
    !refname
        .chars()
        .any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
        && !refname.contains("@{")
        && !refname.ends_with(".lock")
        && !refname.split('/').any(|part| part.starts_with('.'))
}

/// Remove `.` and `..` components without touching the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_relative_worktree_dirs() {
        assert_eq!(
            normalize(Path::new("/a/b/../b.worktrees/./x")),
            PathBuf::from("/a/b.worktrees/x")
        );
    }

    #[test]
    fn team_file_rejects_unknown_keys() {
        let err = toml::from_str::<TeamFile>("prefx = 'x/'").unwrap_err();
        assert!(err.message().contains("prefx"), "{err}");
        let team: TeamFile = toml::from_str("prefix = 'agents/'\nverify = ['make test']").unwrap();
        let mut settings = Settings::default();
        settings.apply_team(team).unwrap();
        assert_eq!(settings.prefix, "agents/");
        assert_eq!(settings.verify, vec!["make test"]);
        assert!(settings.require_change);
    }

    #[test]
    fn prefixes_must_make_branch_names() {
        validate_prefix("orch/").unwrap();
        validate_prefix("agents-").unwrap();
        validate_prefix("").unwrap();
        for bad in ["/x", "a..b/", "a b/", "x~/", ".hidden/", "a//b"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
