//! Task graphs: where each planned task stands (ready, waiting, blocked,
//! spawned), from the progress of what it depends on.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::git::Repo;
use crate::registry::{self, Progress, Task};

/// Where a planned task stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Every dependency landed: it can be spawned.
    Ready,
    /// Waiting for these dependencies to land.
    Waiting(Vec<String>),
    /// A dependency was abandoned (removed without landing).
    Blocked(String),
    /// Spawned; how it goes.
    Spawned(Progress),
}

impl Standing {
    pub fn label(&self) -> String {
        match self {
            Standing::Ready => "ready".into(),
            Standing::Waiting(_) => "waiting".into(),
            Standing::Blocked(_) => "blocked".into(),
            Standing::Spawned(Progress::Landed) => "landed".into(),
            Standing::Spawned(Progress::Abandoned) => "abandoned".into(),
            Standing::Spawned(Progress::Working(state)) => state.to_string(),
            Standing::Spawned(Progress::NotSpawned) => "planned".into(),
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Standing::Waiting(deps) => format!("waiting for {}", deps.join(", ")),
            Standing::Blocked(reason) => reason.clone(),
            _ => String::new(),
        }
    }
}

/// The standing of every planned task.
pub fn standings(repo: &Repo, tasks: &[Task]) -> Result<BTreeMap<String, Standing>> {
    let mut progress: BTreeMap<String, Progress> = BTreeMap::new();
    let mut of = |id: &str| -> Result<Progress> {
        if let Some(p) = progress.get(id) {
            return Ok(*p);
        }
        let p = registry::progress(repo, id)?;
        progress.insert(id.to_string(), p);
        Ok(p)
    };
    let mut out = BTreeMap::new();
    for task in tasks {
        let own = of(&task.id)?;
        let standing = if own != Progress::NotSpawned {
            Standing::Spawned(own)
        } else {
            let mut waiting = Vec::new();
            let mut blocked = None;
            for dep in &task.depends_on {
                match of(dep)? {
                    Progress::Landed => {}
                    Progress::Abandoned => {
                        let why = match registry::abandon_reason(repo, dep)? {
                            Some(reason) if !reason.is_empty() => {
                                format!(" (rejected: {reason})")
                            }
                            _ => String::new(),
                        };
                        blocked.get_or_insert(format!(
                            "dependency '{dep}' was removed without landing{why}"
                        ));
                    }
                    _ => waiting.push(dep.clone()),
                }
            }
            match (blocked, waiting.is_empty()) {
                (Some(reason), _) => Standing::Blocked(reason),
                (None, true) => Standing::Ready,
                (None, false) => Standing::Waiting(waiting),
            }
        };
        out.insert(task.id.clone(), standing);
    }
    // Blocked propagates: a task waiting on a blocked task is blocked too.
    loop {
        let mut changed = false;
        for task in tasks {
            if !matches!(out.get(&task.id), Some(Standing::Waiting(_))) {
                continue;
            }
            if let Some(dep) = task
                .depends_on
                .iter()
                .find(|d| matches!(out.get(*d), Some(Standing::Blocked(_))))
            {
                let reason = format!("dependency '{dep}' is blocked");
                out.insert(task.id.clone(), Standing::Blocked(reason));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(out)
}

/// The planned tasks that are ready, in id order.
pub fn ready_tasks(repo: &Repo) -> Result<Vec<Task>> {
    let tasks = registry::list_tasks(repo)?;
    let standings = standings(repo, &tasks)?;
    Ok(tasks
        .into_iter()
        .filter(|t| standings.get(&t.id) == Some(&Standing::Ready))
        .collect())
}
