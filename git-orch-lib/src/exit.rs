//! The exit-code contract shared by every binary of the suite.
//!
//! * 0: success, or the answer to a question is "yes";
//! * 1: the command ran and the answer is a clean "no" (a check failed,
//!   `doctor` found problems); the command explained why on stderr;
//! * 2: usage or operational error (clap uses 2 as well);
//! * 128+N: interrupted by signal N, after rolling back
//!   ([`crate::interrupt::Interrupted`]).
//!
//! Errors print as `error: <message>` followed by one `hint: <text>` line per
//! hint. Hints travel inside the error chain as [`Hint`] so that any layer can
//! add one and `report` finds them all.

use std::fmt;
use std::process::ExitCode;

/// What a command that did not fail has to say about the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Did what was asked, or the check passed.
    Success,
    /// Ran fine, but the check failed. The command already explained why on stderr.
    CheckFailed,
    /// Pass on another program's exit status (a chained git hook's).
    Code(u8),
}

/// An error message together with hints that tell the user how to fix it.
#[derive(Debug)]
pub struct Hint {
    message: String,
    hints: Vec<String>,
}

impl Hint {
    pub fn new(message: impl Into<String>) -> Self {
        Hint {
            message: message.into(),
            hints: Vec::new(),
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn hints(&self) -> &[String] {
        &self.hints
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hint {}

/// `bail!` with hints: `bail_hint!("worker '{id}' exists"; "run `git worker rm {id}`")`.
#[macro_export]
macro_rules! bail_hint {
    ($msg:expr; $($hint:expr),+ $(,)?) => {
        return Err($crate::exit::Hint::new($msg)$(.hint($hint))+.into())
    };
}

/// Turn the result of a command into the process exit status, printing errors.
pub fn report(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Ok(Outcome::Code(code)) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("{}", render(&err));
            match err.downcast_ref::<crate::interrupt::Interrupted>() {
                Some(interrupted) => ExitCode::from((128 + interrupted.signal).clamp(0, 255) as u8),
                None => ExitCode::from(2),
            }
        }
    }
}

/// The text `report` prints for an error: `error:` line, then hints.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err:#}\n");
    for cause in err.chain() {
        if let Some(hint) = cause.downcast_ref::<Hint>() {
            for line in hint.hints() {
                out.push_str("hint: ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_found_below_context() {
        let err: anyhow::Error = Hint::new("base 'mian' does not exist")
            .hint("did you mean 'main'?")
            .into();
        let err = err.context("cannot spawn 'a'");
        assert_eq!(
            render(&err),
            "error: cannot spawn 'a': base 'mian' does not exist\nhint: did you mean 'main'?\n"
        );
    }

    #[test]
    fn broken_pipe_is_success() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(report(Err(err)), ExitCode::SUCCESS);
    }
}
