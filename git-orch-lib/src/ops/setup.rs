//! Ready-to-run checkouts: the repository's setup commands (`[setup] run`
//! in `.orch.toml`, or `orch.setup`), run in each new checkout before its
//! agent starts, and its teardown commands (`[setup] teardown`,
//! `orch.teardown`), run before a checkout is removed. Each runs with
//! `sh -c` in the checkout the way its agent runs: inside the sandbox for
//! a sandboxed worker (a teardown runs in files the worker wrote).

use anyhow::{Context as _, Result};

use crate::config::Settings;
use crate::exit::Hint;
use crate::local::Local;

/// Which commands: setup or teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Setup,
    Teardown,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::Teardown => "teardown",
        }
    }

    fn commands(self, settings: &Settings) -> &[String] {
        match self {
            Stage::Setup => &settings.setup,
            Stage::Teardown => &settings.teardown,
        }
    }
}

/// Run the `stage` commands of worker `id` in its checkout, in order, their
/// output on stderr; the first that fails stops them, and is the error.
pub fn run(stage: Stage, settings: &Settings, id: &str, local: &Local) -> Result<()> {
    for command in stage.commands(settings) {
        eprintln!("{} of '{id}': {command}", stage.name());
        let mut process = crate::ops::confine::command(local, settings, command)?;
        process
            .current_dir(&local.path)
            .env("ORCH_WORKER", id)
            .env("ORCH_CHECKOUT", &local.path)
            .envs(local.port.map(|port| ("ORCH_PORT", port.to_string())))
            .stdin(std::process::Stdio::null())
            // Its output is progress: on stderr, as ours is.
            .stdout(std::io::stderr());
        for var in crate::git::inherited_git_env() {
            process.env_remove(var);
        }
        let status = process
            .status()
            .with_context(|| format!("cannot run the {} command '{command}'", stage.name()))?;
        if !status.success() {
            let how = status
                .code()
                .map_or_else(|| "was killed".to_string(), |code| format!("exited {code}"));
            return Err(Hint::new(format!(
                "the {} command '{command}' of '{id}' {how}",
                stage.name()
            ))
            .hint(match stage {
                Stage::Setup => "fix it in [setup] of .orch.toml (or orch.setup), then spawn again",
                Stage::Teardown => "fix it in [setup] of .orch.toml (or orch.teardown)",
            })
            .into());
        }
    }
    Ok(())
}
