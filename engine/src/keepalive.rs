//! keepalive: run a long piece of work while saying, at a steady pace, that
//! it is still going. Every launcher whose workers can be lost needs it
//! (an MPI rank's heartbeats, a queue message's visibility renewals, the
//! trigger's), and each needs the saying to happen on the calling thread:
//! MPI may only be called from the thread that initialised it.

use std::time::{Duration, Instant};

/// Run `work` on a thread of its own; meanwhile call `tick` on this
/// thread every `every` (not before the first period has passed) until
/// the work ends. A panic in `work` comes back as the `Err` of its join.
pub fn while_working<T: Send>(
    work: impl FnOnce() -> T + Send,
    every: Duration,
    mut tick: impl FnMut(),
) -> std::thread::Result<T> {
    std::thread::scope(|s| {
        let handle = s.spawn(work);
        let mut said = Instant::now();
        while !handle.is_finished() {
            std::thread::sleep(every.min(Duration::from_millis(20)));
            if said.elapsed() >= every {
                tick();
                said = Instant::now();
            }
        }
        handle.join()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_while_the_work_runs_and_hands_back_its_result_or_panic() {
        let mut ticks = 0;
        let out =
            while_working(|| std::thread::sleep(Duration::from_millis(260)), Duration::from_millis(50), || ticks += 1);
        assert!(out.is_ok());
        assert!((2..=6).contains(&ticks), "{ticks} ticks in 260 ms at 50 ms");
        let mut none = 0;
        assert_eq!(while_working(|| 7, Duration::from_secs(5), || none += 1).unwrap(), 7);
        assert_eq!(none, 0, "no tick before the first period");
        assert!(while_working(|| panic!("boom"), Duration::from_millis(10), || ()).is_err());
    }
}
