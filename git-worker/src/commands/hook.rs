//! `git worker hook <name>`: what the shims in `hooks/` run, and
//! `git worker hub init`, which installs them in a shared repository.

use std::io::Read as _;

use anyhow::{Context as _, Result, bail};

use crate::cli::{HookArgs, HubInitArgs, HubRulesArgs};
use orch::enforce;
use orch::exit::Outcome;
use orch::git::{Oid, Repo};
use orch::hooks;
use orch::policy::Policy;
use orch::registry::{self};
use orch::role::{Role, role};

pub fn hook(repo: &Repo, args: &HookArgs) -> Result<Outcome> {
    if hooks::is_chained(&args.name) {
        // Our shim, chained to by our shim: the work is already done.
        return Ok(Outcome::Success);
    }
    match args.name.as_str() {
        name @ ("pre-commit" | "pre-merge-commit") => pre_commit(repo, name, &args.args),
        "pre-receive" => pre_receive(repo, &args.args),
        name => chain(repo, name, &args.args, None),
    }
}

/// Run the repository's own hook and pass its status on.
fn chain(repo: &Repo, name: &str, args: &[String], stdin: Option<&[u8]>) -> Result<Outcome> {
    Ok(match hooks::run_original(repo, name, args, stdin)? {
        0 => Outcome::Success,
        code => Outcome::Code(u8::try_from(code).unwrap_or(1).max(1)),
    })
}

/// pre-commit, and pre-merge-commit (a merge commit runs no pre-commit).
fn pre_commit(repo: &Repo, name: &str, args: &[String]) -> Result<Outcome> {
    if let Role::Worker(id) = role(repo)? {
        // git lists the staged paths while the contract is read here.
        let staged = repo.start_staged_changes()?;
        // A sandboxed worker's entry is in the coordinator's registry.
        let side = orch::ops::worker::Side::of(repo)?;
        let Some(entry) = registry::load(side.registry(repo), &id)? else {
            eprintln!(
                "error: commit refused: this checkout belongs to worker '{id}', which is not registered"
            );
            eprintln!("hint: the coordinator may have removed it; ask the coordinator");
            return Ok(Outcome::CheckFailed);
        };
        let (contract, _) = enforce::authoritative_contract(repo, &entry)?;
        let policy = Policy::of(&contract, repo.folds_case()?)?;
        let violations = policy.check(&staged.finish(repo)?, &repo.staged_links());
        if !violations.is_empty() {
            let count = violations.len();
            eprintln!(
                "error: commit refused: worker '{id}' may not change {count} of the staged paths:"
            );
            eprint!("{}", enforce::explain(&violations, &contract));
            let paths: Vec<String> = violations
                .iter()
                .map(|v| orch::policy::display_path(&v.path))
                .collect();
            orch::ops::worker::record_refusal(repo, &id, "pre-commit", &paths);
            eprintln!("hint: unstage them with `git restore --staged <path>...`");
            eprintln!(
                "hint: if the task needs them, ask the coordinator: git worker notify --level blocking \"<what you need and why>\""
            );
            return Ok(Outcome::CheckFailed);
        }
    }
    chain(repo, name, args, None)
}

fn pre_receive(repo: &Repo, args: &[String]) -> Result<Outcome> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read the pushed refs")?;
    let mut updates = Vec::new();
    for line in String::from_utf8_lossy(&input).lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("unexpected pre-receive input: {line}");
        };
        updates.push(orch::registry::rules::Update {
            old: Oid::from_str(old)?,
            new: Oid::from_str(new)?,
            refname: refname.to_string(),
        });
    }
    let refusals = orch::ops::hub::judge_push(repo, &updates)?;
    if !refusals.is_empty() {
        for refusal in &refusals {
            eprintln!("error: {refusal}");
        }
        // A hint for what was refused: a branch, the registry, or both.
        let registry = refusals.iter().any(|r| r.starts_with(registry::NAMESPACE));
        if refusals.iter().any(|r| !r.starts_with(registry::NAMESPACE)) {
            eprintln!(
                "hint: worker branches may only change the paths their contract allows (git worker check <id>)"
            );
        }
        if registry {
            eprintln!(
                "hint: registry commits count only when signed by a key entitled to them, and the registry is append-only (docs/registry-format.md)"
            );
        }
        return Ok(Outcome::CheckFailed);
    }
    chain(repo, "pre-receive", args, Some(&input))
}

pub fn hub_init(args: &HubInitArgs) -> Result<Outcome> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let path = orch::config::normalize(&cwd.join(&args.path));
    orch::ops::hub::prepare_hub(&path, Repo::discover().ok().as_ref())?;
    eprintln!("hub ready: pushes of worker branches are checked against their contracts");
    eprintln!("hint: git remote add hub {}", path.display());
    eprintln!("hint: git worker sync hub   (the registry first, then worker branches)");
    println!("{}", path.display());
    Ok(Outcome::Success)
}

pub fn hub_rules(args: &HubRulesArgs) -> Result<Outcome> {
    let repo = Repo::discover()?;
    orch::role::require_coordinator(&repo, "hub rules")?;
    let users = orch::ops::server_rules::Users::parse(&args.coordinator, &args.users)?;
    let rules = match args.format.as_str() {
        "github" => orch::ops::server_rules::github(&repo)?,
        "gitea" => orch::ops::server_rules::gitea(&repo, &users)?,
        _ => orch::ops::server_rules::gitolite(&repo, &args.repo, &users)?,
    };
    print!("{rules}");
    Ok(Outcome::Success)
}
