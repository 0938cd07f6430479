//! The base a worker is spawned from: the one asked for (fetched first with
//! `--fetch`), else the repository's default branch, with close names
//! suggested when it does not exist.

use anyhow::{Result, bail};

use crate::contract::quote;
use crate::exit::Hint;
use crate::git::{Oid, Repo};
use crate::registry;
use crate::ui::short;

/// The base to spawn from: what was asked, else the default branch found locally.
pub fn resolve_base(repo: &Repo, requested: Option<String>, fetch: bool) -> Result<(String, Oid)> {
    let name = match requested {
        Some(name) => name,
        None => default_branch(repo)?,
    };
    if fetch {
        fetch_base(repo, &name)?;
    }
    match repo.resolve_commit(&name)? {
        Some(oid) if fetch => fresher_upstream(repo, name, oid),
        Some(oid) => Ok((name, oid)),
        None => Err(missing_base(repo, &name, fetch)),
    }
}

/// After `--fetch` of a local branch: its remote-tracking branch, when the
/// fetch brought it ahead of the local one (said); the local branch when it
/// is as new or newer, or has diverged (said too).
fn fresher_upstream(repo: &Repo, name: String, local: Oid) -> Result<(String, Oid)> {
    let Some(upstream) = upstream_of(repo, &name)? else {
        return Ok((name, local));
    };
    let Some(remote) = repo.resolve_commit(&upstream)? else {
        return Ok((name, local));
    };
    if remote == local || repo.is_ancestor(remote, local)? {
        return Ok((name, local));
    }
    if repo.is_ancestor(local, remote)? {
        eprintln!(
            "your '{name}' is behind '{upstream}' ({} here, {} fetched): spawning from '{upstream}'",
            short(&local.to_string()),
            short(&remote.to_string())
        );
        return Ok((upstream, remote));
    }
    eprintln!(
        "warning: your '{name}' and '{upstream}' have diverged: spawning from your '{name}' ({}); --base {upstream} spawns from what was fetched",
        short(&local.to_string())
    );
    Ok((name, local))
}

/// The remote-tracking branch of local branch `name`: its configured
/// upstream, else `origin/<name>`.
fn upstream_of(repo: &Repo, name: &str) -> Result<Option<String>> {
    if !repo.branch_exists(name)? {
        return Ok(None);
    }
    let remote = repo.config_string(&format!("branch.{name}.remote"))?;
    let merge = repo.config_string(&format!("branch.{name}.merge"))?;
    let tracking = match (
        remote,
        merge.as_deref().and_then(|m| m.strip_prefix("refs/heads/")),
    ) {
        (Some(remote), Some(branch)) if remote != "." => format!("{remote}/{branch}"),
        _ => format!("origin/{name}"),
    };
    Ok(repo
        .resolve_commit(&format!("refs/remotes/{tracking}"))?
        .map(|_| tracking))
}

/// The repository's default branch, found without the network: the local
/// branch `origin/HEAD` names, else `main`, else `master`, else HEAD.
pub fn default_branch(repo: &Repo) -> Result<String> {
    if let Some(target) = repo.symbolic_target("refs/remotes/origin/HEAD")?
        && let Some(name) = target.strip_prefix("refs/remotes/origin/")
        && repo.branch_exists(name)?
    {
        return Ok(name.to_string());
    }
    for name in ["main", "master"] {
        if repo.branch_exists(name)? {
            // Without origin/HEAD, "main" is a guess: say so when you are
            // on another branch (a `trunk`, with a stale `main` beside it).
            if let Some(on) = repo.head_branch()?
                && let Some(on) = on.strip_prefix("refs/heads/")
                && on != name
            {
                eprintln!(
                    "warning: spawning from '{name}', though you are on '{on}': nothing says which branch is the default (no origin/HEAD)"
                );
                eprintln!(
                    "hint: --base {on}, or set it once: git config orch.base {on} (or `git remote set-head origin --auto`)"
                );
            }
            return Ok(name.to_string());
        }
    }
    if repo.resolve_commit("HEAD")?.is_some() {
        return Ok("HEAD".to_string());
    }
    Err(
        Hint::new("the repository has no commits yet, so there is no base to spawn from")
            .hint("make a first commit, or pass --base <rev>")
            .into(),
    )
}

