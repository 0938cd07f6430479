//! Spawning a worker: a branch, a checkout (linked worktree or clone) and a
//! registry entry per id, created as a transaction.
//!
//! Steps, each followed by a checkpoint (`spawn:<step>`) where a signal or an
//! injected fault stops the spawn and rolls back every earlier step:
//!
//! 1. `lock`: the spawn journal `<common>/orch/local/<id>.spawning`, created
//!    exclusively, names the pid, path and branch (for `prune` after a crash);
//! 2. `claim`: the registry entry, created with compare-and-swap, state `spawning`;
//! 3. `branch`: `refs/heads/<prefix><id>` at the base, create-only;
//! 4. `worktree`: `git worktree add` with parallel checkout;
//! 5. `config`: `orch.worker` and `core.hooksPath` (the worker hook shims)
//!    in the worktree's own config, then the local facts (path, pinned contract);
//! 6. `activate`: the `spawned` event, state `active`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::config::{KEY_WORKER, Settings};
use crate::contract::{Contract, TaskFile, parse_label};
use crate::exit::Hint;
use crate::git::{Oid, Repo};
use crate::interrupt::{self, checkpoint};
use crate::local::{self, Local, SpawnJournal};
use crate::ops::remove::{delete_branch, remove_worktree};
use crate::registry::{self, Actor, Change, State};
use crate::ui::short;

/// What spawning one id came to.
pub struct Spawned {
    pub id: String,
    pub branch: String,
    pub path: PathBuf,
    pub base: String,
    pub base_ref: String,
    pub existed: bool,
    /// The pid of its agent's supervisor, when one was started.
    pub agent: Option<u32>,
}

/// The contract fields given on the command line (`--allow`, `--verify`, ...).
#[derive(Debug, Clone, Default)]
pub struct ContractFlags {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub verify: Vec<String>,
    /// `--require-change` / `--no-require-change`, if either was given.
    pub require_change: Option<bool>,
    pub verify_timeout: Option<u64>,
    /// `key=value` labels.
    pub labels: Vec<String>,
    pub description: Option<String>,
}

/// The contract every id gets: flags over the task file over the settings.
pub fn contract_template(
    args: &ContractFlags,
    task: &TaskFile,
    settings: &Settings,
) -> Result<Contract> {
    let pick =
        |flag: &Vec<String>, file: &Option<Vec<String>>, default: &Vec<String>| -> Vec<String> {
            if !flag.is_empty() {
                flag.clone()
            } else {
                file.clone().unwrap_or_else(|| default.clone())
            }
        };
    let mut labels = task.labels.clone();
    for label in &args.labels {
        let (key, value) = parse_label(label)?;
        labels.insert(key, value);
    }
    let require_change = args
        .require_change
        .or(task.require_change)
        .unwrap_or(settings.require_change);
    let contract = Contract {
        id: "x".to_string(),
        branch: String::new(),
        base: String::new(),
        base_ref: String::new(),
        allow: pick(&args.allow, &task.allow, &settings.allow),
        deny: pick(&args.deny, &task.deny, &settings.deny),
        verify: pick(&args.verify, &task.verify, &settings.verify),
        require_change,
        verify_timeout: args.verify_timeout.or(task.verify_timeout),
        description: args
            .description
            .clone()
            .or(task.description.clone())
            .unwrap_or_default(),
        labels,
        key: String::new(),
    };
    contract.validate()?;
    Ok(contract)
}

/// Where a worker works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A linked worktree of this repository (trusted).
    Worktree,
    /// Its own clone, sending its work through the inbox (trusted).
    Clone,
    /// Its own clone, its agent in an OS sandbox; the coordinator takes
    /// its work from the clone (`network`: whether the agent may use it).
    Sandbox { network: bool },
}

impl Isolation {
    /// The name recorded in the local facts.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Worktree => "",
            Isolation::Clone => crate::local::CLONE,
            Isolation::Sandbox { .. } => crate::local::SANDBOX,
        }
    }

    fn is_clone(self) -> bool {
        self != Isolation::Worktree
    }
}

