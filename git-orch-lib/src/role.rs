//! Which side of the coordination a checkout is on: the coordinator's, or
//! a worker's. A worker's checkout gets a narrower surface (it reports,
//! notifies and reads its messages) and refuses coordinator commands.

use anyhow::Result;

use crate::config::KEY_WORKER;
use crate::exit::Hint;
use crate::git::Repo;

/// Which side of the coordination this checkout is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Worker(String),
}

/// A checkout is a worker's when its own `config.worktree` (or, for a
/// clone, its local config) names the worker in `orch.worker`.
pub fn role(repo: &Repo) -> Result<Role> {
    Ok(match repo.worktree_config_string(KEY_WORKER)? {
        Some(id) if !id.is_empty() => Role::Worker(id),
        _ => Role::Coordinator,
    })
}

/// The worker whose checkout this process runs in, found by the directory
/// rather than by git's view of it: `GIT_DIR` or `GIT_WORK_TREE` can point
/// git at the coordinator's repository from inside a worker's checkout.
fn worker_checkout_here(repo: &Repo) -> Result<Option<String>> {
    let overridden = ["GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR"]
        .iter()
        .any(|var| std::env::var_os(var).is_some());
    if !overridden {
        return Ok(None);
    }
    let mut places = Vec::new();
    places.extend(std::env::current_dir().ok());
    places.extend(std::env::var_os("GIT_WORK_TREE").map(std::path::PathBuf::from));
    let places: Vec<_> = places
        .into_iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for (id, path) in crate::local::load_local_paths(repo)? {
        let Ok(checkout) = std::fs::canonicalize(&path) else {
            continue;
        };
        if places.iter().any(|place| place.starts_with(&checkout)) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The worker this checkout was spawned for, as this machine recorded it
/// (none for a checkout spawned elsewhere, or a sandboxed worker's clone:
/// the coordinator knows those by their path).
fn recorded_owner(repo: &Repo) -> Result<Option<String>> {
    let Some(here) = repo
        .workdir()
        .and_then(|dir| std::fs::canonicalize(dir).ok())
    else {
        return Ok(None);
    };
    Ok(crate::local::load_local_paths(repo)?
        .into_iter()
        .find(|(_, path)| std::fs::canonicalize(path).ok().as_ref() == Some(&here))
        .map(|(id, _)| id))
}

/// Refuse coordinator commands in a worker's checkout.
pub fn require_coordinator(repo: &Repo, command: &str) -> Result<()> {
    let worker = match role(repo)? {
        Role::Worker(id) => Some(id),
        Role::Coordinator => worker_checkout_here(repo)?,
    };
    if let Some(id) = worker {
        let mut err = Hint::new(format!(
            "'{command}' is a coordinator command, and this is the checkout of worker '{id}'"
        ));
        if let Some(main) = repo.main_workdir() {
            err = err.hint(format!(
                "run it in the coordinator's checkout: {}",
                main.display()
            ));
        }
        return Err(err.hint("workers can run: git worker current").into());
    }
    Ok(())
}

/// Refuse worker commands outside a worker's checkout; returns the worker id.
pub fn require_worker(repo: &Repo, command: &str) -> Result<String> {
    match role(repo)? {
        Role::Worker(id) => {
            if let Some(owner) = recorded_owner(repo)?
                && owner != id
            {
                return Err(Hint::new(format!(
                    "this checkout is worker '{owner}''s (so recorded at spawn), and its config says it is '{id}'"
                ))
                .hint(format!("a worker speaks only for itself: git config --worktree orch.worker {owner}"))
                .into());
            }
            Ok(id)
        }
        Role::Coordinator => Err(Hint::new(format!(
            "'{command}' only works in a worker's checkout, and this is not one"
        ))
        .hint("`git worker list` shows each worker's checkout in its PATH column")
        .into()),
    }
}
