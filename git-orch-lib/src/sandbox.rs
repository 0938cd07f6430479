//! The OS sandbox untrusted code runs in: the agents of sandboxed workers,
//! and verification commands (which run a worker's code).
//!
//! A process restricts itself and then `exec`s the untrusted program, the
//! way Codex ships `codex-linux-sandbox`: the hidden `git worker
//! sandbox-exec` subcommand calls [`exec`], and [`command`] builds the
//! command line that runs a program through it. What it does:
//!
//! * Landlock (ABI 3 or newer, Linux 6.2): the program may read and run
//!   anything, and write only beneath the directories of [`Spec::write`]
//!   (and `/dev/null`, the terminal); this holds for everything it starts,
//!   and cannot be undone;
//! * `no_new_privs`, and, when it runs as root, no capabilities (the
//!   bounding set emptied, so none come back on `exec`);
//! * Landlock scopes (ABI 6) where the kernel has them: no signals to
//!   processes outside the sandbox, no abstract unix sockets made outside;
//! * no connecting to unix sockets on disk outside (your tmux server,
//!   Docker, D-Bus, ssh-agent): Landlock where the kernel governs them (ABI
//!   9), else no unix sockets at all (seccomp), unless [`Spec::unix_sockets`];
//! * no FIFOs or device files made (a FIFO in a worker's repository would
//!   hang whoever reads it), no `TIOCSTI`/`TIOCLINUX` (typing into a
//!   terminal), no `io_uring` (seccomp);
//! * with the network off: no TCP `bind`/`connect` (Landlock, ABI 4) and no
//!   socket but unix ones (seccomp), and, when bubblewrap is installed, a
//!   network namespace of its own on top. (Not a session of its own: the
//!   process group is how a timed-out verification is stopped, all of it.)
//!
//! A kernel without Landlock refuses: nothing runs unsandboxed silently.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};

use crate::exit::Hint;

/// Without Refer (ABI 2) a rename across directories is refused, and
/// without Truncate (ABI 3) truncating a file outside is not: the minimum.
const MIN_ABI: ABI = ABI::V3;
/// Rights wanted beyond the minimum, where the kernel has them (ABI 5:
/// ioctl on devices; ABI 9: connecting to unix sockets on disk).
const WANT_ABI: ABI = ABI::V9;
/// Device files that stay writable (when they exist).
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// What a sandboxed program may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// Directories (or files) it may write beneath; each must exist.
    pub write: Vec<PathBuf>,
    /// Whether it may use the network.
    pub network: bool,
    /// Whether it may connect to unix sockets on disk outside its writable
    /// directories where Landlock cannot tell them apart (before ABI 9):
    /// then it may make unix sockets at all (`orch.sandbox.unixSockets`).
    pub unix_sockets: bool,
}

/// What this machine can enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// Landlock with at least ABI 3: sandboxes can be made.
    pub landlock: bool,
    /// Why not, when not.
    pub missing: String,
    /// TCP restrictions (ABI 4).
    pub tcp: bool,
    /// Signal and abstract-socket scopes (ABI 6).
    pub scopes: bool,
    /// Unix sockets on disk governed (ABI 9).
    pub unix: bool,
    /// bubblewrap, for a network namespace of its own.
    pub bwrap: Option<PathBuf>,
}

impl Support {
    /// One line for `doctor`.
    pub fn describe(&self) -> String {
        if !self.landlock {
            return format!("no sandbox on this machine: {}", self.missing);
        }
        format!(
            "sandbox: Landlock (writes confined{}{}{}){}",
            if self.tcp { ", TCP off on request" } else { "" },
            if self.scopes {
                ", signals and abstract sockets scoped"
            } else {
                ""
            },
            if self.unix {
                ", unix sockets outside refused"
            } else {
                "; seccomp: no unix sockets"
            },
            match &self.bwrap {
                Some(path) => format!(", bubblewrap {} for a network namespace", path.display()),
                None => ", no bubblewrap (network off by Landlock and seccomp alone)".to_string(),
            }
        )
    }
}

/// Whether the kernel can enforce `f`'s ruleset, without enforcing it.
fn enforceable(
    f: impl FnOnce(Ruleset) -> std::result::Result<Ruleset, landlock::RulesetError>,
) -> Result<(), String> {
    f(Ruleset::default().set_compatibility(CompatLevel::HardRequirement))
        .and_then(|ruleset| ruleset.create())
        .map(drop)
        .map_err(|err| err.to_string())
}

