//! Handoffs: `refs/orch/handoffs/<id>`, one commit per report, holding the
//! worker's summary, stat, patch, notes and reported tree.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use super::{CAS_ATTEMPTS, Entry, FORMAT, Logged, backoff, handoff_ref, history};
use crate::exit::Hint;
use crate::git::{Cas, Oid, Repo, TreeEntry};

/// `handoff.toml`: what a handoff is about. The summary, stat, patch and
/// notes are blobs beside it; `result` is the tree of the worker's checkout
/// as reported (committed, staged, unstaged and untracked work).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HandoffMeta {
    pub id: String,
    /// The contract's base commit the patch applies to.
    pub base: String,
    /// The checkout's HEAD commit when it reported.
    pub head: String,
    /// The reported tree (also the `result` entry of the handoff commit).
    pub tree: String,
    /// `git patch-id --stable` of the patch: the same change has the same
    /// fingerprint whatever commits it was made in.
    pub fingerprint: String,
    /// Paths changed.
    pub files: usize,
    /// Unix time of the report.
    pub reported: i64,
    /// Names of the notes under `notes/`, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A handoff as stored: one commit of `refs/orch/handoffs/<id>`.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub commit: Oid,
    pub meta: HandoffMeta,
    pub summary: String,
    pub stat: String,
    /// `(name, text)` of each note, in order.
    pub notes: Vec<(String, String)>,
}

/// Record a handoff: a new commit on `refs/orch/handoffs/<id>` (re-reports
/// keep the history), whose parents are the previous handoff and the
/// worker's HEAD, so fetching the handoff ref brings the worker's commits.
pub fn write_handoff(
    repo: &Repo,
    meta: &HandoffMeta,
    summary: &str,
    stat: &str,
    patch: &[u8],
    notes: &[(String, String)],
) -> Result<Handoff> {
    let refname = handoff_ref(&meta.id);
    let result = Oid::from_str(&meta.tree).context("bad result tree")?;
    let head = Oid::from_str(&meta.head).context("bad head commit")?;
    let mut note_entries = BTreeMap::new();
    for (index, (name, text)) in notes.iter().enumerate() {
        note_entries.insert(
            format!("{index:03}-{name}"),
            TreeEntry::Blob(text.clone().into_bytes()),
        );
    }
    let mut tree = BTreeMap::new();
    tree.insert(
        "format".to_string(),
        TreeEntry::Blob(format!("{FORMAT}\n").into_bytes()),
    );
    tree.insert(
        "handoff.toml".to_string(),
        TreeEntry::Blob(
            toml::to_string(meta)
                .context("cannot encode handoff")?
                .into_bytes(),
        ),
    );
    tree.insert(
        "summary.md".to_string(),
        TreeEntry::Blob(summary.as_bytes().to_vec()),
    );
    tree.insert(
        "stat".to_string(),
        TreeEntry::Blob(stat.as_bytes().to_vec()),
    );
    tree.insert("patch".to_string(), TreeEntry::Blob(patch.to_vec()));
    tree.insert("result".to_string(), TreeEntry::Tree(result));
    if !note_entries.is_empty() {
        tree.insert(
            "notes".to_string(),
            TreeEntry::Tree(repo.write_tree(&note_entries)?),
        );
    }
    let tree = repo.write_tree(&tree)?;
    let first_line = summary
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no summary)");
    let message = format!(
        "handoff {}: {first_line}\n\nfingerprint {}\n",
        meta.id, meta.fingerprint
    );
    for attempt in 0..CAS_ATTEMPTS {
        let previous = repo.ref_target(&refname)?;
        let parents: Vec<Oid> = previous.into_iter().chain([head]).collect();
        let commit = super::keys::commit(repo, tree, &parents, &message)?;
        match repo.cas_ref(&refname, commit, previous, "git-handoff: report")? {
            Cas::Updated => {
                return Ok(Handoff {
                    commit,
                    meta: meta.clone(),
                    summary: summary.to_string(),
                    stat: stat.to_string(),
                    notes: notes.to_vec(),
                });
            }
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up recording the handoff of '{}': too much contention",
        meta.id
    )
}

/// The latest handoff of `id`, if it ever reported.
pub fn load_handoff(repo: &Repo, id: &str) -> Result<Option<Handoff>> {
    match trusted_handoff_tip(repo, id)? {
        Some(commit) => decode_handoff(repo, id, commit).map(Some),
        None => Ok(None),
    }
}

/// The tip of `id`'s handoff ref at its newest handoff signed by the
/// worker or the coordinator (see [`super::trust`]).
fn trusted_handoff_tip(repo: &Repo, id: &str) -> Result<Option<Oid>> {
    let refname = handoff_ref(id);
    match repo.ref_target(&refname)? {
        Some(tip) => super::trust::Verifier::new(repo)?.trusted_tip(&refname, tip),
        None => Ok(None),
    }
}

/// The latest handoff of the worker whose entry is `entry`, if its own log
/// records reporting it: the handoff ref outlives a removed worker, so a
/// worker spawned again under the same id would otherwise inherit it.
pub fn load_current_handoff(repo: &Repo, entry: &Entry) -> Result<Option<Handoff>> {
    current_handoff(repo, entry, &history(repo, entry.tip)?)
}

