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

/// Refuse coordinator commands in a worker's checkout.
pub fn require_coordinator(repo: &Repo, command: &str) -> Result<()> {
    if let Role::Worker(id) = role(repo)? {
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
        Role::Worker(id) => Ok(id),
        Role::Coordinator => Err(Hint::new(format!(
            "'{command}' only works in a worker's checkout, and this is not one"
        ))
        .hint("`git worker list` shows each worker's checkout in its PATH column")
        .into()),
    }
}