/// Whether Landlock governs connecting to unix sockets on disk (ABI 9).
fn unix_governed() -> bool {
    enforceable(|r| r.handle_access(AccessFs::ResolveUnix)).is_ok()
}

/// What this machine can enforce (nothing is restricted to find out).
pub fn probe() -> Support {
    let fs = enforceable(|r| r.handle_access(AccessFs::from_write(MIN_ABI)));
    Support {
        landlock: fs.is_ok(),
        missing: fs.err().map_or(String::new(), |err| {
            format!("Landlock ABI 3 (Linux 6.2, 'landlock' among the LSMs) is needed: {err}")
        }),
        tcp: enforceable(|r| r.handle_access(AccessNet::from_all(ABI::V4))).is_ok(),
        scopes: enforceable(|r| r.scope(Scope::from_all(ABI::V6))).is_ok(),
        unix: unix_governed(),
        bwrap: which::which("bwrap").ok(),
    }
}

/// Refuse, with what is missing, unless this machine can sandbox `spec`.
pub fn require(spec: &Spec) -> Result<Support> {
    able(probe(), spec)
}

/// `support`, if it can make the sandbox `spec`; else what is missing.
fn able(support: Support, spec: &Spec) -> Result<Support> {
    if !support.landlock {
        return Err(
            Hint::new(format!("this machine cannot sandbox: {}", support.missing))
                .hint("`git worker doctor` says what the platform supports")
                .hint("run without --sandbox (a trusted worker) only for an agent you trust")
                .into(),
        );
    }
    if !spec.network && !support.tcp {
        return Err(Hint::new(
            "this kernel cannot cut the network of a sandbox (Landlock ABI 4, Linux 6.7, is needed)",
        )
        .hint("allow the network (--network on), or upgrade the kernel")
        .into());
    }
    Ok(support)
}

/// The `git-worker` program that runs the trampoline: this program when it
/// is `git-worker`, else the one installed beside it, else on PATH.
fn trampoline() -> Result<PathBuf> {
    let me = std::env::current_exe().context("cannot find this program")?;
    if me.file_name() == Some(OsStr::new("git-worker")) {
        return Ok(me);
    }
    if let Some(sibling) = me.parent().map(|dir| dir.join("git-worker"))
        && sibling.is_file()
    {
        return Ok(sibling);
    }
    which::which("git-worker").map_err(|_| {
        Hint::new("git-worker is not installed, and sandboxes are made by it")
            .hint("install the whole git-orch suite (README, \"Install\")")
            .into()
    })
}

/// A command that runs `program args` in the sandbox `spec` (through
/// `git-worker sandbox-exec`, inside bubblewrap when it is installed: it
/// hides the coordinator's signing key, and gives a network namespace of
/// its own when the network is off). The caller sets the directory,
/// environment and standard streams.
pub fn command(spec: &Spec, program: &OsStr, args: &[OsString]) -> Result<Command> {
    let mut line = prefix(spec)?;
    line.push(program.to_os_string());
    line.extend(args.iter().cloned());
    let mut command = Command::new(&line[0]);
    command.args(&line[1..]);
    Ok(command)
}

/// The command line that runs a program in the sandbox `spec` when the
/// program and its arguments follow it ([`command`]).
pub fn prefix(spec: &Spec) -> Result<Vec<OsString>> {
    let support = require(spec)?;
    let mut line: Vec<OsString> = Vec::new();
    if let Some(bwrap) = &support.bwrap {
        line.push(bwrap.clone().into_os_string());
        for arg in ["--dev-bind", "/", "/"] {
            line.push(arg.into());
        }
        // The coordinator's signing key is hidden from the agent (an empty
        // directory over it), network or not. Without bubblewrap the key
        // is as readable as the user's other credentials (docs/security.md).
        if let Some(keys) = crate::local::user_keys_dir().filter(|dir| dir.is_dir()) {
            line.push("--tmpfs".into());
            line.push(keys.into_os_string());
        }
        if !spec.network {
            // Without the network, as before: gone with its parent.
            line.push("--unshare-net".into());
            line.push("--die-with-parent".into());
        }
        line.push("--".into());
    }
    line.push(trampoline()?.into_os_string());
    line.push("sandbox-exec".into());
    for dir in &spec.write {
        line.push("--write".into());
        line.push(dir.clone().into_os_string());
    }
    line.push("--network".into());
    line.push(if spec.network { "on" } else { "off" }.into());
    if spec.unix_sockets {
        line.push("--unix-sockets".into());
    }
    line.push("--".into());
    Ok(line)
}

