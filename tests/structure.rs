//! The architecture, checked: one library that no binary's command code is
//! imported from, no import cycles between modules, small functions and
//! files, one place that builds git command lines, one place that spells a
//! `refs/orch/` name, and one place for machine-local paths.
//!
//! The source is read as text: comments and string contents are blanked
//! before paths are looked for, and test code (`#[cfg(test)]` and what
//! follows it, test-only modules) is left out. `cargo test -p e2e
//! structure -- --nocapture` prints the module graph and the largest files
//! and functions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::workspace_root;

/// Longest production function, in lines (signature to closing brace).
const MAX_FUNCTION_LINES: usize = 120;
/// Longest source file, in lines (production code; generated files aside).
const MAX_FILE_LINES: usize = 800;

/// The crates and their source roots.
const CRATES: &[(&str, &str)] = &[
    ("orch", "git-orch-lib/src"),
    ("git-worker", "git-worker/src"),
    ("git-handoff", "git-handoff/src"),
    ("git-review-gate", "git-review-gate/src"),
];

/// One source file of a crate.
struct File {
    /// Module path inside its crate: `["registry", "log"]`, `["git"]` for
    /// `git/mod.rs`, `[]` for `lib.rs`.
    module: Vec<String>,
    /// `mod.rs` (or `lib.rs`) of a directory module.
    is_mod: bool,
    path: PathBuf,
    /// The whole file, as written.
    all: String,
    /// The production code (test code cut), as written.
    text: String,
    /// The same with comments blanked.
    code: String,
    /// The same with comments and string contents blanked.
    bare: String,
}

/// Blank comments (and, with `strings`, the contents of string and char
/// literals), keeping line breaks, so that line numbers stay.
fn blank(src: &str, strings: bool) -> String {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    let clear = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |p| i + p);
            clear(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let end = src[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |p| i + 2 + p + 2);
            clear(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"r#\"") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|b| **b == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = src[start..].find(&close).map_or(bytes.len(), |p| start + p);
            if strings {
                clear(&mut out, start, end);
            }
            i = end + close.len();
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            if strings {
                clear(&mut out, i + 1, j.min(bytes.len()));
            }
            i = j + 1;
        } else if bytes[i] == b'\'' {
            // A char literal ('x', '\n', '\''), not a lifetime ('a).
            let len = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|b| *b == b'\'').map(|p| p + 3)
            } else {
                let ch = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(ch + 2)
            };
            match len {
                Some(len) => {
                    if strings {
                        clear(&mut out, i + 1, i + len - 1);
                    }
                    i += len;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The text before the first `#[cfg(test)]` at the start of a line.
fn production(text: &str) -> &str {
    match text.find("\n#[cfg(test)]") {
        Some(at) => &text[..at + 1],
        None => text,
    }
}

fn read_crate(root: &Path) -> Vec<File> {
    fn walk(dir: &Path, module: &[String], out: &mut Vec<File>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut sub = module.to_vec();
                sub.push(name);
                walk(&path, &sub, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let is_mod = matches!(name.as_str(), "mod" | "lib" | "main");
            let mut module = module.to_vec();
            if !is_mod {
                module.push(name);
            }
            let all = std::fs::read_to_string(&path).unwrap();
            let text = production(&all).to_string();
            out.push(File {
                module,
                is_mod,
                path,
                code: blank(&text, false),
                bare: blank(&text, true),
                text,
                all,
            });
        }
    }
    let mut files = Vec::new();
    walk(root, &[], &mut files);
    // Modules declared only for tests (`#[cfg(test)] mod hostile;`).
    let test_only: BTreeSet<Vec<String>> = files
        .iter()
        .filter(|f| f.is_mod)
        .flat_map(|f| {
            let parent = f.module.clone();
            f.all.split("#[cfg(test)]\nmod ").skip(1).map(move |rest| {
                let mut m = parent.clone();
                m.push(rest.split(';').next().unwrap().trim().to_string());
                m
            })
        })
        .collect();
    files.retain(|f| !test_only.contains(&f.module));
    files.retain(|f| f.path.file_name().is_none_or(|n| n != "main.rs"));
    files
}

/// Every path that starts with `crate::` or `super::` in `code`, as its
/// segments (groups `{a, b::c}` expand to one path per member), with the
/// `super` resolved against `module` (the file's own module path).
fn paths(code: &str, module: &[String], is_mod: bool) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    // The module `super` names from this file.
    let parent: Vec<String> = if is_mod {
        module[..module.len().saturating_sub(1)].to_vec()
    } else {
        module[..module.len() - 1].to_vec()
    };
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if (i > 0 && (ident(chars[i - 1]) || chars[i - 1] == ':')) || !ident(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let base = match word.as_str() {
            "crate" => Vec::new(),
            "super" => parent.clone(),
            _ => continue,
        };
        if !(chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':')) {
            continue;
        }
        i += 2;
        expand(&chars, &mut i, base, &mut out);
    }
    out
}

