//! `git worker list`, `show` and `current`: reading the registry.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::json;

use crate::cli::{CurrentArgs, ListArgs, ShowArgs};
use orch::contract::{parse_label, quote};
use orch::exit::{Hint, Outcome, render};
use orch::git::{Oid, Repo};
use orch::local;
use orch::registry::{self, Entry, State};
use orch::role::require_worker;
use orch::ui::{JSON_VERSION, age, print_json, short, timestamp};

/// A worker with what this machine can tell about it.
struct View {
    entry: Entry,
    archived: bool,
    /// Tip of the worker's branch, if the branch exists.
    head: Option<String>,
    ahead: Option<usize>,
    path: Option<PathBuf>,
    /// `None` when the checkout is not on this machine.
    dirty: Option<bool>,
    exists: bool,
    /// Its agent's output log on this machine, when `show` looked for one.
    agent_log: Option<PathBuf>,
    /// The first of its ports (`ORCH_PORT`), when `show` looked.
    port: Option<u16>,
    /// Its agent exited (status, or the signal that killed it) while the
    /// worker is still active or blocked: gone without a handoff.
    agent_gone: Option<String>,
    /// Its agent's preset and the session id it printed, when `show`
    /// looked for them.
    agent_preset: Option<String>,
    agent_session: Option<String>,
}

impl View {
    /// `branches` and `paths`: every branch tip and every worker's checkout
    /// path, when the caller read them all at once.
    fn new(
        repo: &Repo,
        entry: Entry,
        archived: bool,
        branches: Option<&HashMap<String, Oid>>,
        paths: Option<&BTreeMap<String, PathBuf>>,
    ) -> Result<View> {
        let contract = &entry.contract;
        let refname = format!("refs/heads/{}", contract.branch);
        let head = match branches {
            Some(branches) => branches.get(&refname).copied(),
            None => repo.ref_target(&refname)?,
        };
        let base = Oid::from_str(&contract.base).ok();
        let ahead = match (head, base) {
            (Some(head), Some(base)) => repo.ahead(head, base).ok(),
            _ => None,
        };
        let path = match paths {
            Some(paths) => paths.get(&contract.id).cloned(),
            None => local::load_local(repo, &contract.id)?.map(|local| local.path),
        };
        let exists = path.as_deref().is_some_and(|p| p.join(".git").exists());
        let dirty = None;
        Ok(View {
            entry,
            archived,
            head: head.map(|h| h.to_string()),
            ahead,
            path,
            dirty,
            exists,
            agent_log: None,
            port: None,
            agent_gone: None,
            agent_preset: None,
            agent_session: None,
        })
    }

    /// The checkout's status, when it is on this machine.
    /// Whether the agent of a worker still at work is gone (the dashboard
    /// says so too): only where its checkout is, from the agent's facts.
    /// Part of the status: `list --no-status` reads no agent's facts.
    fn check_agent(&mut self, repo: &Repo) {
        if !matches!(self.entry.status.state, State::Active | State::Blocked) || self.path.is_none()
        {
            return;
        }
        self.agent_gone = local::load_agent(repo, self.entry.id())
            .ok()
            .flatten()
            .filter(|agent| agent.exited.is_some())
            .map(|agent| match (agent.status, agent.signal) {
                (Some(status), _) => format!("agent exited {status}"),
                (_, Some(signal)) => format!("agent killed by signal {signal}"),
                _ => "agent gone".to_string(),
            });
    }

    fn check_status(&mut self) {
        if self.exists
            && let Some(path) = &self.path
        {
            self.dirty = Repo::checkout_is_dirty(path).ok();
        }
    }

    fn json(&self) -> serde_json::Value {
        let c = &self.entry.contract;
        let s = &self.entry.status;
        json!({
            "id": c.id,
            "state": s.state,
            "reason": s.reason,
            "archived": self.archived,
            "branch": c.branch,
            "head": self.head,
            "base": c.base,
            "base_ref": c.base_ref,
            "ahead": self.ahead,
            "dirty": self.dirty,
            "path": self.path,
            "checkout_exists": self.exists,
            "agent_gone": self.agent_gone,
            "created": s.created,
            "updated": s.updated,
            "allow": c.allow,
            "deny": c.deny,
            "verify": c.verify,
            "require_change": c.require_change,
            "verify_timeout": c.verify_timeout,
            "description": c.description,
            "labels": c.labels,
            "format": self.entry.format,
            "ref": self.entry.refname,
        })
    }
}

