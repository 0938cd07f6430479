//! The test harness: temporary repositories driven through the real `git`
//! and the real binaries, in a hermetic environment (no user or system
//! config, fixed identity and dates, `LC_ALL=C`).

#![allow(dead_code, clippy::unwrap_used)]

pub mod servers;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The steps of a multi-step command after which a fault can be injected
/// (`GIT_WORKER_FAIL_AFTER` and friends), in order.
pub fn steps_of(command: &str) -> &'static [&'static str] {
    orch::interrupt::STEPS
        .iter()
        .find(|(name, _)| *name == command)
        .unwrap_or_else(|| panic!("no steps for {command}"))
        .1
}

/// The workspace root (the parent of `tests/`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `target/<profile>/`, after building every binary of the workspace once
/// per run: `cargo test` only builds binaries of the package under test, and
/// this package has none.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "--workspace", "--bins"])
            .current_dir(workspace_root());
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        assert!(
            build.status().expect("failed to run cargo build").success(),
            "cargo build failed"
        );
        let exe = std::env::current_exe().unwrap(); // target/<profile>/deps/e2e-<hash>
        exe.parent().and_then(Path::parent).unwrap().to_path_buf()
    })
}

/// Scratch space: tmpfs when there is one (creating files on a VM's disk
/// costs about half a millisecond each), else the system temp dir.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("git-orch-test-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::Builder::new()
        .prefix("git-orch-test-")
        .tempdir()
        .unwrap()
}

/// A temporary directory holding a repository at `<root>/repo` and a home at `<root>/home`.
pub struct TestRepo {
    root: tempfile::TempDir,
    path: PathBuf,
}

impl TestRepo {
    /// An empty repository on branch `main`.
    pub fn new() -> TestRepo {
        TestRepo::in_root(scratch())
    }

    /// An empty repository on branch `main`, on disk under the workspace's
    /// `target/` (for sandboxes that hide /dev/shm and /tmp, as codex's does).
    pub fn on_disk() -> TestRepo {
        let target = workspace_root().join("target");
        std::fs::create_dir_all(&target).unwrap();
        let root = tempfile::Builder::new()
            .prefix("git-orch-test-")
            .tempdir_in(target)
            .unwrap();
        TestRepo::in_root(root)
    }

    fn in_root(root: tempfile::TempDir) -> TestRepo {
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        let path = root.path().join("repo");
        let repo = TestRepo { root, path };
        repo.cmd_in(
            repo.root(),
            "git",
            ["init", "--quiet", "--initial-branch=main", "repo"],
        )
        .success();
        repo
    }

    /// A repository with one commit on `main` (a README).
    pub fn with_commit() -> TestRepo {
        let repo = TestRepo::new();
        repo.write("README.md", "hello\n");
        repo.git(["add", "."]).success();
        repo.git(["commit", "--quiet", "-m", "initial"]).success();
        repo
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where spawn puts worker `id`'s checkout by default.
    pub fn worktree(&self, id: &str) -> PathBuf {
        self.root().join("repo.worktrees").join(id)
    }

    pub fn write(&self, rel: &str, content: &str) {
        write_file(&self.path.join(rel), content);
    }

    /// `git <args>` in the repository.
    pub fn git<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.cmd_in(&self.path, "git", args)
    }

