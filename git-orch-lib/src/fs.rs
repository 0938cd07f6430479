//! Plain filesystem helpers: atomic writes, forceful removal.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

/// Remove the directory tree at `path`, first making read-only directories
/// in it writable (build tools leave some, e.g. Go's module cache).
pub fn remove_dir_forcefully(path: &Path) -> Result<()> {
    fn writable(dir: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return;
        };
        if !meta.is_dir() {
            return;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                writable(&entry.path());
            }
        }
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => writable(path),
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot remove '{}'", path.display())),
    }
}

/// Whether `a` and `b` name the same file or directory (both exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Write `data` to `path` atomically: a temporary file in the same directory, then rename.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(OsStr::to_str).unwrap_or("file"),
        std::process::id()
    ));
    // Retried: a concurrent writer may remove the directory once it is empty.
    let mut file = loop {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
        match std::fs::File::create(&tmp) {
            Ok(file) => break file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot write '{}'", tmp.display()));
            }
        }
    };
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write '{}'", path.display()))
}

/// Create `dir` (and its parents) with mode 0700 for the directory itself:
/// private keys live in it.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("cannot read '{}'", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make '{}' private", dir.display()))?;
    }
    Ok(())
}

/// Copy the file, symlink or directory tree `from` to `to` (which must not
/// exist): files by copy-on-write where the filesystem offers it (a
/// reflink), else copied, each with its permissions; symlinks as symlinks.
/// Returns how many files and symlinks it copied.
pub fn copy_tree(from: &Path, to: &Path) -> Result<usize> {
    let meta = std::fs::symlink_metadata(from)
        .with_context(|| format!("cannot read '{}'", from.display()))?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create '{}'", parent.display()))?;
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        std::os::unix::fs::symlink(&target, to)
            .with_context(|| format!("cannot create the symlink '{}'", to.display()))?;
        return Ok(1);
    }
    if meta.is_dir() {
        std::fs::create_dir(to).with_context(|| format!("cannot create '{}'", to.display()))?;
        let mut copied = 0;
        let mut entries: Vec<_> = std::fs::read_dir(from)
            .with_context(|| format!("cannot read '{}'", from.display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            copied += copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())?;
        return Ok(copied);
    }
    reflink_copy::reflink_or_copy(from, to)
        .with_context(|| format!("cannot copy '{}' to '{}'", from.display(), to.display()))?;
    std::fs::set_permissions(to, meta.permissions())
        .with_context(|| format!("cannot set the permissions of '{}'", to.display()))?;
    Ok(1)
}

/// Whether `relative` beneath `top` goes through no symlink: each of its
/// parents that exists is a real directory (so a write there stays
/// beneath `top`).
pub fn stays_beneath(top: &Path, relative: &Path) -> bool {
    let mut at = top.to_path_buf();
    let parts: Vec<_> = relative.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        match part {
            std::path::Component::Normal(name) => at.push(name),
            _ => return false,
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return false,
            Err(_) => return true,
        }
    }
    !parts.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_through_a_symlink_does_not_stay_beneath() {
        let top = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(top.path().join("real")).unwrap();
        std::os::unix::fs::symlink(outside.path(), top.path().join("link")).unwrap();
        assert!(stays_beneath(top.path(), Path::new("real/_")));
        assert!(stays_beneath(top.path(), Path::new("missing/deeper/_")));
        assert!(stays_beneath(top.path(), Path::new(".env")));
        assert!(!stays_beneath(top.path(), Path::new("link/_")));
        assert!(!stays_beneath(top.path(), Path::new("../x")));
        assert!(!stays_beneath(top.path(), Path::new("")));
    }
}
