//! `git worker report`: the after-action report, read from the event logs.
//! Per task: time to spawn, to first report, to landing; retries; blocked
//! episodes and their reasons; verification and review failures;
//! conflicts; and totals. As text, JSON, or a self-contained HTML page with
//! a timeline (a Gantt chart of the workers, events marked).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;
use serde_json::json;

use super::events::parse_since;
use crate::cli::ReportArgs;
use orch::exit::Outcome;
use orch::git::{Oid, Repo};
use orch::registry::{self, CommandResult, Logged};
use orch::ui::{JSON_VERSION, print_json, timestamp};

mod html;

/// One blocked episode: from the blocking notice to the answer (if any).
#[derive(Debug, Clone, Serialize)]
struct Blocked {
    start: i64,
    end: Option<i64>,
    reason: String,
}

/// A failed verification, a rejection, or a conflict.
#[derive(Debug, Clone, Serialize)]
struct Failure {
    time: i64,
    kind: &'static str,
    detail: String,
    /// A failed verification's failing commands: how each ended and the
    /// end of its output (worker-controlled text).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    commands: Vec<Failed>,
}

/// One verification command that failed.
#[derive(Debug, Clone, Serialize)]
struct Failed {
    command: String,
    /// Exit status; none when it was killed (timeout, signal).
    status: Option<i64>,
    timed_out: bool,
    /// The end of its output; empty when the record has none.
    tail: String,
}

impl Failed {
    /// `status`, `timed_out` and `tail` of a JSON record (an event's or a
    /// verdict's), given its command.
    fn from_json(command: String, value: &serde_json::Value) -> Failed {
        Failed {
            command,
            status: value.get("status").and_then(|s| s.as_i64()),
            timed_out: value.get("timed_out").and_then(|t| t.as_bool()) == Some(true),
            tail: value
                .get("tail")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_string(),
        }
    }

    fn passed(value: &serde_json::Value) -> bool {
        value.get("status").and_then(|s| s.as_i64()) == Some(0)
            && value.get("timed_out").and_then(|t| t.as_bool()) != Some(true)
    }
}