pub fn spawn_one(
    repo: &Repo,
    contract: &Contract,
    path: &Path,
    isolation: Isolation,
    sparse: bool,
) -> Result<Spawned> {
    let id = &contract.id;
    let done = |existed: bool| Spawned {
        id: id.clone(),
        branch: contract.branch.clone(),
        path: path.to_path_buf(),
        base: contract.base.clone(),
        base_ref: contract.base_ref.clone(),
        existed,
        agent: None,
    };
    if !crate::git::valid_refname(&format!("refs/heads/{}", contract.branch)) {
        bail!("branch name '{}' is not valid", contract.branch);
    }
    let parent = path.parent().context("worktree path has no parent")?;
    let journal = SpawnJournal {
        pid: std::process::id(),
        path: path.to_path_buf(),
        branch: contract.branch.clone(),
        created_parent: !parent.exists(),
        enables_worktree_config: false,
    };
    let _signals = interrupt::guard()?;
    // The per-id lock comes first: a concurrent spawn of the same id then
    // either finds it held ("being spawned") or finds the finished entry,
    // never a half-made one.
    take_spawn_lock(repo, id, &journal)?;
    let checked = (|| {
        if let Some(existing) = registry::load(repo, id)? {
            check_existing(&existing, contract)?;
            let mut out = done(true);
            if let Some(local) = local::load_local(repo, id)? {
                out.path = local.path;
            }
            out.base_ref = existing.contract.base_ref;
            return Ok(Some(out));
        }
        if repo.branch_exists(&contract.branch)? {
            return Err(anyhow::Error::from(
                Hint::new(format!("branch '{}' already exists", contract.branch)).hint(format!(
                    "it is not a worker's branch; choose another id, or rename the branch: git branch -m {} <new-name>",
                    contract.branch
                )),
            ));
        }
        if path.symlink_metadata().is_ok() {
            return Err(Hint::new(format!("path '{}' already exists", path.display()))
                .hint("remove it, or choose another directory with --worktree-dir or orch.worktreeDir")
                .into());
        }
        Ok(None)
    })();
    match checked {
        Ok(None) => {}
        Ok(Some(existing)) => {
            local::end_spawn(repo, id)?;
            return Ok(existing);
        }
        Err(err) => {
            let _ = local::end_spawn(repo, id);
            return Err(err);
        }
    }

    let mut undo = Undo {
        journal,
        ..Undo::default()
    };
    match transaction(repo, contract, path, isolation, sparse, &mut undo) {
        Ok(()) => {
            local::end_spawn(repo, id)?;
            Ok(done(false))
        }
        Err(err) => {
            let rollback = undo.rollback(repo, contract);
            let _ = local::end_spawn(repo, id);
            let err = match rollback {
                Ok(()) => err.context(format!("spawn of '{id}' rolled back; nothing was left behind")),
                Err(rollback) => err.context(format!(
                    "spawn of '{id}' failed and could not be fully rolled back ({rollback:#}); run `git worker prune`"
                )),
            };
            Err(err)
        }
    }
}

/// Take the per-id spawn lock (the journal). When another spawn holds it:
/// alive, it is in progress; dead with its journal still there, it crashed;
/// gone meanwhile, it finished, and the lock is tried again.
pub fn take_spawn_lock(repo: &Repo, id: &str, journal: &SpawnJournal) -> Result<()> {
    let path = local::journal_path(repo, id);
    for _ in 0..100 {
        let Err(other) = local::begin_spawn(repo, id, journal)? else {
            return Ok(());
        };
        if other.pid == 0 || local::pid_alive(other.pid) {
            return Err(Hint::new(format!(
                "worker '{id}' is being spawned by another process (pid {})",
                other.pid
            ))
            .hint("wait for it to finish, then run `git worker show` to see the result")
            .into());
        }
        // Dead: a crash only if its journal outlived it (a finished spawn
        // removes the journal before it exits).
        match local::read_journal(&path)? {
            Some(again) if again.pid == other.pid => return Err(crashed(id)),
            _ => continue,
        }
    }
    bail!("cannot take the spawn lock of '{id}': it keeps changing hands")
}

pub fn crashed(id: &str) -> anyhow::Error {
    Hint::new(format!(
        "an earlier spawn of '{id}' was killed before it finished"
    ))
    .hint("remove what it left with `git worker prune`, then spawn again")
    .into()
}

