//! Syncing the registry through any git remote (`git worker sync`, and
//! `join`'s first pull): one fetch into a staging namespace, join ref by
//! ref (`registry::merge_ref`), then one push, without force and not
//! atomic, of the changed refs this machine owns; retry the refs that lost
//! a race, report the ones the remote refused.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;

use crate::exit::{Hint, Outcome};
use crate::git::remote::PushedRef;
use crate::git::{Cas, Oid, Repo};
use crate::local;
use crate::registry::{self, Merge};
use crate::role::Role;

/// Rounds of fetch-merge-push before giving up on a busy remote.
const ROUNDS: u32 = 8;

/// Sync the registry with `remote` (by default `orch.remote`, else
/// `origin`), and this machine's worker branches: one fetch (the registry
/// and the worker branches), then one push of what changed here among
/// the refs this machine owns, each ref landing or refused on its own.
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
    let role = crate::role::role(repo)?;
    let settings = crate::config::Settings::load(repo)?;
    let (prefix, max_failures) = (settings.prefix, settings.max_rejections);
    let mut pulled = Pulled::default();
    // Refs the remote refused in this sync, with why: not pushed again.
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    let mut pushed = 0;
    for round in 0..ROUNDS {
        if round > 0 {
            // Racing syncs spread out.
            registry::backoff(round + 3);
        }
        let raced = pull_with(repo, &remote, &mut pulled, Some(&prefix))?;
        crate::interrupt::checkpoint("sync:merge")?;
        if raced {
            continue;
        }
        // Verdicts workers on other hosts relayed in their logs go on
        // their changes (and into this push).
        if role == Role::Coordinator {
            let logs: Vec<String> = pulled
                .changed
                .iter()
                .filter_map(|name| name.strip_prefix(registry::WORKERS))
                .map(str::to_string)
                .collect();
            pulled.reviews += super::review::import_reviews(repo, &logs, max_failures)?;
        }
        let specs = push_specs(repo, &remote, &role, &pulled, &refused)?;
        if specs.is_empty() {
            return Ok(finish(&remote, &pulled, pushed, &refused, round));
        }
        let out = repo.push_each(&remote, &specs)?;
        if out.refs.is_empty() {
            // Nothing reached the remote: the network, access, the repository.
            let (what, hint) = crate::git::remote_failure(&out.stderr);
            return Err(Hint::new(format!(
                "cannot push the registry to '{remote}': {what}: {}",
                out.stderr.trim()
            ))
            .hint(hint)
            .into());
        }
        crate::interrupt::checkpoint("sync:push")?;
        let mut again = false;
        for result in &out.refs {
            match judge(result, &out) {
                Pushed::Done => pushed += usize::from(result.flag != '='),
                // Someone pushed first, or the hub's check refused a push
                // for another ref in it: the next round tries again.
                Pushed::Again => again = true,
                Pushed::Refused(why) => {
                    refused.insert(result.refname.clone(), why);
                }
            }
        }
        if !again {
            return Ok(finish(&remote, &pulled, pushed, &refused, round));
        }
    }
    Err(Hint::new(format!(
        "gave up after {ROUNDS} rounds: '{remote}' kept changing while this sync pushed"
    ))
    .hint("run git worker sync again")
    .into())
}

/// What became of one pushed ref.
enum Pushed {
    Done,
    Again,
    Refused(String),
}

/// Tell a lost race from a refusal, and say who refused: the hub's
/// contract and signature checks (its pre-receive hook names the refs it
/// refuses), or a rule of the server (gitolite, a forge's protection).
fn judge(result: &PushedRef, out: &crate::git::remote::Pushed) -> Pushed {
    if !result.refused() {
        return Pushed::Done;
    }
    let reason = result.reason.clone().unwrap_or_default();
    if result.refname.starts_with("refs/heads/")
        && ["non-fast-forward", "fetch first"]
            .iter()
            .any(|r| reason.contains(r))
    {
        // A branch is never merged by a sync: the remote's has commits
        // this one lacks.
        return Pushed::Refused(format!(
            "the remote's branch has commits this one does not ({reason}): it was rewritten on one side"
        ));
    }
    if [
        "non-fast-forward",
        "fetch first",
        "failed to update ref",
        "cannot lock ref",
    ]
    .iter()
    .any(|r| reason.contains(r) || result.summary.contains(r))
    {
        return Pushed::Again;
    }
    let named = |refname: &str| {
        out.remote
            .iter()
            .filter(|line| mentions(line, refname))
            .cloned()
            .collect::<Vec<_>>()
    };
    let said = named(&result.refname);
    if reason == "pre-receive hook declined" && said.is_empty() {
        // A pre-receive refuses a whole push: when it named other refs
        // and not this one, this one was only held back with them.
        let pushed: Vec<&str> = out.refs.iter().map(|r| r.refname.as_str()).collect();
        if pushed.iter().any(|other| !named(other).is_empty()) {
            return Pushed::Again;
        }
    }
    let what = match reason.as_str() {
        "pre-receive hook declined" => "refused by the checks of its pre-receive hook",
        "hook declined" => "refused by a rule of the server (its update hook)",
        _ => "refused by the server",
    };
    let said = if said.is_empty() {
        out.remote.clone()
    } else {
        said
    };
    let shown = if reason.is_empty() {
        result.summary.as_str()
    } else {
        reason.as_str()
    };
    let mut why = format!("{what} ({shown})");
    for line in said.iter().take(4) {
        why.push_str(&format!("\n  {line}"));
    }
    Pushed::Refused(why)
}

