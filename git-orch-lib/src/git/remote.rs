//! Talking to remotes: what a failure means.

/// Why talking to a remote failed, from git's own message: what it was,
/// and what to do about it.
pub fn remote_failure(stderr: &str) -> (&'static str, &'static str) {
    const NETWORK: &[&str] = &[
        "Could not resolve host",
        "unable to access",
        "Connection refused",
        "unable to connect",
        "Connection timed out",
        "Network is unreachable",
        "No route to host",
        "the remote end hung up",
        "Operation timed out",
        "Temporary failure in name resolution",
    ];
    const AUTH: &[&str] = &[
        "Permission denied",
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "Host key verification failed",
        "403",
        "401",
    ];
    const MISSING: &[&str] = &[
        "does not appear to be a git repository",
        "Repository not found",
        "not found",
        "No such file or directory",
        "couldn't find remote ref",
    ];
    if AUTH.iter().any(|s| stderr.contains(s)) {
        (
            "access denied",
            "check your credentials or ssh key, as for `git fetch` there",
        )
    } else if NETWORK.iter().any(|s| stderr.contains(s)) {
        (
            "the network failed",
            "check the connection and the remote's URL (git remote -v); nothing was changed here",
        )
    } else if MISSING.iter().any(|s| stderr.contains(s)) {
        (
            "no such repository or ref there",
            "check the remote's URL (git remote -v) and that the hub was set up (git worker hub init)",
        )
    } else {
        ("git failed", "the message above is git's own")
    }
}