/// An existing entry is fine when its contract is the one asked for.
/// Called with the spawn lock of the id held, so a `spawning` entry is not
/// a spawn in progress on this machine.
pub fn check_existing(existing: &registry::Entry, contract: &Contract) -> Result<()> {
    let id = &contract.id;
    if existing.status.state == State::Spawning {
        return Err(Hint::new(format!(
            "worker '{id}' is half-spawned: its spawn runs on another machine, or crashed there"
        ))
        .hint(format!("inspect it with `git worker show {id}`"))
        .into());
    }
    // The key is the worker's own, made at its spawn: not part of what is asked.
    let mut differences = existing.contract.differences(contract);
    differences.retain(|field| *field != "key");
    if differences.is_empty() {
        return Ok(());
    }
    let mut err = Hint::new(format!(
        "worker '{id}' already exists with a different contract (differs in: {})",
        differences.join(", ")
    ));
    if differences.contains(&"base") {
        err = err.hint(format!(
            "it was spawned from {} and {} is now at {}",
            short(&existing.contract.base),
            contract.base_ref,
            short(&contract.base)
        ));
    }
    Err(err
        .hint(format!(
            "see its contract with `git worker show {id}`; remove it with `git worker rm {id}`"
        ))
        .into())
}

/// What a spawn has done so far, to be undone in reverse on failure.
#[derive(Default)]
pub struct Undo {
    journal: SpawnJournal,
    claim: Option<Oid>,
    branch: bool,
    worktree: bool,
    local: bool,
    /// The worker's entry and branch were pushed to the inbox (made by this
    /// spawn when `inbox_created`).
    inbox: bool,
    inbox_created: bool,
}

pub fn transaction(
    repo: &Repo,
    contract: &Contract,
    path: &Path,
    isolation: Isolation,
    sparse: bool,
    undo: &mut Undo,
) -> Result<()> {
    let id = &contract.id;
    // The settings the new checkout is made with (its ports, its setup):
    // a bad one stops the spawn before anything is made.
    let settings = crate::config::Settings::load(repo)?;
    checkpoint("spawn:lock")?;
    // The worker's own signing key, on this machine: what it signs counts
    // as its own because its contract names the key. A sandboxed worker
    // has none: the coordinator records its events for it.
    let keyed;
    let contract = if let Isolation::Sandbox { .. } = isolation {
        contract
    } else {
        let mut with_key = contract.clone();
        with_key.key = local::ensure_worker_key(repo, id)?.openssh();
        keyed = with_key;
        &keyed
    };

    let claim = Change::new("spawning", Actor::Coordinator, State::Spawning)
        .with("branch", contract.branch.as_str())
        .with("base", contract.base.as_str());
    let claimed = match registry::create(repo, contract, claim)? {
        Ok(entry) => entry,
        Err(existing) => {
            check_existing(&existing, contract)?;
            bail!("worker '{id}' was created by another process while this spawn ran");
        }
    };
    undo.claim = Some(claimed.tip);
    checkpoint("spawn:claim")?;

    let base = contract.base.as_str();
    repo.create_branch(&contract.branch, base)
        .with_context(|| format!("cannot create branch '{}'", contract.branch))?;
    undo.branch = true;
    checkpoint("spawn:branch")?;

    make_checkout(repo, contract, path, isolation, undo)?;
    checkpoint("spawn:worktree")?;
    if sparse {
        let cone = sparse_cone(&contract.allow);
        if cone.is_empty() {
            eprintln!(
                "warning: the allowed paths of '{id}' name no directory: its checkout is not sparse"
            );
        } else {
            Repo::open(path)?.sparse_checkout_cone(&cone)?;
        }
    }
    copy_included(repo, path)?;
    if let Some(hooks) = crate::hooks::copy_generated_dir(repo, path)? {
        eprintln!(
            "copied the repository's hooks directory '{}' into the new checkout (core.hooksPath; not tracked, made by a tool such as `npm install`)",
            hooks.display()
        );
    }

    configure_checkout(repo, contract, path, isolation, &settings, undo)?;
    checkpoint("spawn:config")?;

    // Ready to run: the repository's setup commands, in the new checkout.
    if !settings.setup.is_empty() {
        let local = local::load_local(repo, id)?.context("the new checkout's facts are gone")?;
        crate::ops::setup::run(crate::ops::setup::Stage::Setup, &settings, id, &local)?;
    }

    let activated = registry::update(repo, &registry::live_ref(id), |entry| {
        if entry.tip != claimed.tip {
            bail!("registry entry of '{id}' changed while it was being spawned");
        }
        Ok(Some(
            Change::new("spawned", Actor::Coordinator, State::Active)
                .with("branch", contract.branch.as_str())
                .with("base", contract.base.as_str())
                .with("base_ref", contract.base_ref.as_str()),
        ))
    })?;
    undo.claim = Some(activated.tip);
    if isolation == Isolation::Clone {
        // The clone's own copy of its entry (its hooks and reports read it;
        // `git worker sync` there sends its events back). A sandboxed
        // worker reads the coordinator's registry instead.
        let entry = registry::live_ref(id);
        let fetched = Repo::open(path)?.fetch(repo.common_dir(), &[format!("+{entry}:{entry}")])?;
        if fetched.status != 0 {
            bail!(
                "cannot give the clone its registry entry: {}",
                fetched.stderr.trim()
            );
        }
    }
    if isolation == Isolation::Clone {
        undo.inbox_created = open_inbox(repo, contract, path)?;
        undo.inbox = true;
    }
    checkpoint("spawn:activate")?;
    Ok(())
}

