//! The repositories benchmarks run in: generated, or a clone of the user's.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::env::{Cmd, Env};

pub const FILES_PER_DIR: usize = 50;
pub const LINES_PER_FILE: usize = 40;

/// At most this many files are changed by the benchmarks that change files
/// (hook, handoff).
pub const MAX_EDIT_FILES: usize = 1_000;

/// A repository to benchmark in, with the branch to spawn from.
pub struct Subject {
    pub path: PathBuf,
    pub base: String,
    /// How it came to be, for the report.
    pub origin: String,
    /// Tracked regular text files the benchmarks change (at most
    /// [`MAX_EDIT_FILES`], in tree order).
    pub edit_files: Vec<String>,
    /// Where the benchmarks add new files (a directory, relative to the root).
    pub new_dir: String,
    /// The allowed and denied globs of the workers that change files.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Subject {
    /// `--allow <glob>` and `--deny <glob>` arguments for `git worker spawn`.
    pub fn contract_args(&self) -> Vec<String> {
        let allow = self
            .allow
            .iter()
            .flat_map(|g| ["--allow".to_string(), g.clone()]);
        let deny = self
            .deny
            .iter()
            .flat_map(|g| ["--deny".to_string(), g.clone()]);
        allow.chain(deny).collect()
    }

    /// The first `count` files the benchmarks change (fewer if the
    /// repository has fewer).
    pub fn edits(&self, count: usize) -> &[String] {
        &self.edit_files[..count.min(self.edit_files.len())]
    }
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
    settle_index(env, dir)?;
    Ok(Subject {
        path: dir.to_path_buf(),
        base: "main".to_string(),
        edit_files: (0..files.min(MAX_EDIT_FILES))
            .map(|i| format!("d{:03}/f{:02}.txt", i / FILES_PER_DIR, i % FILES_PER_DIR))
            .collect(),
        new_dir: "d000/new".to_string(),
        allow: vec!["d*/**".to_string()],
        deny: vec!["secret/**".to_string()],
        origin: format!(
            "generated: {files} files in {} directories, {:.1} MB, one commit, loose objects",
            files.div_ceil(FILES_PER_DIR),
            bytes as f64 / 1e6
        ),
    })
}

/// Refresh the index of the checkout at `dir` with `git status`, a second
/// after the last file was written. Files written in the same second as the
/// index are "racily clean": git re-reads them whenever it compares the
/// checkout with the index, until an index is written in a later second.
/// Which files those are depends on where a second boundary fell while the
/// files were written, so timings of commands that compare (apply, report)
/// would vary from one setup to the next.
pub fn settle_index(env: &Env, dir: &Path) -> Result<()> {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.run(&Cmd::git(dir, ["status", "--porcelain"]))
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
/// `git clone --local` (checked out, as a coordinator's repository is: apply
/// works in it), which hard-links the objects, or copies
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
    let mut clone = Cmd::git(
        parent,
        ["-c", "checkout.workers=0", "clone", "--quiet", "--local"],
    );
    let how = if device(&source)? == device(parent)? {
        "git clone --local"
    } else {
        clone = clone.arg("--no-hardlinks");
        "git clone --local --no-hardlinks, as the scratch directory is on another filesystem"
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
    settle_index(env, dir)?;
    let listing = env.read(&Cmd::git(dir, ["ls-tree", "-r", "-l", "-z", &base]))?;
    let entries = parse_ls_tree(&listing);
    let tracked = entries.len();
    // Regular files of at most 1 MB whose names are plain enough for a
    // shell loop and a pathspec file (no newline), in tree order.
    let candidates: Vec<String> = entries
        .into_iter()
        .filter(|e| {
            matches!(e.mode, "100644" | "100755") && e.size <= 1 << 20 && !e.path.contains('\n')
        })
        .map(|e| e.path.to_string())
        .take(2 * MAX_EDIT_FILES)
        .collect();
    let edit_files = text_files(env, dir, &base, candidates)?;
    if edit_files.is_empty() {
        bail!(
            "'{}' has no regular text file at {base} for the benchmarks to change",
            source.display()
        );
    }
    let new_dir = match edit_files[0].rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/bench-new"),
        None => "bench-new".to_string(),
    };
    let orch_toml = env
        .read(&Cmd::git(
            dir,
            ["ls-tree", "--name-only", &base, ".orch.toml"],
        ))?
        .trim()
        .to_string();
    Ok(Subject {
        path: dir.to_path_buf(),
        base: base.clone(),
        origin: format!(
            "clone of {} ({how}; the original is not modified): {tracked} files at {base}, \
             changing up to {} of its regular text files, allowed paths '**'{}",
            source.display(),
            edit_files.len(),
            if orch_toml.is_empty() {
                ""
            } else {
                " (its .orch.toml sets team defaults for every worker spawned here)"
            }
        ),
        edit_files,
        new_dir,
        allow: vec!["**".to_string()],
        deny: Vec::new(),
    })
}

