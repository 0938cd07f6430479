use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = git_worker::cli::Cli::parse(); // usage errors exit 2 here
    orch::exit::report(git_worker::commands::run(cli))
}