pub fn list(repo: &Repo, args: &ListArgs) -> Result<Outcome> {
    let state = match &args.state {
        None => None,
        Some(name) => Some(
            State::ALL
                .iter()
                .copied()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| {
                    Hint::new(format!("unknown state {}", quote(name)))
                        .hint("states: spawning, active")
                })?,
        ),
    };
    let labels = args
        .labels
        .iter()
        .map(|l| parse_label(l))
        .collect::<Result<Vec<_>>>()?;

    let mut views = Vec::new();
    let mut corrupt = 0;
    // One read of the registry refs and the branches for all workers, by
    // git in the background while the cache and local facts are parsed here.
    let pending = repo.start_refs_under_any(&[registry::WORKERS, "refs/heads/"])?;
    let cache = registry::load_cache(repo);
    let paths = local::load_local_paths(repo)?;
    let (workers, branches): (Vec<_>, Vec<_>) = pending
        .finish()?
        .into_iter()
        .partition(|(name, _)| name.starts_with(registry::WORKERS));
    let branches: HashMap<String, Oid> = branches.into_iter().collect();
    for entry in registry::list_refs(repo, workers, cache)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                eprint!("{}", render(&err));
                corrupt += 1;
                continue;
            }
        };
        if state.is_some_and(|s| s != entry.status.state) {
            continue;
        }
        if !labels
            .iter()
            .all(|(k, v)| entry.contract.labels.get(k) == Some(v))
        {
            continue;
        }
        views.push(View::new(
            repo,
            entry,
            false,
            Some(&branches),
            Some(&paths),
        )?);
    }

    if !args.no_status {
        check_statuses(&mut views);
        for view in &mut views {
            view.check_agent(repo);
        }
    }
    if args.json {
        let workers: Vec<_> = views.iter().map(View::json).collect();
        print_json(&json!({ "version": JSON_VERSION, "workers": workers }))?;
    } else {
        print_table(&views)?;
    }
    if corrupt > 0 {
        bail!("{corrupt} registry entries could not be read (listed above)");
    }
    Ok(Outcome::Success)
}

/// Status of every checkout, on as many threads as there are cores: each
/// check reads one checkout's index and stats its files, independently.
fn check_statuses(views: &mut [View]) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = views.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in views.chunks_mut(chunk) {
            scope.spawn(|| part.iter_mut().for_each(View::check_status));
        }
    });
}

fn print_table(views: &[View]) -> Result<()> {
    use std::io::Write as _;
    if views.is_empty() {
        eprintln!("no workers; create one with `git worker spawn <id>`");
        return Ok(());
    }
    let now = registry::now();
    let header = [
        "ID", "STATE", "BRANCH", "BASE", "AGE", "AHEAD", "DIRTY", "PATH",
    ]
    .map(String::from);
    let mut rows = vec![header];
    for v in views {
        let c = &v.entry.contract;
        rows.push([
            c.id.clone(),
            match &v.agent_gone {
                Some(gone) => format!("{} ({gone})", v.entry.status.state),
                None => v.entry.status.state.to_string(),
            },
            c.branch.clone(),
            format!("{}@{}", c.base_ref, short(&c.base)),
            age(v.entry.status.created, now),
            v.ahead.map_or("-".to_string(), |a| a.to_string()),
            match v.dirty {
                Some(true) => "yes".to_string(),
                Some(false) => "no".to_string(),
                None => "-".to_string(),
            },
            match (&v.path, v.exists) {
                (Some(path), true) => path.display().to_string(),
                (Some(path), false) => format!("{} (missing)", path.display()),
                (None, _) => "-".to_string(),
            },
        ]);
    }
    // One write for the table, not one per line (stdout is line-buffered).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    out.write_all(orch::ui::format_table(&rows).as_bytes())?;
    // What blocked workers need, in their own words.
    for v in views
        .iter()
        .filter(|v| v.entry.status.state == State::Blocked)
    {
        writeln!(
            out,
            "\nblocked: {}: {}\n  answer: git worker message {} '<answer>'",
            v.entry.id(),
            v.entry.status.reason.trim(),
            v.entry.id()
        )?;
    }
    out.flush()?;
    Ok(())
}

