//! Review verdicts: a notes ref, `refs/orch/notes/verdicts`, one JSON line
//! per verdict in the note of the commit it judges, written by
//! compare-and-swap (git's own notes writers lose updates under
//! concurrency).

use anyhow::{Context as _, Result, bail};

use super::log::record;
use super::{CAS_ATTEMPTS, Change, Entry, FORMAT, VERDICTS, Verdict, backoff};
use crate::exit::Hint;
use crate::git::{Cas, Oid, Repo};

/// Where the note of `target` lives in a notes tree: git's 2/38 fan-out,
/// which `git notes` reads whatever the number of notes.
fn note_path(target: Oid) -> String {
    let hex = target.to_string();
    format!("{}/{}", &hex[..2], &hex[2..])
}

/// The verdicts noted on `target`, in the order they were written.
pub fn verdicts_on(repo: &Repo, target: Oid) -> Result<Vec<Verdict>> {
    let Some(tip) = trusted_notes(repo)? else {
        return Ok(Vec::new());
    };
    let tree = repo.commit_tree(tip)?;
    let hex = target.to_string();
    // Ours is 2/38; other tools write flat, or fan out deeper (2/2/36...).
    let mut text = None;
    for path in std::iter::once(note_path(target)).chain((0..=4).map(|depth| {
        let mut path = String::new();
        for level in 0..depth {
            path.push_str(&hex[level * 2..level * 2 + 2]);
            path.push('/');
        }
        path.push_str(&hex[depth * 2..]);
        path
    })) {
        if let Some(bytes) = repo.tree_blob(tree, &path)? {
            text = Some(bytes);
            break;
        }
    }
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    parse_verdicts(&text).map_err(|err| {
        Hint::new(format!(
            "the verdicts on {target} in {VERDICTS} are corrupt: {err}"
        ))
        .hint(format!(
            "inspect them with `git -c core.notesRef={VERDICTS} log -1 --format=%N {target}`"
        ))
        .into()
    })
}

/// The verdict notes at their newest commit whose signer was entitled to
/// it: verdicts nobody entitled wrote never count (see [`super::trust`]).
fn trusted_notes(repo: &Repo) -> Result<Option<Oid>> {
    match repo.ref_target(VERDICTS)? {
        Some(tip) => super::trust::Verifier::new(repo)?.trusted_tip(VERDICTS, tip),
        None => Ok(None),
    }
}

/// The lines of a verdict note. Blank lines are skipped; anything else that
/// is not a verdict is an error naming the line.
pub fn parse_verdicts(text: &[u8]) -> std::result::Result<Vec<Verdict>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_string())?;
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let verdict: Verdict =
            serde_json::from_str(line).map_err(|err| format!("line {}: {err}", index + 1))?;
        if verdict.v > FORMAT {
            return Err(format!(
                "line {}: verdict format {} is newer than this tool understands ({FORMAT})",
                index + 1,
                verdict.v
            ));
        }
        out.push(verdict);
    }
    Ok(out)
}