/// Restrict this process as `spec` says, then become `program args`. Only
/// returns on failure, with the exit status that says which: 125 the
/// sandbox could not be made (nothing ran), 127 no such program, 126 it
/// could not be started (as `env` and `timeout` say).
pub fn exec(spec: &Spec, program: &OsStr, args: &[OsString]) -> (u8, anyhow::Error) {
    if let Err(err) = restrict(spec) {
        return (
            125,
            err.context("the sandbox could not be made; nothing was run"),
        );
    }
    let err = Command::new(program).args(args).exec();
    let code = if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    let err =
        anyhow::Error::new(err).context(format!("cannot run '{}'", program.to_string_lossy()));
    (code, err)
}

/// Landlock, no_new_privs, no capabilities, and (network off) seccomp.
fn restrict(spec: &Spec) -> Result<()> {
    // Handled: every write right the kernel has; granted beneath the
    // writable directories: all but making FIFOs and devices.
    let write = AccessFs::from_write(WANT_ABI)
        & !(AccessFs::MakeFifo | AccessFs::MakeChar | AccessFs::MakeBlock);
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_write(MIN_ABI))
        .and_then(|r| {
            r.set_compatibility(CompatLevel::BestEffort)
                .handle_access(AccessFs::from_write(WANT_ABI))
        })
        .and_then(|r| r.scope(Scope::from_all(ABI::V6)))
        .context("this kernel cannot sandbox (Landlock ABI 3 is needed)")?;
    if !spec.network {
        // Handled and no rule: every TCP bind and connect is refused.
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessNet::from_all(ABI::V4))
            .context("this kernel cannot cut the network (Landlock ABI 4 is needed)")?;
    }
    let mut created = ruleset
        .create()
        .context("cannot make a Landlock ruleset")?
        .set_compatibility(CompatLevel::BestEffort);
    for dir in &spec.write {
        let fd = PathFd::new(dir).with_context(|| format!("cannot open '{}'", dir.display()))?;
        let rights = if std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            write
        } else {
            write & AccessFs::from_file(WANT_ABI)
        };
        created = created
            .add_rule(PathBeneath::new(fd, rights))
            .with_context(|| format!("cannot allow writing '{}'", dir.display()))?;
    }
    let devices: BitFlags<AccessFs> = AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    created = created
        .add_rules(path_beneath_rules(DEVICES, devices))
        .context("cannot allow the device files")?;
    let status = created
        .restrict_self()
        .context("cannot restrict this process")?;
    if status.ruleset == RulesetStatus::NotEnforced || !status.no_new_privs {
        bail!("the kernel did not enforce the sandbox ({status:?})");
    }
    drop_capabilities()?;
    let unix = spec.unix_sockets || unix_governed();
    seccomp(spec.network, unix)
}

/// Root keeps its capabilities under Landlock and no_new_privs: clear them
/// all, the bounding set first (so that none come back on exec).
fn drop_capabilities() -> Result<()> {
    use caps::{CapSet, Capability};
    let bounding = caps::read(None, CapSet::Bounding).unwrap_or_default();
    let effective = caps::read(None, CapSet::Effective).unwrap_or_default();
    if effective.contains(&Capability::CAP_SETPCAP) {
        for cap in bounding {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("cannot drop {cap} from the bounding set"))?;
        }
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).with_context(|| format!("cannot clear the {set:?} capabilities"))?;
    }
    Ok(())
}