pub fn show(repo: &Repo, args: &ShowArgs) -> Result<Outcome> {
    let (entry, archived) = orch::registry::entry_any(repo, &args.id)?;
    let history = registry::history(repo, entry.tip)?;
    let mut view = View::new(repo, entry, archived, None, None)?;
    view.check_status();
    view.check_agent(repo);
    view.agent_log = Some(local::agent_files(repo, &args.id).log).filter(|log| log.exists());
    view.port = local::load_local(repo, &args.id)?.and_then(|local| local.port);
    if let Some(agent) = local::load_agent(repo, &args.id)? {
        view.agent_preset = agent.preset;
        view.agent_session = agent.session;
    }
    if args.json {
        let events: Vec<_> = history
            .iter()
            .map(|l| {
                json!({
                    "time": l.event.time, "actor": l.event.actor, "kind": l.event.kind,
                    "clock": l.event.clock, "commit": l.commit.to_string(), "author": l.author,
                    "data": l.event.data,
                })
            })
            .collect();
        let mut worker = view.json();
        worker["agent_log"] = json!(view.agent_log);
        worker["port"] = json!(view.port);
        worker["agent_preset"] = json!(view.agent_preset);
        worker["agent_session"] = json!(view.agent_session);
        print_json(&json!({ "version": JSON_VERSION, "worker": worker, "events": events }))?;
        return Ok(Outcome::Success);
    }
    let mut text = describe(&view);
    text.push_str("\nevents:\n");
    for logged in &history {
        let details: Vec<String> = logged
            .event
            .data
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        text.push_str(&format!(
            "  {}  {:<11}  {:<10}  {}\n",
            timestamp(logged.event.time),
            match logged.event.actor {
                registry::Actor::Coordinator => "coordinator",
                registry::Actor::Worker => "worker",
            },
            logged.event.kind,
            details.join(" ")
        ));
    }
    print!("{}", orch::ui::printable(&text));
    Ok(Outcome::Success)
}

pub fn current(repo: &Repo, args: &CurrentArgs) -> Result<Outcome> {
    let id = require_worker(repo, "git worker current")?;
    let side = orch::ops::worker::Side::of(repo)?;
    let Some(entry) = registry::load(side.registry(repo), &id)? else {
        return Err(Hint::new(format!("this checkout belongs to worker '{id}', which is not registered"))
            .hint("the coordinator may have removed it; ask the coordinator, or run `git worker show` there")
            .into());
    };
    let mut view = View::new(repo, entry, false, None, None)?;
    view.check_status();
    view.check_agent(repo);
    if args.json {
        print_json(&json!({ "version": JSON_VERSION, "worker": view.json() }))?;
    } else {
        print!("{}", describe(&view));
    }
    Ok(Outcome::Success)
}

/// The contract, state and location of a worker, as text.
fn describe(v: &View) -> String {
    let c = &v.entry.contract;
    let s = &v.entry.status;
    let none = || "-".to_string();
    let list = |items: &[String]| {
        if items.is_empty() {
            none()
        } else {
            items.join(", ")
        }
    };
    let mut lines = vec![format!(
        "worker {} ({}{})",
        c.id,
        s.state,
        if v.archived { ", archived" } else { "" }
    )];
    let mut field =
        |name: &str, value: String| lines.push(format!("{:<16}{}", format!("{name}:"), value));
    if !s.reason.is_empty() {
        field("reason", s.reason.clone());
    }
    field(
        "branch",
        match (&v.head, v.ahead) {
            (Some(head), Some(ahead)) => {
                format!("{} at {} ({} ahead of base)", c.branch, short(head), ahead)
            }
            (Some(head), None) => format!("{} at {}", c.branch, short(head)),
            (None, _) => format!("{} (deleted)", c.branch),
        },
    );
    field("base", format!("{} ({})", c.base_ref, c.base));
    field(
        "checkout",
        match (&v.path, v.exists, v.dirty) {
            (Some(path), true, Some(true)) => format!("{} (dirty)", path.display()),
            (Some(path), true, _) => format!("{} (clean)", path.display()),
            (Some(path), false, _) => format!("{} (missing)", path.display()),
            (None, _, _) => "not on this machine".to_string(),
        },
    );
    if let Some(port) = v.port {
        field(
            "ports",
            format!("{port}-{} (ORCH_PORT)", port + local::PORTS_PER_WORKER - 1),
        );
    }
    if let Some(log) = &v.agent_log {
        field(
            "agent log",
            format!("{} (git worker output {})", log.display(), c.id),
        );
    }
    if let Some(preset) = &v.agent_preset {
        field(
            "agent",
            match &v.agent_session {
                Some(session) => format!(
                    "--agent {preset}, session {session} (git worker relaunch {} --resume)",
                    c.id
                ),
                None => format!("--agent {preset}, no session id recorded"),
            },
        );
    }
    field("created", timestamp(s.created));
    field("updated", timestamp(s.updated));
    if !c.description.is_empty() {
        field("description", c.description.clone());
    }
    field(
        "allow",
        if c.allow.is_empty() {
            "everything".to_string()
        } else {
            list(&c.allow)
        },
    );
    field("deny", list(&c.deny));
    field("verify", list(&c.verify));
    field(
        "require-change",
        if c.require_change { "yes" } else { "no" }.to_string(),
    );
    if !c.labels.is_empty() {
        field(
            "labels",
            c.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