/// The worker's checkout at `path`: a clone, or a linked worktree with
/// parallel checkout. Worktree changes are serialized among processes (see
/// [`Repo::lock_machine`]).
fn make_checkout(
    repo: &Repo,
    contract: &Contract,
    path: &Path,
    isolation: Isolation,
    undo: &mut Undo,
) -> Result<()> {
    if isolation.is_clone() {
        // Whatever git left behind on failure is ours to remove.
        undo.worktree = true;
        if let Isolation::Sandbox { .. } = isolation {
            return repo.clone_for_sandbox(path, &contract.branch, &contract.base);
        }
        return repo.clone_for_worker(path, &contract.branch, &contract.base);
    }
    let _machine_lock = repo.lock_machine()?;
    let added = repo.add_worktree(path, &contract.branch)?;
    // Whatever git left behind on failure is ours to remove.
    undo.worktree = true;
    if added.status != 0 {
        bail!(
            "cannot create worktree '{}': {}",
            path.display(),
            added.stderr.trim()
        );
    }
    Ok(())
}

/// `.worktreeinclude`: the ignored files of the coordinator's checkout it
/// names (`.env`, `node_modules/`), copied into the new checkout at `path`
/// (copy-on-write where the filesystem offers it), unless already there.
fn copy_included(repo: &Repo, path: &Path) -> Result<()> {
    let Some(top) = repo.main_workdir() else {
        return Ok(());
    };
    let main = Repo::open(&top)?;
    let mut copied = 0;
    let mut names = Vec::new();
    for relative in main.included_ignored()? {
        let there = path.join(&relative);
        if there.symlink_metadata().is_ok() || !crate::fs::stays_beneath(path, &relative) {
            continue;
        }
        copied += crate::fs::copy_tree(&top.join(&relative), &there)?;
        names.push(relative.display().to_string());
    }
    if !names.is_empty() {
        eprintln!(
            "copied {copied} ignored file(s) that .worktreeinclude names into the new checkout: {}",
            names.join(", ")
        );
    }
    Ok(())
}

/// The cone of a sparse checkout for `allow`: each pattern's directory part
/// before its first wildcard; empty (everything) when a pattern has none.
pub fn sparse_cone(allow: &[String]) -> Vec<String> {
    let mut cone: Vec<String> = Vec::new();
    for pattern in allow {
        let literal = pattern
            .split('/')
            .take_while(|part| !part.contains(['*', '?', '[', '{', '\\']))
            .collect::<Vec<_>>();
        // The last literal part names a file unless a wildcard follows it.
        let dirs = if literal.len() == pattern.split('/').count() {
            &literal[..literal.len().saturating_sub(1)]
        } else {
            &literal[..]
        };
        if dirs.is_empty() {
            return Vec::new();
        }
        cone.push(dirs.join("/"));
    }
    cone.sort();
    cone.dedup();
    cone
}

