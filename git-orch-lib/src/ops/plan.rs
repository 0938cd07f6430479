//! Task graphs: where each planned task stands (ready, waiting, blocked,
//! spawned), from the progress of what it depends on.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use crate::exit::Hint;
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

/// Whether `new` can be planned, with nothing written unless every task
/// can be: new ids, or the very same task planned again; never the id of a
/// worker; dependencies that exist (planned, now or before, or workers);
/// and no cycle.
pub fn check(repo: &Repo, new: &[Task]) -> Result<()> {
    // Nothing is written unless every task can be: new ids, or the very
    // same task planned again; never the id of a worker.
    let existing = registry::list_tasks(repo)?;
    for task in new {
        if let Some(old) = existing.iter().find(|t| t.id == task.id) {
            let same = registry::Task {
                planned: old.planned,
                ..task.clone()
            };
            if &same != old {
                return Err(Hint::new(format!(
                    "task '{}' is already planned, differently",
                    task.id
                ))
                .hint("`git worker graph` shows it; plan the new one under another id")
                .hint("nothing was planned")
                .into());
            }
        } else if registry::progress(repo, &task.id)? != Progress::NotSpawned {
            return Err(Hint::new(format!(
                "'{}' is already a worker (live or removed): a task cannot take its id",
                task.id
            ))
            .hint("plan it under another id; nothing was planned")
            .into());
        }
    }
    // Dependencies must exist: planned (now or before) or workers.
    let known: BTreeSet<String> = existing.iter().chain(new).map(|t| t.id.clone()).collect();
    for task in new {
        for dep in &task.depends_on {
            if !known.contains(dep) && registry::progress(repo, dep)? == Progress::NotSpawned {
                return Err(Hint::new(format!(
                    "task '{}' depends on '{dep}', which is neither a planned task nor a worker",
                    task.id
                ))
                .hint("plan it first, or plan both with --from <dir>")
                .into());
            }
        }
    }
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for task in existing.iter().chain(new) {
        edges
            .entry(task.id.clone())
            .or_default()
            .extend(task.depends_on.iter().cloned());
    }
    if let Some(cycle) = find_cycle(&edges) {
        return Err(Hint::new(format!(
            "the dependencies make a cycle: {}",
            cycle.join(" -> ")
        ))
        .hint("nothing was planned; break the cycle and plan again")
        .into());
    }
    Ok(())
}

/// The first cycle through the dependency edges, as `a -> b -> a`.
fn find_cycle(edges: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, Vec<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_and_named() {
        let edges = |pairs: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        assert_eq!(
            find_cycle(&edges(&[("a", &["b"]), ("b", &[]), ("c", &["a", "b"])])),
            None
        );
        assert_eq!(
            find_cycle(&edges(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
    }
}
