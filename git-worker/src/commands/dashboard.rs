//! `git worker dashboard`: every live worker at a glance, with warnings
//! (blocked, stalled, agent gone without a handoff, overlapping changes).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};

use anyhow::Result;
use serde_json::json;

use crate::cli::DashboardArgs;
use orch::config::Settings;
use orch::enforce;
use orch::exit::{Hint, Outcome};
use orch::gate::{self, Subject};
use orch::git::Repo;
use orch::local;
use orch::ops::agent::{AgentStatus, agent_status, last_activity};
use orch::registry::{self, State};
use orch::ui::{JSON_VERSION, age, print_json};

/// One worker's row.
struct Row {
    id: String,
    state: State,
    reason: String,
    agent: AgentStatus,
    last_activity: i64,
    files: Vec<String>,
    unread: usize,
    gate: String,
    warnings: Vec<String>,
}

/// A file changed by more than one live worker.
struct Overlap {
    path: String,
    workers: Vec<String>,
}

fn collect(repo: &Repo, settings: &Settings, stall_after: u64) -> Result<(Vec<Row>, Vec<Overlap>)> {
    let now = registry::now();
    let mut rows = Vec::new();
    for entry in registry::list(repo)?.into_iter().flatten() {
        let row = row(repo, settings, stall_after, now, &entry);
        // A worker being removed: what was read of its checkout may be torn.
        if orch::registry::being_removed(repo, entry.id())? {
            continue;
        }
        rows.push(row?);
    }
    // Overlaps between workers still at work (not landed, not rejected).
    let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| !matches!(r.state, State::Applied | State::Rejected))
    {
        for path in &row.files {
            by_path.entry(path).or_default().push(&row.id);
        }
    }
    let overlaps: Vec<Overlap> = by_path
        .into_iter()
        .filter(|(_, workers)| workers.len() > 1)
        .map(|(path, workers)| Overlap {
            path: path.to_string(),
            workers: workers.iter().map(|w| w.to_string()).collect(),
        })
        .collect();
    for overlap in &overlaps {
        for row in rows.iter_mut().filter(|r| overlap.workers.contains(&r.id)) {
            let others: Vec<&str> = overlap
                .workers
                .iter()
                .filter(|w| **w != row.id)
                .map(String::as_str)
                .collect();
            row.warnings.push(format!(
                "overlap: {} also changed by {}",
                overlap.path,
                others.join(", ")
            ));
        }
    }
    Ok((rows, overlaps))
}

/// The dashboard's row of one worker.
fn row(
    repo: &Repo,
    settings: &Settings,
    stall_after: u64,
    now: i64,
    entry: &registry::Entry,
) -> Result<Row> {
    let id = entry.id().to_string();
    let history = registry::history(repo, entry.tip)?;
    let agent = agent_status(repo, &id, &history)?;
    let last = last_activity(repo, entry, &history)?;
    // A worker being spawned has no pinned contract yet, and no work: its
    // row shows the registry's copy, which nothing acts on.
    let contract = match entry.status.state {
        State::Spawning => entry.contract.clone(),
        _ => enforce::authoritative_contract(repo, entry)?.0,
    };
    let checkout = local::load_local(repo, &id)?
        .map(|local| local.path)
        .filter(|path| path.join(".git").exists());
    let mut files: Vec<String> = enforce::worker_changes(repo, &contract, checkout.as_deref())?
        .iter()
        .map(|c| orch::policy::display_path(&c.path))
        .collect();
    files.sort();
    files.dedup();
    let (messages, first_unread) = super::events::messages(&history);
    let gate = match registry::current_handoff(repo, entry, &history)? {
        None => "-".to_string(),
        Some(handoff) => {
            let subject = Subject::of_handoff(&id, handoff)?;
            let verdicts = gate::gather(repo, &subject)?;
            let decision = gate::decide(settings.review_require, &verdicts.current);
            let rulings: Vec<&str> = verdicts.current.iter().map(|v| v.ruling.as_str()).collect();
            format!(
                "{}{}{}",
                if decision.open { "open" } else { "closed" },
                if rulings.is_empty() { "" } else { ": " },
                rulings.join(",")
            )
        }
    };
    let mut warnings = Vec::new();
    if entry.status.state == State::Blocked {
        // The reason is the worker's text: shown, never interpreted.
        warnings.push(format!(
            "blocked: {}",
            orch::ui::printable(entry.status.reason.trim())
        ));
    }
    // Its own checks refused its change since it last reported.
    if let Some(refused) = history
        .iter()
        .rev()
        .take_while(|l| l.event.kind != "reported")
        .find(|l| l.event.kind == "refused")
    {
        let data = &refused.event.data;
        let by = data.get("by").and_then(|b| b.as_str()).unwrap_or("a check");
        let paths: Vec<&str> = data
            .get("paths")
            .and_then(|p| p.as_array())
            .map(|p| p.iter().filter_map(|p| p.as_str()).collect())
            .unwrap_or_default();
        let text = if paths.is_empty() {
            format!("refused by {by}")
        } else {
            format!("refused by {by}: {}", paths.join(", "))
        };
        warnings.push(orch::ui::printable(&text).into_owned());
    }
    let idle = u64::try_from(now - last).unwrap_or(0);
    if agent.running && stall_after > 0 && idle >= stall_after {
        warnings.push(format!("stalled: no activity for {}", age(last, now)));
    }
    if agent.no_handoff {
        warnings.push(match (agent.exited, agent.signal) {
            (Some(Some(status)), _) => {
                format!("agent exited (status {status}) without a handoff")
            }
            (_, Some(signal)) => format!("agent killed (signal {signal}) without a handoff"),
            _ => "agent gone without a handoff".to_string(),
        });
    }
    Ok(Row {
        id,
        state: entry.status.state,
        reason: entry.status.reason.clone(),
        agent,
        last_activity: last,
        files,
        unread: messages.len() - first_unread,
        gate,
        warnings,
    })
}

