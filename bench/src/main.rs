//! `git-orch-bench`: times the built git-orch binaries against plain git,
//! side by side, in a hermetic environment. It builds nothing: build first.
//!
//! ```text
//! cargo build --release --workspace && cargo run --release -p bench -- [options]
//! ```
//!
//! See bench/README.md for what each row compares and how to read it.

mod benches;
mod env;
mod measure;
mod repo;
mod report;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::benches::{NAMES, Outcome, Settings};
use crate::env::{Cmd, Env};

const USAGE: &str = "\
git-orch-bench: time git worker against plain git, side by side

usage: cargo build --release --workspace && cargo run --release -p bench -- [options]

options:
  --bin-dir <dir>   directory of the built binaries, put first on PATH
                    (default: target/release next to this executable, else
                    $CARGO_TARGET_DIR/release, else the workspace's target/release)
  --repo <path>     benchmark spawn and rm in a clone of this repository
                    (git clone --local --no-checkout; the repository itself is not touched)
  --files <n>       files in the generated repository (default 5000; ignored with --repo)
  --workers <n>     workers for the list benchmark (default 1000)
  --runs <n>        timed runs per variant; the median is reported (default 10)
  --warmup <n>      untimed warm-up runs per variant (default 2)
  --only <name>     run only this benchmark: spawn, list, rm, hook, handoff or review-gate
                    (repeatable, or comma-separated)
  --scratch <dir>   make the scratch directory in <dir> (default: /dev/shm if it
                    exists, else the system temp dir); use a disk directory to measure on disk
  --reuse-id        use the same worker id (w) and branch (x) in every spawn/rm run,
                    instead of a new one per run (w1, x1, w2, ...)
  --keep            keep the scratch directory (its path is printed)
  --json            print the figures as JSON instead of the table
  -h, --help        print this help
";

struct Options {
    bin_dir: Option<PathBuf>,
    repo: Option<PathBuf>,
    files: usize,
    workers: usize,
    runs: usize,
    warmup: usize,
    only: Vec<String>,
    scratch: Option<PathBuf>,
    keep: bool,
    json: bool,
    reuse_id: bool,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>> {
    let mut o = Options {
        bin_dir: None,
        repo: None,
        files: 5_000,
        workers: 1_000,
        runs: 10,
        warmup: 2,
        only: Vec::new(),
        scratch: None,
        keep: false,
        json: false,
        reuse_id: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) => Ok(v),
                None => bail!("{name} needs {what}"),
            }
        };
        let number = |text: String| -> Result<usize> {
            text.parse()
                .with_context(|| format!("{name}: '{text}' is not a number"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bin-dir" => o.bin_dir = Some(value("a directory")?.into()),
            "--repo" => o.repo = Some(value("a path")?.into()),
            "--scratch" => o.scratch = Some(value("a directory")?.into()),
            "--files" => o.files = number(value("a number")?)?,
            "--workers" => o.workers = number(value("a number")?)?,
            "--runs" => o.runs = number(value("a number")?)?,
            "--warmup" => o.warmup = number(value("a number")?)?,
            "--only" => {
                for only in value("a benchmark name")?.split(',') {
                    if !NAMES.contains(&only) {
                        bail!(
                            "--only: unknown benchmark '{only}' (known: {})",
                            NAMES.join(", ")
                        );
                    }
                    o.only.push(only.to_string());
                }
            }
            "--keep" => o.keep = true,
            "--reuse-id" => o.reuse_id = true,
            "--json" => o.json = true,
            other => bail!("unknown argument '{other}'\n\n{USAGE}"),
        }
    }
    if o.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if o.files == 0 || o.workers == 0 {
        bail!("--files and --workers must be at least 1");
    }
    Ok(Some(o))
}

/// The built binaries: next to this executable (`cargo run --release` puts
/// it there), else `$CARGO_TARGET_DIR/release`, else the workspace's.
fn find_bin_dir(given: Option<&Path>) -> Result<PathBuf> {
    let has_worker = |dir: &Path| dir.join("git-worker").is_file();
    if let Some(dir) = given {
        if !has_worker(dir) {
            bail!(
                "--bin-dir '{}' has no git-worker binary; build it with `cargo build --release --workspace`",
                dir.display()
            );
        }
        return dir
            .canonicalize()
            .with_context(|| format!("cannot resolve '{}'", dir.display()));
    }
    let mut candidates = Vec::new();
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        // target/release/git-orch-bench, or target/debug/…: use target/release.
        if let Some(target) = profile_dir.parent() {
            candidates.push(target.join("release"));
        }
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(target).join("release"));
    }
    if let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        candidates.push(root.join("target").join("release"));
    }
    for dir in &candidates {
        if has_worker(dir) {
            return dir
                .canonicalize()
                .with_context(|| format!("cannot resolve '{}'", dir.display()));
        }
    }
    bail!(
        "no built git-worker found in {}; run `cargo build --release --workspace` first, or pass --bin-dir",
        candidates
            .iter()
            .map(|d| format!("'{}'", d.display()))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn default_scratch_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The filesystem type of the mount `path` is on, from /proc/mounts.
fn filesystem(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mount = fields.next()?;
            let kind = fields.next()?;
            path.starts_with(mount)
                .then(|| (mount.len(), kind.to_string()))
        })
        .max()
        .map(|(_, kind)| kind)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(err) => {
            eprintln!("git-orch-bench: error: {err:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<()> {
    let Some(options) = parse(std::env::args().skip(1))? else {
        print!("{USAGE}");
        return Ok(());
    };
    let bin_dir = find_bin_dir(options.bin_dir.as_deref())?;
    let parent = options
        .scratch
        .clone()
        .unwrap_or_else(default_scratch_parent);
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create '{}'", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("git-orch-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot make a scratch directory in '{}'", parent.display()))?;
    let root = scratch.path().canonicalize()?;
    let env = Env::new(&bin_dir, &root.join("home"))?;
    let selected = |name: &str| options.only.is_empty() || options.only.iter().any(|o| o == name);

    let git_version = env.read(&Cmd::git(&root, ["--version"]))?;
    let worker_version = env
        .read(&Cmd::git(&root, ["worker", "--version"]))
        .context("`git worker` does not run from the bin dir")?;
    let mut context: Vec<(String, String)> = vec![
        ("git".into(), git_version.trim().to_string()),
        (
            "git worker".into(),
            format!(
                "{} ({})",
                worker_version.trim(),
                bin_dir.join("git-worker").display()
            ),
        ),
        (
            "scratch".into(),
            format!(
                "{} ({})",
                root.display(),
                filesystem(&root).unwrap_or_else(|| "unknown filesystem".into())
            ),
        ),
        (
            "runs".into(),
            format!(
                "{} timed + {} warm-up per variant, variants interleaved round by round; medians",
                options.runs, options.warmup
            ),
        ),
        (
            "load average".into(),
            format!("{} at start", load_average()),
        ),
    ];

    let settings = Settings {
        reuse_id: options.reuse_id,
        warmup: options.warmup,
        runs: options.runs,
        workers: options.workers,
    };
    let mut outcome = Outcome::default();
    if ["spawn", "rm", "hook", "handoff", "review-gate"]
        .iter()
        .any(|name| selected(name))
    {
        let dir = root.join("repo");
        let subject = match &options.repo {
            Some(source) => {
                eprintln!("cloning {}", source.display());
                repo::clone(&env, source, &dir)?
            }
            None => {
                eprintln!("generating a {}-file repository", options.files);
                repo::generate(&env, &dir, options.files)?
            }
        };
        context.push((
            "repository".into(),
            format!("{} at {}", subject.origin, subject.path.display()),
        ));
        context.push(("base".into(), subject.base.clone()));
        if selected("spawn") {
            benches::spawn(&env, &subject, &settings, &mut outcome)?;
        }
        if selected("rm") {
            benches::rm(&env, &subject, &settings, &mut outcome)?;
        }
        if selected("hook") {
            benches::hook(&env, &subject, &settings, &mut outcome)?;
        }
        if selected("handoff") {
            benches::handoff(&env, &subject, &settings, &mut outcome)?;
        }
        if selected("review-gate") {
            benches::review_gate(&env, &subject, &settings, &mut outcome)?;
        }
    }
    if selected("list") {
        benches::list(&env, &root, &settings, &mut outcome)?;
    }
    if let Some((_, value)) = context.iter_mut().find(|(k, _)| k == "load average") {
        value.push_str(&format!(", {} at end", load_average()));
    }

    if options.keep {
        let kept = scratch.keep();
        context.push(("kept scratch".into(), kept.display().to_string()));
        eprintln!("scratch directory kept: {}", kept.display());
    } else {
        eprintln!("removing {}", root.display());
        drop(scratch);
    }

    if options.json {
        let doc = report::json(&context, &env.describe(), &outcome);
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("cannot encode JSON")?
        );
    } else {
        print!("{}", report::text(&context, &root, &outcome));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Options>> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_parse() -> Result<()> {
        let o = args(&[
            "--runs",
            "3",
            "--only=spawn,rm",
            "--only",
            "review-gate",
            "--workers=10000",
            "--json",
        ])?
        .context("not help")?;
        assert_eq!(o.runs, 3);
        assert_eq!(o.only, vec!["spawn", "rm", "review-gate"]);
        assert_eq!(o.workers, 10_000);
        assert!(o.json);
        assert!(args(&["--only", "nope"]).is_err());
        assert!(args(&["--runs"]).is_err());
        assert!(args(&["--help"])?.is_none());
        Ok(())
    }
}
