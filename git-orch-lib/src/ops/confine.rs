//! How a command runs in a worker's checkout the way its agent does:
//! `sh -c`, and for a sandboxed worker inside the sandbox (see
//! [`crate::sandbox`]).

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::config::Settings;
use crate::local;

/// Variables naming the user's agents and servers, which a sandboxed agent
/// does not get.
const AGENT_ENV_DROPPED: &[&str] = &[
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// The process that runs `command` of the worker whose local facts are
/// `local` (its agent, its setup and teardown): `sh -c` in its checkout,
/// and for a sandboxed worker inside the sandbox: writes only to its clone
/// (where its temporary directory is too, `TMPDIR`) and to the agent CLIs'
/// state directories.
pub fn command(local: &local::Local, settings: &Settings, command: &str) -> Result<Command> {
    let args = ["-c".into(), command.into()];
    if local.isolation != crate::local::SANDBOX {
        let mut plain = Command::new("sh");
        plain.args(&args);
        return Ok(plain);
    }
    let tmp = local.path.join(".git").join("orch-tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create '{}'", tmp.display()))?;
    let mut write = vec![local.path.clone()];
    write.extend(settings.sandbox_dirs());
    let spec = crate::sandbox::Spec {
        write,
        network: !local.network_off,
        unix_sockets: settings.sandbox_unix_sockets,
    };
    let mut sandboxed = crate::sandbox::command(&spec, std::ffi::OsStr::new("sh"), &args)?;
    sandboxed.env("TMPDIR", &tmp);
    // This is a deliberate sandbox: Claude Code refuses to skip its
    // permission checks as root outside one unless IS_SANDBOX=1 says so
    // (its preset does skip them here; see share/git-worker/agents.toml).
    sandboxed.env("IS_SANDBOX", "1");
    // Its work leaves by pull, never by its own push: it has no use for the
    // user's ssh-agent, terminal multiplexer or session bus.
    for var in AGENT_ENV_DROPPED {
        sandboxed.env_remove(var);
    }
    Ok(sandboxed)
}

/// The sandbox in which git writes the clone of sandboxed worker `local`
/// for the coordinator (`git worker rebase` moving its files): it may
/// write that clone and nothing else, with no network. `None` for a
/// trusted worker.
pub fn git_spec(local: &local::Local) -> Option<crate::sandbox::Spec> {
    (local.isolation == local::SANDBOX).then(|| crate::sandbox::Spec {
        write: vec![local.path.clone()],
        network: false,
        unix_sockets: false,
    })
}
