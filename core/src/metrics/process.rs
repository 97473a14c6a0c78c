//! The standard `process_*` figures, read from the operating system at scrape time.

use std::fmt::Write;

/// Writes `process_resident_memory_bytes`, `process_cpu_seconds_total`,
/// `process_open_fds` and `process_max_fds` (where the platform tells).
pub fn render(out: &mut String) {
    if let Some(rss) = resident_bytes() {
        gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", rss as f64);
    }
    if let Some(cpu) = cpu_seconds() {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time in seconds."
        );
        let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(out, "process_open_fds", "Number of open file descriptors.", fds.count() as f64);
    }
    if let Some(max) = max_fds() {
        gauge(out, "process_max_fds", "Maximum number of open file descriptors.", max as f64);
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(unix)]
fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0).then_some(usage)
    }?;
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

#[cfg(not(unix))]
fn cpu_seconds() -> Option<f64> {
    None
}

#[cfg(unix)]
fn max_fds() -> Option<u64> {
    // SAFETY: getrlimit fills the zeroed struct it is given.
    let limit = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        (libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0).then_some(limit)
    }?;
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn max_fds() -> Option<u64> {
    None
}
