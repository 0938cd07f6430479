//! The path rules of a contract, and the check of a set of changed paths
//! against them. Pure: callers collect the changes (from the index, a range
//! of commits, a checkout, a push) and this module judges them.
//!
//! Glob semantics, gitignore-like, matched with globset against the path
//! relative to the repository root with `/` separators:
//!
//! * a pattern without a `/` (other than a trailing one) matches at any
//!   depth: `*.md` matches `README.md` and `docs/a.md`, and `docs/` matches a
//!   `docs` directory anywhere (write `docs/**` for the top-level one);
//! * a pattern with a `/` is anchored at the root: `src/auth/**`, `docs/*.txt`;
//! * `*` and `?` stay within one path component, `**` crosses components,
//!   `[abc]` and `{a,b}` are classes and alternatives;
//! * a pattern also covers everything below what it names: `src/auth` and
//!   `src/auth/` both mean `src/auth/**` as well;
//! * with no allow patterns everything is allowed; a deny pattern wins over
//!   any allow pattern.

use std::path::{Component, Path, PathBuf};

use anyhow::Result;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::contract::Contract;

/// A compiled set of allow and deny patterns.
pub struct Policy {
    allow: Vec<String>,
    deny: Vec<String>,
    allow_set: GlobSet,
    /// One set per deny pattern would be slow; keep the set and map matches back.
    deny_set: GlobSet,
    /// For each glob in `deny_set`, the index of the pattern it came from.
    deny_origin: Vec<usize>,
}

/// What kind of change touched a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Same content, different mode (executable bit, file <-> symlink).
    TypeChanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::TypeChanged => "type changed",
        }
    }
}

/// One changed path, with what the policy needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    /// Raw bytes: file names need not be UTF-8.
    pub path: Vec<u8>,
    pub kind: ChangeKind,
    /// For a symlink on the new side, where it points.
    pub symlink_target: Option<Vec<u8>>,
    /// Whether the new side is a submodule (gitlink).
    pub submodule: bool,
}

/// Which rule a path breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Outside every allow pattern.
    NotAllowed,
    /// Matched by this deny pattern.
    Denied(String),
    /// A symlink whose target is outside the repository.
    SymlinkLeavesRepository(Vec<u8>),
    /// A symlink whose target is outside the allowed paths (or denied).
    SymlinkLeavesAllowedPaths(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<u8>,
    pub kind: ChangeKind,
    pub rule: Rule,
}

impl Violation {
    /// "not in the allowed paths", "denied by 'x'", ...
    pub fn reason(&self) -> String {
        match &self.rule {
            Rule::NotAllowed => "not in the allowed paths".to_string(),
            Rule::Denied(glob) => format!("denied by '{glob}'"),
            Rule::SymlinkLeavesRepository(target) => {
                format!(
                    "symlink to '{}' leaves the repository",
                    display_path(target)
                )
            }
            Rule::SymlinkLeavesAllowedPaths(target) => {
                format!(
                    "symlink to '{}' leaves the allowed paths",
                    display_path(target)
                )
            }
        }
    }

    pub fn rule_name(&self) -> &'static str {
        match self.rule {
            Rule::NotAllowed => "not-allowed",
            Rule::Denied(_) => "denied",
            Rule::SymlinkLeavesRepository(_) => "symlink-leaves-repository",
            Rule::SymlinkLeavesAllowedPaths(_) => "symlink-leaves-allowed-paths",
        }
    }
}

/// A path for messages: UTF-8 as is, other bytes escaped, control characters
/// (newlines in file names) escaped so one path stays on one line.
pub fn display_path(path: &[u8]) -> String {
    let text = String::from_utf8_lossy(path);
    if text.chars().any(|c| c.is_control() || c == '\u{FFFD}') {
        let mut out = String::new();
        for chunk in path.utf8_chunks() {
            out.extend(chunk.valid().chars().flat_map(char::escape_debug));
            for byte in chunk.invalid() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        }
        return out;
    }
    text.into_owned()
}

/// A repository-relative path from git's bytes.
pub fn to_path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The globs one pattern stands for (see the module documentation).
fn expand(pattern: &str) -> Vec<String> {
    let trimmed = pattern.trim_end_matches('/');
    let anchored = trimmed.contains('/');
    let base = if anchored {
        trimmed.to_string()
    } else {
        format!("**/{trimmed}")
    };
    if let Some(dir) = base.strip_suffix("/**") {
        // `dir/**` covers `dir` itself too: a symlink pointing at a denied
        // directory is judged by that directory.
        vec![base.clone(), dir.to_string()]
    } else {
        vec![format!("{base}/**"), base]
    }
}

