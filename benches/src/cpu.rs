//! The CPU time a run takes (all the process's threads, user and system,
//! and any child it waited for). On a shared machine other tenants' load
//! stretches a run's wall time far more than the CPU time it needs, so the
//! bench gives both: frames/s for what a user waits, CPU time a frame for
//! what each stage costs.

use std::time::Duration;

/// CPU time this process and its waited-for children have used so far.
pub fn used() -> Duration {
    [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN].into_iter().map(of).sum()
}

fn of(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time =
        |t: libc::timeval| Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Milliseconds of CPU time a frame.
pub fn ms_a_frame(cpu: Duration, frames: u64) -> f64 {
    cpu.as_secs_f64() * 1e3 / frames.max(1) as f64
}
