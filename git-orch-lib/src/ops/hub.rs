//! Shared hubs: a bare repository whose hooks check every push against the
//! workers' contracts (`git worker hub init`, and the inbox of clone
//! workers).

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::exit::Hint;
use crate::git::Repo;
use crate::hooks;

/// Make `path` a hub (creating the bare repository if needed): the hub
/// hooks, chained to its own, receive and maintenance settings, and the
/// worker branch prefix of `coordinator`, if given.
pub fn prepare_hub(path: &Path, coordinator: Option<&Repo>) -> Result<()> {
    if !path.exists() {
        let parent = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create '{}'", parent.display()))?;
        crate::git::remote::init_bare(path)?;
    }
    let hub = Repo::open(path)?;
    if !hub.is_bare() {
        return Err(
            Hint::new(format!("'{}' is not a bare repository", path.display()))
                .hint("a hub receives pushes: create it with `git worker hub init <new-path>`")
                .into(),
        );
    }
    let dir = hooks::install(&hub, true)?;
    // A hooks directory the hub already had keeps running, chained.
    if let Some(existing) = hub.config_string("core.hooksPath")?
        && Path::new(&existing) != dir
        && hub.config_string(hooks::KEY_CHAINED)?.is_none()
    {
        hub.set_config(hooks::KEY_CHAINED, &existing)?;
        eprintln!("kept the hub's own hooks in '{existing}': they run after the contract checks");
    }
    hub.set_config("core.hooksPath", &dir.to_string_lossy())?;
    // Receive and maintenance settings for a shared registry: objects
    // checked on the way in, a reflog of every ref update (a bare
    // repository keeps none by default) to audit and recover from, and
    // housekeeping that packs the many small pushes (loose objects and refs).
    for (key, value) in [
        ("receive.fsckObjects", "true"),
        ("core.logAllRefUpdates", "always"),
        ("gc.auto", "1000"),
        ("gc.autoPackLimit", "20"),
        ("gc.packRefs", "true"),
    ] {
        hub.set_config(key, value)?;
    }
    // The hub has no working tree, so no .orch.toml: it learns the worker
    // branch prefix from the coordinator this runs in, if any.
    if let Some(coordinator) = coordinator
        && let Ok(settings) = crate::config::Settings::load(coordinator)
    {
        hub.set_config(crate::config::KEY_PREFIX, &settings.prefix)?;
    }
    Ok(())
}
