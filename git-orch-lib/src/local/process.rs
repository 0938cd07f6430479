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
    }
}
