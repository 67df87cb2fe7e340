//! Clocks from the TSC, and the time system calls.
//!
//! An LWK core runs one thread and never sleeps the CPU for the kernel's
//! housekeeping, so the invariant TSC is the natural time source: reading it
//! costs a few cycles, and converting is arithmetic. The personality
//! calibrates once at boot (frequency, the TSC at boot, and the wall-clock
//! time at boot from the Linux side) into a [`TscClock`]; every clock below
//! derives from it. With one thread per core and no time sharing, a
//! process's CPU time is its wall time since it started.

use super::args::Args;
use super::errno::Errno;
use super::process::Process;
use super::{SysResult, UserAddr};

/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;

/// TSC calibration: everything needed to turn a TSC reading into time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscClock {
    /// TSC ticks per second (nonzero).
    pub tsc_hz: u64,
    /// TSC reading at the zero of `CLOCK_MONOTONIC`.
    pub boot_tsc: u64,
    /// `CLOCK_REALTIME` at that moment, in ns since the epoch.
    pub realtime_at_boot_ns: u64,
}

impl TscClock {
    /// Nanoseconds from `since` to `tsc` (0 if `tsc` is earlier). Uses
    /// 128-bit arithmetic: at 3 GHz a 64-bit product would overflow after
    /// six seconds.
    pub fn ns_between(&self, since: u64, tsc: u64) -> u64 {
        let ticks = u128::from(tsc.saturating_sub(since));
        let ns = ticks * u128::from(NS_PER_SEC) / u128::from(self.tsc_hz.max(1));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// `CLOCK_MONOTONIC` at `tsc`, in ns.
    pub fn monotonic_ns(&self, tsc: u64) -> u64 {
        self.ns_between(self.boot_tsc, tsc)
    }

    /// `CLOCK_REALTIME` at `tsc`, in ns since the epoch.
    pub fn realtime_ns(&self, tsc: u64) -> u64 {
        self.realtime_at_boot_ns
            .saturating_add(self.monotonic_ns(tsc))
    }
}

/// A point on `CLOCK_MONOTONIC`, in ns: when a wait or a sleep ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(pub u64);

impl Deadline {
    /// `ns` after `self`, saturating (a saturated deadline never comes).
    pub const fn after(self, ns: u64) -> Deadline {
        Deadline(self.0.saturating_add(ns))
    }

    /// Nanoseconds from `now` until the deadline (0 if passed).
    pub const fn remaining(self, now: Deadline) -> u64 {
        self.0.saturating_sub(now.0)
    }
}

impl TscClock {
    /// The TSC reading at which `deadline` arrives (saturating), for the
    /// seL4 side's timer.
    pub fn tsc_at(&self, deadline: Deadline) -> u64 {
        let ticks = u128::from(deadline.0) * u128::from(self.tsc_hz) / u128::from(NS_PER_SEC);
        u64::try_from(ticks)
            .unwrap_or(u64::MAX)
            .saturating_add(self.boot_tsc)
    }
}

/// Now, on `CLOCK_MONOTONIC`.
pub fn now(p: &dyn Process) -> Deadline {
    Deadline(now_ns(p, ClockId::Monotonic))
}

/// Reads a `struct timespec` as nanoseconds: `EFAULT` if unreadable,
/// `EINVAL` unless `tv_sec >= 0` and `0 <= tv_nsec < 10^9`. Huge values
/// saturate (a deadline that never comes).
pub(super) fn read_timespec(p: &mut dyn Process, at: UserAddr) -> Result<u64, Errno> {
    let [sec, nsec] = super::read_words::<2>(p, at)?;
    let (sec, nsec) = (sec as i64, nsec as i64);
    if sec < 0 || !(0..NS_PER_SEC as i64).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec as u64)
        .saturating_mul(NS_PER_SEC)
        .saturating_add(nsec as u64))
}

/// The clocks `clock_gettime` knows (`CLOCK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockId {
    /// Wall-clock time (`REALTIME`, `REALTIME_COARSE`, `TAI`: no leap-second
    /// offset is configured, as on a fresh Linux).
    Realtime,
    /// Time since boot (`MONOTONIC`, `_RAW`, `_COARSE`, `BOOTTIME`: the LWK
    /// never suspends, so they coincide).
    Monotonic,
    /// CPU time of the process.
    ProcessCpu,
    /// CPU time of the calling thread.
    ThreadCpu,
}

