//! Polling with a deadline.
//!
//! Neither side gets an interrupt from the other (ivshmem doorbells cost
//! ~160 µs under TCG against ~0.5 µs for a polled flag), so every wait polls:
//! a bounded spin first, since answers usually come within microseconds, then
//! back-off through the caller's [`Waiter`], since only the caller knows how
//! to sleep and what time it is. Every wait has a timeout.

use core::time::Duration;

use crate::error::ChannelError;

/// Polls that spin with [`core::hint::spin_loop`] before the first
/// [`Waiter::relax`]: roughly tens of microseconds on current hardware,
/// above the measured polling round trip.
pub const SPIN_POLLS: u32 = 256;

/// Time and pausing, provided by the side's runtime (`clock_gettime` and
/// `nanosleep` for the daemon; the TSC and a seL4 yield for the personality).
pub trait Waiter {
    /// A monotonic clock, in nanoseconds from any origin.
    fn now_ns(&self) -> u64;

    /// Pause between two polls after the spin phase. `round` counts the
    /// rounds since the spin phase ended, from 0; implementations should pause
    /// longer as it grows, e.g. for [`backoff_ns`]`(round)`.
    fn relax(&mut self, round: u32);
}

/// A suggested pause for [`Waiter::relax`]: 1 µs doubling each round, capped
/// at 1 ms so a late answer costs at most that much extra latency.
pub const fn backoff_ns(round: u32) -> u64 {
    let shift = if round < 10 { round } else { 10 };
    1_000u64 << shift
}

/// Calls `poll` until it yields a value or an error, or `timeout` has passed
/// since the first call. `poll` is always called at least once, so a zero
/// timeout means "try once".
pub(crate) fn poll_until<T>(
    waiter: &mut impl Waiter,
    timeout: Duration,
    mut poll: impl FnMut() -> Result<Option<T>, ChannelError>,
) -> Result<T, ChannelError> {
    let limit = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let start = waiter.now_ns();
    let mut polls: u32 = 0;
    loop {
        if let Some(value) = poll()? {
            return Ok(value);
        }
        // A clock that steps backwards counts as no time passing.
        if waiter.now_ns().saturating_sub(start) >= limit {
            return Err(ChannelError::Timeout);
        }
        if polls < SPIN_POLLS {
            core::hint::spin_loop();
        } else {
            waiter.relax(polls - SPIN_POLLS);
        }
        polls = polls.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that advances only when relaxed, so timeouts are exact.
    struct FakeClock {
        now: u64,
        relaxed: u32,
    }

    impl Waiter for FakeClock {
        fn now_ns(&self) -> u64 {
            self.now
        }
        fn relax(&mut self, round: u32) {
            assert_eq!(round, self.relaxed);
            self.relaxed += 1;
            self.now += backoff_ns(round);
        }
    }

    #[test]
    fn zero_timeout_polls_once() {
        let mut clock = FakeClock { now: 5, relaxed: 0 };
        let mut calls = 0;
        let r: Result<(), _> = poll_until(&mut clock, Duration::ZERO, || {
            calls += 1;
            Ok(None)
        });
        assert_eq!((r, calls), (Err(ChannelError::Timeout), 1));
    }

    #[test]
    fn spins_then_backs_off_until_the_deadline() {
        let mut clock = FakeClock { now: 0, relaxed: 0 };
        let r: Result<(), _> = poll_until(&mut clock, Duration::from_millis(10), || Ok(None));
        assert_eq!(r, Err(ChannelError::Timeout));
        assert!(clock.now >= 10_000_000);
        // 1+2+…+512 µs, then 1 ms steps: about 19 relaxations for 10 ms.
        assert!((15..25).contains(&clock.relaxed), "{}", clock.relaxed);
    }

    #[test]
    fn values_and_errors_end_the_wait() {
        let mut clock = FakeClock { now: 0, relaxed: 0 };
        let mut n = 0;
        let r = poll_until(&mut clock, Duration::from_secs(1), || {
            n += 1;
            Ok((n == 300).then_some(n))
        });
        assert_eq!(r, Ok(300));
        let e: Result<(), _> =
            poll_until(&mut clock, Duration::MAX, || Err(ChannelError::PeerDown));
        assert_eq!(e, Err(ChannelError::PeerDown));
        assert_eq!(backoff_ns(0), 1_000);
        assert_eq!(backoff_ns(u32::MAX), 1_024_000);
    }
}
