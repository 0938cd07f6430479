//! Starting an agent, on a pseudo-terminal when it needs one (`--tty`, or
//! its preset says so): agent CLIs that find no terminal exit at once.
//!
//! The terminal comes from `portable-pty` (wezterm's), whose safe API makes
//! the agent a session leader with the terminal as its controlling one
//! (the workspace forbids unsafe code). What the agent prints is copied
//! into its log, as a plain agent's standard output and error go there.

use std::path::Path;
use std::process::Command;
use std::sync::mpsc::Receiver;

use anyhow::{Context as _, Result};

/// Start `agent` (its output already going to `log` when not `tty`); on a
/// pseudo-terminal with `tty`, with a channel that says when the copy of
/// its output into `log` has ended.
pub fn spawn(
    agent: &mut Command,
    tty: bool,
    log: &Path,
) -> Result<(std::process::Child, Option<Receiver<()>>)> {
    if !tty {
        return Ok((agent.spawn()?, None));
    }
    let (child, copied) = spawn_on_pty(agent, log).context("on a pseudo-terminal")?;
    Ok((child, Some(copied)))
}

/// Start `agent` on a new pseudo-terminal (its standard input, output and
/// error, and its controlling terminal), what it prints copied to `log`.
fn spawn_on_pty(agent: &Command, log: &Path) -> Result<(std::process::Child, Receiver<()>)> {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 50,
            cols: 160,
            pixel_width: 0,
            pixel_height: 0,
        })
        .context("cannot open a pseudo-terminal")?;
    let mut builder = CommandBuilder::new(agent.get_program());
    builder.args(agent.get_args());
    if let Some(dir) = agent.get_current_dir() {
        builder.cwd(dir);
    }
    for (key, value) in agent.get_envs() {
        match value {
            Some(value) => builder.env(key, value),
            None => builder.env_remove(key),
        }
    }
    if builder.get_env("TERM").is_none() {
        builder.env("TERM", "xterm-256color");
    }
    let child = pair.slave.spawn_command(builder)?;
    // Only the agent holds the terminal's other end now: when it (and what
    // it started) is gone, the copy below reads the end.
    drop(pair.slave);
    let child = child
        .into_any()
        .downcast::<std::process::Child>()
        .map_err(|_| anyhow::anyhow!("the pseudo-terminal's child is not a process"))?;
    let mut reader = pair.master.try_clone_reader()?;
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open '{}'", log.display()))?;
    let master = pair.master;
    let (done, copied) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _master = master;
        let _ = std::io::copy(&mut reader, &mut out);
        let _ = done.send(());
    });
    Ok((*child, copied))
}
