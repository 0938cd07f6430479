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
//!   any allow pattern;
//! * deny patterns ignore case where the repository folds case
//!   (`core.ignorecase`): there `SRC/Secret` and `src/secret` are one file;
//! * a symlink is judged by where it really lands, following the links of
//!   the tree being judged (a link through `d -> .` is followed), so a chain
//!   of links cannot point outside the allowed paths;
//! * a submodule (gitlink) brings in a whole other repository: it needs an
//!   allow pattern naming its path literally (`vendor/lib`); a wildcard
//!   (`vendor/**`) or no allow patterns at all do not allow it.

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
    /// A submodule (gitlink) no allow pattern names.
    Submodule,
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
            Rule::Submodule => format!(
                "a submodule: only an allow pattern naming '{}' itself allows it",
                display_path(&self.path)
            ),
        }
    }

    pub fn rule_name(&self) -> &'static str {
        match self.rule {
            Rule::NotAllowed => "not-allowed",
            Rule::Denied(_) => "denied",
            Rule::SymlinkLeavesRepository(_) => "symlink-leaves-repository",
            Rule::SymlinkLeavesAllowedPaths(_) => "symlink-leaves-allowed-paths",
            Rule::Submodule => "submodule",
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

fn build(patterns: &[String], fold_case: bool) -> Result<(GlobSet, Vec<usize>)> {
    let mut builder = GlobSetBuilder::new();
    let mut origin = Vec::new();
    for (index, pattern) in patterns.iter().enumerate() {
        for glob in expand(pattern) {
            builder.add(
                GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .case_insensitive(fold_case)
                    .build()?,
            );
            origin.push(index);
        }
    }
    Ok((builder.build()?, origin))
}

/// Where the symlinks of the tree being judged point: the target of the
/// symlink at a path, `None` when that path is no symlink there.
pub trait Links {
    fn target(&self, path: &[u8]) -> Option<Vec<u8>>;
}

/// No symlinks beyond those among the changes themselves.
pub struct NoLinks;

impl Links for NoLinks {
    fn target(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

impl<F: Fn(&[u8]) -> Option<Vec<u8>>> Links for F {
    fn target(&self, path: &[u8]) -> Option<Vec<u8>> {
        self(path)
    }
}

/// Links that stop being followed: a loop, or a chain too long to judge.
const MAX_LINKS: usize = 40;

impl Policy {
    /// `fold_case`: deny patterns ignore case (a repository with
    /// `core.ignorecase`).
    pub fn new(allow: &[String], deny: &[String], fold_case: bool) -> Result<Policy> {
        let (allow_set, _) = build(allow, false)?;
        let (deny_set, deny_origin) = build(deny, fold_case)?;
        Ok(Policy {
            allow: allow.to_vec(),
            deny: deny.to_vec(),
            allow_set,
            deny_set,
            deny_origin,
        })
    }

    pub fn of(contract: &Contract, fold_case: bool) -> Result<Policy> {
        Policy::new(&contract.allow, &contract.deny, fold_case)
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

    /// Whether an allow pattern names `path` literally (no wildcard).
    fn names(&self, path: &[u8]) -> bool {
        self.allow.iter().any(|pattern| {
            let literal = pattern.trim_end_matches('/');
            !literal.contains(['*', '?', '[', '{']) && literal.as_bytes() == path
        })
    }

    /// Every violation among `changes`, in their order. Symlinks are
    /// followed through the changes and, for paths the changes leave alone,
    /// through `links` (the rest of the tree being judged).
    pub fn check(&self, changes: &[PathChange], links: &dyn Links) -> Vec<Violation> {
        let changed: std::collections::HashMap<&[u8], &PathChange> =
            changes.iter().map(|c| (c.path.as_slice(), c)).collect();
        let lookup = |path: &[u8]| -> Option<Vec<u8>> {
            match changed.get(path) {
                Some(change) => change.symlink_target.clone(),
                None => links.target(path),
            }
        };
        let mut out = Vec::new();
        for change in changes {
            let rule = self.judge_path(&change.path).or_else(|| {
                if change.submodule && !self.names(&change.path) {
                    return Some(Rule::Submodule);
                }
                let target = change.symlink_target.as_ref()?;
                match resolve_symlink_in(&change.path, target, &lookup) {
                    None => Some(Rule::SymlinkLeavesRepository(target.clone())),
                    Some(resolved) => self
                        .judge_path(&resolved)
                        .map(|_| Rule::SymlinkLeavesAllowedPaths(target.clone())),
                }
            });
            if let Some(rule) = rule {
                out.push(Violation {
                    path: change.path.clone(),
                    kind: change.kind,
                    rule,
                });
            }
        }
        out
    }
}

/// Where a symlink at `link` pointing to `target` really lands, following
/// every symlink `lookup` knows on the way (as the kernel would in a
/// checkout of the tree); `None` outside the repository, or through more
/// than [`MAX_LINKS`] links.
pub fn resolve_symlink_in(
    link: &[u8],
    target: &[u8],
    lookup: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = to_path(link)
        .parent()
        .unwrap_or(Path::new(""))
        .components()
        .map(|c| c.as_os_str().as_encoded_bytes().to_vec())
        .collect();
    // What is left to walk, first component first.
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let push_target = |pending: &mut Vec<Vec<u8>>, target: &[u8]| -> Option<()> {
        let path = to_path(target);
        if path.is_absolute() || target.first() == Some(&b'~') {
            return None;
        }
        let mut components: Vec<Vec<u8>> = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) => components.push(part.as_encoded_bytes().to_vec()),
                Component::CurDir => {}
                Component::ParentDir => components.push(b"..".to_vec()),
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        pending.extend(components.into_iter().rev());
        Some(())
    };
    push_target(&mut pending, target)?;
    let mut followed = 0;
    while let Some(part) = pending.pop() {
        if part == b".." {
            parts.pop()?;
            continue;
        }
        parts.push(part);
        let here = parts.join(&b'/');
        if let Some(next) = lookup(&here) {
            followed += 1;
            if followed > MAX_LINKS {
                return None;
            }
            parts.pop();
            push_target(&mut pending, &next)?;
        }
    }
    Some(parts.join(&b'/'))
}

/// Where a symlink at `link` (repository-relative) pointing to `target`
/// lands, relative to the repository root, by the names alone (no other
/// link followed); `None` if outside it.
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
        Policy::new(&s(allow), &s(deny), false).unwrap()
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
        assert_eq!(p.check(&[link, up], &NoLinks).len(), 2);
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
            .check(&[link, escape, denied, inside], &NoLinks)
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
        let violations = p.check(
            &[change("src/ok.rs"), change("docs/a.md"), change("x")],
            &NoLinks,
        );
        let paths: Vec<_> = violations.iter().map(|v| display_path(&v.path)).collect();
        assert_eq!(paths, ["docs/a.md", "x"]);
        assert_eq!(violations[0].reason(), "not in the allowed paths");
    }

    #[test]
    fn symlink_chains_are_followed_through_the_tree() {
        // src/a/d -> .   and   src/a/k -> d/../b/two.txt: lexically inside
        // src/a, really src/b/two.txt.
        let p = policy(&["src/a/**"], &[]);
        let mut d = change("src/a/d");
        d.symlink_target = Some(b".".to_vec());
        let mut k = change("src/a/k");
        k.symlink_target = Some(b"d/../b/two.txt".to_vec());
        assert_eq!(
            resolve_symlink(b"src/a/k", b"d/../b/two.txt"),
            Some(b"src/a/b/two.txt".to_vec())
        );
        let violations = p.check(&[d.clone(), k.clone()], &NoLinks);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].path, b"src/a/k");
        assert_eq!(violations[0].rule_name(), "symlink-leaves-allowed-paths");
        // The same when `d` was there before (not among the changes).
        let tree = |path: &[u8]| (path == b"src/a/d").then(|| b".".to_vec());
        assert_eq!(p.check(&[k], &tree).len(), 1);
        // A loop is not followed forever.
        let mut l1 = change("src/a/l1");
        l1.symlink_target = Some(b"l2/x".to_vec());
        let mut l2 = change("src/a/l2");
        l2.symlink_target = Some(b"l1".to_vec());
        let rules: Vec<_> = p
            .check(&[l1, l2], &NoLinks)
            .into_iter()
            .map(|v| v.rule_name())
            .collect();
        assert_eq!(
            rules,
            ["symlink-leaves-repository", "symlink-leaves-repository"]
        );
    }

    #[test]
    fn deny_globs_ignore_case_where_the_repository_folds_case() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let sensitive = Policy::new(&[], &s(&["src/secret/**"]), false).unwrap();
        assert_eq!(sensitive.judge_path(b"SRC/Secret/key"), None);
        let folding = Policy::new(&[], &s(&["src/secret/**"]), true).unwrap();
        assert!(matches!(
            folding.judge_path(b"SRC/Secret/key"),
            Some(Rule::Denied(_))
        ));
    }

    #[test]
    fn a_submodule_needs_an_allow_pattern_that_names_it() {
        let mut gitlink = change("vendor/lib");
        gitlink.submodule = true;
        let anything = policy(&[], &[]);
        let rules: Vec<_> = anything
            .check(&[gitlink.clone()], &NoLinks)
            .into_iter()
            .map(|v| v.rule_name())
            .collect();
        assert_eq!(rules, ["submodule"]);
        assert_eq!(
            policy(&["src/**"], &[]).check(&[gitlink.clone()], &NoLinks)[0].rule_name(),
            "not-allowed"
        );
        assert_eq!(
            policy(&["vendor/**"], &[]).check(&[gitlink.clone()], &NoLinks)[0].rule_name(),
            "submodule"
        );
        for named in ["vendor/lib", "vendor/lib/"] {
            assert!(
                policy(&[named, "src/**"], &[])
                    .check(&[gitlink.clone()], &NoLinks)
                    .is_empty()
            );
        }
    }
}
