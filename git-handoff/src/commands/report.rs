//! `git handoff report`: a worker records its result.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::json;

use orch::enforce;
use orch::exit::{Hint, Outcome};
use orch::git::{Oid, Repo};
use orch::policy::Policy;
use orch::registry::{self, HandoffMeta};

use orch::role::require_worker;
use orch::ui::{JSON_VERSION, print_json, short};

use super::show::handoff_json;
use crate::cli::ReportArgs;

/// The summary, from the flag, a file, or standard input.
fn read_summary(args: &ReportArgs) -> Result<String> {
    let summary = match (&args.summary, &args.summary_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) if path == Path::new("-") => read_stdin()?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read summary file '{}'", path.display()))?,
        (None, None) if !std::io::stdin().is_terminal() => read_stdin()?,
        (None, None) => String::new(),
    };
    if summary.trim().is_empty() {
        return Err(
            Hint::new("a handoff needs the worker's own summary, and none was given")
                .hint(
                    "git handoff report --summary '<what was done, what was found, what is left>'",
                )
                .hint("or pass it on standard input, or with --summary-file <file>")
                .into(),
        );
    }
    Ok(summary)
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the summary from standard input")?;
    Ok(text)
}

pub(super) fn report(repo: &Repo, args: &ReportArgs) -> Result<Outcome> {
    let id = require_worker(repo, "git handoff report")?;
    let side = orch::ops::worker::Side::of(repo)?;
    let entry = side.entry(repo, &id)?;
    let summary = read_summary(args)?;
    let mut notes = Vec::new();
    for path in &args.notes {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read note '{}'", path.display()))?;
        let name = path
            .file_name()
            .map_or("note".into(), |n| n.to_string_lossy().into_owned());
        notes.push((name, text));
    }
    let (contract, _) = enforce::authoritative_contract(repo, &entry)?;
    let checkout = repo
        .workdir()
        .context("a worker's checkout has a working tree")?
        .to_path_buf();

    let tree = Repo::snapshot_tree(&checkout)?;
    let base = Oid::from_str(&contract.base).context("bad base in the contract")?;
    let base_tree = repo.commit_tree(base)?;
    let changes = repo.diff_trees(Some(base_tree), Some(tree))?;
    if changes.is_empty() && contract.require_change {
        eprintln!(
            "error: nothing changed since the base ({}), and the contract of '{id}' requires a change",
            short(&contract.base)
        );
        eprintln!(
            "hint: a handoff returns a change, not only prose; make the change, then report again"
        );
        return Ok(Outcome::CheckFailed);
    }
    let violations =
        Policy::of(&contract, repo.folds_case()?)?.check(&changes, &repo.links_of(tree));
    if !violations.is_empty() {
        eprintln!(
            "error: the change of '{id}' touches {} path(s) outside its contract:",
            violations.len()
        );
        eprint!("{}", enforce::explain(&violations, &contract));
        eprintln!(
            "hint: undo those changes, or ask the coordinator: git worker notify --level blocking \"<what you need and why>\""
        );
        let paths: Vec<String> = violations
            .iter()
            .map(|v| orch::policy::display_path(&v.path))
            .collect();
        orch::ops::worker::record_refusal(repo, &id, "report", &paths);
        return Ok(Outcome::CheckFailed);
    }

    // Work left uncommitted meets the repository's own pre-commit hook here,
    // as a commit of it would: apply commits it without hooks.
    let head = repo.head_commit()?.unwrap_or(base);
    if !args.no_verify
        && tree != repo.commit_tree(head)?
        && let Some(code) = orch::hooks::pre_commit_refuses(repo, tree)?
    {
        eprintln!(
            "error: the repository's pre-commit hook refuses the uncommitted work of '{id}' (exit {code}); nothing was reported"
        );
        eprintln!(
            "hint: fix what it says (or commit, which runs it too), then report again; --no-verify reports without it"
        );
        orch::ops::worker::record_refusal(repo, &id, "report", &[]);
        return Ok(Outcome::CheckFailed);
    }

    let (stat, patch) = repo.stat_and_patch(base_tree, tree)?;
    // patch-id reads the whole patch: it runs while the patch is stored
    // (write_handoff then finds the blob already there).
    let patch_id = repo.start_patch_id(&patch)?;
    repo.write_blob(&patch)?;
    let fingerprint = match patch_id {
        Some(running) => running
            .read()?
            .split_whitespace()
            .next()
            .unwrap_or("empty")
            .to_string(),
        None => "empty".to_string(),
    };
    let meta = HandoffMeta {
        id: id.clone(),
        base: contract.base.clone(),
        head: head.to_string(),
        tree: tree.to_string(),
        fingerprint: fingerprint.clone(),
        files: changes.len(),
        reported: registry::now(),
        notes: notes.iter().map(|(name, _)| name.clone()).collect(),
    };
    let handoff = registry::write_handoff(repo, &meta, &summary, &stat, &patch, &notes)?;
    // Killed here, the handoff is written and not logged: readers take the
    // one before it (registry::current_handoff), and a new report goes on.
    orch::interrupt::checkpoint("report:handoff")?;
    let event = registry::WorkerEvent::Reported {
        handoff: handoff.commit,
        fingerprint: fingerprint.clone(),
        head,
        tree,
        files: changes.len() as u64,
    };
    side.record(repo, &id, &event)?;
    if args.json {
        print_json(
            &json!({ "version": JSON_VERSION, "handoff": handoff_json(&handoff, None, None) }),
        )?;
    } else {
        eprintln!(
            "reported the handoff of '{id}': {} path(s) changed, fingerprint {}",
            changes.len(),
            short(&fingerprint)
        );
        println!("{}", handoff.commit);
    }
    Ok(Outcome::Success)
}
