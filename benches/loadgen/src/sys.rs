//! The few operating-system facts the load generator needs: a clock shared with the servers,
//! its own CPU time and memory, and the open-files limit.

/// Microseconds on `CLOCK_MONOTONIC`, the clock Node's `process.hrtime()` reads: the servers
/// stamp each broadcast with it, so latency needs no cross-process clock calibration.
pub fn mono_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// This process's CPU use so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub system: f64,
    /// Peak resident set, KiB.
    pub max_rss_kib: i64,
}

impl Usage {
    /// User plus system seconds.
    pub fn total(&self) -> f64 {
        self.user + self.system
    }
}

/// `getrusage(RUSAGE_SELF)`: every thread of this process.
pub fn usage() -> Usage {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes to it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage { user: secs(ru.ru_utime), system: secs(ru.ru_stime), max_rss_kib: ru.ru_maxrss }
}

/// Raises `RLIMIT_NOFILE` to at least `want` if allowed (the hard limit too, which needs
/// `CAP_SYS_RESOURCE`), else to the hard limit. Returns the resulting `(soft, hard)`.
pub fn raise_nofile(want: u64) -> (u64, u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_cur < want {
        let wanted = libc::rlimit { rlim_cur: want, rlim_max: lim.rlim_max.max(want) };
        // SAFETY: plain syscalls on valid structs.
        let raised = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0;
        if !raised {
            let capped = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) };
        }
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Lets `connect` pick the source port per 4-tuple after `bind(ip, 0)`, so each loopback
/// source address brings its own ~28k ephemeral ports (`IP_BIND_ADDRESS_NO_PORT`).
pub fn bind_address_no_port(fd: std::os::fd::RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int option value; failure only costs ports.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
