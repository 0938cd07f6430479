//! Real git servers on 127.0.0.1 for the tests, each stopped when dropped.

use crate::support::{TestRepo, write_file};

/// `git daemon` serving `base` on 127.0.0.1, stopped when dropped. The
/// daemon program itself is started (`git daemon` would fork it and wait:
/// killing that `git` leaves the daemon running), and it is ready when it
/// says so on stderr (`--verbose`): no polling.
pub struct Daemon {
    child: std::process::Child,
    /// The URL of `hub.git` under the base path.
    pub url: String,
}

impl Daemon {
    pub fn start(repo: &TestRepo, base: &std::path::Path) -> Daemon {
        use std::io::BufRead as _;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let exec_path = repo.git(["--exec-path"]).read();
        let mut cmd =
            std::process::Command::new(std::path::Path::new(&exec_path).join("git-daemon"));
        cmd.env_clear();
        for (key, value) in crate::support::hermetic_env(repo.root()) {
            cmd.env(key, value);
        }
        let mut child = cmd
            .args([
                "--verbose",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
            ])
            .arg(format!("--base-path={}", base.display()))
            .args(["--listen=127.0.0.1", &format!("--port={port}")])
            .arg(base)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines
                .next()
                .expect("git daemon exited before it was ready")
                .unwrap();
            if line.contains("Ready to rumble") {
                break;
            }
        }
        // The rest of its log (a line per connection) is read and dropped,
        // so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Daemon {
            child,
            url: format!("git://127.0.0.1:{port}/hub.git"),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// ssh: an sshd of the test's own, and gitolite behind it.

/// The OS user the tests run as: the one sshd lets in (it can switch to no
/// other unless it runs as root, and gitolite's users are all this one).
pub fn os_user() -> &'static str {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(|| run_quietly(std::process::Command::new("id").arg("-un")))
}