/// One entry of `git ls-tree -r -l -z`.
#[derive(Debug, PartialEq)]
struct TreeEntry<'a> {
    mode: &'a str,
    size: u64,
    path: &'a str,
}

/// Entries of `git ls-tree -r -l -z` output: `<mode> <type> <oid> <size>\t<path>\0`
/// (size `-` for submodules, read as 0).
fn parse_ls_tree(listing: &str) -> Vec<TreeEntry<'_>> {
    listing
        .split('\0')
        .filter_map(|record| {
            let (meta, path) = record.split_once('\t')?;
            let mut fields = meta.split_whitespace();
            let mode = fields.next()?;
            let _kind = fields.next()?;
            let _oid = fields.next()?;
            let size = fields.next()?.parse().unwrap_or(0);
            Some(TreeEntry { mode, size, path })
        })
        .collect()
}

/// Paths of `git diff --numstat -z` output (`<added>\t<deleted>\t<path>\0`)
/// that are text (counts, not `-`).
fn parse_numstat_text(numstat: &str) -> Vec<&str> {
    numstat
        .split('\0')
        .filter_map(|record| {
            let mut fields = record.splitn(3, '\t');
            let added = fields.next()?;
            let _deleted = fields.next()?;
            let path = fields.next()?;
            (added != "-").then_some(path)
        })
        .collect()
}

/// Paths of `git check-attr -z filter` output (`<path>\0filter\0<value>\0`)
/// that no filter (e.g. Git LFS) handles.
fn parse_unfiltered(attrs: &str) -> Vec<&str> {
    let fields: Vec<&str> = attrs.split('\0').collect();
    fields
        .chunks_exact(3)
        .filter(|c| matches!(c[2], "unspecified" | "unset"))
        .map(|c| c[0])
        .collect()
}

/// The text files among `candidates` (git's own notion: the diff from the
/// empty tree is not binary) that no filter attribute handles, at most
/// [`MAX_EDIT_FILES`], in the order given.
fn text_files(env: &Env, dir: &Path, base: &str, candidates: Vec<String>) -> Result<Vec<String>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let empty = env
        .read(&Cmd::git(dir, ["hash-object", "-t", "tree", "/dev/null"]))?
        .trim()
        .to_string();
    let mut diff = Cmd::git(
        dir,
        [
            "--literal-pathspecs",
            "diff",
            "--numstat",
            "-z",
            "--no-renames",
            &empty,
            base,
            "--",
        ],
    );
    diff.argv.extend(candidates.iter().cloned());
    let numstat = env.read(&diff)?;
    let text: std::collections::HashSet<&str> = parse_numstat_text(&numstat).into_iter().collect();
    let mut attrs = Cmd::git(dir, ["check-attr", "-z", "filter", "--"]);
    attrs.argv.extend(candidates.iter().cloned());
    let attrs = env.read(&attrs)?;
    let unfiltered: std::collections::HashSet<&str> =
        parse_unfiltered(&attrs).into_iter().collect();
    Ok(candidates
        .iter()
        .filter(|p| text.contains(p.as_str()) && unfiltered.contains(p.as_str()))
        .take(MAX_EDIT_FILES)
        .cloned()
        .collect())
}

/// Write `files` NUL-separated to `path`, for `xargs -0` and
/// `git add --pathspec-from-file --pathspec-file-nul`.
pub fn write_list(path: &Path, files: &[String]) -> Result<()> {
    let mut text = String::new();
    for f in files {
        text.push_str(f);
        text.push('\0');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write '{}'", path.display()))
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

    #[test]
    fn ls_tree_records() {
        let out = "100644 blob aaaa     120\tsrc/a b.rs\x00120000 blob bbbb      7\tlink\0\
                   160000 commit cccc       -\tsub\0";
        assert_eq!(
            parse_ls_tree(out),
            vec![
                TreeEntry {
                    mode: "100644",
                    size: 120,
                    path: "src/a b.rs"
                },
                TreeEntry {
                    mode: "120000",
                    size: 7,
                    path: "link"
                },
                TreeEntry {
                    mode: "160000",
                    size: 0,
                    path: "sub"
                },
            ]
        );
        assert!(parse_ls_tree("").is_empty());
    }

    #[test]
    fn numstat_keeps_text_files() {
        let out = "12\t0\ta.txt\0-\t-\timg.png\x000\t0\tempty\0";
        assert_eq!(parse_numstat_text(out), vec!["a.txt", "empty"]);
    }

    #[test]
    fn check_attr_keeps_unfiltered_files() {
        let out = "a.txt\0filter\0unspecified\0big.bin\0filter\0lfs\0c\0filter\0unset\0";
        assert_eq!(parse_unfiltered(out), vec!["a.txt", "c"]);
    }
}
