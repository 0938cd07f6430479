//! Signing keys, machine-local: the coordinator's key (one per user, under
//! `$XDG_DATA_HOME/git-orch/keys/`, outside every repository and every
//! worker checkout), each worker's key on the host it runs on
//! (`<git-common-dir>/orch/keys/<id>`), and the coordinator's public key a
//! joined worker pinned when it joined. See docs/registry-format.md, "Keys".

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::git::Repo;
use crate::git::sign::{self, PublicKey};

/// The directory of the coordinator's key: `$GIT_ORCH_KEYS_DIR`, else
/// `$XDG_DATA_HOME/git-orch/keys`, else `~/.local/share/git-orch/keys`.
pub fn user_keys_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GIT_ORCH_KEYS_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))?;
    Some(data.join("git-orch").join("keys"))
}

/// The coordinator's private key, made on first use.
pub fn coordinator_key() -> Result<(PathBuf, PublicKey)> {
    let dir = user_keys_dir().context("no HOME: cannot place the coordinator's signing key")?;
    let user = std::env::var("USER").unwrap_or_else(|_| "coordinator".into());
    let (path, key, made) = key_in(
        &dir.join("coordinator"),
        &format!("git-orch coordinator {user}"),
    )?;
    if made {
        eprintln!(
            "made the coordinator's signing key '{}' ({}); every registry entry is signed with it",
            path.display(),
            key.fingerprint()
        );
    }
    Ok((path, key))
}

/// The coordinator's public key on this machine, if it has one already.
pub fn coordinator_public_key() -> Option<PublicKey> {
    let path = user_keys_dir()?.join("coordinator").join(KEY);
    sign::public_key_of(&path).ok()
}

/// The file name of a private key in its directory (`.pub` beside it).
const KEY: &str = "key";

/// The key pair in directory `dir` (`key`, `key.pub`), made if there is
/// none: in a new directory renamed into place, so that racing processes
/// all end up with the one that won, never half a pair. `true`: made now.
fn key_in(dir: &Path, comment: &str) -> Result<(PathBuf, PublicKey, bool)> {
    let path = dir.join(KEY);
    if path.is_file() {
        return Ok((path.clone(), sign::public_key_of(&path)?, false));
    }
    let parent = dir.parent().context("a key directory without a parent")?;
    crate::fs::create_private_dir(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".new-key-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot make a key in '{}'", parent.display()))?;
    sign::keygen(&staging.path().join(KEY), comment)?;
    let made = std::fs::rename(staging.path(), dir).is_ok();
    if !made && !path.is_file() {
        anyhow::bail!("cannot put the new key in '{}'", dir.display());
    }
    Ok((path.clone(), sign::public_key_of(&path)?, made))
}

fn keys_dir(repo: &Repo) -> PathBuf {
    repo.common_dir().join("orch").join("keys")
}

/// Where worker `id`'s private key is on this machine.
pub fn worker_key_path(repo: &Repo, id: &str) -> PathBuf {
    keys_dir(repo).join(id).join(KEY)
}

/// Worker `id`'s key on this machine, made if it has none yet.
pub fn ensure_worker_key(repo: &Repo, id: &str) -> Result<PublicKey> {
    Ok(key_in(&keys_dir(repo).join(id), &format!("git-orch worker {id}"))?.1)
}

/// Give the clone at `clone` worker `id`'s key (its commands sign there).
pub fn copy_worker_key(repo: &Repo, clone: &Repo, id: &str) -> Result<()> {
    let to = keys_dir(clone).join(id);
    crate::fs::create_private_dir(&to)?;
    for name in [KEY, "key.pub"] {
        let from = keys_dir(repo).join(id).join(name);
        std::fs::copy(&from, to.join(name))
            .with_context(|| format!("cannot give the clone its key '{}'", to.display()))?;
    }
    Ok(())
}

/// Forget worker `id`'s key (it was removed).
pub fn remove_worker_key(repo: &Repo, id: &str) {
    let _ = std::fs::remove_dir_all(keys_dir(repo).join(id));
    let _ = std::fs::remove_dir(keys_dir(repo));
}

/// The coordinator key a joined worker pinned when it joined.
pub fn pinned_coordinator_key(repo: &Repo) -> Option<PublicKey> {
    let text = std::fs::read_to_string(keys_dir(repo).join("coordinator.pub")).ok()?;
    PublicKey::parse(&text).ok()
}

pub fn pin_coordinator_key(repo: &Repo, key: &PublicKey) -> Result<()> {
    let dir = keys_dir(repo);
    crate::fs::create_private_dir(&dir)?;
    crate::fs::write_atomically(
        &dir.join("coordinator.pub"),
        format!("{}\n", key.openssh()).as_bytes(),
    )
}

/// Forget the pinned coordinator key (a join that failed after pinning).
pub fn unpin_coordinator_key(repo: &Repo) {
    let _ = std::fs::remove_file(keys_dir(repo).join("coordinator.pub"));
}
