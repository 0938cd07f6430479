//! The task contract a worker is spawned under, and validation of everything
//! a user can type into one: worker ids, globs, labels and task files.
//!
//! Validation happens before anything is written, so bad input never leaves
//! a trace in the repository.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::exit::Hint;

/// Longest worker id accepted: ids become ref components, branch names and directory names.
pub const MAX_ID_LEN: usize = 64;

/// The contract as recorded in the registry at spawn time. The coordinator's
/// copy is the authority: nothing a worker writes changes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Contract {
    pub id: String,
    /// The worker's branch, without `refs/heads/`.
    pub branch: String,
    /// The exact commit the worker starts from.
    pub base: String,
    /// What the user named as base (`main`, `origin/main`, a sha).
    pub base_ref: String,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub verify: Vec<String>,
    #[serde(default = "yes")]
    pub require_change: bool,
    /// Seconds each verification command may take (`None`: the tools' default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The worker's public signing key (OpenSSH format): the events and
    /// handoffs it signs with it count as its own. Empty: the coordinator
    /// records this worker's events for it (a sandboxed worker), or its
    /// key is not admitted yet (`git worker admit`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

fn yes() -> bool {
    true
}

/// A task file (`--task file.toml`): every contract field a user may set.
/// Unknown keys and wrong types are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TaskFile {
    pub id: Option<String>,
    pub base: Option<String>,
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub verify: Option<Vec<String>>,
    pub require_change: Option<bool>,
    pub verify_timeout: Option<u64>,
    pub description: Option<String>,
    /// Tasks that must land first (`git worker plan`).
    pub depends_on: Option<Vec<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl TaskFile {
    /// A TOML task file, or (`.md`) Markdown with TOML front matter between
    /// `+++` lines, whose body is the description unless one is given.
    pub fn load(path: &Path) -> Result<TaskFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read task file '{}'", path.display()))?;
        let markdown = path.extension().is_some_and(|e| e == "md");
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let (front, body) = if markdown {
            // Fences are lines that are exactly `+++` (trailing blanks aside).
            let mut lines = text.split_inclusive('\n');
            let fence = |line: &str| line.trim_end() == "+++";
            if !lines.next().is_some_and(fence) {
                return Err(Hint::new(format!(
                    "task file '{}' has no TOML front matter",
                    path.display()
                ))
                .hint("start it with a line '+++', the TOML, and another line '+++'; the Markdown after is the description")
                .into());
            }
            let mut front = String::new();
            let mut closed = false;
            for line in lines.by_ref() {
                if fence(line) {
                    closed = true;
                    break;
                }
                front.push_str(line);
            }
            if !closed {
                return Err(Hint::new(format!(
                    "task file '{}': the front matter has no closing '+++' line",
                    path.display()
                ))
                .into());
            }
            let body: String = lines.collect();
            (front, Some(body))
        } else {
            (text.to_string(), None)
        };
        let body = body.as_deref().map(|b| b.trim_start_matches(['\r', '\n']));
        let mut task: TaskFile = toml::from_str(&front).map_err(|err| {
            Hint::new(format!("invalid task file '{}': {}", path.display(), toml_message(&err)))
                .hint("task files accept: id, base, allow, deny, verify, require-change, verify-timeout, description, depends-on, [labels]")
        })?;
        if let Some(body) = body
            && task.description.is_none()
            && !body.trim().is_empty()
        {
            task.description = Some(body.trim_end().to_string());
        }
        Ok(task)
    }
}

/// One line of a toml error, with its position.
pub fn toml_message(err: &toml::de::Error) -> String {
    let message = err.message().trim().to_string();
    match err.span() {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message,
    }
}

/// Quote user input for an error message, with control characters escaped.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.escape_debug())
}