/// seccomp: `ioctl` `TIOCSTI` and `TIOCLINUX` (typing into a terminal)
/// and `io_uring_setup` (its socket operations would go around this
/// filter) always fail; `socket()` fails for every domain but `AF_UNIX`
/// without the `network`, and for `AF_UNIX` without `unix` (connecting to
/// unix sockets outside allowed, or governed by Landlock). `socketpair`
/// stays: it reaches nothing outside.
// The ioctl numbers' type differs between targets (c_ulong, c_int).
#[allow(clippy::unnecessary_cast)]
fn seccomp(network: bool, unix: bool) -> Result<()> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    let arg_is = |index: u8, op: SeccompCmpOp, value: u64| -> Result<SeccompRule> {
        Ok(SeccompRule::new(vec![SeccompCondition::new(
            index,
            SeccompCmpArgLen::Dword,
            op,
            value,
        )?])?)
    };
    let mut rules: std::collections::BTreeMap<i64, Vec<SeccompRule>> = [
        (
            libc::SYS_ioctl,
            vec![
                arg_is(1, SeccompCmpOp::Eq, libc::TIOCSTI as u64)?,
                arg_is(1, SeccompCmpOp::Eq, libc::TIOCLINUX as u64)?,
            ],
        ),
        (libc::SYS_io_uring_setup, vec![]),
    ]
    .into_iter()
    .collect();
    let unix_domain = libc::AF_UNIX as u64;
    match (network, unix) {
        (true, true) => {}
        (true, false) => {
            rules.insert(
                libc::SYS_socket,
                vec![arg_is(0, SeccompCmpOp::Eq, unix_domain)?],
            );
        }
        (false, true) => {
            rules.insert(
                libc::SYS_socket,
                vec![arg_is(0, SeccompCmpOp::Ne, unix_domain)?],
            );
        }
        (false, false) => {
            rules.insert(libc::SYS_socket, vec![]);
        }
    }
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|err| anyhow::anyhow!("no seccomp filter for this machine: {err:?}"))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    let program: BpfProgram = filter.try_into()?;
    seccompiler::apply_filter(&program).context("cannot install the seccomp filter")?;
    Ok(())
}

/// The environment of a verification command: an allowlist, not a
/// denylist (a secret the coordinator holds never reaches the code being
/// verified). `home` and `tmp` are the scratch directories; `extra` are
/// the names the coordinator allows beyond these (`orch.verify.env`).
pub fn verify_env(
    home: &Path,
    tmp: &Path,
    network: bool,
    extra: &[String],
) -> Vec<(OsString, OsString)> {
    use std::env::{var_os, vars_os};
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut keep = |name: &str| {
        if let Some(value) = var_os(name) {
            env.push((name.into(), value));
        }
    };
    for name in ["PATH", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME"] {
        keep(name);
    }
    for name in extra {
        keep(name);
    }
    env.extend(vars_os().filter(|(name, _)| name.to_str().is_some_and(|n| n.starts_with("LC_"))));
    // rustup and cargo find their homes from HOME, which is replaced: pin
    // them where they are (read-only in the sandbox), and never let rustup
    // download a toolchain into the scratch home.
    let real_home = var_os("HOME").map(PathBuf::from);
    for (name, default) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
        let value = var_os(name).map(PathBuf::from).or_else(|| {
            real_home
                .as_ref()
                .map(|home| home.join(default))
                .filter(|dir| dir.is_dir())
        });
        if let Some(value) = value {
            env.push((name.into(), value.into_os_string()));
        }
    }
    env.push(("RUSTUP_AUTO_INSTALL".into(), "0".into()));
    if !network {
        env.push(("CARGO_NET_OFFLINE".into(), "true".into()));
    }
    env.push((
        "TERM".into(),
        var_os("TERM").unwrap_or_else(|| "dumb".into()),
    ));
    env.push(("HOME".into(), home.as_os_str().to_os_string()));
    env.push(("TMPDIR".into(), tmp.as_os_str().to_os_string()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(landlock: bool, tcp: bool) -> Support {
        Support {
            landlock,
            missing: if landlock {
                String::new()
            } else {
                "Landlock ABI 3 (Linux 6.2, 'landlock' among the LSMs) is needed: not enabled"
                    .into()
            },
            tcp,
            scopes: false,
            unix: false,
            bwrap: None,
        }
    }

    #[test]
    fn a_machine_that_cannot_sandbox_says_what_it_lacks() {
        let online = Spec {
            network: true,
            ..Spec::default()
        };
        let offline = Spec::default();
        let err = able(machine(false, false), &online).unwrap_err();
        let text = crate::exit::render(&err);
        assert!(
            text.contains("error: this machine cannot sandbox: Landlock ABI 3"),
            "{text}"
        );
        assert!(text.contains("hint: `git worker doctor`"), "{text}");
        let err = able(machine(true, false), &offline).unwrap_err();
        let text = crate::exit::render(&err);
        assert!(
            text.contains("cannot cut the network of a sandbox"),
            "{text}"
        );
        assert!(able(machine(true, false), &online).is_ok());
        assert!(able(machine(true, true), &offline).is_ok());
        assert!(
            machine(false, false)
                .describe()
                .starts_with("no sandbox on this machine")
        );
    }
}