fn agent_text(agent: &AgentStatus) -> String {
    match (agent.launched, agent.running, agent.exited) {
        (false, _, _) => "-".into(),
        (_, true, _) if agent.pid != 0 => format!("running {}", agent.pid),
        (_, true, _) => "starting".into(),
        (_, _, Some(Some(status))) => format!("exited {status}"),
        (_, _, Some(None)) if agent.signal.is_some() => {
            format!("killed {}", agent.signal.unwrap_or_default())
        }
        (_, _, _) => "gone".into(),
    }
}

/// ANSI styling, only when drawing on a terminal.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on && !code.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn state(&self, state: State) -> &'static str {
        match state {
            State::Blocked | State::Rejected => "1;31",
            State::Reported => "32",
            State::Applied | State::Removed => "2",
            State::Spawning => "36",
            State::Active => "",
        }
    }
}

/// `text` cut into lines of at most `width` characters at spaces (a word
/// longer than that stands alone): no word is broken.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let wanted = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && wanted > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `columns`: the terminal's width, when the notes are to fit it.
fn render(rows: &[Row], overlaps: &[Overlap], style: &Style, columns: Option<usize>) -> String {
    let now = registry::now();
    if rows.is_empty() {
        return "no workers; create one with `git worker spawn <id>`\n".into();
    }
    let header = [
        "ID", "STATE", "AGENT", "ACTIVE", "FILES", "UNREAD", "GATE", "NOTE",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.state.to_string(),
                agent_text(&r.agent),
                format!("{} ago", age(r.last_activity, now)),
                r.files.len().to_string(),
                r.unread.to_string(),
                r.gate.clone(),
                r.warnings.first().cloned().unwrap_or_default(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let pad =
        |text: &str, width: usize| format!("{text}{}", " ".repeat(width - text.chars().count()));
    let line: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| pad(h, widths[i]))
        .collect();
    out.push_str(&style.paint("1", line.join("  ").trim_end()));
    out.push('\n');
    // Where the NOTE column starts, and how wide it may be on a terminal.
    let note_at: usize = widths[..7].iter().map(|w| w + 2).sum();
    let note_width = columns.map(|c| c.saturating_sub(note_at).max(20));
    for (row, cell) in rows.iter().zip(&cells) {
        let mut parts = Vec::new();
        for (i, text) in cell.iter().enumerate() {
            let padded = match (i, note_width) {
                (7, Some(width)) => {
                    wrap_words(text, width).join(&format!("\n{}", " ".repeat(note_at)))
                }
                (7, None) => text.clone(),
                _ => pad(text, widths[i]),
            };
            let code = match i {
                1 => style.state(row.state),
                7 if !text.is_empty() => "33",
                _ => "",
            };
            parts.push(style.paint(code, &padded));
        }
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    }
    // Every warning beyond the first of each row, and the overlaps.
    let more: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.warnings
                .iter()
                .skip(1)
                .map(move |w| format!("{}: {w}", r.id))
        })
        .collect();
    if !more.is_empty() || !overlaps.is_empty() {
        out.push('\n');
    }
    for warning in more {
        out.push_str(&style.paint("33", &warning));
        out.push('\n');
    }
    for overlap in overlaps {
        out.push_str(&style.paint(
            "33",
            &format!("overlap: {} ({})", overlap.path, overlap.workers.join(", ")),
        ));
        out.push('\n');
    }
    out
}

