//! The repositories benchmarks run in: generated, or a clone of the user's.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::env::{Cmd, Env};

pub const FILES_PER_DIR: usize = 50;
pub const LINES_PER_FILE: usize = 40;

/// A repository to benchmark in, with the branch to spawn from.
pub struct Subject {
    pub path: PathBuf,
    pub base: String,
    /// How it came to be, for the report.
    pub origin: String,
}

/// A new repository at `dir` with `files` files (directories of
/// [`FILES_PER_DIR`] files of [`LINES_PER_FILE`] lines of about 100 bytes,
/// all distinct), in one commit on `main`, objects loose.
pub fn generate(env: &Env, dir: &Path, files: usize) -> Result<Subject> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    env.run(&Cmd::git(dir, ["init", "--quiet", "--initial-branch=main"]))?;
    let mut bytes = 0;
    for i in 0..files {
        let rel = format!("d{:03}/f{:02}.txt", i / FILES_PER_DIR, i % FILES_PER_DIR);
        let path = dir.join(&rel);
        if i % FILES_PER_DIR == 0 {
            let parent = path.parent().context("generated path has no parent")?;
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create '{}'", parent.display()))?;
        }
        let text = file_text(&rel, i as u64);
        bytes += text.len();
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write '{}'", path.display()))?;
    }
    env.run(&Cmd::git(dir, ["add", "--all"]))?;
    env.run(&Cmd::git(
        dir,
        [
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            &format!("synthetic repository: {files} files"),
        ],
    ))?;
    Ok(Subject {
        path: dir.to_path_buf(),
        base: "main".to_string(),
        origin: format!(
            "generated: {files} files in {} directories, {:.1} MB, one commit, loose objects",
            files.div_ceil(FILES_PER_DIR),
            bytes as f64 / 1e6
        ),
    })
}

/// Deterministic, distinct text: every line names its file, so no two blobs
/// are equal and delta compression has little to find.
fn file_text(rel: &str, seed: u64) -> String {
    const WORDS: &[&str] = &[
        "alpha", "branch", "commit", "delta", "event", "fetch", "graph", "handoff", "index",
        "journal", "kernel", "ledger", "merge", "notes", "object", "patch", "queue", "rebase",
        "stash", "tree", "update", "verify", "worker", "xref", "yield", "zlib",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::with_capacity(LINES_PER_FILE * 104);
    for line in 0..LINES_PER_FILE {
        let start = text.len();
        let _ = write!(text, "{rel}:{line:02}:");
        while text.len() - start < 96 {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let _ = write!(text, " {}", WORDS[(state % WORDS.len() as u64) as usize]);
        }
        text.push('\n');
    }
    text
}

/// A clone of the user's repository, so that the benchmarks never touch it:
/// `git clone --local --no-checkout`, which hard-links the objects, or copies
/// them (`--no-hardlinks`) when the scratch directory is on another
/// filesystem (git does not fall back by itself).
pub fn clone(env: &Env, source: &Path, dir: &Path) -> Result<Subject> {
    use std::os::unix::fs::MetadataExt as _;
    let source = source
        .canonicalize()
        .with_context(|| format!("cannot find repository '{}'", source.display()))?;
    let parent = dir.parent().context("clone target has no parent")?;
    let device = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.dev())
            .with_context(|| format!("cannot stat '{}'", path.display()))
    };
    let mut clone = Cmd::git(parent, ["clone", "--quiet", "--local", "--no-checkout"]);
    let how = if device(&source)? == device(parent)? {
        "git clone --local --no-checkout"
    } else {
        clone = clone.arg("--no-hardlinks");
        "git clone --local --no-checkout --no-hardlinks, as the scratch directory is on another filesystem"
    };
    env.run(
        &clone
            .arg(source.display().to_string())
            .arg(dir.display().to_string()),
    )?;
    let branch = env
        .read(&Cmd::git(
            dir,
            ["symbolic-ref", "--quiet", "--short", "HEAD"],
        ))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let base = match branch {
        Some(branch) => branch,
        None => {
            // Detached HEAD: give it a name to spawn from.
            env.run(&Cmd::git(dir, ["branch", "bench-base", "HEAD"]))?;
            "bench-base".to_string()
        }
    };
    let files = env
        .read(&Cmd::git(dir, ["ls-tree", "-r", "--name-only", "HEAD"]))?
        .lines()
        .count();
    Ok(Subject {
        path: dir.to_path_buf(),
        base: base.clone(),
        origin: format!(
            "clone of {} ({how}; the original is not modified): {files} files at {base}",
            source.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_text_is_about_forty_lines_of_a_hundred_bytes() {
        let text = file_text("d000/f00.txt", 0);
        assert_eq!(text.lines().count(), LINES_PER_FILE);
        assert!((3_600..4_600).contains(&text.len()), "{}", text.len());
        assert_ne!(text, file_text("d000/f01.txt", 1));
    }
}
