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

use anyhow::Result;

use crate::cli::{Cli, Command};
use orch::exit::Outcome;
use orch::git::Repo;

pub fn run(cli: Cli) -> Result<Outcome> {
    match &cli.command {
        // doctor also checks the installation, so it runs outside a repository too.
        Command::Doctor(args) => return doctor::doctor(Repo::discover().ok().as_ref(), args),
        // The sandbox trampoline needs no repository, and only returns on failure.
        Command::SandboxExec(args) => return sandbox_exec(args),
        // join may clone first.
        Command::Join(args) => return join::join(args),
        Command::Hub(args) => match &args.command {
            crate::cli::HubCommand::Init(args) => return hook::hub_init(args),
            crate::cli::HubCommand::Rules(args) => return hook::hub_rules(args),
        },
        _ => {}
    }
    let repo = Repo::discover()?;
    // What sandboxed workers wrote in their clones, before it is read.
    if matches!(
        cli.command,
        Command::List(_)
            | Command::Show(_)
            | Command::Rm(_)
            | Command::Check(_)
            | Command::Log(_)
            | Command::Timeline(_)
            | Command::Cleanup(_)
            | Command::Report(_)
            | Command::Message(_)
            | Command::Rebase(_)
            | Command::Relaunch(_)
    ) {
        orch::ops::collect::collect_all(&repo)?;
    }
    match cli.command {
        Command::Spawn(args) => spawn::spawn(&repo, *args),
        Command::List(args) => list::list(&repo, &args),
        Command::Show(args) => list::show(&repo, &args),
        Command::Current(args) => list::current(&repo, &args),
        Command::Rm(args) => rm::rm(&repo, &args),
        Command::Prune(args) => prune::prune(&repo, &args),
        Command::Check(args) => check::check(&repo, &args),
        Command::CiCheck(args) => check::ci_check(&repo, &args),
        Command::Hook(args) => hook::hook(&repo, &args),
        Command::Log(args) => events::log(&repo, &args),
        Command::Timeline(args) => events::timeline(&repo, &args),
        Command::Notify(args) => events::notify(&repo, &args),
        Command::Message(args) => events::message(&repo, &args),
        Command::Inbox(args) => events::inbox(&repo, &args),
        Command::Wait(args) => events::wait(&repo, &args),
        Command::Dashboard(args) => dashboard::dashboard(&repo, &args),
        Command::Output(args) => agent::output(&repo, &args),
        Command::Relaunch(args) => agent::relaunch(&repo, &args),
        Command::Cleanup(args) => cleanup::cleanup(&repo, &args),
        Command::Sync(args) => orch::ops::sync::sync(&repo, args.remote.as_deref()),
        Command::Admit(args) => join::admit(&repo, &args),
        Command::Rebase(args) => orch::ops::rebase::rebase(&repo, &args.id, args.onto.as_deref()),
        Command::Key(_) => join::key(&repo),
        Command::Report(args) => report::report(&repo, &args),
        Command::Plan(args) => plan::plan(&repo, &args),
        Command::Ready(args) => plan::ready(&repo, &args),
        Command::Graph(args) => plan::graph(&repo, &args),
        Command::AgentRun(args) => orch::ops::agent::agent_run(&repo, &args.id),
        Command::Doctor(_) | Command::Hub(_) | Command::Join(_) | Command::SandboxExec(_) => {
            unreachable!("handled above")
        }
    }
}

/// `git worker sandbox-exec`: become the program, sandboxed; exit 125
/// when the sandbox cannot be made (as `env` and `timeout` do).
fn sandbox_exec(args: &crate::cli::SandboxExecArgs) -> Result<Outcome> {
    let spec = orch::sandbox::Spec {
        write: args.write.clone(),
        network: args.network == "on",
        unix_sockets: args.unix_sockets,
    };
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no program to run"))?;
    let (code, err) = orch::sandbox::exec(&spec, program, rest);
    eprint!("{}", orch::exit::render(&err));
    Ok(Outcome::Code(code))
}