/// Append `verdict` to the note of `target`: a new commit of the notes ref,
/// moved by compare-and-swap and retried on a lost race (git's and
/// libgit2's own notes writers do not check the old value and lose writes
/// under concurrency).
pub fn append_verdict(repo: &Repo, target: Oid, verdict: &Verdict) -> Result<()> {
    for attempt in 0..CAS_ATTEMPTS {
        let tip = repo.ref_target(VERDICTS)?;
        let commit = verdict_commit(repo, trusted_notes(repo)?, target, verdict)?;
        match repo.cas_ref(VERDICTS, commit, tip, "git-review-gate: verdict")? {
            Cas::Updated => return Ok(()),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up recording a verdict in {VERDICTS} after {CAS_ATTEMPTS} attempts: too much contention"
    )
}

/// [`append_verdict`], together with the event `decide` makes of it in the
/// log at `refname`, in one atomic ref transaction: a verdict is never
/// recorded without its event, or the event without the verdict, whenever
/// the process dies. When the entry is gone (the worker was removed
/// meanwhile), the verdict alone, and `None`.
pub fn append_verdict_logged(
    repo: &Repo,
    target: Oid,
    verdict: &Verdict,
    refname: &str,
    mut decide: impl FnMut(&Entry) -> Result<Change>,
) -> Result<Option<Entry>> {
    for attempt in 0..CAS_ATTEMPTS {
        let notes = repo.ref_target(VERDICTS)?;
        let new_notes = verdict_commit(repo, trusted_notes(repo)?, target, verdict)?;
        let Some(tip) = repo.ref_target(refname)? else {
            append_verdict(repo, target, verdict)?;
            return Ok(None);
        };
        let entry = super::read_trusted(repo, &super::trust::Verifier::new(repo)?, refname, tip)?;
        let change = decide(&entry)?;
        let contract = change
            .contract
            .clone()
            .unwrap_or_else(|| entry.contract.clone());
        let new = record(repo, refname, Some(&entry), &contract, &change)?;
        let updates = [
            (VERDICTS.to_string(), Some(new_notes), notes),
            (refname.to_string(), Some(new.tip), Some(tip)),
        ];
        match repo.update_refs_atomically(&updates)? {
            Cas::Updated => return Ok(Some(new)),
            Cas::Raced => backoff(attempt),
        }
    }
    bail!(
        "gave up recording a verdict and its event after {CAS_ATTEMPTS} attempts: too much contention, or a lock file left by a crashed git ({VERDICTS}.lock, {refname}.lock under the git directory)"
    )
}

/// The commit of the verdict notes with `verdict` appended to the note on
/// `target`, on top of `tip`.
fn verdict_commit(repo: &Repo, tip: Option<Oid>, target: Oid, verdict: &Verdict) -> Result<Oid> {
    let line = serde_json::to_string(verdict).context("cannot encode verdict")?;
    let path = note_path(target);
    let flat = target.to_string();
    let subject = match &verdict.worker {
        Some(id) => format!("{} {id}", verdict.ruling),
        None => format!("{} {}", verdict.ruling, &flat[..7]),
    };
    let tree = tip.map(|tip| repo.commit_tree(tip)).transpose()?;
    let mut text = Vec::new();
    // A flat note (written by other tools) moves into the fan-out.
    let mut remove: Vec<&str> = Vec::new();
    if let Some(tree) = tree {
        for at in [&path, &flat] {
            if let Some(existing) = repo.tree_blob(tree, at)? {
                text.extend_from_slice(&existing);
                if !text.is_empty() && !text.ends_with(b"\n") {
                    text.push(b'\n');
                }
                if at == &flat {
                    remove.push(&flat);
                }
            }
        }
    }
    text.extend_from_slice(line.as_bytes());
    text.push(b'\n');
    let new_tree = repo.tree_with_blob(tree, &path, &text, &remove)?;
    let parents: Vec<Oid> = tip.into_iter().collect();
    super::keys::commit(repo, new_tree, &parents, &format!("verdict: {subject}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Ruling;

    #[test]
    fn verdict_notes_parse_line_by_line_and_name_the_bad_line() {
        let good = r#"{"time":1,"id":"a","v":1,"ruling":"approve","by":"Ann <a@x>","actor":"coordinator","base":"b","tree":"t","fingerprint":"f"}"#;
        let text = format!("{good}\n\n{good}\n");
        let verdicts = parse_verdicts(text.as_bytes()).unwrap();
        assert_eq!(verdicts.len(), 2);
        assert_eq!(verdicts[0].ruling, Ruling::Approve);
        let err = parse_verdicts(format!("{good}\nnot json\n").as_bytes()).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse_verdicts(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(err, "not UTF-8");
        let newer = good.replace(r#""v":1"#, r#""v":99"#);
        let err = parse_verdicts(newer.as_bytes()).unwrap_err();
        assert!(err.contains("newer than this tool understands"), "{err}");
        let unknown = good.replace("approve", "maybe");
        assert!(parse_verdicts(unknown.as_bytes()).is_err());
    }
}