/// Check a worker id: it becomes a ref name component, a branch name suffix,
/// a directory name and a worktree name, so it is kept to a portable subset.
pub fn validate_id(id: &str) -> Result<()> {
    let problem = if id.is_empty() {
        Some("it is empty")
    } else if id.chars().count() > MAX_ID_LEN {
        Some("it is longer than 64 characters")
    } else if id.starts_with('-') {
        Some("it starts with '-'")
    } else if id.starts_with('.') {
        Some("it starts with '.'")
    } else if id.contains("..") {
        Some("it contains '..'")
    } else if id.ends_with('.') || id.ends_with(".lock") {
        Some("it ends with '.' or '.lock'")
    } else if id.chars().any(char::is_control) {
        Some("it contains control characters")
    } else if id.contains('/') {
        Some("it contains '/'")
    } else if id.chars().any(char::is_whitespace) {
        Some("it contains whitespace")
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("it contains characters other than letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Hint::new(format!("invalid worker id {}: {problem}", quote(id)))
            .hint("ids are 1-64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit")
            .into()),
    }
}

/// Check a path glob of a contract: relative to the repository root, never
/// leaving it, and valid glob syntax.
pub fn validate_glob(glob: &str) -> Result<()> {
    let bad = |problem: &str| -> anyhow::Error {
        Hint::new(format!("invalid path glob {}: {problem}", quote(glob)))
            .hint("globs are relative to the repository root, e.g. 'src/auth/**' or '*.md'")
            .into()
    };
    if glob.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    if glob.starts_with('/')
        || glob.starts_with('\\')
        || glob.starts_with('~')
        || has_drive_prefix(glob)
    {
        return Err(bad("it is an absolute path"));
    }
    if glob.split(['/', '\\']).any(|part| part == "..") {
        return Err(bad("it leaves the repository ('..')"));
    }
    // Paths are matched as git writes them: no '.' or empty components, so
    // './secrets/**' would silently match nothing.
    if glob
        .trim_end_matches('/')
        .split('/')
        .any(|part| part.is_empty() || part == ".")
    {
        return Err(bad(
            "it has a '.' or empty path component (write 'dir/**', not './dir/**' or 'a//b')",
        ));
    }
    if glob.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    globset::GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .map_err(|err| bad(&format!("{}", err.kind())))?;
    Ok(())
}

fn has_drive_prefix(glob: &str) -> bool {
    let bytes = glob.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Parse `key=value` for `--label`.
pub fn parse_label(text: &str) -> Result<(String, String)> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(
            Hint::new(format!("invalid label {}: expected key=value", quote(text)))
                .hint("for example: --label team=auth")
                .into(),
        );
    };
    validate_label(key, value)?;
    Ok((key.to_string(), value.to_string()))
}

pub fn validate_label(key: &str, value: &str) -> Result<()> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Hint::new(format!("invalid label key {}", quote(key)))
            .hint("label keys are ASCII letters, digits, '-', '_' or '.'")
            .into());
    }
    if value.chars().any(char::is_control) {
        anyhow::bail!(
            "invalid label value {} for {}: it contains control characters",
            quote(value),
            quote(key)
        );
    }
    Ok(())
}

pub fn validate_verify(command: &str) -> Result<()> {
    if command.trim().is_empty() {
        return Err(Hint::new("invalid verification command: it is empty")
            .hint("give a shell command, e.g. --verify 'cargo test'")
            .into());
    }
    if command.contains('\0') {
        anyhow::bail!(
            "invalid verification command {}: it contains a NUL byte",
            quote(command)
        );
    }
    Ok(())
}

impl Contract {
    /// Check every field a user could have supplied.
    pub fn validate(&self) -> Result<()> {
        validate_id(&self.id)?;
        for glob in self.allow.iter().chain(&self.deny) {
            validate_glob(glob)?;
        }
        for command in &self.verify {
            validate_verify(command)?;
        }
        for (key, value) in &self.labels {
            validate_label(key, value)?;
        }
        if self.verify_timeout == Some(0) {
            return Err(Hint::new("invalid verification timeout: 0 seconds")
                .hint("give the seconds each verification command may take, e.g. --verify-timeout 600")
                .into());
        }
        Ok(())
    }

