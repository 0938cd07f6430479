//! `git worker spawn`: a branch, a linked worktree and a registry entry per
//! id, created as a transaction.
//!
//! Steps, each followed by a checkpoint (`spawn:<step>`) where a signal or an
//! injected fault stops the spawn and rolls back every earlier step:
//!
//! 1. `lock`: the spawn journal `<common>/orch/local/<id>.spawning`, created
//!    exclusively, names the pid, path and branch (for `prune` after a crash);
//! 2. `claim`: the registry entry, created with compare-and-swap, state `spawning`;
//! 3. `branch`: `refs/heads/<prefix><id>` at the base, create-only;
//! 4. `worktree`: `git worktree add` with parallel checkout;
//! 5. `config`: `orch.worker` and `core.hooksPath` (the worker hook shims)
//!    in the worktree's own config, then the local facts (path, pinned contract);
//! 6. `activate`: the `spawned` event, state `active`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::cli::SpawnArgs;
use orch::config::{SandboxMode, Settings};
use orch::contract::{Contract, TaskFile, quote, validate_id};
use orch::exit::{Hint, Outcome, render};
use orch::git::{Oid, Repo};
use orch::local::{self};
use orch::ops::spawn::Isolation;
use orch::registry::{self, State};
use orch::role::require_coordinator;
use orch::ui::{JSON_VERSION, print_json, short};

/// One id to spawn: its contract template, base name and base commit.
type Job = (String, Contract, String, Oid);

/// Where and how the workers of a batch are made.
struct How<'a> {
    /// The directory their checkouts go in.
    root: &'a Path,
    /// Where each works.
    isolation: Isolation,
    /// Only the directories its allowed paths name are checked out.
    sparse: bool,
    /// The prompt template for their agents (`--exec`).
    prompt: Option<&'a str>,
}

/// What a batch of spawns came to.
#[derive(Default)]
struct Batch {
    spawned: Vec<orch::ops::spawn::Spawned>,
    failures: Vec<String>,
    no_agent: Vec<String>,
}

pub fn spawn(repo: &Repo, args: SpawnArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker spawn")?;
    // Who records it, before anything is made (the rule of git/identity.rs).
    repo.committer()?;
    repo.check_ref_storage()?;
    let settings = Settings::load(repo)?;
    let task = match &args.task {
        Some(path) => TaskFile::load(path)?,
        None => TaskFile::default(),
    };

    if args.exec.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Hint::new("--exec needs a command").into());
    }
    if let Some(name) = &args.agent {
        orch::ops::presets::find(repo, name)?;
    }
    if (args.prompt_template.is_some() || args.tty) && launcher(&args).is_none() {
        let flag = if args.tty {
            "--tty"
        } else {
            "--prompt-template"
        };
        return Err(Hint::new(format!("{flag} is for an agent"))
            .hint("start one with it: --exec '<command>' or --agent <name>")
            .into());
    }
    if task.depends_on.is_some() {
        return Err(Hint::new("the task file has depends-on: it is for `git worker plan`")
            .hint("plan it: git worker plan --from <file>; then `git worker spawn --ready` spawns it when its dependencies have landed")
            .into());
    }
    let root = match &args.worktree_dir {
        Some(dir) => absolute(dir)?,
        None => settings.worktree_root(repo)?,
    };
    let Some((jobs, base_failures)) = jobs(repo, &args, &task, &settings)? else {
        eprintln!("no planned task is ready");
        return Ok(Outcome::Success);
    };
    let total = jobs.len() + base_failures.len();
    // The prompt template, checked before anything is made.
    let prompt = match launcher(&args) {
        Some(_) => {
            let text = orch::ops::agent::template(args.prompt_template.as_deref())?;
            for (_, contract, ..) in &jobs {
                orch::ops::agent::render_prompt(&text, contract, false)?;
            }
            Some(text)
        }
        None => None,
    };
    warn_missing_companions();
    let isolation = isolation(repo, &args, &settings)?;
    let mut batch = Batch {
        failures: base_failures,
        ..Batch::default()
    };
    let how = How {
        root: &root,
        isolation,
        sparse: args.sparse,
        prompt: prompt.as_deref(),
    };
    spawn_all(repo, &args, &settings, &how, &jobs, &mut batch)?;
    print_spawned(&args, &batch)?;
    if !batch.failures.is_empty() {
        bail!(
            "{} of {} workers were not spawned ({}); the others were",
            batch.failures.len(),
            total,
            batch.failures.join(", ")
        );
    }
    if !batch.no_agent.is_empty() {
        return Err(Hint::new(format!(
            "the agents of {} were not started (their workers were spawned)",
            batch.no_agent.join(", ")
        ))
        .hint("start one by hand in the worker's checkout, or `git worker rm` and spawn again")
        .into());
    }
    Ok(Outcome::Success)
}

