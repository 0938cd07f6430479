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
use std::time::Instant;

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
  --repo <path>     run spawn, rm, hook, handoff, review-gate, sandbox and sync in clones of this
                    repository (git clone --local; the repository itself is not touched)
  --files <n>       files in the generated repository (default 5000; ignored with --repo)
  --workers <n>     workers for the list benchmark (default 1000)
  --sync-workers <n>  workers of each coordinator in the sync benchmark (default 50)
  --wt <path>       worktrunk's `wt` binary, the peer for spawn and rm (default: `wt`
                    on PATH; without it the peer rows are skipped)
  --growth          also run the selected benchmarks at several sizes and print how
                    each figure grows (sizes below; the default-size point is reused)
  --growth-files <list>    repository sizes for spawn, hook, handoff, review-gate and sandbox
                           (default 1000,5000,20000)
  --growth-workers <list>  worker counts for list (default 1000,10000)
  --growth-sync <list>     worker counts for sync (default 50,500)
  --all             everything: every benchmark, the peer if installed, and --growth
  --runs <n>        timed runs per variant; the median is reported (default 10)
  --warmup <n>      untimed warm-up runs per variant (default 2)
  --only <name>     run only this benchmark: spawn, list, rm, hook, handoff, review-gate,
                    sandbox, sync or signing (repeatable, or comma-separated)
  --scratch <dir>   make the scratch directory in <dir> (default: /dev/shm if it
                    exists, else the system temp dir); use a disk directory to measure on disk
  --plain-list-setup  spawn the list benchmark's workers with every earlier worktree
                    visible to git (slow: O(n^2); see bench/README.md)
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
    sync_workers: usize,
    wt: Option<PathBuf>,
    growth: bool,
    growth_files: Vec<usize>,
    growth_workers: Vec<usize>,
    growth_sync: Vec<usize>,
    runs: usize,
    warmup: usize,
    only: Vec<String>,
    scratch: Option<PathBuf>,
    keep: bool,
    json: bool,
    reuse_id: bool,
    plain_list_setup: bool,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>> {
    let mut o = Options {
        bin_dir: None,
        repo: None,
        files: 5_000,
        workers: 1_000,
        sync_workers: 50,
        wt: None,
        growth: false,
        growth_files: vec![1_000, 5_000, 20_000],
        growth_workers: vec![1_000, 10_000],
        growth_sync: vec![50, 500],
        runs: 10,
        warmup: 2,
        only: Vec::new(),
        scratch: None,
        keep: false,
        json: false,
        reuse_id: false,
        plain_list_setup: false,
    };
    let mut all = false;
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
        let numbers = |text: String| -> Result<Vec<usize>> { sizes(&name, &text) };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bin-dir" => o.bin_dir = Some(value("a directory")?.into()),
            "--repo" => o.repo = Some(value("a path")?.into()),
            "--scratch" => o.scratch = Some(value("a directory")?.into()),
            "--files" => o.files = number(value("a number")?)?,
            "--workers" => o.workers = number(value("a number")?)?,
            "--sync-workers" => o.sync_workers = number(value("a number")?)?,
            "--wt" => o.wt = Some(value("a path")?.into()),
            "--growth" => o.growth = true,
            "--all" => {
                o.growth = true;
                all = true;
            }
            "--growth-files" => o.growth_files = numbers(value("a list of numbers")?)?,
            "--growth-workers" => o.growth_workers = numbers(value("a list of numbers")?)?,
            "--growth-sync" => o.growth_sync = numbers(value("a list of numbers")?)?,
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
            "--plain-list-setup" => o.plain_list_setup = true,
            "--json" => o.json = true,
            other => bail!("unknown argument '{other}'\n\n{USAGE}"),
        }
    }
    if o.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if o.files == 0 || o.workers == 0 || o.sync_workers == 0 {
        bail!("--files, --workers and --sync-workers must be at least 1");
    }
    if all && !o.only.is_empty() {
        bail!("--all runs every benchmark: it does not go with --only (use --growth)");
    }
    Ok(Some(o))
}

