//! Where verification runs: a scratch checkout of exactly the tree judged,
//! outside the repository, with no way back into it, and the commands in
//! the sandbox with a scrubbed environment.
//!
//! The scratch checkout is a new repository (no origin, no refs of the
//! coordinator's) that borrows the coordinator's objects through an
//! alternates file: the sandbox lets the commands write only the scratch
//! directory (`work/`, `home/`, `tmp/`), so the objects are read-only to
//! them. Their environment is an allowlist ([`crate::sandbox::verify_env`]:
//! PATH, the locale, a scratch HOME and TMPDIR, and what `orch.verify.env`
//! names); the network is off unless `orch.verify.network` allows it.
//!
//! `orch.verify.inPlace` verifies unsandboxed instead (in the coordinator's
//! checkout for `git handoff apply`), for trusted setups.
//!
//! Either way, what the commands must not change is compared before and
//! after ([`Integrity`]), and a change fails the verification: the
//! repository's config and hooks, and in the registry the contract of the
//! worker judged and the verdicts on its change ([`Guard`]); in place also
//! HEAD and the index. (Sandboxed, the commands cannot write any of these:
//! the check is the second line. Other refs under `refs/orch/` are left
//! out: other workers and reviewers write them meanwhile.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::config::Settings;
use crate::git::{Oid, Repo};
use crate::local;
use crate::registry::{self, CommandResult};
use crate::verify::{Confined, Mode};

/// A scratch checkout for one verification, removed when dropped (whatever
/// happened); recorded on this machine while it exists, so a killed run's
/// is found and removed by `git worker prune`.
pub struct Scratch<'a> {
    repo: &'a Repo,
    name: String,
    /// The scratch directory: `work/` (the checkout), `home/`, `tmp/`.
    pub root: PathBuf,
    removed: bool,
}

impl<'a> Scratch<'a> {
    /// A scratch checkout of `commit` in a new directory under $TMPDIR,
    /// outside the repository (tools that look for a project root in parent
    /// directories must not find yours).
    pub fn create(repo: &'a Repo, commit: Oid) -> Result<Scratch<'a>> {
        let name = format!("orch-gate-{}", registry::event_id());
        let tmp = std::path::absolute(std::env::temp_dir())
            .context("cannot find the temporary directory")?;
        let scratch = Scratch {
            repo,
            root: tmp.join(&name),
            name,
            removed: false,
        };
        local::begin_gate_run(
            repo,
            &scratch.name,
            &local::GateRun {
                pid: std::process::id(),
                path: scratch.root.clone(),
            },
        )?;
        for dir in ["home", "tmp"] {
            let dir = scratch.root.join(dir);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create '{}'", dir.display()))?;
        }
        repo.checkout_for_verification(&scratch.checkout(), commit)?;
        Ok(scratch)
    }

    /// The checkout, where the commands run.
    pub fn checkout(&self) -> PathBuf {
        self.root.join("work")
    }

    pub fn remove(mut self) -> Result<()> {
        self.removed = true;
        crate::fs::remove_dir_forcefully(&self.root)?;
        local::end_gate_run(self.repo, &self.name)
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let removed = crate::fs::remove_dir_forcefully(&self.root)
            .and_then(|()| local::end_gate_run(self.repo, &self.name));
        if let Err(err) = removed {
            eprintln!(
                "warning: cannot remove the temporary checkout '{}': {err:#}",
                self.root.display()
            );
            eprintln!("hint: `git worker prune` removes it");
        }
    }
}

/// The sandbox of verification commands run in `scratch`.
pub fn confinement(scratch: &Scratch<'_>, settings: &Settings) -> Confined {
    let network = settings.verify_network;
    Confined {
        spec: crate::sandbox::Spec {
            write: vec![scratch.root.clone()],
            network,
            unix_sockets: settings.sandbox_unix_sockets,
        },
        env: crate::sandbox::verify_env(
            &scratch.root.join("home"),
            &scratch.root.join("tmp"),
            network,
            &settings.verify_env,
        ),
    }
}

/// What of the registry a verification must leave as it is: the contract
/// of the worker judged, and the verdicts on the commits it judges.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub worker: Option<String>,
    pub targets: Vec<Oid>,
}

impl Guard {
    /// For worker `id`: its contract, and the verdicts on its handoffs.
    pub fn worker(repo: &Repo, id: &str) -> Result<Guard> {
        Ok(Guard {
            worker: Some(id.to_string()),
            targets: registry::handoff_commits(repo, id, GUARDED_HANDOFFS)?,
        })
    }

    /// For a plain commit: the verdicts on it.
    pub fn commit(commit: Oid) -> Guard {
        Guard {
            worker: None,
            targets: vec![commit],
        }
    }
}

/// Handoffs of a worker whose verdicts a verification is checked not to
/// touch (the gate reads as many).
const GUARDED_HANDOFFS: usize = 200;

/// A verification about to run, as the settings say: in a sandboxed
/// scratch checkout of the commit (the default), or, with
/// `orch.verify.inPlace`, unsandboxed: in `in_place` when given, else in an
/// unsandboxed scratch checkout. What it must not change is checked after
/// ([`Integrity`]).
pub struct Verification<'a> {
    repo: &'a Repo,
    scratch: Option<Scratch<'a>>,
    dir: PathBuf,
    confined: Option<Confined>,
    guard: Guard,
    before: Integrity,
}

