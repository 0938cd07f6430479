//! Task graphs: `git worker plan` records tasks with dependencies,
//! `ready` lists those whose dependencies have landed (`spawn --ready`
//! spawns them), `graph` draws the whole graph with states.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::cli::{GraphArgs, PlanArgs, ReadyArgs};
use orch::config::Settings;
use orch::contract::{TaskFile, validate_id};
use orch::exit::{Hint, Outcome};
use orch::git::Repo;
use orch::ops::plan::{Standing, ready_tasks, standings};
use orch::registry::{self, Progress, Task};
use orch::role::require_coordinator;
use orch::ui::{JSON_VERSION, print_json};

/// The files `--from` names: one file, or the *.toml and *.md of a directory.
fn task_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read '{}'", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml" || e == "md"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Hint::new(format!(
            "no task files (*.toml, *.md) in '{}'",
            path.display()
        ))
        .into());
    }
    Ok(files)
}

pub fn plan(repo: &Repo, args: &PlanArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker plan")?;
    let settings = Settings::load(repo)?;
    let new = tasks_of(args, &settings)?;
    orch::ops::plan::check(repo, &new)?;
    for task in &new {
        if registry::create_task(repo, task)? {
            let after = if task.depends_on.is_empty() {
                String::new()
            } else {
                format!(" (after {})", task.depends_on.join(", "))
            };
            eprintln!("planned '{}'{after}", task.id);
        } else {
            eprintln!("task '{}' is already planned, the same", task.id);
        }
    }
    Ok(Outcome::Success)
}

/// The tasks the command line plans (one, or one per task file of
/// `--from`), each with its contract: flags over the file over settings.
fn tasks_of(args: &PlanArgs, settings: &Settings) -> Result<Vec<Task>> {
    let mut new: Vec<Task> = Vec::new();
    let files = match &args.from {
        Some(path) => task_files(path)?,
        None => Vec::new(),
    };
    let entries: Vec<(Option<PathBuf>, TaskFile)> = if files.is_empty() {
        vec![(None, TaskFile::default())]
    } else {
        files
            .into_iter()
            .map(|f| TaskFile::load(&f).map(|t| (Some(f), t)))
            .collect::<Result<_>>()?
    };
    for (file, file_task) in entries {
        let id = match (&args.id, &file_task.id, &file) {
            (Some(id), _, _) => id.clone(),
            (None, Some(id), _) => id.clone(),
            (None, None, Some(file)) => file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            (None, None, None) => unreachable!("clap requires an id or --from"),
        };
        let context = || match &file {
            Some(file) => format!("in task file '{}'", file.display()),
            None => "in the task".to_string(),
        };
        validate_id(&id).with_context(context)?;
        let mut contract =
            orch::ops::spawn::contract_template(&args.contract.flags(), &file_task, settings)
                .with_context(context)?;
        contract.id = id.clone();
        let mut depends_on: Vec<String> = if args.depends_on.is_empty() {
            file_task.depends_on.clone().unwrap_or_default()
        } else {
            args.depends_on.clone()
        };
        depends_on.retain(|d| !d.trim().is_empty());
        depends_on.sort();
        depends_on.dedup();
        for dep in &depends_on {
            validate_id(dep).with_context(context)?;
            if dep == &id {
                return Err(Hint::new(format!("task '{id}' depends on itself")).into());
            }
        }
        if new.iter().any(|t| t.id == id) {
            return Err(Hint::new(format!("task id '{id}' is given twice")).into());
        }
        new.push(Task {
            id,
            depends_on,
            base: args
                .base
                .clone()
                .or(file_task.base.clone())
                .unwrap_or_default(),
            planned: registry::now(),
            contract,
        });
    }

    Ok(new)
}

pub fn ready(repo: &Repo, args: &ReadyArgs) -> Result<Outcome> {
    let ready = ready_tasks(repo)?;
    if args.json {
        let items: Vec<_> = ready
            .iter()
            .map(|t| json!({ "id": t.id, "depends_on": t.depends_on, "description": t.contract.description }))
            .collect();
        print_json(&json!({ "version": JSON_VERSION, "ready": items }))?;
        return Ok(Outcome::Success);
    }
    if ready.is_empty() {
        eprintln!("no planned task is ready");
    }
    for task in &ready {
        println!("{}", task.id);
    }
    Ok(Outcome::Success)
}

/// Tasks in dependency order (dependencies first), ties by id.
fn ordered(tasks: &[Task]) -> Vec<&Task> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < tasks.len() {
        let before = out.len();
        for task in tasks {
            if !placed.contains(task.id.as_str())
                && task
                    .depends_on
                    .iter()
                    .all(|d| placed.contains(d.as_str()) || !tasks.iter().any(|t| &t.id == d))
            {
                out.push(task);
            }
        }
        for task in &out[before..] {
            placed.insert(&task.id);
        }
        if out.len() == before {
            // A cycle (refused at plan time; a hand-edited registry).
            out.extend(tasks.iter().filter(|t| !placed.contains(t.id.as_str())));
        }
    }
    out
}

pub fn graph(repo: &Repo, args: &GraphArgs) -> Result<Outcome> {
    let tasks = registry::list_tasks(repo)?;
    let standings = standings(repo, &tasks)?;
    let order = ordered(&tasks);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let items: Vec<_> = order
            .iter()
            .map(|t| {
                let s = &standings[&t.id];
                json!({ "id": t.id, "depends_on": t.depends_on, "state": s.label(), "detail": s.detail() })
            })
            .collect();
        drop(out);
        print_json(&json!({ "version": JSON_VERSION, "tasks": items }))?;
        return Ok(Outcome::Success);
    }
    if args.dot {
        writeln!(out, "digraph tasks {{")?;
        writeln!(out, "  rankdir=LR;")?;
        writeln!(out, "  node [shape=box, style=rounded];")?;
        for task in &order {
            let s = &standings[&task.id];
            let color = match s {
                Standing::Spawned(Progress::Landed) => "darkgreen",
                Standing::Blocked(_) | Standing::Spawned(Progress::Abandoned) => "red",
                Standing::Ready => "blue",
                _ => "black",
            };
            writeln!(
                out,
                "  \"{}\" [label=\"{}\\n{}\", color={color}];",
                task.id,
                task.id,
                s.label()
            )?;
        }
        for task in &order {
            for dep in &task.depends_on {
                writeln!(out, "  \"{dep}\" -> \"{}\";", task.id)?;
            }
        }
        writeln!(out, "}}")?;
        out.flush()?;
        return Ok(Outcome::Success);
    }
    if tasks.is_empty() {
        drop(out);
        eprintln!("no planned tasks; plan some with `git worker plan`");
        return Ok(Outcome::Success);
    }
    let width = tasks.iter().map(|t| t.id.len()).max().unwrap_or(0);
    for task in &order {
        let s = &standings[&task.id];
        let deps = if task.depends_on.is_empty() {
            String::new()
        } else {
            format!("  <- {}", task.depends_on.join(", "))
        };
        let detail = match s.detail() {
            d if d.is_empty() => String::new(),
            d => format!("  ({d})"),
        };
        let line = format!("{:<width$}  {:<9}{deps}{detail}", task.id, s.label());
        writeln!(out, "{}", line.trim_end())?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}