/// What to spawn: each id with its contract and base, and the ids whose
/// base could not be resolved (`--ready`: one task's bad base does not
/// hold back the others). `None` when `--ready` finds no ready task.
fn jobs(
    repo: &Repo,
    args: &SpawnArgs,
    task: &TaskFile,
    settings: &Settings,
) -> Result<Option<(Vec<Job>, Vec<String>)>> {
    let mut jobs = Vec::new();
    let mut base_failures = Vec::new();
    if args.ready {
        let mut ready = orch::ops::plan::ready_tasks(repo)?;
        ready.truncate(args.max.unwrap_or(usize::MAX));
        if ready.is_empty() {
            return Ok(None);
        }
        for task in ready {
            let requested = Some(task.base.clone())
                .filter(|b| !b.is_empty())
                .or(settings.base.clone());
            match orch::ops::base::resolve_base(repo, requested, args.fetch) {
                Ok((base_ref, base)) => jobs.push((task.id.clone(), task.contract, base_ref, base)),
                Err(err) => {
                    eprint!(
                        "{}",
                        render(&err.context(format!("cannot spawn '{}'", task.id)))
                    );
                    base_failures.push(task.id.clone());
                }
            }
        }
        return Ok(Some((jobs, base_failures)));
    }
    let template = orch::ops::spawn::contract_template(&args.contract.flags(), task, settings)?;
    let requested = args
        .base
        .clone()
        .or(task.base.clone())
        .or(settings.base.clone());
    let (base_ref, base) = orch::ops::base::resolve_base(repo, requested, args.fetch)?;
    for id in ids(args, task)? {
        jobs.push((id, template.clone(), base_ref.clone(), base));
    }
    Ok(Some((jobs, base_failures)))
}

/// Where workers work: sandboxed (`--sandbox`, or `orch.sandbox`: `auto`
/// sandboxes `--exec` agents where the machine can, and says so), else a
/// linked worktree or a clone (`--isolation`, `orch.isolation`).
fn isolation(repo: &Repo, args: &SpawnArgs, settings: &Settings) -> Result<Isolation> {
    let network = match args.network.as_deref() {
        Some(flag) => flag == "on",
        None => settings.sandbox_network,
    };
    let wanted = if args.sandbox {
        Some(true)
    } else if args.no_sandbox {
        Some(false)
    } else {
        match settings.sandbox {
            SandboxMode::Always => Some(true),
            SandboxMode::Never => Some(false),
            SandboxMode::Auto => None,
        }
    };
    let spec = orch::sandbox::Spec {
        write: Vec::new(),
        network,
        unix_sockets: settings.sandbox_unix_sockets,
    };
    match wanted {
        Some(true) => {
            orch::sandbox::require(&spec)?;
            return Ok(Isolation::Sandbox { network });
        }
        None if launcher(args).is_some() && args.isolation.is_none() => {
            match orch::sandbox::require(&spec) {
                Ok(_) => {
                    eprintln!(
                        "note: the agents run sandboxed: each in its own clone, writing nothing else (--no-sandbox runs them trusted; docs/security.md)"
                    );
                    return Ok(Isolation::Sandbox { network });
                }
                Err(err) => eprintln!(
                    "warning: the agents run trusted, unsandboxed: {}",
                    orch::exit::render(&err)
                        .trim_start_matches("error: ")
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
            }
        }
        _ => {}
    }
    let isolation = match &args.isolation {
        Some(kind) => kind.clone(),
        None => repo
            .config_string("orch.isolation")?
            .unwrap_or_else(|| "worktree".into()),
    };
    match isolation.as_str() {
        "worktree" => Ok(Isolation::Worktree),
        "clone" => Ok(Isolation::Clone),
        other => Err(Hint::new(format!("invalid orch.isolation '{other}'"))
            .hint("git config orch.isolation worktree   (or clone)")
            .into()),
    }
}

/// Spawn every job (and its agent, with `--exec`), within the capacity:
/// live workers spawning, active or blocked, counted and claimed under a
/// lock, so concurrent spawns cannot overshoot it. With one id, its error
/// is the command's; with several, each is said and the others go on.
fn spawn_all(
    repo: &Repo,
    args: &SpawnArgs,
    settings: &Settings,
    how: &How<'_>,
    jobs: &[Job],
    batch: &mut Batch,
) -> Result<()> {
    let max_active = args.max_active.or(settings.max_active);
    let _capacity = match max_active {
        Some(_) => Some(local::lock_capacity(repo)?),
        None => None,
    };
    let mut active = match max_active {
        Some(_) => registry::list(repo)?
            .into_iter()
            .flatten()
            .filter(|e| {
                matches!(
                    e.status.state,
                    State::Spawning | State::Active | State::Blocked
                )
            })
            .count(),
        None => 0,
    };
    let single = jobs.len() == 1;
    for (id, template, base_ref, base) in jobs {
        let mut contract = template.clone();
        contract.id = id.clone();
        contract.branch = format!("{}{}", settings.prefix, id);
        contract.base = base.to_string();
        contract.base_ref = base_ref.clone();
        if let Some(max) = max_active
            && active >= max as usize
            && registry::load(repo, id)?.is_none()
        {
            let err: anyhow::Error = Hint::new(format!(
                "cannot spawn '{id}': {active} workers are active (the limit is {max}: --max-active or orch.maxActive)"
            ))
            .hint("wait for one to report or finish: git worker wait <ids> --until any")
            .into();
            if single {
                return Err(err);
            }
            eprint!("{}", render(&err));
            batch.failures.push(id.clone());
            continue;
        }
        match orch::ops::spawn::spawn_one(
            repo,
            &contract,
            &how.root.join(id),
            how.isolation,
            how.sparse,
        ) {
            Ok(mut done) => {
                if done.existed {
                    eprintln!("worker '{id}' already exists with the same contract");
                    if launcher(args).is_some() {
                        eprintln!(
                            "warning: no agent was started for '{id}': it existed already (start one by hand in its checkout)"
                        );
                    }
                } else {
                    eprintln!(
                        "spawned worker '{id}' on branch '{}' from {} ({})",
                        done.branch,
                        done.base_ref,
                        short(&done.base)
                    );
                    active += 1;
                    if let (Some(launcher), Some(prompt)) = (launcher(args), how.prompt) {
                        done.agent = launch(repo, &contract, &launcher, args.tty, prompt, batch);
                    }
                }
                batch.spawned.push(done);
            }
            Err(err) if single => return Err(err),
            Err(err) => {
                eprint!("{}", render(&err.context(format!("cannot spawn '{id}'"))));
                batch.failures.push(id.clone());
            }
        }
    }
    Ok(())
}

/// Start the agent of a worker just spawned: its supervisor's pid, or
/// `None` (said, and noted in `batch`).
fn launch(
    repo: &Repo,
    contract: &Contract,
    launcher: &orch::ops::agent::Launcher,
    tty: bool,
    prompt: &str,
    batch: &mut Batch,
) -> Option<u32> {
    let id = &contract.id;
    match orch::ops::agent::launch(repo, contract, launcher, tty, prompt) {
        Ok((pid, command)) => {
            eprintln!("started the agent of '{id}' (pid {pid}): {command}");
            Some(pid)
        }
        Err(err) => {
            eprint!(
                "{}",
                render(&err.context(format!("spawned '{id}', but cannot start its agent")))
            );
            batch.no_agent.push(id.clone());
            None
        }
    }
}

/// The agent to start in each new worker: `--exec` or `--agent`.
fn launcher(args: &SpawnArgs) -> Option<orch::ops::agent::Launcher> {
    use orch::ops::agent::Launcher;
    match (&args.exec, &args.agent) {
        (Some(command), _) => Some(Launcher::Exec(command.clone())),
        (None, Some(name)) => Some(Launcher::Preset {
            name: name.clone(),
            resume: false,
        }),
        (None, None) => None,
    }
}

/// Each spawned worker's checkout on stdout, or the JSON document.
fn print_spawned(args: &SpawnArgs, batch: &Batch) -> Result<()> {
    if args.json {
        let workers: Vec<_> = batch
            .spawned
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id, "branch": s.branch, "path": s.path, "base": s.base,
                    "base_ref": s.base_ref, "created": !s.existed, "agent_pid": s.agent,
                })
            })
            .collect();
        print_json(
            &serde_json::json!({ "version": JSON_VERSION, "workers": workers, "failed": batch.failures }),
        )?;
    } else {
        for s in &batch.spawned {
            println!("{}", s.path.display());
        }
    }
    Ok(())
}