/// A comma-separated list of sizes, e.g. `1000,5000,20000`: each at least 1,
/// in increasing order.
fn sizes(name: &str, text: &str) -> Result<Vec<usize>> {
    let list = text
        .split(',')
        .map(|n| {
            n.trim()
                .replace('_', "")
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("{name}: '{n}' is not a number of at least 1"))
        })
        .collect::<Result<Vec<_>>>()?;
    if list.windows(2).any(|w| w[0] >= w[1]) {
        bail!("{name}: sizes go in increasing order: '{text}'");
    }
    Ok(list)
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

    let wt = find_wt(&env, options.wt.as_deref(), &root)?;
    match &wt {
        Some(peer) => context.push(("peer".into(), peer.describe())),
        None => context.push((
            "peer".into(),
            "worktrunk (`wt`) not installed: its spawn and rm rows are skipped \
             (cargo install --locked worktrunk@0.67.0, or --wt <path>)"
                .into(),
        )),
    }
    let settings = Settings {
        reuse_id: options.reuse_id,
        warmup: options.warmup,
        runs: options.runs,
        workers: options.workers,
        sync_workers: options.sync_workers,
        wt: wt.clone(),
        plain_list_setup: options.plain_list_setup,
    };
    let started = Instant::now();
    let mut outcome = Outcome::default();
    // What ran at the default sizes, for the growth table to reuse.
    let mut files_point = None;
    let mut list_point = None;
    let mut sync_point = None;
    if FILE_BENCHES.iter().any(|name| selected(name)) {
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
        let point = file_benches(&env, &subject, &settings, &selected)?;
        if options.repo.is_none() {
            files_point = Some(point.clone());
        }
        outcome.extend(point);
    }
    if selected("list") {
        let mut point = Outcome::default();
        benches::list(&env, &root, &settings, &mut point)?;
        list_point = Some(point.clone());
        outcome.extend(point);
    }
    if selected("sync") {
        let mut point = Outcome::default();
        benches::sync(&env, &root, options.repo.as_deref(), &settings, &mut point)?;
        if options.repo.is_none() {
            sync_point = Some(point.clone());
        }
        outcome.extend(point);
    }

    let mut growth = Vec::new();
    if options.growth {
        let dir = root.join("growth");
        // Repository size: spawn (and rm, for the peer), hook, handoff, review-gate, sandbox.
        if FILE_BENCHES.iter().any(|name| selected(name)) {
            for &files in &options.growth_files {
                let point = match &files_point {
                    Some(point) if files == options.files => point.clone(),
                    _ => {
                        eprintln!("growth: a {files}-file repository");
                        let here = dir.join(format!("files-{files}"));
                        let subject = repo::generate(&env, &here.join("repo"), files)?;
                        // rm is not part of the growth table.
                        let point = file_benches(&env, &subject, &settings, &|name| {
                            name != "rm" && selected(name)
                        })?;
                        remove_unless(options.keep, &here)?;
                        point
                    }
                };
                growth.push(report::Point {
                    dimension: "files in the repository",
                    size: files,
                    unit: "files",
                    outcome: point,
                });
            }
        }
        if selected("list") {
            for &workers in &options.growth_workers {
                let point = match &list_point {
                    Some(point) if workers == options.workers => point.clone(),
                    _ => {
                        eprintln!("growth: list with {workers} workers");
                        let here = dir.join(format!("list-{workers}"));
                        let mut point = Outcome::default();
                        let s = Settings {
                            workers,
                            ..settings.clone()
                        };
                        benches::list(&env, &here, &s, &mut point)?;
                        remove_unless(options.keep, &here)?;
                        point
                    }
                };
                growth.push(report::Point {
                    dimension: "workers (list)",
                    size: workers,
                    unit: "workers",
                    outcome: point,
                });
            }
        }
        if selected("sync") {
            for &workers in &options.growth_sync {
                let point = match &sync_point {
                    Some(point) if workers == options.sync_workers => point.clone(),
                    _ => {
                        eprintln!("growth: sync with {workers} workers");
                        let here = dir.join(format!("sync-{workers}"));
                        let mut point = Outcome::default();
                        let s = Settings {
                            sync_workers: workers,
                            ..settings.clone()
                        };
                        benches::sync(&env, &here, None, &s, &mut point)?;
                        remove_unless(options.keep, &here)?;
                        point
                    }
                };
                growth.push(report::Point {
                    dimension: "workers per coordinator (sync)",
                    size: workers,
                    unit: "sync workers",
                    outcome: point,
                });
            }
        }
    }
    if let Some((_, value)) = context.iter_mut().find(|(k, _)| k == "load average") {
        value.push_str(&format!(", {} at end", load_average()));
    }
    context.push((
        "took".into(),
        format!("{:.0} s in all", started.elapsed().as_secs_f64()),
    ));

    if options.keep {
        let kept = scratch.keep();
        context.push(("kept scratch".into(), kept.display().to_string()));
        eprintln!("scratch directory kept: {}", kept.display());
    } else {
        eprintln!("removing {}", root.display());
        drop(scratch);
    }

    if options.json {
        let doc = report::json(&context, &env.describe(), &outcome, &growth);
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("cannot encode JSON")?
        );
    } else {
        print!("{}", report::text(&context, &root, &outcome, &growth));
    }
    Ok(())
}