fn build(patterns: &[String]) -> Result<(GlobSet, Vec<usize>)> {
    let mut builder = GlobSetBuilder::new();
    let mut origin = Vec::new();
    for (index, pattern) in patterns.iter().enumerate() {
        for glob in expand(pattern) {
            builder.add(
                GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()?,
            );
            origin.push(index);
        }
    }
    Ok((builder.build()?, origin))
}

impl Policy {
    pub fn new(allow: &[String], deny: &[String]) -> Result<Policy> {
        let (allow_set, _) = build(allow)?;
        let (deny_set, deny_origin) = build(deny)?;
        Ok(Policy {
            allow: allow.to_vec(),
            deny: deny.to_vec(),
            allow_set,
            deny_set,
            deny_origin,
        })
    }

    pub fn of(contract: &Contract) -> Result<Policy> {
        Policy::new(&contract.allow, &contract.deny)
    }

    pub fn allow(&self) -> &[String] {
        &self.allow
    }

    pub fn deny(&self) -> &[String] {
        &self.deny
    }

    /// `None` when the path may be changed, else the rule it breaks.
    pub fn judge_path(&self, path: &[u8]) -> Option<Rule> {
        let path = to_path(path);
        if let Some(&first) = self.deny_set.matches(&path).first() {
            return Some(Rule::Denied(self.deny[self.deny_origin[first]].clone()));
        }
        if !self.allow.is_empty() && !self.allow_set.is_match(&path) {
            return Some(Rule::NotAllowed);
        }
        None
    }

    /// Every violation among `changes`, in their order.
    pub fn check(&self, changes: &[PathChange]) -> Vec<Violation> {
        let mut out = Vec::new();
        for change in changes {
            if let Some(rule) = self.judge_path(&change.path) {
                out.push(Violation {
                    path: change.path.clone(),
                    kind: change.kind,
                    rule,
                });
                continue;
            }
            if let Some(target) = &change.symlink_target {
                let rule = match resolve_symlink(&change.path, target) {
                    None => Some(Rule::SymlinkLeavesRepository(target.clone())),
                    Some(resolved) => self
                        .judge_path(&resolved)
                        .map(|_| Rule::SymlinkLeavesAllowedPaths(target.clone())),
                };
                if let Some(rule) = rule {
                    out.push(Violation {
                        path: change.path.clone(),
                        kind: change.kind,
                        rule,
                    });
                }
            }
        }
        out
    }
}