/// Runs `cmd`, asserts it succeeded, and returns its stdout, trimmed.
fn run_quietly(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A command with the hermetic environment of `repo` (see `hermetic_env`).
fn hermetic(repo: &TestRepo, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.env_clear().current_dir(repo.root());
    for (key, value) in crate::support::hermetic_env(repo.root()) {
        cmd.env(key, value);
    }
    cmd
}

/// A new ed25519 key pair at `path` (private) and `path.pub`, without a passphrase.
pub fn ssh_keygen(repo: &TestRepo, path: &std::path::Path, comment: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    run_quietly(
        hermetic(repo, "ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path),
    );
}

/// `value` in single quotes, for sh (GIT_SSH_COMMAND is run by a shell).
fn sh_quote(value: &std::path::Path) -> String {
    format!("'{}'", value.display().to_string().replace('\'', r"'\''"))
}

/// An sshd of its own on 127.0.0.1 (`/usr/sbin/sshd -D -e -f <config>`),
/// stopped when dropped. Everything it reads is under `dir`: its host key,
/// its config, and the known_hosts file clients check it against. Only
/// public keys get in, and only as the OS user the tests run as (sshd run by
/// an unprivileged user can be no one else); the keys it accepts, and the
/// command each runs, are those of `authorized_keys`, which it reads on
/// every connection (gitolite rewrites it when its keydir changes).
///
/// It is started as the daemon itself (`-D`, no fork), so killing the child
/// kills the server; it is ready when it prints `Server listening on
/// 127.0.0.1 port N.` (`-e`: its log on stderr, at LogLevel INFO). Every
/// connection gets a short-lived sshd of its own, gone with the connection.
///
/// The sessions' environment is sshd's basic one (HOME from the password
/// database, a system PATH) overridden by `session_env` (sshd_config
/// `SetEnv`), so that what runs on the server side can be given the
/// binaries under test and a HOME of the test's own.
pub struct Sshd {
    child: std::process::Child,
    pub port: u16,
    known_hosts: std::path::PathBuf,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Sshd {
    pub fn start(
        repo: &TestRepo,
        dir: &std::path::Path,
        authorized_keys: &std::path::Path,
        session_env: &[(String, String)],
    ) -> Sshd {
        use std::io::BufRead as _;
        std::fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_key");
        if !host_key.exists() {
            ssh_keygen(repo, &host_key, "test host");
        }
        // sshd run by root chroots its unauthenticated child into this
        // directory, and refuses to start without it; the service (systemd's
        // RuntimeDirectory, the init script) makes it, so a machine where sshd
        // never ran as a service (a container) has none. Unprivileged, sshd
        // does without.
        let root = run_quietly(std::process::Command::new("id").arg("-u")) == "0";
        if root {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        // Without PAM, sshd refuses an account whose password it takes for
        // locked ("account is locked"): run unprivileged here, it refused
        // `nobody` so, and a CI user made without a password (`useradd`:
        // `!` in /etc/shadow) is locked. With PAM that is left to PAM's
        // account stack, which let the key in, unprivileged too (checked
        // as `nobody`). As root, no PAM: root's entry here is not locked,
        // and nothing of the machine's login setup (loginuid, motd,
        // limits) then applies to the test's sessions.
        let pam = if root { "no" } else { "yes" };
        let mut setenv = String::new();
        for (key, value) in session_env {
            assert!(!value.contains('"'), "{key}={value}: no quotes in SetEnv");
            setenv.push_str(&format!(" \"{key}={value}\""));
        }
        // A failed bind means another process took the free port between
        // our probe and sshd's bind: try another.
        for _attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = dir.join("sshd_config");
            let mut text = format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {host_key}\n\
                 AuthorizedKeysFile {authorized_keys}\n\
                 AuthenticationMethods publickey\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM {pam}\n\
                 StrictModes no\n\
                 PidFile none\n\
                 PermitRootLogin prohibit-password\n\
                 PermitTTY no\n\
                 AllowTcpForwarding no\n\
                 AllowAgentForwarding no\n\
                 X11Forwarding no\n\
                 PrintMotd no\n\
                 UseDNS no\n\
                 MaxStartups 64:30:128\n\
                 AcceptEnv GIT_PROTOCOL\n\
                 LogLevel INFO\n",
                host_key = host_key.display(),
                authorized_keys = authorized_keys.display(),
            );
            if !setenv.is_empty() {
                text.push_str(&format!("SetEnv{setenv}\n"));
            }
            // From OpenSSH 9.8 on, a source that fails to authenticate is
            // locked out for a while: every connection here is 127.0.0.1.
            if sshd_version() >= (9, 8) {
                text.push_str("PerSourcePenalties no\n");
            }
            std::fs::write(&config, text).unwrap();
            let mut child = hermetic(repo, "/usr/sbin/sshd")
                .args(["-D", "-e", "-o", "LogLevel=INFO", "-f"])
                .arg(&config)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("cannot start /usr/sbin/sshd (Debian package openssh-server)");
            let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
            let ready = format!("Server listening on 127.0.0.1 port {port}.");
            let mut early = Vec::new();
            let mut is_ready = false;
            for line in lines.by_ref() {
                let line = line.unwrap();
                is_ready = line.contains(&ready);
                early.push(line);
                if is_ready {
                    break;
                }
            }
            if !is_ready {
                let _ = child.wait();
                if early.iter().any(|l| l.contains("Bind to port")) {
                    continue;
                }
                panic!("sshd exited before it was ready:\n{}", early.join("\n"));
            }
            // Its log (a few lines per connection) is kept, for failure
            // messages, and read on, so that it never blocks on a full pipe.
            let log = std::sync::Arc::new(std::sync::Mutex::new(early));
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            let known_hosts = dir.join("known_hosts");
            let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
            let public: Vec<&str> = public.split_whitespace().take(2).collect();
            std::fs::write(
                &known_hosts,
                format!("[127.0.0.1]:{port} {}\n", public.join(" ")),
            )
            .unwrap();
            return Sshd {
                child,
                port,
                known_hosts,
                log,
            };
        }
        panic!("sshd found no free port in five attempts");
    }

    /// The `GIT_SSH_COMMAND` of a client holding the private key `key`:
    /// no ssh config files (~/.ssh is the password database's home, not
    /// $HOME, so it would be the real user's), no agent, no other key, and
    /// the server checked against its own host key. git adds the port of
    /// an `ssh://` URL; `-p` serves plain ssh and scp-style URLs. The key
    /// exchange is curve25519 alone: OpenSSH 9's default first choice
    /// (sntrup761x25519) costs about 70 ms more per connection here.
    pub fn ssh_command(&self, key: &std::path::Path) -> String {
        format!(
            "ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o IdentityAgent=none \
             -o UserKnownHostsFile={known_hosts} -o GlobalKnownHostsFile=/dev/null \
             -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o BatchMode=yes \
             -o LogLevel=ERROR -o KexAlgorithms=curve25519-sha256 -p {port}",
            key = sh_quote(key),
            known_hosts = sh_quote(&self.known_hosts),
            port = self.port,
        )
    }

    /// `ssh://<os user>@127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}/{path}", os_user(), self.port)
    }

    /// What sshd logged so far (connections, refused keys), for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The installed sshd's version (`OpenSSH_9.2p1 ...` from `sshd -V`, whose
/// options depend on it).
fn sshd_version() -> (u32, u32) {
    static VERSION: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = std::process::Command::new("/usr/sbin/sshd")
            .arg("-V")
            .output()
            .expect("cannot run /usr/sbin/sshd (Debian package openssh-server)");
        let text = String::from_utf8_lossy(&out.stderr);
        let version = text
            .split("OpenSSH_")
            .nth(1)
            .unwrap_or_else(|| panic!("no OpenSSH version in {text:?}"));
        let mut numbers = version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse().unwrap());
        (numbers.next().unwrap(), numbers.next().unwrap())
    })
}

