//! `git handoff land`: an ordered landing queue over `git handoff apply`.
//! Independent handoffs land first, those sharing files next, predicted
//! conflicts last; each one through apply (contract, gate, verification
//! after every landing, rollback on failure).

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use serde_json::json;

use orch::contract::validate_id;
use orch::exit::{Hint, Outcome};
use orch::git::{Oid, Repo};
use orch::policy::display_path;
use orch::registry::{self, Handoff, State};
use orch::role::require_coordinator;
use orch::ui::{JSON_VERSION, print_json};

use crate::cli::{ApplyArgs, LandArgs};

/// One handoff in the queue, with what the ordering knows of it.
struct Item {
    id: String,
    reported: i64,
    paths: BTreeSet<String>,
    /// Other handoffs in the queue that change some of the same files.
    shares: Vec<String>,
    /// Predicted conflicts: with HEAD, and with other handoffs.
    conflicts_head: Vec<String>,
    conflicts_with: Vec<(String, Vec<String>)>,
}

impl Item {
    /// 0: independent; 1: shares files; 2: predicted to conflict.
    fn rank(&self) -> u8 {
        if !self.conflicts_head.is_empty() || !self.conflicts_with.is_empty() {
            2
        } else if !self.shares.is_empty() {
            1
        } else {
            0
        }
    }

    fn reason(&self) -> String {
        let mut parts = Vec::new();
        if !self.conflicts_head.is_empty() {
            parts.push(format!(
                "predicted conflict with HEAD in {}",
                self.conflicts_head.join(", ")
            ));
        }
        for (other, files) in &self.conflicts_with {
            parts.push(format!(
                "predicted conflict with '{other}' in {}",
                files.join(", ")
            ));
        }
        if parts.is_empty() && !self.shares.is_empty() {
            parts.push(format!("shares files with {}", self.shares.join(", ")));
        }
        if parts.is_empty() {
            "independent".into()
        } else {
            parts.join("; ")
        }
    }
}

/// The handoffs to land: the ids given, or every reported one.
fn candidates(repo: &Repo, args: &LandArgs) -> Result<Vec<(String, Handoff)>> {
    let mut out = Vec::new();
    if args.all {
        // Those it leaves out, named: a rejected change, work not reported.
        let mut skipped = Vec::new();
        for entry in registry::list(repo)?.into_iter().flatten() {
            match entry.status.state {
                State::Reported => {}
                State::Rejected => {
                    skipped.push(format!("{} (rejected)", entry.id()));
                    continue;
                }
                State::Active | State::Blocked => {
                    skipped.push(format!("{} (not reported)", entry.id()));
                    continue;
                }
                _ => continue,
            }
            if let Some(handoff) = registry::load_current_handoff(repo, &entry)? {
                out.push((entry.id().to_string(), handoff));
            }
        }
        if !skipped.is_empty() {
            eprintln!("not in the queue: {}", skipped.join(", "));
        }
        return Ok(out);
    }
    for id in &args.ids {
        validate_id(id)?;
        if out.iter().any(|(seen, _)| seen == id) {
            return Err(Hint::new(format!("worker id '{id}' is given twice")).into());
        }
        let Some(entry) = registry::load(repo, id)? else {
            return Err(Hint::new(format!("worker '{id}' is not registered"))
                .hint("`git handoff list` shows the workers and their handoffs")
                .into());
        };
        let Some(handoff) = registry::load_current_handoff(repo, &entry)? else {
            return Err(Hint::new(format!("worker '{id}' has not reported"))
                .hint(format!(
                    "`git handoff show {id}` shows what its branch holds"
                ))
                .into());
        };
        out.push((id.clone(), handoff));
    }
    Ok(out)
}

/// Order the queue: rank, then report time, then id.
fn plan(repo: &Repo, handoffs: &[(String, Handoff)]) -> Result<Vec<Item>> {
    let head = repo
        .head_commit()?
        .context("the coordinator's branch has no commit to land onto")?;
    let mut items = Vec::new();
    let mut commits: Vec<Oid> = Vec::new();
    for (id, handoff) in handoffs {
        let base = Oid::from_str(&handoff.meta.base).context("bad base in the handoff")?;
        let result = Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?;
        let paths = repo
            .diff_trees(Some(repo.commit_tree(base)?), Some(result))?
            .iter()
            .map(|c| display_path(&c.path))
            .collect();
        let commit = registry::handoff_result_commit(repo, handoff)?;
        let conflicts_head = repo.merge_conflicts(head, commit)?;
        commits.push(commit);
        items.push(Item {
            id: id.clone(),
            reported: handoff.meta.reported,
            paths,
            shares: Vec::new(),
            conflicts_head,
            conflicts_with: Vec::new(),
        });
    }
    // Only handoffs that share files can conflict with each other.
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            if items[i].paths.is_disjoint(&items[j].paths) {
                continue;
            }
            let (a, b) = (items[i].id.clone(), items[j].id.clone());
            items[i].shares.push(b.clone());
            items[j].shares.push(a.clone());
            let files = repo.merge_conflicts(commits[i], commits[j])?;
            if !files.is_empty() {
                items[i].conflicts_with.push((b, files.clone()));
                items[j].conflicts_with.push((a, files));
            }
        }
    }
    items.sort_by(|x, y| (x.rank(), x.reported, &x.id).cmp(&(y.rank(), y.reported, &y.id)));
    Ok(items)
}