/// Whether a server's message line is about `refname` (by full name, or a
/// branch by its short name).
fn mentions(line: &str, refname: &str) -> bool {
    let words = |name: &str| {
        line.split(|c: char| c.is_whitespace() || matches!(c, ':' | '\'' | '"' | ',' | '(' | ')'))
            .any(|word| word == name)
    };
    words(refname) || refname.strip_prefix("refs/heads/").is_some_and(words)
}

/// The end of a sync: warnings for what could not be joined or pushed,
/// and one line of what it did. Exit 1 when the remote refused a ref.
fn finish(
    remote: &str,
    pulled: &Pulled,
    pushed: usize,
    refused: &BTreeMap<String, String>,
    round: u32,
) -> Outcome {
    for why in &pulled.refused {
        eprintln!("warning: {why}");
    }
    for (refname, why) in refused {
        eprintln!("warning: '{remote}' did not take {refname}: {why}");
    }
    if pulled.reviews > 0 {
        eprintln!(
            "recorded {} verdict(s) that workers relayed in their logs",
            pulled.reviews
        );
    }
    eprintln!(
        "synced the registry with '{remote}': {} taken, {} merged, {pushed} pushed{}{}",
        pulled.taken,
        pulled.merged,
        if refused.is_empty() {
            String::new()
        } else {
            format!(", {} refused", refused.len())
        },
        if round > 0 {
            format!(" ({} rounds: the remote was busy)", round + 1)
        } else {
            String::new()
        }
    );
    if refused.is_empty() {
        return Outcome::Success;
    }
    eprintln!(
        "hint: the refs above stay here and are pushed again by the next sync; a rule of the server is for its admin (`git worker hub rules` prints what each worker needs)"
    );
    Outcome::CheckFailed
}

/// What this sync pushes: the refs this machine owns whose tip differs
/// from the remote's (as just fetched), the live entries of workers it
/// removed (deleted there with their archive), and its workers' branches
/// that moved. A worker owns its log, its handoffs and its branch; the
/// coordinator, the whole registry.
fn push_specs(
    repo: &Repo,
    remote: &str,
    role: &Role,
    pulled: &Pulled,
    refused: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let owns = |name: &str| match role {
        Role::Coordinator => true,
        Role::Worker(id) => {
            name == registry::live_ref(id) || name == format!("{}{id}", registry::HANDOFFS)
        }
    };
    let mut specs = Vec::new();
    for (name, tip) in repo.refs_under(registry::NAMESPACE)? {
        // What the remote has of a ref this machine owns beyond what its
        // signers were entitled to write (a remote that checks nothing
        // takes anything) is replaced by this side's, which holds the
        // trusted part of it: the forgery goes, nothing else does.
        if pulled.untrusted.contains(&name) && owns(&name) && !refused.contains_key(&name) {
            specs.push(format!("+{name}:{name}"));
            continue;
        }
        if pulled.kept.contains(&name)
            || refused.contains_key(&name)
            || !owns(&name)
            || pulled.remote.get(&name) == Some(&tip)
        {
            continue;
        }
        let force = if pulled.replace.contains(&name) {
            "+"
        } else {
            ""
        };
        specs.push(format!("{force}{name}:{name}"));
    }
    if matches!(role, Role::Coordinator) {
        specs.extend(pulled.retire.iter().map(|name| format!(":{name}")));
    }
    // A joined worker's own branch, and the branches of workers checked out here.
    let mut ids = local::local_ids(repo)?;
    if let Role::Worker(id) = role {
        ids.push(id.clone());
    }
    // Their contracts, read once (one check of the registry for all).
    let entries: HashMap<String, registry::Entry> = registry::list(repo)?
        .into_iter()
        .flatten()
        .map(|entry| (entry.id().to_string(), entry))
        .collect();
    for id in ids {
        let Some(entry) = entries.get(&id) else {
            continue;
        };
        let branch = format!("refs/heads/{}", entry.contract.branch);
        let Some(tip) = repo.ref_target(&branch)? else {
            continue;
        };
        let tracking = format!("refs/remotes/{remote}/{}", entry.contract.branch);
        let theirs = repo.ref_target(&tracking)?;
        // The remote's is as new or newer (pushed from the worker's own
        // clone or host): nothing of this machine's to push.
        if refused.contains_key(&branch)
            || theirs.is_some_and(|theirs| {
                theirs == tip || repo.is_ancestor(tip, theirs).unwrap_or(false)
            })
        {
            continue;
        }
        specs.push(format!("{branch}:{branch}"));
    }
    Ok(specs)
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
    /// The remote's registry tips, as fetched.
    pub remote: HashMap<String, Oid>,
    /// Refs whose tip there is not what its signers were entitled to write.
    pub untrusted: Vec<String>,
    /// The local refs this pull moved (taken or merged).
    pub changed: Vec<String>,
    /// Verdicts relayed by workers and recorded here.
    pub reviews: usize,
}

