//! `git worker join`: a clone on another machine becomes a worker's
//! checkout, with the registry fetched from the remote (hub) it reports to.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::cli::{AdmitArgs, JoinArgs};
use orch::config::KEY_WORKER;
use orch::contract::validate_id;
use orch::exit::{Hint, Outcome};
use orch::git::sign::PublicKey;
use orch::git::{Oid, Repo};
use orch::local;
use orch::ops::sync::{Pulled, pull};
use orch::registry;
use orch::role::{Role, role};

pub fn join(args: &JoinArgs) -> Result<Outcome> {
    validate_id(&args.id)?;
    let id = &args.id;
    let (repo, remote) = match Repo::discover() {
        Ok(repo) => (repo, args.remote.clone().unwrap_or_else(|| "origin".into())),
        Err(_) => {
            let Some(url) = &args.remote else {
                return Err(
                    Hint::new("not in a git repository, and no --remote to clone")
                        .hint(format!("git worker join {id} --remote <url of the hub>"))
                        .into(),
                );
            };
            let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(id));
            if dir.exists() && std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
                return Err(
                    Hint::new(format!("'{}' exists and is not empty", dir.display()))
                        .hint("choose another place with --dir")
                        .into(),
                );
            }
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let cloned = orch::git::remote::clone(&cwd, url, &dir)?;
            if cloned.status != 0 {
                let (what, hint) = orch::git::remote_failure(&cloned.stderr);
                return Err(Hint::new(format!(
                    "cannot clone '{url}': {what}: {}",
                    cloned.stderr.trim()
                ))
                .hint(hint)
                .into());
            }
            (Repo::open(&cwd.join(&dir))?, "origin".to_string())
        }
    };
    if !local::local_ids(&repo)?.is_empty() {
        return Err(Hint::new(
            "this repository coordinates workers of its own on this machine; a worker joins from another clone",
        )
        .hint(format!("clone the hub elsewhere: git worker join {id} --remote <url> --dir <path>"))
        .into());
    }
    if let Role::Worker(other) = role(&repo)?
        && &other != id
    {
        return Err(Hint::new(format!("this checkout is worker '{other}''s already")).into());
    }
    let workdir = repo
        .workdir()
        .context("a worker needs a checkout, and this repository is bare")?
        .to_path_buf();
    if Repo::checkout_is_dirty(&workdir)? {
        return Err(
            Hint::new(format!("'{}' has uncommitted changes", workdir.display()))
                .hint("commit or stash them first; nothing was changed")
                .into(),
        );
    }
    // A coordinator key given is pinned before anything is read.
    let given = orch::ops::keys::pin_given(&repo, args.coordinator_key.as_deref())?;
    let mut pulled = Pulled::default();
    pull(&repo, &remote, &mut pulled)?;
    if let Some(given) = given {
        orch::ops::keys::check_given(&repo, given, &remote)?;
    }
    let Some(entry) = registry::load(&repo, id)? else {
        return Err(
            Hint::new(format!("worker '{id}' is not registered on '{remote}'"))
                .hint("the coordinator spawns it and runs `git worker sync` first")
                .into(),
        );
    };
    let contract = &entry.contract;
    let branch = &contract.branch;
    // The branch: ours if we have it, else the remote's, else a new one at the base.
    if repo.ref_target(&format!("refs/heads/{branch}"))?.is_some() {
        repo.checkout_branch(branch)?;
    } else {
        let fetched = repo.fetch_to_fetch_head(&remote, &format!("refs/heads/{branch}"))?;
        let start = if fetched.status == 0 {
            "FETCH_HEAD".to_string()
        } else {
            let base = Oid::from_str(&contract.base).context("bad base in the contract")?;
            if repo.resolve_commit(&contract.base)?.is_none() {
                return Err(
                    Hint::new(format!("the base of '{id}' ({base}) is not in this clone"))
                        .hint(format!(
                            "fetch it: git fetch {remote} {}",
                            contract.base_ref
                        ))
                        .into(),
                );
            }
            contract.base.clone()
        };
        repo.checkout_new_branch(branch, &start)?;
    }
    repo.set_config("extensions.worktreeConfig", "true")?;
    let hooks = orch::hooks::install(&repo, false)?;
    Repo::set_worktree_config(
        &workdir,
        &[
            (KEY_WORKER, id.as_str()),
            ("core.hooksPath", &hooks.to_string_lossy()),
        ],
    )?;
    let key = orch::ops::keys::join_key(&repo, id)?;
    eprintln!(
        "joined as worker '{id}' on branch '{branch}'; report with `git handoff report`, then `git worker sync {remote}`"
    );
    if PublicKey::parse(&contract.key).ok().as_ref() != Some(&key) {
        eprintln!(
            "this worker's signing key is {}: until the coordinator admits it, what it reports does not count\nhint: the coordinator runs: git worker admit {id} '{}' && git worker sync",
            key.fingerprint(),
            key.openssh()
        );
    }
    println!("{}", workdir.display());
    Ok(Outcome::Success)
}

/// `git worker admit`: record a joined worker's signing key in its contract.
pub fn admit(repo: &Repo, args: &AdmitArgs) -> Result<Outcome> {
    orch::role::require_coordinator(repo, "git worker admit")?;
    let key = orch::ops::keys::parse_key(&args.key)?;
    if args.reviewer {
        orch::ops::keys::admit_reviewer(repo, &args.id, &key)?;
    } else {
        orch::ops::keys::admit(repo, &args.id, &key)?;
    }
    Ok(Outcome::Success)
}

/// `git worker key`: the public key this checkout signs with.
pub fn key(repo: &Repo) -> Result<Outcome> {
    let key = match role(repo)? {
        Role::Worker(id) => orch::local::ensure_worker_key(repo, &id)?,
        Role::Coordinator => orch::local::coordinator_key()?.1,
    };
    eprintln!("{}", key.fingerprint());
    println!("{}", key.openssh());
    Ok(Outcome::Success)
}
