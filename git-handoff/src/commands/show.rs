//! `git handoff show`: a handoff, or what an unreported worker holds.

use anyhow::{Context as _, Result};
use serde_json::json;

use orch::contract::validate_id;
use orch::exit::{Hint, Outcome};
use orch::git::{Oid, Repo};
use orch::local;
use orch::registry::{self, Handoff, State};

use orch::ui::{JSON_VERSION, keep_end, print_json, short, timestamp};

use crate::cli::ShowArgs;

fn verdict_json(verdict: Option<&registry::Logged>) -> serde_json::Value {
    verdict.map_or(serde_json::Value::Null, |logged| {
        json!({ "kind": logged.event.kind, "time": logged.event.time, "data": logged.event.data })
    })
}

/// One line (plus an output tail) for `show`.
fn verdict_text(verdict: &registry::Logged, max_chars: Option<usize>) -> String {
    let data = &verdict.event.data;
    let get = |key: &str| {
        data.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    match verdict.event.kind.as_str() {
        "applied" => match get("commit") {
            commit if commit.is_empty() => "verdict:     applied (not committed)\n".to_string(),
            commit => format!("verdict:     applied as {}\n", short(&commit)),
        },
        _ if !get("command").is_empty() => {
            let tail = get("tail");
            let tail = match max_chars {
                Some(max) => keep_end(tail.trim_end(), max),
                None => tail.trim_end().to_string(),
            };
            format!(
                "verdict:     rejected: verification '{}' failed\n{tail}\n",
                get("command")
            )
        }
        _ => format!("verdict:     rejected: {}\n", get("reason")),
    }
}

pub(super) fn handoff_json(
    handoff: &Handoff,
    state: Option<State>,
    verdict: Option<&registry::Logged>,
) -> serde_json::Value {
    let m = &handoff.meta;
    json!({
        "id": m.id, "reported": true, "state": state, "commit": handoff.commit.to_string(),
        "base": m.base, "head": m.head, "tree": m.tree, "fingerprint": m.fingerprint,
        "files": m.files, "time": m.reported, "summary": handoff.summary, "stat": handoff.stat,
        "verdict": verdict_json(verdict),
        "notes": handoff.notes.iter().map(|(name, text)| json!({ "name": name, "text": text })).collect::<Vec<_>>(),
    })
}

pub(super) fn show(repo: &Repo, args: &ShowArgs) -> Result<Outcome> {
    validate_id(&args.id)?;
    let entry = registry::load(repo, &args.id)?;
    let handoff = match &entry {
        Some(entry) => registry::load_current_handoff(repo, entry)?,
        None => registry::load_handoff(repo, &args.id)?,
    };
    let cut = |text: &str| match args.max_chars {
        Some(max) => keep_end(text, max),
        None => text.to_string(),
    };
    match (handoff, entry) {
        (Some(mut handoff), entry) => {
            // The change is the handoff's base and tree: its stat and patch
            // are made from them here, never taken from what the worker
            // stored beside them (which a forger would make tell another
            // story to the reviewer).
            let (base_tree, result_tree) = change_of(repo, &handoff)?;
            if args.patch {
                use std::io::Write as _;
                std::io::stdout()
                    .lock()
                    .write_all(&repo.binary_patch(base_tree, result_tree)?)?;
                return Ok(Outcome::Success);
            }
            handoff.stat = repo.stat(base_tree, result_tree)?;
            let state = entry.as_ref().map(|e| e.status.state);
            let verdict = registry::outcome_of(repo, entry.as_ref(), &handoff)?;
            if args.json {
                print_json(
                    &json!({ "version": JSON_VERSION, "handoff": handoff_json(&handoff, state, verdict.as_ref()) }),
                )?;
                return Ok(Outcome::Success);
            }
            let m = &handoff.meta;
            let mut out = format!(
                "handoff of {} ({})\nreported:    {}\nfingerprint: {}\nbase:        {}\nhead:        {}\n\n{}\n",
                m.id,
                state.map_or("not registered".to_string(), |s| s.to_string()),
                timestamp(m.reported),
                m.fingerprint,
                m.base,
                m.head,
                cut(handoff.summary.trim_end()),
            );
            if let Some(verdict) = &verdict {
                let at = out.find("\n\n").unwrap_or(out.len());
                out.insert_str(at + 1, &verdict_text(verdict, args.max_chars));
            }
            for (name, text) in &handoff.notes {
                out.push_str(&format!("\nnote {name}:\n{}\n", cut(text.trim_end())));
            }
            out.push_str(&format!("\n{}\n", handoff.stat));
            print!("{}", orch::ui::printable(&out));
            Ok(Outcome::Success)
        }
        (None, Some(entry)) => show_unreported(repo, &entry, args),
        (None, None) => Err(Hint::new(format!(
            "worker '{}' is not registered and has no handoff",
            args.id
        ))
        .hint("`git handoff list` shows the workers and their handoffs")
        .into()),
    }
}

/// The trees of a handoff's change: its base's, and its result.
fn change_of(repo: &Repo, handoff: &Handoff) -> Result<(Oid, Oid)> {
    let base = Oid::from_str(&handoff.meta.base).context("bad base in the handoff")?;
    let result = Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?;
    Ok((repo.commit_tree(base)?, result))
}

/// What a worker's branch and checkout say when it never reported.
fn show_unreported(repo: &Repo, entry: &registry::Entry, args: &ShowArgs) -> Result<Outcome> {
    let contract = &entry.contract;
    let base = Oid::from_str(&contract.base)?;
    let branch = repo.ref_target(&format!("refs/heads/{}", contract.branch))?;
    let checkout = local::load_local(repo, entry.id())?
        .map(|local| local.path)
        .filter(|path| repo.owns_checkout(path));
    let tree = match (&checkout, branch) {
        (Some(path), _) => match Repo::read_snapshot(path) {
            Ok(tree) => Some(tree),
            // A checkout being removed loses its files one by one, then
            // goes: what is left of the worker is its branch.
            Err(_)
                if local::removal_running(repo, entry.id()).is_some()
                    || registry::load(repo, entry.id())?.is_none() =>
            {
                branch.map(|tip| repo.commit_tree(tip)).transpose()?
            }
            Err(err) => return Err(err),
        },
        (None, Some(tip)) => Some(repo.commit_tree(tip)?),
        (None, None) => None,
    };
    // A clone's snapshot is in the clone's objects: copy them here (read
    // in-process, checked), and diff here. No git runs in a worker's
    // repository: its config (log.showSignature with gpg.program,
    // diff.external, ...) would run as the coordinator.
    if let (Some(path), Some(tree)) = (&checkout, tree)
        && repo.owns_clone(path)
    {
        repo.copy_objects(&Repo::open(path)?, &[tree])?;
    }
    let base_tree = repo.commit_tree(base)?;
    if args.patch {
        let Some(tree) = tree else {
            return Ok(Outcome::Success);
        };
        use std::io::Write as _;
        std::io::stdout()
            .lock()
            .write_all(&repo.binary_patch(base_tree, tree)?)?;
        return Ok(Outcome::Success);
    }
    let log = match branch {
        Some(tip) if tip != base => repo.log_oneline(&format!("{base}..{tip}"))?,
        _ => String::new(),
    };
    let stat = match tree {
        Some(tree) => repo.stat(base_tree, tree)?,
        None => String::new(),
    };
    if args.json {
        print_json(&json!({
            "version": JSON_VERSION,
            "handoff": { "id": entry.id(), "reported": false, "state": entry.status.state,
                         "commits": log.lines().collect::<Vec<_>>(), "stat": stat },
        }))?;
        return Ok(Outcome::Success);
    }
    println!(
        "worker {} has NOT reported ({}); what its branch and checkout say:",
        entry.id(),
        entry.status.state
    );
    println!(
        "\ncommits since {} ({}):",
        contract.base_ref,
        short(&contract.base)
    );
    // Commit subjects and file names are the worker's.
    println!(
        "{}",
        orch::ui::printable(&if log.is_empty() {
            "  none".to_string()
        } else {
            cut_lines(&log, args.max_chars)
        })
    );
    println!(
        "\n{}",
        orch::ui::printable(&if stat.is_empty() {
            "no change".to_string()
        } else {
            stat
        })
    );
    Ok(Outcome::Success)
}

fn cut_lines(text: &str, max: Option<usize>) -> String {
    let indented: String = text.lines().map(|l| format!("  {l}\n")).collect();
    match max {
        Some(max) => keep_end(indented.trim_end(), max),
        None => indented.trim_end().to_string(),
    }
}