/// A marker on the timeline.
#[derive(Debug, Clone, Serialize)]
struct Mark {
    time: i64,
    kind: String,
    /// The event records a failure (drawn as one, not as a plain mark).
    failed: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Task {
    id: String,
    /// How it ended (or stands): landed, abandoned, or its state.
    outcome: String,
    planned: Option<i64>,
    /// The planned tasks that had to land before this one was spawned
    /// (`git worker plan --depends-on`).
    depends_on: Vec<String>,
    start: i64,
    spawned: Option<i64>,
    first_report: Option<i64>,
    landed: Option<i64>,
    /// Landed, the last event when removed, or now.
    end: i64,
    /// The time of its last event (the timeline ends at the latest).
    last_event: i64,
    /// Seconds: planned (or spawn started) to spawned; spawned to first
    /// report; spawned to landing.
    to_spawn: Option<i64>,
    to_report: Option<i64>,
    to_land: Option<i64>,
    reports: usize,
    retries: usize,
    blocked: Vec<Blocked>,
    failures: Vec<Failure>,
    conflicts: usize,
    marks: Vec<Mark>,
}

impl Task {
    /// Neither landed nor abandoned: still at work, or waiting.
    fn is_open(&self) -> bool {
        self.landed.is_none() && self.outcome != "abandoned"
    }
}

fn text(logged: &Logged, key: &str) -> String {
    logged
        .event
        .data
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// The failure an event records, if it records one: a failed
/// verification (by the review gate or by apply), a rejection, or a
/// conflict. `tails` has the commands of failed verdicts by verdict id:
/// a `verified` event has no output tails, its verdict does.
fn failure_of(logged: &Logged, tails: &BTreeMap<String, Vec<CommandResult>>) -> Option<Failure> {
    let e = &logged.event;
    match e.kind.as_str() {
        "verified" if e.data.get("passed").and_then(|p| p.as_bool()) == Some(false) => {
            let commands: Vec<Failed> = match tails.get(&text(logged, "verdict")) {
                Some(results) => results
                    .iter()
                    .filter(|r| !r.passed())
                    .map(|r| Failed {
                        command: r.command.clone(),
                        status: r.status.map(i64::from),
                        timed_out: r.timed_out,
                        tail: r.tail.clone(),
                    })
                    .collect(),
                None => e
                    .data
                    .get("commands")
                    .and_then(|c| c.as_array())
                    .into_iter()
                    .flatten()
                    .filter(|c| !Failed::passed(c))
                    .filter_map(|c| {
                        let command = c.get("command")?.as_str()?.to_string();
                        Some(Failed::from_json(command, c))
                    })
                    .collect(),
            };
            Some(Failure {
                time: e.time,
                kind: "verification (review gate)",
                detail: commands
                    .iter()
                    .map(|c| c.command.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                commands,
            })
        }
        "rejected" => {
            let command = text(logged, "command");
            let (kind, detail, commands) = if !command.is_empty() {
                let failed =
                    Failed::from_json(command.clone(), &serde_json::Value::Object(e.data.clone()));
                ("verification (apply)", command, vec![failed])
            } else if e.data.get("findings").is_some() {
                ("review", text(logged, "reason"), Vec::new())
            } else {
                ("rejected by hand", text(logged, "reason"), Vec::new())
            };
            Some(Failure {
                time: e.time,
                kind,
                detail,
                commands,
            })
        }
        "conflicted" => {
            let files: Vec<String> = e
                .data
                .get("files")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            Some(Failure {
                time: e.time,
                kind: "conflict",
                detail: files.join(", "),
                commands: Vec::new(),
            })
        }
        _ => None,
    }
}

fn task_of(
    id: &str,
    state: String,
    history: &[Logged],
    planned: Option<&registry::Task>,
    tails: &BTreeMap<String, Vec<CommandResult>>,
    archived: bool,
    now: i64,
) -> Task {
    let first = |kind: &str| {
        history
            .iter()
            .find(|l| l.event.kind == kind)
            .map(|l| l.event.time)
    };
    let start = history.first().map_or(now, |l| l.event.time);
    let last_event = history.iter().map(|l| l.event.time).max().unwrap_or(start);
    let spawned = first("spawned");
    let first_report = first("reported");
    let landed = history
        .iter()
        .find(|l| registry::landed_event(l))
        .map(|l| l.event.time);
    let mut blocked: Vec<Blocked> = Vec::new();
    let mut failures = Vec::new();
    let mut conflicts = 0;
    let mut marks = Vec::new();
    for logged in history {
        let e = &logged.event;
        match e.kind.as_str() {
            "notice" if text(logged, "level") == "blocking" => blocked.push(Blocked {
                start: e.time,
                end: None,
                reason: text(logged, "text"),
            }),
            // An episode ends with the answer, or when the work goes on anyway.
            "message" | "reported" | "applied" | "removed" | "pruned"
                if e.kind != "message" || e.data.get("unblocks").is_some() =>
            {
                if let Some(open) = blocked.iter_mut().rev().find(|b| b.end.is_none()) {
                    open.end = Some(e.time);
                }
            }
            _ => {}
        }
        let failure = failure_of(logged, tails);
        let failed = failure.is_some();
        if let Some(failure) = failure {
            conflicts += usize::from(failure.kind == "conflict");
            failures.push(failure);
        }
        if matches!(
            e.kind.as_str(),
            "reported"
                | "notice"
                | "message"
                | "verified"
                | "approved"
                | "rejected"
                | "applied"
                | "conflicted"
                | "stalled"
                | "agent-exited"
                | "removed"
        ) {
            marks.push(Mark {
                time: e.time,
                kind: e.kind.clone(),
                failed,
            });
        }
    }
    let reports = history
        .iter()
        .filter(|l| l.event.kind == "reported")
        .count();
    let end = match (landed, archived) {
        (Some(t), _) => t,
        (None, true) => history.last().map_or(now, |l| l.event.time),
        (None, false) => now,
    };
    let outcome = match (landed, archived) {
        (Some(_), _) => "landed".to_string(),
        (None, true) => "abandoned".to_string(),
        (None, false) => state,
    };
    Task {
        id: id.to_string(),
        outcome,
        planned: planned.map(|t| t.planned),
        depends_on: planned.map(|t| t.depends_on.clone()).unwrap_or_default(),
        start,
        spawned,
        first_report,
        landed,
        end,
        last_event,
        to_spawn: spawned.map(|s| s - planned.map_or(start, |t| t.planned)),
        to_report: spawned.zip(first_report).map(|(s, r)| r - s),
        to_land: spawned.zip(landed).map(|(s, l)| l - s),
        reports,
        retries: reports.saturating_sub(1),
        blocked,
        failures,
        conflicts,
        marks,
    }
}

/// "45s", "5m", "1h30m", "2d3h".
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => match (s / 3600, (s % 3600) / 60) {
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h{m}m"),
        },
        s => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The commands of the failed verification runs that `history`'s
/// `verified` events name, by verdict id: the event has each command's
/// status, the verdict (in the notes on the handoff its `reported` event
/// names) also the end of its output. Read only when a run failed.
fn failed_runs(repo: &Repo, id: &str, history: &[Logged]) -> BTreeMap<String, Vec<CommandResult>> {
    let wanted: BTreeSet<String> = history
        .iter()
        .filter(|l| {
            l.event.kind == "verified"
                && l.event.data.get("passed").and_then(|p| p.as_bool()) == Some(false)
        })
        .map(|l| text(l, "verdict"))
        .filter(|v| !v.is_empty())
        .collect();
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return out;
    }
    let handoffs: BTreeSet<Oid> = history
        .iter()
        .filter(|l| l.event.kind == "reported")
        .filter_map(|l| Oid::from_str(&text(l, "handoff")).ok())
        .collect();
    for target in handoffs {
        match registry::verdicts_on(repo, target) {
            Ok(verdicts) => out.extend(
                verdicts
                    .into_iter()
                    .filter(|v| wanted.contains(&v.id))
                    .map(|v| (v.id, v.commands)),
            ),
            // The report still stands; only these tails are missing.
            Err(err) => eprintln!(
                "warning: the output of the failed verification runs of '{id}' is not shown: {err:#}"
            ),
        }
    }
    out
}

fn collect(repo: &Repo, since: Option<i64>) -> Result<Vec<Task>> {
    let now = registry::now();
    let planned: BTreeMap<String, registry::Task> = registry::list_tasks(repo)?
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let mut tasks = Vec::new();
    for log in registry::all_logs(repo)? {
        let (id, refname, tip, history) = (log.id.as_str(), log.refname, log.tip, log.events);
        if since.is_some_and(|since| history.last().is_none_or(|l| l.event.time < since)) {
            continue;
        }
        let archived = refname.starts_with(registry::ARCHIVE);
        let state = registry::decode(repo, &refname, tip)?
            .status
            .state
            .to_string();
        tasks.push(task_of(
            id,
            state,
            &history,
            planned.get(id),
            &failed_runs(repo, id, &history),
            archived,
            now,
        ));
    }
    tasks.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    Ok(tasks)
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    (!values.is_empty()).then(|| values[values.len() / 2])
}

fn totals(tasks: &[Task]) -> serde_json::Value {
    let landed = tasks.iter().filter(|t| t.landed.is_some()).count();
    let abandoned = tasks.iter().filter(|t| t.outcome == "abandoned").count();
    let start = tasks.iter().map(|t| t.start).min();
    let end = tasks.iter().map(|t| t.end).max();
    json!({
        "tasks": tasks.len(),
        "landed": landed,
        "abandoned": abandoned,
        "open": tasks.len() - landed - abandoned,
        "start": start,
        "end": end,
        "median_to_report": median(tasks.iter().filter_map(|t| t.to_report).collect()),
        "median_to_land": median(tasks.iter().filter_map(|t| t.to_land).collect()),
        "retries": tasks.iter().map(|t| t.retries).sum::<usize>(),
        "blocked_episodes": tasks.iter().map(|t| t.blocked.len()).sum::<usize>(),
        "failures": tasks.iter().map(|t| t.failures.len()).sum::<usize>(),
        "conflicts": tasks.iter().map(|t| t.conflicts).sum::<usize>(),
    })
}

fn opt(value: Option<i64>) -> String {
    value.map_or("-".to_string(), duration)
}

fn render_text(tasks: &[Task], totals: &serde_json::Value) -> String {
    let mut out = String::new();
    let span = match (totals["start"].as_i64(), totals["end"].as_i64()) {
        (Some(s), Some(e)) => format!(
            ", {} to {} ({})",
            timestamp(s),
            timestamp(e),
            duration(e - s)
        ),
        _ => String::new(),
    };
    out.push_str(&format!(
        "after-action report: {} tasks: {} landed, {} abandoned, {} open{span}\n\n",
        totals["tasks"], totals["landed"], totals["abandoned"], totals["open"]
    ));
    let header = [
        "ID",
        "OUTCOME",
        "TO SPAWN",
        "TO REPORT",
        "TO LAND",
        "RETRIES",
        "BLOCKED",
        "FAILURES",
        "CONFLICTS",
    ];
    let rows: Vec<[String; 9]> = tasks
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.outcome.clone(),
                opt(t.to_spawn),
                opt(t.to_report),
                opt(t.to_land),
                t.retries.to_string(),
                t.blocked.len().to_string(),
                t.failures.len().to_string(),
                t.conflicts.to_string(),
            ]
        })
        .collect();
    let mut table = vec![header.map(String::from)];
    table.extend(rows);
    out.push_str(&orch::ui::format_table(&table));
    let blocked: Vec<String> = tasks
        .iter()
        .flat_map(|t| {
            t.blocked.iter().map(move |b| {
                let how_long = b
                    .end
                    .map_or("still blocked".to_string(), |e| duration(e - b.start));
                format!(
                    "  {}  {}  {how_long}  {}",
                    t.id,
                    timestamp(b.start),
                    b.reason
                )
            })
        })
        .collect();
    if !blocked.is_empty() {
        out.push_str("\nblocked episodes:\n");
        out.push_str(&blocked.join("\n"));
        out.push('\n');
    }
    let failures: Vec<String> = tasks
        .iter()
        .flat_map(|t| {
            t.failures.iter().map(move |f| {
                format!(
                    "  {}  {}  {}: {}",
                    t.id,
                    timestamp(f.time),
                    f.kind,
                    f.detail
                )
            })
        })
        .collect();
    if !failures.is_empty() {
        out.push_str("\nfailures and conflicts:\n");
        out.push_str(&failures.join("\n"));
        out.push('\n');
    }
    out.push_str(&format!(
        "\ntotals: median time to first report {}, to landing {}; {} retries; {} blocked episodes; {} failures; {} conflicts\n",
        opt(totals["median_to_report"].as_i64()),
        opt(totals["median_to_land"].as_i64()),
        totals["retries"],
        totals["blocked_episodes"],
        totals["failures"],
        totals["conflicts"]
    ));
    out
}

pub fn report(repo: &Repo, args: &ReportArgs) -> Result<Outcome> {
    let since = args
        .since
        .as_deref()
        .map(|t| parse_since(t, registry::now()))
        .transpose()?;
    let tasks = collect(repo, since)?;
    let totals = totals(&tasks);
    if args.json {
        print_json(
            &json!({ "version": JSON_VERSION, "since": since, "tasks": tasks, "totals": totals }),
        )?;
        return Ok(Outcome::Success);
    }
    if let Some(path) = &args.html {
        write_html(path, &html::render(&tasks, &totals))?;
        eprintln!(
            "wrote the report of {} task(s) to '{}'",
            tasks.len(),
            path.display()
        );
        return Ok(Outcome::Success);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(render_text(&tasks, &totals).as_bytes())?;
    out.flush()?;
    Ok(Outcome::Success)
}

fn write_html(path: &Path, html: &str) -> Result<()> {
    std::fs::write(path, html).with_context(|| format!("cannot write '{}'", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_compact() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(7200), "2h");
        assert_eq!(duration(86_400 * 2 + 3600 * 3), "2d3h");
    }
}