fn json_doc(rows: &[Row], overlaps: &[Overlap]) -> serde_json::Value {
    let workers: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "state": r.state, "reason": r.reason,
                "agent": {
                    "launched": r.agent.launched, "running": r.agent.running,
                    "pid": if r.agent.pid == 0 { serde_json::Value::Null } else { r.agent.pid.into() },
                    "exited": r.agent.exited.is_some(),
                    "status": r.agent.exited.flatten(),
                },
                "last_activity": r.last_activity, "files": r.files, "unread": r.unread,
                "gate": r.gate, "warnings": r.warnings,
            })
        })
        .collect();
    let overlaps: Vec<_> = overlaps
        .iter()
        .map(|o| json!({ "path": o.path, "workers": o.workers }))
        .collect();
    json!({ "version": JSON_VERSION, "workers": workers, "overlaps": overlaps })
}

pub fn dashboard(repo: &Repo, args: &DashboardArgs) -> Result<Outcome> {
    let mut settings = Settings::load(repo)?;
    if args.watch && args.interval < std::time::Duration::from_millis(100) {
        return Err(Hint::new("--interval must be at least 0.1 seconds")
            .hint("redraws also happen on every registry change")
            .into());
    }
    let terminal = std::io::stdout().is_terminal();
    let style = Style {
        on: terminal && std::env::var_os("NO_COLOR").is_none() && !args.json,
    };
    let columns = || {
        terminal
            .then(terminal_size::terminal_size)
            .flatten()
            .map(|(width, _)| usize::from(width.0))
    };
    if !args.watch {
        let stall_after = args.stall_after.unwrap_or(settings.stall_after);
        let (rows, overlaps) = collect(repo, &settings, stall_after)?;
        if args.json {
            print_json(&json_doc(&rows, &overlaps))?;
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(render(&rows, &overlaps, &style, columns()).as_bytes())?;
            out.flush()?;
        }
        return Ok(Outcome::Success);
    }
    let _signals = orch::interrupt::guard()?;
    let watch = orch::ops::collect::watch(
        repo,
        &[
            registry::WORKERS,
            registry::HANDOFFS,
            registry::NOTES,
            "refs/heads/",
        ],
    )?;
    loop {
        orch::ops::collect::collect_all(repo)?;
        // The settings of this frame: what is configured now (a bad edit
        // mid-watch is said, and the last good settings kept).
        let mut said = String::new();
        match Settings::load(repo) {
            Ok(now) => settings = now,
            Err(err) => said = format!("warning: {err:#}; showing the last good settings\n"),
        }
        let stall_after = args.stall_after.unwrap_or(settings.stall_after);
        let (rows, overlaps) = collect(repo, &settings, stall_after)?;
        let frame = if args.json {
            serde_json::to_string(&json_doc(&rows, &overlaps))? + "\n"
        } else {
            said + &render(&rows, &overlaps, &style, columns())
        };
        let mut out = std::io::stdout().lock();
        if terminal && !args.json {
            // Home, clear, then the frame.
            out.write_all(b"\x1b[H\x1b[2J")?;
            out.write_all(frame.as_bytes())?;
        } else {
            out.write_all(frame.as_bytes())?;
            if !args.json {
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        drop(out);
        // Until a change, or the interval: then redraw.
        watch.wait(Some(std::time::Instant::now() + args.interval));
        if orch::interrupt::pending().is_some() {
            return Ok(Outcome::Success);
        }
    }
}
