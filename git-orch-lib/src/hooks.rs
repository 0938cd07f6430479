//! Hook installation and chaining.
//!
//! A worker's checkout gets its own hooks without touching the
//! coordinator's: spawn points the worker's `config.worktree`
//! `core.hooksPath` at `<git-common-dir>/orch/hooks`, which holds the shims
//! of `hooks/` (embedded in the binary, so the install location does not
//! matter). Every shim hands over to `git worker hook <name>`, which checks
//! what it must and then runs the repository's own hook of that name, found
//! where git would have found it without the override (`core.hooksPath` set
//! at any other level, which is where husky puts it, else
//! `<git-common-dir>/hooks`, which is where the pre-commit framework puts
//! it). So the repository's hooks keep running, chained, and can still
//! refuse.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};

use crate::git::Repo;

/// The shims, as shipped in `hooks/`.
const PRE_COMMIT: &str = include_str!("../../hooks/pre-commit");
const PRE_RECEIVE: &str = include_str!("../../hooks/pre-receive");
const CHAIN: &str = include_str!("../../hooks/chain");

/// Client-side hooks (githooks(5)) a worker's checkout gets a chaining shim
/// for when the repository has that hook. A shim for a hook the repository
/// does not have would cost a process per commit for nothing (four hooks
/// run per commit), so they follow what exists: spawn installs them, and
/// `git worker doctor` reports a hook added later, which `--fix` chains.
const CHAINED: &[&str] = &[
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "post-rewrite",
    "sendemail-validate",
    "pre-auto-gc",
    "push-to-checkout",
    "p4-changelist",
    "p4-prepare-changelist",
    "p4-post-changelist",
    "p4-pre-submit",
];

const HOT: &[&str] = &["reference-transaction", "post-index-change"];

/// Hooks a shared (hub) repository gets.
const SERVER: &[&str] = &[
    "pre-receive",
    "update",
    "post-receive",
    "post-update",
    "proc-receive",
    "push-to-checkout",
];

/// Config key holding the hooks directory a hub used before `hub init`
/// pointed core.hooksPath at the shims; its hooks are chained.
pub const KEY_CHAINED: &str = "orch.chainedHooksPath";

pub use crate::local::hooks_dir;

fn shim(name: &str) -> &'static str {
    match name {
        "pre-commit" => PRE_COMMIT,
        "pre-receive" => PRE_RECEIVE,
        _ => CHAIN,
    }
}

/// A hub's shim for a hook git-orch only chains (every server hook but
/// pre-receive): the chain shim, which first looks for the hook it would
/// chain to in `original` and exits 0 when there is none, as
/// `git worker hook` would, without starting it. `update` runs once per
/// pushed ref, so a hub with nothing to chain pays no process per ref. The
/// directory is written into the shim: `install` rewrites the shim, and
/// `problems` reports it out of date, when the chained directory changes.
fn server_chain_shim(original: &Path) -> Cow<'static, str> {
    // A path sh cannot be given in single quotes as it is: no shortcut.
    let Some(dir) = original.to_str().filter(|dir| !dir.contains('\'')) else {
        return Cow::Borrowed(CHAIN);
    };
    let guard = format!(
        "[ -x '{dir}'/\"${{0##*/}}\" ] || exit 0 # nothing to chain\ncommand -v git-worker"
    );
    Cow::Owned(CHAIN.replacen("command -v git-worker", &guard, 1))
}

/// The shims a checkout of this repository needs: `(name, content)`.
pub fn wanted(repo: &Repo, server: bool) -> Result<Vec<(&'static str, Cow<'static, str>)>> {
    if server {
        let original = original_dir(repo)?;
        let mut names = SERVER.to_vec();
        names.sort_unstable();
        return Ok(names
            .into_iter()
            .map(|name| match name {
                "pre-receive" => (name, Cow::Borrowed(PRE_RECEIVE)),
                _ => (name, server_chain_shim(&original)),
            })
            .collect());
    }
    let original = original_dir(repo)?;
    let mut names: Vec<&'static str> = CHAINED
        .iter()
        .chain(HOT)
        .copied()
        .filter(|name| is_executable(&original.join(name)))
        .collect();
    // Merges commit without running pre-commit: pre-merge-commit gets
    // the same check, always.
    names.extend(["pre-commit", "pre-merge-commit"]);
    names.sort_unstable();
    Ok(names
        .into_iter()
        .map(|name| (name, Cow::Borrowed(shim(name))))
        .collect())
}

/// Write (or refresh) the shims; returns the directory. Idempotent, and
/// safe to run concurrently: each file is replaced atomically.
pub fn install(repo: &Repo, server: bool) -> Result<PathBuf> {
    let dir = hooks_dir(repo);
    for (name, content) in wanted(repo, server)? {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == content.as_bytes()) && is_executable(&path) {
            continue;
        }
        crate::fs::write_atomically(&path, content.as_bytes())?;
        set_executable(&path)?;
    }
    Ok(dir)
}

