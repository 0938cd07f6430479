//! The conversation between coordinator and workers, all in the workers'
//! event logs: `log` and `timeline` read them back, `notify` (worker to
//! coordinator), `message` and `inbox` (coordinator to worker, with a read
//! cursor that is itself an event), and `wait`.

use std::io::Write as _;

use anyhow::Result;
use serde_json::json;

use crate::cli::{InboxArgs, LogArgs, MessageArgs, NotifyArgs, TimelineArgs, WaitArgs};
use orch::contract::validate_id;
use orch::exit::{Hint, Outcome};
use orch::git::Repo;
use orch::interrupt::Interrupted;
use orch::registry::{self, Actor, Change, Logged, State};
use orch::role::{require_coordinator, require_worker};
use orch::ui::{JSON_VERSION, print_json, timestamp};

use orch::registry::entry_any;

/// `key=value` pairs of an event's data, for one line of text.
fn details(logged: &Logged) -> String {
    logged
        .event
        .data
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={}", one_line(s)),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn one_line(text: &str) -> String {
    let line = text.trim().replace('\n', " ⏎ ");
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(199).collect();
        format!("{cut}…")
    } else {
        line
    }
}

fn event_json(worker: &str, logged: &Logged) -> serde_json::Value {
    let e = &logged.event;
    json!({
        "worker": worker, "time": e.time, "actor": e.actor, "kind": e.kind,
        "clock": e.clock, "id": e.id, "data": e.data,
    })
}

