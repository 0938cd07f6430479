//! Syncing the registry through any git remote (`git worker sync`, and
//! `join`'s first pull): fetch into a staging namespace, join ref by ref
//! (`registry::merge_ref`), push without force; retry when a push loses a
//! race.

use anyhow::Result;

use crate::exit::{Hint, Outcome};
use crate::git::{Cas, Repo};
use crate::local;
use crate::registry::{self, Merge};

/// Rounds of fetch-merge-push before giving up on a busy remote.
const ROUNDS: u32 = 8;

/// Sync the registry with `remote` (by default `orch.remote`, else
/// `origin`), then this machine's worker branches.
pub fn sync(repo: &Repo, remote: Option<&str>) -> Result<Outcome> {
    let remote = match remote {
        Some(remote) => remote.to_string(),
        None => repo
            .config_string("orch.remote")?
            .unwrap_or_else(|| "origin".to_string()),
    };
    if !repo.has_remote(&remote)? {
        return Err(Hint::new(format!("no remote named '{remote}'"))
            .hint("git worker sync <remote>; `git remote -v` lists them (orch.remote sets the default)")
            .into());
    }
    let mut pulled = Pulled::default();
    for round in 0..ROUNDS {
        if round > 0 {
            // Racing syncs spread out.
            registry::backoff(round + 3);
        }
        let raced = pull(repo, &remote, &mut pulled)?;
        crate::interrupt::checkpoint("sync:merge")?;
        if raced {
            continue;
        }
        // Every registry ref but those that could not be joined (pushing
        // them would only be refused, and would hold back the rest); a
        // respawned worker's entry over the removed one's.
        let mut specs: Vec<String> = repo
            .refs_under(registry::NAMESPACE)?
            .into_iter()
            .filter(|(name, _)| !pulled.kept.contains(name))
            .map(|(name, _)| {
                let force = if pulled.replace.contains(&name) {
                    "+"
                } else {
                    ""
                };
                format!("{force}{name}:{name}")
            })
            .collect();
        // Live entries the remote still has but this side archived go away
        // there, in the same atomic push as their archive (a hub allows
        // nothing else).
        specs.extend(pulled.retire.iter().map(|name| format!(":{name}")));
        if specs.is_empty() {
            // An empty registry: nothing to push (and a push without
            // refspecs would push the current branch).
            return Ok(Outcome::Success);
        }
        let pushed = repo.push(&remote, &specs, true)?;
        if pushed.status == 0 {
            crate::interrupt::checkpoint("sync:push")?;
            push_branches(repo, &remote)?;
            for why in &pulled.refused {
                eprintln!("warning: {why}");
            }
            eprintln!(
                "synced the registry with '{remote}': {} taken, {} merged{}",
                pulled.taken,
                pulled.merged,
                if round > 0 {
                    format!(" ({} rounds: the remote was busy)", round + 1)
                } else {
                    String::new()
                }
            );
            return Ok(Outcome::Success);
        }
        // Someone pushed first: before us (non-fast-forward), or between the
        // remote's checks and its ref update (its own compare-and-swap).
        let lost_race = pushed.stdout.lines().chain(pushed.stderr.lines()).any(|l| {
            l.contains("non-fast-forward")
                || l.contains("fetch first")
                || l.contains("failed to update ref")
                || l.contains("cannot lock ref")
        });
        if !lost_race {
            return Err(Hint::new(format!(
                "'{remote}' refused the registry: {}",
                format!("{}\n{}", pushed.stdout.trim(), pushed.stderr.trim()).trim()
            ))
            .hint(format!(
                "a hub refuses rewrites and deletions under {} and changed contracts",
                registry::NAMESPACE
            ))
            .into());
        }
    }
    Err(Hint::new(format!(
        "gave up after {ROUNDS} rounds: '{remote}' kept changing while this sync pushed"
    ))
    .hint("run git worker sync again")
    .into())
}

/// What pulling the remote's registry did.
#[derive(Debug, Default)]
pub struct Pulled {
    pub taken: usize,
    pub merged: usize,
    pub refused: Vec<String>,
    /// Live entries the remote has and this side archived since.
    pub retire: Vec<String>,
    /// Refs that differ there and could not be joined: not pushed.
    pub kept: Vec<String>,
    /// Live entries of a worker spawned again here, whose old entry there
    /// belongs to the removed one: pushed over it.
    pub replace: Vec<String>,
}

/// Fetch `remote`'s refs/orch/* into a staging namespace and join each ref
/// with the local one. `Ok(true)` when a local ref moved meanwhile (a
/// later round joins it).
pub fn pull(repo: &Repo, remote: &str, pulled: &mut Pulled) -> Result<bool> {
    let staging = registry::sync_staging(remote);
    // A killed sync may have left staging refs: never merge stale ones.
    cleanup_staging(repo, &staging)?;
    pulled.retire.clear();
    pulled.kept.clear();
    pulled.replace.clear();
    let fetched = repo.fetch(remote, &[format!("+{}*:{staging}*", registry::NAMESPACE)])?;
    if fetched.status != 0 {
        cleanup_staging(repo, &staging)?;
        let (what, hint) = crate::git::remote_failure(&fetched.stderr);
        return Err(Hint::new(format!(
            "cannot fetch the registry from '{remote}': {what}: {}",
            fetched.stderr.trim()
        ))
        .hint(hint)
        .into());
    }
    // Killed from here until the end of the merge, staging refs stay: the
    // next sync starts by deleting them. A failure deletes them now.
    let merged = merge_staged(repo, remote, &staging, pulled);
    cleanup_staging(repo, &staging)?;
    merged
}