/// Shims that are missing or differ from this binary's.
pub fn problems(repo: &Repo, server: bool) -> Result<Vec<String>> {
    let dir = hooks_dir(repo);
    let mut out = Vec::new();
    for (name, content) in wanted(repo, server)? {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Err(_) if matches!(name, "pre-commit" | "pre-merge-commit") => {
                out.push(format!("hook '{}' is missing", path.display()))
            }
            Err(_) => out.push(format!(
                "the repository's {name} hook is not chained for workers ('{}' is missing)",
                path.display()
            )),
            Ok(old) if old != content.as_bytes() => {
                out.push(format!("hook '{}' is out of date", path.display()))
            }
            Ok(_) if !is_executable(&path) => {
                out.push(format!("hook '{}' is not executable", path.display()))
            }
            Ok(_) => {}
        }
    }
    Ok(out)
}

/// Where git would look for hooks without our override: `core.hooksPath`
/// from any config level but the worktree's (unless it names our own
/// directory), else `<git-common-dir>/hooks`.
pub fn original_dir(repo: &Repo) -> Result<PathBuf> {
    // Where `hub init` moved an existing core.hooksPath aside.
    if let Some(chained) = repo.config_string(KEY_CHAINED)? {
        return Ok(resolve(repo, &chained));
    }
    let ours = hooks_dir(repo);
    for value in repo
        .config_values_outside_worktree("core.hooksPath")?
        .into_iter()
        .rev()
    {
        let path = resolve(repo, &value);
        if !same_dir(&path, &ours) {
            return Ok(path);
        }
    }
    Ok(repo.common_dir().join("hooks"))
}

/// The repository's hooks directory when each checkout has to make its own:
/// a relative `core.hooksPath` (husky's `.husky/_`) that exists in the
/// coordinator's checkout and is not tracked (made by `npm install`, and
/// git-ignored), so a new checkout lacks it. Relative to the top of a
/// checkout.
pub fn generated_dir(repo: &Repo) -> Result<Option<PathBuf>> {
    let ours = hooks_dir(repo);
    let Some(value) = repo
        .config_values_outside_worktree("core.hooksPath")?
        .into_iter()
        .rev()
        .find(|value| !same_dir(&resolve(repo, value), &ours))
    else {
        return Ok(None);
    };
    let relative = PathBuf::from(&value);
    if relative.is_absolute() || value.starts_with('~') {
        return Ok(None);
    }
    let (Some(top), Some(head)) = (repo.main_workdir(), repo.head_commit()?) else {
        return Ok(None);
    };
    let tracked = repo.commit_has_path(head, relative.as_os_str().as_encoded_bytes())?;
    Ok((top.join(&relative).is_dir() && !tracked).then_some(relative))
}

/// Give the new checkout at `checkout` the repository's generated hooks
/// directory ([`generated_dir`]) from the coordinator's checkout, when it
/// lacks it: its relative path, when copied.
pub fn copy_generated_dir(repo: &Repo, checkout: &Path) -> Result<Option<PathBuf>> {
    let (Some(relative), Some(top)) = (generated_dir(repo)?, repo.main_workdir()) else {
        return Ok(None);
    };
    let there = checkout.join(&relative);
    if there.symlink_metadata().is_ok() || !crate::fs::stays_beneath(checkout, &relative) {
        return Ok(None);
    }
    crate::fs::copy_tree(&top.join(&relative), &there)?;
    Ok(Some(relative))
}

/// A hooks path from config: `~/` expanded, relative to where hooks run.
fn resolve(repo: &Repo, value: &str) -> PathBuf {
    let path = expand_home(value);
    if path.is_absolute() {
        return path;
    }
    repo.workdir().unwrap_or_else(|| repo.git_dir()).join(path)
}

fn expand_home(value: &str) -> PathBuf {
    match (value.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(value),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(a, b)| a == b)
}

/// Set for the repository's own hook when ours chains to it: if that hook
/// is one of our shims again (a `core.hooksPath` pointing at git-orch's
/// hooks/), it must not check and chain a second time, forever.
pub const CHAINED_ENV: &str = "GIT_ORCH_CHAINED_HOOK";

/// Whether this process is the repository's own hook `name`, run by ours.
pub fn is_chained(name: &str) -> bool {
    std::env::var_os(CHAINED_ENV).is_some_and(|value| value == name)
}

/// Run the repository's own hook `name` with `args`, feeding it `stdin` when
/// given (else it inherits ours); its exit status, or 0 when there is none.
pub fn run_original(repo: &Repo, name: &str, args: &[String], stdin: Option<&[u8]>) -> Result<i32> {
    run_original_on(repo, name, args, stdin, None)
}

