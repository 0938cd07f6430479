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
use orch::config::Settings;
use orch::contract::{Contract, TaskFile, quote, validate_id};
use orch::exit::{Hint, Outcome, render};
use orch::git::{Oid, Repo};
use orch::local::{self};
use orch::registry::{self, State};
use orch::role::require_coordinator;
use orch::ui::{JSON_VERSION, print_json, short};

pub fn spawn(repo: &Repo, args: SpawnArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker spawn")?;
    repo.check_ref_storage()?;
    let settings = Settings::load(repo)?;
    let task = match &args.task {
        Some(path) => TaskFile::load(path)?,
        None => TaskFile::default(),
    };

    if args.exec.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Hint::new("--exec needs a command").into());
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
    // What to spawn: each id with its contract and base.
    let mut jobs: Vec<(String, Contract, String, Oid)> = Vec::new();
    let mut base_failures: Vec<String> = Vec::new();
    if args.ready {
        let mut ready = orch::ops::plan::ready_tasks(repo)?;
        ready.truncate(args.max.unwrap_or(usize::MAX));
        if ready.is_empty() {
            eprintln!("no planned task is ready");
            return Ok(Outcome::Success);
        }
        for task in ready {
            let requested = Some(task.base.clone())
                .filter(|b| !b.is_empty())
                .or(settings.base.clone());
            // One task's bad base does not hold back the others.
            match orch::ops::spawn::resolve_base(repo, requested, args.fetch) {
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
    } else {
        let template =
            orch::ops::spawn::contract_template(&args.contract.flags(), &task, &settings)?;
        let requested = args
            .base
            .clone()
            .or(task.base.clone())
            .or(settings.base.clone());
        let (base_ref, base) = orch::ops::spawn::resolve_base(repo, requested, args.fetch)?;
        for id in ids(&args, &task)? {
            jobs.push((id, template.clone(), base_ref.clone(), base));
        }
    }
    let ids: Vec<String> = jobs.iter().map(|(id, ..)| id.clone()).collect();
    let base_count = base_failures.len();
    // The prompt template, checked before anything is made.
    let prompt = match &args.exec {
        Some(_) => {
            let text = super::agent::template(args.prompt_template.as_deref())?;
            for (_, contract, ..) in &jobs {
                super::agent::render_prompt(&text, contract)?;
            }
            Some(text)
        }
        None => None,
    };
    warn_missing_companions();

    // Capacity: live workers spawning, active or blocked, counted and
    // claimed under a lock, so concurrent spawns cannot overshoot it.
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

    let isolation = match &args.isolation {
        Some(kind) => kind.clone(),
        None => repo
            .config_string("orch.isolation")?
            .unwrap_or_else(|| "worktree".into()),
    };
    let clone = match isolation.as_str() {
        "worktree" => false,
        "clone" => true,
        other => {
            return Err(Hint::new(format!("invalid orch.isolation '{other}'"))
                .hint("git config orch.isolation worktree   (or clone)")
                .into());
        }
    };
    let mut spawned = Vec::new();
    let mut failures = base_failures;
    let mut no_agent: Vec<String> = Vec::new();
    for (id, template, base_ref, base) in &jobs {
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
            if ids.len() == 1 {
                return Err(err);
            }
            eprint!("{}", render(&err));
            failures.push(id.clone());
            continue;
        }
        match orch::ops::spawn::spawn_one(repo, &contract, &root.join(id), clone) {
            Ok(mut done) => {
                if done.existed {
                    eprintln!("worker '{id}' already exists with the same contract");
                    if args.exec.is_some() {
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
                }
                if !done.existed {
                    active += 1;
                    if let (Some(command), Some(prompt)) = (&args.exec, &prompt) {
                        match super::agent::launch(repo, &contract, command, prompt) {
                            Ok(pid) => {
                                eprintln!("started the agent of '{id}' (pid {pid}): {command}");
                                done.agent = Some(pid);
                            }
                            Err(err) => {
                                eprint!(
                                    "{}",
                                    render(&err.context(format!(
                                        "spawned '{id}', but cannot start its agent"
                                    )))
                                );
                                no_agent.push(id.clone());
                            }
                        }
                    }
                }
                spawned.push(done);
            }
            Err(err) if ids.len() == 1 => return Err(err),
            Err(err) => {
                eprint!("{}", render(&err.context(format!("cannot spawn '{id}'"))));
                failures.push(id.clone());
            }
        }
    }

    if args.json {
        let workers: Vec<_> = spawned
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id, "branch": s.branch, "path": s.path, "base": s.base,
                    "base_ref": s.base_ref, "created": !s.existed, "agent_pid": s.agent,
                })
            })
            .collect();
        print_json(
            &serde_json::json!({ "version": JSON_VERSION, "workers": workers, "failed": failures }),
        )?;
    } else {
        for s in &spawned {
            println!("{}", s.path.display());
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} workers were not spawned ({}); the others were",
            failures.len(),
            ids.len() + base_count,
            failures.join(", ")
        );
    }
    if !no_agent.is_empty() {
        return Err(Hint::new(format!(
            "the agents of {} were not started (their workers were spawned)",
            no_agent.join(", ")
        ))
        .hint("start one by hand in the worker's checkout, or `git worker rm` and spawn again")
        .into());
    }
    Ok(Outcome::Success)
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
