//! Whether a recorded process is still the one that wrote the record.

use std::path::Path;

/// Whether process `pid` is alive on this machine.
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return true;
    }
    if cfg!(target_os = "linux") {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// When process `pid` started (clock ticks since boot; Linux), so that a
/// recorded pid is not mistaken for another process that got it later.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // State is field 3 (index 0 here); a zombie is not running.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is alive and, when `start` is known, still the process
/// that started then.
pub fn process_alive(pid: u32, start: Option<u64>) -> bool {
    if pid == 0 || !pid_alive(pid) {
        return false;
    }
    match (start, cfg!(target_os = "linux")) {
        (Some(start), true) => process_start(pid) == Some(start),
        (None, true) => process_start(pid).is_some(),
        _ => true,
    }
}

/// The process group of `pid` (Linux), if it runs.
pub fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    // state ppid pgrp ...
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The command line of `pid` (Linux), its arguments joined by spaces.
pub fn process_command(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
            .trim_end()
            .to_string(),
    )
}

/// The value of `key` in the environment process `pid` started with
/// (Linux; readable for the user's own processes).
pub fn process_env(pid: u32, key: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    raw.split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_known_by_its_pid_and_start_time() {
        let me = std::process::id();
        let start = process_start(me);
        assert!(start.is_some());
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start.map(|s| s + 1)));
        assert!(!process_alive(0, None));
        assert!(process_group(me).is_some_and(|g| g > 0));
        // SAFETY: no other thread of this test reads the environment.
        assert_eq!(process_env(me, "PATH"), std::env::var("PATH").ok());
        assert_eq!(process_env(me, "NO SUCH VARIABLE"), None);
        assert!(process_command(me).is_some_and(|c| !c.is_empty()));
    }
}
