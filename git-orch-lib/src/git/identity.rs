//! Who a write is recorded under: git's committer identity, by git's own
//! rule, for every command that writes (registry commits, verdicts, landed
//! and rebased commits). Without one, every such command fails before it
//! changes anything, as `git commit` does; nothing is recorded under a
//! made-up identity.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::Repo;
use super::run::Git;
use crate::exit::Hint;

/// A committer identity: name and email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committer {
    pub name: String,
    pub email: String,
}

impl Repo {
    /// git's committer identity, as `git var GIT_COMMITTER_IDENT` has it:
    /// `GIT_COMMITTER_NAME`/`GIT_COMMITTER_EMAIL`, then `committer.*` and
    /// `user.*` config, then `EMAIL`, then what git auto-detects (unless
    /// `user.useConfigOnly`). An error with git's reason and the fix when
    /// there is none.
    pub fn committer(&self) -> Result<Committer> {
        let env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
        let config = |keys: &[&str]| -> Result<Option<String>> {
            for key in keys {
                if let Some(value) = self.config_string(key)?.filter(|v| !v.is_empty()) {
                    return Ok(Some(value));
                }
            }
            Ok(None)
        };
        let name = match env("GIT_COMMITTER_NAME") {
            Some(name) => Some(name),
            None => config(&["committer.name", "user.name"])?,
        };
        let email = match env("GIT_COMMITTER_EMAIL") {
            Some(email) => Some(email),
            None => config(&["committer.email", "user.email"])?.or_else(|| env("EMAIL")),
        };
        if let (Some(name), Some(email)) = (&name, &email) {
            return Ok(Committer {
                name: name.clone(),
                email: email.clone(),
            });
        }
        // The rest is git's auto-detection (the account's name; user@host
        // where the host has a domain): ask git, outside any repository so
        // that no repository's config (a worker's clone) is read, with what
        // this repository's config said.
        let use_config_only = self.config_bool("user.useConfigOnly")?.unwrap_or(false);
        let mut git = Git::new(Path::new("/"));
        if use_config_only {
            git = git.args(["-c", "user.useConfigOnly=true"]);
        }
        git = git.args(["var", "GIT_COMMITTER_IDENT"]);
        for (var, value) in [
            ("GIT_COMMITTER_NAME", &name),
            ("GIT_COMMITTER_EMAIL", &email),
        ] {
            if let Some(value) = value {
                git = git.env(var, value);
            }
        }
        let out = git.output()?;
        if out.status != 0 {
            return Err(unknown(&out.stderr));
        }
        parse_ident(&out.stdout).with_context(|| {
            format!(
                "git var GIT_COMMITTER_IDENT printed '{}'",
                out.stdout.trim()
            )
        })
    }

    /// `Name <email>`: who is acting, as git would record it.
    pub fn identity(&self) -> Result<String> {
        let Committer { name, email } = self.committer()?;
        Ok(format!("{name} <{email}>"))
    }

    pub(super) fn signature(&self) -> Result<git2::Signature<'static>> {
        let Committer { name, email } = self.committer()?;
        git2::Signature::now(&name, &email).map_err(super::clean)
    }
}

/// `Name <email> 1700000000 +0000` -> name and email.
fn parse_ident(line: &str) -> Option<Committer> {
    let line = line.trim();
    let open = line.rfind(" <")?;
    let close = line.rfind('>')?;
    (open < close).then(|| Committer {
        name: line[..open].to_string(),
        email: line[open + 2..close].to_string(),
    })
}

/// The error for no identity: git's own reason (its last `fatal:` line)
/// and git's own fix.
fn unknown(stderr: &str) -> anyhow::Error {
    let reason = stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("fatal: "))
        .unwrap_or("git has no committer identity");
    Hint::new(format!(
        "committer identity unknown ({reason}): git-orch records every write under your git identity, as git commit does"
    ))
    .hint("tell git who you are: git config --global user.email \"you@example.com\"")
    .hint("and: git config --global user.name \"Your Name\" (omit --global to set them for this repository only)")
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_var_output() {
        assert_eq!(
            parse_ident("A. U. Thor <a@example.com> 1700000000 +0100\n"),
            Some(Committer {
                name: "A. U. Thor".into(),
                email: "a@example.com".into()
            })
        );
        assert_eq!(parse_ident("garbage"), None);
    }

    #[test]
    fn the_error_carries_gits_reason_and_its_fix() {
        let err = unknown(
            "Committer identity unknown\n\n*** Please tell me who you are.\n\nfatal: no email was given and auto-detection is disabled\n",
        );
        let rendered = crate::exit::render(&err);
        assert!(
            rendered.contains(
                "committer identity unknown (no email was given and auto-detection is disabled)"
            ),
            "{rendered}"
        );
        assert!(
            rendered.contains("hint: tell git who you are: git config --global user.email"),
            "{rendered}"
        );
    }
}