/// Where a symlink at `link` (repository-relative) pointing to `target`
/// lands, relative to the repository root; `None` if outside it.
pub fn resolve_symlink(link: &[u8], target: &[u8]) -> Option<Vec<u8>> {
    let target_path = to_path(target);
    if target_path.is_absolute() || target.first() == Some(&b'~') {
        return None;
    }
    let link_path = to_path(link);
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let parent = link_path.parent().unwrap_or(Path::new(""));
    for component in parent.components().chain(target_path.components()) {
        match component {
            Component::Normal(part) => parts.push(part.as_encoded_bytes().to_vec()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], deny: &[&str]) -> Policy {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Policy::new(&s(allow), &s(deny)).unwrap()
    }

    fn change(path: &str) -> PathChange {
        PathChange {
            path: path.as_bytes().to_vec(),
            kind: ChangeKind::Modified,
            symlink_target: None,
            submodule: false,
        }
    }

    #[test]
    fn unanchored_patterns_match_at_any_depth() {
        let p = policy(&["*.md"], &[]);
        assert_eq!(p.judge_path(b"README.md"), None);
        assert_eq!(p.judge_path(b"docs/deep/a.md"), None);
        assert_eq!(p.judge_path(b"src/a.rs"), Some(Rule::NotAllowed));
    }

    #[test]
    fn anchored_patterns_and_directories() {
        let p = policy(&["src/auth/**", "docs/", "Cargo.toml", "lib"], &[]);
        assert_eq!(p.judge_path(b"src/auth/login.rs"), None);
        assert_eq!(p.judge_path(b"src/auth/deep/x.rs"), None);
        assert_eq!(p.judge_path(b"src/authz/x.rs"), Some(Rule::NotAllowed));
        assert_eq!(p.judge_path(b"docs/a/b.txt"), None);
        assert_eq!(p.judge_path(b"Cargo.toml"), None);
        assert_eq!(
            p.judge_path(b"sub/Cargo.toml"),
            None,
            "unanchored name matches at any depth"
        );
        assert_eq!(
            p.judge_path(b"lib/x.rs"),
            None,
            "a directory name covers what is below it"
        );
        // As in gitignore, a trailing slash alone does not anchor: 'docs/' matches at any depth.
        assert_eq!(p.judge_path(b"a/docs/x"), None);
        let anchored = policy(&["docs/**"], &[]);
        assert_eq!(anchored.judge_path(b"a/docs/x"), Some(Rule::NotAllowed));
    }

    #[test]
    fn star_does_not_cross_directories() {
        let p = policy(&["src/*.rs"], &[]);
        assert_eq!(p.judge_path(b"src/a.rs"), None);
        assert_eq!(p.judge_path(b"src/x/a.rs"), Some(Rule::NotAllowed));
    }

    #[test]
    fn a_directory_pattern_covers_the_directory_itself() {
        let p = policy(&["src/**"], &["src/priv/**", "secrets/**"]);
        assert_eq!(
            p.judge_path(b"src/priv"),
            Some(Rule::Denied("src/priv/**".into()))
        );
        assert_eq!(
            p.judge_path(b"secrets"),
            Some(Rule::Denied("secrets/**".into()))
        );
        let mut link = change("src/p");
        link.symlink_target = Some(b"priv".to_vec());
        let mut up = change("src/s");
        up.symlink_target = Some(b"../secrets".to_vec());
        assert_eq!(p.check(&[link, up]).len(), 2);
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = policy(&["src/**"], &["src/auth/secret/**", "*.pem"]);
        assert_eq!(p.judge_path(b"src/auth/login.rs"), None);
        assert_eq!(
            p.judge_path(b"src/auth/secret/k"),
            Some(Rule::Denied("src/auth/secret/**".into()))
        );
        assert_eq!(
            p.judge_path(b"src/x.pem"),
            Some(Rule::Denied("*.pem".into()))
        );
    }

    #[test]
    fn no_allow_patterns_allow_everything_but_denied() {
        let p = policy(&[], &["secrets/"]);
        assert_eq!(p.judge_path(b"anything/at/all"), None);
        assert_eq!(
            p.judge_path(b"secrets/key"),
            Some(Rule::Denied("secrets/".into()))
        );
    }

    #[test]
    fn non_utf8_names_are_matched_and_displayed() {
        let p = policy(&["src/**"], &[]);
        assert_eq!(p.judge_path(b"src/\xff\xfe.bin"), None);
        assert_eq!(p.judge_path(b"\xff/x"), Some(Rule::NotAllowed));
        assert_eq!(display_path(b"a\xffb"), "a\\xffb");
        assert_eq!(display_path(b"line\nbreak"), "line\\nbreak");
        assert_eq!(display_path(b"with space"), "with space");
    }

    #[test]
    fn symlinks_are_judged_by_their_target() {
        assert_eq!(
            resolve_symlink(b"src/link", b"../docs/x"),
            Some(b"docs/x".to_vec())
        );
        assert_eq!(resolve_symlink(b"src/link", b"../../etc/passwd"), None);
        assert_eq!(resolve_symlink(b"link", b"/etc/passwd"), None);
        assert_eq!(
            resolve_symlink(b"src/a/link", b"./b"),
            Some(b"src/a/b".to_vec())
        );
        let p = policy(&["src/**"], &["src/secret/**"]);
        let mut link = change("src/link");
        link.symlink_target = Some(b"../docs/x".to_vec());
        link.kind = ChangeKind::Added;
        let mut escape = change("src/esc");
        escape.symlink_target = Some(b"../../../etc/passwd".to_vec());
        let mut denied = change("src/d");
        denied.symlink_target = Some(b"secret/key".to_vec());
        let mut inside = change("src/ok");
        inside.symlink_target = Some(b"a/b".to_vec());
        let rules: Vec<_> = p
            .check(&[link, escape, denied, inside])
            .into_iter()
            .map(|v| v.rule_name())
            .collect();
        assert_eq!(
            rules,
            [
                "symlink-leaves-allowed-paths",
                "symlink-leaves-repository",
                "symlink-leaves-allowed-paths"
            ]
        );
    }

    #[test]
    fn check_lists_each_offending_path_in_order() {
        let p = policy(&["src/**"], &[]);
        let violations = p.check(&[change("src/ok.rs"), change("docs/a.md"), change("x")]);
        let paths: Vec<_> = violations.iter().map(|v| display_path(&v.path)).collect();
        assert_eq!(paths, ["docs/a.md", "x"]);
        assert_eq!(violations[0].reason(), "not in the allowed paths");
    }
}