pub fn land(repo: &Repo, args: &LandArgs) -> Result<Outcome> {
    require_coordinator(repo, "git handoff land")?;
    let handoffs = candidates(repo, args)?;
    if handoffs.is_empty() {
        eprintln!("no reported handoffs to land");
        return Ok(Outcome::Success);
    }
    let queue = plan(repo, &handoffs)?;
    if args.dry_run {
        return dry_run(repo, args, &queue);
    }
    let total = queue.len();
    let mut landed = Vec::new();
    let mut failed = Vec::new();
    let mut stopped_at = None;
    for (n, item) in queue.iter().enumerate() {
        eprintln!(
            "[{}/{total}] landing '{}' ({})",
            n + 1,
            item.id,
            item.reason()
        );
        let apply = ApplyArgs {
            id: item.id.clone(),
            dry_run: false,
            no_commit: false,
            timeout: args.timeout,
            accept_merged: false,
            keep_commits: args.keep_commits,
            no_keep_commits: args.no_keep_commits,
        };
        let options = super::apply::apply_options(&apply, !args.json);
        let ok = match orch::ops::apply::apply(repo, &apply.id, options) {
            Ok(Outcome::Success) => true,
            Ok(_) => false,
            // Ctrl-C stops the queue: apply rolled back what it was doing.
            Err(err) if orch::interrupt::stops_everything(&err) => return Err(err),
            Err(err) => {
                eprint!("{}", orch::exit::render(&err));
                false
            }
        };
        if ok {
            landed.push(item.id.clone());
            // Killed between two handoffs: those landed stay landed, and
            // `land` again takes the rest.
            orch::interrupt::checkpoint("land:next")?;
        } else {
            failed.push(item.id.clone());
            if !args.keep_going {
                stopped_at = Some(n + 1);
                break;
            }
        }
    }
    let not_attempted: Vec<String> = match stopped_at {
        Some(n) => queue[n..].iter().map(|i| i.id.clone()).collect(),
        None => Vec::new(),
    };
    if args.json {
        print_json(&json!({
            "version": JSON_VERSION, "landed": landed, "failed": failed, "not_attempted": not_attempted,
        }))?;
    }
    let list = |ids: &[String]| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    };
    eprintln!(
        "landed {} of {total}: {}; failed: {}{}",
        landed.len(),
        list(&landed),
        list(&failed),
        if not_attempted.is_empty() {
            String::new()
        } else {
            format!(
                "; not attempted (the queue stops at a failure; --keep-going skips it): {}",
                not_attempted.join(", ")
            )
        }
    );
    Ok(if failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

/// `land --dry-run`: the queue in order, and for each handoff whether its
/// review gate would let it land (apply checks it first). Exit 1 when one
/// would not.
fn dry_run(repo: &Repo, args: &LandArgs, queue: &[Item]) -> Result<Outcome> {
    let settings = orch::config::Settings::load(repo)?;
    let mut closed = Vec::new();
    let mut gates = Vec::new();
    for item in queue {
        let gate = orch::ops::review::evaluate(repo, &item.id, &settings)?;
        let why = if gate.decision.open {
            None
        } else {
            let (reasons, _) = orch::gate::explain(&gate.decision, &gate.target.subject);
            closed.push(item.id.clone());
            Some(reasons.join("; "))
        };
        gates.push(why);
    }
    if args.json {
        let items: Vec<_> = queue
            .iter()
            .zip(&gates)
            .map(|(i, why)| {
                json!({ "id": i.id, "rank": i.rank(), "reason": i.reason(), "files": i.paths,
                    "gate": if why.is_some() { "closed" } else { "open" }, "gate_reason": why })
            })
            .collect();
        print_json(&json!({ "version": JSON_VERSION, "plan": items }))?;
    } else {
        for (n, (item, why)) in queue.iter().zip(&gates).enumerate() {
            match why {
                None => println!("{}. {} ({})", n + 1, item.id, item.reason()),
                Some(why) => println!(
                    "{}. {} ({}): would not land, its review gate is closed: {why}",
                    n + 1,
                    item.id,
                    item.reason()
                ),
            }
        }
    }
    if closed.is_empty() {
        return Ok(Outcome::Success);
    }
    eprintln!(
        "{} of {} would not land (review gate closed): {}",
        closed.len(),
        queue.len(),
        closed.join(", ")
    );
    Ok(Outcome::CheckFailed)
}
