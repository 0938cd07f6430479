//! Timing: variants measured round by round, interleaved.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::env::{Cmd, Env};

/// Placeholder in a variant's commands (arguments, variables and directory),
/// replaced by a number that is new for every run of every variant (so that
/// runs can use distinct worker ids and paths).
pub const SEQ: &str = "{n}";

static NEXT_SEQ: AtomicUsize = AtomicUsize::new(1);

/// One thing to time: untimed `prepare`, timed `timed` (their times are
/// summed), untimed `cleanup` that must restore the state before `prepare`.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Key in the report, e.g. `spawn/ours`.
    pub key: String,
    pub prepare: Vec<Cmd>,
    pub timed: Vec<Cmd>,
    pub cleanup: Vec<Cmd>,
}

impl Variant {
    pub fn new(key: &str, timed: Vec<Cmd>) -> Variant {
        Variant {
            key: key.to_string(),
            prepare: Vec::new(),
            timed,
            cleanup: Vec::new(),
        }
    }

    pub fn prepare(mut self, cmds: Vec<Cmd>) -> Variant {
        self.prepare = cmds;
        self
    }

    pub fn cleanup(mut self, cmds: Vec<Cmd>) -> Variant {
        self.cleanup = cmds;
        self
    }

    fn once(&self, env: &Env) -> Result<Duration> {
        let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed).to_string();
        let numbered = |cmd: &Cmd| Cmd {
            argv: cmd.argv.iter().map(|a| a.replace(SEQ, &seq)).collect(),
            dir: match cmd.dir.to_str() {
                Some(dir) if dir.contains(SEQ) => dir.replace(SEQ, &seq).into(),
                _ => cmd.dir.clone(),
            },
            expects_no: cmd.expects_no,
            env: cmd
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.replace(SEQ, &seq)))
                .collect(),
        };
        for cmd in &self.prepare {
            env.run(&numbered(cmd))
                .with_context(|| format!("{}: prepare", self.key))?;
        }
        let mut total = Duration::ZERO;
        for cmd in &self.timed {
            total += env.time(&numbered(cmd)).with_context(|| self.key.clone())?;
        }
        for cmd in &self.cleanup {
            env.run(&numbered(cmd))
                .with_context(|| format!("{}: cleanup", self.key))?;
        }
        Ok(total)
    }
}

/// The timings of one variant.
#[derive(Clone, Debug)]
pub struct Stats {
    pub key: String,
    pub samples_ms: Vec<f64>,
}

impl Stats {
    fn sorted(&self) -> Vec<f64> {
        let mut s = self.samples_ms.clone();
        s.sort_by(f64::total_cmp);
        s
    }

    pub fn median(&self) -> f64 {
        let s = self.sorted();
        match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// `warmup` untimed rounds, then `runs` timed rounds. Each round runs every
/// variant once, starting one later each round, so that slow drift of the
/// machine (other load, page cache, a growing registry) hits all alike.
pub fn measure(env: &Env, variants: &[Variant], warmup: usize, runs: usize) -> Result<Vec<Stats>> {
    let mut stats: Vec<Stats> = variants
        .iter()
        .map(|v| Stats {
            key: v.key.clone(),
            samples_ms: Vec::with_capacity(runs),
        })
        .collect();
    let n = variants.len();
    for round in 0..warmup + runs {
        if round < warmup {
            eprint!("\r  warm-up {}/{warmup}   ", round + 1);
        } else {
            eprint!("\r  run {}/{runs}       ", round - warmup + 1);
        }
        for k in 0..n {
            let i = (round + k) % n;
            let elapsed = variants[i].once(env)?;
            if round >= warmup {
                stats[i].samples_ms.push(elapsed.as_secs_f64() * 1e3);
            }
        }
    }
    eprintln!();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_counts() {
        let s = |v: &[f64]| Stats {
            key: String::new(),
            samples_ms: v.to_vec(),
        };
        assert_eq!(s(&[3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(s(&[4.0, 1.0, 3.0, 2.0]).median(), 2.5);
        assert_eq!(s(&[4.0, 1.0, 3.0, 2.0]).min(), 1.0);
        assert!(s(&[]).median().is_nan());
    }
}