impl ClockId {
    /// Decodes a `clockid_t`. Negative ids (per-process CPU clocks of other
    /// processes, `pthread_getcpuclockid`) and the alarm clocks are refused.
    pub fn from_raw(id: i32) -> Result<Self, Errno> {
        Ok(match id {
            0 | 5 | 11 => ClockId::Realtime,
            1 | 4 | 6 | 7 => ClockId::Monotonic,
            2 => ClockId::ProcessCpu,
            3 => ClockId::ThreadCpu,
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// The reading of `clock` now, in ns.
pub fn now_ns(p: &dyn Process, clock: ClockId) -> u64 {
    let tsc = p.read_tsc();
    let c = p.clock();
    match clock {
        ClockId::Realtime => c.realtime_ns(tsc),
        ClockId::Monotonic => c.monotonic_ns(tsc),
        ClockId::ProcessCpu => c.ns_between(p.process_start_tsc(), tsc),
        ClockId::ThreadCpu => c.ns_between(p.thread_start_tsc(), tsc),
    }
}

/// A `struct timespec` / `struct timeval` as two 64-bit words.
pub(super) fn split(ns: u64, unit: u64) -> [u64; 2] {
    [ns / NS_PER_SEC, (ns % NS_PER_SEC) / unit]
}

pub(super) fn put_pair(p: &mut dyn Process, at: UserAddr, pair: [u64; 2]) -> Result<(), Errno> {
    super::write_words(p, at, &pair)
}

/// Implements Linux `clock_gettime(2)`; local.
pub fn clock_gettime(p: &mut dyn Process, args: Args) -> SysResult {
    let clock = ClockId::from_raw(args.int(0))?;
    let ns = now_ns(p, clock);
    put_pair(p, args.ptr(1), split(ns, 1))?;
    Ok(0)
}

/// Implements Linux `clock_getres(2)`; local. Every clock ticks in
/// nanoseconds (TSC-derived), the coarse ones included.
pub fn clock_getres(p: &mut dyn Process, args: Args) -> SysResult {
    ClockId::from_raw(args.int(0))?;
    if !args.ptr(1).is_null() {
        put_pair(p, args.ptr(1), [0, 1])?;
    }
    Ok(0)
}

/// Implements Linux `gettimeofday(2)`; local. The time zone, if asked for,
/// is UTC (what Linux reports unless `settimeofday` set one).
pub fn gettimeofday(p: &mut dyn Process, args: Args) -> SysResult {
    let ns = now_ns(p, ClockId::Realtime);
    if !args.ptr(0).is_null() {
        put_pair(p, args.ptr(0), split(ns, 1000))?;
    }
    if !args.ptr(1).is_null() {
        p.copy_out(args.ptr(1), &[0; 8])?;
    }
    Ok(0)
}

/// Implements Linux `time(2)`; local.
pub fn time(p: &mut dyn Process, args: Args) -> SysResult {
    let secs = now_ns(p, ClockId::Realtime) / NS_PER_SEC;
    if !args.ptr(0).is_null() {
        p.copy_out(args.ptr(0), &secs.to_le_bytes())?;
    }
    Ok(secs)
}

/// `TIMER_ABSTIME`: the request is a time on the clock, not a duration.
const TIMER_ABSTIME: u32 = 1;

/// Sleeps until `deadline`; on `EINTR` writes the time left to `rem`
/// (when given) for a relative sleep.
fn sleep(p: &mut dyn Process, deadline: Deadline, rem: Option<UserAddr>) -> SysResult {
    match p.sleep_until(deadline) {
        Ok(()) => Ok(0),
        Err(Errno::EINTR) => {
            if let Some(rem) = rem.filter(|r| !r.is_null()) {
                let left = deadline.remaining(now(p));
                put_pair(p, rem, split(left, 1))?;
            }
            Err(Errno::EINTR.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Implements Linux `nanosleep(2)`; local, through
/// [`Process::sleep_until`].
pub fn nanosleep(p: &mut dyn Process, args: Args) -> SysResult {
    let ns = read_timespec(p, args.ptr(0))?;
    let deadline = now(p).after(ns);
    sleep(p, deadline, Some(args.ptr(1)))
}

/// Implements Linux `clock_nanosleep(2)`; local. Relative sleeps last the
/// same on every clock (a CPU clock runs at wall speed on a dedicated
/// core); absolute ones are converted to `CLOCK_MONOTONIC`. The thread's
/// CPU clock, the raw and coarse clocks are `EOPNOTSUPP`, as on Linux.
pub fn clock_nanosleep(p: &mut dyn Process, args: Args) -> SysResult {
    let (clock, flags, req, rem) = (args.int(0), args.uint(1), args.ptr(2), args.ptr(3));
    let clock = match clock {
        3..=6 | 8 | 9 => return Err(Errno::EOPNOTSUPP.into()),
        id => ClockId::from_raw(id)?,
    };
    let ns = read_timespec(p, req)?;
    if flags & TIMER_ABSTIME == 0 {
        let deadline = now(p).after(ns);
        return sleep(p, deadline, Some(rem));
    }
    let c = *p.clock();
    let deadline = match clock {
        ClockId::Realtime => Deadline(ns.saturating_sub(c.realtime_at_boot_ns)),
        ClockId::Monotonic => Deadline(ns),
        ClockId::ProcessCpu | ClockId::ThreadCpu => {
            Deadline(c.monotonic_ns(p.process_start_tsc())).after(ns)
        }
    };
    sleep(p, deadline, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_does_not_overflow() {
        let c = TscClock {
            tsc_hz: 3_000_000_000,
            boot_tsc: 1000,
            realtime_at_boot_ns: 5,
        };
        assert_eq!(c.monotonic_ns(1000 + 3_000_000_000), NS_PER_SEC);
        // A year of ticks at 3 GHz.
        let year = 3_000_000_000u64 * 86_400 * 365;
        assert_eq!(c.monotonic_ns(1000 + year), 86_400 * 365 * NS_PER_SEC);
        assert_eq!(c.monotonic_ns(0), 0, "before boot saturates");
        assert_eq!(c.realtime_ns(1000), 5);
    }

    #[test]
    fn clock_ids() {
        assert_eq!(ClockId::from_raw(0), Ok(ClockId::Realtime));
        assert_eq!(ClockId::from_raw(7), Ok(ClockId::Monotonic));
        assert_eq!(ClockId::from_raw(8), Err(Errno::EINVAL));
        assert_eq!(ClockId::from_raw(-6), Err(Errno::EINVAL));
    }
}
