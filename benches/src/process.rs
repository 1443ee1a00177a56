//! CPU time of processes and threads, from `/proc`: what a bench reports per transaction
//! on a machine whose cores are shared (wall time alone hides who used them), and the CPU
//! time of the calling thread for micro-benches.

/// CPU time consumed by the calling thread so far (`CLOCK_THREAD_CPUTIME_ID`): what the
/// micro-benches time instead of wall-clock time, since the machine is shared and
/// `openssl speed` also divides by CPU time, so the figures compare.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and CLOCK_THREAD_CPUTIME_ID is supported
    // by every Linux kernel this runs on; the return code is checked below.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    let seconds = u64::try_from(now.tv_sec).expect("CPU time is non-negative");
    let nanos = u32::try_from(now.tv_nsec).expect("tv_nsec is below one second");
    std::time::Duration::new(seconds, nanos)
}

/// Runs `routine(iteration)` `iters` times and returns the CPU time this thread spent on
/// it (for criterion's `iter_custom`).
pub fn cpu_timed<O>(iters: u64, mut routine: impl FnMut(u64) -> O) -> std::time::Duration {
    let start = thread_cpu_time();
    for iter in 0..iters {
        std::hint::black_box(routine(iter));
    }
    thread_cpu_time().saturating_sub(start)
}

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
        // Spin until the kernel has charged this process a clock tick (10 ms): on a loaded
        // machine that takes longer than any fixed wall-clock spin (a 30 ms one failed).
        let spin = std::time::Instant::now();
        while process_cpu_seconds(std::process::id()) == 0.0
            && spin.elapsed() < std::time::Duration::from_secs(30)
        {
            for _ in 0..100_000 {
                std::hint::black_box(0u64);
            }
        }
        assert!(process_cpu_seconds(std::process::id()) > 0.0);
        assert_eq!(stat_cpu_seconds("/proc/nonexistent/stat"), 0.0);
    }
}