/// gitolite (Debian package gitolite3) behind an [`Sshd`] of its own: the
/// way a team would host a hub whose rules say who may push what.
///
/// gitolite is installed (`gitolite setup -pk admin.pub`) for the OS user
/// the tests run as, with HOME `<root>/gitolite/home`, so its repositories
/// are `home/repositories/<name>.git` ([`Gitolite::repository`]) and its
/// rc file `home/.gitolite.rc`. Its users are ssh keys, made on first use
/// under `<root>/gitolite/keys/` ([`Gitolite::key`]), and all log in as the
/// same OS user: the key says who it is, as `command="gitolite-shell <user>"`
/// in the `authorized_keys` gitolite writes, which is sshd's
/// AuthorizedKeysFile. sshd gives the sessions gitolite's HOME (SetEnv), the
/// hermetic environment's PATH (so hooks find the binaries under test) and
/// no system or global git config; repositories gitolite creates start on
/// `main`. `admin` administers: [`Gitolite::write_conf`] pushes a new
/// gitolite.conf, and the keys of every user so far, as admin.
///
/// For a network test with per-user rules, each host runs its git commands
/// through [`Gitolite::as_user`] (its own GIT_SSH_COMMAND, so its own key)
/// against [`Gitolite::url`]; `ssh_command`/`key` give the same by hand.
pub struct Gitolite {
    pub sshd: Sshd,
    /// gitolite's HOME.
    pub home: std::path::PathBuf,
    keys: std::path::PathBuf,
    /// A checkout of gitolite-admin, pushed by `write_conf`.
    admin: std::path::PathBuf,
}

