//! Real git servers on 127.0.0.1 for the tests, each stopped when dropped.

use crate::support::TestRepo;

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
