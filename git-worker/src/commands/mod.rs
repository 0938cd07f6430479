//! One function per subcommand, each returning an [`Outcome`].

mod agent;
mod check;
mod cleanup;
mod dashboard;
mod doctor;
mod events;
mod hook;
mod join;
mod list;
mod plan;
mod prune;
mod report;
mod rm;
mod spawn;
mod sync;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::config::KEY_WORKER;
use crate::exit::{Hint, Outcome};
use crate::git::Repo;

pub use list::timestamp;
pub use prune::{Debris, find_debris, recover_applies};

/// Whether worker `id` is being removed, or is gone, so that what was just
/// read of its checkout may be torn (a checkout being removed loses its
/// files one by one): a reader of many workers skips such a worker instead
/// of reporting what it read, or failing. Asked after the read, it also
/// catches a removal that began and ended during it.
pub(crate) fn removed_meanwhile(repo: &Repo, id: &str) -> Result<bool> {
    Ok(crate::registry::removal_running(repo, id).is_some()
        || repo.ref_target(&crate::registry::live_ref(id))?.is_none())
}

/// Version of every `--json` document this binary prints.
pub const JSON_VERSION: u32 = 1;

pub fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        // doctor also checks the installation, so it runs outside a repository too.
        Command::Doctor(args) => return doctor::doctor(Repo::discover().ok().as_ref(), args),
        // join may clone first.
        Command::Join(args) => return join::join(args),
        Command::Hub(args) => match &args.command {
            crate::cli::HubCommand::Init(args) => return hook::hub_init(args),
        },
        _ => {}
    }
    let repo = Repo::discover()?;
    match cli.command {
        Command::Spawn(args) => spawn::spawn(&repo, *args),
        Command::List(args) => list::list(&repo, &args),
        Command::Show(args) => list::show(&repo, &args),
        Command::Current(args) => list::current(&repo, &args),
        Command::Rm(args) => rm::rm(&repo, &args),
        Command::Prune(args) => prune::prune(&repo, &args),
        Command::Check(args) => check::check(&repo, &args),
        Command::Hook(args) => hook::hook(&repo, &args),
        Command::Log(args) => events::log(&repo, &args),
        Command::Timeline(args) => events::timeline(&repo, &args),
        Command::Notify(args) => events::notify(&repo, &args),
        Command::Message(args) => events::message(&repo, &args),
        Command::Inbox(args) => events::inbox(&repo, &args),
        Command::Wait(args) => events::wait(&repo, &args),
        Command::Dashboard(args) => dashboard::dashboard(&repo, &args),
        Command::Cleanup(args) => cleanup::cleanup(&repo, &args),
        Command::Sync(args) => sync::sync(&repo, &args),
        Command::Report(args) => report::report(&repo, &args),
        Command::Plan(args) => plan::plan(&repo, &args),
        Command::Ready(args) => plan::ready(&repo, &args),
        Command::Graph(args) => plan::graph(&repo, &args),
        Command::AgentRun(args) => agent::agent_run(&repo, &args),
        Command::Doctor(_) | Command::Hub(_) | Command::Join(_) => unreachable!("handled above"),
    }
}

/// Which side of the coordination this checkout is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Worker(String),
}

/// A checkout is a worker's when its own `config.worktree` (or, for a
/// clone, its local config) names the worker in `orch.worker`.
pub fn role(repo: &Repo) -> Result<Role> {
    Ok(match repo.worktree_config_string(KEY_WORKER)? {
        Some(id) if !id.is_empty() => Role::Worker(id),
        _ => Role::Coordinator,
    })
}

/// Refuse coordinator commands in a worker's checkout.
pub fn require_coordinator(repo: &Repo, command: &str) -> Result<()> {
    if let Role::Worker(id) = role(repo)? {
        let mut err = Hint::new(format!(
            "'{command}' is a coordinator command, and this is the checkout of worker '{id}'"
        ));
        if let Some(main) = repo.main_workdir() {
            err = err.hint(format!(
                "run it in the coordinator's checkout: {}",
                main.display()
            ));
        }
        return Err(err.hint("workers can run: git worker current").into());
    }
    Ok(())
}

/// Refuse worker commands outside a worker's checkout; returns the worker id.
pub fn require_worker(repo: &Repo, command: &str) -> Result<String> {
    match role(repo)? {
        Role::Worker(id) => Ok(id),
        Role::Coordinator => Err(Hint::new(format!(
            "'{command}' only works in a worker's checkout, and this is not one"
        ))
        .hint("`git worker list` shows each worker's checkout in its PATH column")
        .into()),
    }
}

/// The live entry of worker `id`, else its latest archived one (`true`:
/// archived): what `show`, `log` and `wait` read.
pub(crate) fn entry_any(repo: &Repo, id: &str) -> Result<(crate::registry::Entry, bool)> {
    crate::contract::validate_id(id)?;
    if let Some(entry) = crate::registry::load(repo, id)? {
        return Ok((entry, false));
    }
    match crate::registry::archived(repo, id)?.pop() {
        Some(entry) => Ok((entry, true)),
        None => Err(Hint::new(format!("worker '{id}' is not registered"))
            .hint("`git worker list` shows the registered workers")
            .into()),
    }
}

/// Rows as aligned text: every column padded to its widest cell (counted
/// in characters), two spaces between columns, no trailing blanks.
pub fn format_table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// "3m", "2h", "4d": how long ago `then` was.
pub fn age(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The first 7 hex digits of an object id, as git abbreviates.
pub fn short(oid: &str) -> &str {
    oid.get(..7).unwrap_or(oid)
}

/// Print a JSON document on stdout.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_compact() {
        assert_eq!(age(100, 100), "0s");
        assert_eq!(age(0, 59), "59s");
        assert_eq!(age(0, 60), "1m");
        assert_eq!(age(0, 7200), "2h");
        assert_eq!(age(0, 86_400 * 3), "3d");
        assert_eq!(age(10, 0), "0s");
    }
}