impl Gitolite {
    /// Install gitolite under `<root>/gitolite` and start its sshd. The
    /// conf is gitolite's initial one (admin: gitolite-admin and `testing`).
    pub fn start(repo: &TestRepo) -> Gitolite {
        let base = repo.root().join("gitolite");
        let home = base.join("home");
        let keys = base.join("keys");
        std::fs::create_dir_all(&home).unwrap();
        ssh_keygen(repo, &keys.join("admin"), "admin");
        // setup names the admin after the key file's name.
        std::fs::copy(keys.join("admin.pub"), home.join("admin.pub")).unwrap();
        run_quietly(
            hermetic(repo, "gitolite")
                .env("HOME", &home)
                .env("USER", os_user())
                .args(["setup", "-pk"])
                .arg(home.join("admin.pub"))
                .current_dir(&home),
        );
        let hermetic_path = crate::support::hermetic_env(repo.root())
            .into_iter()
            .find(|(key, _)| key == "PATH")
            .unwrap()
            .1;
        let session_env: Vec<(String, String)> = [
            ("HOME", home.display().to_string()),
            ("PATH", hermetic_path),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
            // Repositories gitolite creates start on main, like the tests'
            // own; gitolite-admin, made by setup, stays on master, which
            // gitolite's hooks expect.
            ("GIT_CONFIG_COUNT", "1".into()),
            ("GIT_CONFIG_KEY_0", "init.defaultBranch".into()),
            ("GIT_CONFIG_VALUE_0", "main".into()),
            ("LC_ALL", "C".into()),
            ("TZ", "UTC".into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
        let sshd = Sshd::start(
            repo,
            &base.join("sshd"),
            &home.join(".ssh/authorized_keys"),
            &session_env,
        );
        let gitolite = Gitolite {
            sshd,
            home,
            keys,
            admin: base.join("admin"),
        };
        gitolite
            .as_user(
                "admin",
                repo.git_in(repo.root(), ["clone", "--quiet"])
                    .arg(gitolite.url("gitolite-admin"))
                    .arg(&gitolite.admin),
            )
            .success();
        gitolite
    }

    /// The private key of gitolite user `user`, made on first use. A key
    /// counts once [`Gitolite::write_conf`] has pushed it.
    pub fn key(&self, repo: &TestRepo, user: &str) -> std::path::PathBuf {
        let key = self.keys.join(user);
        if !key.exists() {
            ssh_keygen(repo, &key, user);
        }
        key
    }

    /// `GIT_SSH_COMMAND` for `user`, who must have a key already ([`Gitolite::key`]).
    pub fn ssh_command(&self, user: &str) -> String {
        let key = self.keys.join(user);
        assert!(key.exists(), "gitolite user '{user}' has no key yet");
        self.sshd.ssh_command(&key)
    }

    /// `run` (a git command, or anything that runs git) as gitolite user `user`.
    pub fn as_user(&self, user: &str, run: crate::support::Run) -> crate::support::Run {
        run.env("GIT_SSH_COMMAND", self.ssh_command(user))
    }

    /// `ssh://<os user>@127.0.0.1:<port>/<name>`: repository `name` for
    /// every gitolite user (the key says who connects).
    pub fn url(&self, name: &str) -> String {
        self.sshd.url(name)
    }

    /// The bare repository `name` on the server's disk.
    pub fn repository(&self, name: &str) -> std::path::PathBuf {
        self.home.join("repositories").join(format!("{name}.git"))
    }

    /// Push `conf` as gitolite.conf, with the key of every user made so far
    /// in keydir/ (and of those `conf` names, made now), as admin; gitolite
    /// compiles it, creates the repositories it names and rewrites
    /// authorized_keys on the way. `conf` should keep admin's
    /// `RW+` on gitolite-admin. Returns the push's output (gitolite's
    /// warnings are on its stderr).
    pub fn write_conf(
        &self,
        repo: &TestRepo,
        conf: &str,
        users: &[&str],
    ) -> crate::support::Output {
        for user in users {
            self.key(repo, user);
        }
        crate::support::write_file(&self.admin.join("conf/gitolite.conf"), conf);
        for entry in std::fs::read_dir(&self.keys).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pub") {
                std::fs::copy(
                    &path,
                    self.admin.join("keydir").join(path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
        repo.git_in(&self.admin, ["add", "conf", "keydir"])
            .success();
        repo.git_in(
            &self.admin,
            ["commit", "--quiet", "--allow-empty", "-m", "conf"],
        )
        .success();
        self.as_user(
            "admin",
            repo.git_in(&self.admin, ["push", "--quiet", "origin", "master"]),
        )
        .success()
    }

    /// Turn on gitolite's repo-specific-hooks (rc: `LOCAL_CODE` at
    /// `~/local`, the feature in `ENABLE`) and install `script` as the
    /// repo-specific hook `name`, which a conf line
    /// `option hook.pre-receive = <name> ...` puts in a repository (at the
    /// next [`Gitolite::write_conf`]). gitolite links the named hooks as
    /// `hooks/pre-receive.h00-<name>`, ... and `hooks/pre-receive` to its
    /// multi-hook driver, which runs them in turn.
    pub fn add_repo_specific_hook(&self, name: &str, script: &str) {
        let rc_path = self.home.join(".gitolite.rc");
        let rc = std::fs::read_to_string(&rc_path).unwrap();
        let on = rc
            .replacen(
                "# LOCAL_CODE                =>  \"$ENV{HOME}/local\",",
                "LOCAL_CODE                =>  \"$ENV{HOME}/local\",",
                1,
            )
            .replacen("# 'repo-specific-hooks',", "'repo-specific-hooks',", 1);
        assert!(
            on.contains("\n        LOCAL_CODE ")
                && on.contains("\n            'repo-specific-hooks',"),
            "this gitolite's rc file has another layout:\n{rc}"
        );
        std::fs::write(&rc_path, on).unwrap();
        let hook = self.home.join("local/hooks/repo-specific").join(name);
        crate::support::write_file(&hook, script);
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Smart HTTP: git-http-backend behind a CGI bridge of the test's own.

/// What an [`HttpBackend`] user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Fetch and clone only: a push is refused with 403.
    Read,
    /// Fetch and push.
    Write,
}

/// One user of an [`HttpBackend`]: name, password, access.
pub type HttpUser<'a> = (&'a str, &'a str, Access);

/// git's smart HTTP on 127.0.0.1: `git-http-backend` (from `git
/// --exec-path`) serving the repositories under `base`
/// (`GIT_PROJECT_ROOT`, every one exported), run per request as a CGI
/// program by a small server on a thread of the test, stopped (and its
/// threads joined) when dropped. It is ready when started: the listening
/// socket is bound before `start` returns, so connections queue.
///
/// Every request must carry HTTP basic auth of one of `users` (git sends
/// the credentials of an `http://user:pass@...` URL, [`HttpBackend::url`],
/// after a first 401); the user's name is the request's `REMOTE_USER`,
/// which server hooks see, and which makes git-http-backend accept pushes.
/// A [`Access::Read`] user's pushes are refused (403) before git sees them.
///
/// A request is one connection (`Connection: close`): git reconnects. A
/// chunked request body (git sends one when a push's pack is larger than
/// `http.postBuffer`, 1 MiB by default) is decoded and handed to the CGI
/// program without `CONTENT_LENGTH`, which git-http-backend reads to its end.
pub struct HttpBackend {
    pub port: u16,
    users: Vec<(String, String, Access)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// What each request's handler needs.
struct Site {
    backend: std::path::PathBuf,
    env: Vec<(String, String)>,
    base: std::path::PathBuf,
    users: Vec<(String, String, Access)>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpBackend {
    pub fn start(repo: &TestRepo, base: &std::path::Path, users: &[HttpUser]) -> HttpBackend {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let users: Vec<(String, String, Access)> = users
            .iter()
            .map(|(name, password, access)| (name.to_string(), password.to_string(), *access))
            .collect();
        // The server is a host of its own: its own HOME.
        let home = repo.root().join(format!("http-{port}-home"));
        std::fs::create_dir_all(&home).unwrap();
        let mut env = crate::support::hermetic_env(repo.root());
        for (key, value) in &mut env {
            if key == "HOME" {
                *value = home.display().to_string();
            }
        }
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let site = std::sync::Arc::new(Site {
            backend: std::path::Path::new(&repo.git(["--exec-path"]).read())
                .join("git-http-backend"),
            env,
            base: base.to_path_buf(),
            users: users.clone(),
            log: log.clone(),
        });
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let accept = std::thread::spawn(move || {
            let mut handlers = Vec::new();
            for stream in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let site = site.clone();
                handlers.push(std::thread::spawn(move || {
                    if let Err(err) = serve(&site, stream) {
                        site.log.lock().unwrap().push(format!("error: {err}"));
                    }
                }));
                handlers.retain(|h| !h.is_finished());
            }
            for handler in handlers {
                let _ = handler.join();
            }
        });
        HttpBackend {
            port,
            users,
            stop,
            accept: Some(accept),
            log,
        }
    }

    /// `http://<user>:<password>@127.0.0.1:<port>/<path>` for one of the users.
    pub fn url(&self, user: &str, path: &str) -> String {
        let (_, password, _) = self
            .users
            .iter()
            .find(|(name, _, _)| name == user)
            .unwrap_or_else(|| panic!("no HTTP user '{user}'"));
        format!("http://{user}:{password}@127.0.0.1:{}/{path}", self.port)
    }

    /// A request line per request with its status, and git-http-backend's
    /// stderr, for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop, which then sees the flag, waits for the
        // requests in flight and returns.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One request on `stream`: authenticated, then run through git-http-backend.
fn serve(site: &Site, stream: std::net::TcpStream) -> std::io::Result<()> {
    use std::io::{BufRead as _, Read as _, Write as _};
    // A client that stalls does not hold the server (and the test's end) forever.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // the wake-up connection of Drop, or a probe
    }
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return respond(&mut out, "400 Bad Request", "");
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
    let mut body: Box<dyn std::io::Read + Send> = if chunked {
        Box::new(Chunked::new(reader))
    } else {
        Box::new(reader.take(length.unwrap_or(0)))
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let user = header("authorization")
        .and_then(|v| v.strip_prefix("Basic ").map(str::to_string))
        .and_then(|v| base64_decode(v.trim()))
        .and_then(|pair| {
            let (name, password) = pair.split_once(':')?;
            site.users
                .iter()
                .find(|(n, p, _)| n == name && p == password)
                .cloned()
        });
    let log = |status: &str| {
        site.log.lock().unwrap().push(format!(
            "{method} {target} {}{} -> {status}",
            user.as_ref().map_or("-", |u| u.0.as_str()),
            if chunked { " (chunked)" } else { "" },
        ));
    };
    let Some((name, _, access)) = user.clone() else {
        // The body is read first: closing on an unread body resets the
        // connection, and the client would see that instead of the 401.
        std::io::copy(&mut body, &mut std::io::sink())?;
        log("401");
        return respond(
            &mut out,
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"git\"\r\n",
        );
    };
    let pushes = query.contains("service=git-receive-pack") || path.ends_with("/git-receive-pack");
    if pushes && access == Access::Read {
        std::io::copy(&mut body, &mut std::io::sink())?;
        log("403");
        return respond(&mut out, "403 Forbidden", "");
    }

    let mut cgi = std::process::Command::new(&site.backend);
    cgi.env_clear();
    for (key, value) in &site.env {
        cgi.env(key, value);
    }
    cgi.env("GIT_PROJECT_ROOT", &site.base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_SOFTWARE", "git-orch-tests")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", &query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("AUTH_TYPE", "Basic")
        .env("REMOTE_USER", &name);
    if let Some(kind) = header("content-type") {
        cgi.env("CONTENT_TYPE", kind);
    }
    if let (Some(length), false) = (length, chunked) {
        cgi.env("CONTENT_LENGTH", length.to_string());
    }
    // The other headers as CGI meta-variables: git's Content-Encoding
    // (gzip) and Git-Protocol (v2) among them.
    for (key, value) in &headers {
        if !matches!(
            key.as_str(),
            "authorization" | "content-type" | "content-length" | "transfer-encoding"
        ) {
            cgi.env(
                format!("HTTP_{}", key.to_ascii_uppercase().replace('-', "_")),
                value,
            );
        }
    }
    let mut child = cgi
        .current_dir(&site.base)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // The body goes in on a thread while the response comes out here: a
    // CGI program may write before it has read all of its input.
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = std::io::copy(&mut body, &mut stdin);
    });
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut response = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut status = "200 OK".to_string();
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if response.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((key, value)) if key.eq_ignore_ascii_case("status") => {
                status = value.trim().to_string();
            }
            _ => head.push_str(&format!("{line}\r\n")),
        }
    }
    // Logged before the client has its answer, so that the log holds
    // every request a finished git command made.
    log(&status);
    write!(out, "HTTP/1.1 {status}\r\n{head}Connection: close\r\n\r\n")?;
    std::io::copy(&mut response, &mut out)?;
    out.flush()?;
    let _ = out.shutdown(std::net::Shutdown::Write);
    let _ = feeder.join();
    let _ = child.wait();
    let errors = errors.join().unwrap_or_default();
    if !errors.trim().is_empty() {
        site.log.lock().unwrap().push(errors.trim_end().to_string());
    }
    Ok(())
}

/// A response without a body, and the end of the connection.
fn respond(out: &mut std::net::TcpStream, status: &str, headers: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    write!(
        out,
        "HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    out.flush()
}

/// A `Transfer-Encoding: chunked` body, decoded (RFC 9112, section 7.1;
/// chunk extensions and trailers are read and dropped).
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: std::io::BufRead> Chunked<R> {
    fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            left: 0,
            done: false,
        }
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.inner.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_string())
    }
}

impl<R: std::io::BufRead> std::io::Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let size = self.line()?;
            let size = size.split(';').next().unwrap_or("").trim();
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
            })?;
            if self.left == 0 {
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            self.line()?; // the CRLF after the chunk's data
        }
        Ok(n)
    }
}

