//! Running a contract's verification commands: each through `sh -c` in a
//! given checkout, its output streamed to our stderr and its tail kept, with
//! a timeout that stops the whole process group (a test runner's children
//! included), and stopped as well when the caller caught SIGINT/SIGTERM.
//! Shared by `git handoff apply` and `git review-gate`: one runner
//! ([`run_commands`]) and one reading of a result ([`Verdict`]).

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::registry::CommandResult;

/// Seconds a verification command may take when neither `--timeout` nor the
/// contract says.
pub const DEFAULT_VERIFY_TIMEOUT: u64 = 600;

/// Set in the environment of verification commands run by the gate: a
/// verdict is never recorded from inside a verification.
pub const VERIFYING_ENV: &str = "GIT_ORCH_VERIFYING";

/// Characters of output kept for the record (the end, where failures are).
pub const TAIL_CHARS: usize = 4000;

/// Where a verification command runs besides its directory: in the
/// sandbox, with only the environment given (see [`crate::sandbox`]).
#[derive(Debug, Clone)]
pub struct Confined {
    pub spec: crate::sandbox::Spec,
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

/// `sh -c <command>`, plain or confined.
fn shell(command: &str, confined: Option<&Confined>) -> Result<Command> {
    let Some(confined) = confined else {
        let mut plain = Command::new("sh");
        plain.arg("-c").arg(command);
        return Ok(plain);
    };
    let args = ["-c".into(), command.into()];
    let mut sandboxed = crate::sandbox::command(&confined.spec, std::ffi::OsStr::new("sh"), &args)?;
    sandboxed
        .env_clear()
        .envs(confined.env.iter().map(|(k, v)| (k, v)));
    Ok(sandboxed)
}

/// Run `command` with `sh -c` in `dir` (confined, when given). Output goes
/// to our stderr as it comes when `stream`, and its tail is kept either way.
pub fn run(
    dir: &Path,
    command: &str,
    timeout: Duration,
    stream: bool,
    confined: Option<&Confined>,
) -> Result<CommandResult> {
    let started = Instant::now();
    // One pipe for stdout and stderr, as `2>&1` would: the output keeps the
    // order the command wrote it in.
    let (mut pipe, writer) = std::io::pipe().context("cannot make a pipe")?;
    let writer_too = writer.try_clone().context("cannot make a pipe")?;
    let mut command_line = shell(command, confined)?;
    let spawned = command_line
        .current_dir(dir)
        // Variables git exports to hooks would point the command's own git
        // calls at another repository than the checkout it runs in.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_PREFIX")
        .env_remove("GIT_COMMON_DIR")
        .env(VERIFYING_ENV, "1")
        .stdin(Stdio::null())
        .stdout(writer_too)
        .stderr(writer)
        // Its own process group, so a timeout stops everything it started.
        .process_group(0)
        .spawn();
    // Our copies of the write end must go, or the reader never sees the end.
    drop(command_line);
    let mut child =
        spawned.with_context(|| format!("cannot run verification command '{command}'"))?;
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let reader = {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                if stream {
                    use std::io::Write as _;
                    // The code being verified is a worker's: no escape
                    // sequence of its reaches the coordinator's terminal.
                    let _ = std::io::stderr().write_all(&crate::ui::printable_bytes(&buffer[..n]));
                }
                if let Ok(mut kept) = output.lock() {
                    kept.extend_from_slice(&buffer[..n]);
                    // Keep a bounded window: the tail is all that is recorded.
                    if kept.len() > 1 << 20 {
                        let excess = kept.len() - (1 << 19);
                        kept.drain(..excess);
                    }
                }
            }
        })
    };

    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .context("cannot wait for a verification command")?
        {
            break status;
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            break stop_group(&mut child)?;
        }
        // The command has its own process group, so a Ctrl-C reaches only
        // us: pass it on (the caller sees the pending signal and rolls back).
        if crate::interrupt::pending().is_some() {
            break stop_group(&mut child)?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // What the command left running in its group (a daemon it started)
    // would hold the pipe open forever: stop it.
    signal_group("-KILL", child.id());
    let _ = reader.join();
    let kept = output.lock().map(|kept| kept.clone()).unwrap_or_default();
    let text = String::from_utf8_lossy(&kept);
    let total = text.chars().count();
    let tail: String = text
        .chars()
        .skip(total.saturating_sub(TAIL_CHARS))
        .collect();
    Ok(CommandResult {
        command: command.to_string(),
        status: if timed_out { None } else { status.code() },
        timed_out,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        tail,
    })
}

/// How a set of verification commands runs.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Commands run at once (1: one after the other, output streamed).
    pub jobs: u32,
    /// Stream each command's output to our stderr (one at a time only).
    pub stream: bool,
    /// Say how each command went, once it ends.
    pub announce: bool,
    /// Stop at the first command that fails.
    pub stop_at_failure: bool,
}

/// What a finished command's result says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    TimedOut,
    Exited(i32),
    /// Killed by a signal (not ours).
    Killed,
}

impl Verdict {
    pub fn of(result: &CommandResult) -> Verdict {
        match (result.timed_out, result.status) {
            (true, _) => Verdict::TimedOut,
            (false, Some(0)) => Verdict::Passed,
            (false, Some(code)) => Verdict::Exited(code),
            (false, None) => Verdict::Killed,
        }
    }

    /// "exited with 3", "timed out after 10 s": the failure, as a clause.
    pub fn clause(self, timeout: Duration) -> String {
        match self {
            Verdict::Passed => "passed".to_string(),
            Verdict::TimedOut => format!("timed out after {} s", timeout.as_secs()),
            Verdict::Exited(code) => format!("exited with {code}"),
            Verdict::Killed => "exited with a signal".to_string(),
        }
    }