/// Read `a::b::{c, d::{e}}` at `i`, pushing each full path onto `out`.
fn expand(chars: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut path = prefix;
    loop {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
        if chars.get(*i) == Some(&'{') {
            *i += 1;
            loop {
                expand(chars, i, path.clone(), out);
                while *i < chars.len() && chars[*i].is_whitespace() {
                    *i += 1;
                }
                match chars.get(*i) {
                    Some(',') => *i += 1,
                    Some('}') => {
                        *i += 1;
                        return;
                    }
                    _ => return,
                }
                while *i < chars.len() && chars[*i].is_whitespace() {
                    *i += 1;
                }
                if chars.get(*i) == Some(&'}') {
                    *i += 1;
                    return;
                }
            }
        }
        let start = *i;
        while *i < chars.len() && ident(chars[*i]) {
            *i += 1;
        }
        if *i == start {
            out.push(path);
            return;
        }
        path.push(chars[start..*i].iter().collect());
        if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
            *i += 2;
        } else {
            out.push(path);
            return;
        }
    }
}

/// Names of the items each file defines, by module path.
fn item_index(files: &[File]) -> BTreeMap<Vec<String>, BTreeSet<String>> {
    let mut index = BTreeMap::new();
    for file in files {
        let mut names = BTreeSet::new();
        for line in file.code.lines() {
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .collect();
            for pair in words.windows(2) {
                if matches!(
                    pair[0],
                    "fn" | "struct" | "enum" | "const" | "static" | "type" | "trait" | "mod"
                ) {
                    names.insert(pair[1].to_string());
                }
            }
        }
        index.insert(file.module.clone(), names);
    }
    index
}

/// The module-level dependency graph of a crate: edges between top-level
/// modules, and inside each directory module between its files (its
/// `mod.rs`, which declares and re-exports them, aside).
fn graph(files: &[File]) -> BTreeMap<String, BTreeSet<String>> {
    let index = item_index(files);
    let modules: BTreeSet<&Vec<String>> = files.iter().map(|f| &f.module).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edge = |from: String, to: String| {
        if from != to {
            edges.entry(from).or_default().insert(to);
        }
    };
    for file in files {
        if file.module.is_empty() {
            continue;
        }
        let own_top = file.module[0].clone();
        for path in paths(&file.code, &file.module, file.is_mod) {
            let Some(top) = path.first() else { continue };
            if !modules.iter().any(|m| m.first() == Some(top)) {
                continue;
            }
            if *top != own_top {
                edge(own_top.clone(), top.clone());
                continue;
            }
            // Inside one directory module: which sibling file it names.
            if file.is_mod || file.module.len() < 2 || path.len() < 2 {
                continue;
            }
            let dir = &file.module[..file.module.len() - 1];
            let mut sibling = dir.to_vec();
            sibling.push(path[1].clone());
            let target = if modules.contains(&sibling) {
                Some(sibling)
            } else {
                // An item the directory re-exports: the file defining it.
                index
                    .iter()
                    .find(|(m, names)| {
                        m.len() == dir.len() + 1 && m.starts_with(dir) && names.contains(&path[1])
                    })
                    .map(|(m, _)| m.clone())
            };
            if let Some(target) = target {
                edge(file.module.join("::"), target.join("::"));
            }
        }
    }
    edges
}

/// Every strongly connected component with more than one node.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn reach(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(node) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    }
    let nodes: BTreeSet<&String> = edges.keys().chain(edges.values().flatten()).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for node in nodes {
        if done.contains(node) {
            continue;
        }
        let forward = reach(edges, node);
        let component: Vec<String> = forward
            .iter()
            .filter(|other| reach(edges, other).contains(node))
            .cloned()
            .collect();
        for member in &component {
            done.insert(member.clone());
        }
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

/// `(lines, name, first line)` of every function in `code`.
fn functions(code: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let after = ["pub fn ", "pub(crate) fn ", "pub(super) fn ", "fn "]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
        let Some(after) = after else { continue };
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i32, false);
        for (end, text) in lines.iter().enumerate().skip(at) {
            for c in text.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                out.push((end - at + 1, name.clone(), at + 1));
                break;
            }
            if !opened && text.trim_end().ends_with(';') {
                break;
            }
        }
    }
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn all_files() -> Vec<(&'static str, Vec<File>)> {
    CRATES
        .iter()
        .map(|(name, root)| (*name, read_crate(&workspace_root().join(root))))
        .collect()
}

