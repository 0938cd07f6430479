//! `git handoff list`: every worker and its latest handoff.

use anyhow::Result;
use serde_json::json;

use orch::exit::Outcome;
use orch::git::Repo;
use orch::registry::{self};

use orch::ui::{JSON_VERSION, print_json, short, tail_line, timestamp};

use super::show::handoff_json;
use crate::cli::ListArgs;

pub(super) fn list(repo: &Repo, args: &ListArgs) -> Result<Outcome> {
    let mut rows = Vec::new();
    for entry in registry::list(repo)?.into_iter().flatten() {
        let handoff = registry::load_current_handoff(repo, &entry)?;
        rows.push((entry.id().to_string(), Some(entry), handoff));
    }
    // Handoffs of workers removed since (their handoff ref stays).
    for (name, _) in repo.refs_under(registry::HANDOFFS)? {
        let id = name.trim_start_matches(registry::HANDOFFS).to_string();
        if !rows.iter().any(|(row, _, _)| *row == id) {
            let handoff = registry::load_handoff(repo, &id)?;
            rows.push((id, None, handoff));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if args.json {
        let items: Vec<_> = rows
            .iter()
            .map(|(id, entry, handoff)| {
                let state = entry.as_ref().map(|e| e.status.state);
                Ok(match handoff {
                    Some(handoff) => handoff_json(
                        handoff,
                        state,
                        registry::outcome_of(repo, entry.as_ref(), handoff)?.as_ref(),
                    ),
                    None => json!({ "id": id, "reported": false, "state": state }),
                })
            })
            .collect::<Result<_>>()?;
        print_json(&json!({ "version": JSON_VERSION, "handoffs": items }))?;
        return Ok(Outcome::Success);
    }
    if rows.is_empty() {
        eprintln!("no workers and no handoffs");
        return Ok(Outcome::Success);
    }
    let mut table = vec![
        [
            "ID",
            "STATE",
            "REPORTED",
            "FILES",
            "FINGERPRINT",
            "SUMMARY (END)",
        ]
        .map(String::from),
    ];
    for (id, entry, handoff) in &rows {
        let state = entry
            .as_ref()
            .map_or("removed".to_string(), |e| e.status.state.to_string());
        table.push(match handoff {
            Some(h) => [
                id.clone(),
                state,
                timestamp(h.meta.reported),
                h.meta.files.to_string(),
                short(&h.meta.fingerprint).to_string(),
                tail_line(&h.summary, 60),
            ],
            None => [
                id.clone(),
                state,
                "not reported".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        });
    }
    print!("{}", orch::ui::printable(&orch::ui::format_table(&table)));
    Ok(Outcome::Success)
}
