//! `git handoff report`, `show` and `list`.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::json;

use orch::contract::validate_id;
use orch::enforce;
use orch::exit::{Hint, Outcome};
use orch::git::{Oid, Repo};
use orch::local;
use orch::policy::Policy;
use orch::registry::{self, Actor, Change, Handoff, HandoffMeta, State};

use orch::role::{require_coordinator, require_worker};
use orch::ui::{JSON_VERSION, keep_end, print_json, short, tail_line, timestamp};

use crate::cli::{
    ApplyArgs, Cli, Command, ExportArgs, ImportArgs, ListArgs, RejectArgs, ReportArgs, ShowArgs,
};

pub fn run(cli: Cli) -> Result<Outcome> {
    let repo = Repo::discover()?;
    match cli.command {
        Command::Report(args) => report(&repo, &args),
        Command::Show(args) => show(&repo, &args),
        Command::List(args) => list(&repo, &args),
        Command::Apply(args) => apply(&repo, &args),
        Command::Land(args) => crate::land::land(&repo, &args),
        Command::Reject(args) => reject(&repo, &args),
        Command::Export(args) => export(&repo, &args),
        Command::Import(args) => import(&repo, &args),
    }
}

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

fn report(repo: &Repo, args: &ReportArgs) -> Result<Outcome> {
    let id = require_worker(repo, "git handoff report")?;
    let Some(entry) = registry::load(repo, &id)? else {
        return Err(Hint::new(format!(
            "this checkout belongs to worker '{id}', which is not registered"
        ))
        .hint("ask the coordinator")
        .into());
    };
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
    let violations = Policy::of(&contract)?.check(&changes);
    if !violations.is_empty() {
        eprintln!(
            "error: the change of '{id}' touches {} path(s) outside its contract:",
            violations.len()
        );
        eprint!("{}", enforce::explain(&violations, &contract));
        eprintln!(
            "hint: undo those changes, or ask the coordinator: git worker notify --level blocking \"<what you need and why>\""
        );
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
    let head = repo.head_commit()?.unwrap_or(base);
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
    registry::update(repo, &registry::live_ref(&id), |_| {
        Ok(Some(
            Change::new("reported", Actor::Worker, State::Reported)
                .with("fingerprint", fingerprint.as_str())
                .with("head", head.to_string())
                .with("tree", tree.to_string())
                .with("handoff", handoff.commit.to_string())
                .with("files", changes.len()),
        ))
    })?;
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

/// The coordinator's latest verdict on this very handoff (same fingerprint):
/// an `applied` or `rejected` event.
fn verdict(
    repo: &Repo,
    entry: Option<&registry::Entry>,
    handoff: &Handoff,
) -> Result<Option<registry::Logged>> {
    let Some(entry) = entry else { return Ok(None) };
    Ok(registry::history(repo, entry.tip)?
        .into_iter()
        .rev()
        .find(|logged| {
            matches!(logged.event.kind.as_str(), "applied" | "rejected")
                && logged
                    .event
                    .data
                    .get("fingerprint")
                    .and_then(|f| f.as_str())
                    == Some(handoff.meta.fingerprint.as_str())
        }))
}

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

fn handoff_json(
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

fn show(repo: &Repo, args: &ShowArgs) -> Result<Outcome> {
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
        (Some(handoff), entry) => {
            if args.patch {
                use std::io::Write as _;
                std::io::stdout()
                    .lock()
                    .write_all(&registry::handoff_patch(repo, &handoff)?)?;
                return Ok(Outcome::Success);
            }
            let state = entry.as_ref().map(|e| e.status.state);
            let verdict = verdict(repo, entry.as_ref(), &handoff)?;
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
            print!("{out}");
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

/// What a worker's branch and checkout say when it never reported.
fn show_unreported(repo: &Repo, entry: &registry::Entry, args: &ShowArgs) -> Result<Outcome> {
    let contract = &entry.contract;
    let base = Oid::from_str(&contract.base)?;
    let branch = repo.ref_target(&format!("refs/heads/{}", contract.branch))?;
    let checkout = local::load_local(repo, entry.id())?
        .map(|local| local.path)
        .filter(|path| repo.owns_checkout(path));
    let tree = match (&checkout, branch) {
        (Some(path), _) => match Repo::snapshot_tree(path) {
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
    // A clone's snapshot is in the clone's objects: diff it there.
    let clone = match &checkout {
        Some(path) if repo.owns_clone(path) => Some(Repo::open(path)?),
        _ => None,
    };
    let repo = clone.as_ref().unwrap_or(repo);
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
        Some(tip) if tip != base => repo
            .git(["log", "--format=%h %s", &format!("{base}..{tip}")])
            .read()?,
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
    println!(
        "{}",
        if log.is_empty() {
            "  none".to_string()
        } else {
            cut_lines(&log, args.max_chars)
        }
    );
    println!(
        "\n{}",
        if stat.is_empty() {
            "no change".to_string()
        } else {
            stat
        }
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

fn list(repo: &Repo, args: &ListArgs) -> Result<Outcome> {
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
                        verdict(repo, entry.as_ref(), handoff)?.as_ref(),
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
    print!("{}", orch::ui::format_table(&table));
    Ok(Outcome::Success)
}

/// Paths of the handoff that your own work occupies: changed, staged or
/// untracked; ignored files where the handoff adds one; and index entries
/// marked assume-unchanged or skip-worktree (git would not see your edits).
fn clashes(repo: &Repo, head: Oid, paths: &[Vec<u8>], workdir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let yours = repo.diff_tree_to_workdir(Some(repo.commit_tree(head)?))?;
    let hidden = repo.hidden_index_entries()?;
    for path in paths {
        let occupied = yours.iter().any(|change| &change.path == path)
            || hidden.contains(path)
            || (!repo.commit_has_path(head, path)?
                && workdir
                    .join(orch::policy::to_path(path))
                    .symlink_metadata()
                    .is_ok());
        if occupied {
            out.push(orch::policy::display_path(path));
        }
    }
    Ok(out)
}

/// The worker's registry entry and its latest handoff, or clear errors.
fn entry_and_handoff(repo: &Repo, id: &str) -> Result<(registry::Entry, Handoff)> {
    validate_id(id)?;
    let Some(entry) = registry::load(repo, id)? else {
        return Err(Hint::new(format!("worker '{id}' is not registered"))
            .hint("`git handoff list` shows the workers and their handoffs")
            .hint("for an imported handoff: `git handoff import --trust-contract <bundle>`, or fetch refs/orch/* from the coordinator")
            .into());
    };
    let Some(handoff) = registry::load_current_handoff(repo, &entry)? else {
        return Err(Hint::new(format!("worker '{id}' has not reported"))
            .hint(format!(
                "`git handoff show {id}` shows what its branch and checkout hold"
            ))
            .into());
    };
    Ok((entry, handoff))
}

/// Claim applying `id` ([`local::claim_apply`]), or say who holds it.
fn claim(repo: &Repo, id: &str) -> Result<local::ApplyClaim> {
    let workdir = repo
        .workdir()
        .context("applying needs a working tree")?
        .to_path_buf();
    match local::claim_apply(repo, id, &local::ApplyJournal::begun(workdir))? {
        Ok(claim) => Ok(claim),
        Err(there) if there.running() => Err(Hint::new(format!(
            "the handoff of '{id}' is being applied right now (pid {}, in '{}')",
            there.pid,
            there.workdir.display()
        ))
        .hint("wait for it to finish")
        .into()),
        // Killed in another checkout (this one's were undone above).
        Err(there) => Err(Hint::new(format!(
            "an apply of '{id}' in '{}' was interrupted and is not undone yet",
            there.workdir.display()
        ))
        .hint("`git worker prune` undoes it (or an apply in that checkout)")
        .into()),
    }
}

fn apply(repo: &Repo, args: &ApplyArgs) -> Result<Outcome> {
    apply_with(repo, args, true)
}

/// `apply`, printing the commit it made on stdout only when `print`.
pub(crate) fn apply_with(repo: &Repo, args: &ApplyArgs, print: bool) -> Result<Outcome> {
    require_coordinator(repo, "git handoff apply")?;
    // One apply at a time in a checkout: a second one waits.
    let _checkout = if args.dry_run {
        None
    } else {
        Some(repo.lock_checkout()?)
    };
    orch::ops::apply::recover_applies(repo, &args.id, args.dry_run)?;
    // The claim on applying this worker, before anything is looked at: one
    // apply of it at a time, on this machine. Its journal is filled in
    // before the checkout is touched, and goes when this returns.
    validate_id(&args.id)?;
    let _claim = if args.dry_run {
        None
    } else {
        Some(claim(repo, &args.id)?)
    };
    let (entry, handoff) = entry_and_handoff(repo, &args.id)?;
    let id = entry.id().to_string();
    if let Some(done) = verdict(repo, Some(&entry), &handoff)?
        && done.event.kind == "applied"
    {
        let commit = done
            .event
            .data
            .get("commit")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        eprintln!(
            "the handoff of '{id}' is already applied{}; nothing to do",
            if commit.is_empty() {
                String::new()
            } else {
                format!(" as {}", short(commit))
            }
        );
        return Ok(Outcome::Success);
    }
    // 0. The review gate, under the policy (orch.review.require).
    let settings = orch::config::Settings::load(repo)?;
    let Ok(gate) = orch::gate::check_before_apply(repo, &id, &handoff, &settings)? else {
        return Ok(Outcome::CheckFailed);
    };
    let (contract, mismatch) = enforce::authoritative_contract(repo, &entry)?;
    if !mismatch.is_empty() {
        eprintln!(
            "warning: the contract of '{id}' in the registry differs from the one recorded at spawn (in: {}); enforcing the recorded one",
            mismatch.join(", ")
        );
    }
    let workdir = repo
        .workdir()
        .context("applying needs a working tree")?
        .to_path_buf();

    // 1. The contract, on the change itself (whatever the hooks saw).
    let base = Oid::from_str(&contract.base).context("bad base in the contract")?;
    let base_tree = repo.commit_tree(base)?;
    let result = Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?;
    let changes = repo.diff_trees(Some(base_tree), Some(result))?;
    let violations = Policy::of(&contract)?.check(&changes);
    if !violations.is_empty() {
        eprintln!(
            "error: the handoff of '{id}' touches {} path(s) outside its contract:",
            violations.len()
        );
        eprint!("{}", enforce::explain(&violations, &contract));
        return Ok(Outcome::CheckFailed);
    }
    if changes.is_empty() {
        eprintln!("the handoff of '{id}' changes nothing: nothing to apply");
        return Ok(Outcome::Success);
    }
    let paths: Vec<Vec<u8>> = changes.iter().map(|c| c.path.clone()).collect();
    // The patch is made here from the checked trees, so what was judged is what is applied.
    let patch = repo.binary_patch(base_tree, result)?;

    // Your own uncommitted work must not be in the way.
    let head = repo
        .head_commit()?
        .context("the coordinator's branch has no commit to apply onto")?;
    let clash = clashes(repo, head, &paths, &workdir)?;
    if !clash.is_empty() {
        return Err(Hint::new(format!(
            "your uncommitted changes touch paths the handoff of '{id}' changes: {}",
            clash.join(", ")
        ))
        .hint("commit or stash them first (git stash push -- <path>), then apply again")
        .into());
    }

    // 2. Clean apply, else 3-way (`git apply` is all-or-nothing, so a failed
    // clean attempt leaves nothing to undo).
    if args.dry_run {
        let clean = repo.apply_patch(&patch, false, true)?.status == 0;
        if clean {
            println!(
                "would apply the handoff of '{id}' cleanly ({} path(s)), then run {} verification command(s)",
                paths.len(),
                contract.verify.len()
            );
            return Ok(Outcome::Success);
        }
        let three_way = repo.apply_patch(&patch, true, true)?;
        if three_way.status == 0 {
            println!(
                "would apply the handoff of '{id}' with a 3-way merge ({} path(s))",
                paths.len()
            );
            return Ok(Outcome::Success);
        }
        eprintln!(
            "the handoff of '{id}' does not apply onto HEAD: {}",
            three_way.stderr.trim()
        );
        return Ok(Outcome::CheckFailed);
    }
    let _signals = orch::interrupt::guard()?;
    // The journal, before anything is touched: a killed apply is undone
    // from it by `git worker prune` (or the next apply).
    let mut journal = local::ApplyJournal {
        branch: repo.head_branch()?,
        head: head.to_string(),
        log_tip: entry.tip.to_string(),
        base: base.to_string(),
        handoff: handoff.commit.to_string(),
        fingerprint: handoff.meta.fingerprint.clone(),
        ..local::ApplyJournal::begun(workdir.clone())
    };
    local::write_apply_journal(repo, &id, &journal)?;
    orch::interrupt::checkpoint("apply:journal")?;
    let mut applied = repo.apply_patch(&patch, false, false)?;
    if applied.status != 0 {
        applied = repo.apply_patch(&patch, true, false)?;
    }
    if applied.status != 0 {
        let conflicts: Vec<&str> = applied
            .stdout
            .lines()
            .chain(applied.stderr.lines())
            .filter_map(|l| l.strip_prefix("U "))
            .collect();
        if conflicts.is_empty() {
            // git apply is all-or-nothing: it wrote nothing; say why.
            eprintln!("error: the handoff of '{id}' does not apply onto HEAD; nothing was changed");
            eprintln!("{}", applied.stderr.trim());
        } else {
            // A 3-way apply with conflicts wrote the handoff's paths (the
            // clash check made sure none of them was yours): undo them.
            repo.restore_paths(head, &paths)?;
            eprintln!("error: the handoff of '{id}' conflicts with HEAD; its changes were undone");
            for path in &conflicts {
                eprintln!("  conflict: {path}");
            }
        }
        eprintln!("hint: ask the worker to rebase onto the current HEAD and report again");
        // For the after-action report: the change did not go in.
        let files: Vec<String> = conflicts.iter().map(|c| c.to_string()).collect();
        registry::update(repo, &registry::live_ref(&id), |entry| {
            Ok(Some(
                Change::new("conflicted", Actor::Coordinator, entry.status.state)
                    .reason(entry.status.reason.clone())
                    .with("files", files.clone())
                    .with("fingerprint", handoff.meta.fingerprint.as_str()),
            ))
        })?;
        return Ok(Outcome::CheckFailed);
    }
    // Undo: only if HEAD is still where this apply left it (on the same
    // branch, at the commit it made), by compare-and-swap on that branch;
    // then the handoff's paths (and nothing else) go back to `head`.
    let branch = journal.branch.clone();
    let rollback = |committed: Option<Oid>| -> Result<()> {
        let expected = committed.unwrap_or(head);
        if repo.head_branch()? != branch || repo.head_commit()? != Some(expected) {
            let mut err = Hint::new(format!(
                "HEAD moved while the handoff of '{id}' was being applied; nothing was rolled back"
            ));
            if let Some(commit) = committed {
                err = err.hint(format!(
                    "the handoff's commit is {commit}: undo it with `git revert {commit}`"
                ));
            }
            return Err(err
                .hint("the handoff's changes may still be in your index and working tree")
                .into());
        }
        if let Some(commit) = committed
            && !repo.rewind_head(branch.as_deref(), head, commit)?
        {
            anyhow::bail!(
                "HEAD moved during the rollback of '{id}'; the handoff's commit is {commit}"
            );
        }
        repo.restore_paths(head, &paths)
    };
    // What the patch wrote: a later rollback (of a killed apply) takes back
    // that, and refuses to take back anything else.
    journal.applied = repo.index_tree()?.map(|tree| tree.to_string());
    local::write_apply_journal(repo, &id, &journal)?;
    if let Err(err) = orch::interrupt::checkpoint("apply:patch") {
        rollback(None)?;
        return Err(err.context("apply rolled back"));
    }

    // 3. Commit with the worker's summary and trailers.
    let committed = if args.no_commit {
        None
    } else {
        let message = format!(
            "{}\n\nWorker: {id}\nBase: {}\nHandoff: {}\nFingerprint: {}\n",
            handoff.summary.trim(),
            contract.base,
            handoff.commit,
            handoff.meta.fingerprint
        );
        match repo.commit_paths(&message, &paths, head) {
            Ok(commit) => Some(commit),
            Err(err) => {
                rollback(None)?;
                return Err(
                    err.context(format!("cannot commit the handoff of '{id}'; rolled back"))
                );
            }
        }
    };
    if let Some(commit) = committed {
        journal.committed = Some(commit.to_string());
        local::write_apply_journal(repo, &id, &journal)?;
    }
    if let Err(err) = orch::interrupt::checkpoint("apply:commit") {
        rollback(committed)?;
        return Err(err.context("apply rolled back"));
    }

    // 4. Verification, from the coordinator's contract.
    let seconds = args
        .timeout
        .or(contract.verify_timeout)
        .unwrap_or(orch::verify::DEFAULT_VERIFY_TIMEOUT);
    let timeout = std::time::Duration::from_secs(seconds);
    let mut passed = Vec::new();
    for command in &contract.verify {
        eprintln!("verify: {command}");
        let result = orch::verify::run(&workdir, command, timeout, true)?;
        let interrupted = orch::interrupt::pending();
        if !result.passed() || interrupted.is_some() {
            let rolled_back = rollback(committed);
            if let Some(signal) = interrupted {
                rolled_back?;
                return Err(orch::interrupt::Interrupted {
                    signal,
                    what: "apply rolled back".into(),
                }
                .into());
            }
            registry::update(repo, &registry::live_ref(&id), |_| {
                Ok(Some(
                    Change::new("rejected", Actor::Coordinator, State::Rejected)
                        .reason(format!("verification failed: {command}"))
                        .with("command", command.as_str())
                        .with(
                            "status",
                            result.status.map_or(serde_json::Value::Null, |s| s.into()),
                        )
                        .with("timed_out", result.timed_out)
                        .with("tail", result.tail.as_str())
                        .with("fingerprint", handoff.meta.fingerprint.as_str())
                        .with("rolled_back", rolled_back.is_ok()),
                ))
            })?;
            rolled_back.context(format!("verification '{command}' failed"))?;
            let why = if result.timed_out {
                format!("timed out after {seconds} s")
            } else {
                format!(
                    "exited with {}",
                    result.status.map_or("a signal".into(), |s| s.to_string())
                )
            };
            eprintln!(
                "error: verification '{command}' {why}; the handoff of '{id}' was rolled back"
            );
            return Ok(Outcome::CheckFailed);
        }
        passed.push(command.clone());
    }
    if let Err(err) = orch::interrupt::checkpoint("apply:verify") {
        rollback(committed)?;
        return Err(err.context("apply rolled back"));
    }

    // 5. Keep it, if that can be recorded; else it goes, as on a failure.
    let recorded = registry::update(repo, &registry::live_ref(&id), |_| {
        Ok(Some(
            Change::new("applied", Actor::Coordinator, State::Applied)
                .with("commit", committed.map_or(String::new(), |c| c.to_string()))
                .with("fingerprint", handoff.meta.fingerprint.as_str())
                .with("verified", passed.clone())
                .with(
                    "gate",
                    json!({ "policy": gate.require.as_str(), "verdicts": gate.relied_on }),
                ),
        ))
    });
    if let Err(err) = recorded {
        rollback(committed)?;
        return Err(err.context(format!(
            "cannot record the apply of '{id}'; it was rolled back"
        )));
    }
    // Kept: a journal left from here on (a kill) is dropped by the next
    // prune, which finds the `applied` event.
    orch::interrupt::checkpoint("apply:event")?;
    match committed {
        Some(commit) => {
            eprintln!(
                "applied the handoff of '{id}' as {}; {} verification command(s) passed",
                short(&commit.to_string()),
                passed.len()
            );
            if print {
                println!("{commit}");
            }
        }
        None => eprintln!(
            "applied the handoff of '{id}' (not committed); {} verification command(s) passed",
            passed.len()
        ),
    }
    Ok(Outcome::Success)
}

fn reject(repo: &Repo, args: &RejectArgs) -> Result<Outcome> {
    require_coordinator(repo, "git handoff reject")?;
    let (entry, handoff) = entry_and_handoff(repo, &args.id)?;
    if args.reason.trim().is_empty() {
        return Err(
            Hint::new("a rejection needs a reason the worker can act on")
                .hint("--reason '<what to change>'")
                .into(),
        );
    }
    // The rejection is also a verdict on this change: it holds the review
    // gate closed until the worker reports a new change. Both in one
    // transaction.
    let fingerprint = handoff.meta.fingerprint.clone();
    let subject = orch::gate::Subject::of_handoff(entry.id(), handoff)?;
    let mut verdict = subject.verdict(registry::Ruling::Reject, &repo.identity()?, "coordinator");
    verdict.findings = vec![args.reason.trim().to_string()];
    registry::append_verdict_logged(
        repo,
        subject.target,
        &verdict,
        &registry::live_ref(entry.id()),
        |_| {
            Ok(Change::new("rejected", Actor::Coordinator, State::Rejected)
                .reason(args.reason.as_str())
                .with("reason", args.reason.as_str())
                .with("fingerprint", fingerprint.as_str()))
        },
    )?;
    eprintln!("rejected the handoff of '{}'", entry.id());
    Ok(Outcome::Success)
}

/// `manifest.toml` of an export: what the bundle holds.
fn manifest_text(id: &str, branch: &str, base: &str, handoff: &Handoff) -> String {
    format!(
        "format = {}\nid = \"{id}\"\nbranch = \"{branch}\"\nbase = \"{base}\"\nhandoff = \"{}\"\nfingerprint = \"{}\"\n",
        registry::FORMAT,
        handoff.commit,
        handoff.meta.fingerprint
    )
}

fn export(repo: &Repo, args: &ExportArgs) -> Result<Outcome> {
    let (entry, handoff) = entry_and_handoff(repo, &args.id)?;
    let id = entry.id();
    let contract = &entry.contract;
    // The manifest is a commit of its own, so the bundle is all git objects.
    let manifest = manifest_text(id, &contract.branch, &contract.base, &handoff);
    let mut tree = std::collections::BTreeMap::new();
    tree.insert(
        "manifest.toml".to_string(),
        orch::git::TreeEntry::Blob(manifest.into_bytes()),
    );
    let tree = repo.write_tree(&tree)?;
    let commit = repo.create_commit(tree, &[], &format!("export {id}\n"))?;
    let export_ref = format!("{}{id}", registry::EXPORTS);
    repo.git(["update-ref", &export_ref, &commit.to_string()])
        .run()?;
    let mut refs = vec![
        export_ref.clone(),
        registry::live_ref(id),
        registry::handoff_ref(id),
    ];
    let branch_ref = format!("refs/heads/{}", contract.branch);
    if repo.ref_target(&branch_ref)?.is_some() {
        refs.push(branch_ref);
    }
    let out = repo
        .git(["bundle", "create", "--quiet"])
        .arg(&args.output)
        .args(&refs)
        .arg(format!("^{}", contract.base))
        .output()?;
    // The manifest ref was only a vehicle for the bundle.
    repo.git(["update-ref", "-d", &export_ref]).run()?;
    if out.status != 0 {
        anyhow::bail!(
            "cannot write bundle '{}': {}",
            args.output.display(),
            out.stderr.trim()
        );
    }
    eprintln!(
        "exported the handoff of '{id}' to '{}'",
        args.output.display()
    );
    Ok(Outcome::Success)
}

fn import(repo: &Repo, args: &ImportArgs) -> Result<Outcome> {
    let file = std::fs::canonicalize(&args.file)
        .with_context(|| format!("cannot read bundle '{}'", args.file.display()))?;
    let verify = repo
        .git(["bundle", "verify", "--quiet"])
        .arg(&file)
        .output()?;
    if verify.status != 0 {
        return Err(Hint::new(format!("cannot import '{}': {}", file.display(), verify.stderr.trim()))
            .hint("the bundle needs the worker's base commit here: fetch it from the repository the worker started from")
            .into());
    }
    let heads = repo.git(["bundle", "list-heads"]).arg(&file).read()?;
    let refs: Vec<&str> = heads
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, name)| name))
        .collect();
    let Some(export_ref) = refs.iter().find(|r| r.starts_with(registry::EXPORTS)) else {
        anyhow::bail!("'{}' is not a handoff bundle (no manifest)", file.display());
    };
    let id = export_ref.trim_start_matches(registry::EXPORTS).to_string();
    validate_id(&id)?;
    // Fetch everything into a private namespace first, then decide ref by ref.
    let staging = format!("refs/orch/importing/{id}/");
    repo.git(["fetch", "--quiet", "--no-write-fetch-head"])
        .arg(&file)
        .arg(format!("+refs/*:{staging}*"))
        .run()?;
    let staged = |name: &str| format!("{staging}{}", name.trim_start_matches("refs/"));
    // Each ref only if it is still as it was read: one changed here
    // meanwhile stops the import.
    let set = |name: &str, new: Oid, old: Option<Oid>| -> Result<()> {
        match repo.cas_ref(name, new, old, "git-handoff: import")? {
            orch::git::Cas::Updated => Ok(()),
            orch::git::Cas::Raced => Err(Hint::new(format!(
                "'{name}' changed here while the bundle was imported; it was left as it is"
            ))
            .hint("import the bundle again")
            .into()),
        }
    };
    let result = (|| -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let handoff = registry::handoff_ref(&id);
        let new = repo
            .ref_target(&staged(&handoff))?
            .context("the bundle has no handoff")?;
        match repo.ref_target(&handoff)? {
            Some(old) if old == new => notes.push("handoff: already here".to_string()),
            Some(old) if !repo.is_ancestor(old, new)? => {
                anyhow::bail!(
                    "the handoffs of '{id}' here and in the bundle have diverged; nothing was imported"
                )
            }
            old => {
                set(&handoff, new, old)?;
                notes.push("handoff: imported".to_string());
            }
        }
        let live = registry::live_ref(&id);
        if let Some(theirs) = repo.ref_target(&staged(&live))? {
            match repo.ref_target(&live)? {
                None if args.trust_contract => {
                    set(&live, theirs, None)?;
                    notes.push("registry entry: imported (contract trusted)".to_string());
                }
                None => {
                    let contract = registry::decode(repo, &staged(&live), theirs)?.contract;
                    let list = |items: &[String]| {
                        if items.is_empty() {
                            "-".to_string()
                        } else {
                            items.join(" ")
                        }
                    };
                    notes.push(format!(
                        "registry entry: NOT imported; the bundle's contract says allow: {}, deny: {}, verify: {}",
                        if contract.allow.is_empty() { "everything".to_string() } else { list(&contract.allow) },
                        list(&contract.deny),
                        list(&contract.verify)
                    ));
                    notes.push(
                        "hint: if that is the contract you set, import again with --trust-contract; then apply works here"
                            .to_string(),
                    );
                }
                Some(_) => notes.push("registry entry: this clone's own is kept".to_string()),
            }
        }
        for name in &refs {
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                let theirs = repo
                    .ref_target(&staged(name))?
                    .context("missing branch in the bundle")?;
                if repo.ref_target(name)?.is_none() {
                    set(name, theirs, None)?;
                    notes.push(format!("branch '{branch}': imported"));
                } else {
                    notes.push(format!("branch '{branch}': this clone's own is kept"));
                }
            }
        }
        Ok(notes)
    })();
    // Drop the staging refs whatever happened.
    repo.delete_refs_under(&staging)?;
    for note in result? {
        eprintln!("{note}");
    }
    eprintln!("imported the handoff of '{id}'; see it with `git handoff show {id}`");
    Ok(Outcome::Success)
}