/// Fetch `remote`'s refs/orch/* into a staging namespace and join each ref
/// with the local one. `Ok(true)` when a local ref moved meanwhile (a
/// later round joins it).
pub fn pull(repo: &Repo, remote: &str, pulled: &mut Pulled) -> Result<bool> {
    pull_with(repo, remote, pulled, None)
}

/// [`pull`], fetching the remote's worker branches (`refs/heads/<prefix>*`
/// into `refs/remotes/<remote>/`) in the same fetch when `branches` is the
/// worker branch prefix.
fn pull_with(
    repo: &Repo,
    remote: &str,
    pulled: &mut Pulled,
    branches: Option<&str>,
) -> Result<bool> {
    let staging = registry::sync_staging(remote);
    // A killed sync may have left staging refs: never merge stale ones.
    cleanup_staging(repo, &staging)?;
    pulled.retire.clear();
    pulled.kept.clear();
    pulled.replace.clear();
    pulled.remote.clear();
    pulled.changed.clear();
    pulled.untrusted.clear();
    let mut specs = vec![format!("+{}*:{staging}*", registry::NAMESPACE)];
    if let Some(prefix) = branches {
        specs.push(format!(
            "+refs/heads/{prefix}*:refs/remotes/{remote}/{prefix}*"
        ));
    }
    let fetched = repo.fetch(remote, &specs)?;
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
    let staged = repo.refs_under(staging)?;
    // Keys come with the logs being fetched (an `admitted` event): judge
    // each staged ref with the others as they will be.
    let mut verifier = registry::trust::Verifier::new(repo)?;
    for (name, theirs) in &staged {
        verifier.expect(
            &format!(
                "{}{}",
                registry::NAMESPACE,
                name.trim_start_matches(staging)
            ),
            *theirs,
        );
    }
    for (name, theirs) in staged {
        let local = format!(
            "{}{}",
            registry::NAMESPACE,
            name.trim_start_matches(staging)
        );
        pulled.remote.insert(local.clone(), theirs);
        // Only what its signers were entitled to write comes in (the
        // verifier warns, naming the ref, the commit and the signer).
        let theirs = match verifier.trusted_tip(&local, theirs).unwrap_or(None) {
            Some(trusted) if trusted == theirs => theirs,
            trusted => {
                pulled.kept.push(local.clone());
                pulled.untrusted.push(local.clone());
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
        let removed = match local.strip_prefix(registry::WORKERS) {
            Some(id) => registry::archived_past_in(repo, archived(id), theirs)?,
            None => false,
        };
        if removed {
            match ours {
                // Gone here: delete it there, with the archive.
                None => pulled.retire.push(local.clone()),
                // Spawned again here: the new entry replaces it there.
                Some(_) => pulled.replace.push(local.clone()),
            }
        }
        let (new, merge) = match registry::merge_ref(repo, &local, theirs, removed)? {
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
                Cas::Updated if merge => {
                    pulled.merged += 1;
                    pulled.changed.push(local.clone());
                }
                Cas::Updated => {
                    pulled.taken += 1;
                    pulled.changed.push(local.clone());
                }
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