/// The benchmarks that run in the repository under test (generated or cloned).
const FILE_BENCHES: &[&str] = &[
    "spawn",
    "rm",
    "hook",
    "handoff",
    "review-gate",
    "sandbox",
    "signing",
];

/// Those of [`FILE_BENCHES`] that are selected, in `subject`.
fn file_benches(
    env: &Env,
    subject: &repo::Subject,
    settings: &Settings,
    selected: &dyn Fn(&str) -> bool,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    if selected("spawn") {
        benches::spawn(env, subject, settings, &mut out)?;
    }
    if selected("rm") {
        benches::rm(env, subject, settings, &mut out)?;
    }
    if selected("hook") {
        benches::hook(env, subject, settings, &mut out)?;
    }
    if selected("handoff") {
        benches::handoff(env, subject, settings, &mut out)?;
    }
    if selected("review-gate") {
        benches::review_gate(env, subject, settings, &mut out)?;
    }
    if selected("sandbox") {
        benches::sandbox(env, subject, settings, &mut out)?;
    }
    if selected("signing") {
        benches::signing(env, subject, settings, &mut out)?;
    }
    Ok(out)
}

/// Remove a growth point's directory (its repository and checkouts) once
/// measured, unless --keep.
fn remove_unless(keep: bool, dir: &Path) -> Result<()> {
    if keep {
        return Ok(());
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove '{}'", dir.display()))
}

/// worktrunk's `wt`: the one given, else the one on PATH, if it runs.
fn find_wt(env: &Env, given: Option<&Path>, dir: &Path) -> Result<Option<benches::Peer>> {
    let path = match given {
        Some(path) => Some(path.to_path_buf()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("wt"))
                .find(|p| p.is_file())
        }),
    };
    let Some(path) = path else {
        return Ok(None);
    };
    let path = path
        .canonicalize()
        .with_context(|| format!("--wt: cannot find '{}'", path.display()))?;
    let version = env
        .read(&Cmd::new(
            dir,
            [path.display().to_string(), "--version".into()],
        ))
        .with_context(|| format!("'{}' does not run", path.display()))?;
    let config = dir.join("home").join("worktrunk.toml");
    std::fs::write(&config, benches::WT_CONFIG)
        .with_context(|| format!("cannot write '{}'", config.display()))?;
    Ok(Some(benches::Peer {
        path,
        version: version.trim().to_string(),
        config,
    }))
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
            "review-gate,sandbox",
            "--workers=10000",
            "--json",
        ])?
        .context("not help")?;
        assert_eq!(o.runs, 3);
        assert_eq!(o.only, vec!["spawn", "rm", "review-gate", "sandbox"]);
        assert_eq!(o.workers, 10_000);
        assert!(o.json);
        assert!(args(&["--only", "nope"]).is_err());
        assert!(args(&["--runs"]).is_err());
        assert!(args(&["--help"])?.is_none());
        Ok(())
    }

    #[test]
    fn growth_options_parse() -> Result<()> {
        let o = args(&[])?.context("not help")?;
        assert!(!o.growth);
        assert_eq!(o.growth_files, vec![1_000, 5_000, 20_000]);
        assert_eq!(o.growth_workers, vec![1_000, 10_000]);
        assert_eq!(o.growth_sync, vec![50, 500]);
        assert_eq!(o.sync_workers, 50);
        let o = args(&[
            "--growth-files=500, 2_000",
            "--growth-workers",
            "100",
            "--sync-workers=7",
            "--wt",
            "/opt/wt",
            "--all",
        ])?
        .context("not help")?;
        assert!(o.growth);
        assert_eq!(o.growth_files, vec![500, 2_000]);
        assert_eq!(o.growth_workers, vec![100]);
        assert_eq!(o.sync_workers, 7);
        assert_eq!(o.wt.as_deref(), Some(Path::new("/opt/wt")));
        assert!(args(&["--growth-files", "1000,x"]).is_err());
        assert!(args(&["--growth-files", "1000,0"]).is_err());
        assert!(args(&["--growth-sync", "500,50"]).is_err());
        assert!(args(&["--growth-sync", ""]).is_err());
        assert!(args(&["--all", "--only", "list"]).is_err());
        assert!(args(&["--only", "sync"]).is_ok());
        Ok(())
    }
}