pub fn log(repo: &Repo, args: &LogArgs) -> Result<Outcome> {
    let (entry, archived) = entry_any(repo, &args.id)?;
    let history = registry::history(repo, entry.tip)?;
    if args.json {
        let events: Vec<_> = history.iter().map(|l| event_json(entry.id(), l)).collect();
        print_json(&json!({
            "version": JSON_VERSION, "worker": entry.id(), "archived": archived,
            "state": entry.status.state, "events": events,
        }))?;
        return Ok(Outcome::Success);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for logged in &history {
        writeln!(out, "{}", orch::ui::printable(&line(None, logged)))?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// One event as a line of `log` (no worker column) or `timeline`.
fn line(worker: Option<&str>, logged: &Logged) -> String {
    format!(
        "{}  {}{:<11}  {:<9}  {}",
        timestamp(logged.event.time),
        worker.map_or(String::new(), |id| format!("{id:<12}  ")),
        actor(logged.event.actor),
        logged.event.kind,
        details(logged)
    )
}

fn actor(actor: Actor) -> &'static str {
    match actor {
        Actor::Coordinator => "coordinator",
        Actor::Worker => "worker",
    }
}

/// `--since`: Unix seconds, an age (`30s`, `10m`, `2h`, `3d`) or a UTC date
/// (`2026-11-21`, `2026-11-21T10:00`, `2026-11-21T10:00:00Z`).
pub fn parse_since(text: &str, now: i64) -> Result<i64> {
    let text = text.trim();
    let bad = || -> anyhow::Error {
        Hint::new(format!("invalid time '{text}'"))
            .hint("use Unix seconds, an age such as 30m, 2h or 3d, or a UTC date such as 2026-11-21T10:00:00Z")
            .into()
    };
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    if let Some(unit) = text.chars().last().filter(|c| "smhd".contains(*c))
        && let Ok(count) = text[..text.len() - 1].parse::<i64>()
    {
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => 86_400,
        };
        return Ok(now - count.checked_mul(scale).ok_or_else(bad)?);
    }
    let date = text.trim_end_matches('Z');
    let (day, clock) = date.split_once('T').unwrap_or((date, "00:00:00"));
    let numbers =
        |s: &str, sep: char| -> Option<Vec<i64>> { s.split(sep).map(|n| n.parse().ok()).collect() };
    let (Some(ymd), Some(hms)) = (numbers(day, '-'), numbers(clock, ':')) else {
        return Err(bad());
    };
    let (&[y, mo, d], &[h, mi, ref rest @ ..]) = (ymd.as_slice(), hms.as_slice()) else {
        return Err(bad());
    };
    if rest.len() > 1 {
        return Err(bad());
    }
    let s = rest.first().copied().unwrap_or(0);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&mo) || !(1..=days_in_month).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn timeline(repo: &Repo, args: &TimelineArgs) -> Result<Outcome> {
    let since = args
        .since
        .as_deref()
        .map(|t| parse_since(t, registry::now()))
        .transpose()?;
    let mut all: Vec<(String, Logged)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for log in registry::all_logs(repo)? {
        let id = log.id;
        for logged in log.events {
            if since.is_some_and(|since| logged.event.time < since) {
                continue;
            }
            // Merged logs (and an archive next to a live entry) share events.
            if !logged.event.id.is_empty() && !seen.insert(logged.event.id.clone()) {
                continue;
            }
            all.push((id.clone(), logged));
        }
    }
    all.sort_by(|(a_id, a), (b_id, b)| {
        (a.event.time, a_id, a.event.clock).cmp(&(b.event.time, b_id, b.event.clock))
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (id, logged) in &all {
        if args.json {
            serde_json::to_writer(&mut out, &event_json(id, logged))?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", orch::ui::printable(&line(Some(id), logged)))?;
        }
    }
    out.flush()?;
    Ok(Outcome::Success)
}

pub fn notify(repo: &Repo, args: &NotifyArgs) -> Result<Outcome> {
    let id = require_worker(repo, "git worker notify")?;
    let asked = format!(
        "please rebase me onto your current HEAD: git worker rebase {id}{}",
        args.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map_or(String::new(), |why| format!(" ({why})"))
    );
    let text = if args.rebase {
        asked.as_str()
    } else {
        args.text.as_deref().unwrap_or_default().trim()
    };
    if text.is_empty() {
        return Err(Hint::new("a notice needs a text")
            .hint("git worker notify '<what happened, what you tried, what you need>'")
            .into());
    }
    let side = orch::ops::worker::Side::of(repo)?;
    side.entry(repo, &id)?;
    let blocking = args.rebase || args.level == "blocking";
    let event = registry::WorkerEvent::Notice {
        level: if blocking {
            "blocking".to_string()
        } else {
            args.level.clone()
        },
        text: text.to_string(),
    };
    side.record(repo, &id, &event)?;
    if args.rebase {
        eprintln!(
            "'{id}' is now blocked until the coordinator rebases it (`git worker rebase {id}`); commit your work first, it is what moves"
        );
    } else if blocking {
        eprintln!(
            "'{id}' is now blocked; the coordinator sees it in `git worker list`, and answers with `git worker message`"
        );
        eprintln!("hint: read answers with `git worker inbox`");
    } else {
        eprintln!("sent a notice ({}) to the coordinator", args.level);
    }
    Ok(Outcome::Success)
}

pub fn message(repo: &Repo, args: &MessageArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker message")?;
    validate_id(&args.id)?;
    let text = args.text.trim();
    if text.is_empty() {
        return Err(Hint::new("a message needs a text").into());
    }
    if registry::load(repo, &args.id)?.is_none() {
        return Err(Hint::new(format!("worker '{}' is not registered", args.id))
            .hint("`git worker list` shows the registered workers")
            .into());
    }
    let mut unblocked = None;
    registry::update(repo, &registry::live_ref(&args.id), |entry| {
        let mut change = Change::new("message", Actor::Coordinator, entry.status.state)
            .reason(entry.status.reason.clone())
            .with("text", text);
        unblocked = None;
        if entry.status.state == State::Blocked {
            let was = registry::state_before_blocking(repo, entry)?;
            change.state = was;
            change.reason = String::new();
            change = change.with("unblocks", true);
            unblocked = Some(was);
        }
        Ok(Some(change))
    })?;
    match unblocked {
        Some(state) => eprintln!(
            "sent a message to '{}'; it answers its blocking notice, and the worker is {state} again",
            args.id
        ),
        None => eprintln!("sent a message to '{}'", args.id),
    }
    Ok(Outcome::Success)
}

/// A worker's messages, and the index of the first unread one: the one
/// after the message its latest `read` event names.
pub(super) fn messages(history: &[Logged]) -> (Vec<&Logged>, usize) {
    let messages: Vec<&Logged> = history
        .iter()
        .filter(|l| l.event.kind == "message")
        .collect();
    let cursor = history
        .iter()
        .rev()
        .find(|l| l.event.kind == "read")
        .and_then(|l| l.event.data.get("upto").and_then(|v| v.as_str()))
        .and_then(|upto| messages.iter().position(|m| m.event.id == upto));
    let first_unread = cursor.map_or(0, |i| i + 1);
    (messages, first_unread)
}

pub fn inbox(repo: &Repo, args: &InboxArgs) -> Result<Outcome> {
    let id = require_worker(repo, "git worker inbox")?;
    let side = orch::ops::worker::Side::of(repo)?;
    let entry = side.entry(repo, &id)?;
    // What the log says, and what this worker wrote that the coordinator
    // has not taken yet (a sandboxed worker's outbox: its read marks).
    let mut history = registry::history(side.registry(repo), entry.tip)?;
    history.extend(side.pending(repo, &id)?);
    let (messages, first_unread) = messages(&history);
    let shown: Vec<(&Logged, bool)> = messages
        .iter()
        .enumerate()
        .filter(|(i, _)| args.all || *i >= first_unread)
        .map(|(i, m)| (*m, i < first_unread))
        .collect();
    // Shown first, then marked read: output that fails loses nothing.
    if args.json {
        let items: Vec<_> = shown
            .iter()
            .map(|(m, read)| {
                json!({
                    "id": m.event.id, "time": m.event.time,
                    "text": m.event.data.get("text").cloned().unwrap_or_default(),
                    "read": read,
                })
            })
            .collect();
        print_json(&json!({ "version": JSON_VERSION, "worker": id, "messages": items }))?;
    } else if shown.is_empty() {
        eprintln!("no unread messages");
    } else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for (m, read) in &shown {
            let text = m
                .event
                .data
                .get("text")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            writeln!(
                out,
                "message {}{}\n{}\n",
                timestamp(m.event.time),
                if *read { " (read)" } else { "" },
                text.trim_end()
            )?;
        }
        out.flush()?;
    }
    if !args.all
        && let Some(last) = messages.last()
        && first_unread < messages.len()
    {
        let event = registry::WorkerEvent::Read {
            upto: last.event.id.clone(),
            count: (messages.len() - first_unread) as u64,
        };
        side.record(repo, &id, &event)?;
    }
    Ok(Outcome::Success)
}

/// Where a worker is: its state (`None`: removed), and whether its agent
/// has exited since its latest launch.
type Where = (Option<State>, bool);

/// Whether a worker at `at` has reached `until`.
fn reached((state, exited): Where, until: &str) -> bool {
    let reported = matches!(
        state,
        Some(State::Reported | State::Applied | State::Rejected)
    );
    let blocked = state == Some(State::Blocked);
    let done = matches!(
        state,
        None | Some(State::Applied | State::Rejected | State::Removed)
    );
    match until {
        "reported" => reported,
        "blocked" => blocked,
        "done" => done,
        "exited" => exited,
        _ => reported || blocked || done,
    }
}

/// Where each id is now.
fn states(repo: &Repo, ids: &[String], until: &str) -> Result<Vec<Where>> {
    ids.iter()
        .map(|id| {
            let entry = registry::load(repo, id)?;
            let exited = match (&entry, until) {
                (Some(entry), "exited") => {
                    orch::ops::agent::exited_event(&registry::history(repo, entry.tip)?).is_some()
                }
                _ => false,
            };
            Ok((entry.map(|e| e.status.state), exited))
        })
        .collect()
}

pub fn wait(repo: &Repo, args: &WaitArgs) -> Result<Outcome> {
    // Refuse states a worker can no longer reach, rather than wait forever.
    for id in &args.ids {
        let (entry, archived) = entry_any(repo, id)?;
        let never = match args.until.as_str() {
            "reported" | "blocked" if archived => Some("it was removed"),
            "exited" if archived => Some("it was removed"),
            "exited"
                if !registry::history(repo, entry.tip)?
                    .iter()
                    .any(|l| l.event.kind == "launched") =>
            {
                Some("no agent was launched for it (spawn --exec)")
            }
            _ => None,
        };
        if let Some(why) = never {
            return Err(
                Hint::new(format!("worker '{id}' will never be {}: {why}", args.until))
                    .hint("`git worker log <id>` shows its history")
                    .into(),
            );
        }
    }
    let _signals = orch::interrupt::guard()?;
    let watch = orch::ops::collect::watch(repo, &[registry::WORKERS, registry::ARCHIVE])?;
    let done = orch::watch::until(&watch, args.timeout, || {
        orch::ops::collect::collect_all(repo)?;
        let now = states(repo, &args.ids, &args.until)?;
        Ok(now
            .iter()
            .all(|state| reached(*state, &args.until))
            .then_some(now))
    })?;
    if let Some(signal) = orch::interrupt::pending() {
        return Err(Interrupted {
            signal,
            what: "stopped waiting".into(),
        }
        .into());
    }
    let (now, timed_out) = match done {
        Some(now) => (now, false),
        None => (states(repo, &args.ids, &args.until)?, true),
    };
    let name = |(state, _): Where| state.map_or("removed", State::as_str);
    if args.json {
        let workers: Vec<_> = args
            .ids
            .iter()
            .zip(&now)
            .map(|(id, state)| {
                json!({ "id": id, "state": name(*state), "reached": reached(*state, &args.until) })
            })
            .collect();
        print_json(&json!({
            "version": JSON_VERSION, "until": args.until, "timed_out": timed_out, "workers": workers,
        }))?;
    } else {
        for (id, state) in args.ids.iter().zip(&now) {
            println!("{id}\t{}", name(*state));
        }
    }
    if timed_out {
        let waiting: Vec<&str> = args
            .ids
            .iter()
            .zip(&now)
            .filter(|(_, state)| !reached(**state, &args.until))
            .map(|(id, _)| id.as_str())
            .collect();
        eprintln!(
            "timed out after {} s; not yet {}: {}",
            args.timeout.map_or(0.0, |t| t.as_secs_f64()),
            args.until,
            waiting.join(", ")
        );
        return Ok(Outcome::CheckFailed);
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_ages_and_utc_dates() {
        assert_eq!(parse_since("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(parse_since("10m", 10_000).unwrap(), 9_400);
        assert_eq!(parse_since("2d", 200_000).unwrap(), 200_000 - 172_800);
        assert_eq!(parse_since("1970-01-02", 0).unwrap(), 86_400);
        assert_eq!(parse_since("2001-02-03T04:05:06Z", 0).unwrap(), 981_173_106);
        assert_eq!(parse_since("2001-02-03T04:05", 0).unwrap(), 981_173_100);
        assert_eq!(parse_since("2000-02-29", 0).unwrap(), 951_782_400);
        for bad in [
            "yesterday",
            "2001-13-01",
            "10x",
            "2001-02-03T25:00",
            "",
            "2026-02-31",
            "2001-02-29",
        ] {
            assert!(parse_since(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn wait_states() {
        assert!(reached((Some(State::Reported), false), "reported"));
        assert!(reached((Some(State::Applied), false), "reported"));
        assert!(!reached((Some(State::Active), false), "any"));
        assert!(reached((Some(State::Blocked), false), "any"));
        assert!(!reached((Some(State::Blocked), false), "done"));
        assert!(reached((None, false), "done"));
        assert!(reached((Some(State::Active), true), "exited"));
    }
}