#[test]
fn no_module_imports_another_in_a_cycle() {
    let mut found = Vec::new();
    for (name, files) in all_files() {
        let edges = graph(&files);
        println!("{name}:");
        for (from, to) in &edges {
            println!(
                "  {from} -> {}",
                to.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for cycle in cycles(&edges) {
            found.push(format!("{name}: {}", cycle.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn functions_and_files_stay_small() {
    let mut too_long = Vec::new();
    let mut sizes = Vec::new();
    let mut lengths = Vec::new();
    for (_, files) in all_files() {
        for file in &files {
            let lines = file.text.lines().count();
            sizes.push((lines, relative(&file.path)));
            // cli.rs is the man page: clap's types with their documentation.
            let generated = file.path.ends_with("cli.rs");
            if lines > MAX_FILE_LINES && !generated {
                too_long.push(format!(
                    "{}: {lines} lines (at most {MAX_FILE_LINES})",
                    relative(&file.path)
                ));
            }
            for (count, name, at) in functions(&file.bare) {
                lengths.push((count, format!("{}:{at} {name}", relative(&file.path))));
                if count > MAX_FUNCTION_LINES {
                    too_long.push(format!(
                        "{}:{at}: fn {name} is {count} lines (at most {MAX_FUNCTION_LINES})",
                        relative(&file.path)
                    ));
                }
            }
        }
    }
    sizes.sort_by(|a, b| b.cmp(a));
    lengths.sort_by(|a, b| b.cmp(a));
    println!("largest files:");
    for (lines, path) in sizes.iter().take(10) {
        println!("  {lines:5}  {path}");
    }
    println!("longest functions:");
    for (lines, name) in lengths.iter().take(10) {
        println!("  {lines:5}  {name}");
    }
    assert!(too_long.is_empty(), "{}", too_long.join("\n"));
}

/// Where a needle may appear in code (comments aside): the module that
/// owns what it names.
fn confined(needles: &[&str], owner: &str, strings: bool) -> Vec<String> {
    let mut found = Vec::new();
    for (_, files) in all_files() {
        for file in &files {
            let path = relative(&file.path);
            if path.starts_with(owner) {
                continue;
            }
            let code = if strings { &file.code } else { &file.bare };
            for (number, line) in code.lines().enumerate() {
                if needles.iter().any(|n| line.contains(n)) {
                    found.push(format!("{path}:{}: {}", number + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn only_the_git_module_builds_git_commands() {
    let found = confined(
        &[
            ".git([",
            ".git(vec",
            "Git::new(",
            "git2::",
            "duct::",
            "Command::new(\"git\")",
        ],
        "git-orch-lib/src/git/",
        true,
    );
    assert!(
        found.is_empty(),
        "git run outside git/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_registry_spells_a_registry_ref() {
    let found = confined(&["refs/orch"], "git-orch-lib/src/registry/", true);
    assert!(
        found.is_empty(),
        "refs/orch/ spelled outside registry/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_local_spells_a_machine_local_path() {
    let found = confined(
        &["join(\"orch\")", "\"orch/"],
        "git-orch-lib/src/local/",
        true,
    );
    // The default branch prefix is a name, not a path.
    let found: Vec<String> = found
        .into_iter()
        .filter(|line| !line.contains("DEFAULT_PREFIX"))
        .collect();
    assert!(
        found.is_empty(),
        "<common>/orch/ spelled outside local/:\n{}",
        found.join("\n")
    );
}

#[test]
fn binaries_depend_on_the_library_only() {
    for (name, _) in &CRATES[1..] {
        let manifest =
            std::fs::read_to_string(workspace_root().join(name).join("Cargo.toml")).unwrap();
        for (other, _) in &CRATES[1..] {
            assert!(
                other == name || !manifest.contains(&format!("\n{other}")),
                "{name} depends on {other}: binaries share code through the library only"
            );
        }
        assert!(
            manifest.contains("\norch"),
            "{name} does not use the library"
        );
    }
    let lib = std::fs::read_to_string(workspace_root().join("git-orch-lib/Cargo.toml")).unwrap();
    assert!(!lib.contains("\nclap"), "the library has no command line");
}