/// Join every staged ref of `remote` with the local one; `Ok(true)` when a
/// local ref moved meanwhile.
fn merge_staged(repo: &Repo, remote: &str, staging: &str, pulled: &mut Pulled) -> Result<bool> {
    crate::interrupt::checkpoint("sync:fetch")?;
    let mut raced = false;
    // The archives, read once, when the first live entry comes: staged refs
    // come sorted, archives before workers, so those fetched now are in.
    let mut archives = None;
    let verifier = registry::trust::Verifier::new(repo)?;
    for (name, theirs) in repo.refs_under(staging)? {
        let local = format!(
            "{}{}",
            registry::NAMESPACE,
            name.trim_start_matches(staging)
        );
        // Only what its signers were entitled to write comes in (the
        // verifier warns, naming the ref, the commit and the signer).
        let theirs = match verifier.trusted_tip(&local, theirs)? {
            Some(trusted) if trusted == theirs => theirs,
            trusted => {
                pulled.kept.push(local.clone());
                match trusted {
                    Some(trusted) => trusted,
                    None => continue,
                }
            }
        };
        let ours = repo.ref_target(&local)?;
        if local.starts_with(registry::WORKERS) && archives.is_none() {
            archives = Some(registry::all_archives(repo)?);
        }
        let archived = |id: &str| {
            archives
                .as_ref()
                .and_then(|all| all.get(id))
                .map_or(&[][..], Vec::as_slice)
        };
        if let Some(id) = local.strip_prefix(registry::WORKERS)
            && registry::archived_past_in(repo, archived(id), theirs)?
        {
            match ours {
                // Gone here: delete it there, with the archive.
                None => pulled.retire.push(local.clone()),
                // Spawned again here: the new entry replaces it there.
                Some(_) => pulled.replace.push(local.clone()),
            }
        }
        let (new, merge) = match registry::merge_ref(repo, &local, theirs)? {
            Merge::Took(commit) => (Some(commit), false),
            Merge::Merged(commit) => (Some(commit), true),
            Merge::Refused(why) => {
                if !pulled.refused.contains(&why) {
                    pulled.refused.push(why);
                }
                pulled.kept.push(local.clone());
                (None, false)
            }
            Merge::Same | Merge::Ahead => (None, false),
        };
        if let Some(new) = new {
            match repo.cas_ref(&local, new, ours, "git-worker: sync")? {
                Cas::Updated if merge => pulled.merged += 1,
                Cas::Updated => pulled.taken += 1,
                // Written here meanwhile: the next round joins it.
                Cas::Raced => raced = true,
            }
        }
    }
    // Live entries removed over there (archived there, and the archive
    // came in above) go here too.
    let archives = registry::all_archives(repo)?;
    for (name, tip) in repo.refs_under(registry::WORKERS)? {
        let id = name.trim_start_matches(registry::WORKERS);
        let still_there = repo
            .ref_target(&format!(
                "{staging}{}",
                name.trim_start_matches(registry::NAMESPACE)
            ))?
            .is_some();
        let archived = archives.get(id).map_or(&[][..], Vec::as_slice);
        if !still_there && registry::archived_past_in(repo, archived, tip)? {
            if repo.cas_delete(&name, tip)? == Cas::Raced {
                raced = true;
            } else {
                eprintln!(
                    "worker '{id}' was removed on '{remote}': dropped its live entry here (events written here since are not in its archive; a handoff stays in {}{id})",
                    registry::HANDOFFS
                );
            }
        }
    }
    Ok(raced)
}

fn cleanup_staging(repo: &Repo, staging: &str) -> Result<()> {
    repo.delete_refs_under(staging)
}

/// Push this machine's workers' branches (never forced), and fetch the
/// remote's worker branches into refs/remotes/<remote>/.
fn push_branches(repo: &Repo, remote: &str) -> Result<()> {
    let mut specs = Vec::new();
    // A joined worker's own branch, and the branches of workers checked out here.
    let mut ids = local::local_ids(repo)?;
    if let crate::role::Role::Worker(id) = crate::role::role(repo)? {
        ids.push(id);
    }
    for id in ids {
        if let Some(entry) = registry::load(repo, &id)?
            && repo
                .ref_target(&format!("refs/heads/{}", entry.contract.branch))?
                .is_some()
        {
            specs.push(format!(
                "refs/heads/{0}:refs/heads/{0}",
                entry.contract.branch
            ));
        }
    }
    if !specs.is_empty() {
        let out = repo.push(remote, &specs, false)?;
        for line in out.stdout.lines().filter(|l| l.starts_with('!')) {
            eprintln!(
                "warning: a worker branch was not pushed: {}",
                line.trim_start_matches('!').trim()
            );
        }
    }
    let prefix = crate::config::Settings::load(repo)?.prefix;
    let fetched = repo.fetch(
        remote,
        &[format!(
            "+refs/heads/{prefix}*:refs/remotes/{remote}/{prefix}*"
        )],
    )?;
    if fetched.status != 0 {
        eprintln!(
            "warning: the worker branches of '{remote}' were not fetched: {}",
            fetched.stderr.trim()
        );
    }
    Ok(())
}
