//! Git config: reads through git2 (every level git reads), writes of a
//! worktree's own `config.worktree`.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::{Output, Repo, clean};

impl Repo {
    fn config(&self) -> Result<git2::Config> {
        self.inner
            .config()
            .map_err(clean)
            .context("failed to read git config")
    }

    /// The last value of a config key, if set and valid UTF-8.
    pub fn config_string(&self, key: &str) -> Result<Option<String>> {
        match self.config()?.get_string(key) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => {
                Err(clean(err)).with_context(|| format!("invalid value for config '{key}'"))
            }
        }
    }

    /// Every value of a multi-valued config key, in order.
    pub fn config_multi(&self, key: &str) -> Result<Vec<String>> {
        let config = self.config()?;
        let mut values = Vec::new();
        let mut entries = config.multivar(key, None).map_err(clean)?;
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(clean)?;
            if let Ok(value) = entry.value() {
                values.push(value.to_string());
            }
        }
        Ok(values)
    }

    pub fn config_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.config()?.get_bool(key) {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => {
                Err(clean(err)).with_context(|| format!("invalid boolean for config '{key}'"))
            }
        }
    }

    /// Every value of `key` from all config levels except the worktree's.
    pub fn config_values_outside_worktree(&self, key: &str) -> Result<Vec<String>> {
        let config = self.config()?;
        let mut values = Vec::new();
        let mut entries = config.multivar(key, None).map_err(clean)?;
        while let Some(entry) = entries.next() {
            let entry = entry.map_err(clean)?;
            if entry.level() != git2::ConfigLevel::Worktree
                && let Ok(value) = entry.value()
            {
                values.push(value.to_string());
            }
        }
        Ok(values)
    }

    /// Set keys in the worktree-level config (`config.worktree`) of the
    /// linked worktree at `path`, in-process (`git config --worktree`).
    pub fn set_worktree_config(path: &Path, pairs: &[(&str, &str)]) -> Result<()> {
        let repo = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open checkout '{}'", path.display()))?;
        let config = repo.config().map_err(clean)?;
        let mut level = config
            .open_level(git2::ConfigLevel::Worktree)
            .map_err(clean)
            .context("the worktree has no config.worktree (is extensions.worktreeConfig on?)")?;
        for (key, value) in pairs {
            level
                .set_str(key, value)
                .map_err(clean)
                .with_context(|| format!("cannot set '{key}'"))?;
        }
        Ok(())
    }

    /// Set `key` in the repository's own config file (`.git/config`)
    /// in-process: for a repository just made, whose config is ours.
    pub fn set_own_config(path: &Path, key: &str, value: &str) -> Result<()> {
        let repo = git2::Repository::open(path)
            .map_err(clean)
            .with_context(|| format!("cannot open '{}'", path.display()))?;
        repo.config()
            .and_then(|config| config.open_level(git2::ConfigLevel::Local))
            .and_then(|mut local| local.set_str(key, value))
            .map_err(clean)
            .with_context(|| format!("cannot set '{key}' in '{}'", path.display()))
    }

    /// A key set in this worktree's own `config.worktree` (never the shared config).
    pub fn worktree_config_string(&self, key: &str) -> Result<Option<String>> {
        let config = self.config()?;
        match config.open_level(git2::ConfigLevel::Worktree) {
            Ok(level) => match level.get_string(key) {
                Ok(value) => Ok(Some(value)),
                Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
                Err(err) => Err(clean(err)),
            },
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(clean(err)),
        }
    }
}

impl Repo {
    /// `git config <key> <value>` in this repository's own config file;
    /// the caller reads the status (a concurrent writer holds the lock).
    pub fn try_set_config(&self, key: &str, value: &str) -> Result<Output> {
        self.git(["config", key, value]).output()
    }

    /// `git config <key> <value>`.
    pub fn set_config(&self, key: &str, value: &str) -> Result<()> {
        self.git(["config", key, value]).run()
    }

    /// `git config --add <key> <value>`: one more value of a multi-valued key.
    pub fn add_config(&self, key: &str, value: &str) -> Result<()> {
        self.git(["config", "--add", key, value]).run()
    }

    /// `git config --unset <key>`.
    pub fn unset_config(&self, key: &str) -> Result<()> {
        self.git(["config", "--unset", key]).run()
    }
}
