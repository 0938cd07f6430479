//! `git worker output` and `git worker relaunch`: a worker's agent, after
//! spawn started it.

use anyhow::Result;

use crate::cli::{OutputArgs, RelaunchArgs};
use orch::exit::Outcome;
use orch::git::Repo;
use orch::role::require_coordinator;

pub fn output(repo: &Repo, args: &OutputArgs) -> Result<Outcome> {
    let stdout = std::io::stdout();
    orch::ops::agent::output(repo, &args.id, args.follow, &mut stdout.lock())?;
    Ok(Outcome::Success)
}

pub fn relaunch(repo: &Repo, args: &RelaunchArgs) -> Result<Outcome> {
    require_coordinator(repo, "git worker relaunch")?;
    let template = orch::ops::agent::template(args.prompt_template.as_deref())?;
    let how = orch::ops::agent::Relaunch {
        exec: args.exec.as_deref(),
        agent: args.agent.as_deref(),
        resume: args.resume,
        tty: args.tty,
    };
    let (pid, command) = orch::ops::agent::relaunch(repo, &args.id, &how, &template)?;
    eprintln!("started the agent of '{}' (pid {pid}): {command}", args.id);
    Ok(Outcome::Success)
}
