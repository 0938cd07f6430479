use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = git_review_gate::cli::Cli::parse(); // usage errors exit 2 here
    orch::exit::report(git_review_gate::commands::run(cli))
}