    /// `git <args>` in `dir`.
    pub fn git_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, dir: &Path, args: I) -> Run {
        self.cmd_in(dir, "git", args)
    }

    /// `git worker <args>` in the repository.
    pub fn worker<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.git(["worker"]).args(args)
    }

    /// Any program, run in `dir` with the hermetic environment.
    pub fn cmd_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(
        &self,
        dir: &Path,
        program: &str,
        args: I,
    ) -> Run {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(dir).env_clear();
        for (key, value) in hermetic_env(self.root()) {
            cmd.env(key, value);
        }
        Run {
            cmd,
            root: self.root().to_path_buf(),
            stdin: None,
        }
    }

    /// The full object id `rev` names.
    pub fn rev(&self, rev: &str) -> String {
        self.git(["rev-parse", "--verify", "--quiet", rev])
            .success()
            .stdout
            .trim()
            .to_string()
    }

    /// A hand-edited registry event: a commit on top of `tip` (in the
    /// repository at `dir`) whose tree is tip's with `file` set to `edit`
    /// applied to its content. What a tampered remote or a worker with
    /// write access could produce. Returns the new commit.
    pub fn edit_entry(
        &self,
        dir: &Path,
        tip: &str,
        file: &str,
        edit: impl FnOnce(&str) -> String,
    ) -> String {
        let old = self
            .git_in(dir, ["show", &format!("{tip}:{file}")])
            .success()
            .stdout;
        let new = edit(&old);
        assert_ne!(new, old, "the edit changed nothing in {file}");
        let blob = self
            .git_in(dir, ["hash-object", "-w", "--stdin"])
            .stdin(new)
            .read();
        let index = self.root().join(format!("edit-index-{tip}"));
        self.git_in(dir, ["read-tree", tip])
            .env("GIT_INDEX_FILE", &index)
            .success();
        self.git_in(
            dir,
            [
                "update-index",
                "--cacheinfo",
                &format!("100644,{blob},{file}"),
            ],
        )
        .env("GIT_INDEX_FILE", &index)
        .success();
        let tree = self
            .git_in(dir, ["write-tree"])
            .env("GIT_INDEX_FILE", &index)
            .read();
        let _ = std::fs::remove_file(&index);
        self.git_in(
            dir,
            self.signed(&["commit-tree", &tree, "-p", tip, "-m", "edited by hand"]),
        )
        .read()
    }

    /// The coordinator's private signing key (made by the first registry write).
    pub fn coordinator_key(&self) -> PathBuf {
        self.root()
            .join("home/.local/share/git-orch/keys/coordinator/key")
    }

    /// `git <args>` for a commit-making command, signed with the
    /// coordinator's key by git's own SSH signing (`-S`): what a newer
    /// version, or anyone holding the key, writes. The layers behind the
    /// signatures (pinned contracts, checks of the change) must hold even then.
    pub fn signed(&self, args: &[&str]) -> Vec<String> {
        self.signed_with(&self.coordinator_key(), args)
    }

    /// Worker `id`'s private key, on this machine (spawned here without a sandbox).
    pub fn worker_key(&self, id: &str) -> PathBuf {
        self.path.join(".git/orch/keys").join(id).join("key")
    }

    /// [`TestRepo::signed`] with the key at `key`.
    pub fn signed_with(&self, key: &Path, args: &[&str]) -> Vec<String> {
        assert!(key.is_file(), "no key at {}", key.display());
        let mut out: Vec<String> = vec![
            "-c".into(),
            "gpg.format=ssh".into(),
            "-c".into(),
            format!("user.signingKey={}", key.display()),
        ];
        out.push(args[0].to_string());
        out.push("-S".into());
        out.extend(args[1..].iter().map(|a| a.to_string()));
        out
    }

    /// Worker `id`'s events (`git worker log`) as (kind, actor), oldest first.
    pub fn events(&self, id: &str) -> Vec<(String, String)> {
        self.worker(["log", id, "--json"]).success().json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["actor"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Every ref with its value, and every worktree, branch and file under
    /// the root: a fingerprint of everything a command could have changed.
    pub fn snapshot(&self) -> String {
        let refs = self
            .git(["for-each-ref", "--format=%(refname) %(objectname)"])
            .success()
            .stdout;
        // The registry's key record is written once, by the first signed
        // write, and stays (like `git init`'s files): not a command's debris.
        let refs: String = refs
            .lines()
            .filter(|l| !l.starts_with("refs/orch/keys "))
            .map(|l| format!("{l}\n"))
            .collect();
        let worktrees = self
            .git(["worktree", "list", "--porcelain"])
            .success()
            .stdout;
        let config = std::fs::read_to_string(self.path.join(".git/config")).unwrap_or_default();
        let mut files = Vec::new();
        list_files(self.root(), self.root(), &mut files);
        // The registry's decode cache is derived data any read may refresh.
        files.retain(|f| {
            !f.contains("/.git/objects/")
                && !f.starts_with("home/")
                && !f.ends_with(".git/orch/cache.json")
                && !f.ends_with(".git/refs/orch/keys")
        });
        format!("{refs}\n{worktrees}\n{config}\n{}", files.join("\n"))
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // Index and logs change when git merely looks (stat refresh) or writes reflogs.
        if rel.ends_with(".git/index") || rel.contains("/logs/") || rel.ends_with("ORIG_HEAD") {
            continue;
        }
        if path.is_dir() && !path.is_symlink() {
            // git itself leaves empty directories under .git/refs after deleting refs.
            if !rel.contains(".git/refs/") {
                out.push(format!("{rel}/"));
            }
            list_files(root, &path, out);
        } else {
            out.push(rel);
        }
    }
    out.sort();
}

pub fn write_file(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A PATH with the binaries under test except `missing` (to see how the
/// suite behaves when a companion is not installed), then the system's.
pub fn path_without(root: &Path, missing: &[&str]) -> String {
    let dir = root.join(format!("bin-without-{}", missing.join("-")));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(bin_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_binary = name.starts_with("git-") && !name.contains('.') && entry.path().is_file();
        if is_binary && !missing.contains(&name.as_str()) && !dir.join(&name).exists() {
            std::os::unix::fs::symlink(entry.path(), dir.join(&name)).unwrap();
        }
    }
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A hook tool real repositories use (husky, lefthook: `tests/tools`'s
/// npm packages; pre-commit: its Python environment), as `.ci/run`
/// installs them. A test that needs one fails without it, never skips.
pub fn test_tool(name: &str) -> PathBuf {
    let tools = workspace_root().join("tests/tools");
    let path = match name {
        "pre-commit" => tools.join("venv/bin/pre-commit"),
        // `npm install --ignore-scripts` leaves the wrapper package's
        // placeholder in place of its binary: run the platform package's.
        "claude" => tools.join(format!(
            "node_modules/@anthropic-ai/claude-code-linux-{}/claude",
            if cfg!(target_arch = "aarch64") {
                "arm64"
            } else {
                "x64"
            }
        )),
        _ => tools.join("node_modules/.bin").join(name),
    };
    assert!(
        path.exists(),
        "{name} is not installed at {}: run .ci/run, or (cd tests/tools && npm install --ignore-scripts && python3 -m venv venv && venv/bin/pip install -r requirements.txt)",
        path.display()
    );
    path
}

/// The environment every test process gets: the binaries under test first
/// on PATH, no user or system git config, a fixed identity and date.
pub fn hermetic_env(root: &Path) -> Vec<(String, String)> {
    let system_path = std::env::var("PATH").unwrap_or_default();
    vec![
        (
            "PATH".into(),
            format!("{}:{system_path}", bin_dir().display()),
        ),
        ("HOME".into(), root.join("home").display().to_string()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
        ("GIT_AUTHOR_NAME".into(), "Test User".into()),
        ("GIT_AUTHOR_EMAIL".into(), "test@example.com".into()),
        ("GIT_AUTHOR_DATE".into(), "2001-02-03T04:05:06Z".into()),
        ("GIT_COMMITTER_NAME".into(), "Test User".into()),
        ("GIT_COMMITTER_EMAIL".into(), "test@example.com".into()),
        ("GIT_COMMITTER_DATE".into(), "2001-02-03T04:05:06Z".into()),
        ("LC_ALL".into(), "C".into()),
        ("TZ".into(), "UTC".into()),
    ]
}

/// A command about to run.
pub struct Run {
    cmd: Command,
    root: PathBuf,
    stdin: Option<Vec<u8>>,
}

impl Run {
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Run {
        self.cmd.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.cmd.arg(arg);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.cmd.env_remove(key);
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(data.into());
        self
    }

    /// Start without waiting (for concurrency tests).
    pub fn spawn(mut self) -> Pending {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        Pending {
            child: self.cmd.spawn().unwrap(),
            root: self.root,
        }
    }

    /// Start without waiting, and hand over the process itself.
    pub fn spawn_child(mut self) -> std::process::Child {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        self.cmd.spawn().unwrap()
    }

    pub fn output(mut self) -> Output {
        use std::io::Write as _;
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.cmd));
        if let Some(data) = self.stdin.take() {
            child.stdin.take().unwrap().write_all(&data).unwrap();
        }
        Output::new(child.wait_with_output().unwrap(), &self.root)
    }

    /// Run and assert exit status 0.
    #[track_caller]
    pub fn success(self) -> Output {
        let out = self.output();
        assert_eq!(out.code, 0, "expected success:\n{out}");
        out
    }

    /// Run, assert success, and return stdout without surrounding whitespace.
    #[track_caller]
    pub fn read(self) -> String {
        self.success().stdout.trim().to_string()
    }

    /// Run and assert the exit status.
    #[track_caller]
    pub fn code(self, code: i32) -> Output {
        let out = self.output();
        assert_eq!(out.code, code, "expected exit status {code}:\n{out}");
        out
    }
}

pub struct Pending {
    child: std::process::Child,
    root: PathBuf,
}

impl Pending {
    pub fn wait(self) -> Output {
        Output::new(self.child.wait_with_output().unwrap(), &self.root)
    }
}

/// What a command printed, with the temp root replaced by `$ROOT`.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Output {
    fn new(out: std::process::Output, root: &Path) -> Output {
        let clean = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let root = root.display().to_string();
            text.replace(&root, "$ROOT")
        };
        use std::os::unix::process::ExitStatusExt as _;
        let code = out
            .status
            .code()
            .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
        Output {
            stdout: clean(&out.stdout),
            stderr: clean(&out.stderr),
            code,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.stdout)?;
        if !self.stderr.is_empty() {
            write!(f, "----- stderr -----\n{}", self.stderr)?;
        }
        if self.code != 0 {
            write!(f, "[exit status: {}]", self.code)?;
        }
        Ok(())
    }
}