/// The checkout's own config (it is worker `id`, and its hooks are ours,
/// chaining to the repository's own), then the local facts: its path and
/// the pinned contract.
fn configure_checkout(
    repo: &Repo,
    contract: &Contract,
    path: &Path,
    isolation: Isolation,
    settings: &crate::config::Settings,
    undo: &mut Undo,
) -> Result<()> {
    let clone = isolation.is_clone();
    let id = &contract.id;
    if repo.config_bool("extensions.worktreeConfig")? != Some(true) {
        // Recorded before it is done, so a crash cannot hide it from prune.
        undo.journal.enables_worktree_config = true;
        local::update_journal(repo, id, &undo.journal)?;
        enable_worktree_config(repo)?;
    }
    // The checkout's own config: it is worker `id`, and its hooks are ours
    // (chaining to the repository's own). Under the machine lock, so a
    // finishing spawn or rm tidying up cannot remove the shims meanwhile.
    let machine_lock = repo.lock_machine()?;
    let hooks = crate::hooks::install(repo, false)?;
    if clone {
        // The clone's own config.worktree holds its marks.
        Repo::set_own_config(path, "extensions.worktreeConfig", "true")?;
    }
    if isolation == Isolation::Clone {
        local::copy_worker_key(repo, &Repo::open(path)?, id)?;
    }
    let hooks = hooks.to_string_lossy();
    let coordinator = repo.common_dir().to_string_lossy();
    let mut marks = vec![(KEY_WORKER, id.as_str()), ("core.hooksPath", &*hooks)];
    if let Isolation::Sandbox { .. } = isolation {
        // Where its commands read the registry (it writes only its clone).
        marks.push((crate::ops::worker::KEY_COORDINATOR, &*coordinator));
    }
    Repo::set_worktree_config(path, &marks).context("cannot configure the worker's checkout")?;
    drop(machine_lock);
    let worktree = crate::git::worktree_name(path).unwrap_or_default();
    undo.local = true;
    let local = Local {
        path: path.to_path_buf(),
        worktree,
        contract: Some(contract.clone()),
        isolation: isolation.name().to_string(),
        network_off: isolation == Isolation::Sandbox { network: false },
        port: None,
    };
    // Its ports: the lowest free slot, chosen as its facts are recorded.
    local::save_new_local(repo, id, &local, settings.port_base)?;
    Ok(())
}

/// A clone worker pushes to the inbox, never to this repository: make the
/// inbox (a hub borrowing our objects) if needed, give it the worker's
/// entry and branch, point the clone's origin at it, and name it as the
/// remote the coordinator collects from.
/// `Ok(true)` when it made the inbox.
pub fn open_inbox(repo: &Repo, contract: &Contract, clone: &Path) -> Result<bool> {
    let inbox = local::inbox_path(repo);
    let mut created = false;
    {
        let _lock = repo.lock_machine()?;
        if !inbox.join("objects").exists() {
            created = true;
            crate::ops::hub::prepare_hub(&inbox, Some(repo))?;
            // Pushes into it need not carry what this repository has.
            let alternates = inbox.join("objects/info/alternates");
            std::fs::create_dir_all(inbox.join("objects/info"))?;
            std::fs::write(
                &alternates,
                format!("{}\n", repo.common_dir().join("objects").display()),
            )
            .with_context(|| format!("cannot write '{}'", alternates.display()))?;
        }
        if repo
            .config_string(&format!("remote.{}.url", local::INBOX_REMOTE))?
            .is_none()
        {
            repo.add_remote(local::INBOX_REMOTE, &inbox)?;
        }
    }
    // A rolled-back earlier spawn of this id may have left its entry there.
    let entry = registry::live_ref(&contract.id);
    let branch = format!("refs/heads/{}", contract.branch);
    let hub = Repo::open(&inbox)?;
    for stale in [&entry, &branch] {
        hub.delete_ref_if_any(stale)?;
    }
    let pushed = repo.push(
        &inbox,
        &[format!("{entry}:{entry}"), format!("{branch}:{branch}")],
        false,
    )?;
    if pushed.status != 0 {
        bail!(
            "cannot give the inbox the worker's entry and branch: {}",
            pushed.stderr.trim()
        );
    }
    Repo::open(clone)?.set_remote_url("origin", &inbox)?;
    Ok(created)
}

/// Undo [`open_inbox`]: the worker's refs there, and the inbox itself if
/// this spawn made it.
pub fn close_inbox(repo: &Repo, contract: &Contract, created: bool) -> Result<()> {
    let inbox = local::inbox_path(repo);
    if created {
        repo.remove_remote(local::INBOX_REMOTE)?;
        return crate::fs::remove_dir_forcefully(&inbox);
    }
    let hub = Repo::open(&inbox)?;
    for stale in [
        registry::live_ref(&contract.id),
        format!("refs/heads/{}", contract.branch),
    ] {
        hub.delete_ref_if_any(&stale)?;
    }
    Ok(())
}

