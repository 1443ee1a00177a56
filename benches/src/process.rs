//! CPU time of processes and threads, from `/proc`: what a bench reports per transaction
//! on a machine whose cores are shared (wall time alone hides who used them).

/// utime + stime of a `/proc/…/stat` file (`/proc/PID/stat`: all threads of a process;
/// `/proc/thread-self/stat`: the calling thread), in seconds. Linux reports clock ticks
/// of 1/100 s to user space. 0 when the file cannot be read (the process is gone).
pub fn stat_cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}

/// [`stat_cpu_seconds`] of process `pid`.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu_and_a_missing_one_none() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        assert!(process_cpu_seconds(std::process::id()) > 0.0);
        assert_eq!(stat_cpu_seconds("/proc/nonexistent/stat"), 0.0);
    }
}
