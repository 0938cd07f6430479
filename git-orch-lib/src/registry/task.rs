//! Planned tasks: `refs/orch/tasks/<id>`, spawned once what they depend on
//! has landed.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::{Actor, Event, FORMAT, TASKS, event_id, task_ref};
use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::{Cas, Oid, Repo, TreeEntry};

/// A task planned for later: spawned (as worker `id`) once every task it
/// depends on has landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Task {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// What to start from when it is spawned (a name resolved then; empty:
    /// the default base at that time).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
    /// Unix time it was planned.
    pub planned: i64,
    /// Its contract; `branch` and `base` are filled in at spawn.
    pub contract: Contract,
}

/// Record `task`. `Ok(false)` when the very same task is planned already;
/// an error when a different one is.
pub fn create_task(repo: &Repo, task: &Task) -> Result<bool> {
    let refname = task_ref(&task.id);
    if let Some(existing) = load_task(repo, &task.id)? {
        let same = Task {
            planned: existing.planned,
            ..task.clone()
        };
        if same == existing {
            return Ok(false);
        }
        return Err(Hint::new(format!(
            "task '{}' is already planned, differently",
            task.id
        ))
        .hint(format!(
            "`git worker graph` shows it; plan it under another id, or inspect {refname}"
        ))
        .into());
    }
    let mut tree = BTreeMap::new();
    tree.insert(
        "format".to_string(),
        TreeEntry::Blob(format!("{FORMAT}\n").into_bytes()),
    );
    tree.insert(
        "task.toml".to_string(),
        TreeEntry::Blob(
            toml::to_string(task)
                .context("cannot encode task")?
                .into_bytes(),
        ),
    );
    let tree = repo.write_tree(&tree)?;
    let event = Event {
        id: event_id(),
        v: FORMAT,
        kind: "planned".into(),
        time: task.planned,
        actor: Actor::Coordinator,
        clock: 1,
        data: serde_json::Map::new(),
    };
    let message = format!(
        "planned {}\n\n{}\n",
        task.id,
        serde_json::to_string(&event).context("cannot encode event")?
    );
    let commit = super::keys::commit(repo, tree, &[], &message)?;
    match repo.cas_ref(&refname, commit, None, "git-worker: plan")? {
        Cas::Updated => Ok(true),
        // Planned at the same moment by someone else: same answer as above.
        Cas::Raced => create_task(repo, task),
    }
}

pub fn load_task(repo: &Repo, id: &str) -> Result<Option<Task>> {
    let refname = task_ref(id);
    let Some(tip) = repo.ref_target(&refname)? else {
        return Ok(None);
    };
    decode_task(repo, &refname, tip).map(Some)
}

fn decode_task(repo: &Repo, refname: &str, tip: Oid) -> Result<Task> {
    let tree = repo.commit_tree(tip)?;
    let text = repo
        .tree_blob(tree, "task.toml")?
        .with_context(|| format!("task '{refname}' has no task.toml"))?;
    let text = String::from_utf8(text).with_context(|| format!("task '{refname}' is not UTF-8"))?;
    toml::from_str(&text).map_err(|err| {
        Hint::new(format!(
            "task '{refname}' is corrupt: {}",
            crate::contract::toml_message(&err)
        ))
        .hint(format!("inspect it with `git show {refname}:task.toml`"))
        .into()
    })
}

/// Every planned task, by id.
pub fn list_tasks(repo: &Repo) -> Result<Vec<Task>> {
    repo.refs_under(TASKS)?
        .into_iter()
        .map(|(name, tip)| decode_task(repo, &name, tip))
        .collect()
}
