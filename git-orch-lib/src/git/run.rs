//! Running the `git` CLI: the [`Git`] command builder, the environment a
//! git process must not inherit, and git's version.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context as _, Result, bail};

use crate::exit::Hint;

/// Environment variables git exports to hooks and subprocesses. They win over
/// `-C`, so they are removed when running git against another checkout.
const REPO_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
];

/// What git exports while it runs a hook (on top of [`REPO_ENV`]): a
/// process started from a hook (an agent, say) must not inherit the
/// commit's identity, dates or editor.
pub const HOOK_ENV: &[&str] = &[
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_EDITOR",
    "GIT_REFLOG_ACTION",
    "GIT_QUARANTINE_PATH",
    "GIT_PUSH_OPTION_COUNT",
];

/// The variables to clear for a process that should act like one started
/// from the user's shell: the repository variables always, and what a hook
/// gets too when we run inside git (`GIT_INDEX_FILE` or `GIT_DIR` set).
pub fn inherited_git_env() -> Vec<&'static str> {
    let mut out = REPO_ENV.to_vec();
    if std::env::var_os("GIT_INDEX_FILE").is_some() || std::env::var_os("GIT_DIR").is_some() {
        out.extend(HOOK_ENV);
    }
    out
}

/// The `git` executable, found once on PATH.
pub fn git_program() -> Result<&'static Path> {
    static GIT: OnceLock<Option<PathBuf>> = OnceLock::new();
    GIT.get_or_init(|| which::which("git").ok())
        .as_deref()
        .ok_or_else(|| {
            Hint::new("git is not installed or not on PATH")
                .hint("install git 2.38 or newer")
                .into()
        })
}

/// git's output as text, without the trailing newline.
fn text_of(stdout: Vec<u8>) -> String {
    String::from_utf8_lossy(&stdout)
        .trim_end_matches('\n')
        .to_string()
}

/// stdout of a finished git process, or an error carrying git's stderr.
fn stdout_or_error(display: &str, output: std::process::Output) -> Result<Vec<u8>> {
    if !output.status.success() {
        // Some commands (git commit with nothing to commit) explain on stdout.
        let said = if output.stderr.iter().all(u8::is_ascii_whitespace) {
            &output.stdout
        } else {
            &output.stderr
        };
        bail!("{display} failed: {}", String::from_utf8_lossy(said).trim());
    }
    Ok(output.stdout)
}

/// The output of a finished git process.
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `git` invocation, built up and then run with [`Git::read`], [`Git::run`] or [`Git::output`].
#[must_use]
pub struct Git {
    dir: PathBuf,
    args: Vec<OsString>,
    isolate: bool,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, OsString)>,
    /// A command line to run git through (a sandbox's: see
    /// `sandbox::prefix`).
    through: Vec<OsString>,
}

impl Git {
    /// git run in `dir`, with the repository variables of any enclosing git
    /// process (hooks) removed, so `dir` decides which repository it acts on.
    pub fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
            args: Vec::new(),
            isolate: true,
            stdin: None,
            env: Vec::new(),
            through: Vec::new(),
        }
    }

    /// Run this git through `prefix` (the command line of a sandbox): for
    /// git that writes files a sandboxed worker controls (its checkout),
    /// so that whatever it planted there (a symlink where the index goes)
    /// cannot make git write elsewhere.
    pub fn through(mut self, prefix: &[OsString]) -> Git {
        self.through = prefix.to_vec();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Git {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Git
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn stdin(mut self, data: Vec<u8>) -> Git {
        self.stdin = Some(data);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Git {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Keep GIT_DIR and friends (for commands that must act on the caller's repository).
    pub fn inherit_repo_env(mut self) -> Git {
        self.isolate = false;
        self
    }

    fn display(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("git {}", args.join(" "))
    }

    /// Start git and return at once; [`Running::read`] waits for it.
    pub fn start(self) -> Result<Running> {
        let display = self.display();
        let handle = self
            .expression()?
            .start()
            .with_context(|| format!("failed to run {display}"))?;
        Ok(Running { handle, display })
    }

    /// Run, capturing stdout and stderr as bytes; a non-zero exit is not an error here.
    fn run_raw(self) -> Result<std::process::Output> {
        let display = self.display();
        self.expression()?
            .run()
            .with_context(|| format!("failed to run {display}"))
    }

    fn expression(&self) -> Result<duct::Expression> {
        let program = git_program()?;
        let mut expr = match self.through.split_first() {
            None => duct::cmd(program, &self.args),
            Some((first, rest)) => duct::cmd(
                first,
                rest.iter()
                    .cloned()
                    .chain([program.as_os_str().to_os_string()])
                    .chain(self.args.iter().cloned()),
            ),
        }
        .dir(&self.dir)
        .stdout_capture()
        .stderr_capture()
        .unchecked();
        if self.isolate {
            // Not the ones set explicitly: duct applies the earlier
            // modifier last, so a removal would undo them.
            for var in REPO_ENV
                .iter()
                .filter(|var| !self.env.iter().any(|(key, _)| key == OsStr::new(var)))
            {
                expr = expr.env_remove(var);
            }
        }
        for (key, value) in &self.env {
            expr = expr.env(key, value);
        }
        Ok(match &self.stdin {
            Some(data) => expr.stdin_bytes(data.clone()),
            None => expr.stdin_null(),
        })
    }

    /// Run and collect the output; a non-zero exit is not an error here.
    pub fn output(self) -> Result<Output> {
        let output = self.run_raw()?;
        Ok(Output {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Run and return stdout as bytes (for `-z` output and non-UTF-8 paths);
    /// on failure the error carries git's own stderr.
    pub fn read_bytes(self) -> Result<Vec<u8>> {
        let display = self.display();
        let output = self.run_raw()?;
        stdout_or_error(&display, output)
    }

    /// Run; on failure the error carries git's own stderr.
    pub fn read(self) -> Result<String> {
        Ok(text_of(self.read_bytes()?))
    }

    pub fn run(self) -> Result<()> {
        self.read().map(drop)
    }
}

/// A git process started with [`Git::start`].
pub struct Running {
    handle: duct::Handle,
    display: String,
}

impl Running {
    /// Wait for git; its stdout without the trailing newline, or an error
    /// carrying git's stderr.
    pub fn read(self) -> Result<String> {
        Ok(text_of(self.read_bytes()?))
    }

    /// Wait for git; its stdout as bytes, or an error carrying git's stderr.
    pub fn read_bytes(self) -> Result<Vec<u8>> {
        let output = self
            .handle
            .into_output()
            .with_context(|| format!("failed to run {}", self.display))?;
        stdout_or_error(&self.display, output)
    }
}

/// The installed git's version as (major, minor, patch).
pub fn version() -> Result<(u32, u32, u32)> {
    let out = Git::new(Path::new(".")).arg("--version").read()?;
    parse_version(&out).with_context(|| format!("cannot parse git version from '{out}'"))
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text.split_whitespace().nth(2)?;
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    });
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_versions() {
        assert_eq!(parse_version("git version 2.47.3"), Some((2, 47, 3)));
        assert_eq!(
            parse_version("git version 2.39.5.windows.1"),
            Some((2, 39, 5))
        );
        assert_eq!(parse_version("git version 2.50.0-rc1"), Some((2, 50, 0)));
        assert_eq!(parse_version("nonsense"), None);
    }
}