    /// "pass", "FAIL (exit 3)": the result, as a label.
    pub fn label(self, timeout: Duration) -> String {
        match self {
            Verdict::Passed => "pass".to_string(),
            Verdict::TimedOut => format!("FAIL (timed out after {} s)", timeout.as_secs()),
            Verdict::Exited(code) => format!("FAIL (exit {code})"),
            Verdict::Killed => "FAIL (killed)".to_string(),
        }
    }
}

/// One line saying how `result` went: `pass: cargo test (12.3 s)`.
pub fn describe(result: &CommandResult, timeout: Duration) -> String {
    format!(
        "{}: {} ({:.1} s)",
        Verdict::of(result).label(timeout),
        result.command,
        result.millis as f64 / 1000.0
    )
}

/// Run every command in `dir`, in their order, as `mode` says. One at a
/// time, output is streamed (with `mode.stream`); in parallel, each
/// command's result is printed when it ends and failures show their tail.
/// Commands not started (a signal arrived, or an earlier one failed under
/// `stop_at_failure`) are left out of the results.
pub fn run_commands(
    dir: &Path,
    commands: &[String],
    timeout: Duration,
    mode: Mode,
    confined: Option<&Confined>,
) -> Result<Vec<CommandResult>> {
    if mode.jobs <= 1 || commands.len() <= 1 || mode.stop_at_failure {
        let mut results = Vec::new();
        for command in commands {
            if crate::interrupt::pending().is_some() {
                break;
            }
            if mode.stream {
                eprintln!("verify: {command}");
            }
            let result = run(dir, command, timeout, mode.stream, confined)?;
            if mode.announce {
                eprintln!("{}", describe(&result, timeout));
            }
            let failed = !result.passed();
            results.push(result);
            if failed && mode.stop_at_failure {
                break;
            }
        }
        return Ok(results);
    }
    run_parallel(dir, commands, timeout, mode.jobs, confined)
}

fn run_parallel(
    dir: &Path,
    commands: &[String],
    timeout: Duration,
    jobs: u32,
    confined: Option<&Confined>,
) -> Result<Vec<CommandResult>> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<CommandResult>>>> =
        Mutex::new(commands.iter().map(|_| None).collect());
    let workers = (jobs as usize).min(commands.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= commands.len() || crate::interrupt::pending().is_some() {
                        break;
                    }
                    let result = run(dir, &commands[index], timeout, false, confined);
                    if let Ok(done) = &result {
                        let mut line = describe(done, timeout);
                        if !done.passed() && !done.tail.trim().is_empty() {
                            line.push_str(&format!(
                                "\n{}",
                                crate::ui::keep_end(done.tail.trim_end(), 2000)
                            ));
                        }
                        use std::io::Write as _;
                        let _ = writeln!(std::io::stderr().lock(), "{line}");
                    }
                    if let Ok(mut slots) = slots.lock() {
                        slots[index] = Some(result);
                    }
                }
            });
        }
    });
    let slots = slots
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a verification thread panicked"))?;
    slots.into_iter().flatten().collect()
}

/// Send `sig` (`-TERM`, `-KILL`) to the process group `pgid`; one that is
/// gone already is no error.
pub fn signal_group(sig: &str, pgid: u32) {
    kill(sig, &format!("-{pgid}"));
}

/// Send `sig` to process `pid`; one that is gone already is no error.
pub fn signal_process(sig: &str, pid: u32) {
    kill(sig, &pid.to_string());
}

fn kill(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", target])
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM the command's process group, give it two seconds, then SIGKILL
/// whatever is left of the group.
fn stop_group(child: &mut std::process::Child) -> Result<std::process::ExitStatus> {
    let pgid = child.id();
    let signal = |sig: &str| signal_group(sig, pgid);
    signal("-TERM");
    let grace = Instant::now();
    while grace.elapsed() < Duration::from_secs(2) {
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal("-KILL");
    child
        .wait()
        .context("cannot wait for a verification command")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_failing_and_timed_out_commands() {
        let dir = tempfile::tempdir().unwrap();
        let ok = run(
            dir.path(),
            "echo hello; echo oops >&2",
            Duration::from_secs(10),
            false,
            None,
        )
        .unwrap();
        assert!(ok.passed());
        assert!(
            ok.tail.contains("hello") && ok.tail.contains("oops"),
            "{}",
            ok.tail
        );
        let failed = run(
            dir.path(),
            "echo bad; exit 3",
            Duration::from_secs(10),
            false,
            None,
        )
        .unwrap();
        assert_eq!(failed.status, Some(3));
        assert!(!failed.passed());
        // A child of the command is stopped too (the group is signalled).
        let slow = run(
            dir.path(),
            "sleep 30 & wait",
            Duration::from_millis(200),
            false,
            None,
        )
        .unwrap();
        assert!(slow.timed_out && !slow.passed());
        assert!(slow.millis < 10_000, "{}", slow.millis);
    }

    #[test]
    fn output_keeps_its_order_and_a_left_over_daemon_does_not_hang_us() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            dir.path(),
            "for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 60 &",
            Duration::from_secs(30),
            false,
            None,
        )
        .unwrap();
        assert!(out.passed());
        assert_eq!(out.tail, "out1\nerr1\nout2\nerr2\nout3\nerr3\n");
        assert!(out.millis < 20_000, "{}", out.millis);
    }

    #[test]
    fn the_tail_keeps_the_end_of_long_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            dir.path(),
            "seq 1 20000; echo THE-END",
            Duration::from_secs(10),
            false,
            None,
        )
        .unwrap();
        assert!(
            out.tail.ends_with("THE-END\n"),
            "{}",
            &out.tail[out.tail.len() - 50..]
        );
        assert_eq!(out.tail.chars().count(), TAIL_CHARS);
    }
}
