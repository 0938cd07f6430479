//! The hermetic environment every command runs in, and running commands.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Environment of every process the harness starts: the binaries under test
/// first on PATH, no user or system git config, a fixed identity.
pub struct Env {
    vars: Vec<(String, OsString)>,
}

impl Env {
    pub fn new(bin_dir: &Path, home: &Path) -> Result<Env> {
        let system = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin_dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&system));
        let path = std::env::join_paths(dirs).context("cannot build PATH")?;
        std::fs::create_dir_all(home)
            .with_context(|| format!("cannot create '{}'", home.display()))?;
        let mut vars: Vec<(String, OsString)> = vec![
            ("PATH".into(), path),
            ("HOME".into(), home.as_os_str().to_owned()),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ("GIT_AUTHOR_NAME".into(), "Bench User".into()),
            ("GIT_AUTHOR_EMAIL".into(), "bench@example.com".into()),
            ("GIT_COMMITTER_NAME".into(), "Bench User".into()),
            ("GIT_COMMITTER_EMAIL".into(), "bench@example.com".into()),
            ("LC_ALL".into(), "C".into()),
            ("TZ".into(), "UTC".into()),
        ];
        // No detached auto-gc or maintenance in the middle of a measurement
        // (none of the timed commands should trigger one, but be sure).
        for (i, (key, value)) in [("gc.auto", "0"), ("maintenance.auto", "false")]
            .iter()
            .enumerate()
        {
            vars.push((format!("GIT_CONFIG_KEY_{i}"), (*key).into()));
            vars.push((format!("GIT_CONFIG_VALUE_{i}"), (*value).into()));
        }
        vars.push(("GIT_CONFIG_COUNT".into(), "2".into()));
        Ok(Env { vars })
    }

    /// Names and values, for the report.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string_lossy().into_owned()))
            .collect()
    }

    fn command(&self, cmd: &Cmd) -> Command {
        let mut command = Command::new(&cmd.argv[0]);
        command
            .args(&cmd.argv[1..])
            .current_dir(&cmd.dir)
            .env_clear()
            .stdin(Stdio::null());
        for (key, value) in &self.vars {
            command.env(key, value);
        }
        for (key, value) in &cmd.env {
            command.env(key, value);
        }
        command
    }

    /// Run `cmd` and return its wall-clock time (spawn to exit). stdout goes
    /// to /dev/null, as with hyperfine; stderr is kept for error messages.
    pub fn time(&self, cmd: &Cmd) -> Result<Duration> {
        let mut command = self.command(cmd);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let start = Instant::now();
        let out = command
            .output()
            .with_context(|| format!("cannot run `{cmd}`"))?;
        let elapsed = start.elapsed();
        ensure_success(cmd, &out)?;
        Ok(elapsed)
    }

    /// Run `cmd` untimed and return its stdout.
    pub fn read(&self, cmd: &Cmd) -> Result<String> {
        let out = self
            .command(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("cannot run `{cmd}`"))?;
        ensure_success(cmd, &out)?;
        String::from_utf8(out.stdout).with_context(|| format!("`{cmd}` printed non-UTF-8"))
    }

    /// Run `cmd` untimed, ignoring its output.
    pub fn run(&self, cmd: &Cmd) -> Result<()> {
        self.read(cmd).map(drop)
    }
}

/// A command line and the directory it runs in.
#[derive(Clone, Debug)]
pub struct Cmd {
    pub argv: Vec<String>,
    pub dir: PathBuf,
    /// Exit status 1 is the expected outcome (a "no" being measured).
    pub expects_no: bool,
    /// Variables set for this command only, on top of the environment.
    pub env: Vec<(String, String)>,
}

impl Cmd {
    pub fn new<I, S>(dir: &Path, argv: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            argv: argv.into_iter().map(Into::into).collect(),
            dir: dir.to_path_buf(),
            expects_no: false,
            env: Vec::new(),
        }
    }

    /// The command answers "no" (exit 1) by design, e.g. a rolled-back apply.
    pub fn allow_failure(mut self) -> Cmd {
        self.expects_no = true;
        self
    }

    /// `git <args>` in `dir`.
    pub fn git<I, S>(dir: &Path, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cmd = Cmd::new(dir, ["git"]);
        cmd.argv.extend(args.into_iter().map(Into::into));
        cmd
    }

    /// Set `key=value` for this command only.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// The command as an argument vector that reproduces it exactly:
    /// `env KEY=VALUE ... argv` when it has variables of its own.
    pub fn reproducible_argv(&self) -> Vec<String> {
        if self.env.is_empty() {
            return self.argv.clone();
        }
        std::iter::once("env".to_string())
            .chain(self.env.iter().map(|(k, v)| format!("{k}={v}")))
            .chain(self.argv.iter().cloned())
            .collect()
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.argv.push(arg.into());
        self
    }
}

/// Shell-like rendering, quoting words that need it; variables of its own
/// come first, as `KEY=value`.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .chain(self.argv.iter().map(|w| quote(w)))
            .collect();
        write!(f, "{}", words.join(" "))
    }
}

pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%{}$".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// An error naming the command, its directory and git's stderr when it failed.
fn ensure_success(cmd: &Cmd, out: &std::process::Output) -> Result<()> {
    let expected = if cmd.expects_no { Some(1) } else { Some(0) };
    if out.status.code() != expected {
        bail!(
            "`{cmd}` (in {}) failed ({}): {}",
            cmd.dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_render_like_shell() {
        let cmd = Cmd::git(
            Path::new("/"),
            ["for-each-ref", "--format=%(refname) %(objectname)"],
        );
        assert_eq!(
            cmd.to_string(),
            "git for-each-ref '--format=%(refname) %(objectname)'"
        );
        let cmd = Cmd::git(Path::new("/"), ["review-gate", "run", "w"]).env("TMPDIR", "/a b");
        assert_eq!(cmd.to_string(), "TMPDIR='/a b' git review-gate run w");
        assert_eq!(
            cmd.reproducible_argv(),
            ["env", "TMPDIR=/a b", "git", "review-gate", "run", "w"]
        );
    }
}
