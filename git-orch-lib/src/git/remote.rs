//! Talking to remotes (fetch, push, bundles, clones) and what a failure
//! means.

use std::ffi::OsStr;
use std::path::Path;

use anyhow::Result;

use super::{Git, Oid, Output, Repo};

/// Why talking to a remote failed, from git's own message: what it was,
/// and what to do about it.
pub fn remote_failure(stderr: &str) -> (&'static str, &'static str) {
    const NETWORK: &[&str] = &[
        "Could not resolve host",
        "unable to access",
        "Connection refused",
        "unable to connect",
        "Connection timed out",
        "Network is unreachable",
        "No route to host",
        "the remote end hung up",
        "Operation timed out",
        "Temporary failure in name resolution",
    ];
    const AUTH: &[&str] = &[
        "Permission denied",
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "Host key verification failed",
        "403",
        "401",
    ];
    const MISSING: &[&str] = &[
        "does not appear to be a git repository",
        "Repository not found",
        "not found",
        "No such file or directory",
        "couldn't find remote ref",
    ];
    if AUTH.iter().any(|s| stderr.contains(s)) {
        (
            "access denied",
            "check your credentials or ssh key, as for `git fetch` there",
        )
    } else if NETWORK.iter().any(|s| stderr.contains(s)) {
        (
            "the network failed",
            "check the connection and the remote's URL (git remote -v); nothing was changed here",
        )
    } else if MISSING.iter().any(|s| stderr.contains(s)) {
        (
            "no such repository or ref there",
            "check the remote's URL (git remote -v) and that the hub was set up (git worker hub init)",
        )
    } else {
        ("git failed", "the message above is git's own")
    }
}

impl Repo {
    /// Whether a remote called `name` is configured.
    pub fn has_remote(&self, name: &str) -> Result<bool> {
        Ok(self.git(["remote", "get-url", name]).output()?.status == 0)
    }

    /// The names of the configured remotes.
    pub fn remotes(&self) -> Result<Vec<String>> {
        Ok(self
            .git(["remote"])
            .read()?
            .lines()
            .map(str::to_string)
            .collect())
    }

    pub fn add_remote(&self, name: &str, url: &Path) -> Result<()> {
        self.git(["remote", "add", name]).arg(url).run()
    }

    /// Remove remote `name`; not an error when there is none.
    pub fn remove_remote(&self, name: &str) -> Result<()> {
        self.git(["remote", "remove", name]).output().map(drop)
    }

    pub fn set_remote_url(&self, name: &str, url: &Path) -> Result<()> {
        self.git(["remote", "set-url", name]).arg(url).run()
    }

    /// `git fetch --quiet --no-write-fetch-head <remote> <refspecs>`: the
    /// caller reads the status and git's messages.
    pub fn fetch(&self, remote: impl AsRef<OsStr>, refspecs: &[String]) -> Result<Output> {
        self.git(["fetch", "--quiet", "--no-write-fetch-head"])
            .arg(remote)
            .args(refspecs)
            .output()
    }

    /// `git fetch --quiet <remote> <refspec>`, leaving what it fetched in
    /// `FETCH_HEAD`.
    pub fn fetch_to_fetch_head(&self, remote: &str, refspec: &str) -> Result<Output> {
        self.git(["fetch", "--quiet", remote, refspec]).output()
    }

    /// `git push --quiet --porcelain [--atomic] <remote> <refspecs>`,
    /// never forced unless a refspec says `+`.
    pub fn push(
        &self,
        remote: impl AsRef<OsStr>,
        refspecs: &[String],
        atomic: bool,
    ) -> Result<Output> {
        let mut git = self.git(["push", "--quiet", "--porcelain"]);
        if atomic {
            git = git.arg("--atomic");
        }
        git.arg(remote).args(refspecs).output()
    }

    /// `git push --porcelain <remote> <refspecs>`, not atomic: each ref
    /// lands or is refused on its own; what happened to each, parsed.
    pub fn push_each(&self, remote: &str, refspecs: &[String]) -> Result<Pushed> {
        // Not --quiet: with it, git reports only the refused refs.
        let out = self
            .git(["push", "--porcelain", "--no-progress"])
            .arg(remote)
            .args(refspecs)
            .output()?;
        Ok(Pushed {
            refs: parse_porcelain(&out.stdout),
            remote: out
                .stderr
                .lines()
                .filter_map(|line| line.strip_prefix("remote: "))
                .map(|line| line.trim_end().to_string())
                .filter(|line| !line.is_empty())
                .collect(),
            status: out.status,
            stderr: out.stderr,
        })
    }

    /// Delete `branch` on `remote` if it is still at `expected` there
    /// (`--force-with-lease`).
    pub fn delete_remote_branch(
        &self,
        remote: &str,
        branch: &str,
        expected: Oid,
    ) -> Result<Output> {
        self.git(["push", "--quiet"])
            .arg(format!("--force-with-lease=refs/heads/{branch}:{expected}"))
            .args([remote, "--delete", branch])
            .output()
    }