pub fn missing_base(repo: &Repo, name: &str, fetched: bool) -> anyhow::Error {
    let mut err = Hint::new(format!("base {} does not exist", quote(name)));
    let names = repo
        .ref_short_names(registry::NAMESPACE)
        .unwrap_or_default();
    let close = close_matches(name, &names);
    if !close.is_empty() {
        err = err.hint(format!(
            "did you mean {}?",
            close
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    if !fetched && name.contains('/') {
        err = err.hint("if it exists on a remote, add --fetch to fetch it first");
    }
    err.hint("list branches with `git branch -a`").into()
}

/// Names within a small edit distance of `name`, closest first.
pub fn close_matches(name: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance <= 2.max(name.len() / 4) && *distance < candidate.len().max(name.len())
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, c)| c.clone()).collect()
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// `--fetch`: fetch the remote the base lives on, telling network failures
/// apart from a branch the remote does not have.
pub fn fetch_base(repo: &Repo, name: &str) -> Result<()> {
    let remotes = repo.remotes()?;
    let (remote, branch) = match remotes.iter().find(|r| name.starts_with(&format!("{r}/"))) {
        Some(remote) => (remote.clone(), Some(name[remote.len() + 1..].to_string())),
        None => {
            let upstream = repo.config_string(&format!("branch.{name}.remote"))?;
            match upstream.or_else(|| remotes.iter().find(|r| *r == "origin").cloned()) {
                Some(remote) => (remote, None),
                None => {
                    return Err(Hint::new(format!(
                        "--fetch: no remote to fetch base {} from",
                        quote(name)
                    ))
                    .hint(
                        "add a remote with `git remote add origin <url>`, or spawn without --fetch",
                    )
                    .into());
                }
            }
        }
    };
    let out = repo.fetch(&remote, &[])?;
    if out.status == 0 {
        return Ok(());
    }
    let stderr = out.stderr.trim().to_string();
    if is_network_error(&stderr) {
        let local = repo.resolve_commit(name).ok().flatten();
        let mut err = Hint::new(format!(
            "cannot reach remote '{remote}' to fetch base {}: {stderr}",
            quote(name)
        ));
        err = match local {
            Some(oid) => err.hint(format!(
                "spawn from the local copy instead: drop --fetch ({name} is at {} here)",
                short(&oid.to_string())
            )),
            None => err.hint(
                "spawn from a local branch instead: drop --fetch and pass --base <local-branch>",
            ),
        };
        return Err(err.into());
    }
    if stderr.contains("couldn't find remote ref")
        || stderr.contains("does not appear to be a git repository")
    {
        let what = branch
            .map(|b| format!("branch '{b}'"))
            .unwrap_or_else(|| "the repository".to_string());
        return Err(
            Hint::new(format!("remote '{remote}' does not have {what}: {stderr}"))
                .hint("check the name with `git ls-remote --heads <remote>`")
                .into(),
        );
    }
    bail!("fetch from '{remote}' failed: {stderr}")
}

pub fn is_network_error(stderr: &str) -> bool {
    crate::git::remote_failure(stderr).0 == "the network failed"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let names = vec![
            "main".to_string(),
            "master".to_string(),
            "feature/login".to_string(),
        ];
        assert_eq!(close_matches("mian", &names), vec!["main"]);
        assert_eq!(close_matches("feature/logn", &names), vec!["feature/login"]);
        assert!(close_matches("zzzzzz", &names).is_empty());
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("main", "main"), 0);
        assert_eq!(edit_distance("mian", "main"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("master", "mastr"), 1);
    }

    #[test]
    fn network_errors_are_recognised() {
        assert!(is_network_error(
            "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused"
        ));
        assert!(!is_network_error("fatal: couldn't find remote ref nope"));
    }
}