/// Standard base64 (RFC 4648, with padding) to text, as Basic auth sends it.
fn base64_decode(text: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().take_while(|&c| c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    String::from_utf8(out).ok()
}

/// A host of its own under the test root: a directory with its own HOME.
pub fn host(repo: &TestRepo, name: &str) -> std::path::PathBuf {
    let dir = repo.root().join(name);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    dir
}

/// How hosts reach a server: the URL each server user clones, and the
/// environment a command of that user's needs (its ssh key).
pub struct Transport<'a> {
    pub url: &'a dyn Fn(&str) -> String,
    pub wrap: &'a dyn Fn(&str, crate::support::Run) -> crate::support::Run,
    /// Run once the workers are spawned and shared (a server's rules
    /// generated from their contracts go in then).
    pub spawned: &'a dyn Fn(),
    /// Run once both changes landed, before cleanup, with the workers'
    /// checkouts.
    pub landed: &'a dyn Fn(&[std::path::PathBuf]),
}

/// The whole multi-host loop on a hub `hub` (its directory on the
/// server's disk) served by `transport`: the coordinator (the test
/// repository, server user `coordinator`) spawns two workers and shares
/// them; each joins from a host of its own (its own HOME, key and server
/// user: w1 is `alice`, w2 is `bob`), is admitted, works, reports and
/// syncs; w1 approves w2's change; the coordinator syncs, verifies in a
/// clean checkout, lands both and cleans up; then every host syncs again.
/// Every step must pass. Returns the hosts' checkouts.
pub fn the_loop(
    repo: &TestRepo,
    hub: &std::path::Path,
    transport: &Transport,
) -> [std::path::PathBuf; 2] {
    let as_user = |user: &str, run| (transport.wrap)(user, run);
    let coordinator = |args: &[&str]| as_user("coordinator", repo.git(args));
    repo.worker(["hub", "init"]).arg(hub).success();
    repo.git(["remote", "add", "origin", &(transport.url)("coordinator")])
        .success();
    coordinator(&["push", "--quiet", "origin", "main"]).success();
    repo.worker([
        "spawn",
        "w1",
        "--allow",
        "a/**",
        "--verify",
        "test -f a/x.txt",
    ])
    .success();
    repo.worker([
        "spawn",
        "w2",
        "--allow",
        "b/**",
        "--verify",
        "test -f b/y.txt",
    ])
    .success();
    coordinator(&["worker", "sync"]).success();
    (transport.spawned)();
    let key = format!(
        "{}.pub",
        repo.root()
            .join("home/.local/share/git-orch/keys/coordinator/key")
            .display()
    );
    let mut dirs = Vec::new();
    for (id, user) in [("w1", "alice"), ("w2", "bob")] {
        let h = host(repo, &format!("host-{id}"));
        let url = (transport.url)(user);
        let out = as_user(
            user,
            repo.git_in(
                &h,
                [
                    "worker",
                    "join",
                    id,
                    "--remote",
                    &url,
                    "--dir",
                    id,
                    "--coordinator-key",
                    &key,
                ],
            )
            .env("HOME", h.join("home")),
        )
        .success();
        // Until the coordinator admits its key, what it signs does not count.
        assert!(
            out.stderr
                .contains(&format!("git worker admit {id} 'ssh-ed25519 ")),
            "{out}"
        );
        let dir = h.join(id);
        let public = dir.join(".git/orch/keys").join(id).join("key.pub");
        repo.worker(["admit", id, public.to_str().unwrap()])
            .success();
        coordinator(&["worker", "sync"]).success();
        dirs.push(dir);
    }
    let on = |user: &str, dir: &std::path::Path, args: &[&str]| {
        as_user(
            user,
            repo.git_in(dir, args)
                .env("HOME", dir.parent().unwrap().join("home")),
        )
    };
    let (w1, w2) = (&dirs[0], &dirs[1]);
    on("alice", w1, &["worker", "sync"]).success();
    on("bob", w2, &["worker", "sync"]).success();
    write_file(&w1.join("a/x.txt"), "x\n");
    on("alice", w1, &["add", "a"]).success();
    on("alice", w1, &["commit", "--quiet", "-m", "x"]).success();
    on(
        "alice",
        w1,
        &["handoff", "report", "--summary", "x from alice"],
    )
    .success();
    on("alice", w1, &["worker", "sync"]).success();
    write_file(&w2.join("b/y.txt"), "y\n");
    on("bob", w2, &["handoff", "report", "--summary", "y from bob"]).success();
    on("bob", w2, &["worker", "sync"]).success();
    // w1 reviews w2's change: its verdict travels in its own log.
    on("alice", w1, &["worker", "sync"]).success();
    on(
        "alice",
        w1,
        &["review-gate", "approve", "w2", "-m", "read it"],
    )
    .success();
    on("alice", w1, &["worker", "sync"]).success();

    let out = coordinator(&["worker", "sync"]).success();
    assert!(out.stderr.contains("recorded 1 verdict(s)"), "{out}");
    repo.git(["config", "orch.review.require", "verify"])
        .success();
    repo.git(["review-gate", "run", "w1"]).success();
    repo.git(["review-gate", "run", "w2"]).success();
    let out = repo.git(["handoff", "land", "--all"]).success();
    assert!(out.stderr.contains("landed 2 of 2"), "{out}");
    assert!(repo.path().join("a/x.txt").is_file() && repo.path().join("b/y.txt").is_file());
    (transport.landed)(&dirs);
    coordinator(&["worker", "sync"]).success();
    let out = repo.worker(["cleanup", "--landed"]).success();
    assert!(
        out.stdout.contains("removed worker 'w1'") && out.stdout.contains("removed worker 'w2'"),
        "{out}"
    );
    let out = coordinator(&["worker", "sync"]).success();
    assert!(!out.stderr.contains("warning"), "{out}");
    coordinator(&["push", "--quiet", "origin", "main"]).success();
    // Nobody is stuck: every host syncs again.
    for (user, dir) in [("alice", w1), ("bob", w2)] {
        let out = on(user, dir, &["worker", "sync"]).success();
        assert!(
            out.stderr.contains("worker 'w1' was removed on 'origin'"),
            "{out}"
        );
    }
    coordinator(&["worker", "sync"]).success();
    [w1.clone(), w2.clone()]
}