    /// Where `branch` is on `remote` (`git ls-remote --heads`): `Ok(None)`
    /// when the remote has no such branch; an error carries git's message.
    pub fn remote_branch(
        &self,
        remote: &str,
        branch: &str,
    ) -> Result<std::result::Result<Option<Oid>, String>> {
        let listed = self
            .git([
                "ls-remote",
                "--heads",
                remote,
                &format!("refs/heads/{branch}"),
            ])
            .output()?;
        if listed.status != 0 {
            return Ok(Err(listed.stderr.trim().to_string()));
        }
        Ok(Ok(listed
            .stdout
            .split_whitespace()
            .next()
            .and_then(|sha| Oid::from_str(sha).ok())))
    }

    /// `git bundle create` of `refs`, without what `exclude` has.
    pub fn bundle_create(&self, path: &Path, refs: &[String], exclude: &str) -> Result<Output> {
        self.git(["bundle", "create", "--quiet"])
            .arg(path)
            .args(refs)
            .arg(format!("^{exclude}"))
            .output()
    }

    /// `git bundle verify`: whether this repository has what the bundle needs.
    pub fn bundle_verify(&self, path: &Path) -> Result<Output> {
        self.git(["bundle", "verify", "--quiet"]).arg(path).output()
    }

    /// The refs a bundle holds, by name.
    pub fn bundle_refs(&self, path: &Path) -> Result<Vec<String>> {
        let heads = self.git(["bundle", "list-heads"]).arg(path).read()?;
        Ok(heads
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(_, name)| name.to_string()))
            .collect())
    }
}

/// `git clone --quiet <url> <dir>`, run in `cwd`.
pub fn clone(cwd: &Path, url: &str, dir: &Path) -> Result<Output> {
    Git::new(cwd)
        .args(["clone", "--quiet", url])
        .arg(dir)
        .output()
}

/// `git init --bare --quiet <path>`.
pub fn init_bare(path: &Path) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    Git::new(parent)
        .args(["init", "--bare", "--quiet"])
        .arg(path)
        .run()
}

/// What a `git push --porcelain` did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// One per refspec git reported on.
    pub refs: Vec<PushedRef>,
    /// What the remote's hooks said (`remote: ` lines, prefix removed).
    pub remote: Vec<String>,
    pub status: i32,
    pub stderr: String,
}

/// One ref of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRef {
    /// The ref on the remote.
    pub refname: String,
    /// git's flag: ` ` fast-forward, `+` forced, `-` deleted, `*` new,
    /// `=` up to date, `!` refused.
    pub flag: char,
    /// `[remote rejected]`, `[rejected]`, `[new branch]`, `a..b`, ...
    pub summary: String,
    /// Why, for a refused ref: `pre-receive hook declined`, `hook
    /// declined` (the `update` hook), `non-fast-forward`, `fetch first`, ...
    pub reason: Option<String>,
}

impl PushedRef {
    pub fn refused(&self) -> bool {
        self.flag == '!'
    }
}

/// Parse `git push --porcelain` output: `<flag>\t<from>:<to>\t<summary> (<reason>)`.
pub fn parse_porcelain(stdout: &str) -> Vec<PushedRef> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let flag = fields.next()?.chars().next()?;
            let spec = fields.next()?;
            let rest = fields.next().unwrap_or("");
            let refname = spec.rsplit_once(':').map_or(spec, |(_, to)| to).to_string();
            let (summary, reason) = match rest.rsplit_once(" (") {
                Some((summary, reason)) if reason.ends_with(')') => (
                    summary.to_string(),
                    Some(reason.trim_end_matches(')').to_string()),
                ),
                _ => (rest.to_string(), None),
            };
            Some(PushedRef {
                refname,
                flag,
                summary,
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod porcelain_tests {
    use super::*;

    #[test]
    fn porcelain_lines_say_what_happened_to_each_ref() {
        let out = "To ../hub.git\n \tHEAD:refs/heads/x\t8ee9631..7b7f397\n*\tHEAD:refs/heads/good\t[new branch]\n!\tHEAD:refs/heads/bad\t[remote rejected] (hook declined)\n-\t:refs/heads/old\t[deleted]\nDone\n";
        let refs = parse_porcelain(out);
        assert_eq!(refs.len(), 4);
        assert_eq!(refs[0].refname, "refs/heads/x");
        assert!(!refs[0].refused());
        assert_eq!(refs[2].refname, "refs/heads/bad");
        assert!(refs[2].refused());
        assert_eq!(refs[2].summary, "[remote rejected]");
        assert_eq!(refs[2].reason.as_deref(), Some("hook declined"));
        assert_eq!(refs[3].refname, "refs/heads/old");
        assert_eq!(refs[3].flag, '-');
    }
}