fn ids(args: &SpawnArgs, task: &TaskFile) -> Result<Vec<String>> {
    let mut ids = args.ids.clone();
    if let Some(task_id) = &task.id {
        validate_id(task_id).context("in the task file")?;
        if ids.is_empty() {
            ids.push(task_id.clone());
        } else if ids.len() > 1 || ids[0] != *task_id {
            bail!(
                "the task file is for worker '{task_id}', not {}",
                ids.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if ids.is_empty() {
        return Err(Hint::new("no worker id given")
            .hint("usage: git worker spawn <ID>... [--base <REV>] [--allow <GLOB>]...")
            .into());
    }
    for id in &ids {
        validate_id(id)?;
    }
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        if !seen.insert(id) {
            bail!("worker id '{id}' is given twice");
        }
    }
    Ok(ids)
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(orch::config::normalize(&cwd.join(dir)))
}

/// Companions are separate binaries: say how to install them instead of
/// silently working without them.
fn warn_missing_companions() {
    // Each companion binary and what workers lose without it.
    const COMPANIONS: &[(&str, &str)] = &[
        ("git-handoff", "workers cannot hand off their results"),
        (
            "git-review-gate",
            "changes cannot be reviewed in a clean checkout",
        ),
    ];
    let missing: Vec<&(&str, &str)> = COMPANIONS
        .iter()
        .filter(|(binary, _)| which::which(binary).is_err())
        .collect();
    for (binary, loss) in &missing {
        eprintln!("warning: {binary} is not on PATH: {loss} until it is installed");
    }
    if !missing.is_empty() {
        eprintln!(
            "hint: install the whole git-orch suite (README, \"Install\"), then check with `git worker doctor`"
        );
    }
}
