//! Reading one registry commit: the entry its tree holds (contract and
//! state) and the event its message records.

use anyhow::Result;

use super::{Entry, Event, FORMAT, Logged, Status, id_of_ref};
use crate::contract::Contract;
use crate::exit::Hint;
use crate::git::{CommitInfo, Oid, Repo};

/// Whether the entry at `tip` has a format newer than this binary's: not
/// for it to judge (its signatures may follow rules it does not know).
pub fn newer_format(repo: &Repo, tip: Oid) -> bool {
    repo.commit_tree(tip)
        .and_then(|tree| repo.tree_blob(tree, "format"))
        .ok()
        .flatten()
        .and_then(|text| String::from_utf8(text).ok())
        .and_then(|text| text.trim().parse::<u32>().ok())
        .is_some_and(|format| format > FORMAT)
}

/// Decode the entry stored at `tip`, naming `refname` in errors.
pub fn decode(repo: &Repo, refname: &str, tip: Oid) -> Result<Entry> {
    let corrupt = |what: String| -> anyhow::Error {
        Hint::new(format!("registry entry '{refname}' is corrupt: {what}"))
            .hint(format!(
                "inspect it with `git log -p {refname}`; `git worker doctor` lists every problem"
            ))
            .into()
    };
    let commit = repo
        .commit_info(tip)
        .map_err(|err| corrupt(format!("{err:#}")))?;
    let files = repo
        .read_tree(commit.tree)
        .map_err(|err| corrupt(format!("{err:#}")))?
        .blobs;
    let text = |name: &str| -> Result<String> {
        let bytes = files
            .get(name)
            .ok_or_else(|| corrupt(format!("'{name}' is missing")))?;
        String::from_utf8(bytes.clone()).map_err(|_| corrupt(format!("'{name}' is not UTF-8")))
    };
    let format: u32 = text("format")?
        .trim()
        .parse()
        .map_err(|_| corrupt("'format' is not a number".to_string()))?;
    if format > FORMAT {
        return Err(Hint::new(format!(
            "registry entry '{refname}' has format {format}, newer than this git-worker understands ({FORMAT})"
        ))
        .hint("upgrade git-worker")
        .into());
    }
    if format == 0 {
        return Err(corrupt("format 0 does not exist".to_string()));
    }
    let contract: Contract = toml::from_str(&text("contract.toml")?).map_err(|err| {
        corrupt(format!(
            "contract.toml: {}",
            crate::contract::toml_message(&err)
        ))
    })?;
    let status: Status = toml::from_str(&text("state.toml")?).map_err(|err| {
        corrupt(format!(
            "state.toml: {}",
            crate::contract::toml_message(&err)
        ))
    })?;
    // The ref names the worker: an entry claiming another id (or an invalid
    // one) is forged or broken, and must not lend its contract to a branch.
    if let Some(id) = id_of_ref(refname)
        && id != contract.id
    {
        return Err(corrupt(format!(
            "it holds the contract of '{}', not of '{id}'",
            contract.id
        )));
    }
    crate::contract::validate_id(&contract.id).map_err(|err| corrupt(format!("{err:#}")))?;
    Ok(Entry {
        refname: refname.to_string(),
        tip,
        format,
        contract,
        status,
    })
}

/// Parse the event stored in a registry commit message.
pub fn parse_event(message: &str) -> Option<Event> {
    let body = message.split_once("\n\n").map(|(_, body)| body)?;
    serde_json::from_str(body.trim()).ok()
}

/// The whole log of an entry, oldest first, ordered by Lamport clock (then
/// time, then commit id) so that merged logs replay deterministically.
pub fn history(repo: &Repo, tip: Oid) -> Result<Vec<Logged>> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![tip];
    let mut out = Vec::new();
    while let Some(oid) = stack.pop() {
        if !seen.insert(oid) {
            continue;
        }
        let CommitInfo {
            id,
            parents,
            message,
            author,
            ..
        } = repo.commit_info(oid)?;
        stack.extend(parents);
        if let Some(event) = parse_event(&message) {
            out.push(Logged {
                commit: id,
                author,
                event,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.event.clock, a.event.time, a.commit.as_bytes()).cmp(&(
            b.event.clock,
            b.event.time,
            b.commit.as_bytes(),
        ))
    });
    Ok(out)
}