    /// The fields the coordinator changes after spawn, each with its own
    /// event: the worker's key (`admitted`, by `git worker admit`) and the
    /// base (`rebased`, by `git worker rebase`). Every other field is set
    /// once.
    pub const CHANGED_LATER: &'static [&'static str] = &["key", "base"];

    /// Events that change a contract ([`Contract::CHANGED_LATER`]).
    pub const CHANGE_EVENTS: &'static [&'static str] = &["admitted", "rebased"];

    /// Whether `other` differs from this one only in fields the coordinator
    /// changes after spawn (and does differ).
    pub fn changed_later(&self, other: &Contract) -> bool {
        let differences = self.differences(other);
        !differences.is_empty()
            && differences
                .iter()
                .all(|field| Contract::CHANGED_LATER.contains(field))
    }

    /// Field names whose values differ, for "different contract" errors.
    pub fn differences(&self, other: &Contract) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.branch != other.branch {
            out.push("branch");
        }
        if self.base != other.base {
            out.push("base");
        }
        if self.allow != other.allow {
            out.push("allow");
        }
        if self.deny != other.deny {
            out.push("deny");
        }
        if self.verify != other.verify {
            out.push("verify");
        }
        if self.require_change != other.require_change {
            out.push("require-change");
        }
        if self.verify_timeout != other.verify_timeout {
            out.push("verify-timeout");
        }
        if self.description != other.description {
            out.push("description");
        }
        if self.labels != other.labels {
            out.push("labels");
        }
        if self.key != other.key {
            out.push("key");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        for id in ["a", "w1", "fix-auth", "T_2.x", &"a".repeat(64)] {
            validate_id(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }

    #[test]
    fn rejects_hostile_ids() {
        let long = "a".repeat(300);
        for (id, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("..", "'.'"),
            ("a..b", "'..'"),
            ("-rf", "'-'"),
            ("a b", "whitespace"),
            ("a\nb", "control"),
            ("a\u{1b}b", "control"),
            (long.as_str(), "longer"),
            ("x.lock", ".lock"),
            ("é", "characters"),
            ("a:b", "characters"),
        ] {
            let err = validate_id(id).expect_err(id).to_string();
            assert!(err.contains(why), "{id:?}: {err}");
        }
    }

    #[test]
    fn rejects_escaping_globs() {
        for glob in [
            "/etc/**",
            "../x",
            "src/../../x",
            "",
            "C:/x",
            "~/x",
            "a[",
            "\\abs",
            "./secrets/**",
            "a//b",
            "a/./b",
        ] {
            assert!(validate_glob(glob).is_err(), "{glob:?} accepted");
        }
        for glob in ["src/**", "*.md", "docs/*.txt", "a/{b,c}/**", "docs/"] {
            validate_glob(glob).unwrap_or_else(|e| panic!("{glob}: {e}"));
        }
    }

    #[test]
    fn labels_need_key_and_value() {
        assert_eq!(
            parse_label("team=auth").unwrap(),
            ("team".into(), "auth".into())
        );
        assert_eq!(parse_label("k=").unwrap(), ("k".into(), String::new()));
        assert!(parse_label("novalue").is_err());
        assert!(parse_label("=x").is_err());
    }

    #[test]
    fn task_file_rejects_unknown_keys_and_wrong_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "allow = ['src/**']\nfrobnicate = 1\n").unwrap();
        let err = format!("{:#}", TaskFile::load(&path).unwrap_err());
        assert!(err.contains("frobnicate"), "{err}");
        std::fs::write(&path, "verify = 'make test'\n").unwrap();
        let err = format!("{:#}", TaskFile::load(&path).unwrap_err());
        assert!(err.contains("invalid type"), "{err}");
        std::fs::write(
            &path,
            "verify = ['make']\nrequire-change = false\n[labels]\nteam = 'x'\n",
        )
        .unwrap();
        let task = TaskFile::load(&path).unwrap();
        assert_eq!(task.require_change, Some(false));
        assert_eq!(task.labels["team"], "x");
    }
}