/// `extensions.worktreeConfig` lets each worker checkout have its own config
/// (`orch.worker`, later its hooks) without touching the coordinator's.
/// Concurrent spawns race for the config lock, so retry.
pub fn enable_worktree_config(repo: &Repo) -> Result<()> {
    for attempt in 0..50u32 {
        if repo.config_bool("extensions.worktreeConfig")? == Some(true) {
            return Ok(());
        }
        let out = repo.try_set_config("extensions.worktreeConfig", "true")?;
        if out.status == 0 {
            return Ok(());
        }
        if !out.stderr.contains("lock") {
            bail!(
                "cannot enable extensions.worktreeConfig: {}",
                out.stderr.trim()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(2 + u64::from(attempt)));
    }
    bail!("cannot enable extensions.worktreeConfig: the config file stayed locked")
}

/// Turn `extensions.worktreeConfig` off again after a failed first spawn,
/// unless another worker (live or being spawned) may rely on it.
pub fn disable_worktree_config_if_unused(repo: &Repo, id: &str) -> Result<()> {
    let others = !repo.refs_under(registry::WORKERS)?.is_empty()
        || local::journal_ids(repo)?.iter().any(|other| other != id);
    if !others {
        repo.unset_config("extensions.worktreeConfig")?;
    }
    Ok(())
}

impl Undo {
    /// Undo in reverse order. Every step is attempted; the first error is returned.
    fn rollback(&self, repo: &Repo, contract: &Contract) -> Result<()> {
        let mut first: Option<anyhow::Error> = None;
        let mut keep = |result: Result<()>| {
            if let Err(err) = result
                && first.is_none()
            {
                first = Some(err);
            }
        };
        if self.inbox {
            keep(close_inbox(repo, contract, self.inbox_created));
        }
        if self.local {
            keep(local::remove_local(repo, &contract.id));
        }
        if self.worktree || self.journal.created_parent {
            keep(crate::ops::remove::remove_worktree(
                repo,
                &self.journal.path,
                self.journal.created_parent,
                true,
            ));
        }
        if self.branch {
            keep(crate::ops::remove::delete_branch(
                repo,
                &contract.branch,
                &contract.base,
            ));
        }
        if let Some(tip) = self.claim {
            keep(registry::discard(repo, &contract.id, tip).map(drop));
        }
        local::remove_worker_key(repo, &contract.id);
        if self.journal.enables_worktree_config {
            keep(disable_worktree_config_if_unused(repo, &contract.id));
        }
        match first {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// Roll back what a killed spawn created, using its journal.
pub fn undo_spawn(repo: &Repo, id: &str, journal: &SpawnJournal) -> Result<()> {
    let entry = registry::load(repo, id)?;
    let half_made = entry
        .as_ref()
        .is_none_or(|e| e.status.state == State::Spawning);
    if half_made {
        if !journal.path.as_os_str().is_empty() && is_our_worktree(repo, &journal.path) {
            remove_worktree(repo, &journal.path, journal.created_parent, true)?;
        } else {
            repo.prune_worktrees()?;
        }
        if let Some(entry) = &entry {
            delete_branch(repo, &entry.contract.branch, &entry.contract.base)?;
            registry::discard(repo, id, entry.tip)?;
        }
        local::remove_worker_key(repo, id);
        local::remove_local(repo, id)?;
        if journal.enables_worktree_config {
            disable_worktree_config_if_unused(repo, id)?;
        }
    }
    local::end_spawn(repo, id)
}

/// Whether removing `path` removes nothing of the user's: a linked
/// worktree of this repository, or a directory without `.git` at the path a
/// killed spawn was creating (the spawn checked that nothing was there).
pub fn is_our_worktree(repo: &Repo, path: &Path) -> bool {
    repo.owns_checkout(path) || (path.exists() && !path.join(".git").exists())
}

#[cfg(test)]
mod sparse_tests {
    use super::sparse_cone;

    #[test]
    fn the_cone_is_each_patterns_directories_before_its_first_wildcard() {
        let cone =
            |allow: &[&str]| sparse_cone(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            cone(&["src/auth/**", "docs/*.md", "src/auth/x/**"]),
            ["docs", "src/auth", "src/auth/x"]
        );
        assert_eq!(cone(&["src/main.rs"]), ["src"]);
        assert_eq!(
            cone(&["src/**", "*.md"]),
            Vec::<String>::new(),
            "a top-level pattern needs everything"
        );
        assert_eq!(cone(&["**/*.rs"]), Vec::<String>::new());
        assert_eq!(cone(&[]), Vec::<String>::new());
    }
}