/// [`load_current_handoff`] for a caller that has read the entry's history.
pub fn current_handoff(repo: &Repo, entry: &Entry, history: &[Logged]) -> Result<Option<Handoff>> {
    let Some(handoff) = load_handoff(repo, entry.id())? else {
        return Ok(None);
    };
    let named: std::collections::HashSet<String> = history
        .iter()
        .filter(|l| l.event.kind == "reported")
        .filter_map(|l| {
            l.event
                .data
                .get("handoff")
                .and_then(|h| h.as_str())
                .map(str::to_string)
        })
        .collect();
    // A merge of two handoff chains (`git worker sync`) stands for the newer
    // handoff, its first parent. A handoff its log does not name (a report
    // killed between writing it and logging it) gives way to the one before
    // it: a handoff's parents are the previous handoff, if any, and the
    // checkout's HEAD.
    let mut commit = handoff.commit;
    // The handoff `commit` stands for: a merge stands for its first parent.
    let mut top = handoff.commit;
    loop {
        if named.contains(&commit.to_string()) {
            return Ok(Some(if top == handoff.commit {
                handoff
            } else {
                decode_handoff(repo, entry.id(), top)?
            }));
        }
        let info = repo.commit_info(commit)?;
        if info.parents.len() != 2 {
            return Ok(None);
        }
        commit = info.parents[0];
        if !info.message.trim_end().ends_with(SYNC_MERGE_TRAILER) {
            top = commit;
        }
    }
}

/// The coordinator's latest decision on this very handoff (same
/// fingerprint): its `applied` or `rejected` event, if any.
pub fn outcome_of(repo: &Repo, entry: Option<&Entry>, handoff: &Handoff) -> Result<Option<Logged>> {
    let Some(entry) = entry else { return Ok(None) };
    Ok(history(repo, entry.tip)?.into_iter().rev().find(|logged| {
        matches!(logged.event.kind.as_str(), "applied" | "rejected")
            && logged
                .event
                .data
                .get("fingerprint")
                .and_then(|f| f.as_str())
                == Some(handoff.meta.fingerprint.as_str())
    }))
}

/// The commits of every handoff of `id`, newest first (at most `limit`):
/// the first-parent chain of its handoff ref, which ends at a commit that
/// has no previous handoff (one parent: the worker's HEAD).
pub fn handoff_commits(repo: &Repo, id: &str, limit: usize) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    let mut next = trusted_handoff_tip(repo, id)?;
    while let Some(commit) = next {
        if out.len() >= limit {
            break;
        }
        let parents = repo.commit_info(commit)?.parents;
        out.push(commit);
        next = (parents.len() == 2).then(|| parents[0]);
    }
    Ok(out)
}

/// The handoff of `id` recorded in `commit`.
pub fn decode_handoff(repo: &Repo, id: &str, commit: Oid) -> Result<Handoff> {
    let refname = handoff_ref(id);
    let corrupt = |what: String| -> anyhow::Error {
        Hint::new(format!("handoff '{refname}' is corrupt: {what}"))
            .hint(format!("inspect it with `git show {refname}`"))
            .into()
    };
    let info = repo
        .commit_info(commit)
        .map_err(|err| corrupt(format!("{err:#}")))?;
    let contents = repo
        .read_tree(info.tree)
        .map_err(|err| corrupt(format!("{err:#}")))?;
    let text = |name: &str| -> Result<String> {
        let bytes = contents
            .blobs
            .get(name)
            .ok_or_else(|| corrupt(format!("'{name}' is missing")))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    };
    let format: u32 = text("format")?
        .trim()
        .parse()
        .map_err(|_| corrupt("'format' is not a number".into()))?;
    if format > FORMAT {
        return Err(Hint::new(format!(
            "handoff '{refname}' has format {format}, newer than this tool understands ({FORMAT})"
        ))
        .hint("upgrade git-orch")
        .into());
    }
    let meta: HandoffMeta = toml::from_str(&text("handoff.toml")?).map_err(|err| {
        corrupt(format!(
            "handoff.toml: {}",
            crate::contract::toml_message(&err)
        ))
    })?;
    if meta.id != id {
        return Err(corrupt(format!(
            "it is the handoff of '{}', not of '{id}'",
            meta.id
        )));
    }
    let mut notes = Vec::new();
    if let Some(dir) = contents.trees.get("notes") {
        for (name, bytes) in repo.read_tree(*dir)?.blobs {
            let name = name
                .split_once('-')
                .map_or(name.clone(), |(_, rest)| rest.to_string());
            notes.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(Handoff {
        commit,
        meta,
        summary: text("summary.md")?,
        stat: text("stat")?,
        notes,
    })
}

/// A commit of the handoff's result tree on its base, referenced by no ref:
/// what `git review-gate run` checks out and `git handoff land` merges in
/// its predictions.
pub fn handoff_result_commit(repo: &Repo, handoff: &Handoff) -> Result<Oid> {
    let base = Oid::from_str(&handoff.meta.base).context("bad base in the handoff")?;
    let tree = Oid::from_str(&handoff.meta.tree).context("bad tree in the handoff")?;
    repo.create_commit(
        tree,
        &[base],
        &format!(
            "the handoff of '{}' (fingerprint {})\n",
            handoff.meta.id, handoff.meta.fingerprint
        ),
    )
}

/// The patch of a handoff, bytes as recorded.
pub fn handoff_patch(repo: &Repo, handoff: &Handoff) -> Result<Vec<u8>> {
    let info = repo.commit_info(handoff.commit)?;
    repo.read_tree(info.tree)?
        .blobs
        .remove("patch")
        .context("the handoff has no patch")
}

/// Marks a handoff commit made by `git worker sync` joining two chains.
pub(super) const SYNC_MERGE_TRAILER: &str = "Orch-Merge: sync";
