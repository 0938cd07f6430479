//! `git worker doctor`: check the installation and the registry.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use crate::cli::DoctorArgs;
use orch::config::KEY_WORKER;
use orch::exit::Outcome;
use orch::git::{self, Repo};
use orch::hooks;
use orch::local;
use orch::ops::debris::find_debris;
use orch::registry;
use orch::ui::{JSON_VERSION, print_json};

/// Oldest git this suite is tested with features from (`merge-tree --write-tree`).
const MIN_GIT: (u32, u32, u32) = (2, 38, 0);
const BINARIES: &[&str] = &["git-worker", "git-handoff", "git-review-gate"];

struct Check {
    name: String,
    ok: bool,
    /// Worth saying, with its fix, but nothing is wrong for it: not a problem.
    note: bool,
    detail: String,
    fix: Option<String>,
}

fn ok(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_string(),
        ok: true,
        note: false,
        detail: detail.into(),
        fix: None,
    }
}

fn note(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.to_string(),
        ok: true,
        note: true,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn problem(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.to_string(),
        ok: false,
        note: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

pub fn doctor(repo: Option<&Repo>, args: &DoctorArgs) -> Result<Outcome> {
    let mut checks = Vec::new();
    checks.push(match git::version() {
        Ok(version) if version >= MIN_GIT => ok(
            "git",
            format!("git {}.{}.{}", version.0, version.1, version.2),
        ),
        Ok(version) => problem(
            "git",
            format!(
                "git {}.{}.{} is older than {}.{}",
                version.0, version.1, version.2, MIN_GIT.0, MIN_GIT.1
            ),
            "upgrade git",
        ),
        Err(err) => problem("git", format!("{err:#}"), "install git"),
    });
    for binary in BINARIES {
        checks.push(match which::which(binary) {
            Ok(path) => ok(binary, format!("{binary} is {}", path.display())),
            Err(_) => problem(
                binary,
                format!("{binary} is not on PATH"),
                "install the git-orch suite from its sources (README, \"Install\")",
            ),
        });
    }
    checks.push(sandbox_check(repo));
    checks.push(match find_man_page("git-worker") {
        Some(path) => ok("man", format!("man page {}", path.display())),
        // The commands work without it: a note, not a problem.
        None => note(
            "man",
            "the git-worker man page is not installed, so `git worker --help` cannot show it",
            "from the git-orch sources: mkdir -p ~/.local/share/man/man1 && cp man/*.1 ~/.local/share/man/man1/ \
             (any <prefix>/share/man/man1 whose <prefix>/bin is on PATH)",
        ),
    });

    match repo {
        None => checks.push(ok(
            "repository",
            "not in a git repository: registry checks skipped",
        )),
        Some(repo) => {
            if args.fix {
                fix(repo)?;
            }
            registry_checks(repo, &mut checks)?
        }
    }

    let failed = checks.iter().filter(|c| !c.ok).count();
    if args.json {
        let items: Vec<_> = checks
            .iter()
            .map(|c| json!({ "check": c.name, "ok": c.ok, "note": c.note, "detail": c.detail, "fix": c.fix }))
            .collect();
        print_json(&json!({ "version": JSON_VERSION, "ok": failed == 0, "checks": items }))?;
    } else {
        for check in &checks {
            println!(
                "{:<8} {}",
                match (check.ok, check.note) {
                    (_, true) => "note",
                    (true, false) => "ok",
                    (false, false) => "problem",
                },
                check.detail
            );
            if let Some(fix) = &check.fix {
                println!("{:<8} fix: {fix}", "");
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} problem{} found",
            if failed == 1 { "" } else { "s" }
        );
        return Ok(Outcome::CheckFailed);
    }
    Ok(Outcome::Success)
}

fn registry_checks(repo: &Repo, checks: &mut Vec<Check>) -> Result<()> {
    if let Err(err) = repo.check_ref_storage() {
        checks.push(problem(
            "refs",
            format!("{err:#}"),
            "git refs migrate --ref-format=files",
        ));
        return Ok(());
    }
    let entries = registry::list(repo)?;
    let total = entries.len();
    let mut bad = 0;
    for entry in &entries {
        if let Err(err) = entry {
            bad += 1;
            checks.push(problem("registry", format!("{err:#}"), "inspect it with `git log -p <ref>`; delete it with `git update-ref -d <ref>` if it is beyond repair"));
        }
    }
    if bad == 0 {
        checks.push(ok(
            "registry",
            format!(
                "registry format {}: {total} live worker{}",
                registry::FORMAT,
                if total == 1 { "" } else { "s" }
            ),
        ));
    }
    if total > 0 && repo.config_bool("extensions.worktreeConfig")? != Some(true) {
        checks.push(problem(
            "worktree-config",
            "extensions.worktreeConfig is off, so worker checkouts cannot tell they are workers",
            "git config extensions.worktreeConfig true",
        ));
    }
    hook_checks(repo, checks)?;
    let debris = find_debris(repo)?;
    if debris.is_empty() {
        checks.push(ok(
            "debris",
            "no debris from crashed spawns or deleted checkouts",
        ));
    }
    for item in debris {
        checks.push(problem("debris", item.describe(), "git worker prune"));
    }
    Ok(())
}

/// Live workers whose checkout is on this machine: `(id, checkout)`.
fn local_checkouts(repo: &Repo) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for entry in registry::list(repo)?.into_iter().flatten() {
        if let Some(local) = local::load_local(repo, entry.id())?
            && local.path.join(".git").exists()
        {
            out.push((entry.id().to_string(), local.path));
        }
    }
    Ok(out)
}

/// What a worker checkout's own config says, and what it should say.
/// `generated`: the repository's generated hooks directory, if it has one
/// ([`hooks::generated_dir`], found once for all checkouts).
fn checkout_problems(
    repo: &Repo,
    id: &str,
    checkout: &Path,
    generated: Option<&Path>,
) -> Result<Vec<String>> {
    let worktree = Repo::open(checkout)?;
    let hooks = hooks::hooks_dir(repo);
    let mut out = Vec::new();
    if worktree.worktree_config_string(KEY_WORKER)?.as_deref() != Some(id) {
        out.push(format!(
            "the checkout of '{id}' does not know it is worker '{id}' (orch.worker)"
        ));
    }
    let configured = worktree.worktree_config_string("core.hooksPath")?;
    if configured.as_deref().map(Path::new) != Some(hooks.as_path()) {
        out.push(format!(
            "the checkout of '{id}' does not use the worker hooks (core.hooksPath)"
        ));
    }
    if let Some(generated) = generated
        && !checkout.join(generated).is_dir()
    {
        out.push(format!(
            "the checkout of '{id}' lacks the repository's hooks directory '{}' (core.hooksPath; made by a tool such as `npm install`): its hooks do not run there",
            generated.display()
        ));
    }
    Ok(out)
}

fn hook_checks(repo: &Repo, checks: &mut Vec<Check>) -> Result<()> {
    let checkouts = local_checkouts(repo)?;
    if checkouts.is_empty() {
        return Ok(());
    }
    // Under the machine lock, under which spawn installs the shims before
    // it records its worker's local facts and the last removal takes them
    // away after it removed those: shims read while a worker listed above
    // was the last to go, or while a spawn writes them, are not a problem.
    let mut problems = {
        let _lock = repo.lock_machine()?;
        if local::local_ids(repo)?.is_empty() {
            Vec::new()
        } else {
            hooks::problems(repo, false)?
        }
    };
    let generated = hooks::generated_dir(repo)?;
    for (id, checkout) in &checkouts {
        let found = checkout_problems(repo, id, checkout, generated.as_deref());
        if orch::registry::being_removed(repo, id)? {
            continue;
        }
        problems.extend(found?);
    }
    if problems.is_empty() {
        checks.push(ok(
            "hooks",
            format!("worker hooks installed for {} checkout(s)", checkouts.len()),
        ));
    }
    for problem_text in problems {
        checks.push(problem("hooks", problem_text, "git worker doctor --fix"));
    }
    Ok(())
}

/// `--fix`: reinstall hooks and worker config, then remove debris.
fn fix(repo: &Repo) -> Result<()> {
    orch::role::require_coordinator(repo, "git worker doctor --fix")?;
    let checkouts = local_checkouts(repo)?;
    if !checkouts.is_empty() {
        let _lock = repo.lock_machine()?;
        let dir = hooks::install(repo, false)?;
        let generated = hooks::generated_dir(repo)?;
        for (id, checkout) in &checkouts {
            if !checkout_problems(repo, id, checkout, generated.as_deref())?.is_empty() {
                Repo::set_worktree_config(
                    checkout,
                    &[(KEY_WORKER, id), ("core.hooksPath", &dir.to_string_lossy())],
                )?;
                hooks::copy_generated_dir(repo, checkout)?;
                eprintln!("fixed: hooks and config of worker '{id}'");
            }
        }
    }
    if !find_debris(repo)?.is_empty() {
        let _pruned = super::prune::prune(repo, &crate::cli::PruneArgs { dry_run: false })?;
    }
    Ok(())
}

/// Where `man` would find `name`'s page: MANPATH, then `<dir>/../share/man`
/// for each PATH entry (how man-db derives its search path), then the
/// system directories.
fn find_man_page(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(manpath) = std::env::var_os("MANPATH") {
        dirs.extend(std::env::split_paths(&manpath));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if let Some(parent) = dir.parent() {
                dirs.push(parent.join("share/man"));
                dirs.push(parent.join("man"));
            }
        }
    }
    dirs.push(PathBuf::from("/usr/local/share/man"));
    dirs.push(PathBuf::from("/usr/share/man"));
    dirs.iter()
        .flat_map(|dir| {
            [
                dir.join(format!("man1/{name}.1")),
                dir.join(format!("man1/{name}.1.gz")),
            ]
        })
        .find(|page| Path::new(page).is_file())
}

/// What the platform can sandbox; a problem only when the configuration
/// asks for sandboxes it cannot make (`orch.sandbox = true`).
fn sandbox_check(repo: Option<&Repo>) -> Check {
    let support = orch::sandbox::probe();
    let wanted = repo
        .and_then(|repo| orch::config::Settings::load(repo).ok())
        .is_some_and(|settings| settings.sandbox == orch::config::SandboxMode::Always);
    if support.landlock || !wanted {
        return ok("sandbox", support.describe());
    }
    problem(
        "sandbox",
        format!("{}; and orch.sandbox is true", support.describe()),
        "run on Linux 6.2 or newer with Landlock enabled, or `git config orch.sandbox auto` (trusted workers where it cannot)",
    )
}
