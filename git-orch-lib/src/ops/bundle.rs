//! A handoff as a git bundle (`git handoff export` and `import`), for
//! machines that share no remote.

use anyhow::{Context as _, Result};

use crate::contract::validate_id;
use crate::exit::{Hint, Outcome};
use crate::git::{Oid, Repo};
use crate::registry::{self, Handoff};

use std::path::Path;

/// `manifest.toml` of an export: what the bundle holds.
fn manifest_text(id: &str, branch: &str, base: &str, handoff: &Handoff) -> String {
    format!(
        "format = {}\nid = \"{id}\"\nbranch = \"{branch}\"\nbase = \"{base}\"\nhandoff = \"{}\"\nfingerprint = \"{}\"\n",
        registry::FORMAT,
        handoff.commit,
        handoff.meta.fingerprint
    )
}

/// Write the latest handoff of `id` (with its registry entry and branch) to
/// the bundle `output`.
pub fn export(repo: &Repo, id: &str, output: &Path) -> Result<Outcome> {
    let (entry, handoff) = crate::ops::apply::entry_and_handoff(repo, id)?;
    let id = entry.id();
    let contract = &entry.contract;
    // The manifest is a commit of its own, so the bundle is all git objects.
    let manifest = manifest_text(id, &contract.branch, &contract.base, &handoff);
    let mut tree = std::collections::BTreeMap::new();
    tree.insert(
        "manifest.toml".to_string(),
        crate::git::TreeEntry::Blob(manifest.into_bytes()),
    );
    let tree = repo.write_tree(&tree)?;
    let commit = repo.create_commit(tree, &[], &format!("export {id}\n"))?;
    let export_ref = format!("{}{id}", registry::EXPORTS);
    repo.set_ref(&export_ref, commit)?;
    let mut refs = vec![
        export_ref.clone(),
        registry::live_ref(id),
        registry::handoff_ref(id),
    ];
    let branch_ref = format!("refs/heads/{}", contract.branch);
    if repo.ref_target(&branch_ref)?.is_some() {
        refs.push(branch_ref);
    }
    let out = repo.bundle_create(output, &refs, &contract.base)?;
    // The manifest ref was only a vehicle for the bundle.
    repo.delete_ref(&export_ref)?;
    if out.status != 0 {
        anyhow::bail!(
            "cannot write bundle '{}': {}",
            output.display(),
            out.stderr.trim()
        );
    }
    eprintln!("exported the handoff of '{id}' to '{}'", output.display());
    Ok(Outcome::Success)
}

/// Import the handoff in the bundle `path`: its handoff and branch, and
/// its registry entry only when this clone has none and `trust_contract`
/// says the bundle's contract is the one set.
pub fn import(repo: &Repo, path: &Path, trust_contract: bool) -> Result<Outcome> {
    let file = std::fs::canonicalize(path)
        .with_context(|| format!("cannot read bundle '{}'", path.display()))?;
    let verify = repo.bundle_verify(&file)?;
    if verify.status != 0 {
        return Err(Hint::new(format!("cannot import '{}': {}", file.display(), verify.stderr.trim()))
            .hint("the bundle needs the worker's base commit here: fetch it from the repository the worker started from")
            .into());
    }
    let refs = repo.bundle_refs(&file)?;
    let Some(export_ref) = refs.iter().find(|r| r.starts_with(registry::EXPORTS)) else {
        anyhow::bail!("'{}' is not a handoff bundle (no manifest)", file.display());
    };
    let id = export_ref.trim_start_matches(registry::EXPORTS).to_string();
    validate_id(&id)?;
    // Fetch everything into a private namespace first, then decide ref by ref.
    let staging = registry::import_staging(&id);
    let fetched = repo.fetch(&file, &[format!("+refs/*:{staging}*")])?;
    if fetched.status != 0 {
        anyhow::bail!(
            "cannot read bundle '{}': {}",
            file.display(),
            fetched.stderr.trim()
        );
    }
    let staged = |name: &str| format!("{staging}{}", name.trim_start_matches("refs/"));
    // Each ref only if it is still as it was read: one changed here
    // meanwhile stops the import.
    let set = |name: &str, new: Oid, old: Option<Oid>| -> Result<()> {
        match repo.cas_ref(name, new, old, "git-handoff: import")? {
            crate::git::Cas::Updated => Ok(()),
            crate::git::Cas::Raced => Err(Hint::new(format!(
                "'{name}' changed here while the bundle was imported; it was left as it is"
            ))
            .hint("import the bundle again")
            .into()),
        }
    };
    let result = (|| -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let handoff = registry::handoff_ref(&id);
        let new = repo
            .ref_target(&staged(&handoff))?
            .context("the bundle has no handoff")?;
        match repo.ref_target(&handoff)? {
            Some(old) if old == new => notes.push("handoff: already here".to_string()),
            Some(old) if !repo.is_ancestor(old, new)? => {
                anyhow::bail!(
                    "the handoffs of '{id}' here and in the bundle have diverged; nothing was imported"
                )
            }
            old => {
                set(&handoff, new, old)?;
                notes.push("handoff: imported".to_string());
            }
        }
        let live = registry::live_ref(&id);
        if let Some(theirs) = repo.ref_target(&staged(&live))? {
            match repo.ref_target(&live)? {
                None if trust_contract => {
                    let contract = registry::decode(repo, &staged(&live), theirs)?.contract;
                    crate::local::trust_contract(repo, &id, &contract)?;
                    set(&live, theirs, None)?;
                    notes.push("registry entry: imported (contract trusted)".to_string());
                }
                None => {
                    let contract = registry::decode(repo, &staged(&live), theirs)?.contract;
                    let list = |items: &[String]| {
                        if items.is_empty() {
                            "-".to_string()
                        } else {
                            items.join(" ")
                        }
                    };
                    notes.push(format!(
                        "registry entry: NOT imported; the bundle's contract says allow: {}, deny: {}, verify: {}",
                        if contract.allow.is_empty() { "everything".to_string() } else { list(&contract.allow) },
                        list(&contract.deny),
                        list(&contract.verify)
                    ));
                    notes.push(
                        "hint: if that is the contract you set, import again with --trust-contract; then apply works here"
                            .to_string(),
                    );
                }
                Some(_) => notes.push("registry entry: this clone's own is kept".to_string()),
            }
        }
        for name in &refs {
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                let theirs = repo
                    .ref_target(&staged(name))?
                    .context("missing branch in the bundle")?;
                if repo.ref_target(name)?.is_none() {
                    set(name, theirs, None)?;
                    notes.push(format!("branch '{branch}': imported"));
                } else {
                    notes.push(format!("branch '{branch}': this clone's own is kept"));
                }
            }
        }
        Ok(notes)
    })();
    // Drop the staging refs whatever happened.
    repo.delete_refs_under(&staging)?;
    for note in result? {
        eprintln!("{note}");
    }
    eprintln!("imported the handoff of '{id}'; see it with `git handoff show {id}`");
    Ok(Outcome::Success)
}