/// [`run_original`], with the hook seeing `index` as the index (what a
/// commit of that index would meet: `git handoff report` of uncommitted
/// work).
pub fn run_original_on(
    repo: &Repo,
    name: &str,
    args: &[String],
    stdin: Option<&[u8]>,
    index: Option<&Path>,
) -> Result<i32> {
    let dir = original_dir(repo)?;
    let path = dir.join(name);
    if !dir.exists() {
        // core.hooksPath names a directory this checkout lacks (husky's
        // `.husky/_`, made by `npm install`): not silently skipped.
        eprintln!(
            "warning: the repository's hooks directory '{}' (core.hooksPath) does not exist in this checkout: its {name} hook did not run",
            dir.display()
        );
        eprintln!(
            "hint: make it here (for husky: npm install), or have spawn run that: [setup] in .orch.toml"
        );
        return Ok(0);
    }
    if !is_executable(&path) || same_dir(&dir, &hooks_dir(repo)) {
        return Ok(0);
    }
    let mut command = Command::new(invocation(&dir, name));
    command.args(args).env(CHAINED_ENV, name);
    if let Some(index) = index {
        command.env("GIT_INDEX_FILE", index);
    }
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run hook '{}'", path.display()))?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write as _;
        // A hook may exit without reading its input: that is not our error.
        let _ = pipe.write_all(data);
    }
    let status = child
        .wait()
        .with_context(|| format!("hook '{}' failed to run", path.display()))?;
    Ok(status.code().unwrap_or(1))
}

/// Run the repository's own pre-commit hook on `tree` (a checkout's
/// snapshot: its uncommitted work) staged in a temporary index, as a commit
/// of it would meet it: `Some(status)` when the hook refuses.
pub fn pre_commit_refuses(repo: &Repo, tree: crate::git::Oid) -> Result<Option<i32>> {
    // No hook (or no hooks directory, which run_original_on says): no
    // temporary index to build.
    let dir = original_dir(repo)?;
    if dir.exists() && !is_executable(&dir.join("pre-commit")) {
        return Ok(None);
    }
    let (_scratch, index) = repo.temporary_index(tree)?;
    let code = run_original_on(repo, "pre-commit", &[], None, Some(&index))?;
    Ok((code != 0).then_some(code))
}

/// The path to start hook `name` of `dir` by: the one git would have
/// started it by, had our shim not been there. git runs a hook in the top
/// of the working tree (in the git dir of a bare repository) by a path
/// relative to there when the hook lies beneath it (`hooks/pre-receive` in
/// a bare repository, `.git/hooks/pre-commit` in a checkout), and the hook
/// sees that path as `$0`: a script cannot be given another `$0` than the
/// path it was started by. Some hooks rely on it: gitolite's multi-hook
/// driver (its repo-specific-hooks feature) runs the `$0.*` hooks and exits
/// 1 on a failing one only when `$0` is exactly `hooks/pre-receive`;
/// started by an absolute path, it ignored every refusal but the last
/// hook's, and gave post-update hooks no arguments. A hook anywhere else
/// (an absolute core.hooksPath) is started by its absolute path, as git does.
fn invocation(dir: &Path, name: &str) -> PathBuf {
    let absolute = dir.join(name);
    // Both physical paths: getcwd(3) resolves symlinks, and so must the
    // hooks directory to compare with it. The hook itself may be a
    // symlink (gitolite links its hooks), so it is not resolved.
    let (Ok(cwd), Ok(real)) = (std::env::current_dir(), std::fs::canonicalize(dir)) else {
        return absolute;
    };
    match real.strip_prefix(&cwd) {
        // `./name`, not `name`, which would be looked up on PATH.
        Ok(relative) if relative.as_os_str().is_empty() => Path::new(".").join(name),
        Ok(relative) => relative.join(name),
        Err(_) => absolute,
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

fn set_executable(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make '{}' executable", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hubs_chain_shims_start_nothing_when_there_is_nothing_to_chain() {
        let shim = server_chain_shim(Path::new("/srv/hub.git/hooks"));
        let guard = shim
            .find("[ -x '/srv/hub.git/hooks'/\"${0##*/}\" ] || exit 0")
            .expect("a guard");
        assert!(guard < shim.find("exec git-worker hook").expect("the hand-over"));
        assert_eq!(shim.matches("command -v git-worker").count(), 1);
        // A directory sh cannot be given in single quotes: the plain shim.
        assert_eq!(server_chain_shim(Path::new("/srv/it's/hooks")), CHAIN);
    }

    #[test]
    fn a_hook_beneath_the_current_directory_is_started_by_a_relative_path() {
        let cwd = std::env::current_dir().expect("a current directory");
        let real = std::fs::canonicalize(&cwd).expect("it exists");
        assert_eq!(invocation(&real, "update"), Path::new("./update"));
        let parent = real.parent().expect("not the root");
        assert_eq!(invocation(parent, "update"), parent.join("update"));
        assert_eq!(
            invocation(Path::new("/nonexistent/hooks"), "update"),
            Path::new("/nonexistent/hooks/update")
        );
    }

    #[test]
    fn shims_hand_over_to_git_worker_hook() {
        assert!(PRE_COMMIT.contains("exec git-worker hook pre-commit \"$@\""));
        assert!(PRE_RECEIVE.contains("exec git-worker hook pre-receive \"$@\""));
        assert!(CHAIN.contains("exec git-worker hook \"${0##*/}\" \"$@\""));
        for shim in [PRE_COMMIT, PRE_RECEIVE, CHAIN] {
            assert!(shim.starts_with("#!/bin/sh\n"));
            assert!(
                shim.contains("exit 2"),
                "a missing binary must be an error, not a silent pass"
            );
        }
    }
}