impl<'a> Verification<'a> {
    /// Make the scratch checkout of `commit` (unless it runs in place).
    pub fn prepare(
        repo: &'a Repo,
        settings: &Settings,
        commit: Oid,
        in_place: Option<&Path>,
        guard: Guard,
    ) -> Result<Verification<'a>> {
        if !settings.verify_in_place {
            let scratch = Scratch::create(repo, commit)?;
            return Ok(Verification {
                repo,
                dir: scratch.checkout(),
                confined: Some(confinement(&scratch, settings)),
                scratch: Some(scratch),
                before: Integrity::of(repo, &guard, false)?,
                guard,
            });
        }
        let before = Integrity::of(repo, &guard, true)?;
        let (scratch, dir) = match in_place {
            Some(dir) => (None, dir.to_path_buf()),
            None => {
                let scratch = Scratch::create(repo, commit)?;
                let dir = scratch.checkout();
                (Some(scratch), dir)
            }
        };
        Ok(Verification {
            repo,
            scratch,
            dir,
            confined: None,
            guard,
            before,
        })
    }

    /// Where the commands run.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Run `commands` (see [`crate::verify::run_commands`]). When they
    /// changed what they must not, the last result fails and says what
    /// changed.
    pub fn run(
        &self,
        commands: &[String],
        timeout: Duration,
        mode: Mode,
    ) -> Result<Vec<CommandResult>> {
        let mut results = crate::verify::run_commands(
            &self.dir,
            commands,
            timeout,
            mode,
            self.confined.as_ref(),
        )?;
        let in_place = self.confined.is_none();
        let changed = self
            .before
            .changes(&Integrity::of(self.repo, &self.guard, in_place)?);
        if !changed.is_empty()
            && let Some(last) = results.last_mut()
        {
            last.status = Some(last.status.unwrap_or(1).max(1));
            last.tail.push_str(&format!(
                "\ngit-orch: the verification changed the repository's {}: it does not pass\n",
                changed.join(", ")
            ));
            eprintln!(
                "error: the verification changed the repository's {}",
                changed.join(", ")
            );
        }
        Ok(results)
    }

    /// Remove the scratch checkout (dropping it does too, with a warning
    /// when it cannot).
    pub fn finish(self) -> Result<()> {
        match self.scratch {
            Some(scratch) => scratch.remove(),
            None => Ok(()),
        }
    }
}

/// What a verification must not change: a fingerprint of each (HEAD and
/// the index only for one in place: otherwise they are the user's to move
/// meanwhile).
#[derive(Debug, PartialEq, Eq)]
pub struct Integrity {
    head: Option<Oid>,
    index: u64,
    registry: u64,
    config: u64,
    hooks: u64,
}

impl Integrity {
    pub fn of(repo: &Repo, guard: &Guard, in_place: bool) -> Result<Integrity> {
        let mut hooks = vec![repo.common_dir().join("hooks"), local::hooks_dir(repo)];
        hooks.extend(
            repo.config_values_outside_worktree("core.hooksPath")?
                .into_iter()
                .map(PathBuf::from),
        );
        let mut registry = Vec::new();
        if let Some(id) = &guard.worker {
            let contract = registry::load(repo, id)?.map(|entry| entry.contract);
            registry.push(format!(
                "{contract:?} {:?}",
                local::pinned_contract(repo, id)?
            ));
        }
        for target in &guard.targets {
            registry.push(format!("{:?}", registry::verdicts_on(repo, *target)?));
        }
        Ok(Integrity {
            head: if in_place { repo.head_commit()? } else { None },
            index: if in_place {
                hash_files(&[repo.git_dir().join("index")])
            } else {
                0
            },
            registry: hash_bytes(registry.join("\n").as_bytes()),
            config: hash_files(&[
                repo.common_dir().join("config"),
                repo.git_dir().join("config.worktree"),
            ]),
            hooks: hash_files(&hooks),
        })
    }

    /// The names of what differs in `after`.
    pub fn changes(&self, after: &Integrity) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.head != after.head {
            out.push("HEAD");
        }
        if self.index != after.index {
            out.push("index");
        }
        if self.registry != after.registry {
            out.push("contract or verdicts");
        }
        if self.config != after.config {
            out.push("config");
        }
        if self.hooks != after.hooks {
            out.push("hooks");
        }
        out
    }
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// A fingerprint of files and directories (every file below, by name and
/// content; a missing one counts as missing).
fn hash_files(paths: &[PathBuf]) -> u64 {
    fn walk(path: &Path, out: &mut Vec<u8>) {
        out.extend_from_slice(path.as_os_str().as_encoded_bytes());
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                    .map(|dir| dir.flatten().map(|e| e.path()).collect())
                    .unwrap_or_default();
                entries.sort();
                for entry in entries {
                    walk(&entry, out);
                }
            }
            Ok(meta) => {
                out.extend_from_slice(&std::fs::read(path).unwrap_or_default());
                out.extend_from_slice(&u32::from(meta.permissions().readonly()).to_le_bytes());
                use std::os::unix::fs::PermissionsExt as _;
                out.extend_from_slice(&meta.permissions().mode().to_le_bytes());
            }
            Err(_) => out.push(0),
        }
    }
    let mut bytes = Vec::new();
    for path in paths {
        walk(path, &mut bytes);
    }
    hash_bytes(&bytes)
}
