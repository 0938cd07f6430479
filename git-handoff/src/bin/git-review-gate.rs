use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = git_handoff::review_gate::cli::Cli::parse(); // usage errors exit 2 here
    git_worker::exit::report(git_handoff::review_gate::run(cli))
}
